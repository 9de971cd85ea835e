#include "exporter/collectors/presence_collector.h"

namespace vpbx::collectors {

PresenceCollector::PresenceCollector(PollPacing pacing, int workers, api::Client& client,
                                     state::Store& store, std::shared_ptr<CollectorMetrics> metrics,
                                     std::shared_ptr<SweepMetrics> sweep_metrics)
    : pacing_(std::move(pacing)),
      client_(client),
      store_(store),
      sweeper_(
          "presence", "poll.presence", pacing_.interval, workers,
          [this] { return user_items(store_); }, [this](const std::string& id) { return poll(id); },
          std::move(metrics), std::move(sweep_metrics)) {}

std::string PresenceCollector::poll(const std::string& user_id) {
  const std::int64_t id = std::stoll(user_id);
  const auto result = client_.get_presence(id);
  if (!result.ok()) return error_of(result);
  if (store_.set_presence(id, result.value->status)) pacing_.missed();
  return {};
}

}  // namespace vpbx::collectors
