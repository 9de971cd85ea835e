#pragma once
// Polls v1/users/{userId}/presence for every tracked user, spread across poll.presence.

#include "exporter/api/client.h"
#include "exporter/collectors/sweep_items.h"
#include "exporter/collectors/sweeper.h"
#include "exporter/state/store.h"

namespace vpbx::collectors {

class PresenceCollector {
 public:
  PresenceCollector(PollPacing pacing, int workers, api::Client& client, state::Store& store,
                    std::shared_ptr<CollectorMetrics> metrics,
                    std::shared_ptr<SweepMetrics> sweep_metrics);
  void start() { sweeper_.start(); }
  void request_stop() { sweeper_.request_stop(); }
  void stop() { sweeper_.stop(); }

 private:
  std::string poll(const std::string& user_id);

  PollPacing pacing_;
  api::Client& client_;
  state::Store& store_;
  Sweeper sweeper_;
};

}  // namespace vpbx::collectors
