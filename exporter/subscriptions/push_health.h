#pragma once
// Push health per resource type, shared by the subscription manager (which reports whether a
// subscription is active), the webhook (pushes received) and the pollers (data that push missed).
// A type is healthy while it is managed, its subscriptions are active, and polling has not found,
// within the last `missed_window`, data that push never delivered. The pollers poll at their
// normal interval while healthy (or unmanaged) and at poll.fallback otherwise.
// Thread-safe. Also a Collectable: vpbx_push_healthy{resource_type} (1/0), computed at scrape time
// because health expires with the clock, not with an event.

#include <prometheus/collectable.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/config/config.h"

namespace vpbx::subscriptions {

// The resource types with a poller behind them; their series always exist.
inline const std::vector<std::string>& known_resource_types() {
  static const std::vector<std::string> types{"CALL_LOG", "FEATURE", "PRESENCE"};
  return types;
}

// The types whose push the exporter manages: subscriptions.resource_types when
// subscriptions.manage is on, else none.
std::vector<std::string> managed_types(const config::Config& config);

class PushHealth : public prometheus::Collectable {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `missed_window`: how long a miss found by polling keeps the type unhealthy (e.g. 2 x
  // poll.fallback). `clock` defaults to steady_clock::now (tests inject their own).
  PushHealth(std::vector<std::string> managed_types, config::Duration missed_window,
             Clock clock = {});

  // On reload. Active flags and misses of types still managed are kept.
  void configure(std::vector<std::string> managed_types, config::Duration missed_window);

  bool managed(const std::string& type) const;
  bool healthy(const std::string& type) const;
  // The poll interval for `type`: `normal` while healthy or unmanaged, else the shorter of
  // `fallback` and `normal` (0 stays 0: a collector switched off stays off).
  config::Duration poll_interval(const std::string& type, config::Duration normal,
                                 config::Duration fallback) const;

  void set_active(const std::string& type, bool active);  // the subscription manager
  void poll_found_missed(const std::string& type);        // a poller found what push missed
  void push_received(const std::string& type);            // the webhook applied a push

  // Called (outside the lock) on each poll_found_missed: the manager re-lists early, since a
  // vanished subscription shows first as missed data. One listener; empty clears it.
  void set_missed_listener(std::function<void(const std::string&)> listener);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct TypeState {
    bool active = false;
    bool missed = false;
    std::chrono::steady_clock::time_point last_missed{};
    std::chrono::steady_clock::time_point last_push{};
  };
  bool healthy_locked(const std::string& type) const;
  std::chrono::steady_clock::time_point now() const;

  Clock clock_;
  mutable std::mutex mutex_;
  std::vector<std::string> managed_;
  config::Duration window_;
  std::map<std::string, TypeState> types_;
  std::mutex listener_mutex_;
  std::function<void(const std::string&)> listener_;
};

}  // namespace vpbx::subscriptions
