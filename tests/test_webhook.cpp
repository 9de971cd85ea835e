// The webhook receiver through a real HTTP server: the seed's pushes, every security rule, a
// corpus of malformed bodies that must leave the store untouched, slow clients, concurrency, and
// the simulator's own pushes end to end.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "exporter/webhook/receiver.h"
#include "simulator/simulator.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/log_capture.h"

using vpbx::test::find_samples;
using vpbx::test::http_request;
using vpbx::test::HttpOptions;
using vpbx::test::HttpReply;
using vpbx::test::sample_value;
using namespace std::chrono_literals;
namespace webhook = vpbx::webhook;

namespace {

const std::string kToken = "Zq3-x_8.k~T0kenForTests0123456789";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string read_api_data(const std::string& name) {
  return read_file(std::string(VPBX_TEST_DATA_DIR) + "/api/" + name);
}

vpbx::config::WebhookConfig webhook_config() {
  vpbx::config::WebhookConfig config;
  config.token = kToken;
  return config;
}

// The seed's CDR push with another call id (and optionally another duration).
std::string cdr_with_id(const std::string& id, int duration = 7) {
  std::string body = read_api_data("push_call_log.json");
  const std::string seed_id = "741f1e6a-8fb1-441e-9e0c-e57c68246d5d";
  body.replace(body.find(seed_id), seed_id.size(), id);
  const std::string seed_duration = "\"duration\" : 7";
  body.replace(body.find(seed_duration), seed_duration.size(),
               "\"duration\" : " + std::to_string(duration));
  return body;
}

// A receiver on a real server (127.0.0.1:0) in front of an empty store that learns users.
struct Harness {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<webhook::WebhookMetrics> metrics =
      std::make_shared<webhook::WebhookMetrics>(*registry);
  std::shared_ptr<vpbx::state::Store> store = std::make_shared<vpbx::state::Store>();
  std::unique_ptr<webhook::Receiver> receiver;
  std::unique_ptr<vpbx::http::Server> server;

  explicit Harness(vpbx::config::WebhookConfig config = webhook_config(),
                   vpbx::http::ServerOptions options = {}) {
    vpbx::config::Config full;
    full.webhook = config;
    store->configure(full);
    receiver = std::make_unique<webhook::Receiver>(config, *store, metrics);
    options.listen_address = "127.0.0.1:0";
    options.max_body_bytes = config.max_body_bytes;
    server = std::make_unique<vpbx::http::Server>(options);
    server->add_text_source(store);
    server->add_collectable(registry);
    server->route("GET", "/-/healthy", [](const vpbx::http::Request&) {
      return vpbx::http::Response::text(200, "ok\n");
    });
    receiver->register_routes(*server);
    server->start();
  }
  ~Harness() { server->stop(); }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server->port()) + path;
  }
  std::string hook_url() const { return url("/webhook/" + kToken); }

  HttpReply post(const std::string& path, const std::string& body,
                 const std::string& content_type = "application/json",
                 std::vector<std::string> headers = {}) const {
    HttpOptions o;
    o.method = "POST";
    o.body = body;
    headers.push_back("Content-Type: " + content_type);  // "Content-Type: " alone drops it
    headers.push_back("Expect:");                        // no 100-continue round trip
    o.headers = std::move(headers);
    return http_request(url(path), o);
  }
  HttpReply push(const std::string& body) const { return post("/webhook/" + kToken, body); }

  std::string store_text() const { return store->exposition(); }
  std::string metrics_text() const {
    return prometheus::TextSerializer().Serialize(registry->Collect());
  }
  double requests(const std::string& code) const {
    return sample_value(metrics_text(), "vpbx_webhook_requests_total", {{"code", code}})
        .value_or(-1);
  }
  double events(const std::string& type, const std::string& outcome) const {
    return sample_value(metrics_text(), "vpbx_webhook_events_total",
                        {{"resource_type", type}, {"outcome", outcome}})
        .value_or(-1);
  }
};

// How long a raw-socket client waits for the server before it calls it hung: a deadline for "did
// not hang", never a measurement (no test asserts how long anything took).
constexpr auto kHangDeadline = 30s;

struct RawResult {
  bool closed_by_server = false;  // the server closed the connection before kHangDeadline
  std::size_t body_bytes_sent = 0;
  std::string reply;
  std::chrono::milliseconds elapsed{0};  // for the failure message only
};

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

// Sends `head`, then `body` one byte every `gap` (all of it at once when `gap` is 0), and reads
// until the server closes the connection or kHangDeadline passes.
RawResult send_and_wait_for_close(int port, const std::string& head, const std::string& body = "",
                                  std::chrono::milliseconds gap = 0ms) {
  const int fd = connect_loopback(port);
  const auto start = std::chrono::steady_clock::now();
  const std::string first = gap == 0ms ? head + body : head;
  REQUIRE(::send(fd, first.data(), first.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(first.size()));
  RawResult result;
  if (gap == 0ms) result.body_bytes_sent = body.size();
  const int wait_ms = static_cast<int>(gap == 0ms ? 100 : gap.count());
  char buffer[4096];
  while (std::chrono::steady_clock::now() - start < kHangDeadline) {
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, wait_ms) > 0) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) {
        result.closed_by_server = true;  // an orderly close or a reset: either way, not hung
        break;
      }
      result.reply.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (result.body_bytes_sent < body.size() &&
        ::send(fd, body.data() + result.body_bytes_sent, 1, MSG_NOSIGNAL) == 1) {
      ++result.body_bytes_sent;
    }
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  ::close(fd);
  return result;
}

}  // namespace

