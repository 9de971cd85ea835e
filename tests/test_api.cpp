// The API client: its helpers and limiter on their own, then against a scripted HTTP server
// (exact answers: 429 + Retry-After, 404, bodies) and against the in-process simulator (auth,
// faults, rate and connection counting as the server sees them).
#include <civetweb.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "exporter/api/client.h"
#include "exporter/api/detail.h"
#include "exporter/api/rate_limiter.h"
#include "simulator/simulator.h"
#include "tests/support/log_capture.h"

using namespace vpbx::api;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// ------------------------------------------------------------------ a scripted HTTP server
struct Recorded {
  std::string method;
  std::string uri;  // decoded by civetweb
  std::string query;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  int remote_port = 0;
};

struct Scripted {
  int status = 200;
  std::string body = "{}";
  std::vector<std::string> headers;
  std::chrono::milliseconds delay{0};
};

class ScriptedServer {
 public:
  ScriptedServer() {
    const char* options[] = {"listening_ports",   "127.0.0.1:0", "num_threads", "8",
                             "enable_keep_alive", "yes",         nullptr};
    mg_callbacks callbacks{};
    ctx_ = mg_start(&callbacks, this, options);
    REQUIRE(ctx_ != nullptr);
    mg_set_request_handler(ctx_, "/", &ScriptedServer::handle, this);
    mg_server_port ports[4];
    REQUIRE(mg_get_server_ports(ctx_, 4, ports) >= 1);
    port_ = ports[0].port;
  }
  ~ScriptedServer() { mg_stop(ctx_); }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/openapi/"; }
  void push(Scripted s) {
    std::lock_guard lock(mutex_);
    script_.push_back(std::move(s));
  }
  std::vector<Recorded> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  static int handle(mg_connection* conn, void* self_ptr) {
    auto* self = static_cast<ScriptedServer*>(self_ptr);
    const mg_request_info* info = mg_get_request_info(conn);
    Recorded r;
    r.method = info->request_method ? info->request_method : "";
    r.uri = info->local_uri ? info->local_uri : "";
    r.query = info->query_string ? info->query_string : "";
    r.remote_port = info->remote_port;
    for (int i = 0; i < info->num_headers; ++i) {
      std::string name = info->http_headers[i].name;
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = info->http_headers[i].value;
    }
    char buf[4096];
    for (int n; (n = mg_read(conn, buf, sizeof buf)) > 0;)
      r.body.append(buf, static_cast<size_t>(n));
    Scripted answer;
    {
      std::lock_guard lock(self->mutex_);
      self->requests_.push_back(r);
      if (!self->script_.empty()) {
        answer = self->script_.front();
        self->script_.pop_front();
      }
    }
    if (answer.delay.count() > 0) std::this_thread::sleep_for(answer.delay);
    std::string head = "HTTP/1.1 " + std::to_string(answer.status) +
                       " Scripted\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(answer.body.size()) + "\r\n";
    for (const auto& h : answer.headers) head += h + "\r\n";
    head += "\r\n";
    mg_write(conn, head.data(), head.size());
    mg_write(conn, answer.body.data(), answer.body.size());
    return answer.status;
  }

  mg_context* ctx_ = nullptr;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::deque<Scripted> script_;
  std::vector<Recorded> requests_;
};

vpbx::config::ApiConfig config_for(const std::string& url) {
  vpbx::config::ApiConfig c;
  c.url = url;
  c.username = "openapi@291908.bus.ent";
  c.password = "simulator-password";
  c.application_id = "71c177e5-7417-4265-b97f-4595016dceb8";
  c.timeout = 5s;
  c.connect_timeout = 2s;
  c.max_requests_per_second = 200;
  c.max_concurrent_requests = 4;
  c.max_retries = 3;
  return c;
}

// An own limiter per test, so that tests do not share a budget.
std::shared_ptr<RateLimiter> limiter_for(const vpbx::config::ApiConfig& c) {
  return std::make_shared<RateLimiter>(c.max_requests_per_second, c.max_concurrent_requests);
}

// What a server-side 1 s window may count beyond a limiter's rate at 20/s: arrivals that a
// loaded machine delayed by up to 100 ms.
constexpr double kArrivalJitterRequests = 2;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Value of a counter / histogram count in a registry, 0 when absent.
double sample(prometheus::Registry& registry, const std::string& family,
              const std::map<std::string, std::string>& labels) {
  double total = 0;
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : m.label) have[l.name] = l.value;
      bool match = true;
      for (const auto& [k, v] : labels) match = match && have.count(k) && have[k] == v;
      if (!match) continue;
      total += f.type == prometheus::MetricType::Histogram
                   ? static_cast<double>(m.histogram.sample_count)
                   : m.counter.value;
    }
  }
  return total;
}

