#pragma once
// Polls call logs, from the enterprise endpoint for the configured enterprises and from the
// per-user endpoint for users outside them, paged to the end, from each scope's cursor (newest
// callStart seen) minus call_logs.overlap up to now. Each call log is counted once by its id.
// Users met in enterprise call logs are learnt (discovery). A scope's first poll starts its
// cursor at now minus call_logs.backfill: call logs that ended before that are history,
// remembered but not counted, so a fresh start does not backfill old calls into the counters.

#include <functional>

#include "exporter/api/client.h"
#include "exporter/collectors/sweeper.h"
#include "exporter/collectors/user_sweep.h"
#include "exporter/config/config.h"
#include "exporter/state/store.h"

namespace vpbx::collectors {

class CallLogsCollector {
 public:
  // Milliseconds since the epoch. The poll window ends at the wall clock's now, which can jump.
  using WallClock = std::function<std::int64_t()>;

  // `wall_clock` defaults to system_clock (tests inject their own).
  CallLogsCollector(const config::Config& config, PollPacing pacing, std::shared_ptr<Pacer> pacer,
                    api::Client& client, state::Store& store,
                    std::shared_ptr<CollectorMetrics> metrics,
                    std::shared_ptr<SweepMetrics> sweep_metrics, WallClock wall_clock = {});
  void start() { sweeper_.start(); }
  void request_stop() { sweeper_.request_stop(); }
  void stop() { sweeper_.stop(); }

  // Scope keys: "enterprise:<name>" or "user:<id>".
  std::vector<std::string> scopes() const;
  std::string poll(const std::string& scope);

 private:
  PollPacing pacing_;
  WallClock wall_clock_;
  api::Client& client_;
  state::Store& store_;
  std::vector<std::string> enterprises_;
  std::int64_t overlap_ms_;
  int page_size_;
  std::int64_t backfill_ms_;
  Sweeper sweeper_;
};

}  // namespace vpbx::collectors