TEST_CASE("the seed's CDR push, verbatim, counts the call once, a redelivery is a duplicate",
          "[webhook][seed]") {
  Harness h;
  const std::string body = read_api_data("push_call_log.json");
  const auto before = std::chrono::system_clock::now();
  const auto reply = h.push(body);
  REQUIRE(reply.status == 200);
  CHECK(reply.body.empty());

  auto text = h.store_text();
  // User 168382 (+41225662195@m.ipvoip.ch), learnt from the context: 7 s outgoing, answered.
  CHECK(sample_value(text, "vpbx_user_info",
                     {{"user_id", "168382"}, {"enterprise", "291908.bus.ent"}}) == 1);
  const std::map<std::string, std::string> user{{"user", "+41225662195"}};
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", "+41225662195"}, {"direction", "outgoing"}, {"answered", "true"}}) ==
        1);
  double calls = 0;
  for (const auto& s : find_samples(text, "vpbx_user_calls_total", user)) calls += s.value;
  CHECK(calls == 1);
  CHECK(sample_value(text, "vpbx_user_call_duration_seconds_total",
                     {{"user", "+41225662195"}, {"direction", "outgoing"}}) == 7);
  CHECK(sample_value(text, "vpbx_call_duration_seconds_count", {{"direction", "outgoing"}}) == 1);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "counted"}}) == 1);
  // The call party number is personal data: never a label value.
  CHECK(text.find("41225117902") == std::string::npos);
  CHECK(h.events("CALL_LOG", "applied") == 1);
  CHECK(h.requests("200") == 1);
  const double stamp = sample_value(h.metrics_text(), "vpbx_last_event_timestamp_seconds",
                                    {{"resource_type", "CALL_LOG"}})
                           .value_or(0);
  CHECK(stamp >= std::chrono::duration<double>(before.time_since_epoch()).count() - 1);
  CHECK(sample_value(h.metrics_text(), "vpbx_last_event_timestamp_seconds",
                     {{"resource_type", "FEATURE"}}) == 0);

  // The platform delivers again (at-least-once): nothing moves but the duplicate counters.
  REQUIRE(h.push(body).status == 200);
  text = h.store_text();
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", "+41225662195"}, {"direction", "outgoing"}, {"answered", "true"}}) ==
        1);
  CHECK(sample_value(text, "vpbx_user_call_duration_seconds_total",
                     {{"user", "+41225662195"}, {"direction", "outgoing"}}) == 7);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "counted"}}) == 1);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "duplicate"}}) == 1);
  CHECK(h.events("CALL_LOG", "applied") == 1);
  CHECK(h.events("CALL_LOG", "duplicate") == 1);
  CHECK(h.requests("200") == 2);
}

TEST_CASE("the seed's FEATURE push, verbatim, turns CENTRAL_DND on, a redelivery changes nothing",
          "[webhook][seed]") {
  Harness h;
  const std::string body = read_api_data("push_feature.json");
  REQUIRE(h.push(body).status == 200);
  const std::map<std::string, std::string> dnd{
      {"user", "+41215776366"}, {"enterprise", "431569.bus.ent"}, {"feature", "CENTRAL_DND"}};
  auto text = h.store_text();
  CHECK(sample_value(text, "vpbx_user_info", {{"user_id", "177059"}}) == 1);
  CHECK(sample_value(text, "vpbx_user_feature_active", dnd) == 1);
  // First sight of a feature is its state, not a change (absent or 0).
  const double changes = sample_value(text, "vpbx_user_feature_changes_total", dnd).value_or(0);
  CHECK(h.events("FEATURE", "applied") == 1);
  CHECK(sample_value(h.metrics_text(), "vpbx_last_event_timestamp_seconds",
                     {{"resource_type", "FEATURE"}}) > 0);

  REQUIRE(h.push(body).status == 200);
  text = h.store_text();
  CHECK(sample_value(text, "vpbx_user_feature_active", dnd) == 1);
  // The same state again is no change.
  CHECK(sample_value(text, "vpbx_user_feature_changes_total", dnd).value_or(0) == changes);
  CHECK(h.events("FEATURE", "applied") == 2);
}

TEST_CASE("a sharded replica answers 2xx to other shards' pushes and ignores them",
          "[webhook][shard]") {
  // FNV-1a 64 of the id, modulo 2: user 168382 (the CDR) is in shard 1, 177059 (DND) in shard 0.
  const std::string cdr = read_api_data("push_call_log.json");
  const std::string dnd = read_api_data("push_feature.json");
  for (const int index : {0, 1}) {
    INFO("shard " << index << " of 2");
    Harness h;
    vpbx::config::Config sharded;
    sharded.webhook = webhook_config();
    sharded.shard = {index, 2, {}};
    h.store->configure(sharded);
    REQUIRE(h.push(cdr).status == 200);
    REQUIRE(h.push(dnd).status == 200);
    const auto text = h.store_text();
    const bool mine_cdr = index == 1;
    CHECK(h.events("CALL_LOG", "applied") == (mine_cdr ? 1 : 0));
    // other_shard is made at its first use (-1: absent).
    CHECK(std::max(0.0, h.events("CALL_LOG", "other_shard")) == (mine_cdr ? 0 : 1));
    CHECK(h.events("FEATURE", "applied") == (mine_cdr ? 0 : 1));
    CHECK(std::max(0.0, h.events("FEATURE", "other_shard")) == (mine_cdr ? 1 : 0));
    CHECK(h.events("CALL_LOG", "unknown_user") == 0);
    // The other shard's user is not learnt and its call is not counted anywhere here.
    CHECK(sample_value(text, "vpbx_user_info", {{"user_id", "168382"}}).has_value() == mine_cdr);
    CHECK(sample_value(text, "vpbx_user_info", {{"user_id", "177059"}}).has_value() == !mine_cdr);
    CHECK(sample_value(text, "vpbx_call_logs_received_total",
                       {{"source", "push"}, {"outcome", "counted"}}) == (mine_cdr ? 1 : 0));
    CHECK(sample_value(text, "vpbx_call_logs_received_total",
                       {{"source", "push"}, {"outcome", "other_shard"}}) == (mine_cdr ? 0 : 1));
    CHECK(sample_value(text, "vpbx_shard_info",
                       {{"index", std::to_string(index)}, {"count", "2"}}) == 1);
    CHECK(h.requests("200") == 2);
  }
}

TEST_CASE("webhook series exist at 0 from the start", "[webhook][metrics]") {
  Harness h;
  const auto text = h.metrics_text();
  for (const char* code : {"200", "400", "403", "404", "405", "413", "415", "500"}) {
    CHECK(sample_value(text, "vpbx_webhook_requests_total", {{"code", code}}) == 0);
  }
  for (const char* type : {"CALL_LOG", "FEATURE", "PRESENCE"}) {
    for (const char* outcome : {"applied", "duplicate", "invalid", "unknown_user"}) {
      INFO(type << " " << outcome);
      CHECK(sample_value(text, "vpbx_webhook_events_total",
                         {{"resource_type", type}, {"outcome", outcome}}) == 0);
    }
    CHECK(sample_value(text, "vpbx_last_event_timestamp_seconds", {{"resource_type", type}}) == 0);
  }
  CHECK(sample_value(text, "vpbx_webhook_events_total",
                     {{"resource_type", "unknown"}, {"outcome", "invalid"}}) == 0);
  CHECK(sample_value(text, "vpbx_webhook_events_total",
                     {{"resource_type", "unknown"}, {"outcome", "ignored"}}) == 0);
  // Served on /metrics with everything else.
  const auto scrape = http_request(h.url("/metrics"));
  CHECK(scrape.body.find("vpbx_webhook_requests_total{code=\"415\"} 0") != std::string::npos);
}

