// vpbxctl's pure parts: the command line, TIME, USER resolution, check-out profiles and the
// discovered users read from a live exporter's state file.
#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>
#include <thread>

#include "ctl/args.h"
#include "ctl/output.h"
#include "ctl/profile.h"
#include "ctl/time_arg.h"
#include "ctl/user_resolver.h"
#include "exporter/api/models.h"
#include "exporter/state/learnt_users.h"
#include "exporter/state/persistence.h"
#include "exporter/state/store.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

using namespace vpbx::ctl;
using Catch::Matchers::Contains;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kNow = 1727450805000;  // 2024-09-27T15:26:45Z

std::vector<KnownUser> rooms() {
  return {
      {"291908.bus.ent", 176125, "+41225662194@m.ipvoip.ch", "+41225662194", "Room 101", "config"},
      {"291908.bus.ent", 176129, "+41225662195@m.ipvoip.ch", "+41225662195", "Room 102", "config"},
      {"291909.bus.ent", 176141, "+41225662198@m.ipvoip.ch", "+41225662198", "Room 101", "config"},
      {"291908.bus.ent", 176137, "+41225662197@m.ipvoip.ch", "+41225662197", "", "discovered"},
  };
}

vpbx::api::Feature feature(const std::string& name, const std::string& status,
                           const std::string& destination = "") {
  vpbx::api::Feature f;
  f.feat_name = name;
  f.status = status;
  f.destination_uri = destination;
  return f;
}

}  // namespace

TEST_CASE("the command line: both option spellings, operands anywhere, mistakes named",
          "[vpbxctl]") {
  const Args a = parse_args({"calls", "--since", "24h", "Room 101", "--format=json", "--dry-run"});
  CHECK(a.command() == "calls");
  CHECK(a.operands() == std::vector<std::string>{"Room 101"});
  CHECK(a.value("--since") == "24h");
  CHECK(a.value("--format") == "json");
  CHECK(a.has("--dry-run"));
  CHECK(parse_args({"cfu", "x", "on", "--", "--odd-destination"}).operands().back() ==
        "--odd-destination");
  CHECK_THROWS_WITH(parse_args({"calls", "--since"}), Contains("--since needs a value"));
  CHECK_THROWS_WITH(parse_args({"server", "--fromat=json"}), Contains("unknown option --fromat"));
  CHECK_THROWS_WITH(parse_args({"dnd", "--dry-run=yes"}), Contains("takes no value"));
  CHECK_THROWS_AS(allow_only(parse_args({"server", "--dry-run"}), {}), UsageError);
  CHECK_NOTHROW(allow_only(parse_args({"server", "--format=json", "--config.file=a"}), {}));
}

TEST_CASE("TIME: ISO 8601, a date, now, or a duration back from now", "[vpbxctl]") {
  CHECK(parse_time_arg("2024-09-27T15:26:45Z", kNow) == kNow);
  CHECK(parse_time_arg("2024-09-27T17:26:45+02:00", kNow) == kNow);
  CHECK(parse_time_arg("2024-09-27T15:26:45", kNow) == kNow);  // no offset: UTC
  CHECK(parse_time_arg("2024-09-27", kNow) == kNow - (15 * 3600 + 26 * 60 + 45) * 1000LL);
  CHECK(parse_time_arg("now", kNow) == kNow);
  CHECK(parse_time_arg("24h", kNow) == kNow - 24 * 3600 * 1000LL);
  CHECK(parse_time_arg("1h30m", kNow) == kNow - 90 * 60 * 1000LL);
  CHECK(parse_time_arg("7d", kNow) == kNow - 7 * 86400 * 1000LL);
  for (const char* bad : {"", "yesterday", "24", "-5h", "0", "2024-13-01", "24 h", "1.5h"}) {
    INFO(bad);
    CHECK_FALSE(parse_time_arg(bad, kNow).has_value());
  }
}

TEST_CASE("USER: id, login, number in any spelling, name in any case, ambiguity refused",
          "[vpbxctl]") {
  const auto users = rooms();
  CHECK(resolve_user(users, "176129").user_id == 176129);
  CHECK(resolve_user(users, "+41225662195@M.IPVOIP.CH").user_id == 176129);
  for (const char* number : {"+41225662195", "0041225662195", "41225662195", "+41 22 566 21 95"}) {
    INFO(number);
    CHECK(resolve_user(users, number).user_id == 176129);
  }
  CHECK(resolve_user(users, "room 102").user_id == 176129);
  CHECK(resolve_user(users, "+41225662197").source == "discovered");
  // Two enterprises both have a Room 101: the id decides.
  CHECK_THROWS_WITH(resolve_user(users, "Room 101"),
                    Contains("ambiguous") && Contains("176125") && Contains("176141"));
  CHECK_THROWS_WITH(resolve_user(users, "Room 999"), Contains("unknown user \"Room 999\""));
  CHECK_THROWS_AS(resolve_user(users, "+41000000000@m.ipvoip.ch"), UsageError);
  // An id no one lists is passed on as it is.
  const KnownUser unlisted = resolve_user(users, "999999");
  CHECK(unlisted.user_id == 999999);
  CHECK(unlisted.source.empty());
  CHECK(unlisted.display() == "999999");
  CHECK(users[0].display() == "Room 101 (176125)");
}

