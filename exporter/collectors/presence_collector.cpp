#include "exporter/collectors/presence_collector.h"

namespace vpbx::collectors {

PresenceCollector::PresenceCollector(std::chrono::milliseconds interval, int workers,
                                     api::Client& client, state::Store& store,
                                     std::shared_ptr<CollectorMetrics> metrics,
                                     std::shared_ptr<SweepMetrics> sweep_metrics)
    : client_(client),
      store_(store),
      sweeper_(
          "presence", "poll.presence", interval, workers, [this] { return user_items(store_); },
          [this](const std::string& id) { return poll(id); }, std::move(metrics),
          std::move(sweep_metrics)) {}

std::string PresenceCollector::poll(const std::string& user_id) {
  const std::int64_t id = std::stoll(user_id);
  const auto result = client_.get_presence(id);
  if (!result.ok()) return error_of(result);
  store_.set_presence(id, result.value->status);
  return {};
}

}  // namespace vpbx::collectors