TEST_CASE("several events of every kind in one body, unknown kinds are ignored",
          "[webhook][events]") {
  Harness h;
  const std::string context =
      R"("context":{"user":{"id":168382,"name":"+41225662195@m.ipvoip.ch"},)"
      R"("enterprise":{"id":16317,"name":"291908.bus.ent"}})";
  const std::string body =
      R"({"subscriptionId":"s","callLogEvents":[)"
      R"({"changeType":"CREATED","callLog":{"id":"a","userId":168382,"duration":5,"direction":"INCOMING"},)" +
      context +
      R"(},{"changeType":"CREATED","callLog":{"id":"b","userId":168382,"duration":0,"direction":"INCOMING"},)" +
      context + R"(},{"changeType":"CREATED"}],)" +
      R"("presenceEvents":[{"changeType":"MODIFIED","presence":{"userId":168382,"status":"BUSY"},)" +
      context + R"(}],)" + R"("featureEvents":[],"smsEvents":[{"x":1}],"faxEvents":"whatever"})";
  const auto reply = h.push(body);
  REQUIRE(reply.status == 200);
  const auto text = h.store_text();
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", "+41225662195"}, {"direction", "incoming"}, {"answered", "true"}}) ==
        1);
  CHECK(sample_value(
            text, "vpbx_user_calls_total",
            {{"user", "+41225662195"}, {"direction", "incoming"}, {"answered", "false"}}) == 1);
  CHECK(sample_value(text, "vpbx_user_presence", {{"user", "+41225662195"}, {"state", "busy"}}) ==
        1);
  CHECK(h.events("CALL_LOG", "applied") == 2);
  CHECK(h.events("CALL_LOG", "invalid") == 1);  // an event without its callLog
  CHECK(h.events("PRESENCE", "applied") == 1);
  CHECK(h.events("unknown", "ignored") == 2);  // one per unknown kind; never its name as a label
  CHECK(h.metrics_text().find("smsEvents") == std::string::npos);

  // A body with an empty list is well formed: nothing to do, still a success.
  CHECK(h.push(R"({"subscriptionId":"s","callLogEvents":[]})").status == 200);
  CHECK(h.requests("200") == 2);
}

