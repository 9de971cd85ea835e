// The polling collectors against the simulator over real HTTP: totals equal the simulator's
// truth, paging, change visibility, the rate limit with 1,000 users, sweep overruns, and the
// account-wide backoff after a refused password.
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <thread>

#include "exporter/api/client.h"
#include "exporter/api/rate_limiter.h"
#include "exporter/collectors/call_logs_collector.h"
#include "exporter/collectors/features_collector.h"
#include "exporter/collectors/pacer.h"
#include "exporter/collectors/poller.h"
#include "exporter/collectors/presence_collector.h"
#include "exporter/collectors/system_collector.h"
#include "exporter/config/config.h"
#include "exporter/state/store.h"
#include "exporter/subscriptions/push_health.h"
#include "simulator/simulator.h"
#include "tests/support/exposition.h"
#include "tests/support/log_capture.h"

using namespace std::chrono_literals;
using vpbx::test::find_samples;
using vpbx::test::sample_value;

namespace {

// One exporter-side stack: config, client with its own limiter, store, collector metrics.
struct Stack {
  vpbx::config::Config config;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<vpbx::api::ApiMetrics> api_metrics =
      std::make_shared<vpbx::api::ApiMetrics>(*registry);
  std::shared_ptr<vpbx::collectors::CollectorMetrics> metrics =
      std::make_shared<vpbx::collectors::CollectorMetrics>(*registry);
  std::shared_ptr<vpbx::collectors::SweepMetrics> sweep_metrics =
      std::make_shared<vpbx::collectors::SweepMetrics>(*registry);
  std::unique_ptr<vpbx::api::Client> client;
  vpbx::state::Store store;

  Stack(const vpbx::sim::Simulator& sim, const std::string& extra_yaml) {
    const std::string dir = "/tmp";
    config = vpbx::config::load_string(
        "api:\n  url: " + sim.base_url() + "\n  username: " + vpbx::sim::Options{}.username +
        "\n  password: " + vpbx::sim::Options{}.password +
        "\n  application_id: " + vpbx::sim::Options{}.application_id + "\n" + extra_yaml);
    for (const auto& row : sim_users(sim)) config.users.push_back(row);
    rebuild_client();
    store.configure(config);
  }

  // A new client from config.api (after a test changed it).
  void rebuild_client() {
    client = std::make_unique<vpbx::api::Client>(
        config.api, api_metrics,
        std::make_shared<vpbx::api::RateLimiter>(config.api.max_requests_per_second,
                                                 config.api.max_concurrent_requests));
  }

  static std::vector<vpbx::config::User> sim_users(const vpbx::sim::Simulator& sim) {
    std::vector<vpbx::config::User> users;
    for (const auto& t : sim.truth()) {
      users.push_back({t.enterprise, t.user_id, t.login, t.number, ""});
    }
    return users;
  }

  std::string exposition() const { return store.exposition(); }
  std::string self_metrics() const {
    return prometheus::TextSerializer().Serialize(registry->Collect());
  }
};

vpbx::sim::Options sim_options(int users, int history = 0) {
  vpbx::sim::Options options;
  options.users_per_enterprise = users;
  options.history_calls_per_user = history;
  return options;
}

// Waits until `done` holds, for at most `timeout`.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

double value_or_zero(const std::string& text, const std::string& name,
                     const std::map<std::string, std::string>& labels) {
  return sample_value(text, name, labels).value_or(0);
}

std::shared_ptr<vpbx::collectors::Pacer> pacer(int workers) {
  return std::make_shared<vpbx::collectors::Pacer>(workers);
}

vpbx::collectors::PollPacing every(std::chrono::milliseconds interval) {
  return {[interval] { return interval; }, {}};
}

}  // namespace

