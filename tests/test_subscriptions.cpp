// The subscription manager against the in-process simulator: created with the right scopes,
// adopted, duplicates deleted, renewed make-before-break (seen in a recording proxy's request
// log), recreated after the platform forgets one, re-scoped, batched within bulkLimitCommon,
// deleted or kept on shutdown; foreign subscriptions untouched. Then the pure planning functions
// and PushHealth with an injected clock.
#include <civetweb.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>

#include "exporter/api/client.h"
#include "exporter/api/rate_limiter.h"
#include "exporter/subscriptions/manager.h"
#include "exporter/subscriptions/plan.h"
#include "exporter/subscriptions/push_health.h"
#include "simulator/simulator.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"

using namespace std::chrono_literals;
using namespace vpbx::subscriptions;
using vpbx::api::Subscription;
using vpbx::test::sample_value;

namespace {

constexpr const char* kForeignUrl = "http://198.51.100.7/other-integration";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Waits until `done` holds; generous, since sanitizer builds are slow.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds timeout = 30s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

// Forwards to the simulator and records each request in order, with the answer's body: the
// order of POSTs and DELETEs is what make-before-break is about.
class RecordingProxy {
 public:
  struct Entry {
    std::string method;
    std::string uri;
    std::string request_body;
    long status = 0;
    std::string response_body;
  };

  explicit RecordingProxy(std::string target) : target_(std::move(target)) {
    const char* options[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4", nullptr};
    mg_callbacks callbacks{};
    ctx_ = mg_start(&callbacks, this, options);
    REQUIRE(ctx_ != nullptr);
    mg_set_request_handler(ctx_, "/", &RecordingProxy::handle, this);
    mg_server_port ports[4];
    REQUIRE(mg_get_server_ports(ctx_, 4, ports) >= 1);
    port_ = ports[0].port;
  }
  ~RecordingProxy() { mg_stop(ctx_); }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/openapi/"; }
  std::vector<Entry> log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }

 private:
  static int handle(mg_connection* conn, void* self_ptr) {
    auto* self = static_cast<RecordingProxy*>(self_ptr);
    const mg_request_info* info = mg_get_request_info(conn);
    Entry e;
    e.method = info->request_method ? info->request_method : "";
    e.uri = info->local_uri ? info->local_uri : "";
    vpbx::test::HttpOptions options;
    options.method = e.method;
    for (int i = 0; i < info->num_headers; ++i) {
      const std::string name = info->http_headers[i].name;
      if (name == "Authorization" || name == "X-C5-Application" || name == "Content-Type") {
        options.headers.push_back(name + ": " + info->http_headers[i].value);
      }
    }
    char buf[4096];
    for (int n; (n = mg_read(conn, buf, sizeof buf)) > 0;) {
      e.request_body.append(buf, static_cast<size_t>(n));
    }
    options.body = e.request_body;
    std::string url = self->target_ + e.uri;
    if (info->query_string) url += std::string("?") + info->query_string;
    const auto reply = vpbx::test::http_request(url, options);
    e.status = reply.status;
    e.response_body = reply.body;
    {
      std::lock_guard lock(self->mutex_);
      self->log_.push_back(e);
    }
    const long status = reply.status ? reply.status : 502;
    std::string head = "HTTP/1.1 " + std::to_string(status) +
                       " Proxied\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(reply.body.size()) + "\r\n\r\n";
    mg_write(conn, head.data(), head.size());
    mg_write(conn, reply.body.data(), reply.body.size());
    return static_cast<int>(status);
  }

  std::string target_;  // "http://127.0.0.1:PORT"
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<Entry> log_;
};

vpbx::sim::Options sim_options(int users = 4, int enterprises = 1) {
  vpbx::sim::Options o;
  o.users_per_enterprise = users;
  o.enterprises = enterprises;
  return o;
}

// A simulator, an exporter-side client, metrics and push health, the users the manager sees.
struct Fixture {
  vpbx::sim::Simulator sim;
  vpbx::config::Config config;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<SubscriptionMetrics> metrics = std::make_shared<SubscriptionMetrics>(*registry);
  std::shared_ptr<PushHealth> health;
  std::unique_ptr<vpbx::api::Client> client;  // to the simulator, for setup and checks
  mutable std::mutex users_mutex;
  std::vector<vpbx::config::User> users;