TEST_CASE("profiles: the default resets DND and every call forward, the specific name wins",
          "[vpbxctl]") {
  const std::vector<vpbx::api::Feature> features = {
      feature("CENTRAL_DND", "ACTIVE"),
      feature("CALL_FORWARD_UNCONDITIONAL", "ACTIVE", "0791234567@s1"),
      feature("CALL_FORWARD_BUSY", "INACTIVE", "voicemail@s1"),
      feature("CALL_FORWARD_TIMEOUT", "ACTIVE", "voicemail@s1"),
      feature("CALL_WAITING", "INACTIVE"),
  };
  const auto planned = plan_profile(default_profile(), features);
  REQUIRE(planned.size() == 3);  // DND, CFU, CFTO; CFB is already INACTIVE, CALL_WAITING is out
  CHECK(planned[0].after.feat_name == "CENTRAL_DND");
  CHECK(planned[1].after.status == "INACTIVE");
  CHECK(planned[1].after.destination_uri == "0791234567@s1");  // kept: not cleared by default
  CHECK(planned[2].before.feat_name == "CALL_FORWARD_TIMEOUT");

  vpbx::config::FeatureProfile profile;
  profile.inactive = {"CALL_FORWARD_*"};
  profile.active = {"CALL_FORWARD_TIMEOUT", "CALL_WAITING"};
  profile.clear_destinations = {"CALL_FORWARD_UNCONDITIONAL"};
  const auto custom = plan_profile(profile, features);
  REQUIRE(custom.size() == 2);
  CHECK(custom[0].after.feat_name == "CALL_FORWARD_UNCONDITIONAL");
  CHECK(custom[0].after.status == "INACTIVE");
  CHECK(custom[0].after.destination_uri.empty());
  CHECK(custom[1].after.feat_name == "CALL_WAITING");  // CFTO stays ACTIVE: the exact name wins
  CHECK(custom[1].after.status == "ACTIVE");

  // Once applied, the profile has nothing more to change.
  std::vector<vpbx::api::Feature> applied = features;
  for (const auto& change : custom) {
    for (auto& f : applied) {
      if (f.feat_name == change.after.feat_name) f = change.after;
    }
  }
  CHECK(plan_profile(profile, applied).empty());
  CHECK(feature_matches("CALL_FORWARD_*", "CALL_FORWARD_BUSY"));
  CHECK_FALSE(feature_matches("CALL_FORWARD_*", "CENTRAL_DND"));
  CHECK_FALSE(feature_matches("CENTRAL_DND", "CENTRAL_DND_X"));

  vpbx::config::Config config;
  CHECK(find_profile(config, "default").inactive == default_profile().inactive);
  CHECK_THROWS_WITH(find_profile(config, "late"), Contains("no profile \"late\""));
  config.profiles["default"].inactive = {"CENTRAL_DND"};
  CHECK(find_profile(config, "default").inactive == std::vector<std::string>{"CENTRAL_DND"});
}

TEST_CASE("discovered users are read from a live exporter's state file and journal, read only",
          "[vpbxctl]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  CHECK(vpbx::state::read_learnt_users(file).users.empty());  // no file yet: no users, no problem
  CHECK(vpbx::state::read_learnt_users(file).problem.empty());

  vpbx::config::Config config;
  config.users.push_back({"291908.bus.ent", 176125, "+41225662194@m.ipvoip.ch", "", "Room 101"});
  config.state_file = file;
  vpbx::state::Store store;
  store.configure(config);
  vpbx::state::PersistenceOptions options;
  options.flush_interval = 5ms;
  options.snapshot_interval = 1h;
  vpbx::state::Persistence persistence(file, store, options);
  persistence.load();
  persistence.start();
  REQUIRE(store.learn_user("291908.bus.ent", 176137, "+41225662197@m.ipvoip.ch"));
  // While the exporter runs, the learnt user is in the journal only.
  REQUIRE(vpbx::test::wait_until(
      [&] { return vpbx::state::read_learnt_users(file).users.size() == 1; }));
  const auto live = vpbx::state::read_learnt_users(file);
  CHECK(live.users[0].user_id == 176137);
  CHECK(live.problem.empty());

  const auto known = known_users(config);
  REQUIRE(known.users.size() == 2);
  CHECK(known.users[0].source == "config");
  CHECK(known.users[1].number == "+41225662197");
  CHECK(known.users[1].source == "discovered");
  persistence.stop();
  CHECK(vpbx::state::read_learnt_users(file).users.size() == 1);  // now from the snapshot

  vpbx::test::write_file(file, "{ not json");
  const auto damaged = vpbx::state::read_learnt_users(file);
  CHECK(damaged.users.empty());
  CHECK_THAT(damaged.problem, Contains("not a state file"));
}

TEST_CASE("tables align by columns on the terminal, CSV quotes what it must", "[vpbxctl]") {
  Table table({"ID", "SCOPE", "OWNER"});
  table.add({"a", "userIds=1,2,3,… (8)", "exporter"});
  table.add({"bb", "enterpriseNames=x", "other"});
  std::ostringstream out;
  table.print(out);
  CHECK(out.str() ==
        "ID  SCOPE                OWNER\n"
        "a   userIds=1,2,3,… (8)  exporter\n"
        "bb  enterpriseNames=x    other\n");
  CHECK(csv_line({"a", "b,c", "say \"hi\""}) == "a,\"b,c\",\"say \"\"hi\"\"\"\n");
  CHECK(printable("bad\x1b[2Jtext") == "bad?[2Jtext");
  CHECK(hms(3723) == "1:02:03");
  CHECK(failure_text("HTTP 400", R"({"status":400,"error":"Bad Request","message":"locked"})") ==
        "HTTP 400: the platform answered \"locked\"");
  CHECK(failure_text("HTTP 502", "<html>gateway</html>") ==
        "HTTP 502: the platform answered \"<html>gateway</html>\"");
}