TEST_CASE("call-log polling totals equal the simulator's truth, history is not counted",
          "[collectors][calls]") {
  vpbx::sim::Simulator sim(sim_options(5, /*history=*/3));
  sim.start();
  Stack stack(
      sim,
      "enterprises: [291908.bus.ent]\npoll: { call_logs: 200ms }\ncall_logs: { page_size: 4 }\n");
  const auto truth_before = sim.truth();
  vpbx::collectors::CallLogsCollector collector(stack.config, every(stack.config.poll.call_logs),
                                                pacer(2), *stack.client, stack.store, stack.metrics,
                                                stack.sweep_metrics);
  collector.start();
  // The first poll sets the cursor; calls that ended before it are history.
  REQUIRE(eventually(
      [&] { return stack.store.call_log_cursor("enterprise:291908.bus.ent").has_value(); }));
  std::this_thread::sleep_for(1100ms);  // callStart has whole seconds
  // Inject a mix: answered and not, both directions, several per user, enough for several pages.
  for (int i = 0; i < 30; ++i) {
    const auto& user = truth_before[static_cast<std::size_t>(i) % truth_before.size()];
    sim.inject_call({user.user_id, i % 3 == 0 ? "INCOMING" : "OUTGOING", i % 4 == 0 ? 0 : 10 + i});
  }
  const auto truth = sim.truth();
  const auto totals_match = [&] {
    const auto text = stack.exposition();
    for (const auto& user : truth) {
      for (const auto& [direction, label] :
           {std::pair{"INCOMING", "incoming"}, {"OUTGOING", "outgoing"}}) {
        const double counted =
            value_or_zero(text, "vpbx_user_calls_total",
                          {{"user", user.number}, {"direction", label}, {"answered", "true"}}) +
            value_or_zero(text, "vpbx_user_calls_total",
                          {{"user", user.number}, {"direction", label}, {"answered", "false"}});
        const auto it = user.calls_by_direction.find(direction);
        if (counted != (it == user.calls_by_direction.end() ? 0 : static_cast<double>(it->second)))
          return false;
      }
    }
    return true;
  };
  REQUIRE(eventually(totals_match));
  // Two more sweeps re-read the overlap window: nothing is counted twice.
  const auto polls_before =
      sim.stats().requests_by_route["GET v1/enterprises/{enterprise}/calllogs"];
  REQUIRE(eventually([&] {
    return sim.stats().requests_by_route["GET v1/enterprises/{enterprise}/calllogs"] >=
           polls_before + 4;
  }));
  collector.stop();
  REQUIRE(totals_match());
  const auto text = stack.exposition();
  double answered = 0, duration = 0, truth_answered = 0, truth_duration = 0;
  for (const auto& user : truth) {
    truth_answered += static_cast<double>(user.answered);
    truth_duration += user.duration_seconds;
    for (const auto* label : {"incoming", "outgoing"}) {
      answered +=
          value_or_zero(text, "vpbx_user_calls_total",
                        {{"user", user.number}, {"direction", label}, {"answered", "true"}});
      duration += value_or_zero(text, "vpbx_user_call_duration_seconds_total",
                                {{"user", user.number}, {"direction", label}});
    }
  }
  CHECK(answered == truth_answered);
  CHECK(duration == truth_duration);
  CHECK(value_or_zero(text, "vpbx_call_logs_received_total",
                      {{"source", "poll"}, {"outcome", "counted"}}) == 30);
  CHECK(value_or_zero(text, "vpbx_call_logs_received_total",
                      {{"source", "poll"}, {"outcome", "duplicate"}}) > 0);
}

TEST_CASE("per-user call-log paging reads every page to the end", "[collectors][calls]") {
  vpbx::sim::Options options = sim_options(1);
  options.max_page_size = 3;
  vpbx::sim::Simulator sim(options);
  sim.start();
  Stack stack(sim, "poll: { call_logs: 100ms }\ncall_logs: { page_size: 3, backfill: 1h }\n");
  const auto user = sim.truth().front();
  for (int i = 0; i < 10; ++i) sim.inject_call({user.user_id, "OUTGOING", 5});
  vpbx::collectors::CallLogsCollector collector(stack.config, every(stack.config.poll.call_logs),
                                                pacer(1), *stack.client, stack.store, stack.metrics,
                                                stack.sweep_metrics);
  CHECK(collector.scopes() == std::vector<std::string>{"user:" + std::to_string(user.user_id)});
  sim.reset_stats();
  CHECK(collector.poll("user:" + std::to_string(user.user_id)) == "");
  CHECK(sim.stats().requests_by_route["GET v1/users/{userId}/calllogs"] == 4);  // 3+3+3+1
  CHECK(value_or_zero(stack.exposition(), "vpbx_user_calls_total",
                      {{"user", user.number}, {"direction", "outgoing"}, {"answered", "true"}}) ==
        10);
}