std::set<std::string> label_values(prometheus::Registry& registry, const std::string& family,
                                   const std::string& label) {
  std::set<std::string> out;
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == label) out.insert(l.value);
      }
    }
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------------ helpers
TEST_CASE("url encoding of path parameters and query values", "[api]") {
  CHECK(detail::url_encode("2024-09-27T15:26:45.000+01:00") ==
        "2024-09-27T15%3A26%3A45.000%2B01%3A00");
  CHECK(detail::url_encode("+41225662194@m.ipvoip.ch") == "%2B41225662194%40m.ipvoip.ch");
  CHECK(detail::url_encode("a b/c?d&e=f~_-.") == "a%20b%2Fc%3Fd%26e%3Df~_-.");
  CHECK(detail::expand_path("v1/users/{user_id}/presence", {{"user_id", "176125"}}) ==
        "v1/users/176125/presence");
  CHECK(detail::expand_path("v1/enterprises/{enterprise}/calllogs", {{"enterprise", "a/b"}}) ==
        "v1/enterprises/a%2Fb/calllogs");
  CHECK(detail::expand_path("x/{unknown}/{user_id", {{"user_id", "1"}}) == "x/{unknown}/{user_id");
  CHECK(detail::join_url("https://h/openapi/", "/v1/x") == "https://h/openapi/v1/x");
  CHECK(detail::join_url("https://h/openapi", "v1/x") == "https://h/openapi/v1/x");
}

TEST_CASE("Retry-After in seconds and as an HTTP-date", "[api]") {
  const auto now =
      std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(detail::parse_retry_after("1", now) == 1000ms);
  CHECK(detail::parse_retry_after(" 120 ", now) == 120s);
  CHECK(detail::parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now) == 10s);
  CHECK(detail::parse_retry_after("Sunday, 06-Nov-94 08:49:40 GMT", now) == 3s);
  CHECK(detail::parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == 0ms);  // in the past
  CHECK_FALSE(detail::parse_retry_after("", now));
  CHECK_FALSE(detail::parse_retry_after("soon", now));
  CHECK(detail::parse_retry_after("99999999999", now) > 24h);  // absurd, left for the cap
}

TEST_CASE("backoff doubles from 200 ms, is capped and jittered", "[api]") {
  CHECK(detail::backoff_delay(0, 200ms, 10s, 1.0) == 200ms);
  CHECK(detail::backoff_delay(0, 200ms, 10s, 0.0) == 100ms);
  CHECK(detail::backoff_delay(1, 200ms, 10s, 1.0) == 400ms);
  CHECK(detail::backoff_delay(3, 200ms, 10s, 1.0) == 1600ms);
  CHECK(detail::backoff_delay(10, 200ms, 10s, 1.0) == 10s);
  CHECK(detail::backoff_delay(100, 200ms, 10s, 0.5) == 7500ms);
}

TEST_CASE("the auth gate: one probe per step, doubling to the cap, a success clears it",
          "[api][auth]") {
  using Gate = detail::AuthGate;
  Gate gate(10s, 5min);
  const auto t0 = Gate::Clock::now();
  // Before any answer: one request goes, the others wait for what it learns.
  CHECK(gate.admit(t0) == Gate::Admit::probe);
  CHECK(gate.admit(t0) == Gate::Admit::wait);
  CHECK(gate.report(Gate::Answer::refused, true, t0, 1.0) == Gate::Change::refused);
  CHECK(gate.state() == Gate::State::refused);
  CHECK(gate.step() == 10s);
  CHECK(gate.retry_in(t0) == 10s);
  // Nothing goes until the step is over; then one probe, and only one.
  CHECK(gate.admit(t0) == Gate::Admit::refuse);
  CHECK(gate.admit(t0 + 9999ms) == Gate::Admit::refuse);
  auto now = t0 + 10s;
  CHECK(gate.admit(now) == Gate::Admit::probe);
  CHECK(gate.admit(now) == Gate::Admit::refuse);
  // A request sent before the backoff began answers 401 late: the step stays.
  CHECK(gate.report(Gate::Answer::refused, false, now, 1.0) == Gate::Change::none);
  CHECK(gate.step() == 10s);
  // Each refused probe doubles the step (jittered down to half), up to the cap.
  std::vector<std::chrono::milliseconds> steps;
  for (int i = 0; i < 8; ++i) {
    CHECK(gate.report(Gate::Answer::refused, true, now, 1.0) == Gate::Change::refused_again);
    steps.push_back(gate.step());
    now += gate.step();
    REQUIRE(gate.admit(now) == Gate::Admit::probe);
  }
  CHECK(steps ==
        std::vector<std::chrono::milliseconds>{20s, 40s, 80s, 160s, 5min, 5min, 5min, 5min});
  CHECK(gate.failures() == 9);
  // A probe that learns nothing (5xx, timeout): still refused, another step of the same length.
  CHECK(gate.report(Gate::Answer::unknown, true, now, 0.0) == Gate::Change::none);
  CHECK(gate.state() == Gate::State::refused);
  CHECK(gate.admit(now + 5min - 1ms) == Gate::Admit::refuse);
  now += 5min;
  // A probe cancelled on the way gives its turn back.
  CHECK(gate.admit(now) == Gate::Admit::probe);
  gate.abandon_probe();
  CHECK(gate.admit(now) == Gate::Admit::probe);
  // Accepted: cleared at once, everything goes.
  CHECK(gate.report(Gate::Answer::accepted, true, now, 0.0) == Gate::Change::recovered);
  CHECK(gate.state() == Gate::State::accepted);
  CHECK(gate.step() == 0ms);
  CHECK(gate.retry_in(now) == 0ms);
  CHECK(gate.admit(now) == Gate::Admit::send);
  CHECK(gate.admit(now) == Gate::Admit::send);
  // Refused again later: the backoff starts over from the first step.
  CHECK(gate.report(Gate::Answer::refused, false, now, 0.0) == Gate::Change::refused);
  CHECK(gate.step() == 5s);  // 10 s with the lowest jitter
}

