// End to end: the real vpbx_exporter binary (flags, signals, exit codes, logs) against an
// in-process simulator over real HTTP.
#include <signal.h>

#include <catch2/catch.hpp>
#include <regex>
#include <thread>

#include "exporter/app/flags.h"
#include "simulator/simulator.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/log_capture.h"
#include "tests/support/process.h"

using namespace std::chrono_literals;
using vpbx::test::ChildProcess;
using vpbx::test::http_request;
using vpbx::test::sample_value;

namespace {

const std::string kExporter = std::string(VPBX_BINARY_DIR) + "/exporter/vpbx_exporter";

struct Fixture {
  std::string dir = vpbx::test::make_temp_dir();
  vpbx::sim::Simulator simulator{[] {
    vpbx::sim::Options options;
    options.users_per_enterprise = 3;
    return options;
  }()};

  Fixture() {
    simulator.start();
    vpbx::test::write_file(dir + "/password", vpbx::sim::Options{}.password + "\n");
    vpbx::test::write_file(dir + "/users.csv", simulator.users_csv());
  }

  std::string config(const std::string& password_line, const std::string& extra = "") const {
    return "api:\n  url: " + simulator.base_url() +
           "\n  username: " + vpbx::sim::Options{}.username + "\n  " + password_line +
           "\n  application_id: " + vpbx::sim::Options{}.application_id +
           "\n  timeout: 2s\nusers_file: users.csv\npoll: { server: 200ms }\n" + extra;
  }

