// The simulator against the seed: auth, shapes compared key by key with the published bodies,
// Jackson's pretty printing, paging, PUT, subscriptions and their pushes, faults, truth and
// connection counting.

#include <civetweb.h>
#include <curl/curl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "simulator/simulator.h"
#include "tests/support/http_client.h"
#include "tests/support/wait.h"

using vpbx::test::http_request;
using vpbx::test::HttpOptions;
using vpbx::test::HttpReply;
using namespace std::chrono_literals;

namespace {

const char* kAppId = "71c177e5-7417-4265-b97f-4595016dceb8";

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(VPBX_TEST_DATA_DIR) + "/simulator/" + name);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  INFO(text);
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

const char* type_name(const rapidjson::Value& v) {
  if (v.IsObject()) return "object";
  if (v.IsArray()) return "array";
  if (v.IsString()) return "string";
  if (v.IsBool()) return "bool";
  if (v.IsInt64()) return "integer";
  if (v.IsNumber()) return "number";
  return "null";
}

// Same keys in the same order with the same JSON types, recursively (arrays: element by element
// for the shorter length). Values are not compared.
void same_shape(const rapidjson::Value& expected, const rapidjson::Value& actual,
                const std::string& path = "$") {
  INFO("at " << path);
  REQUIRE(std::string(type_name(actual)) == type_name(expected));
  if (expected.IsObject()) {
    std::vector<std::string> ek, ak;
    for (const auto& m : expected.GetObject()) ek.emplace_back(m.name.GetString());
    for (const auto& m : actual.GetObject()) ak.emplace_back(m.name.GetString());
    REQUIRE(ak == ek);
    for (const auto& m : expected.GetObject()) {
      same_shape(m.value, actual[m.name], path + "." + m.name.GetString());
    }
  } else if (expected.IsArray()) {
    const auto n = std::min(expected.Size(), actual.Size());
    for (rapidjson::SizeType i = 0; i < n; ++i) {
      same_shape(expected[i], actual[i], path + "[" + std::to_string(i) + "]");
    }
  }
}

struct Fixture {
  explicit Fixture(vpbx::sim::Options o = {}) : sim(std::move(o)) { sim.start(); }
  ~Fixture() { sim.stop(); }

  HttpReply api(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpOptions o;
    o.method = method;
    o.body = body;
    o.userpwd = "openapi@291908.bus.ent:simulator-password";
    o.headers = {std::string("X-C5-Application: ") + kAppId, "Content-Type: application/json"};
    return http_request(sim.base_url() + path, o);
  }
  HttpReply control(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    HttpOptions o;
    o.method = method;
    o.body = body;
    return http_request("http://127.0.0.1:" + std::to_string(sim.port()) + "/_sim/" + path, o);
  }

  vpbx::sim::Simulator sim;
};

vpbx::sim::Options options_with(int history = 0, int users = 4) {
  vpbx::sim::Options o;
  o.history_calls_per_user = history;
  o.users_per_enterprise = users;
  return o;
}

// A webhook for the pushes: a CivetWeb listener on port 0 that keeps every body it receives.
class Receiver {
 public:
  Receiver() {
    const char* options[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4", nullptr};
    mg_callbacks callbacks{};
    ctx_ = mg_start(&callbacks, this, options);
    REQUIRE(ctx_ != nullptr);
    mg_set_request_handler(ctx_, "/hook", &Receiver::on_request, this);
    mg_server_port ports[2]{};
    REQUIRE(mg_get_server_ports(ctx_, 2, ports) > 0);
    port_ = ports[0].port;
  }
  ~Receiver() {
    // CivetWeb's accept loop polls in 2 s quanta; a connection wakes it to see the stop flag.
    std::atomic<bool> stopped{false};
    std::thread poker([&] {
      while (!stopped) {
        std::this_thread::sleep_for(20ms);
        HttpOptions o;
        o.timeout_ms = 200;
        if (!stopped) http_request("http://127.0.0.1:" + std::to_string(port_) + "/poke", o);
      }
    });
    mg_stop(ctx_);
    stopped = true;
    poker.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

  // Waits until at least n bodies arrived (or the timeout); returns all so far.
  std::vector<std::string> wait_for(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return bodies_.size() >= n; });
    return bodies_;
  }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  std::string content_type() {
    std::lock_guard lock(mutex_);
    return content_type_;
  }

