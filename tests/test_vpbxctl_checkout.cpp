// End to end: the real vpbxctl binary at check-out time: profiles, --dry-run, the bill read
// page by page against the simulator's truth, and bulk work within the rate limit.
#include <fcntl.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/support/vpbxctl_fixture.h"

using namespace vpbx::test::ctl;
using Catch::Matchers::Contains;

TEST_CASE("checkout resets to the default profile, --dry-run changes nothing", "[vpbxctl]") {
  Fixture f;
  f.sim.set_feature_status(kRoom101, "CENTRAL_DND", true);
  f.sim.set_feature_status(kRoom101, "CALL_FORWARD_UNCONDITIONAL", true);
  f.sim.set_feature_status(kRoom101, "CALL_FORWARD_BUSY", true);
  f.sim.inject_call({kRoom101, "OUTGOING", 42});
  const auto before = f.sim.truth();

  const Run dry = f.run({"checkout", "Room 101", "--dry-run"});
  CHECK(dry.code == 0);
  CHECK_THAT(dry.out, Contains("dry run") && Contains("CENTRAL_DND") &&
                          Contains("CALL_FORWARD_BUSY") && Contains("ACTIVE → INACTIVE"));
  CHECK_THAT(dry.out, Contains("bill:") && Contains("total: 1 calls, 1 answered, 0:00:42"));
  CHECK(f.requests("PUT v1/feat/{featId}") == 0);
  CHECK(f.sim.truth()[0].features == before[0].features);

  const Run real = f.run({"checkout", "Room 101", "--no-bill"});
  CHECK(real.code == 0);
  CHECK_THAT(real.out, !Contains("bill:"));
  for (const char* name : {"CENTRAL_DND", "CALL_FORWARD_UNCONDITIONAL", "CALL_FORWARD_BUSY"}) {
    CHECK(f.feature(kRoom101, name) == "INACTIVE");
  }
  CHECK(f.feature(kRoom101, "CALL_WAITING") == "ACTIVE");  // not in the profile
  CHECK(f.requests("PUT v1/feat/{featId}") == 3);
  CHECK_THAT(f.run({"checkout", "Room 101", "--no-bill"}).out, Contains("nothing to change"));
}

TEST_CASE("checkout --users-file and a profile from the config, the exporter accepts profiles",
          "[vpbxctl]") {
  Fixture f(
      "profiles:\n  default:\n    inactive: [CENTRAL_DND]\n  late:\n    active: [CALL_WAITING]\n"
      "    inactive: [\"CALL_FORWARD_*\"]\n    clear_destinations: [CALL_FORWARD_UNCONDITIONAL]\n");
  f.sim.set_feature_status(kRoom101, "CENTRAL_DND", true);
  f.sim.set_feature_status(kRoom102, "CENTRAL_DND", true);
  f.sim.set_feature_status(kRoom102, "CALL_FORWARD_UNCONDITIONAL", true);
  vpbx::test::write_file(f.dir + "/rooms.txt", "Room 101\n# checked out today\n+41225662195\n");
  const Run both = f.run({"checkout", "--users-file", f.dir + "/rooms.txt", "--no-bill"});
  CHECK(both.code == 0);
  CHECK(f.feature(kRoom101, "CENTRAL_DND") == "INACTIVE");
  CHECK(f.feature(kRoom102, "CENTRAL_DND") == "INACTIVE");
  // The configured default profile replaces the built-in one: CFU stays.
  CHECK(f.feature(kRoom102, "CALL_FORWARD_UNCONDITIONAL") == "ACTIVE");

  f.sim.set_feature_status(kRoom102, "CALL_WAITING", false);
  const Run late = f.run({"checkout", "Room 102", "--profile=late", "--no-bill", "--format=json"});
  CHECK(late.code == 0);
  CHECK(f.feature(kRoom102, "CALL_WAITING") == "ACTIVE");
  CHECK(f.feature(kRoom102, "CALL_FORWARD_UNCONDITIONAL") == "INACTIVE");
  CHECK_THAT(f.api("GET", "v1/feat/2898109").body, Contains("\"destinationUri\" : \"\""));
  CHECK(f.run({"checkout", "Room 102", "--profile=early"}).code == 2);

  std::string output;
  CHECK(vpbx::test::run_command(kExporter,
                                {"--config.file=" + f.dir + "/vpbx_exporter.yml", "--config.check"},
                                output) == 0);
  f.write_config("profiles:\n  default:\n    inactiv: [CENTRAL_DND]\n");
  CHECK(vpbx::test::run_command(kExporter,
                                {"--config.file=" + f.dir + "/vpbx_exporter.yml", "--config.check"},
                                output) == 1);
  CHECK_THAT(output, Contains("profiles.default.inactiv") && Contains("unknown key"));
  const Run bad = f.run({"users"});
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Contains("profiles.default.inactiv"));
}

