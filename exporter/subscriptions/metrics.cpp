#include "exporter/subscriptions/metrics.h"

#include "exporter/subscriptions/push_health.h"

namespace vpbx::subscriptions {

const char* operation_name(Operation operation) {
  switch (operation) {
    case Operation::list:
      return "list";
    case Operation::create:
      return "create";
    case Operation::renew:
      return "renew";
    case Operation::remove:
      return "delete";
  }
  return "unknown";
}

SubscriptionMetrics::SubscriptionMetrics(prometheus::Registry& registry)
    : expiry(prometheus::BuildGauge()
                 .Name("vpbx_subscription_expiry_timestamp_seconds")
                 .Help("Earliest expiry among the exporter's push subscriptions of the resource "
                       "type; 0 when it has none")
                 .Register(registry)),
      active(prometheus::BuildGauge()
                 .Name("vpbx_subscription_active")
                 .Help("1 when the exporter's live subscriptions cover the resource type's whole "
                       "scope")
                 .Register(registry)),
      operations(prometheus::BuildCounter()
                     .Name("vpbx_subscription_operations_total")
                     .Help("Subscription API operations of the manager, by outcome")
                     .Register(registry)) {
  for (const auto& type : known_resource_types()) set_type(type, 0, false);
  for (const auto op : {Operation::list, Operation::create, Operation::remove, Operation::renew}) {
    for (const char* outcome : {"success", "failure"}) {
      operations.Add({{"operation", operation_name(op)}, {"outcome", outcome}});
    }
  }
}

void SubscriptionMetrics::count(Operation operation, bool success) {
  operations
      .Add({{"operation", operation_name(operation)}, {"outcome", success ? "success" : "failure"}})
      .Increment();
}

void SubscriptionMetrics::set_type(const std::string& resource_type, double expiry_seconds,
                                   bool is_active) {
  expiry.Add({{"resource_type", resource_type}}).Set(expiry_seconds);
  active.Add({{"resource_type", resource_type}}).Set(is_active ? 1 : 0);
}

}  // namespace vpbx::subscriptions