 private:
  static int on_request(mg_connection* conn, void* data) {
    auto* self = static_cast<Receiver*>(data);
    std::string body;
    char buf[4096];
    int n;
    while ((n = mg_read(conn, buf, sizeof buf)) > 0) body.append(buf, static_cast<size_t>(n));
    {
      std::lock_guard lock(self->mutex_);
      self->bodies_.push_back(body);
      const char* ct = mg_get_header(conn, "Content-Type");
      self->content_type_ = ct ? ct : "";
    }
    self->cv_.notify_all();
    // A bare answer: mg_send_http_ok() would stamp a Date with CivetWeb's racy gmtime().
    mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    return 200;
  }

  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> bodies_;
  std::string content_type_;
};

std::string subscription_body(const std::string& type, const std::string& url,
                              const std::string& scope, const std::string& expires = "") {
  return "{\"expires\": \"" + (expires.empty() ? "2099-01-01T00:00:00.000Z" : expires) +
         "\", \"notificationUrl\": \"" + url + "\", \"resourceType\": \"" + type + "\"" +
         (scope.empty() ? "" : ", " + scope) + "}";
}

std::string subscribe(Fixture& f, const std::string& type, const std::string& url,
                      const std::string& scope) {
  const auto r = f.api("POST", "v1/subscriptions", subscription_body(type, url, scope));
  REQUIRE(r.status == 200);
  return parse(r.body)["subscription"]["id"].GetString();
}

