#include "exporter/collectors/presence_collector.h"

namespace vpbx::collectors {

PresenceCollector::PresenceCollector(PollPacing pacing, std::shared_ptr<Pacer> pacer,
                                     api::Client& client, state::Store& store,
                                     std::shared_ptr<CollectorMetrics> metrics,
                                     std::shared_ptr<SweepMetrics> sweep_metrics)
    : UserSweep(
          "presence", "poll.presence", pacing, std::move(pacer), store,
          [&client, &store, missed = pacing.found_missed_push](std::int64_t user_id) {
            const auto result = client.get_presence(user_id);
            if (!result.ok()) return error_of(result);
            // A change push did not bring: push for this type may be broken.
            if (store.set_presence(user_id, result.value->status) && missed) missed();
            return std::string();
          },
          std::move(metrics), std::move(sweep_metrics)) {}

}  // namespace vpbx::collectors
