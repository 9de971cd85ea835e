#pragma once
// The webhook receiver: the platform POSTs its push bodies to {webhook.path}/{token}; each is
// checked (network, token, method, content type, size, shape), parsed and applied to the state
// store before the answer goes out. Both are in-memory and cheap, so the platform never waits on
// us; nothing here does I/O or logs at info per request.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "exporter/config/config.h"
#include "exporter/http/server.h"
#include "exporter/state/store.h"
#include "exporter/webhook/detail.h"

namespace vpbx::webhook {

// The resource types a push can carry, in label order; "unknown" holds bodies that were refused
// and *Events arrays of kinds we do not know.
inline constexpr std::array<std::string_view, 4> kResourceTypes{"CALL_LOG", "FEATURE", "PRESENCE",
                                                                "unknown"};
// The answers the receiver gives, pre-created at 0.
inline constexpr std::size_t kEventOutcomeCount = 6;  // state::EventOutcome's values
inline constexpr std::array<int, 9> kStatusCodes{200, 400, 403, 404, 405, 413, 415, 500, 503};

// Created once per process and shared by every Receiver, so that a reload keeps the counters.
class WebhookMetrics {
 public:
  explicit WebhookMetrics(prometheus::Registry& registry);

  void count_request(int code);
  void count_event(std::string_view resource_type, state::EventOutcome outcome);
  void mark_received(std::string_view resource_type, double unix_seconds);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Gauge>& last_event_;
  // Pre-created series, so that the hot path takes no family lock.
  std::array<prometheus::Counter*, kStatusCodes.size()> request_counters_{};
  std::array<std::array<prometheus::Counter*, kEventOutcomeCount>, kResourceTypes.size()>
      event_counters_{};
  std::array<prometheus::Gauge*, 3> last_event_gauges_{};
};

class Receiver {
 public:
  Receiver(const config::WebhookConfig& config, state::Store& store,
           std::shared_ptr<WebhookMetrics> metrics);
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  // On reload: requests after this call see the new token, networks and limits. A changed
  // webhook.path needs register_routes() again; the old path then answers 404.
  void reconfigure(const config::WebhookConfig& config);

  // Told the resource type of every accepted push (push health). Set before serving.
  void set_push_listener(std::function<void(const std::string&)> listener);
  // Asked before a push is applied: false while what is applied cannot be made durable (the
  // state journal cannot be written). The push is then answered 503 with Retry-After, so that
  // the platform sends it again. Set before serving.
  void set_durability_check(std::function<bool()> check);

  // Answers one request; never throws. 200 with an empty body once the push is applied.
  http::Response handle(const http::Request& request);

  // Registers handle() on `server` for the current path and everything below it, for every
  // method (the token is checked before the method), public (no basic auth). Does nothing when
  // the webhook is disabled (no token and no allow_unauthenticated) or the path is registered
  // already. The Receiver must outlive the server's use of the routes (stop the server first).
  void register_routes(http::Server& server);

 private:
  struct Settings {
    config::WebhookConfig config;
    std::vector<config::Network> allowed;
    std::vector<config::Network> trusted;
  };
  static std::shared_ptr<const Settings> make_settings(const config::WebhookConfig& config);
  std::shared_ptr<const Settings> settings() const;
  http::Response answer(const Settings& settings, const http::Request& request);
  http::Response refuse_body(std::string_view reason, const std::string& client);

  state::Store& store_;
  std::shared_ptr<WebhookMetrics> metrics_;
  mutable std::mutex settings_mutex_;
  std::shared_ptr<const Settings> settings_;
  std::mutex routes_mutex_;
  std::set<std::string> registered_paths_;
  detail::WarnLimiter warnings_;
  std::function<void(const std::string&)> push_listener_;
  std::function<bool()> durable_;
};

}  // namespace vpbx::webhook