TEST_CASE("enterprise call logs teach the exporter users it was not configured with",
          "[collectors][discovery]") {
  vpbx::sim::Simulator sim(sim_options(3));
  sim.start();
  Stack stack(sim, "enterprises: [291908.bus.ent]\ncall_logs: { backfill: 1h }\n");
  const auto users = sim.truth();
  stack.config.users.resize(1);  // only the first user is configured
  stack.store.configure(stack.config);
  sim.inject_call({users[2].user_id, "INCOMING", 42});
  vpbx::collectors::CallLogsCollector collector(stack.config, every(stack.config.poll.call_logs),
                                                pacer(1), *stack.client, stack.store, stack.metrics,
                                                stack.sweep_metrics);
  CHECK(collector.poll("enterprise:291908.bus.ent").empty());
  CHECK(stack.store.knows(users[2].user_id));
  const auto text = stack.exposition();
  CHECK(value_or_zero(text, "vpbx_users", {{"source", "discovered"}}) == 1);
  CHECK(value_or_zero(text, "vpbx_user_calls_total",
                      {{"user", std::to_string(users[2].user_id)},
                       {"direction", "incoming"},
                       {"answered", "true"}}) == 1);
}

TEST_CASE("the wall clock set back or forward an hour neither loses nor double-counts a call",
          "[collectors][calls][clock]") {
  vpbx::sim::Simulator sim(sim_options(1));
  sim.start();
  Stack stack(sim, "enterprises: [291908.bus.ent]\ncall_logs: { backfill: 1h }\n");
  std::atomic<std::int64_t> clock_offset_ms{0};
  const auto wall_clock = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           clock_offset_ms.load();
  };
  vpbx::collectors::CallLogsCollector collector(stack.config, every(1h), pacer(1), *stack.client,
                                                stack.store, stack.metrics, stack.sweep_metrics,
                                                wall_clock);
  const auto user = sim.truth().front();
  const std::string scope = "enterprise:291908.bus.ent";
  const auto counted = [&] {
    return value_or_zero(stack.exposition(), "vpbx_user_calls_total",
                         {{"user", user.number}, {"direction", "outgoing"}, {"answered", "true"}});
  };
  sim.inject_call({user.user_id, "OUTGOING", 5});
  REQUIRE(collector.poll(scope).empty());
  REQUIRE(counted() == 1);

  // Set back an hour: the window still reaches the calls after the cursor.
  clock_offset_ms = -std::chrono::milliseconds(1h).count();
  sim.inject_call({user.user_id, "OUTGOING", 5});
  REQUIRE(collector.poll(scope).empty());
  CHECK(counted() == 2);

  // Forward an hour, then right again: every call once, the earlier ones not again.
  clock_offset_ms = std::chrono::milliseconds(1h).count();
  sim.inject_call({user.user_id, "OUTGOING", 5});
  REQUIRE(collector.poll(scope).empty());
  CHECK(counted() == 3);
  clock_offset_ms = 0;
  REQUIRE(collector.poll(scope).empty());
  CHECK(counted() == 3);
  sim.inject_call({user.user_id, "OUTGOING", 5});
  REQUIRE(collector.poll(scope).empty());
  CHECK(counted() == 4);
  CHECK(value_or_zero(stack.exposition(), "vpbx_call_logs_received_total",
                      {{"source", "poll"}, {"outcome", "counted"}}) == 4);
}

TEST_CASE("presence and feature changes are visible after one interval",
          "[collectors][presence][features]") {
  vpbx::sim::Simulator sim(sim_options(2));
  sim.start();
  Stack stack(sim, "poll: { presence: 300ms, features: 300ms }\n");
  vpbx::collectors::PresenceCollector presence(every(300ms), pacer(2), *stack.client, stack.store,
                                               stack.metrics, stack.sweep_metrics);
  vpbx::collectors::FeaturesCollector features(every(300ms), pacer(2), *stack.client, stack.store,
                                               stack.metrics, stack.sweep_metrics);
  presence.start();
  features.start();
  const auto user = sim.truth().front();
  // The seed's 19 features, each with a series.
  REQUIRE(eventually([&] {
    const auto text = stack.exposition();
    return sample_value(text, "vpbx_user_presence", {{"user", user.number}, {"state", "idle"}}) ==
               1 &&
           find_samples(text, "vpbx_user_feature_active", {{"user", user.number}}).size() == 19;
  }));

  sim.set_presence(user.user_id, "BUSY");
  sim.set_feature_status(user.user_id, "CENTRAL_DND", true);
  REQUIRE(eventually(
      [&] {
        const auto text = stack.exposition();
        return sample_value(text, "vpbx_user_presence",
                            {{"user", user.number}, {"state", "busy"}}) == 1 &&
               sample_value(text, "vpbx_user_feature_active",
                            {{"user", user.number}, {"feature", "CENTRAL_DND"}}) == 1;
      },
      5s));
  const auto text = stack.exposition();
  // The stateset stays complete: five states, exactly one set.
  const auto states = find_samples(text, "vpbx_user_presence", {{"user", user.number}});
  CHECK(states.size() == 5);
  double set = 0;
  for (const auto& s : states) set += s.value;
  CHECK(set == 1);
  CHECK(value_or_zero(text, "vpbx_user_feature_changes_total",
                      {{"user", user.number}, {"feature", "CENTRAL_DND"}}) == 1);
  presence.stop();
  features.stop();
}