std::string iso_utc(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

TEST_CASE("authentication: Basic auth then the application header", "[simulator]") {
  Fixture f;
  const std::string url = f.sim.base_url() + "v1/system/server";
  HttpOptions o;
  auto r = http_request(url, o);
  CHECK(r.status == 401);
  CHECK(r.header("www-authenticate").rfind("Basic", 0) == 0);
  o.userpwd = "openapi@291908.bus.ent:wrong";
  o.headers = {std::string("X-C5-Application: ") + kAppId};
  CHECK(http_request(url, o).status == 401);
  o.userpwd = "openapi@291908.bus.ent:simulator-password";
  o.headers = {};
  CHECK(http_request(url, o).status == 403);
  o.headers = {"X-C5-Application: 00000000-0000-0000-0000-000000000000"};
  CHECK(http_request(url, o).status == 403);
  o.headers = {std::string("X-C5-Application: ") + kAppId};
  CHECK(http_request(url, o).status == 200);
}

TEST_CASE("system/server has the seed's keys and types", "[simulator]") {
  Fixture f;
  const auto r = f.api("GET", "v1/system/server");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").find("application/json") == 0);
  same_shape(parse(read_data("system_server.json")), parse(r.body));
}

TEST_CASE("features: the seed's 19 names, CFU and DND shaped like the seed", "[simulator]") {
  Fixture f;
  const auto r = f.api("GET", "v1/users/176125/feat");
  REQUIRE(r.status == 200);
  const auto d = parse(r.body);
  REQUIRE(d["features"].IsArray());
  std::vector<std::string> names;
  std::int64_t cfu = 0, dnd = 0;
  for (const auto& feat : d["features"].GetArray()) {
    names.emplace_back(feat["featName"].GetString());
    CHECK(feat["userId"].GetInt64() == 176125);
    if (names.back() == "CALL_FORWARD_UNCONDITIONAL") cfu = feat["id"].GetInt64();
    if (names.back() == "CENTRAL_DND") dnd = feat["id"].GetInt64();
  }
  const std::vector<std::string> seed = {"CALLING_LINE_IDENTIFICATION_RESTRICTION",
                                         "PARALLEL_RINGING",
                                         "PRESENCE",
                                         "CALL_TRANSFER",
                                         "AD_HOC_CONFERENCING",
                                         "LOCK_CODE",
                                         "CALL_FORWARD_BUSY",
                                         "MUSIC_ON_HOLD",
                                         "PHONE_BOOK_LOOKUP",
                                         "PICKUP_CALL",
                                         "CENTRAL_DND",
                                         "CALL_HOLD",
                                         "CALL_WAITING",
                                         "CALL_FORWARD_TIMEOUT",
                                         "CALL_FORWARD_NOT_REACHABLE",
                                         "FORWARDED_CALL_REJECTION",
                                         "CALL_FORWARD_UNREGISTERED",
                                         "EARLY_MEDIA",
                                         "CALL_FORWARD_UNCONDITIONAL"};
  CHECK(names == seed);
  CHECK(cfu == 2898014);  // the first user's ids are the seed's
  CHECK(dnd == 2898089);

  const auto cfu_reply = f.api("GET", "v1/feat/" + std::to_string(cfu));
  REQUIRE(cfu_reply.status == 200);
  const auto cfu_doc = parse(cfu_reply.body);
  same_shape(parse(read_data("feat_cfu.json")), cfu_doc);
  CHECK(std::string(cfu_doc["feature"]["callForwardUnconditionalData"]["type"].GetString()) ==
        "CallForwardUnconditional");
  const auto dnd_doc = parse(f.api("GET", "v1/feat/" + std::to_string(dnd)).body);
  same_shape(parse(read_data("feat_dnd.json")), dnd_doc);
  CHECK(std::string(dnd_doc["feature"]["centralDndData"]["mode"].GetString()) == "USER");

  CHECK(f.api("GET", "v1/feat/1").status == 404);
  CHECK(f.api("GET", "v1/users/1/feat").status == 404);
  const auto not_found = f.api("GET", "v1/users/1/presence");
  CHECK(not_found.status == 404);
  CHECK(parse(not_found.body).IsObject());
}

TEST_CASE("bodies are pretty-printed like Jackson's default printer", "[simulator]") {
  Fixture f;
  const auto server = f.api("GET", "v1/system/server").body;
  CHECK(server.rfind("{\n  \"buildCustomer\" : \"Release\",\n  \"buildVersion\" : ", 0) == 0);
  CHECK(server.find("\"bulkLimitCommon\" : 100,") != std::string::npos);
  CHECK(server.back() == '}');
  const auto feat = f.api("GET", "v1/feat/2898014").body;
  CHECK(feat.rfind("{\n  \"feature\" : {\n    \"id\" : 2898014,\n    \"featName\" : ", 0) == 0);
  CHECK(feat.find("\n    \"callForwardUnconditionalData\" : {\n      \"type\" : ") !=
        std::string::npos);
  const auto list = f.api("GET", "v1/users/176125/feat").body;
  CHECK(list.rfind("{\n  \"features\" : [ {\n    \"id\" : ", 0) == 0);
  CHECK(list.find("\n  }, {\n    \"id\" : ") != std::string::npos);
  CHECK(list.find("\n  } ]\n}") != std::string::npos);
  CHECK(f.api("GET", "v1/subscriptions").body == "{\n  \"subscriptions\" : [ ]\n}");
  const auto sub =
      f.api("POST", "v1/subscriptions",
            subscription_body("CALL_LOG", "http://127.0.0.1:1/x", "\"userIds\": [176125, 176129]"))
          .body;
  CHECK(sub.find("\"resourceIds\" : [ \"176125\", \"176129\" ],") != std::string::npos);
  CHECK(sub.find("\"userIds\" : [ 176125, 176129 ],") != std::string::npos);
}

TEST_CASE("presence", "[simulator]") {
  Fixture f;
  auto d = parse(f.api("GET", "v1/users/176129/presence").body);
  CHECK(d["presence"]["userId"].GetInt64() == 176129);
  CHECK(std::string(d["presence"]["status"].GetString()) == "IDLE");
  REQUIRE(f.sim.set_presence(176129, "BUSY"));
  d = parse(f.api("GET", "v1/users/176129/presence").body);
  CHECK(std::string(d["presence"]["status"].GetString()) == "BUSY");
  CHECK_FALSE(f.sim.set_presence(42, "BUSY"));
}

TEST_CASE("call logs: filtered by from and to, sorted, paged without loss", "[simulator]") {
  auto o = options_with(25, 2);
  o.max_page_size = 10;
  Fixture f(o);
  const std::string from = iso_utc(std::chrono::system_clock::now() - std::chrono::hours(24 * 8));
  const std::string to = iso_utc(std::chrono::system_clock::now() + 1h);
  std::vector<std::string> ids;
  std::vector<std::string> starts;
  int pages = 0;
  for (int offset = 0;; offset += 10) {
    const auto r = f.api("GET", "v1/users/176125/calllogs?from=" + from + "&to=" + to +
                                    "&offset=" + std::to_string(offset) + "&limit=50");
    REQUIRE(r.status == 200);
    const auto d = parse(r.body);
    const auto& logs = d["callLogs"];
    for (const auto& log : logs.GetArray()) {
      ids.emplace_back(log["id"].GetString());
      starts.emplace_back(log["callStart"].GetString());
      CHECK(log["userId"].GetInt64() == 176125);
      CHECK(std::string(log["callType"].GetString()) == "VOICE");
      CHECK((log["duration"].GetInt() > 0) == (log["status"].GetInt() == 804));
    }
    ++pages;
    if (logs.Size() < 10) break;  // limit 50 was capped at max_page_size 10
  }
  CHECK(pages == 3);
  CHECK(ids.size() == 25);
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 25);
  CHECK(std::is_sorted(starts.begin(), starts.end()));

  // The CDR shape is the seed's callLog.
  const auto seed = parse(read_data("push_call_log.json"));
  const auto page = parse(f.api("GET", "v1/users/176125/calllogs?limit=1").body);
  same_shape(seed["callLogEvents"][0]["callLog"], page["callLogs"][0]);

  // A window ending before everything is empty; the enterprise has both users' calls.
  CHECK(parse(f.api("GET", "v1/users/176125/calllogs?to=2000-01-01T00:00:00.000Z").body)["callLogs"]
            .Size() == 0);
  int total = 0;
  for (int offset = 0;; offset += 10) {
    const auto d = parse(f.api("GET", "v1/enterprises/291908.bus.ent/calllogs?from=" + from +
                                          "&offset=" + std::to_string(offset) + "&limit=10")
                             .body);
    total += static_cast<int>(d["callLogs"].Size());
    if (d["callLogs"].Size() < 10) break;
  }
  CHECK(total == 50);
  // An offset form with '+' encoded, and one where the query decoded it to a space.
  CHECK(f.api("GET", "v1/users/176125/calllogs?from=2024-01-01T00:00:00%2B01:00").status == 200);
  CHECK(f.api("GET", "v1/users/176125/calllogs?from=2024-01-01T00:00:00+01:00").status == 200);
  CHECK(f.api("GET", "v1/users/176125/calllogs?from=yesterday").status == 400);
  CHECK(f.api("GET", "v1/users/176125/calllogs?limit=-1").status == 400);
  CHECK(f.api("GET", "v1/users/9/calllogs").status == 404);
  CHECK(f.api("GET", "v1/enterprises/nope.bus.ent/calllogs").status == 404);
}

