#pragma once
// The subscription manager's metric families, created once per process so that reloads (a new
// Manager) keep the counters.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

namespace vpbx::subscriptions {

enum class Operation { list, create, renew, remove };

struct SubscriptionMetrics {
  explicit SubscriptionMetrics(prometheus::Registry& registry);

  void count(Operation operation, bool success);
  // Earliest expiry among our subscriptions of the type (0 when none), and whether they cover the
  // type's whole scope right now.
  void set_type(const std::string& resource_type, double expiry_seconds, bool is_active);

  prometheus::Family<prometheus::Gauge>& expiry;
  prometheus::Family<prometheus::Gauge>& active;
  prometheus::Family<prometheus::Counter>& operations;
};

const char* operation_name(Operation operation);

}  // namespace vpbx::subscriptions