TEST_CASE("a wrong or missing token is a plain 404, the same as an unknown path",
          "[webhook][security]") {
  Harness h;
  const std::string body = read_api_data("push_call_log.json");
  const auto unknown = h.post("/no-such-path", body);
  REQUIRE(unknown.status == 404);
  const std::string before = h.store_text();
  for (const std::string& path :
       {std::string("/webhook"), std::string("/webhook/"), std::string("/webhook/wrong"),
        "/webhook/" + kToken.substr(0, kToken.size() - 1), "/webhook/" + kToken + "x",
        "/webhook/x" + kToken, "/webhook/" + kToken + "/", "/webhook/" + kToken + "/more",
        std::string("/webhook/ZQ3-X_8.K~T0KENFORTESTS0123456789"),
        "/webhook/" + std::string(5000, 'A'), "/webhook/" + kToken.substr(1) + "Z"}) {
    INFO(path.substr(0, 80));
    const auto reply = h.post(path, body);
    CHECK(reply.status == 404);
    CHECK(reply.body == unknown.body);
    CHECK(reply.header("content-type") == unknown.header("content-type"));
    CHECK(reply.header("allow").empty());
  }
  CHECK(h.store_text() == before);
  CHECK(h.requests("404") == 11);
  // The token is checked before the method: GET on a wrong token is 404, on the right one 405.
  for (const char* method : {"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    INFO(method);
    HttpOptions o;
    o.method = method;
    CHECK(http_request(h.url("/webhook/wrong"), o).status == 404);
    const auto right = http_request(h.hook_url(), o);
    CHECK(right.status == 405);
    CHECK(right.header("allow") == "POST");
  }
  // And a good push still works.
  CHECK(h.push(body).status == 200);
}

TEST_CASE("the token comparison is right over every kind of input", "[webhook][security]") {
  // Constant time is a property of the code (checks.cpp: no branch on the bytes, a loop over the
  // secret's length only); bench/micro.cpp's BM_TokenCompare measures it, no test times it.
  using webhook::detail::constant_time_equals;
  CHECK(constant_time_equals("secret", "secret"));
  CHECK(constant_time_equals("", ""));
  CHECK(constant_time_equals(kToken, kToken));
  CHECK_FALSE(constant_time_equals("secret", "Secret"));  // first byte
  CHECK_FALSE(constant_time_equals("secret", "secreT"));  // last byte
  CHECK_FALSE(constant_time_equals("secret", "sEcret"));
  CHECK_FALSE(constant_time_equals("secret", "secre"));  // a prefix
  CHECK_FALSE(constant_time_equals("secret", "secrets"));
  CHECK_FALSE(constant_time_equals("secret", "s"));
  CHECK_FALSE(constant_time_equals("secret", ""));
  CHECK_FALSE(constant_time_equals("", "x"));
  CHECK_FALSE(constant_time_equals("x", std::string(1, '\0')));
  // Embedded NULs count as bytes, on either side.
  CHECK_FALSE(constant_time_equals("secret", std::string("secret\0", 7)));
  CHECK_FALSE(constant_time_equals(std::string("secret\0", 7), "secret"));
  CHECK_FALSE(constant_time_equals(std::string("sec\0et", 6), "sec"));
  CHECK(constant_time_equals(std::string("sec\0et", 6), std::string("sec\0et", 6)));
  CHECK_FALSE(constant_time_equals(std::string("sec\0et", 6), std::string("sec\0eT", 6)));
  // A candidate whose bytes past the secret's length would match if they were ignored, and a
  // secret whose tail is NULs, which a short candidate must not match as if padded with them.
  CHECK_FALSE(constant_time_equals("ab", "abab"));
  CHECK_FALSE(constant_time_equals(std::string("ab\0\0", 4), "ab"));
  // Every position and every bit of one byte, on a long secret.
  const std::string secret(300, 'k');
  for (std::size_t i = 0; i < secret.size(); ++i) {
    std::string other = secret;
    other[i] = static_cast<char>(other[i] ^ (1 << (i % 8)));
    INFO("byte " << i);
    CHECK_FALSE(constant_time_equals(secret, other));
  }
  for (const std::size_t length :
       {std::size_t{0}, std::size_t{1}, std::size_t{299}, std::size_t{301}, std::size_t{600}}) {
    INFO("length " << length);
    CHECK_FALSE(constant_time_equals(secret, std::string(length, 'k')));
  }
  CHECK(constant_time_equals(secret, std::string(300, 'k')));
}

TEST_CASE("allowed_networks: other clients get 403 whatever the token", "[webhook][security]") {
  const std::string body = read_api_data("push_call_log.json");
  {
    auto config = webhook_config();
    config.allowed_networks = {"10.0.0.0/8", "2001:db8::/32"};
    Harness h(config);
    const std::string before = h.store_text();
    CHECK(h.push(body).status == 403);
    CHECK(h.post("/webhook/wrong", body).status == 403);
    CHECK(h.store_text() == before);
    CHECK(h.requests("403") == 2);
    // The header is not believed from a peer that is not a trusted proxy.
    CHECK(h.post("/webhook/" + kToken, body, "application/json", {"X-Forwarded-For: 10.1.2.3"})
              .status == 403);
  }
  {
    auto config = webhook_config();
    config.allowed_networks = {"192.0.2.0/24", "127.0.0.0/8"};
    Harness h(config);
    CHECK(h.push(body).status == 200);
    CHECK(h.post("/webhook/wrong", body).status == 404);
  }
}

TEST_CASE("X-Forwarded-For counts only from trusted proxies, right-most untrusted entry first",
          "[webhook][security]") {
  using webhook::detail::client_address;
  const std::vector<vpbx::config::Network> trusted{*vpbx::config::parse_network("10.0.0.0/8"),
                                                   *vpbx::config::parse_network("2001:db8::1")};
  CHECK(client_address("203.0.113.9", "192.0.2.7", trusted) == "203.0.113.9");  // untrusted peer
  CHECK(client_address("203.0.113.9", "192.0.2.7", {}) == "203.0.113.9");
  CHECK(client_address("10.0.0.5", "", trusted) == "10.0.0.5");  // a proxy without the header
  CHECK(client_address("10.0.0.5", "192.0.2.7", trusted) == "192.0.2.7");
  // The client can write anything left of what our proxies appended.
  CHECK(client_address("10.0.0.5", "192.0.2.66, 198.51.100.4", trusted) == "198.51.100.4");
  CHECK(client_address("10.0.0.5", "192.0.2.7, 10.0.0.9, 10.0.0.8", trusted) == "192.0.2.7");
  CHECK(client_address("10.0.0.5", "10.0.0.9,10.0.0.8", trusted) == "10.0.0.9");
  CHECK(client_address("2001:db8::1", "2001:db8::7", trusted) == "2001:db8::7");
  CHECK(client_address("::ffff:10.0.0.5", "192.0.2.7", trusted) == "192.0.2.7");
  CHECK(client_address("10.0.0.5", "192.0.2.7:5555", trusted) == "192.0.2.7");
  CHECK(client_address("10.0.0.5", "[2001:db8::9]:443", trusted) == "2001:db8::9");
  CHECK(client_address("10.0.0.5", "192.0.2.7 ,  ", trusted) == "192.0.2.7");
  CHECK(client_address("10.0.0.5", "garbage, 10.0.0.9", trusted) == "garbage");

  // Through the server: the test client (127.0.0.1) plays the trusted proxy.
  const std::string body = read_api_data("push_call_log.json");
  auto config = webhook_config();
  config.trusted_proxies = {"127.0.0.1"};
  config.allowed_networks = {"192.0.2.0/24"};
  Harness h(config);
  const auto with_xff = [&](const std::string& xff) {
    std::vector<std::string> headers;
    if (!xff.empty()) headers.push_back("X-Forwarded-For: " + xff);
    return h.post("/webhook/" + kToken, body, "application/json", headers).status;
  };
  CHECK(with_xff("") == 403);  // the proxy itself is not allowed
  CHECK(with_xff("198.51.100.4") == 403);
  CHECK(with_xff("192.0.2.66, 198.51.100.4") == 403);  // a forged left entry does not help
  CHECK(with_xff("garbage") == 403);
  CHECK(with_xff("198.51.100.4, 192.0.2.7") == 200);
  CHECK(with_xff("192.0.2.7, 127.0.0.1") == 200);  // a second trusted hop is skipped
  // Two headers fold into one list, in order.
  CHECK(h.post("/webhook/" + kToken, body, "application/json",
               {"X-Forwarded-For: 198.51.100.4", "X-Forwarded-For: 192.0.2.7"})
            .status == 200);
}

TEST_CASE("bodies above max_body_bytes get 413 before they are read", "[webhook][security]") {
  auto config = webhook_config();
  config.max_body_bytes = 2048;
  Harness h(config);
  const std::string before = h.store_text();
  std::string big = cdr_with_id("big");
  big.insert(big.size() - 2, ",\"padding\":\"" + std::string(4096, 'p') + "\"");
  const auto reply = h.push(big);
  CHECK(reply.status == 413);
  CHECK(h.store_text() == before);
  // The server refuses it from the declared length, before the receiver sees it.
  const auto raw = send_and_wait_for_close(
      h.server->port(), "POST /webhook/" + kToken +
                            " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: 1000000000\r\n\r\n");
  CHECK(raw.reply.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(h.push(cdr_with_id("small")).status == 200);

  // A receiver behind a listener with a larger limit still enforces its own.
  vpbx::http::Request request;
  request.method = "POST";
  request.path = "/webhook/" + kToken;
  request.headers["content-type"] = "application/json";
  request.body = big;
  request.remote_address = "127.0.0.1";
  CHECK(h.receiver->handle(request).status == 413);
  CHECK(h.requests("413") == 1);
}

TEST_CASE("only POST with a JSON content type", "[webhook][security]") {
  Harness h;
  const std::string body = read_api_data("push_call_log.json");
  const std::string before = h.store_text();
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "application/jsonp",
                           "application/json-patch+json", "application/xml", "json",
                           "multipart/form-data; boundary=x", ""}) {
    INFO(type);
    CHECK(h.post("/webhook/" + kToken, body, type).status == 415);
  }
  CHECK(h.store_text() == before);
  CHECK(h.requests("415") == 8);
  CHECK(h.post("/webhook/" + kToken, cdr_with_id("1"), "application/json; charset=UTF-8").status ==
        200);
  CHECK(h.post("/webhook/" + kToken, cdr_with_id("2"), "Application/JSON").status == 200);
  CHECK(h.post("/webhook/" + kToken, cdr_with_id("3"), "application/json;charset=utf-8").status ==
        200);
  using webhook::detail::is_json_content_type;
  CHECK(is_json_content_type(" application/json ; charset=\"utf-8\""));
  CHECK_FALSE(is_json_content_type("application/json+x"));
}