  explicit Fixture(vpbx::sim::Options options = sim_options()) : sim(options) {
    sim.start();
    config.api.url = sim.base_url();
    config.api.username = options.username;
    config.api.password = options.password;
    config.api.application_id = options.application_id;
    config.api.max_requests_per_second = 200;
    config.api.max_retries = 0;
    config.webhook.public_url = "http://127.0.0.1:9/webhook/{token}";
    config.webhook.token = "tok3n";
    config.subscriptions.manage = true;
    config.subscriptions.ttl = 1h;
    config.subscriptions.renew_before = 10min;
    for (const auto& t : sim.truth())
      users.push_back({t.enterprise, t.user_id, t.login, t.number, ""});
    health = std::make_shared<PushHealth>(managed_types(config), 2min);
    client = make_client(config.api);
  }
  ~Fixture() { sim.stop(); }

  static std::unique_ptr<vpbx::api::Client> make_client(const vpbx::config::ApiConfig& api) {
    return std::make_unique<vpbx::api::Client>(
        api, nullptr,
        std::make_shared<vpbx::api::RateLimiter>(api.max_requests_per_second,
                                                 api.max_concurrent_requests));
  }

  std::string our_url() const { return vpbx::config::notification_url(config.webhook); }

  Manager::UsersFn users_fn() {
    return [this] {
      std::lock_guard lock(users_mutex);
      return users;
    };
  }

  std::vector<Subscription> all() const {
    auto r = client->list_subscriptions();
    REQUIRE(r.ok());
    return *r.value;
  }
  std::vector<Subscription> ours(const std::string& type = "") const {
    std::vector<Subscription> out;
    for (auto& s : all()) {
      if (s.notification_url == our_url() && (type.empty() || s.resource_type == type)) {
        out.push_back(s);
      }
    }
    return out;
  }

  Subscription create(const std::string& type, const std::string& url,
                      std::vector<std::int64_t> ids, std::vector<std::string> enterprises = {},
                      std::chrono::milliseconds ttl = 1h) {
    vpbx::api::SubscriptionRequest r;
    r.resource_type = type;
    r.notification_url = url;
    r.user_ids = std::move(ids);
    r.enterprise_names = std::move(enterprises);
    r.expires = vpbx::api::format_iso8601_ms(now_ms() + ttl.count());
    auto created = client->create_subscription(r);
    REQUIRE(created.ok());
    return *created.value;
  }

  // One foreign subscription per type, two of them with the very scope the manager wants.
  std::vector<Subscription> create_foreign() {
    std::vector<Subscription> out;
    out.push_back(create("CALL_LOG", kForeignUrl, all_ids()));
    out.push_back(create("FEATURE", kForeignUrl, {}, {"291908.bus.ent"}));
    out.push_back(create("PRESENCE", kForeignUrl, {users.front().user_id}));
    out.push_back(create("CALL_LOG", kForeignUrl + std::string("/"), all_ids()));  // near miss
    return out;
  }
  void check_foreign_untouched(const std::vector<Subscription>& foreign) const {
    const auto now = all();
    for (const auto& f : foreign) {
      const auto it =
          std::find_if(now.begin(), now.end(), [&](const Subscription& s) { return s.id == f.id; });
      REQUIRE(it != now.end());
      CHECK(it->expires == f.expires);
      CHECK(it->notification_url == f.notification_url);
    }
  }

  std::vector<std::int64_t> all_ids() const {
    std::vector<std::int64_t> ids;
    for (const auto& u : users) ids.push_back(u.user_id);
    return ids;
  }

  std::set<std::int64_t> id_set() const {
    const auto ids = all_ids();
    return {ids.begin(), ids.end()};
  }

  std::uint64_t route(const std::string& key) const {
    const auto stats = sim.stats();
    const auto it = stats.requests_by_route.find(key);
    return it == stats.requests_by_route.end() ? 0 : it->second;
  }

  std::string exposition() const {
    auto families = registry->Collect();
    for (auto& f : health->Collect()) families.push_back(std::move(f));
    return prometheus::TextSerializer().Serialize(families);
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels) const {
    const auto v = sample_value(exposition(), name, labels);
    REQUIRE(v.has_value());
    return *v;
  }
  double ops(const std::string& operation, const std::string& outcome) const {
    return metric("vpbx_subscription_operations_total",
                  {{"operation", operation}, {"outcome", outcome}});
  }

  ManagerOptions fast_options() const {
    ManagerOptions o;
    o.rescope_delay = 0ms;
    o.missed_recheck_gap = 0ms;
    o.backoff_base = 50ms;
    o.backoff_max = 500ms;
    return o;
  }
};

std::set<std::int64_t> ids_of(const std::vector<Subscription>& subs) {
  std::set<std::int64_t> ids;
  for (const auto& s : subs) ids.insert(s.user_ids.begin(), s.user_ids.end());
  return ids;
}

std::size_t count_ours(const Fixture& f, const std::string& type) {
  return f.ours(type).size();
}

bool settled(const Fixture& f, std::size_t expected) {
  return f.ours().size() == expected;
}

}  // namespace