namespace {

// The process's threads, as the kernel counts them.
int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

}  // namespace

// An account's collectors share one pacing thread and max_concurrent_requests workers; with one,
// the pacing thread polls itself. A thread per collector (and per worker) made a fleet of accounts
// hold hundreds of threads that only ever waited. Every collector still polls every user.
TEST_CASE("an account's collectors share one pacing thread and its workers, none with one",
          "[collectors][limits]") {
  vpbx::sim::Simulator sim(sim_options(20));
  sim.start();
  for (const int workers : {1, 3}) {
    Stack stack(sim, "  max_concurrent_requests: " + std::to_string(workers) +
                         "\npoll: { server: 1s, presence: 1s, features: 1s, call_logs: 1s }\n");
    const int before = thread_count();
    {
      const auto shared = pacer(workers);
      CHECK(thread_count() - before == (workers == 1 ? 1 : 1 + workers));
      vpbx::collectors::SystemCollector system;
      std::atomic<int> server_polls{0};
      vpbx::collectors::Poller server_poller(
          "system", 1s, [&] { return ++server_polls, system.poll(*stack.client); }, stack.metrics,
          shared);
      vpbx::collectors::PresenceCollector presence(every(1s), shared, *stack.client, stack.store,
                                                   stack.metrics, stack.sweep_metrics);
      vpbx::collectors::FeaturesCollector features(every(1s), shared, *stack.client, stack.store,
                                                   stack.metrics, stack.sweep_metrics);
      vpbx::collectors::CallLogsCollector call_logs(stack.config, every(1s), shared, *stack.client,
                                                    stack.store, stack.metrics,
                                                    stack.sweep_metrics);
      server_poller.start();
      presence.start();
      features.start();
      call_logs.start();
      CHECK(thread_count() - before == (workers == 1 ? 1 : 1 + workers));
      // Every user's presence and features polled, the calls swept, the server polled twice.
      REQUIRE(eventually([&] {
        const auto text = stack.exposition();
        const auto unknown = find_samples(text, "vpbx_user_presence", {{"state", "unknown"}});
        return unknown.size() == 20 &&
               std::all_of(unknown.begin(), unknown.end(),
                           [](const auto& s) { return s.value == 0; }) &&
               find_samples(text, "vpbx_user_feature_active", {}).size() == 20 * 19 &&
               value_or_zero(stack.self_metrics(), "vpbx_collector_last_success_timestamp_seconds",
                             {{"collector", "call_logs"}}) > 0 &&
               server_polls >= 2;
      }));
      stack.client->cancel();
      server_poller.stop();
      presence.stop();
      features.stop();
      call_logs.stop();
    }
    CHECK(thread_count() == before);
  }
}

TEST_CASE("1,000 users are polled with the request rate never above the limit",
          "[collectors][limits]") {
  vpbx::sim::Simulator sim(sim_options(1000));
  sim.start();
  Stack stack(sim, "  max_requests_per_second: 250\n  max_concurrent_requests: 4\n");
  vpbx::collectors::PresenceCollector presence(every(4s), pacer(4), *stack.client, stack.store,
                                               stack.metrics, stack.sweep_metrics);
  sim.reset_stats();
  presence.start();
  REQUIRE(eventually(
      [&] { return sim.stats().requests_by_route["GET v1/users/{userId}/presence"] >= 1000; },
      60s));
  presence.stop();
  const auto stats = sim.stats();
  // The server's 1 s window counts arrivals, which a loaded machine delays by up to ~100 ms: it
  // may hold that much more than the 250 the limiter started in any second.
  CHECK(stats.max_requests_per_second <= 250 + 25);
  CHECK(stats.max_concurrent_requests <= 4);
  CHECK(stats.connections_accepted <= 4);
  // Every user was polled once: none left in "unknown".
  const auto text = stack.exposition();
  CHECK(find_samples(text, "vpbx_user_presence", {{"state", "unknown"}}).size() == 1000);
  double unknown = 0;
  for (const auto& s : find_samples(text, "vpbx_user_presence", {{"state", "unknown"}}))
    unknown += s.value;
  CHECK(unknown == 0);
}