TEST_CASE("calls pages past one page, its totals are the simulator's truth", "[vpbxctl]") {
  Fixture f("call_logs: { page_size: 5 }\n");
  const int durations[] = {0, 7, 12, 0, 30, 61, 5, 3, 0, 120, 9, 44};
  int i = 0;
  for (const int seconds : durations) {
    f.sim.inject_call({kRoom101, i++ % 3 ? "OUTGOING" : "INCOMING", seconds});
  }
  f.sim.inject_call({kRoom102, "OUTGOING", 99});  // another room's call is not on this bill
  f.sim.reset_stats();
  const Run r = f.run({"calls", "Room 101", "--since", "1h", "--format", "json"});
  REQUIRE(r.code == 0);
  CHECK(f.requests("GET v1/users/{userId}/calllogs") == 3);  // 5 + 5 + 2
  const auto doc = parse(r.out);
  const auto truth = f.sim.truth()[0];
  REQUIRE(truth.user_id == kRoom101);
  const auto& totals = doc["totals"];
  CHECK(doc["calls"].Size() == 12);
  CHECK(totals["calls"].GetUint64() == truth.calls);
  CHECK(totals["answered"].GetUint64() == truth.answered);
  CHECK(totals["durationSeconds"].GetDouble() == truth.duration_seconds);
  CHECK(totals["byDirection"]["INCOMING"].GetUint64() == truth.calls_by_direction.at("INCOMING"));
  CHECK(totals["byDirection"]["OUTGOING"].GetUint64() == truth.calls_by_direction.at("OUTGOING"));

  const Run table = f.run({"calls", "+41225662194", "--since=2h", "--until=now"});
  CHECK_THAT(table.out, Contains("total: 12 calls, 9 answered, 0:04:51 (291 s)") &&
                            Contains("INCOMING 4, OUTGOING 8"));
  const Run csv = f.run({"calls", "176125", "--since", "1h", "--format=csv"});
  CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 13);
  CHECK_THAT(csv.out, Contains("id,userId,callStart,direction,duration,answered"));

  CHECK(f.run({"calls", "Room 101", "--since", "2099-01-01T00:00:00Z", "--format=json"}).code ==
        2);                                       // ends before it starts
  CHECK(f.run({"calls", "Room 101"}).code == 2);  // --since is required
  CHECK(f.run({"calls", "Room 101", "--since", "yesterday"}).code == 2);
  const Run old = f.run({"calls", "Room 101", "--since", "2024-09-27", "--until",
                         "2024-09-28T00:00:00+02:00", "--format=json"});
  CHECK(old.code == 0);
  CHECK(parse(old.out)["totals"]["calls"].GetInt64() == 0);
}

TEST_CASE("dnd --all-users stays within the rate limit, no progress line off a terminal",
          "[vpbxctl]") {
  Fixture f("", "  max_requests_per_second: 4\n  max_concurrent_requests: 2\n");
  f.discover_room_104();
  for (const auto& t : f.sim.truth()) f.sim.set_feature_status(t.user_id, "CENTRAL_DND", true);
  f.sim.reset_stats();
  const Run off = f.run({"dnd", "--all-users", "off"});
  CHECK(off.code == 0);
  CHECK(off.err.empty());
  CHECK_THAT(off.out, Contains("176137"));  // the discovered room too
  for (const auto& t : f.sim.truth()) CHECK(t.features.at("CENTRAL_DND") == "INACTIVE");
  const auto stats = f.sim.stats();
  CHECK(stats.api_requests == 12);  // per user: the features, the PUT, the read back
  // Starts are 250 ms apart; the simulator's 1 s window counts arrivals, which a loaded machine
  // delays by up to ~100 ms, so it may hold one more. Without the limiter it would hold all 12.
  CHECK(stats.max_requests_per_second <= 4 + 1);
  CHECK(stats.max_concurrent_requests <= 2);
}

TEST_CASE("on a terminal, bulk work shows one progress line on stderr", "[vpbxctl]") {
  Fixture f;
  // stderr is a pseudo-terminal, stdout a file: the progress goes to the terminal only.
  int master = -1, slave = -1;
  REQUIRE(openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
  const std::string out_file = f.dir + "/stdout.txt";
  const std::string config = "--config.file=" + f.dir + "/vpbx_exporter.yml";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(slave, 2);
    close(master);
    execl(kCtl.c_str(), kCtl.c_str(), config.c_str(), "dnd", "--all-users", "on", nullptr);
    _exit(127);
  }
  close(slave);
  std::string terminal;
  char buffer[4096];
  for (ssize_t n; (n = read(master, buffer, sizeof buffer)) > 0;) terminal.append(buffer, n);
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(terminal, Contains("[1/3] ") && Contains("[3/3] ") && Contains("\r\033[K"));
  CHECK_THAT(terminal, !Contains("CENTRAL_DND"));  // the results are on stdout
  std::string out;
  vpbx::test::run_command("/bin/cat", {out_file}, out);
  CHECK_THAT(out, Contains("INACTIVE → ACTIVE") && !Contains("[1/3]"));
}
