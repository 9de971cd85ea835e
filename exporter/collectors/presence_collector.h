#pragma once
// Polls v1/users/{userId}/presence for every tracked user, spread across poll.presence.

#include "exporter/api/client.h"
#include "exporter/collectors/user_sweep.h"
#include "exporter/state/store.h"

namespace vpbx::collectors {

class PresenceCollector : public UserSweep {
 public:
  PresenceCollector(PollPacing pacing, std::shared_ptr<Pacer> pacer, api::Client& client,
                    state::Store& store, std::shared_ptr<CollectorMetrics> metrics,
                    std::shared_ptr<SweepMetrics> sweep_metrics);
};

}  // namespace vpbx::collectors
