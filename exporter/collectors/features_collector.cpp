#include "exporter/collectors/features_collector.h"

#include "exporter/collectors/sweep_items.h"

namespace vpbx::collectors {

FeaturesCollector::FeaturesCollector(PollPacing pacing, int workers, api::Client& client,
                                     state::Store& store, std::shared_ptr<CollectorMetrics> metrics,
                                     std::shared_ptr<SweepMetrics> sweep_metrics)
    : pacing_(std::move(pacing)),
      client_(client),
      store_(store),
      sweeper_(
          "features", "poll.features", pacing_.interval, workers,
          [this] { return user_items(store_); }, [this](const std::string& id) { return poll(id); },
          std::move(metrics), std::move(sweep_metrics)) {}

std::string FeaturesCollector::poll(const std::string& user_id) {
  const std::int64_t id = std::stoll(user_id);
  const auto result = client_.get_user_features(id);
  if (!result.ok()) return error_of(result);
  if (store_.set_features(id, *result.value)) pacing_.missed();
  return {};
}

}  // namespace vpbx::collectors