// ------------------------------------------------------------------ against the simulator

TEST_CASE("one subscription per type, scoped and pointed at our webhook", "[subscriptions]") {
  Fixture f;
  f.config.enterprises = {"291908.bus.ent"};
  const auto foreign = f.create_foreign();
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  REQUIRE(eventually([&] { return settled(f, 3) && manager.status().size() == 3; }));

  const auto call_logs = f.ours("CALL_LOG");
  REQUIRE(call_logs.size() == 1);
  CHECK(ids_of(call_logs) == f.id_set());
  CHECK(call_logs[0].enterprise_names.empty());
  CHECK(call_logs[0].notification_url == "http://127.0.0.1:9/webhook/tok3n");

  const auto features = f.ours("FEATURE");
  REQUIRE(features.size() == 1);
  CHECK(features[0].enterprise_names == std::vector<std::string>{"291908.bus.ent"});
  CHECK(features[0].user_ids.empty());
  CHECK(features[0].resource_names.empty());

  const auto presence = f.ours("PRESENCE");
  REQUIRE(presence.size() == 1);
  CHECK(ids_of(presence).size() == f.users.size());

  // expires = now + ttl (the simulator keeps whole seconds).
  for (const auto& s : f.ours()) {
    CHECK(s.expires_epoch_ms > now_ms() + 50 * 60 * 1000);
    CHECK(s.expires_epoch_ms <= now_ms() + 60 * 60 * 1000);
  }
  for (const auto& st : manager.status()) {
    CHECK_FALSE(st.adopted);
    CHECK_FALSE(st.scope.empty());
  }

  SECTION("metrics and push health") {
    REQUIRE(eventually([&] { return f.ops("create", "success") == 3; }));
    CHECK(f.ops("create", "failure") == 0);
    CHECK(f.ops("list", "success") >= 1);
    CHECK(f.ops("renew", "success") == 0);
    CHECK(f.ops("delete", "success") == 0);
    for (const std::string type : {"CALL_LOG", "FEATURE", "PRESENCE"}) {
      CHECK(f.metric("vpbx_subscription_active", {{"resource_type", type}}) == 1);
      const double expiry =
          f.metric("vpbx_subscription_expiry_timestamp_seconds", {{"resource_type", type}});
      CHECK(expiry == static_cast<double>(f.ours(type).front().expires_epoch_ms) / 1000.0);
      CHECK(f.metric("vpbx_push_healthy", {{"resource_type", type}}) == 1);
      CHECK(f.health->healthy(type));
    }
  }

  manager.stop();
  CHECK(f.ours().empty());
  f.check_foreign_untouched(foreign);
  CHECK(f.metric("vpbx_subscription_active", {{"resource_type", "CALL_LOG"}}) == 0);
  CHECK(f.metric("vpbx_subscription_expiry_timestamp_seconds", {{"resource_type", "CALL_LOG"}}) ==
        0);
  CHECK(f.ops("delete", "success") == 3);
  CHECK_FALSE(f.health->healthy("CALL_LOG"));
}

TEST_CASE("scopes: enterprise for FEATURE, userIds else, loginNames without an id",
          "[subscriptions]") {
  Fixture f(sim_options(2, 2));  // 291908.bus.ent and 291909.bus.ent, two users each
  f.config.enterprises = {"291908.bus.ent"};
  f.config.features.include = {"CENTRAL_DND", "CALL_FORWARD_UNCONDITIONAL"};
  f.users.push_back({"291910.bus.ent", 0, "+41225669999@m.ipvoip.ch", "", ""});
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  // FEATURE: enterprise + userIds of the other enterprise + login; CALL_LOG, PRESENCE: ids + login.
  REQUIRE(eventually([&] { return settled(f, 7); }));

  std::vector<std::int64_t> outside;
  for (const auto& u : f.users) {
    if (u.enterprise == "291909.bus.ent") outside.push_back(u.user_id);
  }
  int enterprise_scoped = 0, id_scoped = 0, login_scoped = 0;
  for (const auto& s : f.ours("FEATURE")) {
    CHECK(s.resource_names ==
          std::vector<std::string>{"CALL_FORWARD_UNCONDITIONAL", "CENTRAL_DND"});
    if (!s.enterprise_names.empty()) {
      ++enterprise_scoped;
      CHECK(s.enterprise_names == std::vector<std::string>{"291908.bus.ent"});
    }
    if (!s.user_ids.empty()) {
      ++id_scoped;
      CHECK(s.user_ids == outside);
    }
    if (!s.login_names.empty()) {
      ++login_scoped;
      CHECK(s.login_names == std::vector<std::string>{"+41225669999@m.ipvoip.ch"});
    }
  }
  CHECK((enterprise_scoped == 1 && id_scoped == 1 && login_scoped == 1));
  for (const std::string type : {"CALL_LOG", "PRESENCE"}) {
    const auto subs = f.ours(type);
    REQUIRE(subs.size() == 2);
    CHECK(ids_of(subs).size() == 4);
    for (const auto& s : subs) {
      CHECK(s.enterprise_names.empty());
      CHECK(s.resource_names.empty());
    }
  }
  manager.stop();
  CHECK(f.ours().empty());
}