TEST_CASE("PUT replaces the feature and pushes MODIFIED with previousValue", "[simulator]") {
  Fixture f;
  Receiver rx;
  subscribe(f, "FEATURE", rx.url(), "\"enterpriseNames\": [\"291908.bus.ent\"]");
  auto feat = parse(f.api("GET", "v1/feat/2898089").body);
  const bool was_active = std::string(feat["feature"]["status"].GetString()) == "ACTIVE";
  const std::string next = was_active ? "INACTIVE" : "ACTIVE";
  auto& obj = feat["feature"];
  obj["status"].SetString(next.c_str(), feat.GetAllocator());
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  obj.Accept(w);
  const auto put = f.api("PUT", "v1/feat/2898089", sb.GetString());
  REQUIRE(put.status == 200);
  CHECK(std::string(parse(put.body)["feature"]["status"].GetString()) == next);
  CHECK(std::string(parse(f.api("GET", "v1/feat/2898089").body)["feature"]["status"].GetString()) ==
        next);
  CHECK(f.sim.truth()[0].features.at("CENTRAL_DND") == next);

  const auto bodies = rx.wait_for(1);
  REQUIRE(bodies.size() == 1);
  CHECK(rx.content_type().find("application/json") == 0);
  const auto push = parse(bodies[0]);
  same_shape(parse(read_data("push_feature.json")), push);
  const auto& ev = push["featureEvents"][0];
  CHECK(std::string(ev["changeType"].GetString()) == "MODIFIED");
  CHECK(std::string(ev["feature"]["status"].GetString()) == next);
  CHECK(std::string(ev["previousValue"]["status"].GetString()) ==
        (was_active ? "ACTIVE" : "INACTIVE"));
  CHECK(ev["context"]["user"]["id"].GetInt64() == 176125);
  CHECK(std::string(ev["context"]["user"]["name"].GetString()) == "+41225662194@m.ipvoip.ch");
  CHECK(std::string(ev["context"]["serviceProvider"]["name"].GetString()) == "vtx.sp");

  CHECK(f.api("PUT", "v1/feat/2898089", "{not json").status == 400);
  CHECK(f.api("PUT", "v1/feat/2898089", "[1]").status == 400);
  CHECK(f.api("PUT", "v1/feat/2898089", "{\"id\": 2898014, \"status\": \"ACTIVE\"}").status == 400);
  CHECK(f.api("PUT", "v1/feat/1", "{\"id\": 1, \"status\": \"ACTIVE\"}").status == 404);
}

