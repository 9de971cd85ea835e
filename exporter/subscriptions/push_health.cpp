#include "exporter/subscriptions/push_health.h"

#include <prometheus/metric_family.h>

#include <algorithm>
#include <set>

namespace vpbx::subscriptions {

std::vector<std::string> managed_types(const config::Config& config) {
  if (!config.subscriptions.manage) return {};
  return config.subscriptions.resource_types;
}

PushHealth::PushHealth(std::vector<std::string> managed_types, config::Duration missed_window,
                       Clock clock)
    : clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })),
      managed_(std::move(managed_types)),
      window_(missed_window) {}

void PushHealth::configure(std::vector<std::string> managed_types, config::Duration missed_window) {
  std::lock_guard lock(mutex_);
  managed_ = std::move(managed_types);
  window_ = missed_window;
}

std::chrono::steady_clock::time_point PushHealth::now() const {
  return clock_();
}

bool PushHealth::managed(const std::string& type) const {
  std::lock_guard lock(mutex_);
  return std::find(managed_.begin(), managed_.end(), type) != managed_.end();
}

bool PushHealth::healthy_locked(const std::string& type) const {
  if (std::find(managed_.begin(), managed_.end(), type) == managed_.end()) return false;
  const auto it = types_.find(type);
  if (it == types_.end() || !it->second.active) return false;
  return !it->second.missed || now() - it->second.last_missed >= window_;
}

bool PushHealth::healthy(const std::string& type) const {
  std::lock_guard lock(mutex_);
  return healthy_locked(type);
}

config::Duration PushHealth::poll_interval(const std::string& type, config::Duration normal,
                                           config::Duration fallback) const {
  std::lock_guard lock(mutex_);
  const bool is_managed = std::find(managed_.begin(), managed_.end(), type) != managed_.end();
  if (!is_managed || healthy_locked(type) || normal.count() == 0 || fallback.count() <= 0) {
    return normal;
  }
  return std::min(normal, fallback);
}

void PushHealth::set_active(const std::string& type, bool active) {
  std::lock_guard lock(mutex_);
  types_[type].active = active;
}

void PushHealth::poll_found_missed(const std::string& type) {
  {
    std::lock_guard lock(mutex_);
    auto& state = types_[type];
    state.missed = true;
    state.last_missed = now();
  }
  std::lock_guard lock(listener_mutex_);
  if (listener_) listener_(type);
}

void PushHealth::push_received(const std::string& type) {
  // Recorded only: one push proves the path works now, not that nothing was lost, so it does not
  // cut a miss's window short.
  std::lock_guard lock(mutex_);
  types_[type].last_push = now();
}

void PushHealth::set_missed_listener(std::function<void(const std::string&)> listener) {
  std::lock_guard lock(listener_mutex_);
  listener_ = std::move(listener);
}

std::vector<prometheus::MetricFamily> PushHealth::Collect() const {
  prometheus::MetricFamily family;
  family.name = "vpbx_push_healthy";
  family.help =
      "1 while push of the resource type is managed, its subscriptions are active and polling has "
      "not recently found data that push missed; polling runs at poll.fallback otherwise";
  family.type = prometheus::MetricType::Gauge;
  std::lock_guard lock(mutex_);
  std::set<std::string> types(known_resource_types().begin(), known_resource_types().end());
  types.insert(managed_.begin(), managed_.end());
  for (const auto& type : types) {
    prometheus::ClientMetric metric;
    metric.label.push_back({"resource_type", type});
    metric.gauge.value = healthy_locked(type) ? 1 : 0;
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

}  // namespace vpbx::subscriptions