TEST_CASE("a sharded replica scopes every type by its own users' ids, FEATURE too",
          "[subscriptions][shard]") {
  Fixture f(sim_options(6));
  f.config.enterprises = {"291908.bus.ent"};
  f.config.shard = {1, 2, {}};
  // The store hands the manager only the shard's users.
  std::erase_if(f.users, [](const auto& u) { return vpbx::config::shard_of(u.user_id, 2) != 1; });
  REQUIRE_FALSE(f.users.empty());
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  REQUIRE(eventually([&] { return settled(f, 3); }));
  for (const std::string type : {"CALL_LOG", "FEATURE", "PRESENCE"}) {
    INFO(type);
    const auto subs = f.ours(type);
    REQUIRE(subs.size() == 1);
    // An enterpriseNames scope would make the platform push every event to every shard.
    CHECK(subs.front().enterprise_names.empty());
    CHECK(ids_of(subs) == f.id_set());
  }
  manager.stop();
  CHECK(f.ours().empty());
}

TEST_CASE("adopts a subscription of ours instead of creating another", "[subscriptions]") {
  Fixture f;
  f.config.subscriptions.resource_types = {"CALL_LOG", "PRESENCE"};
  const auto existing = f.create("CALL_LOG", f.our_url(), f.all_ids());
  const auto posts_before = f.route("POST v1/subscriptions");
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  REQUIRE(eventually([&] { return settled(f, 2) && manager.status().size() == 2; }));
  const auto call_logs = f.ours("CALL_LOG");
  REQUIRE(call_logs.size() == 1);
  CHECK(call_logs[0].id == existing.id);
  CHECK(f.route("POST v1/subscriptions") == posts_before + 1);  // PRESENCE only
  for (const auto& st : manager.status()) CHECK(st.adopted == (st.id == existing.id));

  manager.stop();  // adopted ones go too
  CHECK(f.ours().empty());
}