TEST_CASE("the auth gate: no answer yet is not a refusal, a low cap bounds the first step",
          "[api][auth]") {
  using Gate = detail::AuthGate;
  const auto now = Gate::Clock::now();
  Gate gate(10s, 5min);
  CHECK(gate.admit(now) == Gate::Admit::probe);
  // The platform is down at start: the waiting requests go, nothing is held back.
  CHECK(gate.report(Gate::Answer::unknown, true, now, 1.0) == Gate::Change::none);
  CHECK(gate.admit(now) == Gate::Admit::send);
  CHECK(gate.admit(now) == Gate::Admit::send);

  Gate low(10s, 2s);
  CHECK(low.admit(now) == Gate::Admit::probe);
  CHECK(low.report(Gate::Answer::refused, true, now, 1.0) == Gate::Change::refused);
  CHECK(low.step() == 2s);

  CHECK(Gate::classify(401) == Gate::Answer::refused);
  CHECK(Gate::classify(403) == Gate::Answer::refused);
  CHECK(Gate::classify(200) == Gate::Answer::accepted);
  CHECK(Gate::classify(204) == Gate::Answer::accepted);
  CHECK(Gate::classify(404) == Gate::Answer::accepted);  // the application answered
  CHECK(Gate::classify(400) == Gate::Answer::accepted);
  CHECK(Gate::classify(408) == Gate::Answer::unknown);
  CHECK(Gate::classify(429) == Gate::Answer::unknown);
  CHECK(Gate::classify(500) == Gate::Answer::unknown);
  CHECK(Gate::classify(503) == Gate::Answer::unknown);
  CHECK(Gate::classify(0) == Gate::Answer::unknown);
}

TEST_CASE("secrets are redacted from messages", "[api]") {
  CHECK(detail::redact("a pw123 b pw123", {"pw123", ""}) == "a <redacted> b <redacted>");
  CHECK(detail::redact("nothing", {"", "x-y"}) == "nothing");
}

// ------------------------------------------------------------------ the limiter
TEST_CASE("the limiter never starts more than the rate in any 1-second window", "[api][limiter]") {
  RateLimiter limiter(10, 3);
  std::mutex mutex;
  std::vector<Clock::time_point> starts;
  std::vector<std::thread> threads;  // Catch's assertions are not thread-safe: none in threads
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 6; ++i) {
        auto permit = limiter.acquire();
        if (!permit) continue;
        std::lock_guard lock(mutex);
        starts.push_back(Clock::now());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::sort(starts.begin(), starts.end());
  REQUIRE(starts.size() == 24);
  for (std::size_t i = 10; i < starts.size(); ++i) {
    CHECK(starts[i] - starts[i - 10] >= 1s);  // the 11th start is more than 1 s after the 1st
  }
  for (std::size_t i = 1; i < starts.size(); ++i) {
    // burst 1: spaced 1/rate (100 ms) apart; loosely, as threads wake up with some delay
    CHECK(starts[i] - starts[i - 1] >= 50ms);
  }
}

TEST_CASE("the limiter caps concurrency", "[api][limiter]") {
  RateLimiter limiter(0, 2);  // no rate limit
  std::atomic<int> in_flight{0};
  std::atomic<int> peak{0};
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto permit = limiter.acquire();
        if (!permit) continue;
        ++granted;
        const int now = ++in_flight;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(1ms);
        --in_flight;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(granted.load() == 120);
  CHECK(peak.load() <= 2);
  CHECK(peak.load() >= 1);
  CHECK(limiter.in_flight() == 0);
}

TEST_CASE("cancelling wakes the limiter's waiters", "[api][limiter]") {
  RateLimiter limiter(0, 1);
  auto held = limiter.acquire();
  REQUIRE(held);

  std::atomic<bool> flag{false};
  auto own =
      std::async(std::launch::async, [&] { return static_cast<bool>(limiter.acquire(&flag)); });
  std::this_thread::sleep_for(50ms);
  flag = true;
  limiter.wake();
  CHECK_FALSE(own.get());  // returned while `held` still holds the only slot

  auto other = std::async(std::launch::async, [&] { return static_cast<bool>(limiter.acquire()); });
  std::this_thread::sleep_for(50ms);
  limiter.cancel();
  CHECK_FALSE(other.get());
  CHECK_FALSE(limiter.acquire());  // and later ones
  held.release();
  CHECK(limiter.in_flight() == 0);
}

TEST_CASE("a rate wait is cancellable too", "[api][limiter]") {
  RateLimiter limiter(0.1, 4);  // one start per 10 s
  REQUIRE(limiter.acquire());
  std::atomic<bool> flag{false};
  auto waiting =
      std::async(std::launch::async, [&] { return static_cast<bool>(limiter.acquire(&flag)); });
  std::this_thread::sleep_for(50ms);
  flag = true;
  limiter.wake();
  CHECK_FALSE(waiting.get());
  CHECK(limiter.in_flight() == 0);
}

