#pragma once
// Polls call logs, from the enterprise endpoint for the configured enterprises and from the
// per-user endpoint for users outside them, paged to the end, from each scope's cursor (newest
// callStart seen) minus call_logs.overlap up to now. Each call log is counted once by its id.
// Users met in enterprise call logs are learnt (discovery). A scope's first poll starts its
// cursor at now minus call_logs.backfill: call logs that ended before that are history,
// remembered but not counted, so a fresh start does not backfill old calls into the counters.

#include "exporter/api/client.h"
#include "exporter/collectors/sweeper.h"
#include "exporter/collectors/user_sweep.h"
#include "exporter/config/config.h"
#include "exporter/state/store.h"

namespace vpbx::collectors {

class CallLogsCollector {
 public:
  CallLogsCollector(const config::Config& config, PollPacing pacing, int workers,
                    api::Client& client, state::Store& store,
                    std::shared_ptr<CollectorMetrics> metrics,
                    std::shared_ptr<SweepMetrics> sweep_metrics);
  void start() { sweeper_.start(); }
  void request_stop() { sweeper_.request_stop(); }
  void stop() { sweeper_.stop(); }

  // Scope keys: "enterprise:<name>" or "user:<id>".
  std::vector<std::string> scopes() const;
  std::string poll(const std::string& scope);

 private:
  PollPacing pacing_;
  api::Client& client_;
  state::Store& store_;
  std::vector<std::string> enterprises_;
  std::int64_t overlap_ms_;
  int page_size_;
  std::int64_t backfill_ms_;
  Sweeper sweeper_;
};

}  // namespace vpbx::collectors