TEST_CASE("a sweep that cannot fit its interval is counted as an overrun", "[collectors][limits]") {
  vpbx::sim::Simulator sim(sim_options(10));
  sim.start();
  // 10 users at 10 requests/s cannot be polled every 300 ms.
  Stack stack(sim, "  max_requests_per_second: 10\n");
  vpbx::collectors::PresenceCollector presence(every(300ms), pacer(2), *stack.client, stack.store,
                                               stack.metrics, stack.sweep_metrics);
  presence.start();
  REQUIRE(eventually([&] {
    return value_or_zero(stack.self_metrics(), "vpbx_collector_sweep_overrun_total",
                         {{"collector", "presence"}}) >= 1;
  }));
  presence.stop();
}

TEST_CASE("polling speeds up to poll.fallback while push is unhealthy, and slows down again",
          "[collectors][push_health]") {
  vpbx::sim::Simulator sim(sim_options(2));
  sim.start();
  Stack stack(sim, "");
  // PRESENCE is managed, its subscription active: healthy, so the normal (long) interval.
  auto health = std::make_shared<vpbx::subscriptions::PushHealth>(
      std::vector<std::string>{"PRESENCE"}, 1500ms);
  health->set_active("PRESENCE", true);
  const vpbx::collectors::PollPacing pacing{
      [health] { return health->poll_interval("PRESENCE", 1h, 100ms); },
      [health] { health->poll_found_missed("PRESENCE"); }};
  vpbx::collectors::PresenceCollector presence(pacing, pacer(1), *stack.client, stack.store,
                                               stack.metrics, stack.sweep_metrics);
  const auto polls = [&] {
    return sim.stats().requests_by_route["GET v1/users/{userId}/presence"];
  };
  const auto interval = [&] {
    return sample_value(stack.self_metrics(), "vpbx_collector_interval_seconds",
                        {{"collector", "presence"}});
  };
  presence.start();
  // The first user at once, the second half an hour later: the sweep is spread over the hour.
  REQUIRE(eventually([&] { return polls() >= 1; }));
  std::this_thread::sleep_for(500ms);
  CHECK(polls() == 1);
  CHECK(interval() == 3600);

  // A poll finds a change push never delivered: unhealthy, polling at the fallback pace.
  sim.set_presence(sim.truth().front().user_id, "BUSY");
  health->poll_found_missed("PRESENCE");
  CHECK_FALSE(health->healthy("PRESENCE"));
  REQUIRE(eventually([&] { return polls() >= 10; }, 5s));
  CHECK(interval() == Approx(0.1));

  // No miss for a whole window: healthy again, back to the long interval.
  REQUIRE(eventually([&] { return health->healthy("PRESENCE"); }, 10s));
  std::this_thread::sleep_for(300ms);  // a sweep in progress finishes
  const auto settled = polls();
  std::this_thread::sleep_for(700ms);
  CHECK(polls() <= settled + 2);
  CHECK(interval() == 3600);
  presence.stop();
}

