// Exactly-once call accounting, end to end: the real exporter binary, push and poll, the
// simulator dropping 20 % of pushes, duplicating 10 % and failing 5 % of API calls, and the
// exporter killed with SIGKILL and restarted twice. Per-user totals must equal the truth.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <random>
#include <regex>
#include <thread>

#include "simulator/simulator.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

using namespace std::chrono_literals;
using vpbx::test::ChildProcess;
using vpbx::test::find_samples;
using vpbx::test::http_request;

namespace {

const std::string kExporter = std::string(VPBX_BINARY_DIR) + "/exporter/vpbx_exporter";
const std::string kToken = "exactly-once-test-token-0123456789";

std::string scrape(int port) {
  return http_request("http://127.0.0.1:" + std::to_string(port) + "/metrics").body;
}

// user id -> {calls by direction, duration sum}, as the exporter exposes them.
struct Totals {
  std::map<std::string, std::map<std::string, double>> calls;
  std::map<std::string, double> duration;
};

Totals exporter_totals(const std::string& text) {
  // The `user` label is the configured name; vpbx_user_info joins it to the id.
  std::map<std::string, std::string> id_of;
  for (const auto& s : find_samples(text, "vpbx_user_info"))
    id_of[s.labels.at("user")] = s.labels.at("user_id");
  Totals totals;
  for (const auto& s : find_samples(text, "vpbx_user_calls_total")) {
    totals.calls[id_of[s.labels.at("user")]][s.labels.at("direction")] += s.value;
  }
  for (const auto& s : find_samples(text, "vpbx_user_call_duration_seconds_total")) {
    totals.duration[id_of[s.labels.at("user")]] += s.value;
  }
  return totals;
}

bool equals_truth(const Totals& totals, const std::vector<vpbx::sim::UserTruth>& truth) {
  for (const auto& user : truth) {
    const auto calls = totals.calls.find(std::to_string(user.user_id));
    if (calls == totals.calls.end()) return false;
    for (const auto& [api_direction, label] :
         {std::pair{"INCOMING", "incoming"}, {"OUTGOING", "outgoing"}}) {
      const auto it = user.calls_by_direction.find(api_direction);
      const double expected =
          it == user.calls_by_direction.end() ? 0 : static_cast<double>(it->second);
      const auto got = calls->second.find(label);
      if ((got == calls->second.end() ? 0 : got->second) != expected) return false;
    }
    const auto duration = totals.duration.find(std::to_string(user.user_id));
    if (duration == totals.duration.end() || duration->second != user.duration_seconds)
      return false;
  }
  return true;
}

// Every series of `after` is at least its value in `before`: no counter went backwards.
void check_monotonic(const std::string& before, const std::string& after) {
  for (const auto& name : {"vpbx_user_calls_total", "vpbx_user_call_duration_seconds_total"}) {
    for (const auto& old_sample : find_samples(before, name)) {
      const auto now = find_samples(after, name, old_sample.labels);
      REQUIRE(now.size() == 1);
      CHECK(now.front().value >= old_sample.value);
    }
  }
}

}  // namespace