TEST_CASE("subscriptions: created like the seed, listed, deleted, expired", "[simulator]") {
  Fixture f;
  auto r =
      f.api("POST", "v1/subscriptions",
            subscription_body("CALL_LOG", "http://recovery.ipvoip.ch/openapi",
                              "\"userIds\": [176125, 176129, 176133]", "2099-09-29T00:00:00.000Z"));
  REQUIRE(r.status == 200);
  auto d = parse(r.body);
  same_shape(parse(read_data("subscription_call_log.json")), d);
  CHECK(std::string(d["subscription"]["expires"].GetString()) == "2099-09-29T00:00:00Z");
  CHECK(std::string(d["subscription"]["applicationId"].GetString()) == kAppId);
  CHECK(std::string(d["subscription"]["creatorId"].GetString()) == "openapi@291908.bus.ent");
  CHECK(std::string(d["subscription"]["id"].GetString()).size() == 36);
  const std::string first = d["subscription"]["id"].GetString();

  r = f.api("POST", "v1/subscriptions",
            subscription_body("FEATURE", "http://recovery.ipvoip.ch/openapi",
                              "\"resourceNames\": [\"CALL_FORWARD_UNCONDITIONAL\","
                              "\"CALL_FORWARD_TIMEOUT\"], \"loginNames\": "
                              "[\"+41225662194@m.ipvoip.ch\"]"));
  same_shape(parse(read_data("subscription_feature_users.json")), parse(r.body));
  r = f.api("POST", "v1/subscriptions",
            subscription_body("FEATURE", "http://recovery.ipvoip.ch/openapi",
                              "\"enterpriseNames\": [\"291908.bus.ent\"]"));
  same_shape(parse(read_data("subscription_feature_enterprise.json")), parse(r.body));

  d = parse(f.api("GET", "v1/subscriptions").body);
  REQUIRE(d["subscriptions"].Size() == 3);
  same_shape(parse(read_data("subscriptions_list.json"))["subscriptions"][0],
             d["subscriptions"][0]);

  CHECK(f.api("DELETE", "v1/subscriptions/" + first).status == 204);
  CHECK(f.api("DELETE", "v1/subscriptions/" + first).status == 404);
  CHECK(parse(f.api("GET", "v1/subscriptions").body)["subscriptions"].Size() == 2);

  CHECK(f.api("POST", "v1/subscriptions", "{bad").status == 400);
  CHECK(f.api("POST", "v1/subscriptions", subscription_body("NOPE", "http://x/", "")).status ==
        400);
  CHECK(f.api("POST", "v1/subscriptions", "{\"resourceType\": \"CALL_LOG\"}").status == 400);

  // Expiry: gone from the list and from the pushes once `expires` has passed.
  Receiver rx;
  const std::string soon = iso_utc(std::chrono::system_clock::now() + 2s);
  r = f.api("POST", "v1/subscriptions",
            subscription_body("CALL_LOG", rx.url(), "\"userIds\": [176125]", soon));
  REQUIRE(r.status == 200);
  CHECK(parse(f.api("GET", "v1/subscriptions").body)["subscriptions"].Size() == 3);
  CHECK(vpbx::test::wait_until(
      [&] { return parse(f.api("GET", "v1/subscriptions").body)["subscriptions"].Size() == 2; }));
  f.sim.inject_call({176125, "INCOMING", 12});
  CHECK(rx.wait_for(1, 500ms).empty());
}