TEST_CASE("slow clients are cut off by the request and idle timeouts", "[webhook][security]") {
  // Conditions, not durations: the server closes each connection itself (a client that waits
  // for kHangDeadline calls it hung), and a trickled body is cut off long before its end.
  vpbx::http::ServerOptions options;
  options.request_timeout_ms = 500;
  options.idle_timeout_ms = 500;
  options.num_threads = 2;
  Harness h(webhook_config(), options);
  const std::string head = "POST /webhook/" + kToken + " HTTP/1.1\r\nHost: x\r\n";
  SECTION("headers sent, then the body stalls") {
    const auto r = send_and_wait_for_close(
        h.server->port(),
        head + "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"callLogEvents\"");
    INFO(r.elapsed.count() << " ms: " << r.reply);
    CHECK(r.closed_by_server);
    CHECK(h.store_text().find("outcome=\"counted\"} 1") == std::string::npos);
  }
  SECTION("a body trickled a byte at a time is cut off at the request timeout") {
    const std::string body = cdr_with_id("trickled");
    const auto r = send_and_wait_for_close(
        h.server->port(),
        head + "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n",
        body, 100ms);
    INFO(r.elapsed.count() << " ms, " << r.body_bytes_sent << " bytes sent: " << r.reply);
    CHECK(r.closed_by_server);
    CHECK(r.reply.rfind("HTTP/1.1 408", 0) == 0);
    CHECK(r.body_bytes_sent < body.size());  // the server did not wait for the whole body
    CHECK(h.store_text().find("outcome=\"counted\"} 1") == std::string::npos);
  }
  SECTION("half a request head, then nothing") {
    const auto r = send_and_wait_for_close(h.server->port(), head + "Content-Type: appl");
    INFO(r.elapsed.count() << " ms: " << r.reply);
    CHECK(r.closed_by_server);
  }
  SECTION("an idle keep-alive connection after a push") {
    const std::string body = cdr_with_id("keepalive");
    const auto r = send_and_wait_for_close(
        h.server->port(),
        head + "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n",
        body);
    INFO(r.elapsed.count() << " ms: " << r.reply);
    CHECK(r.reply.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(r.closed_by_server);  // kept alive for a while, then closed
  }
  // The workers are free again: slow clients did not keep them.
  CHECK(h.push(cdr_with_id("after")).status == 200);
}

TEST_CASE("without a token the webhook is off, unless allow_unauthenticated",
          "[webhook][security]") {
  const std::string body = read_api_data("push_call_log.json");
  SECTION("no token: no route at all") {
    vpbx::config::WebhookConfig config;
    Harness h(config);
    CHECK(h.post("/webhook", body).status == 404);
    CHECK(h.post("/webhook/", body).status == 404);
    CHECK(h.post("/webhook/anything", body).status == 404);
    vpbx::http::Request request;
    request.method = "POST";
    request.path = "/webhook";
    request.headers["content-type"] = "application/json";
    request.body = body;
    CHECK(h.receiver->handle(request).status == 404);
    CHECK(sample_value(h.store_text(), "vpbx_call_logs_received_total",
                       {{"source", "push"}, {"outcome", "counted"}})
              .value_or(0) == 0);
  }
  SECTION("allow_unauthenticated: the path itself, nothing below it") {
    vpbx::config::WebhookConfig config;
    config.allow_unauthenticated = true;
    Harness h(config);
    CHECK(h.post("/webhook/anything", body).status == 404);
    CHECK(h.post("/webhook/", body).status == 404);
    HttpOptions get;
    CHECK(http_request(h.url("/webhook"), get).status == 405);
    CHECK(h.post("/webhook", body).status == 200);
    CHECK(h.events("CALL_LOG", "applied") == 1);
  }
  SECTION("a token set wins over allow_unauthenticated") {
    auto config = webhook_config();
    config.allow_unauthenticated = true;
    Harness h(config);
    CHECK(h.post("/webhook", body).status == 404);
    CHECK(h.post("/webhook/wrong", body).status == 404);
    CHECK(h.push(body).status == 200);
  }
}

TEST_CASE("a reload changes the token and the path", "[webhook][reload]") {
  Harness h;
  CHECK(h.push(cdr_with_id("1")).status == 200);
  auto config = webhook_config();
  config.token = "another-token-0123456789abcdef";
  config.path = "/hooks/vpbx";
  h.receiver->reconfigure(config);
  h.receiver->register_routes(*h.server);
  h.receiver->register_routes(*h.server);  // twice is harmless
  CHECK(h.push(cdr_with_id("2")).status == 404);
  CHECK(h.post("/webhook/another-token-0123456789abcdef", cdr_with_id("3")).status == 404);
  CHECK(h.post("/hooks/vpbx/" + kToken, cdr_with_id("4")).status == 404);
  CHECK(h.post("/hooks/vpbx/another-token-0123456789abcdef", cdr_with_id("5")).status == 200);
  CHECK(h.events("CALL_LOG", "applied") == 2);
}

TEST_CASE("malformed bodies get 400 and leave every store counter unchanged",
          "[webhook][malformed]") {
  Harness h;
  // A user already known, with a call counted, so that the exposition has values to keep.
  REQUIRE(h.push(read_api_data("push_call_log.json")).status == 200);
  REQUIRE(h.push(read_api_data("push_feature.json")).status == 200);
  const std::string before = h.store_text();
  const std::string metrics_before = h.metrics_text();

  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(VPBX_TEST_DATA_DIR) +
                                                               "/webhook/malformed")) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 40);
  std::vector<std::pair<std::string, std::string>> cases;
  for (const auto& file : files) cases.emplace_back(file.filename().string(), read_file(file));
  // Too large for a file worth keeping: a megabyte of '[' would overflow RapidJSON's recursion.
  cases.emplace_back("generated: 1 MB of [", "{\"callLogEvents\":" + std::string(1000000, '['));
  cases.emplace_back("generated: 33 levels",
                     "{\"callLogEvents\":[" + std::string(32, '[') + std::string(32, ']') + "]}");

  for (const auto& [name, body] : cases) {
    INFO(name);
    const auto reply = h.push(body);
    CHECK(reply.status == 400);
    CHECK(reply.body.find("Bad Request") == 0);
    CHECK(h.store_text() == before);
  }
  const double n = static_cast<double>(cases.size());
  CHECK(h.requests("400") == n);
  CHECK(h.events("unknown", "invalid") == n);
  // Nothing else moved: the per-type outcomes and timestamps are as before.
  for (const char* type : {"CALL_LOG", "FEATURE", "PRESENCE"}) {
    for (const char* outcome : {"applied", "duplicate", "invalid", "unknown_user"}) {
      CHECK(sample_value(h.metrics_text(), "vpbx_webhook_events_total",
                         {{"resource_type", type}, {"outcome", outcome}}) ==
            sample_value(metrics_before, "vpbx_webhook_events_total",
                         {{"resource_type", type}, {"outcome", outcome}}));
    }
    CHECK(sample_value(h.metrics_text(), "vpbx_last_event_timestamp_seconds",
                       {{"resource_type", type}}) ==
          sample_value(metrics_before, "vpbx_last_event_timestamp_seconds",
                       {{"resource_type", type}}));
  }
  // Depth within the limit is fine, and the receiver still works.
  CHECK(webhook::detail::check_json_text("[" + std::string(31, '[') + std::string(32, ']')) ==
        std::nullopt);
  CHECK(webhook::detail::check_json_text("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", 2) ==
        std::nullopt);
  CHECK(webhook::detail::check_json_text("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"") ==
        std::nullopt);
  CHECK(h.push(cdr_with_id("after")).status == 200);
}