TEST_CASE("deletes our duplicates, keeping the one expiring last", "[subscriptions]") {
  Fixture f;
  f.config.subscriptions.resource_types = {"CALL_LOG"};
  const auto foreign = f.create_foreign();
  const auto early = f.create("CALL_LOG", f.our_url(), f.all_ids(), {}, 1h);
  const auto late = f.create("CALL_LOG", f.our_url(), f.all_ids(), {}, 2h);
  const auto part = f.create("CALL_LOG", f.our_url(), {f.users.front().user_id}, {}, 90min);
  const auto posts_before = f.route("POST v1/subscriptions");

  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  REQUIRE(eventually([&] { return settled(f, 1); }));
  CHECK(f.ours().front().id == late.id);
  CHECK(f.route("POST v1/subscriptions") == posts_before);
  REQUIRE(eventually([&] { return f.ops("delete", "success") == 2; }));
  f.check_foreign_untouched(foreign);

  SECTION("kept on shutdown with keep_on_shutdown") {
    f.config.subscriptions.keep_on_shutdown = true;
    Manager keeper(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
    manager.stop(StopMode::handover);  // the next manager adopts it, as after a reload
    CHECK(f.ours().size() == 1);
    keeper.start();
    REQUIRE(eventually([&] { return keeper.status().size() == 1; }));
    CHECK(keeper.status().front().id == late.id);
    CHECK(keeper.status().front().adopted);
    keeper.stop();
    CHECK(f.ours().size() == 1);
    CHECK(f.ours().front().id == late.id);
  }
  SECTION("deleted on shutdown") {
    manager.stop();
    CHECK(f.ours().empty());
  }
  f.check_foreign_untouched(foreign);
}

TEST_CASE("renews before expiry: the new one is created before the old one is deleted",
          "[subscriptions]") {
  Fixture f;
  RecordingProxy proxy("http://127.0.0.1:" + std::to_string(f.sim.port()));
  const auto foreign = f.create_foreign();
  auto config = f.config;
  config.api.url = proxy.base_url();
  config.subscriptions.ttl = 4s;
  config.subscriptions.renew_before = 2s;
  auto client = Fixture::make_client(config.api);
  auto options = f.fast_options();
  options.recheck_interval = 1h;  // renewals alone drive it
  Manager manager(config, *client, f.users_fn(), f.metrics, f.health, options);
  manager.start();
  REQUIRE(eventually([&] { return settled(f, 3) && manager.status().size() == 3; }));
  std::set<std::string> first;
  for (const auto& st : manager.status()) first.insert(st.id);

  // Each type renewed at least once: three deletes of first-generation ids.
  REQUIRE(eventually([&] {
    int deleted = 0;
    for (const auto& e : proxy.log()) {
      if (e.method == "DELETE" && first.count(e.uri.substr(e.uri.rfind('/') + 1))) ++deleted;
    }
    return deleted == 3;
  }));
  const auto log = proxy.log();
  std::map<std::string, std::pair<std::size_t, std::string>> created;  // id -> (index, type)
  int checked = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const auto& e = log[i];
    if (e.method == "POST" && e.status == 200) {
      const auto s = vpbx::api::parse_subscription(e.response_body);
      REQUIRE(s.has_value());
      created[s->id] = {i, s->resource_type};
    } else if (e.method == "DELETE") {
      const std::string id = e.uri.substr(e.uri.rfind('/') + 1);
      REQUIRE(created.count(id));  // only ours: foreign ids never appear
      const auto [at, type] = created[id];
      // A successor of the same type was created after it and before this delete.
      const bool successor = std::any_of(created.begin(), created.end(), [&](const auto& c) {
        return c.first != id && c.second.second == type && c.second.first > at &&
               c.second.first < i;
      });
      CHECK(successor);
      ++checked;
    }
  }
  CHECK(checked >= 3);
  for (const auto& st : manager.status()) CHECK_FALSE(first.count(st.id));
  REQUIRE(eventually([&] { return f.ops("renew", "success") >= 3; }));
  f.check_foreign_untouched(foreign);

  manager.stop();
  CHECK(f.ours().empty());
  f.check_foreign_untouched(foreign);
}

TEST_CASE("recreates a subscription the platform lost", "[subscriptions]") {
  Fixture f;
  auto options = f.fast_options();
  SECTION("noticed at the periodic re-list") {
    options.recheck_interval = 300ms;
  }
  SECTION("noticed early when polling finds data push missed") {
    options.recheck_interval = 1h;
  }
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, options);
  manager.start();
  REQUIRE(eventually([&] { return settled(f, 3) && manager.status().size() == 3; }));
  const auto lost = f.ours("CALL_LOG").front();
  REQUIRE(f.sim.forget_subscription(lost.id));
  if (options.recheck_interval == 1h) f.health->poll_found_missed("CALL_LOG");
  REQUIRE(eventually([&] {
    const auto now = f.ours("CALL_LOG");
    return now.size() == 1 && now.front().id != lost.id;
  }));
  CHECK(ids_of(f.ours("CALL_LOG")).size() == f.users.size());
  REQUIRE(eventually([&] {
    for (const auto& st : manager.status()) {
      if (st.id == lost.id) return false;
    }
    return manager.status().size() == 3;
  }));
  manager.stop();
  CHECK(f.ours().empty());
}

TEST_CASE("re-scopes when the users change, make before break", "[subscriptions]") {
  Fixture f(sim_options(5));
  f.config.subscriptions.resource_types = {"CALL_LOG"};
  const auto fifth = f.users.back();
  f.users.pop_back();
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  REQUIRE(eventually([&] { return settled(f, 1); }));
  const auto original = f.ours().front();
  CHECK(original.user_ids.size() == 4);

  {
    std::lock_guard lock(f.users_mutex);
    f.users.push_back(fifth);
  }
  manager.users_changed();
  // The new user gets a subscription of its own; the existing one stays.
  REQUIRE(eventually([&] { return ids_of(f.ours()).size() == 5; }));
  CHECK(f.ours().size() == 2);
  const auto grown = f.ours();
  CHECK(std::any_of(grown.begin(), grown.end(),
                    [&](const Subscription& s) { return s.id == original.id; }));

  {
    std::lock_guard lock(f.users_mutex);
    f.users.erase(f.users.begin());  // one of the original's users leaves
  }
  manager.users_changed();
  REQUIRE(eventually([&] {
    const auto now = f.ours();
    return ids_of(now).size() == 4 && !ids_of(now).count(original.user_ids.front());
  }));
  const auto now = f.ours();
  CHECK(std::none_of(now.begin(), now.end(),
                     [&](const Subscription& s) { return s.id == original.id; }));
  manager.stop();
  CHECK(f.ours().empty());
}