TEST_CASE("every call log is counted exactly once through faults and two SIGKILLs",
          "[exactly_once][webhook][persistence]") {
  vpbx::sim::Options options;
  options.users_per_enterprise = 6;
  options.faults.push_drop_ratio = 0.2;
  options.faults.push_duplicate_ratio = 0.1;
  options.faults.api_error_ratio = 0.05;
  vpbx::sim::Simulator sim(options);
  sim.start();

  const std::string dir = vpbx::test::make_temp_dir();
  vpbx::test::write_file(dir + "/users.csv", sim.users_csv());
  vpbx::test::write_file(dir + "/password", options.password + "\n");
  vpbx::test::write_file(dir + "/token", kToken + "\n");
  vpbx::test::write_file(
      dir + "/config.yml",
      "api:\n  url: " + sim.base_url() + "\n  username: " + options.username +
          "\n  password_file: password\n  application_id: " + options.application_id +
          "\n  timeout: 2s\n  max_requests_per_second: 50\n"
          "users_file: users.csv\nenterprises: [291908.bus.ent]\n"
          "poll: { server: 1s, presence: 0, features: 0, call_logs: 1s }\n"
          "call_logs: { overlap: 10m }\n"
          "webhook: { token_file: token }\nstate_file: state.json\n");
  const int port = vpbx::test::free_port();
  const std::vector<std::string> args{"--config.file=" + dir + "/config.yml",
                                      "--web.listen-address=127.0.0.1:" + std::to_string(port)};
  int run = 0;
  auto start_exporter = [&] {
    auto exporter = std::make_unique<ChildProcess>(
        kExporter, args, dir + "/exporter-" + std::to_string(run++) + ".log");
    REQUIRE(exporter->wait_for_log("msg=listening", 10s));
    return exporter;
  };
  auto exporter = start_exporter();

  // A CALL_LOG subscription for every user, pushing to the exporter's webhook (retried: the
  // simulator fails 5 % of API calls on purpose).
  std::string user_ids;
  for (const auto& user : sim.truth())
    user_ids += (user_ids.empty() ? "" : ",") + std::to_string(user.user_id);
  vpbx::test::HttpOptions post;
  post.method = "POST";
  post.userpwd = options.username + ":" + options.password;
  post.headers = {"X-C5-Application: " + options.application_id, "Content-Type: application/json"};
  post.body = R"({"expires":"2099-01-01T00:00:00.000Z","notificationUrl":"http://127.0.0.1:)" +
              std::to_string(port) + "/webhook/" + kToken +
              R"(","resourceType":"CALL_LOG","userIds":[)" + user_ids + "]}";
  long status = 0;
  for (int attempt = 0; attempt < 20 && status != 200; ++attempt) {
    status = http_request(sim.base_url() + "v1/subscriptions", post).status;
  }
  REQUIRE(status == 200);

  // The first call-log sweep fixes where counting starts; traffic comes after it.
  for (int i = 0; i < 200; ++i) {
    if (vpbx::test::sample_value(scrape(port), "vpbx_collector_last_success_timestamp_seconds",
                                 {{"collector", "call_logs"}})
            .value_or(0) > 0) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(1100ms);  // callStart has whole seconds

  std::atomic<bool> traffic_done{false};
  std::thread traffic([&] {
    std::mt19937 random(42);
    const auto users = sim.truth();
    for (int i = 0; i < 240; ++i) {
      const auto& user = users[random() % users.size()];
      sim.inject_call({user.user_id, random() % 2 ? "INCOMING" : "OUTGOING",
                       static_cast<int>(random() % 5 == 0 ? 0 : random() % 600)});
      std::this_thread::sleep_for(25ms);
    }
    traffic_done = true;
  });

  for (int kill = 0; kill < 2; ++kill) {
    std::this_thread::sleep_for(1500ms);
    const std::string before = scrape(port);
    exporter->signal(SIGKILL);
    CHECK(exporter->wait(10s) == 128 + SIGKILL);
    std::this_thread::sleep_for(300ms);  // pushes in between fail: polling must catch up
    exporter = start_exporter();
    check_monotonic(before, scrape(port));
  }
  traffic.join();

  const auto truth = sim.truth();
  bool equal = false;
  for (int i = 0; i < 600 && !equal; ++i) {
    equal = equals_truth(exporter_totals(scrape(port)), truth);
    if (!equal) std::this_thread::sleep_for(100ms);
  }
  const std::string text = scrape(port);
  const auto totals = exporter_totals(text);
  for (const auto& user : truth) {
    const std::string id = std::to_string(user.user_id);
    INFO("user " << id);
    for (const auto& [api_direction, label] :
         {std::pair{"INCOMING", "incoming"}, {"OUTGOING", "outgoing"}}) {
      const auto it = user.calls_by_direction.find(api_direction);
      CHECK(totals.calls.at(id).at(label) ==
            (it == user.calls_by_direction.end() ? 0 : static_cast<double>(it->second)));
    }
    CHECK(totals.duration.at(id) == user.duration_seconds);
  }
  REQUIRE(equal);
  // Both paths were really exercised: pushes were counted, dropped ones were caught by polls,
  // duplicates were absorbed.
  const auto stats = sim.stats();
  CHECK(stats.pushes_dropped > 0);
  CHECK(stats.pushes_duplicated > 0);
  CHECK(vpbx::test::sample_value(text, "vpbx_call_logs_received_total",
                                 {{"source", "push"}, {"outcome", "counted"}})
            .value_or(0) > 0);
  CHECK(vpbx::test::sample_value(text, "vpbx_call_logs_received_total",
                                 {{"source", "poll"}, {"outcome", "counted"}})
            .value_or(0) > 0);
  CHECK(vpbx::test::sample_value(text, "vpbx_call_logs_received_total",
                                 {{"source", "push"}, {"outcome", "duplicate"}})
                .value_or(0) +
            vpbx::test::sample_value(text, "vpbx_call_logs_received_total",
                                     {{"source", "poll"}, {"outcome", "duplicate"}})
                .value_or(0) >
        0);
  exporter->signal(SIGTERM);
  CHECK(exporter->wait(20s) == 0);
}