TEST_CASE("CALL_LOG push: the seed's body, only to matching scopes", "[simulator]") {
  Fixture f;
  Receiver by_user, by_login, other_user;
  const std::string sub = subscribe(f, "CALL_LOG", by_user.url(), "\"userIds\": [176129]");
  subscribe(f, "CALL_LOG", by_login.url(), "\"loginNames\": [\"+41225662195@m.ipvoip.ch\"]");
  subscribe(f, "CALL_LOG", other_user.url(), "\"userIds\": [176125]");
  const std::string id = f.sim.inject_call({176129, "OUTGOING", 7});
  REQUIRE_FALSE(id.empty());
  const auto bodies = by_user.wait_for(1);
  REQUIRE(bodies.size() == 1);
  const auto push = parse(bodies[0]);
  same_shape(parse(read_data("push_call_log.json")), push);
  CHECK(std::string(push["subscriptionId"].GetString()) == sub);
  const auto& ev = push["callLogEvents"][0];
  CHECK(std::string(ev["changeType"].GetString()) == "CREATED");
  CHECK(std::string(ev["callLog"]["id"].GetString()) == id);
  CHECK(ev["callLog"]["duration"].GetInt() == 7);
  CHECK(ev["callLog"]["status"].GetInt() == 804);
  CHECK(std::string(ev["callLog"]["direction"].GetString()) == "OUTGOING");
  CHECK(std::string(ev["context"]["enterprise"]["name"].GetString()) == "291908.bus.ent");
  CHECK(std::string(ev["context"]["site"]["name"].GetString()) == "s1.291908.bus.ipvoip.ch");
  CHECK(by_login.wait_for(1).size() == 1);
  CHECK(other_user.wait_for(1, 300ms).empty());

  // forget_subscription: the platform loses it silently; nothing more arrives.
  REQUIRE(f.sim.forget_subscription(sub));
  CHECK_FALSE(f.sim.forget_subscription(sub));
  f.sim.inject_call({176129, "INCOMING", 0});
  CHECK(by_login.wait_for(2).size() == 2);
  CHECK(by_user.bodies().size() == 1);
}

TEST_CASE("FEATURE push honours resourceNames, PRESENCE pushes", "[simulator]") {
  Fixture f;
  Receiver cfu_only, presence;
  subscribe(f, "FEATURE", cfu_only.url(),
            "\"resourceNames\": [\"CALL_FORWARD_UNCONDITIONAL\"], \"userIds\": [176125]");
  subscribe(f, "PRESENCE", presence.url(), "\"userIds\": [176125]");
  const auto before = f.sim.truth()[0].features.at("CALL_FORWARD_UNCONDITIONAL");
  REQUIRE(f.sim.set_feature_status(176125, "CENTRAL_DND",
                                   f.sim.truth()[0].features.at("CENTRAL_DND") != "ACTIVE"));
  REQUIRE(f.sim.set_feature_status(176125, "CALL_FORWARD_UNCONDITIONAL", before != "ACTIVE"));
  const auto bodies = cfu_only.wait_for(1);
  REQUIRE(bodies.size() == 1);
  CHECK(std::string(parse(bodies[0])["featureEvents"][0]["feature"]["featName"].GetString()) ==
        "CALL_FORWARD_UNCONDITIONAL");

  REQUIRE(f.sim.set_presence(176125, "BUSY"));
  const auto p = presence.wait_for(1);
  REQUIRE(p.size() == 1);
  const auto d = parse(p[0]);
  const auto& ev = d["presenceEvents"][0];
  CHECK(std::string(ev["changeType"].GetString()) == "MODIFIED");
  CHECK(std::string(ev["presence"]["status"].GetString()) == "BUSY");
  CHECK(ev["presence"]["userId"].GetInt64() == 176125);
  CHECK(std::string(ev["previousValue"]["status"].GetString()) == "IDLE");
  CHECK(ev["eventTime"].IsString());
  same_shape(parse(read_data("push_call_log.json"))["callLogEvents"][0]["context"], ev["context"]);
}

TEST_CASE("faults: API errors, dropped and duplicated pushes", "[simulator]") {
  Fixture f;
  vpbx::sim::Faults faults;
  faults.api_error_ratio = 1;
  f.sim.set_faults(faults);
  std::set<long> codes;
  for (int i = 0; i < 30; ++i) {
    const auto r = f.api("GET", "v1/system/server");
    codes.insert(r.status);
    if (r.status == 429) CHECK(r.header("retry-after") == "1");
  }
  for (const long c : codes) CHECK((c == 500 || c == 503 || c == 429));
  CHECK(codes.size() > 1);

  Receiver rx;
  f.sim.set_faults({});
  subscribe(f, "CALL_LOG", rx.url(), "\"userIds\": [176125]");
  faults = {};
  faults.push_drop_ratio = 1;
  f.sim.set_faults(faults);
  f.sim.inject_call({176125, "OUTGOING", 3});
  CHECK(rx.wait_for(1, 500ms).empty());
  CHECK(f.sim.stats().pushes_dropped == 1);

  faults = {};
  faults.push_duplicate_ratio = 1;
  f.sim.set_faults(faults);
  f.sim.inject_call({176125, "OUTGOING", 3});
  const auto bodies = rx.wait_for(2);
  REQUIRE(bodies.size() == 2);
  CHECK(bodies[0] == bodies[1]);
  // The second send is counted once it has returned, which may be after the body arrived.
  CHECK(vpbx::test::wait_until([&] { return f.sim.stats().pushes_sent == 2; }));
  const auto s = f.sim.stats();
  CHECK(s.pushes_duplicated == 1);
  CHECK(s.pushes_sent == 2);

  // Latency is added; a hanging request is released by stop().
  faults = {};
  faults.latency = 300ms;
  f.sim.set_faults(faults);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(f.api("GET", "v1/system/server").status == 200);
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
}