TEST_CASE("batches within bulkLimitCommon", "[subscriptions]") {
  auto options = sim_options(5);
  options.bulk_limit_common = "2";
  Fixture f(options);
  f.config.subscriptions.resource_types = {"CALL_LOG"};
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  REQUIRE(eventually([&] { return settled(f, 3); }));
  const auto subs = f.ours("CALL_LOG");
  for (const auto& s : subs) CHECK(s.user_ids.size() <= 2);
  CHECK(ids_of(subs) == f.id_set());
  CHECK(count_ours(f, "CALL_LOG") == 3);
  manager.stop();
  CHECK(f.ours().empty());
}

TEST_CASE("retries with backoff while the API fails", "[subscriptions]") {
  Fixture f;
  f.config.subscriptions.resource_types = {"CALL_LOG"};
  vpbx::sim::Faults faults;
  faults.api_error_ratio = 1.0;
  f.sim.set_faults(faults);
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  REQUIRE(eventually([&] { return f.ops("list", "failure") >= 2; }));
  CHECK(f.metric("vpbx_subscription_active", {{"resource_type", "CALL_LOG"}}) == 0);
  CHECK_FALSE(f.health->healthy("CALL_LOG"));
  f.sim.set_faults({});
  REQUIRE(eventually([&] { return f.health->healthy("CALL_LOG"); }));
  CHECK(f.ours().size() == 1);
  manager.stop();
  CHECK(f.ours().empty());
}

TEST_CASE("does nothing when management is off", "[subscriptions]") {
  Fixture f;
  f.config.subscriptions.manage = false;
  const auto before = f.sim.stats().api_requests;
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, f.fast_options());
  manager.start();
  std::this_thread::sleep_for(200ms);
  manager.stop();
  CHECK_FALSE(manager.enabled());
  CHECK(f.sim.stats().api_requests == before);
  CHECK(manager.status().empty());
}

// ------------------------------------------------------------------ planning, no I/O

TEST_CASE("plan: wanted scope per type", "[subscriptions]") {
  const std::vector<vpbx::config::User> users{{"a.bus.ent", 1, "1@x", "", ""},
                                              {"b.bus.ent", 2, "2@x", "", ""},
                                              {"b.bus.ent", 0, "3@x", "", ""}};
  const auto feature = wanted_scope("FEATURE", {"a.bus.ent"}, users, {"DND", "CFU", "DND"});
  CHECK(feature.items == Items{"e:a.bus.ent", "u:2", "l:3@x"});
  CHECK(feature.resource_names == std::vector<std::string>{"CFU", "DND"});
  const auto call_log = wanted_scope("CALL_LOG", {"a.bus.ent"}, users, {"DND"});
  CHECK(call_log.items == Items{"u:1", "u:2", "l:3@x"});
  CHECK(call_log.resource_names.empty());
  CHECK(supports_enterprise_scope("FEATURE"));
  CHECK_FALSE(supports_enterprise_scope("CALL_LOG"));
  CHECK_FALSE(supports_enterprise_scope("PRESENCE"));
}