// ------------------------------------------------------------------ scripted server
TEST_CASE("every request carries Basic auth, the application id and JSON headers", "[api]") {
  ScriptedServer server;
  server.push({200, R"({"buildVersion" : "7.7.2.12"})", {}, 0ms});
  auto config = config_for(server.base_url());
  Client client(config, nullptr, limiter_for(config));
  auto info = client.get_server_info();
  REQUIRE(info.ok());
  CHECK(info.value->build_version == "7.7.2.12");
  CHECK(info.http_status == 200);

  auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  const auto& r = requests.front();
  CHECK(r.method == "GET");
  CHECK(r.uri == "/openapi/v1/system/server");
  // base64("openapi@291908.bus.ent:simulator-password")
  CHECK(r.headers.at("authorization") ==
        "Basic b3BlbmFwaUAyOTE5MDguYnVzLmVudDpzaW11bGF0b3ItcGFzc3dvcmQ=");
  CHECK(r.headers.at("x-c5-application") == "71c177e5-7417-4265-b97f-4595016dceb8");
  CHECK(r.headers.at("content-type") == "application/json");
  CHECK(r.headers.at("accept") == "application/json");
}

TEST_CASE("routes, overridable paths and encoded query values", "[api]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  config.paths.user_call_logs = "/v2/u/{user_id}/cdr";  // a leading '/' is tolerated
  Client client(config, nullptr, limiter_for(config));

  CallLogQuery q;
  q.from_epoch_ms = *parse_iso8601_ms("2024-09-27T15:26:45Z");
  q.to_epoch_ms = *parse_iso8601_ms("2024-09-27T16:00:00.5Z");
  q.offset = 200;
  q.limit = 100;
  server.push({200, R"({"callLogs":[{"id":"a","duration":3}]})", {}, 0ms});
  auto logs = client.get_user_call_logs(168382, q);
  REQUIRE(logs.ok());
  CHECK(logs.value->size() == 1);
  server.push({200, R"({"callLogs":[]})", {}, 0ms});
  REQUIRE(client.get_enterprise_call_logs("291908.bus.ent", q).ok());
  server.push({200, R"({"presence":{"userId":1,"status":"IDLE"}})", {}, 0ms});
  CHECK(client.get_presence(176125).value->status == "IDLE");
  server.push({200, R"({"features":[]})", {}, 0ms});
  REQUIRE(client.get_user_features(177059).ok());
  server.push({200, R"({"subscriptions":[]})", {}, 0ms});
  REQUIRE(client.list_subscriptions().ok());

  auto r = server.requests();
  REQUIRE(r.size() == 5);
  CHECK(r[0].uri == "/openapi/v2/u/168382/cdr");
  CHECK(r[0].query ==
        "from=2024-09-27T15%3A26%3A45.000Z&to=2024-09-27T16%3A00%3A00.500Z&offset=200&limit=100");
  CHECK(r[1].uri == "/openapi/v1/enterprises/291908.bus.ent/calllogs");
  CHECK(r[2].uri == "/openapi/v1/users/176125/presence");
  CHECK(r[3].uri == "/openapi/v1/users/177059/feat");
  CHECK(r[4].uri == "/openapi/v1/subscriptions");
}

TEST_CASE("PUT sends the whole feature, POST sends the seed's shape", "[api]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  Client client(config, nullptr, limiter_for(config));
  auto dnd = parse_feature(
      R"({"feature":{"id":2898089,"featName":"CENTRAL_DND","userId":177059,"status":"INACTIVE",)"
      R"("level":"USER","centralDndData":{"condition":"ALWAYS","mode":"USER"}}})");
  REQUIRE(dnd);
  dnd->status = "ACTIVE";
  server.push({200, "{\n\"feature\" : " + to_json(*dnd) + "\n}", {}, 0ms});
  auto put = client.put_feature(*dnd);
  REQUIRE(put.ok());
  CHECK(put.value->active());

  SubscriptionRequest req;
  req.expires = "2024-09-29T00:00:00.000Z";
  req.notification_url = "https://exporter.example.com/webhook/t";
  req.resource_type = "CALL_LOG";
  req.user_ids = {168382};
  server.push({200,
               R"({"subscription":{"id":"dfaa8ef2","resourceType":"CALL_LOG","userIds":[168382]}})",
               {},
               0ms});
  auto sub = client.create_subscription(req);
  REQUIRE(sub.ok());
  CHECK(sub.value->id == "dfaa8ef2");

  auto r = server.requests();
  REQUIRE(r.size() == 2);
  CHECK(r[0].method == "PUT");
  CHECK(r[0].uri == "/openapi/v1/feat/2898089");
  CHECK(r[0].body == to_json(*dnd));
  CHECK(r[0].body.find("\"status\":\"ACTIVE\"") != std::string::npos);
  CHECK(r[0].body.find("\"mode\":\"USER\"") != std::string::npos);
  CHECK(r[0].headers.at("content-type") == "application/json");
  CHECK(r[1].method == "POST");
  CHECK(r[1].body == to_json(req));
}