TEST_CASE("faults: feature PUTs refused with the platform's answer, nothing changed",
          "[simulator]") {
  Fixture f;
  f.sim.set_feature_status(176125, "CENTRAL_DND", false);
  const std::string before = f.api("GET", "v1/feat/2898089").body;
  auto body = parse(before);
  body["feature"]["status"].SetString("ACTIVE");
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  body["feature"].Accept(writer);
  const std::string put = buffer.GetString();

  // Set over /_sim/ as every other fault; read back there too.
  REQUIRE(f.control("POST", "faults", R"({"feature_put_reject_ratio":1})").status == 200);
  CHECK_THAT(f.control("GET", "faults").body, Catch::Contains("\"feature_put_reject_ratio\" : 1"));
  const auto refused = f.api("PUT", "v1/feat/2898089", put);
  CHECK(refused.status == 400);
  const auto answer = parse(refused.body);
  CHECK(std::string(answer["message"].GetString()) ==
        "Feature 2898089 cannot be modified: locked at enterprise level");
  CHECK(f.api("GET", "v1/feat/2898089").body == before);
  CHECK(f.api("GET", "v1/system/server").status == 200);  // only feature PUTs are refused
  CHECK(f.control("POST", "faults", R"({"feature_put_reject_ratio":2})").status == 400);

  REQUIRE(f.control("POST", "faults", R"({"feature_put_reject_ratio":0})").status == 200);
  CHECK(f.api("PUT", "v1/feat/2898089", put).status == 200);
  CHECK_THAT(f.api("GET", "v1/feat/2898089").body, Catch::Contains("\"status\" : \"ACTIVE\""));
}