TEST_CASE("a malformed body is logged once per kind of error, without its content or the token",
          "[webhook][malformed]") {
  Harness h;
  vpbx::test::StderrCapture capture;
  const std::string secret_number = "+41225117902";
  for (int i = 0; i < 5; ++i) {
    h.push("{\"callLogEvents\":[{\"callLog\":{\"callPartyNumber\":\"" + secret_number + "\"}}" +
           std::string(static_cast<std::size_t>(i), ' '));  // truncated at various offsets
    h.push("[\"" + secret_number + "\"]");
    h.push("{\"callLogEvents\":\"" + secret_number + "\"}");
  }
  h.post("/webhook/" + kToken, "{}", "text/plain");  // not a malformed body: not logged
  const std::string log = capture.finish();
  INFO(log);
  CHECK(vpbx::test::count_occurrences(log, "webhook refused a malformed push body") == 3);
  CHECK(log.find(secret_number) == std::string::npos);
  CHECK(log.find("41225117902") == std::string::npos);
  CHECK(log.find(kToken) == std::string::npos);
  CHECK(log.find("offset") == std::string::npos);
  CHECK(h.requests("400") == 15);

  webhook::detail::WarnLimiter limiter(std::chrono::hours(1));
  std::size_t repeats = 99;
  CHECK(limiter.should_log("a", repeats));
  CHECK(repeats == 0);
  CHECK_FALSE(limiter.should_log("a", repeats));
  CHECK(limiter.should_log("b", repeats));
  // Hostile input cannot grow it without bound: past 64 reasons they share one line.
  int logged = 0;
  for (int i = 0; i < 1000; ++i) logged += limiter.should_log("r" + std::to_string(i), repeats);
  CHECK(logged <= 64);
  webhook::detail::WarnLimiter quick(std::chrono::milliseconds(0));
  CHECK(quick.should_log("a", repeats));
  CHECK(quick.should_log("a", repeats));  // a zero interval never suppresses
}

TEST_CASE("many clients pushing at once: every call counted exactly once", "[webhook][threads]") {
  Harness h;
  constexpr int kThreads = 6;
  constexpr int kCalls = 25;
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::atomic<bool> done{false};
  // Scrapes and reloads run alongside the pushes.
  std::thread scraper([&] {
    while (!done) {
      http_request(h.url("/metrics"));
      h.receiver->reconfigure(webhook_config());
    }
  });
  // Bodies made up front: Catch's assertions (read_file has one) are not thread-safe.
  std::vector<std::string> bodies;
  for (int i = 0; i < kCalls; ++i)
    bodies.push_back(cdr_with_id("call-" + std::to_string(i), 10 + i));
  std::vector<std::thread> pushers;
  for (int t = 0; t < kThreads; ++t) {
    pushers.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        // Every thread sends every call: each is counted by one and a duplicate for the others.
        const auto reply = h.push(bodies[static_cast<std::size_t>(i)]);
        if (reply.status == 200) ++ok;
        if (i % 5 == t % 5 && h.push("{\"callLogEvents\":").status == 400) ++refused;
      }
    });
  }
  for (auto& thread : pushers) thread.join();
  done = true;
  scraper.join();
  CHECK(ok == kThreads * kCalls);
  const auto text = h.store_text();
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "counted"}}) == kCalls);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "duplicate"}}) == (kThreads - 1) * kCalls);
  double duration = 0;
  for (int i = 0; i < kCalls; ++i) duration += 10 + i;
  CHECK(sample_value(text, "vpbx_user_call_duration_seconds_total",
                     {{"user", "+41225662195"}, {"direction", "outgoing"}}) == duration);
  CHECK(h.events("CALL_LOG", "applied") == kCalls);
  CHECK(h.events("CALL_LOG", "duplicate") == (kThreads - 1) * kCalls);
  CHECK(h.requests("200") == kThreads * kCalls);
  CHECK(h.requests("400") == refused);
}

TEST_CASE("the simulator's pushes reach the store through a subscription", "[webhook][simulator]") {
  Harness h;
  vpbx::sim::Options options;
  options.users_per_enterprise = 3;
  vpbx::sim::Simulator sim(options);
  sim.start();
  const auto users = sim.truth();
  REQUIRE(users.size() == 3);
  std::string ids;
  for (const auto& u : users) ids += (ids.empty() ? "" : ",") + std::to_string(u.user_id);
  const auto subscribe = [&](const std::string& type) {
    HttpOptions o;
    o.method = "POST";
    o.userpwd = options.username + ":" + options.password;
    o.headers = {"X-C5-Application: " + options.application_id, "Content-Type: application/json"};
    o.body = "{\"expires\": \"2099-01-01T00:00:00.000Z\", \"notificationUrl\": \"" + h.hook_url() +
             "\", \"resourceType\": \"" + type + "\", \"userIds\": [" + ids + "]}";
    const auto reply = http_request(sim.base_url() + "v1/subscriptions", o);
    INFO(reply.body);
    REQUIRE(reply.status == 200);
  };
  subscribe("CALL_LOG");
  subscribe("FEATURE");
  subscribe("PRESENCE");

  const auto wait_for = [&](const std::function<bool()>& condition) {
    // Polls the condition; the deadline only says "did not hang".
    const auto deadline = std::chrono::steady_clock::now() + kHangDeadline;
    while (!condition() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(25ms);
    }
    return condition();
  };
  const auto user = users[1];
  sim.inject_call({user.user_id, "INCOMING", 42});
  sim.inject_call({user.user_id, "OUTGOING", 0});
  REQUIRE(wait_for([&] {
    return sample_value(h.store_text(), "vpbx_call_logs_received_total",
                        {{"source", "push"}, {"outcome", "counted"}}) == 2;
  }));
  REQUIRE(sim.set_feature_status(user.user_id, "CENTRAL_DND", true));
  REQUIRE(sim.set_presence(user.user_id, "BUSY"));
  REQUIRE(wait_for(
      [&] { return h.events("FEATURE", "applied") >= 1 && h.events("PRESENCE", "applied") >= 1; }));
  const auto truth = sim.truth()[1];
  REQUIRE(truth.user_id == user.user_id);
  sim.stop();

  const auto text = h.store_text();
  const auto info =
      find_samples(text, "vpbx_user_info", {{"user_id", std::to_string(user.user_id)}});
  REQUIRE(info.size() == 1);
  const std::string label = info[0].labels.at("user");
  double calls = 0;
  for (const auto& s : find_samples(text, "vpbx_user_calls_total", {{"user", label}})) {
    calls += s.value;
  }
  CHECK(calls == static_cast<double>(truth.calls));
  double duration = 0;
  for (const auto& s :
       find_samples(text, "vpbx_user_call_duration_seconds_total", {{"user", label}})) {
    duration += s.value;
  }
  CHECK(duration == truth.duration_seconds);
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", label}, {"direction", "incoming"}, {"answered", "true"}}) == 1);
  CHECK(sample_value(text, "vpbx_user_feature_active",
                     {{"user", label}, {"feature", "CENTRAL_DND"}}) == 1);
  CHECK(sample_value(text, "vpbx_user_presence", {{"user", label}, {"state", "busy"}}) == 1);
  CHECK(h.requests("400") == 0);
  CHECK(h.requests("404") == 0);
  CHECK(h.requests("415") == 0);
}

