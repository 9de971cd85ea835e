#pragma once
// Polls a list of items (users, enterprises) once per interval, spread evenly across it so that
// the platform sees a steady trickle rather than a burst (the seed: polling "adds a lot of load
// on the platform"). The account's pacer (pacer.h) runs the polls; its API limiter paces them.
// A sweep that cannot fit its interval is counted in
// vpbx_collector_sweep_overrun_total and logged once, naming the interval to raise.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/collectors/pacer.h"
#include "exporter/collectors/poller.h"
#include "exporter/log/log.h"

namespace vpbx::collectors {

struct SweepMetrics {
  explicit SweepMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& overruns;
  prometheus::Family<prometheus::Gauge>& interval;
};

class Sweeper : private Pacer::Task {
 public:
  using Item = std::string;
  // Asked at every item and while waiting, so that a change (push broken: poll faster) applies
  // at once, mid-sweep included.
  using Interval = std::function<std::chrono::milliseconds()>;
  // `list` gives the items of the next sweep; `poll_one` polls one and returns an empty string on
  // success, else a short, secret-free error. A throw counts as a failed poll. Failures are logged
  // per sweep, when a sweep first fails and when one succeeds again, never once per item. The
  // polls run on `pacer`'s threads, shared with the account's other collectors.
  Sweeper(std::string name, std::string interval_key, Interval interval,
          std::shared_ptr<Pacer> pacer, std::function<std::vector<Item>()> list,
          std::function<std::string(const Item&)> poll_one,
          std::shared_ptr<CollectorMetrics> metrics, std::shared_ptr<SweepMetrics> sweep_metrics);
  ~Sweeper() override;
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  void start();
  // Stopping in two steps: request_stop() first (a sweep ending now is not reported), then cancel
  // the API client so that polls in flight end soon, then stop() waits for them.
  void request_stop();
  void stop();
  std::uint64_t sweeps_completed() const;

 private:
  using Clock = Pacer::Clock;
  // A sweep lists its items, releases item i at start + i * interval / n (an even trickle), waits
  // for the last poll, reports, and rests until start + interval.
  enum class Phase { listing, releasing, finishing, resting };
  Clock::time_point step() override;  // on the pacing thread
  void release(Item item);
  void finish_sweep();
  std::string run_one(const Item& item);
  std::chrono::milliseconds current_interval();

  std::string name_;
  std::string interval_key_;
  Interval interval_;
  std::shared_ptr<Pacer> pacer_;
  std::function<std::vector<Item>()> list_;
  std::function<std::string(const Item&)> poll_one_;
  std::shared_ptr<CollectorMetrics> metrics_;
  std::shared_ptr<SweepMetrics> sweep_metrics_;
  prometheus::Gauge& duration_;
  prometheus::Gauge& last_success_;
  prometheus::Counter& errors_;
  prometheus::Counter& overruns_;
  prometheus::Gauge& interval_gauge_;
  log::ErrorLatch overrun_latch_;
  log::ErrorLatch failure_latch_;

  // The pacing thread's alone (step() is never run twice at once).
  Phase phase_ = Phase::listing;
  Clock::time_point sweep_start_;
  std::vector<Item> items_;
  std::size_t next_item_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable done_;  // stop(): a poll finished
  std::size_t in_flight_ = 0;     // released, not finished
  std::size_t failures_ = 0;
  std::string last_error_;
  std::uint64_t sweeps_ = 0;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace vpbx::collectors