  std::string write_config(const std::string& text) const {
    const std::string path = dir + "/vpbx_exporter.yml";
    vpbx::test::write_file(path, text);
    return path;
  }
};

// Starts the exporter on a free port and reads the port back from its log.
int start_and_read_port(const ChildProcess& exporter) {
  REQUIRE(exporter.wait_for_log("msg=listening", 10s));
  std::smatch match;
  const std::string log = exporter.log();
  REQUIRE(std::regex_search(log, match, std::regex("port=([0-9]+)")));
  return std::stoi(match[1]);
}

std::string scrape(int port) {
  const auto reply = http_request("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  REQUIRE(reply.status == 200);
  return reply.body;
}

vpbx::test::HttpReply post(const std::string& url) {
  vpbx::test::HttpOptions options;
  options.method = "POST";
  return http_request(url, options);
}

bool wait_for_metric(int port, const std::string& name, double value) {
  for (int i = 0; i < 100; ++i) {
    if (sample_value(scrape(port), name) == value) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

}  // namespace

TEST_CASE("flags are parsed in both spellings and bad ones are named", "[flags]") {
  const auto flags = vpbx::app::parse_flags({"--config.file=a.yml", "--web.listen-address", ":1234",
                                             "--config.check", "--log.format=json"});
  CHECK(flags.config_file == "a.yml");
  CHECK(flags.listen_address == ":1234");
  CHECK(flags.config_check);
  CHECK(flags.log_format == "json");
  CHECK_THROWS_WITH(vpbx::app::parse_flags({"--web.listen"}), Catch::Contains("--web.listen"));
  CHECK_THROWS_WITH(vpbx::app::parse_flags({"--config.file"}), Catch::Contains("needs a value"));
  CHECK_THROWS(vpbx::app::parse_flags({"--web.telemetry-path=metrics"}));
}

TEST_CASE("the --shard flags are whole numbers, absent unless given", "[flags][shard]") {
  const auto none = vpbx::app::parse_flags({});
  CHECK_FALSE(none.shard_index);
  CHECK_FALSE(none.shard_count);
  const auto flags = vpbx::app::parse_flags({"--shard.index=2", "--shard.count", "3"});
  CHECK(flags.shard_index == 2);
  CHECK(flags.shard_count == 3);
  CHECK_THROWS_WITH(vpbx::app::parse_flags({"--shard.count=0"}), Catch::Contains("--shard.count"));
  CHECK_THROWS_WITH(vpbx::app::parse_flags({"--shard.index=-1"}), Catch::Contains("--shard.index"));
  CHECK_THROWS_WITH(vpbx::app::parse_flags({"--shard.index=1x"}), Catch::Contains("whole number"));
}

TEST_CASE("the --version flag prints the version and the git revision", "[exporter]") {
  std::string output;
  REQUIRE(vpbx::test::run_command(kExporter, {"--version"}, output) == 0);
  CHECK_THAT(output, Catch::StartsWith("vpbx_exporter, version "));
  CHECK_THAT(output, Catch::Contains("(revision "));
}

TEST_CASE("every binary prints its version with --version and lists --help in its --help",
          "[exporter]") {
  for (const std::string binary : {"exporter/vpbx_exporter", "simulator/vpbx_simulator"}) {
    const auto path = std::string(VPBX_BINARY_DIR) + "/" + binary;
    const auto name = binary.substr(binary.find('/') + 1);
    std::string output;
    CHECK(vpbx::test::run_command(path, {"--version"}, output) == 0);
    CHECK_THAT(output, Catch::StartsWith(name + ", version "));
    CHECK(vpbx::test::run_command(path, {"--help"}, output) == 0);
    CHECK_THAT(output, Catch::Contains("\n  --help ") && Catch::Contains("\n  --version "));
  }
}

TEST_CASE("the --config.check flag exits 0 on a good config and 1 naming the key on a bad one",
          "[exporter]") {
  Fixture f;
  std::string output;
  const auto good = f.write_config(f.config("password_file: password"));
  CHECK(vpbx::test::run_command(kExporter, {"--config.file=" + good, "--config.check"}, output) ==
        0);
  CHECK_THAT(output, Catch::Contains("config OK"));

  const auto bad =
      f.write_config(f.config("password_file: password") + "poll: { presence: soon }\n");
  CHECK(vpbx::test::run_command(kExporter, {"--config.file=" + bad, "--config.check"}, output) ==
        1);
  CHECK_THAT(output, Catch::Contains("poll"));

  CHECK(vpbx::test::run_command(kExporter, {"--config.file=/nonexistent.yml"}, output) == 1);

  // The --shard flags go over the file's shard and are checked with it.
  const auto sharded =
      f.write_config(f.config("password_file: password") + "shard: {index: 1, count: 2}\n");
  CHECK(vpbx::test::run_command(kExporter,
                                {"--config.file=" + sharded, "--config.check", "--shard.count=3"},
                                output) == 0);
  CHECK_THAT(output, Catch::Contains("shard 1 of 3"));
  CHECK(vpbx::test::run_command(kExporter,
                                {"--config.file=" + sharded, "--config.check", "--shard.index=2"},
                                output) == 1);
  CHECK_THAT(output, Catch::Contains("--shard.index") && Catch::Contains("2 with shard.count 2"));
}

TEST_CASE("the exporter serves platform health, self metrics and its endpoints", "[exporter]") {
  Fixture f;
  ChildProcess exporter(kExporter,
                        {"--config.file=" + f.write_config(f.config("password_file: password")),
                         "--web.listen-address=127.0.0.1:0"},
                        f.dir + "/exporter.log");
  const int port = start_and_read_port(exporter);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  REQUIRE(wait_for_metric(port, "vpbx_up", 1));

  const std::string metrics = scrape(port);
  CHECK(sample_value(metrics, "vpbx_server_info", {{"build_version", "7.7.2.12"}}) == 1);
  CHECK(sample_value(metrics, "vpbx_exporter_build_info") == 1);
  CHECK(sample_value(metrics, "vpbx_config_last_reload_successful") == 1);
  CHECK(sample_value(metrics, "vpbx_api_requests_total",
                     {{"endpoint", "v1/system/server"}, {"code", "200"}})
            .value_or(0) >= 1);
  CHECK(sample_value(metrics, "vpbx_collector_last_success_timestamp_seconds",
                     {{"collector", "system"}})
            .value_or(0) > 0);
  CHECK(sample_value(metrics, "process_resident_memory_bytes").value_or(0) > 0);

  const auto landing = http_request(base + "/");
  CHECK(landing.status == 200);
  CHECK_THAT(landing.body, Catch::Contains("Users configured</td><td>3<"));
  CHECK_THAT(landing.body, Catch::Contains("7.7.2.12"));
  CHECK_THAT(landing.body, !Catch::Contains(vpbx::sim::Options{}.password));
  CHECK_THAT(landing.body, !Catch::Contains(vpbx::sim::Options{}.application_id));
  CHECK(http_request(base + "/-/healthy").status == 200);
  CHECK(http_request(base + "/-/ready").status == 200);
  CHECK(http_request(base + "/nope").status == 404);
  CHECK(http_request(base + "/-/reload").status == 405);

  exporter.signal(SIGTERM);
  CHECK(exporter.wait(10s) == 0);
  const std::string log = exporter.log();
  CHECK_THAT(log, !Catch::Contains(vpbx::sim::Options{}.password));
  CHECK_THAT(log, !Catch::Contains(vpbx::sim::Options{}.application_id));
}

TEST_CASE("a failing API makes vpbx_up 0 and is logged once, not in a loop", "[exporter]") {
  Fixture f;
  vpbx::test::write_file(f.dir + "/wrong", "not-the-password\n");
  ChildProcess exporter(kExporter,
                        {"--config.file=" + f.write_config(f.config("password_file: wrong")),
                         "--web.listen-address=127.0.0.1:0"},
                        f.dir + "/exporter.log");
  const int port = start_and_read_port(exporter);
  // Several 200 ms polls fail in a row.
  for (int i = 0; i < 50; ++i) {
    const auto metrics = scrape(port);
    if (sample_value(metrics, "vpbx_collector_errors_total", {{"collector", "system"}})
            .value_or(0) >= 4)
      break;
    std::this_thread::sleep_for(100ms);
  }
  const std::string metrics = scrape(port);
  CHECK(sample_value(metrics, "vpbx_up") == 0);
  CHECK(
      sample_value(metrics, "vpbx_collector_errors_total", {{"collector", "system"}}).value_or(0) >=
      4);
  // A 401 is not transient: the account backs off (10 s first), so the platform saw only the
  // requests already in flight at the first 401 (at most max_concurrent_requests, 4), while the
  // collectors' many attempts since were answered locally.
  double rejected = 0;
  for (const auto& sample :
       vpbx::test::find_samples(metrics, "vpbx_api_requests_total", {{"code", "401"}})) {
    rejected += sample.value;
  }
  CHECK(rejected >= 1);
  CHECK(rejected <= 4);
  CHECK(sample_value(metrics, "vpbx_up_reason", {{"reason", "auth"}}) == 1);
  const std::string log = exporter.log();
  CHECK(vpbx::test::count_occurrences(log, "platform API down") == 1);
  CHECK_THAT(log, !Catch::Contains("not-the-password"));
}

TEST_CASE("reload: a bad config is refused and the running one stays, a good one applies",
          "[exporter][reload]") {
  Fixture f;
  const auto path = f.write_config(f.config("password_file: password"));
  ChildProcess exporter(kExporter, {"--config.file=" + path, "--web.listen-address=127.0.0.1:0"},
                        f.dir + "/exporter.log");
  const int port = start_and_read_port(exporter);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  REQUIRE(wait_for_metric(port, "vpbx_up", 1));

  SECTION("SIGHUP with a bad config") {
    f.write_config(f.config("password_file: password") + "unknown_key: 1\n");
    exporter.signal(SIGHUP);
    REQUIRE(wait_for_metric(port, "vpbx_config_last_reload_successful", 0));
    CHECK_THAT(exporter.log(), Catch::Contains("unknown_key"));
    CHECK(sample_value(scrape(port), "vpbx_up") == 1);  // still polling with the old config
  }
  SECTION("POST /-/reload with a bad, then a good config") {
    f.write_config("api: [");
    auto reply = post(base + "/-/reload");
    CHECK(reply.status == 500);
    CHECK(sample_value(scrape(port), "vpbx_config_last_reload_successful") == 0);

    f.write_config(f.config("password_file: password", "enterprises: [291908.bus.ent]\n"));
    const double before =
        sample_value(scrape(port), "vpbx_config_last_reload_success_timestamp_seconds").value();
    std::this_thread::sleep_for(1100ms);
    reply = post(base + "/-/reload");
    CHECK(reply.status == 200);
    const auto metrics = scrape(port);
    CHECK(sample_value(metrics, "vpbx_config_last_reload_successful") == 1);
    CHECK(sample_value(metrics, "vpbx_config_last_reload_success_timestamp_seconds").value() >
          before);
  }
  exporter.signal(SIGTERM);
  CHECK(exporter.wait(10s) == 0);
}

TEST_CASE("the --log.format=json flag writes one JSON object per line", "[exporter]") {
  Fixture f;
  ChildProcess exporter(kExporter,
                        {"--config.file=" + f.write_config(f.config("password_file: password")),
                         "--web.listen-address=127.0.0.1:0", "--log.format=json"},
                        f.dir + "/exporter.log");
  REQUIRE(exporter.wait_for_log("\"msg\":\"listening\"", 10s));
  exporter.signal(SIGINT);
  CHECK(exporter.wait(10s) == 0);
  std::istringstream lines(exporter.log());
  std::string line;
  int records = 0;
  while (std::getline(lines, line)) {
    CHECK_THAT(line, Catch::StartsWith("{\"ts\":\""));
    CHECK_THAT(line, Catch::EndsWith("}"));
    ++records;
  }
  CHECK(records >= 2);
}

TEST_CASE("managed subscriptions are listed on the landing page and deleted at a clean stop",
          "[exporter][subscriptions]") {
  Fixture f;
  const int port = vpbx::test::free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  vpbx::test::write_file(f.dir + "/token", "landing-page-test-token-0123456789\n");
  ChildProcess exporter(
      kExporter,
      {"--config.file=" +
           f.write_config(f.config("password_file: password",
                                   "webhook: { token_file: token, public_url: '" + base +
                                       "/webhook' }\nsubscriptions: { manage: true }\n")),
       "--web.listen-address=127.0.0.1:" + std::to_string(port)},
      f.dir + "/exporter.log");
  REQUIRE(exporter.wait_for_log("msg=listening", 10s));
  const auto listed = [&] {
    vpbx::test::HttpOptions options;
    options.userpwd = vpbx::sim::Options{}.username + ":" + vpbx::sim::Options{}.password;
    options.headers = {"X-C5-Application: " + vpbx::sim::Options{}.application_id};
    return http_request(f.simulator.base_url() + "v1/subscriptions", options).body;
  };
  bool all_three = false;
  for (int i = 0; i < 100 && !all_three; ++i) {
    const std::string page = http_request(base + "/").body;
    all_three = page.find("Push subscriptions") != std::string::npos &&
                page.find(">CALL_LOG<") != std::string::npos &&
                page.find(">FEATURE<") != std::string::npos &&
                page.find(">PRESENCE<") != std::string::npos;
    if (!all_three) std::this_thread::sleep_for(100ms);
  }
  CHECK(all_three);
  // The notificationUrl carries the token; the landing page must not.
  CHECK_THAT(http_request(base + "/").body, !Catch::Contains("landing-page-test-token"));
  CHECK(vpbx::test::count_occurrences(listed(), "\"notificationUrl\"") == 3);
  exporter.signal(SIGTERM);
  CHECK(exporter.wait(30s) == 0);
  CHECK(vpbx::test::count_occurrences(listed(), "\"notificationUrl\"") == 0);
}