TEST_CASE("pushes handled back to back are each applied before the answer", "[webhook]") {
  // How fast is measured by bench/micro.cpp (BM_ReceiverHandle), not asserted here.
  Harness h;
  vpbx::http::Request request;
  request.method = "POST";
  request.path = "/webhook/" + kToken;
  request.headers["content-type"] = "application/json";
  request.remote_address = "127.0.0.1";
  for (int i = 0; i < 400; ++i) {
    request.body = cdr_with_id("speed-" + std::to_string(i));
    REQUIRE(h.receiver->handle(request).status == 200);
    REQUIRE(h.events("CALL_LOG", "applied") == i + 1);
  }
  CHECK(h.store->seen_call_log_count() == 400);
}

TEST_CASE("accepted pushes are reported by resource type", "[webhook]") {
  Harness h;
  std::vector<std::string> types;
  h.receiver->set_push_listener([&](const std::string& type) { types.push_back(type); });
  vpbx::http::Request request;
  request.method = "POST";
  request.path = "/webhook/" + kToken;
  request.headers["content-type"] = "application/json";
  request.remote_address = "127.0.0.1";
  request.body = read_api_data("push_feature.json");
  CHECK(h.receiver->handle(request).status == 200);
  request.body = "not json";
  CHECK(h.receiver->handle(request).status == 400);  // refused: not reported
  request.body = cdr_with_id("reported");
  CHECK(h.receiver->handle(request).status == 200);
  CHECK(types == std::vector<std::string>{"FEATURE", "CALL_LOG"});
}

namespace {

// One event of each kind for `user_id` in 291908.bus.ent, as the platform writes them.
std::string context_json(std::int64_t user_id) {
  return R"("context":{"user":{"id":)" + std::to_string(user_id) + R"(,"name":"+41)" +
         std::to_string(user_id) +
         R"(@m.ipvoip.ch"},"enterprise":{"id":16317,"name":"291908.bus.ent"}})";
}
std::string call_log_event(const std::string& id, std::int64_t user_id) {
  return R"({"changeType":"CREATED","callLog":{"id":")" + id + R"(","userId":)" +
         std::to_string(user_id) + R"(,"duration":7,"direction":"OUTGOING"},)" +
         context_json(user_id) + "}";
}
std::string feature_event(std::int64_t user_id) {
  return R"({"changeType":"MODIFIED","feature":{"featName":"CENTRAL_DND","status":"ACTIVE","userId":)" +
         std::to_string(user_id) + "}," + context_json(user_id) + "}";
}
std::string presence_event(std::int64_t user_id) {
  return R"({"changeType":"MODIFIED","presence":{"status":"BUSY","userId":)" +
         std::to_string(user_id) + "}," + context_json(user_id) + "}";
}

std::string replace_first(std::string text, const std::string& what, const std::string& with) {
  const auto at = text.find(what);
  REQUIRE(at != std::string::npos);
  return text.replace(at, what.size(), with);
}

// The seed's CDR push with another call id and the duration's JSON text as given.
std::string cdr_with_duration(const std::string& id, const std::string& duration) {
  return replace_first(cdr_with_id(id), "\"duration\" : 7", "\"duration\" : " + duration);
}

vpbx::http::Request push_request(const std::string& body) {
  vpbx::http::Request request;
  request.method = "POST";
  request.path = "/webhook/" + kToken;
  request.headers["content-type"] = "application/json";
  request.remote_address = "127.0.0.1";
  request.body = body;
  return request;
}

}  // namespace

