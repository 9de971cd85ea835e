#include "exporter/collectors/features_collector.h"

#include "exporter/collectors/sweep_items.h"

namespace vpbx::collectors {

FeaturesCollector::FeaturesCollector(std::chrono::milliseconds interval, int workers,
                                     api::Client& client, state::Store& store,
                                     std::shared_ptr<CollectorMetrics> metrics,
                                     std::shared_ptr<SweepMetrics> sweep_metrics)
    : client_(client),
      store_(store),
      sweeper_(
          "features", "poll.features", interval, workers, [this] { return user_items(store_); },
          [this](const std::string& id) { return poll(id); }, std::move(metrics),
          std::move(sweep_metrics)) {}

std::string FeaturesCollector::poll(const std::string& user_id) {
  const std::int64_t id = std::stoll(user_id);
  const auto result = client_.get_user_features(id);
  if (!result.ok()) return error_of(result);
  store_.set_features(id, *result.value);
  return {};
}

}  // namespace vpbx::collectors