TEST_CASE("hanging requests are interrupted by stop()", "[simulator]") {
  vpbx::sim::Options o;
  o.faults.hang_ratio = 1;
  o.faults.hang_duration = 60s;
  vpbx::sim::Simulator sim(o);
  sim.start();
  std::thread client([&] {
    HttpOptions h;
    h.timeout_ms = 20000;
    http_request(sim.base_url() + "v1/system/server", h);
  });
  CHECK(vpbx::test::wait_until([&] { return sim.stats().max_concurrent_requests == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  sim.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  client.join();
}

TEST_CASE("truth counts injected calls, control over /_sim/", "[simulator]") {
  Fixture f(options_with(5));
  f.sim.inject_call({176125, "OUTGOING", 30});
  f.sim.inject_call({176125, "INCOMING", 0});
  auto r = f.control("POST", "calls",
                     "{\"userId\": 176129, \"direction\": \"INCOMING\", "
                     "\"duration\": 12}");
  REQUIRE(r.status == 200);
  CHECK(std::string(parse(r.body)["id"].GetString()).size() == 36);
  CHECK(f.control("POST", "calls", "{\"userId\": 5}").status == 404);
  CHECK(f.control("POST", "calls", "{\"userId\": 176125, \"direction\": \"UP\"}").status == 400);
  CHECK(f.control("POST", "features",
                  "{\"userId\": 176133, \"featName\": \"CENTRAL_DND\", "
                  "\"status\": \"ACTIVE\"}")
            .status == 200);
  CHECK(f.control("POST", "presence", "{\"userId\": 176133, \"status\": \"OFFLINE\"}").status ==
        200);

  const auto truth = f.sim.truth();
  REQUIRE(truth.size() == 4);
  CHECK(truth[0].user_id == 176125);
  CHECK(truth[0].login == "+41225662194@m.ipvoip.ch");
  CHECK(truth[0].number == "+41225662194");
  CHECK(truth[0].enterprise == "291908.bus.ent");
  CHECK(truth[0].calls == 2);  // history excluded
  CHECK(truth[0].answered == 1);
  CHECK(truth[0].calls_by_direction.at("OUTGOING") == 1);
  CHECK(truth[0].duration_seconds == 30);
  CHECK(truth[1].calls == 1);
  CHECK(truth[1].calls_by_direction.at("INCOMING") == 1);
  CHECK(truth[2].features.at("CENTRAL_DND") == "ACTIVE");
  CHECK(truth[2].presence == "OFFLINE");
  CHECK(truth[2].features.size() == 19);

  const auto t = parse(f.control("GET", "truth").body);
  CHECK(t["users"][0]["calls"].GetUint64() == 2);
  CHECK(std::string(t["users"][2]["presence"].GetString()) == "OFFLINE");

  r = f.control("POST", "faults", "{\"api_error_ratio\": 1, \"latency\": \"10ms\"}");
  REQUIRE(r.status == 200);
  CHECK(f.api("GET", "v1/system/server").status >= 429);
  CHECK(f.control("POST", "faults", "{\"api_error_ratio\": 0, \"latency\": 0}").status == 200);
  CHECK(f.api("GET", "v1/system/server").status == 200);
  CHECK(f.control("POST", "faults", "{\"api_error_ratio\": 2}").status == 400);

  const auto csv = f.sim.users_csv();
  CHECK(csv.rfind("enterpriseNames,userIds,loginNames,phone_num,name\n291908.bus.ent,176125,"
                  "+41225662194@m.ipvoip.ch,+41225662194,",
                  0) == 0);
  const auto s = parse(f.control("GET", "stats").body);
  CHECK(s["apiRequests"].GetUint64() >= 2);
  CHECK(s["requestsByRoute"]["GET v1/system/server"].GetUint64() >= 2);

  const std::string id = parse(f.api("POST", "v1/subscriptions",
                                     subscription_body("PRESENCE", "http://127.0.0.1:1/", ""))
                                   .body)["subscription"]["id"]
                             .GetString();
  CHECK(f.control("DELETE", std::string("subscriptions/") + id).status == 204);
  CHECK(f.control("DELETE", std::string("subscriptions/") + id).status == 404);
}

TEST_CASE("stats count TCP connections, not requests", "[simulator]") {
  Fixture f;
  f.sim.reset_stats();
  CURL* curl = curl_easy_init();
  curl_slist* headers =
      curl_slist_append(nullptr, (std::string("X-C5-Application: ") + kAppId).c_str());
  const std::string url = f.sim.base_url() + "v1/system/server";
  std::string sink;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_USERPWD, "openapi@291908.bus.ent:simulator-password");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(p, s * n);
        return s * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(curl_easy_perform(curl) == CURLE_OK);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    CHECK(code == 200);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  auto s = f.sim.stats();
  CHECK(s.api_requests == 2);
  CHECK(s.connections_accepted == 1);
  CHECK(s.requests_by_route["GET v1/system/server"] == 2);
  CHECK(s.max_requests_per_second >= 2);
  CHECK(s.max_concurrent_requests == 1);

  f.api("GET", "v1/system/server");  // a fresh connection each
  f.api("GET", "v1/system/server");
  s = f.sim.stats();
  CHECK(s.api_requests == 4);
  CHECK(s.connections_accepted == 3);
}

TEST_CASE("traffic generator: calls with presence and CDR pushes, feature toggles", "[simulator]") {
  auto o = options_with(0, 20);
  o.calls_per_second = 20;
  o.feature_toggles_per_second = 10;
  Fixture f(o);
  Receiver rx;
  subscribe(f, "CALL_LOG", rx.url(), "\"enterpriseNames\": [\"291908.bus.ent\"]");
  subscribe(f, "PRESENCE", rx.url(), "\"enterpriseNames\": [\"291908.bus.ent\"]");
  subscribe(f, "FEATURE", rx.url(), "");
  int calls = 0, presence = 0, features = 0;
  std::uint64_t truth_calls = 0;
  const auto count = [&] {
    calls = presence = features = 0;
    for (const auto& b : rx.bodies()) {
      const auto d = parse(b);
      calls += d.HasMember("callLogEvents");
      presence += d.HasMember("presenceEvents");
      features += d.HasMember("featureEvents");
    }
    truth_calls = 0;
    for (auto t : f.sim.truth()) truth_calls += t.calls;
    return truth_calls > 20 && calls > 10 && presence >= calls && features > 5;
  };
  // About 4 s of traffic at these rates; longer where the machine is slow.
  vpbx::test::wait_until(count, std::chrono::seconds(60));
  f.sim.stop();
  count();
  for (auto t : f.sim.truth()) {
    CHECK(t.calls == t.calls_by_direction["INCOMING"] + t.calls_by_direction["OUTGOING"]);
  }
  CHECK(truth_calls > 20);
  CHECK(calls > 10);
  CHECK(presence >= calls);
  CHECK(features > 5);
}