TEST_CASE("hostile values: events out of bounds are invalid, malformed bodies refused whole",
          "[webhook][hostile]") {
  Harness h;
  REQUIRE(h.push(read_api_data("push_call_log.json")).status == 200);  // user 168382, 1 call
  const std::string mb(1000000, 'x');
  const auto seen_before = h.store->seen_call_log_count();
  const auto users_before = h.store->users().size();

  // Events out of bounds: the body is fine, the event is counted invalid and changes nothing.
  const std::vector<std::pair<std::string, std::string>> invalid_events{
      {"duration -7", cdr_with_id("negative", -7)},
      {"duration \"NaN\"", cdr_with_duration("nan-text", "\"NaN\"")},
      {"duration 1.5", cdr_with_duration("fraction", "1.5")},
      {"duration of 8 days", cdr_with_duration("long", "691200")},
      {"1 MB call-log id", cdr_with_id(mb)},
      {"129-byte call-log id", cdr_with_id(std::string(129, 'i'))},
      {"1 MB login in the context of a new user",
       "{\"callLogEvents\":[" + replace_first(call_log_event("big-login", 555), "+41555", mb) +
           "]}"},
      {"negative userId", replace_first(cdr_with_id("neg-user"), "168382", "-168382")},
  };
  double invalid = 0;
  for (const auto& [name, body] : invalid_events) {
    INFO(name);
    REQUIRE(body.size() < 1048576);  // under max_body_bytes: it reaches the parser
    CHECK(h.push(body).status == 200);
    CHECK(h.events("CALL_LOG", "invalid") == ++invalid);
  }
  const std::string feature_mb = R"({"featureEvents":[{"feature":{"featName":")" + mb +
                                 R"(","status":"ACTIVE","userId":168382}}]})";
  CHECK(h.push(feature_mb).status == 200);
  CHECK(h.events("FEATURE", "invalid") == 1);
  const std::string presence_mb =
      R"({"presenceEvents":[{"presence":{"status":")" + mb + R"(","userId":168382}}]})";
  CHECK(h.push(presence_mb).status == 200);
  CHECK(h.events("PRESENCE", "invalid") == 1);
  const std::string text = h.store_text();
  CHECK(h.store->seen_call_log_count() == seen_before);  // none remembered
  CHECK(h.store->unknown_call_log_count() == 0);
  CHECK(h.store->users().size() == users_before);  // the 1 MB login taught no user
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", "+41225662195"}, {"direction", "outgoing"}, {"answered", "true"}}) ==
        1);
  CHECK(
      sample_value(text, "vpbx_user_calls_total",
                   {{"user", "+41225662195"}, {"direction", "outgoing"}, {"answered", "false"}}) ==
      0);  // -7 used to be counted here, as a 0 s call
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "invalid"}}) == invalid);
  CHECK(find_samples(text, "vpbx_user_feature_active").empty());
  CHECK(text.find(mb.substr(0, 1000)) == std::string::npos);

  // Bodies that are not what the platform sends: 400, counted once as unknown/invalid.
  std::string nested = "{\"callLogEvents\":";
  for (int i = 0; i < 100000; ++i) nested += "[";
  for (int i = 0; i < 100000; ++i) nested += "]";
  nested += "}";
  const std::vector<std::pair<std::string, std::string>> refused{
      {"duration 1e400", cdr_with_duration("huge", "1e400")},
      {"duration NaN", cdr_with_duration("nan", "NaN")},
      {"duration -Infinity", cdr_with_duration("inf", "-Infinity")},
      {"userId -1e400", replace_first(cdr_with_id("neg"), "168382", "-1e400")},
      {"invalid UTF-8 in the id", cdr_with_id("id-\xff\xfe")},
      {"an overlong UTF-8 form", cdr_with_id("id-\xc0\xaf")},
      {"a lone surrogate escape", cdr_with_id("id-\\ud800")},
      {"1 MB subscriptionId", "{\"subscriptionId\":\"" + mb + "\",\"callLogEvents\":[]}"},
      {"callLogEvents twice", "{\"callLogEvents\":[" + call_log_event("dup-a", 168382) +
                                  "],\"callLogEvents\":[" + call_log_event("dup-b", 168382) + "]}"},
      {"a callLog with two ids",
       "{\"callLogEvents\":[" +
           replace_first(call_log_event("dup-c", 168382), "\"id\"", "\"id\":\"other\",\"id\"") +
           "]}"},
      {"100 000-deep nesting, closed", nested},
  };
  const double refused_before = h.events("unknown", "invalid");
  const std::string store_before = h.store_text();
  for (const auto& [name, body] : refused) {
    INFO(name);
    const auto reply = h.push(body);
    CHECK(reply.status == 400);
    CHECK((h.store_text() == store_before));  // no expansion: it may hold megabytes
  }
  CHECK(h.events("unknown", "invalid") == refused_before + static_cast<double>(refused.size()));

  // 10 MB: refused by its size before anything reads it (the server answers from the declared
  // length; the receiver enforces its own limit behind a larger listener).
  const auto raw = send_and_wait_for_close(
      h.server->port(), "POST /webhook/" + kToken +
                            " HTTP/1.1\r\nHost: x\r\nContent-Type: "
                            "application/json\r\nContent-Length: 10485760\r\n\r\n");
  CHECK(raw.reply.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(h.receiver->handle(push_request(std::string(10 * 1024 * 1024, ' '))).status == 413);
  CHECK((h.store_text() == store_before));
  CHECK(h.push(cdr_with_id("after")).status == 200);
}

TEST_CASE(
    "10 000 unknown users and subscription ids: bounded memory, exact counters, no series "
    "past max_users",
    "[webhook][hostile][limits]") {
  Harness h;
  vpbx::config::Config config;
  config.webhook = webhook_config();
  config.max_users = 50;
  h.store->configure(config);
  const std::string metrics_before = h.metrics_text();
  constexpr int kUsers = 10000;
  constexpr int kPerBody = 100;
  constexpr std::int64_t kFirst = 3000000;
  // Each kind of event for 10 000 distinct users, 100 per body, each body with its own
  // subscriptionId (30 000 in all: none is kept, the token authenticates a push).
  int subscription = 0;
  for (const auto& make : std::vector<std::function<std::string(std::int64_t)>>{
           [](std::int64_t u) { return call_log_event("call-" + std::to_string(u), u); },
           feature_event, presence_event}) {
    for (int first = 0; first < kUsers; first += kPerBody) {
      std::string body = "{\"subscriptionId\":\"sub-" + std::to_string(++subscription) +
                         "\",\"callLogEvents\":[],\"featureEvents\":[],\"presenceEvents\":[]}";
      std::string events;
      for (int i = first; i < first + kPerBody; ++i) {
        events += (events.empty() ? "" : ",") + make(kFirst + i);
      }
      // Into whichever list the events belong to.
      const std::string key = events.find("\"callLog\"") != std::string::npos   ? "callLogEvents"
                              : events.find("\"feature\"") != std::string::npos ? "featureEvents"
                                                                                : "presenceEvents";
      const auto at = body.find("\"" + key + "\":[") + key.size() + 4;
      body.insert(at, events);
      REQUIRE(h.receiver->handle(push_request(body)).status == 200);
    }
  }
  // Another 10 000 subscription ids, one event each, for made-up users past max_users.
  for (int i = 0; i < kUsers; ++i) {
    const auto body = "{\"subscriptionId\":\"other-sub-" + std::to_string(i) +
                      "\",\"presenceEvents\":[" + presence_event(kFirst + kUsers + i) + "]}";
    REQUIRE(h.receiver->handle(push_request(body)).status == 200);
  }

  const std::string text = h.store_text();
  // Series: the first 50 users were learnt, no one else.
  CHECK(h.store->users().size() == config.max_users);
  CHECK(find_samples(text, "vpbx_user_info").size() == config.max_users);
  std::set<std::string> users_with_series;
  for (const char* family : {"vpbx_user_info", "vpbx_user_presence", "vpbx_user_feature_active",
                             "vpbx_user_calls_total", "vpbx_user_call_duration_seconds_total"}) {
    for (const auto& s : find_samples(text, family)) users_with_series.insert(s.labels.at("user"));
  }
  CHECK(users_with_series.size() == config.max_users);
  // Counters add up exactly: learnt (applied) + unknown_user = pushed, per kind.
  for (const char* type : {"CALL_LOG", "FEATURE"}) {
    INFO(type);
    CHECK(h.events(type, "applied") == 50);
    CHECK(h.events(type, "unknown_user") == kUsers - 50);
    CHECK(h.events(type, "invalid") == 0);
  }
  CHECK(h.events("PRESENCE", "applied") == 50);
  CHECK(h.events("PRESENCE", "unknown_user") == 2 * kUsers - 50);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "counted"}}) == 50);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "unknown_user"}}) == kUsers - 50);
  // What the store remembers is bounded: counted ids by the users' calls, unknown users' ids by
  // a constant. The webhook's own series are the pre-created ones.
  CHECK(h.store->seen_call_log_count() == 50);
  CHECK(h.store->unknown_call_log_count() == vpbx::state::kMaxUnknownCallLogs);
  CHECK(find_samples(h.metrics_text(), "vpbx_webhook_events_total").size() ==
        find_samples(metrics_before, "vpbx_webhook_events_total").size());
  CHECK(h.requests("200") == 3 * kUsers / kPerBody + kUsers);
}
