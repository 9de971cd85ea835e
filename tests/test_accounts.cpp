// Many accounts in one process (issue 14, part 1): the `accounts:` config, the `account` label,
// one failing account never delaying the others, reloads that add and remove accounts, one
// webhook path and one state file per account. The real vpbx_exporter binary against
// in-process simulators, one per platform account.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <thread>

#include "exporter/app/account_metrics.h"
#include "exporter/config/config.h"
#include "simulator/simulator.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

using namespace std::chrono_literals;
using vpbx::config::ConfigError;
using vpbx::test::ChildProcess;
using vpbx::test::http_request;

namespace {

const std::string kExporter = std::string(VPBX_BINARY_DIR) + "/exporter/vpbx_exporter";

std::unique_ptr<vpbx::sim::Simulator> start_simulator() {
  vpbx::sim::Options options;
  options.users_per_enterprise = 3;
  auto sim = std::make_unique<vpbx::sim::Simulator>(options);
  sim->start();
  return sim;
}

std::string token_of(const std::string& account) {
  return "token-" + account + "-0123456789abcdef";
}

// One entry of `accounts:`; `password` wrong on purpose in some tests.
std::string account_yaml(const std::string& name, const vpbx::sim::Simulator& sim,
                         const std::string& password = vpbx::sim::Options{}.password,
                         const std::string& extra = "", const std::string& timeout = "1s",
                         int max_concurrent_requests = 4) {
  const vpbx::sim::Options defaults;
  return "  - name: " + name + "\n    api:\n      url: " + sim.base_url() +
         "\n      username: " + defaults.username + "\n      password: " + password +
         "\n      application_id: " + defaults.application_id + "\n      timeout: " + timeout +
         "\n      max_retries: 0\n      max_requests_per_second: 100" +
         "\n      max_concurrent_requests: " + std::to_string(max_concurrent_requests) +
         "\n    users_file: users.csv\n"
         "    webhook: { token: " +
         token_of(name) + " }\n" + extra;
}

std::string scrape(int port) {
  const auto reply = http_request("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  REQUIRE(reply.status == 200);
  return reply.body;
}

double value(const std::string& text, const std::string& name,
             const std::map<std::string, std::string>& labels) {
  return vpbx::test::sample_value(text, name, labels).value_or(-1);
}

// The sum of every matching sample (-1 when none matches).
double sum(const std::string& text, const std::string& name,
           const std::map<std::string, std::string>& labels) {
  const auto samples = vpbx::test::find_samples(text, name, labels);
  if (samples.empty()) return -1;
  double total = 0;
  for (const auto& sample : samples) total += sample.value;
  return total;
}

// The `user` label of a user, from vpbx_user_info.
std::string user_label(const std::string& text, const std::string& account, std::int64_t id) {
  std::map<std::string, std::string> labels{{"user_id", std::to_string(id)}};
  if (!account.empty()) labels["account"] = account;
  const auto samples = vpbx::test::find_samples(text, "vpbx_user_info", labels);
  return samples.empty() ? "" : samples[0].labels.at("user");
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

double calls_truth(const vpbx::sim::Simulator& sim) {
  double calls = 0;
  for (const auto& user : sim.truth()) calls += static_cast<double>(user.calls);
  return calls;
}

struct Exporter {
  std::string dir;
  int port = vpbx::test::free_port();
  std::unique_ptr<ChildProcess> process;
  int runs = 0;

  explicit Exporter(std::string folder) : dir(std::move(folder)) {}
  std::string config_path() const { return dir + "/config.yml"; }
  void write(const std::string& accounts, const std::string& shared) const {
    vpbx::test::write_file(config_path(), shared + "accounts:\n" + accounts);
  }
  void start() {
    process = std::make_unique<ChildProcess>(
        kExporter,
        std::vector<std::string>{"--config.file=" + config_path(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port)},
        dir + "/exporter-" + std::to_string(runs++) + ".log");
    REQUIRE(process->wait_for_log("msg=listening", 10s));
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
  // Waits until the account's first call-log sweep fixed where counting starts.
  void wait_first_sweep(const std::string& account) const {
    REQUIRE(eventually([&] {
      return value(scrape(port), "vpbx_collector_last_success_timestamp_seconds",
                   {{"account", account}, {"collector", "call_logs"}}) > 0;
    }));
    std::this_thread::sleep_for(1100ms);  // callStart has whole seconds
  }
};

vpbx::test::HttpReply post(const std::string& url, const std::string& body = "") {
  vpbx::test::HttpOptions options;
  options.method = "POST";
  options.body = body;
  options.headers = {"Content-Type: application/json"};
  return http_request(url, options);
}

}  // namespace

TEST_CASE("accounts: each entry is a whole account, the rest is shared", "[accounts][config]") {
  const std::string text =
      "poll: { presence: 30s }\n"
      "webhook: { path: /hook, public_url: 'https://x.example/hook/{token}' }\n"
      "state_file: /var/lib/vpbx/state.json\n"
      "subscriptions: { manage: true, ttl: 12h, renew_before: 1h }\n"
      "accounts:\n"
      "  - name: hotel-a\n"
      "    api: { url: 'https://a.example/openapi', username: u1, password: p1secret,\n"
      "           application_id: app1, max_requests_per_second: 3 }\n"
      "    users: [{ enterprise: 1.bus.ent, user_id: 7 }]\n"
      "    webhook: { token: token-a-0123456789abcdef }\n"
      "  - name: hotel_b\n"
      "    api: { url: 'https://b.example/openapi', username: u2, password: p2secret,\n"
      "           application_id: app2 }\n"
      "    enterprises: [2.bus.ent]\n"
      "    webhook: { token: token-b-0123456789abcdef }\n"
      "    subscriptions: { manage: false }\n"
      "    state_file: /tmp/b.json\n";
  const auto config = vpbx::config::load_string(text);
  REQUIRE(config.accounts.size() == 2);
  CHECK(config.account.empty());
  const auto& a = config.accounts[0];
  const auto& b = config.accounts[1];
  CHECK(a.account == "hotel-a");
  CHECK(a.api.url == "https://a.example/openapi/");
  CHECK(a.api.max_requests_per_second == 3);
  CHECK(b.api.max_requests_per_second == 10);
  CHECK(a.users.size() == 1);
  CHECK(b.enterprises == std::vector<std::string>{"2.bus.ent"});
  CHECK(a.poll.presence == std::chrono::seconds(30));  // shared
  CHECK(a.webhook.path == "/hook/hotel-a");
  CHECK(vpbx::config::notification_url(a.webhook) ==
        "https://x.example/hook/hotel-a/token-a-0123456789abcdef");
  CHECK(a.subscriptions.manage);  // the top-level block, as the account has none
  CHECK(a.subscriptions.ttl == std::chrono::hours(12));
  CHECK_FALSE(b.subscriptions.manage);  // its own block, whole
  CHECK(a.state_file == "/var/lib/vpbx/state.json.hotel-a");
  CHECK(b.state_file == "/tmp/b.json");
  const auto accounts = vpbx::config::account_configs(config);
  CHECK(accounts.size() == 2);

  // Without accounts: one implicit account, unnamed.
  const auto single = vpbx::config::load_string(
      "api: { url: 'http://h/', username: u, password: p, application_id: a }\n");
  CHECK(single.accounts.empty());
  REQUIRE(vpbx::config::account_configs(single).size() == 1);
  CHECK(vpbx::config::account_configs(single)[0].account.empty());
}

TEST_CASE("accounts: public_url places the account before the token, or at {account}",
          "[accounts][config]") {
  const auto load = [](const std::string& public_url) {
    return vpbx::config::load_string(
        "webhook: { public_url: '" + public_url +
        "' }\naccounts:\n  - name: a\n    api: { url: 'http://h/', username: u, password: p, "
        "application_id: x }\n    webhook: { token: tok-0123456789abcdef }\n");
  };
  CHECK(vpbx::config::notification_url(load("https://e/webhook").accounts[0].webhook) ==
        "https://e/webhook/a/tok-0123456789abcdef");
  CHECK(vpbx::config::notification_url(
            load("https://e/in/{account}/t/{token}").accounts[0].webhook) ==
        "https://e/in/a/t/tok-0123456789abcdef");
}

TEST_CASE("accounts: mistakes name the key and the line", "[accounts][config]") {
  const std::string api =
      "    api: { url: 'http://h/', username: u, password: p, application_id: x }\n";
  const auto error = [](const std::string& text) -> std::string {
    try {
      vpbx::config::load_string(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "loaded";
  };
  CHECK(error("accounts:\n  - name: 'bad name'\n" + api) ==
        "config: accounts[0].name (line 2): \"bad name\" is not an account name: letters, digits, "
        "_ and -, starting with a letter or digit, at most 64 characters");
  CHECK_THAT(error("accounts:\n  - name: a\n" + api + "  - name: a\n" + api),
             Catch::StartsWith("config: accounts[1].name (line 4): account \"a\" appears twice "
                               "(first at line 2)"));
  CHECK_THAT(error("api: { url: 'http://h/' }\naccounts:\n  - name: a\n" + api),
             Catch::StartsWith("config: api (line 1): is set in each entry of accounts (line 2)"));
  CHECK_THAT(error("accounts:\n  - name: a\n    api: { url: 'http://h/', username: u }\n"),
             Catch::StartsWith("config: accounts[0].api.password (line 3): is required: set "
                               "accounts[0].api.password_file, accounts[0].api.password or the "
                               "environment variable VPBX_API_PASSWORD_A"));
  CHECK_THAT(error("accounts:\n  - name: a\n" + api + "    colour: blue\n"),
             Catch::StartsWith("config: accounts[0].colour (line 4): unknown key"));
  CHECK_THAT(error("accounts:\n  - name: a\n" + api + "    webhook: { path: /x }\n"),
             Catch::StartsWith("config: accounts[0].webhook.path (line 4): unknown key"));
  CHECK_THAT(error("webhook: { public_url: 'https://e/w' }\naccounts:\n  - name: a\n" + api +
                   "    subscriptions: { manage: true }\n"),
             Catch::Contains("accounts[0].webhook.token (line 5): is required when "
                             "subscriptions.manage is true"));
  CHECK_THAT(error("state_file: s.json\naccounts:\n  - name: a\n" + api + "  - name: b\n" + api +
                   "    state_file: s.json.a\n"),
             Catch::Contains("accounts[1].state_file (line 7): account \"b\" would share its "
                             "state file"));
  CHECK_THAT(error("accounts: []\n"), Catch::Contains("accounts (line 1): lists no account"));
}

TEST_CASE("accounts: each account's secrets come from its own files or environment variables",
          "[accounts][config]") {
  const std::string dir = vpbx::test::make_temp_dir();
  vpbx::test::write_file(dir + "/pw", "file-password-a\n");
  ::setenv("VPBX_API_PASSWORD_HOTEL_B", "env-password-b", 1);
  const auto config = vpbx::config::load_string(
      "accounts:\n  - name: a\n    api: { url: 'http://h/', username: u, password_file: pw, "
      "application_id: x }\n  - name: hotel-b\n    api: { url: 'http://h/', username: u, "
      "application_id: x }\n",
      dir);
  ::unsetenv("VPBX_API_PASSWORD_HOTEL_B");
  CHECK(config.accounts[0].api.password == "file-password-a");
  CHECK(config.accounts[1].api.password == "env-password-b");
  // A secret pasted into the wrong key of an account never shows in the error.
  try {
    vpbx::config::load_string(
        "accounts:\n  - name: a\n    api: { url: 'http://h/', username: u, password: "
        "s3cret-pass, application_id: x, timeout: s3cret-pass }\n");
    FAIL("loaded");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), !Catch::Contains("s3cret-pass"));
  }
}

TEST_CASE("accounts: one with a wrong password and one whose API hangs never delay the others",
          "[accounts][exporter]") {
  auto sim_a = start_simulator();
  auto sim_b = start_simulator();
  auto sim_hang = start_simulator();
  // Every request of d hangs for longer than the test; d may have one in flight, and is the last
  // account set up: a limiter shared between accounts would have one slot, held by d.
  vpbx::sim::Faults hang;
  hang.hang_ratio = 1;
  hang.hang_duration = 120s;
  sim_hang->set_faults(hang);

  Exporter exporter(vpbx::test::make_temp_dir());
  vpbx::test::write_file(exporter.dir + "/users.csv", sim_a->users_csv());
  const std::string manage = "    subscriptions: { manage: true, resource_types: [CALL_LOG] }\n";
  exporter.write(account_yaml("a", *sim_a, vpbx::sim::Options{}.password, manage) +
                     account_yaml("b", *sim_b, vpbx::sim::Options{}.password, manage) +
                     account_yaml("c", *sim_a, "wrong-password") +
                     account_yaml("d", *sim_hang, vpbx::sim::Options{}.password, "", "60s", 1),
                 "poll: { server: 300ms, presence: 300ms, features: 1s, call_logs: 500ms }\n"
                 "webhook: { public_url: 'http://127.0.0.1:" +
                     std::to_string(exporter.port) + "/webhook/{token}' }\n");
  exporter.start();
  exporter.wait_first_sweep("a");
  exporter.wait_first_sweep("b");

  const auto users = sim_a->truth();
  REQUIRE(users.size() == 3);
  for (int i = 0; i < 6; ++i) {
    sim_a->inject_call({users[i % 3].user_id, i % 2 ? "INCOMING" : "OUTGOING", 10 + i});
    if (i < 4) sim_b->inject_call({users[i % 3].user_id, "INCOMING", 0});
  }
  REQUIRE(calls_truth(*sim_a) == 6);
  REQUIRE(calls_truth(*sim_b) == 4);
  sim_a->set_presence(users[0].user_id, "OFFLINE");

  std::string text;
  const bool fresh = eventually([&] {
    text = scrape(exporter.port);
    return sum(text, "vpbx_user_calls_total", {{"account", "a"}}) == 6 &&
           sum(text, "vpbx_user_calls_total", {{"account", "b"}}) == 4 &&
           value(text, "vpbx_user_presence",
                 {{"account", "a"},
                  {"user", user_label(text, "a", users[0].user_id)},
                  {"state", "offline"}}) == 1;
  });
  INFO(text);
  REQUIRE(fresh);
  // The same user in account b is another user: untouched.
  CHECK(value(text, "vpbx_user_presence",
              {{"account", "b"},
               {"user", user_label(text, "b", users[0].user_id)},
               {"state", "idle"}}) == 1);
  // Pushes arrived on each account's own path (managed subscriptions, own notificationUrl).
  CHECK(value(text, "vpbx_call_logs_received_total",
              {{"account", "a"}, {"source", "push"}, {"outcome", "counted"}}) +
            value(text, "vpbx_call_logs_received_total",
                  {{"account", "a"}, {"source", "poll"}, {"outcome", "counted"}}) ==
        6);
  CHECK(value(text, "vpbx_webhook_requests_total", {{"account", "a"}, {"code", "200"}}) > 0);
  CHECK(value(text, "vpbx_webhook_requests_total", {{"account", "b"}, {"code", "200"}}) > 0);

  REQUIRE(eventually([&] {
    text = scrape(exporter.port);
    return value(text, "vpbx_up", {{"account", "c"}}) == 0 &&
           value(text, "vpbx_up", {{"account", "d"}}) == 0;
  }));
  CHECK(value(text, "vpbx_up", {{"account", "a"}}) == 1);
  CHECK(value(text, "vpbx_up", {{"account", "b"}}) == 1);
  CHECK(value(text, "vpbx_collector_errors_total", {{"account", "c"}, {"collector", "system"}}) >
        0);
  CHECK(sum(text, "vpbx_user_calls_total", {{"account", "c"}}) == 0);
  // Fresh: a and b keep polling every 300 ms while d's request hangs. An account queued behind
  // d would be a minute stale; the bound leaves room for a loaded machine.
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const std::string account : {"a", "b"}) {
    CHECK(now - value(text, "vpbx_collector_last_success_timestamp_seconds",
                      {{"account", account}, {"collector", "presence"}}) <
          5);
  }
  CHECK(value(text, "vpbx_collector_last_success_timestamp_seconds",
              {{"account", "d"}, {"collector", "presence"}}) <= 0);
  // Every family once: each account's samples are merged into it.
  CHECK(std::regex_search(text, std::regex("# TYPE vpbx_up gauge\n")));
  const auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(count("# TYPE vpbx_up ") == 1);
  CHECK(count("# TYPE vpbx_user_calls_total ") == 1);
  CHECK(count("# TYPE vpbx_api_requests_total ") == 1);

  // The landing page lists the accounts and their health.
  const auto landing = http_request(exporter.url("/"));
  CHECK_THAT(landing.body,
             Catch::Contains("<td>c</td>") && Catch::Contains("<strong>down</strong>"));
  CHECK_THAT(landing.body, !Catch::Contains("wrong-password"));

  exporter.process->signal(SIGTERM);
  CHECK(exporter.process->wait(30s) == 0);
}

TEST_CASE("accounts: a push reaches only the account whose path and token it carries",
          "[accounts][webhook]") {
  auto sim = start_simulator();
  Exporter exporter(vpbx::test::make_temp_dir());
  vpbx::test::write_file(exporter.dir + "/users.csv", sim->users_csv());
  exporter.write(account_yaml("a", *sim) + account_yaml("b", *sim),
                 "poll: { server: 1s, presence: 0, features: 0, call_logs: 0 }\n");
  exporter.start();
  const auto user = sim->truth()[0];
  const std::string body =
      R"({"subscriptionId":"s","presenceEvents":[{"changeType":"MODIFIED","presence":{"userId":)" +
      std::to_string(user.user_id) + R"(,"status":"BUSY"}}]})";
  // b's token on a's path, a's token on b's path, an unknown account, the bare path: all 404.
  CHECK(post(exporter.url("/webhook/a/" + token_of("b")), body).status == 404);
  CHECK(post(exporter.url("/webhook/b/" + token_of("a")), body).status == 404);
  CHECK(post(exporter.url("/webhook/z/" + token_of("a")), body).status == 404);
  CHECK(post(exporter.url("/webhook/" + token_of("a")), body).status == 404);
  std::string text = scrape(exporter.port);
  const std::string label = user_label(text, "a", user.user_id);
  REQUIRE(label == user_label(text, "b", user.user_id));
  CHECK(value(text, "vpbx_user_presence", {{"account", "a"}, {"user", label}, {"state", "busy"}}) ==
        0);

  CHECK(post(exporter.url("/webhook/a/" + token_of("a")), body).status == 200);
  text = scrape(exporter.port);
  CHECK(value(text, "vpbx_user_presence", {{"account", "a"}, {"user", label}, {"state", "busy"}}) ==
        1);
  CHECK(value(text, "vpbx_user_presence", {{"account", "b"}, {"user", label}, {"state", "busy"}}) ==
        0);
  CHECK(value(text, "vpbx_webhook_events_total",
              {{"account", "a"}, {"resource_type", "PRESENCE"}, {"outcome", "applied"}}) == 1);
  CHECK(value(text, "vpbx_webhook_events_total",
              {{"account", "b"}, {"resource_type", "PRESENCE"}, {"outcome", "applied"}}) == 0);
}

TEST_CASE("accounts: a reload adds and removes accounts, the kept ones' counters continue",
          "[accounts][reload]") {
  auto sim_a = start_simulator();
  auto sim_b = start_simulator();
  Exporter exporter(vpbx::test::make_temp_dir());
  vpbx::test::write_file(exporter.dir + "/users.csv", sim_a->users_csv());
  const std::string shared =
      "poll: { server: 300ms, presence: 0, features: 0, call_logs: 300ms }\n";
  exporter.write(account_yaml("a", *sim_a) + account_yaml("b", *sim_b), shared);
  exporter.start();
  exporter.wait_first_sweep("a");
  const auto users = sim_a->truth();
  sim_a->inject_call({users[0].user_id, "INCOMING", 30});
  sim_a->inject_call({users[1].user_id, "OUTGOING", 40});
  std::string before;
  REQUIRE(eventually([&] {
    before = scrape(exporter.port);
    return sum(before, "vpbx_user_calls_total", {{"account", "a"}}) == 2;
  }));
  const double requests_before =
      sum(before, "vpbx_api_requests_total", {{"account", "a"}, {"code", "200"}});
  REQUIRE(requests_before > 0);
  REQUIRE(value(before, "vpbx_up", {{"account", "b"}}) >= 0);

  // b goes, e (another login on b's platform) comes; a stays.
  exporter.write(account_yaml("a", *sim_a) + account_yaml("e", *sim_b), shared);
  const auto reply = post(exporter.url("/-/reload"));
  REQUIRE(reply.status == 200);
  std::string after = scrape(exporter.port);
  CHECK(sum(after, "vpbx_user_calls_total", {{"account", "a"}}) == 2);
  CHECK(sum(after, "vpbx_api_requests_total", {{"account", "a"}, {"code", "200"}}) >=
        requests_before);
  CHECK_THAT(after, !Catch::Contains("account=\"b\""));
  REQUIRE(eventually([&] {
    after = scrape(exporter.port);
    return value(after, "vpbx_up", {{"account", "e"}}) == 1;
  }));
  // The kept account carries on counting.
  sim_a->inject_call({users[2].user_id, "INCOMING", 50});
  REQUIRE(eventually([&] {
    return sum(scrape(exporter.port), "vpbx_user_calls_total", {{"account", "a"}}) == 3;
  }));

  // SIGHUP too; and a file that turns the named accounts into one implicit account is refused.
  exporter.write(account_yaml("a", *sim_a), shared);
  exporter.process->signal(SIGHUP);
  REQUIRE(
      eventually([&] { return scrape(exporter.port).find("account=\"e\"") == std::string::npos; }));
  vpbx::test::write_file(exporter.config_path(), "api: { url: '" + sim_a->base_url() +
                                                     "', username: u, password: p, "
                                                     "application_id: x }\n");
  const auto refused = post(exporter.url("/-/reload"));
  CHECK(refused.status == 500);
  CHECK_THAT(refused.body, Catch::Contains("needs a restart"));
  CHECK(sum(scrape(exporter.port), "vpbx_user_calls_total", {{"account", "a"}}) == 3);
}

TEST_CASE("accounts: each account has its own state file, and a restart counts no call twice",
          "[accounts][state]") {
  auto sim_a = start_simulator();
  auto sim_b = start_simulator();
  Exporter exporter(vpbx::test::make_temp_dir());
  vpbx::test::write_file(exporter.dir + "/users.csv", sim_a->users_csv());
  const std::string shared =
      "poll: { server: 300ms, presence: 0, features: 0, call_logs: 300ms }\n"
      "call_logs: { overlap: 10m }\nstate_file: state.json\n";
  exporter.write(account_yaml("a", *sim_a) + account_yaml("b", *sim_b), shared);
  exporter.start();
  exporter.wait_first_sweep("a");
  exporter.wait_first_sweep("b");
  const auto users = sim_a->truth();
  for (int i = 0; i < 3; ++i) sim_a->inject_call({users[i].user_id, "INCOMING", 10});
  sim_b->inject_call({users[0].user_id, "OUTGOING", 20});
  REQUIRE(eventually([&] {
    const auto text = scrape(exporter.port);
    return sum(text, "vpbx_user_calls_total", {{"account", "a"}}) == 3 &&
           sum(text, "vpbx_user_calls_total", {{"account", "b"}}) == 1;
  }));
  exporter.process->signal(SIGTERM);
  REQUIRE(exporter.process->wait(30s) == 0);
  CHECK(std::filesystem::exists(exporter.dir + "/state.json.a"));
  CHECK(std::filesystem::exists(exporter.dir + "/state.json.b"));
  CHECK_FALSE(std::filesystem::exists(exporter.dir + "/state.json"));

  // While it was down: one more call on a. The restart re-reads the overlap (10 min): every
  // call already counted is a duplicate, the new one counts once.
  sim_a->inject_call({users[1].user_id, "OUTGOING", 15});
  exporter.start();
  std::string text;
  REQUIRE(eventually([&] {
    text = scrape(exporter.port);
    return sum(text, "vpbx_user_calls_total", {{"account", "a"}}) == 4 &&
           value(text, "vpbx_call_logs_received_total",
                 {{"account", "b"}, {"source", "poll"}, {"outcome", "duplicate"}}) >= 1;
  }));
  std::this_thread::sleep_for(1s);  // a few more sweeps: still nothing twice
  text = scrape(exporter.port);
  CHECK(sum(text, "vpbx_user_calls_total", {{"account", "a"}}) == calls_truth(*sim_a));
  CHECK(sum(text, "vpbx_user_calls_total", {{"account", "b"}}) == calls_truth(*sim_b));
}

// Each account's samples are written with its label once, not merged into copies: the text must
// be what one merged family would give, every family once, the account label first and a
// bucket's le last.
TEST_CASE("accounts: each family is written once, with every account's samples", "[accounts]") {
  const auto registry_with = [](double calls, double seconds) {
    auto registry = std::make_shared<prometheus::Registry>();
    prometheus::BuildCounter()
        .Name("vpbx_test_calls_total")
        .Help("Calls.")
        .Register(*registry)
        .Add({{"direction", "in"}})
        .Increment(calls);
    prometheus::BuildHistogram()
        .Name("vpbx_test_seconds")
        .Help("Seconds.")
        .Register(*registry)
        .Add({{"path", "a\"b"}}, prometheus::Histogram::BucketBoundaries{1})
        .Observe(seconds);
    return registry;
  };
  // Only the second account has a gauge: its family comes after the ones the first listed.
  auto second = registry_with(2, 5);
  prometheus::BuildGauge().Name("vpbx_test_up").Help("Up.").Register(*second).Add({}).Set(1);
  std::vector<std::pair<std::string, std::shared_ptr<prometheus::Collectable>>> sources = {
      {"", registry_with(1, 0.5)}, {"b-2", second}, {"gone", nullptr}};
  const vpbx::app::AccountFamilies families([&] { return sources; });
  std::string text;
  vpbx::metrics::TextOutput out([&text](std::string_view piece) { text += piece; });
  families.write_exposition(out);
  out.finish();
  CHECK(text ==
        "# HELP vpbx_test_calls_total Calls.\n"
        "# TYPE vpbx_test_calls_total counter\n"
        "vpbx_test_calls_total{direction=\"in\"} 1\n"
        "vpbx_test_calls_total{account=\"b-2\",direction=\"in\"} 2\n"
        "# HELP vpbx_test_seconds Seconds.\n"
        "# TYPE vpbx_test_seconds histogram\n"
        "vpbx_test_seconds_count{path=\"a\\\"b\"} 1\n"
        "vpbx_test_seconds_sum{path=\"a\\\"b\"} 0.5\n"
        "vpbx_test_seconds_bucket{path=\"a\\\"b\",le=\"1\"} 1\n"
        "vpbx_test_seconds_bucket{path=\"a\\\"b\",le=\"+Inf\"} 1\n"
        "vpbx_test_seconds_count{account=\"b-2\",path=\"a\\\"b\"} 1\n"
        "vpbx_test_seconds_sum{account=\"b-2\",path=\"a\\\"b\"} 5\n"
        "vpbx_test_seconds_bucket{account=\"b-2\",path=\"a\\\"b\",le=\"1\"} 0\n"
        "vpbx_test_seconds_bucket{account=\"b-2\",path=\"a\\\"b\",le=\"+Inf\"} 1\n"
        "# HELP vpbx_test_up Up.\n"
        "# TYPE vpbx_test_up gauge\n"
        "vpbx_test_up{account=\"b-2\"} 1\n");
}

TEST_CASE("accounts: a file without accounts writes no account label", "[accounts][exporter]") {
  auto sim = start_simulator();
  const std::string dir = vpbx::test::make_temp_dir();
  vpbx::test::write_file(dir + "/users.csv", sim->users_csv());
  const vpbx::sim::Options defaults;
  vpbx::test::write_file(dir + "/config.yml",
                         "api: { url: '" + sim->base_url() + "', username: " + defaults.username +
                             ", password: " + defaults.password +
                             ", application_id: " + defaults.application_id +
                             " }\nusers_file: users.csv\npoll: { server: 200ms }\n");
  const int port = vpbx::test::free_port();
  ChildProcess exporter(kExporter,
                        {"--config.file=" + dir + "/config.yml",
                         "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                        dir + "/exporter.log");
  REQUIRE(exporter.wait_for_log("msg=listening", 10s));
  std::string text;
  REQUIRE(eventually([&] {
    text = scrape(port);
    return value(text, "vpbx_up", {}) == 1;
  }));
  CHECK_THAT(text, !Catch::Contains("account="));
  CHECK(value(text, "vpbx_webhook_requests_total", {{"code", "200"}}) == 0);
  CHECK_THAT(http_request("http://127.0.0.1:" + std::to_string(port) + "/").body,
             Catch::Contains("Users configured</td><td>3<"));
}