TEST_CASE("plan: keep, renew, duplicates, batches", "[subscriptions]") {
  const std::int64_t now = 1'000'000'000;
  Wanted wanted;
  for (int id = 1; id <= 5; ++id) wanted.items.insert("u:" + std::to_string(id));
  auto sub = [&](std::string id, std::vector<std::int64_t> users, std::int64_t expires) {
    Subscription s;
    s.id = std::move(id);
    s.resource_type = "CALL_LOG";
    s.user_ids = std::move(users);
    s.expires_epoch_ms = expires;
    return s;
  };

  SECTION("nothing yet: batches of the limit") {
    const auto plan = plan_type("CALL_LOG", wanted, {}, now, 1000, 2);
    REQUIRE(plan.create.size() == 3);
    CHECK(plan.create[0].request.user_ids == std::vector<std::int64_t>{1, 2});
    CHECK(plan.create[2].request.user_ids == std::vector<std::int64_t>{5});
    CHECK_FALSE(plan.create[0].renewal);
  }
  SECTION("the one expiring last wins; the others go") {
    const auto plan = plan_type("CALL_LOG", wanted,
                                {sub("a", {1, 2, 3, 4, 5}, now + 5000),
                                 sub("b", {1, 2, 3, 4, 5}, now + 9000), sub("c", {1}, now + 7000)},
                                now, 1000, 100);
    REQUIRE(plan.keep.size() == 1);
    CHECK(plan.keep[0].id == "b");
    CHECK(plan.create.empty());
    CHECK(plan.remove.size() == 2);
  }
  SECTION("due for renewal: replaced, marked as a renewal") {
    const auto plan =
        plan_type("CALL_LOG", wanted,
                  {sub("a", {1, 2, 3}, now + 500), sub("b", {4, 5}, now + 9000)}, now, 1000, 100);
    REQUIRE(plan.keep.size() == 1);
    REQUIRE(plan.create.size() == 1);
    CHECK(plan.create[0].request.user_ids == std::vector<std::int64_t>{1, 2, 3});
    CHECK(plan.create[0].renewal);
    REQUIRE(plan.remove.size() == 1);
    CHECK(plan.remove[0].id == "a");
    CHECK(still_needed(plan.remove[0], wanted) == Items{"u:1", "u:2", "u:3"});
  }
  SECTION("out of scope or too large: replaced") {
    const auto plan =
        plan_type("CALL_LOG", wanted,
                  {sub("a", {1, 2, 9}, now + 9000), sub("b", {3, 4, 5}, now + 9000)}, now, 1000, 2);
    CHECK(plan.keep.empty());
    CHECK(plan.remove.size() == 2);
    CHECK(plan.create.size() == 3);
  }
  SECTION("an unscoped one covers everyone until replaced") {
    const auto unscoped = sub("a", {}, now + 9000);
    CHECK(still_needed(unscoped, wanted) == wanted.items);
    CHECK(describe_scope(unscoped) == "everyone");
  }
  CHECK(describe_scope(sub("x", {1, 2, 3, 4, 5}, 0)) == "userIds=1,2,3,… (5)");
}