TEST_CASE("429 with Retry-After is honoured, in seconds and as a date", "[api]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  Client client(config, nullptr, limiter_for(config));

  server.push({429, "{}", {"Retry-After: 1"}, 0ms});
  server.push({200, "{}", {}, 0ms});
  auto t0 = Clock::now();
  REQUIRE(client.get_server_info().ok());
  CHECK(seconds_since(t0) >= 0.95);
  CHECK(server.requests().size() == 2);

  // An HTTP-date two seconds ahead (whole seconds: at least one second away).
  char date[64];
  const std::time_t when = std::time(nullptr) + 2;
  std::tm tm{};
  gmtime_r(&when, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  server.push({429, "{}", {std::string("Retry-After: ") + date}, 0ms});
  server.push({200, "{}", {}, 0ms});
  t0 = Clock::now();
  REQUIRE(client.get_server_info().ok());
  CHECK(seconds_since(t0) >= 0.95);
  CHECK(server.requests().size() == 4);

  // A Retry-After beyond what we wait for fails at once: the next poll tries again.
  server.push({429, "{}", {"Retry-After: 3600"}, 0ms});
  auto refused = client.get_server_info();
  CHECK(refused.error_kind == ErrorKind::http);
  CHECK(refused.http_status == 429);
  CHECK(server.requests().size() == 5);
}

TEST_CASE("which methods are retried on what", "[api]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  config.max_retries = 2;
  Client client(config, nullptr, limiter_for(config));
  SubscriptionRequest req;
  req.resource_type = "FEATURE";

  // GET: 5xx retried up to max_retries, then the last answer is the result.
  for (int i = 0; i < 3; ++i) server.push({502, "bad gateway", {}, 0ms});
  auto failed = client.get_server_info();
  CHECK(failed.error_kind == ErrorKind::http);
  CHECK(failed.http_status == 502);
  CHECK(failed.error == "HTTP 502");
  CHECK(server.requests().size() == 3);

  // POST: a 500 may have created the subscription: not retried.
  server.push({500, "{}", {}, 0ms});
  CHECK(client.create_subscription(req).error_kind == ErrorKind::http);
  CHECK(server.requests().size() == 4);
  // ... but a 429 and a 503 with Retry-After were refused before any work: retried.
  server.push({429, "{}", {}, 0ms});
  server.push({503, "{}", {"Retry-After: 0"}, 0ms});
  server.push({200, R"({"subscription":{"id":"x"}})", {}, 0ms});
  CHECK(client.create_subscription(req).ok());
  CHECK(server.requests().size() == 7);

  // DELETE is idempotent: retried; 404 means already gone.
  server.push({503, "{}", {}, 0ms});
  server.push({204, "", {}, 0ms});
  auto deleted = client.delete_subscription("5b14a0bf-da8a-4c32-9979-1bc7017a3b84");
  REQUIRE(deleted.ok());
  CHECK(*deleted.value);
  server.push({404, "{}", {}, 0ms});
  auto gone = client.delete_subscription("5b14a0bf-da8a-4c32-9979-1bc7017a3b84");
  REQUIRE(gone.ok());
  CHECK_FALSE(*gone.value);
  auto r = server.requests();
  REQUIRE(r.size() == 10);
  CHECK(r[7].method == "DELETE");
  CHECK(r[7].uri == "/openapi/v1/subscriptions/5b14a0bf-da8a-4c32-9979-1bc7017a3b84");

  // Other 4xx and unparsable answers are not retried.
  server.push({400, "{}", {}, 0ms});
  CHECK(client.get_server_info().error_kind == ErrorKind::http);
  server.push({200, "<html>maintenance</html>", {}, 0ms});
  auto garbage = client.get_server_info();
  CHECK(garbage.error_kind == ErrorKind::parse);
  CHECK(garbage.http_status == 200);
  CHECK(server.requests().size() == 12);
}

TEST_CASE("401 and 403 are never retried and leak no secret", "[api]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  config.password = "s3cret-Pa55";
  for (int status : {401, 403}) {
    Client client(config, nullptr, limiter_for(config));  // each its own account state
    server.push({status, R"({"error":"Unauthorized"})", {}, 0ms});
    auto r = client.get_user_features(1);
    CHECK(r.error_kind == ErrorKind::auth);
    CHECK(r.http_status == status);
    CHECK_FALSE(r.not_sent);
    for (const auto& text : {r.error, client.get_user_features(1).error}) {
      CHECK(text.find("s3cret") == std::string::npos);
      CHECK(text.find(config.application_id) == std::string::npos);
      CHECK(text.find("Basic") == std::string::npos);
    }
  }
  CHECK(server.requests().size() == 2);
}

TEST_CASE("a 401 holds back every request of the account but one probe per step", "[api][auth]") {
  ScriptedServer server;
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = std::make_shared<ApiMetrics>(*registry);
  auto config = config_for(server.base_url());
  config.password = "s3cret-Pa55";
  config.auth_failure_backoff = 1s;  // steps of 0.5-1 s, then 1-2 s
  config.auth_failure_backoff_max = 2s;
  Client client(config, metrics, limiter_for(config));
  const auto gauge = [&](const std::string& name) {
    for (const auto& f : registry->Collect()) {
      if (f.name == name && f.metric.size() == 1) return f.metric[0].gauge.value;
    }
    return -1.0;
  };
  CHECK(gauge("vpbx_api_auth_failed") == 0);  // pre-created
  CHECK(gauge("vpbx_api_auth_backoff_seconds") == 0);
  vpbx::test::StderrCapture capture;

  server.push({401, "{}", {}, 0ms});
  const auto first = client.get_server_info();
  CHECK(first.error_kind == ErrorKind::auth);
  CHECK(first.http_status == 401);
  CHECK_FALSE(first.not_sent);
  CHECK(gauge("vpbx_api_auth_failed") == 1);
  CHECK(gauge("vpbx_api_auth_backoff_seconds") >= 0.5);
  CHECK(gauge("vpbx_api_auth_backoff_seconds") <= 1);

  // Every route, every method, from several threads: answered locally, nothing sent or counted.
  // Catch's assertions are not thread-safe: the threads only count, the checks come after.
  std::vector<std::thread> threads;
  std::atomic<int> held{0};
  std::atomic<int> answered_locally{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      const auto a = client.get_presence(1);
      const auto b = client.put_feature({});
      const auto c = client.delete_subscription("x");
      for (bool not_sent : {a.not_sent, b.not_sent, c.not_sent}) held += not_sent ? 1 : 0;
      if (a.error_kind == ErrorKind::auth && a.http_status == 0 && a.error.find("not sent") == 0) {
        ++answered_locally;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(held.load() == 12);
  CHECK(answered_locally.load() == 4);
  CHECK(server.requests().size() == 1);
  CHECK(sample(*registry, "vpbx_api_requests_total", {}) == 1);

  // Once the step is over, one probe goes out; a 503 is not retried (max_retries is 3) and the
  // account stays held back.
  server.push({503, "{}", {}, 0ms});
  const auto deadline = Clock::now() + 20s;
  Result<ServerInfo> probe;
  while (Clock::now() < deadline) {
    probe = client.get_server_info();
    if (!probe.not_sent) break;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(probe.http_status == 503);
  CHECK(server.requests().size() == 2);
  CHECK(client.get_server_info().not_sent);
  CHECK(gauge("vpbx_api_auth_failed") == 1);

  // The credentials are accepted again (the script's default is a 200): the next probe clears
  // the backoff at once.
  Result<ServerInfo> ok;
  while (Clock::now() < deadline) {
    ok = client.get_server_info();
    if (!ok.not_sent) break;
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(ok.ok());
  CHECK(server.requests().size() == 3);
  for (int i = 0; i < 5; ++i) CHECK(client.get_server_info().ok());
  CHECK(server.requests().size() == 8);
  CHECK(gauge("vpbx_api_auth_failed") == 0);
  CHECK(gauge("vpbx_api_auth_backoff_seconds") == 0);

  const std::string log = capture.finish();
  CHECK(vpbx::test::count_occurrences(log, "VPBX API refused the credentials") == 1);
  CHECK(vpbx::test::count_occurrences(log, "VPBX API accepts the credentials again") == 1);
  CHECK(log.find("s3cret-Pa55") == std::string::npos);
  CHECK(log.find(config.application_id) == std::string::npos);
}

TEST_CASE("before the first answer, one request goes and the others wait for what it learns",
          "[api][auth]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  Client client(config, nullptr, limiter_for(config));
  server.push({401, "{}", {}, 300ms});
  std::vector<std::future<Result<ServerInfo>>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::async(std::launch::async, [&] { return client.get_server_info(); }));
  }
  int answered = 0;
  int held = 0;
  for (auto& call : calls) {
    const auto r = call.get();
    CHECK(r.error_kind == ErrorKind::auth);
    answered += r.http_status == 401 ? 1 : 0;
    held += r.not_sent ? 1 : 0;
  }
  CHECK(answered == 1);
  CHECK(held == 3);
  CHECK(server.requests().size() == 1);

  // A success first: everything goes, concurrently.
  Client good(config, nullptr, limiter_for(config));
  server.push({200, "{}", {}, 200ms});
  std::vector<std::future<Result<ServerInfo>>> oks;
  for (int i = 0; i < 4; ++i) {
    oks.push_back(std::async(std::launch::async, [&] { return good.get_server_info(); }));
  }
  for (auto& call : oks) CHECK(call.get().ok());
  CHECK(server.requests().size() == 5);

  // Waiting for a first answer is cancellable.
  Client slow(config, nullptr, limiter_for(config));
  server.push({200, "{}", {}, 3s});
  auto first = std::async(std::launch::async, [&] { return slow.get_server_info(); });
  while (server.requests().size() < 6) std::this_thread::sleep_for(10ms);
  auto waiting = std::async(std::launch::async, [&] { return slow.get_server_info(); });
  REQUIRE(waiting.wait_for(100ms) == std::future_status::timeout);
  slow.cancel();
  CHECK(waiting.get().error == "cancelled");
  CHECK(first.get().error == "cancelled");
  CHECK(server.requests().size() == 6);
}

TEST_CASE("transport errors are retried for GETs and reported without secrets", "[api]") {
  auto config = config_for("http://127.0.0.1:1/openapi/");  // nothing listens on port 1
  config.max_retries = 1;
  config.password = "127.0.0.1";  // even a password that shows up in curl's message
  Client client(config, nullptr, limiter_for(config));
  auto r = client.get_server_info();
  CHECK(r.error_kind == ErrorKind::transport);
  CHECK(r.http_status == 0);
  CHECK(r.error.find("transport") == 0);
  CHECK(r.error.find("127.0.0.1") == std::string::npos);
}

TEST_CASE("cancel() ends backoffs and transfers in progress", "[api]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  Client client(config, nullptr, limiter_for(config));

  server.push({503, "{}", {"Retry-After: 25"}, 0ms});  // would wait 25 s, then get a 200
  auto pending = std::async(std::launch::async, [&] { return client.get_server_info(); });
  while (server.requests().empty()) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(100ms);
  client.cancel();
  auto r = pending.get();
  CHECK(r.error == "cancelled");
  CHECK(server.requests().size() == 1);  // the retry never went out

  auto later = client.get_server_info();  // permanent
  CHECK(later.error == "cancelled");
  CHECK(server.requests().size() == 1);

  Client other(config, nullptr, limiter_for(config));
  server.push({200, "{}", {}, 3s});
  auto slow = std::async(std::launch::async, [&] { return other.get_server_info(); });
  while (server.requests().size() < 2) std::this_thread::sleep_for(10ms);
  other.cancel();
  CHECK(slow.get().error == "cancelled");
}

namespace {

// Captures what is written to stderr (the log) while alive.
}  // namespace

TEST_CASE("failures are logged once per state change, without secrets", "[api]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  config.max_retries = 0;
  config.password = "s3cret-Pa55";
  Client client(config, nullptr, limiter_for(config));
  vpbx::test::StderrCapture capture;
  for (int i = 0; i < 3; ++i) {
    server.push({500, "{}", {}, 0ms});
    client.get_server_info();
    server.push({503, "{}", {}, 0ms});  // same state: still failing with a 5xx
    client.get_server_info();
  }
  server.push({200, "{}", {}, 0ms});
  client.get_server_info();
  for (int i = 0; i < 3; ++i) {
    server.push({401, "{}", {}, 0ms});
    client.get_server_info();
  }
  const std::string log = capture.finish();
  CHECK(vpbx::test::count_occurrences(log, "VPBX API request failing") == 1);
  CHECK(vpbx::test::count_occurrences(log, "VPBX API request recovered") == 1);
  CHECK(vpbx::test::count_occurrences(log, "VPBX API refused the credentials") == 1);
  CHECK(log.find("Swiss and French") != std::string::npos);  // the firewall hint
  CHECK(log.find("s3cret-Pa55") == std::string::npos);
  CHECK(log.find(config.application_id) == std::string::npos);
  CHECK(log.find("Basic ") == std::string::npos);
}

TEST_CASE("metrics carry the route template, count every attempt", "[api]") {
  ScriptedServer server;
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = std::make_shared<ApiMetrics>(*registry);
  auto config = config_for(server.base_url());
  Client client(config, metrics, limiter_for(config));

  server.push({500, "{}", {}, 0ms});
  server.push(
      {200, R"({"feature":{"id":2898014,"featName":"CALL_FORWARD_UNCONDITIONAL"}})", {}, 0ms});
  REQUIRE(client.get_feature(2898014).ok());
  server.push({200, R"({"features":[]})", {}, 0ms});
  REQUIRE(client.get_user_features(177059).ok());

  CHECK(sample(*registry, "vpbx_api_requests_total",
               {{"endpoint", "v1/feat/{feature_id}"}, {"code", "500"}}) == 1);
  CHECK(sample(*registry, "vpbx_api_requests_total",
               {{"endpoint", "v1/feat/{feature_id}"}, {"code", "200"}}) == 1);
  CHECK(sample(*registry, "vpbx_api_requests_total",
               {{"endpoint", "v1/users/{user_id}/feat"}, {"code", "200"}}) == 1);
  CHECK(sample(*registry, "vpbx_api_request_duration_seconds",
               {{"endpoint", "v1/feat/{feature_id}"}}) == 2);
  for (const auto& e : label_values(*registry, "vpbx_api_requests_total", "endpoint")) {
    CHECK(e.find("2898014") == std::string::npos);
    CHECK(e.find("177059") == std::string::npos);
  }
}

TEST_CASE("connections are kept alive and reused", "[api]") {
  ScriptedServer server;
  auto config = config_for(server.base_url());
  config.max_concurrent_requests = 2;
  Client client(config, nullptr, limiter_for(config));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) ok += client.get_server_info().ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok.load() == 30);
  std::set<int> ports;
  for (const auto& r : server.requests()) ports.insert(r.remote_port);
  CHECK(server.requests().size() == 30);
  CHECK(ports.size() <= 2);
}

// ------------------------------------------------------------------ against the simulator
namespace {

// The simulator may count a request once its answer is sent: wait for the last ones to land.
vpbx::sim::Stats settled_stats(vpbx::sim::Simulator& sim, std::uint64_t expected_requests) {
  auto stats = sim.stats();
  for (int i = 0; i < 200 && stats.api_requests < expected_requests; ++i) {
    std::this_thread::sleep_for(10ms);
    stats = sim.stats();
  }
  return stats;
}

struct SimFixture {
  vpbx::sim::Simulator sim;
  SimFixture() : sim(options()) { sim.start(); }
  ~SimFixture() { sim.stop(); }
  static vpbx::sim::Options options() {
    vpbx::sim::Options o;
    o.history_calls_per_user = 30;
    return o;
  }
  vpbx::config::ApiConfig config() const {
    auto c = config_for(sim.base_url());
    c.max_requests_per_second = 100;
    return c;
  }
};

}  // namespace

TEST_CASE("simulator: the calls the exporter makes", "[api][sim]") {
  SimFixture f;
  auto config = f.config();
  Client client(config, nullptr, limiter_for(config));
  auto info = client.get_server_info();
  REQUIRE(info.ok());
  CHECK_FALSE(info.value->build_version.empty());

  auto truth = f.sim.truth();
  REQUIRE_FALSE(truth.empty());
  const auto& user = truth.front();
  auto features = client.get_user_features(user.user_id);
  REQUIRE(features.ok());
  REQUIRE_FALSE(features.value->empty());
  for (const auto& feat : *features.value) {
    auto it = user.features.find(feat.feat_name);
    if (it != user.features.end()) CHECK(feat.status == it->second);
  }
  auto one = client.get_feature(features.value->front().id);
  REQUIRE(one.ok());
  CHECK(one.value->id == features.value->front().id);

  auto presence = client.get_presence(user.user_id);
  REQUIRE(presence.ok());
  CHECK(presence.value->status == user.presence);

  // Paging: pages of 7 until one is short.
  CallLogQuery q;
  q.from_epoch_ms = 1;
  q.to_epoch_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() +
                  60000;
  q.limit = 7;
  std::set<std::string> ids;
  for (int page = 0; page < 100; ++page) {
    q.offset = page * q.limit;
    auto logs = client.get_user_call_logs(user.user_id, q);
    REQUIRE(logs.ok());
    for (const auto& c : *logs.value) ids.insert(c.id);
    if (static_cast<int>(logs.value->size()) < q.limit) break;
  }
  CHECK(ids.size() == 30);
  auto ent =
      client.get_enterprise_call_logs(user.enterprise, {q.from_epoch_ms, q.to_epoch_ms, 0, 100});
  REQUIRE(ent.ok());
  CHECK_FALSE(ent.value->empty());
}

TEST_CASE("simulator: a wrong password is an auth error, sent once", "[api][sim]") {
  SimFixture f;
  auto config = f.config();
  config.password = "wrong";
  Client client(config, nullptr, limiter_for(config));
  const auto before = f.sim.stats().api_requests;
  auto r = client.get_server_info();
  CHECK(r.error_kind == ErrorKind::auth);
  CHECK(r.http_status == 401);
  CHECK(f.sim.stats().api_requests == before + 1);
  // The account is backed off (10 s at first): the next calls are not sent.
  for (int i = 0; i < 10; ++i) {
    const auto again = client.get_user_features(f.sim.truth().front().user_id);
    CHECK(again.error_kind == ErrorKind::auth);
    CHECK(again.not_sent);
  }
  CHECK(f.sim.stats().api_requests == before + 1);

  config = f.config();
  config.application_id = "00000000-0000-0000-0000-000000000000";
  Client wrong_app(config, nullptr, limiter_for(config));
  auto app = wrong_app.get_server_info();
  CHECK(app.error_kind == ErrorKind::auth);
  CHECK(app.error.find("00000000") == std::string::npos);
}

TEST_CASE("simulator: 5xx / 429 faults are retried until they clear", "[api][sim]") {
  SimFixture f;
  auto config = f.config();
  config.max_retries = 8;
  Client client(config, nullptr, limiter_for(config));
  vpbx::sim::Faults faults;
  faults.api_error_ratio = 1.0;
  f.sim.set_faults(faults);
  auto pending = std::async(std::launch::async, [&] { return client.get_server_info(); });
  while (f.sim.stats().api_requests < 1) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(300ms);
  f.sim.set_faults({});
  auto r = pending.get();
  CHECK(r.ok());
  CHECK(f.sim.stats().api_requests >= 2);
}

TEST_CASE("simulator: an answer slower than api.timeout is a timeout", "[api][sim]") {
  SimFixture f;
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = std::make_shared<ApiMetrics>(*registry);
  auto config = f.config();
  config.timeout = 300ms;
  config.max_retries = 1;
  Client client(config, metrics, limiter_for(config));
  vpbx::sim::Faults faults;
  faults.latency = 1500ms;
  f.sim.set_faults(faults);
  auto r = client.get_server_info();
  f.sim.set_faults({});
  CHECK(r.error_kind == ErrorKind::timeout);
  CHECK(r.http_status == 0);
  CHECK(sample(*registry, "vpbx_api_requests_total",
               {{"endpoint", "v1/system/server"}, {"code", "timeout"}}) == 2);
}

TEST_CASE("simulator: the rate and concurrency limits hold as the server sees them", "[api][sim]") {
  SimFixture f;
  auto config = f.config();
  config.max_requests_per_second = 20;
  config.max_concurrent_requests = 3;
  Client client(config, nullptr);  // the process-wide limiter
  f.sim.reset_stats();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  const auto started = Clock::now();
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) ok += client.get_server_info().ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  const auto stats = settled_stats(f.sim, 100);
  CHECK(ok.load() == 100);
  CHECK(stats.api_requests == 100);
  // Starts are 50 ms apart: 100 of them cannot take less than 99 × 50 ms. A busy machine only
  // makes it longer.
  CHECK(seconds_since(started) >= 99 / 20.0 - 0.01);
  // The server's 1 s window sees each request after a scheduling delay that varies by tens of ms
  // on a loaded machine, so it may hold a request or two more than the 21 the client started in
  // any second. Without the limiter it would hold all 100.
  CHECK(stats.max_requests_per_second <= 20 + 1 + kArrivalJitterRequests);
  CHECK(stats.max_concurrent_requests <= 3);
}

TEST_CASE("simulator: 50 requests reuse at most one connection per slot", "[api][sim]") {
  SimFixture f;
  auto config = f.config();
  config.max_concurrent_requests = 2;
  Client client(config, nullptr, limiter_for(config));
  f.sim.reset_stats();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&client, &ok, t] {
      for (int i = 0; i < 12 + (t < 2 ? 1 : 0); ++i) ok += client.get_server_info().ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok.load() == 50);
  const auto stats = settled_stats(f.sim, 50);
  CHECK(stats.api_requests == 50);
  CHECK(stats.connections_accepted <= 2);
}