TEST_CASE("a refused password backs off every collector of the account, a fix resumes polling",
          "[collectors][auth]") {
  // The case: 4 users, every collector on a 2 s interval, a wrong password.
  auto options = sim_options(4);
  auto sim = std::make_unique<vpbx::sim::Simulator>(options);
  sim->start();
  const int port = sim->port();
  Stack stack(*sim, "poll: { server: 2s, presence: 2s, features: 2s, call_logs: 2s }\n");
  stack.config.api.password = "not-the-password";
  // Compressed: steps of 3, 6, 12 s (each jittered down to half) instead of 10 s .. 5 min.
  stack.config.api.auth_failure_backoff = 3s;
  stack.config.api.auth_failure_backoff_max = 12s;
  stack.rebuild_client();
  vpbx::collectors::SystemCollector system;
  const auto shared = pacer(4);
  vpbx::collectors::Poller server_poller(
      "system", 2s, [&] { return system.poll(*stack.client); }, stack.metrics, shared);
  vpbx::collectors::PresenceCollector presence(every(2s), shared, *stack.client, stack.store,
                                               stack.metrics, stack.sweep_metrics);
  vpbx::collectors::FeaturesCollector features(every(2s), shared, *stack.client, stack.store,
                                               stack.metrics, stack.sweep_metrics);
  vpbx::collectors::CallLogsCollector call_logs(stack.config, every(2s), shared, *stack.client,
                                                stack.store, stack.metrics, stack.sweep_metrics);
  const auto errors = [&](const char* collector) {
    return value_or_zero(stack.self_metrics(), "vpbx_collector_errors_total",
                         {{"collector", collector}});
  };
  const auto system_metrics = [&] {
    return prometheus::TextSerializer().Serialize(system.Collect());
  };
  vpbx::test::StderrCapture capture;
  sim->reset_stats();
  server_poller.start();
  presence.start();
  features.start();
  call_logs.start();

  // Every collector tries three rounds (at 0, 2 and 4 s): 3 server calls and 3 x 4 per sweep.
  REQUIRE(eventually(
      [&] {
        return errors("system") >= 3 && errors("presence") >= 12 && errors("features") >= 12 &&
               errors("call_logs") >= 12;
      },
      30s));
  const auto refused = sim->stats().api_requests;
  UNSCOPED_INFO("requests the simulator received while 39 polls failed: " << refused);
  // One request at first contact, then one probe per backoff step (1.5-3 s later, then 3-6 s,
  // then 6-12 s: the third probe cannot come before 10.5 s): not one per poll (39 without it).
  CHECK(refused >= 1);
  CHECK(refused <= 3);
  CHECK(sim->stats().requests_by_route["GET v1/users/{userId}/presence"] <= 3);
  // Shown: down, for the reason "auth", and the account's backoff.
  const auto shown = system_metrics();
  CHECK(sample_value(shown, "vpbx_up") == 0);
  CHECK(sample_value(shown, "vpbx_up_reason", {{"reason", "auth"}}) == 1);
  CHECK(sample_value(shown, "vpbx_up_reason", {{"reason", "none"}}) == 0);
  CHECK(find_samples(shown, "vpbx_up_reason").size() == vpbx::collectors::kUpReasons.size());
  CHECK(sample_value(stack.self_metrics(), "vpbx_api_auth_failed") == 1);
  const double step = sample_value(stack.self_metrics(), "vpbx_api_auth_backoff_seconds").value();
  CHECK(step >= 1);
  CHECK(step <= 12);

  // The platform accepts the password now (the same API, restarted with it).
  sim->stop();
  sim.reset();
  options.listen_address = "127.0.0.1:" + std::to_string(port);
  options.password = "not-the-password";
  sim = std::make_unique<vpbx::sim::Simulator>(options);
  sim->start();
  // Within one backoff step (at most 12 s) a probe succeeds, and every collector polls again.
  REQUIRE(eventually(
      [&] {
        return system.status().up &&
               sim->stats().requests_by_route["GET v1/users/{userId}/presence"] >= 4 &&
               sim->stats().requests_by_route["GET v1/users/{userId}/feat"] >= 4;
      },
      30s));
  const auto recovered = system_metrics();
  CHECK(sample_value(recovered, "vpbx_up") == 1);
  CHECK(sample_value(recovered, "vpbx_up_reason", {{"reason", "none"}}) == 1);
  CHECK(sample_value(recovered, "vpbx_up_reason", {{"reason", "auth"}}) == 0);
  CHECK(sample_value(stack.self_metrics(), "vpbx_api_auth_failed") == 0);
  CHECK(sample_value(stack.self_metrics(), "vpbx_api_auth_backoff_seconds") == 0);

  server_poller.stop();
  presence.stop();
  features.stop();
  call_logs.stop();
  // Logged once when refused, once when accepted again; the held-back polls are not logged.
  const std::string log = capture.finish();
  CHECK(vpbx::test::count_occurrences(log, "VPBX API refused the credentials") == 1);
  CHECK(vpbx::test::count_occurrences(log, "VPBX API accepts the credentials again") == 1);
  // Once for the refusal; a second time only if a probe met the restart's gap (unreachable).
  CHECK(vpbx::test::count_occurrences(log, "platform API down") >= 1);
  CHECK(vpbx::test::count_occurrences(log, "platform API down") <= 2);
  CHECK(log.find("not-the-password") == std::string::npos);
  CHECK(log.find(options.application_id) == std::string::npos);
}