TEST_CASE("plan: the seed's list, ours picked by notificationUrl", "[subscriptions]") {
  std::ifstream in(std::string(VPBX_TEST_DATA_DIR) + "/subscriptions/seed_list.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto listed = vpbx::api::parse_subscriptions(text);
  REQUIRE(listed.has_value());
  REQUIRE(listed->size() == 3);
  CHECK(items_of((*listed)[0]) == Items{"u:168382", "u:168386", "u:168390"});

  vpbx::config::WebhookConfig webhook;
  webhook.public_url = "https://exporter.example.com/webhook/{token}";
  webhook.token = "s3cr3t";
  std::vector<Subscription> ours;
  for (const auto& s : *listed) {
    if (s.notification_url == vpbx::config::notification_url(webhook)) ours.push_back(s);
  }
  REQUIRE(ours.size() == 2);  // the recovery.ipvoip.ch one is someone else's

  const auto wanted = wanted_scope("FEATURE", {"431569.bus.ent"},
                                   {{"431570.bus.ent", 0, "+41215776366@m.ipvoip.ch", "", ""}}, {});
  const auto now = vpbx::api::parse_iso8601_ms("2024-11-05T00:00:00Z").value();
  const auto plan = plan_type("FEATURE", wanted, ours, now, 2 * 3600 * 1000, 100);
  REQUIRE(plan.keep.size() == 1);
  CHECK(plan.keep[0].id == "fc544ab6-590f-43be-9134-d37d93a22e4e");
  // Filtered to two features, but every feature is wanted: replaced by an unfiltered one.
  REQUIRE(plan.remove.size() == 1);
  CHECK(plan.remove[0].id == "b014b9a4-99f8-4ef7-a83d-87d0606a6af5");
  REQUIRE(plan.create.size() == 1);
  CHECK(plan.create[0].request.login_names == std::vector<std::string>{"+41215776366@m.ipvoip.ch"});
  CHECK(plan.create[0].request.resource_names.empty());
  CHECK_FALSE(plan.create[0].renewal);
}

// ------------------------------------------------------------------ push health

TEST_CASE("push health: managed, active, missed within the window", "[subscriptions]") {
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  PushHealth health({"CALL_LOG", "PRESENCE"}, 2min, [&] { return now; });
  std::vector<std::string> missed;
  health.set_missed_listener([&](const std::string& type) { missed.push_back(type); });

  CHECK_FALSE(health.managed("FEATURE"));
  CHECK_FALSE(health.healthy("FEATURE"));
  CHECK(health.poll_interval("FEATURE", 5min, 1min) == 5min);  // unmanaged: normal pace

  CHECK(health.managed("CALL_LOG"));
  CHECK_FALSE(health.healthy("CALL_LOG"));  // no active subscription yet
  CHECK(health.poll_interval("CALL_LOG", 5min, 1min) == 1min);

  health.set_active("CALL_LOG", true);
  CHECK(health.healthy("CALL_LOG"));
  CHECK(health.poll_interval("CALL_LOG", 5min, 1min) == 5min);
  CHECK(health.poll_interval("CALL_LOG", 0min, 1min) == 0min);

  health.poll_found_missed("CALL_LOG");
  CHECK(missed == std::vector<std::string>{"CALL_LOG"});
  CHECK_FALSE(health.healthy("CALL_LOG"));
  CHECK(health.poll_interval("CALL_LOG", 5min, 1min) == 1min);
  now += 119s;
  health.push_received("CALL_LOG");  // one push does not cut the window short
  CHECK_FALSE(health.healthy("CALL_LOG"));
  now += 1s;
  CHECK(health.healthy("CALL_LOG"));
  CHECK(health.poll_interval("CALL_LOG", 5min, 1min) == 5min);

  health.set_active("CALL_LOG", false);
  CHECK_FALSE(health.healthy("CALL_LOG"));

  const std::string text = prometheus::TextSerializer().Serialize(health.Collect());
  CHECK(sample_value(text, "vpbx_push_healthy", {{"resource_type", "CALL_LOG"}}) == 0);
  CHECK(sample_value(text, "vpbx_push_healthy", {{"resource_type", "FEATURE"}}) == 0);
  health.set_active("PRESENCE", true);
  const std::string text2 = prometheus::TextSerializer().Serialize(health.Collect());
  CHECK(sample_value(text2, "vpbx_push_healthy", {{"resource_type", "PRESENCE"}}) == 1);

  health.configure({}, 2min);  // reload with manage: false
  CHECK_FALSE(health.managed("PRESENCE"));
  CHECK_FALSE(health.healthy("PRESENCE"));
  health.set_missed_listener({});
}

TEST_CASE("metrics are pre-created at 0", "[subscriptions]") {
  prometheus::Registry registry;
  SubscriptionMetrics metrics(registry);
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  for (const std::string op : {"list", "create", "delete", "renew"}) {
    for (const std::string outcome : {"success", "failure"}) {
      CHECK(sample_value(text, "vpbx_subscription_operations_total",
                         {{"operation", op}, {"outcome", outcome}}) == 0);
    }
  }
  for (const std::string type : {"CALL_LOG", "FEATURE", "PRESENCE"}) {
    CHECK(sample_value(text, "vpbx_subscription_active", {{"resource_type", type}}) == 0);
    CHECK(sample_value(text, "vpbx_subscription_expiry_timestamp_seconds",
                       {{"resource_type", type}}) == 0);
  }
}

// ------------------------------------------------------------------ measurement (hidden)

// The manager's own API use in steady state, in compressed time: ttl 24h, renew_before 2h and a
// re-list every 5 min keep their ratios (288 : 24 : 1) at 1/1200 of real time, so 3 s here are
// one hour there. 1,000 users in 10 enterprises. Run with: test_subscriptions "[measure]"
TEST_CASE("measure: the manager's requests per hour", "[.][measure]") {
  Fixture f(sim_options(100, 10));
  for (const auto& u : f.users) {
    if (std::find(f.config.enterprises.begin(), f.config.enterprises.end(), u.enterprise) ==
        f.config.enterprises.end()) {
      f.config.enterprises.push_back(u.enterprise);
    }
  }
  constexpr int kScale = 1200;
  f.config.subscriptions.ttl = std::chrono::duration_cast<std::chrono::milliseconds>(24h) / kScale;
  f.config.subscriptions.renew_before =
      std::chrono::duration_cast<std::chrono::milliseconds>(2h) / kScale;
  auto options = f.fast_options();
  options.recheck_interval = std::chrono::duration_cast<std::chrono::milliseconds>(5min) / kScale;
  Manager manager(f.config, *f.client, f.users_fn(), f.metrics, f.health, options);
  manager.start();
  REQUIRE(eventually([&] { return manager.status().size() == 21; }));  // 10 + 10 + 1
  f.sim.reset_stats();
  const int hours = 44;  // two renewal cycles of 22 h
  std::this_thread::sleep_for(std::chrono::milliseconds(3600 * 1000 / kScale) * hours);
  const auto stats = f.sim.stats();
  manager.stop(StopMode::handover);
  std::uint64_t total = 0;
  for (const auto& [route, n] : stats.requests_by_route) {
    WARN(route << ": " << n << " in " << hours << " h");
    total += n;
  }
  WARN("subscriptions: " << manager.status().size()
                         << ", requests per hour: " << static_cast<double>(total) / hours
                         << ", per user per hour: " << static_cast<double>(total) / hours / 1000.0);
}
