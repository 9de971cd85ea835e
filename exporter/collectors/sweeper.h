#pragma once
// Polls a list of items (users, enterprises) once per interval, spread evenly across it so that
// the platform sees a steady trickle rather than a burst (the seed: polling "adds a lot of load
// on the platform"). A few workers run the polls (one: the dispatcher itself); the account's API
// limiter paces them. A sweep that cannot fit its interval is counted in
// vpbx_collector_sweep_overrun_total and logged once, naming the interval to raise.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exporter/collectors/poller.h"
#include "exporter/log/log.h"

namespace vpbx::collectors {

struct SweepMetrics {
  explicit SweepMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& overruns;
  prometheus::Family<prometheus::Gauge>& interval;
};

class Sweeper {
 public:
  using Item = std::string;
  // Asked at every item and while waiting, so that a change (push broken: poll faster) applies
  // at once, mid-sweep included.
  using Interval = std::function<std::chrono::milliseconds()>;
  // `list` gives the items of the next sweep; `poll_one` polls one and returns an empty string on
  // success, else a short, secret-free error. A throw counts as a failed poll. Failures are logged
  // per sweep, when a sweep first fails and when one succeeds again, never once per item.
  Sweeper(std::string name, std::string interval_key, Interval interval, int workers,
          std::function<std::vector<Item>()> list, std::function<std::string(const Item&)> poll_one,
          std::shared_ptr<CollectorMetrics> metrics, std::shared_ptr<SweepMetrics> sweep_metrics);
  ~Sweeper();
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  void start();
  // Stopping in two steps: request_stop() first (a sweep ending now is not reported), then cancel
  // the API client so that polls in flight end soon, then stop() joins.
  void request_stop();
  void stop();
  std::uint64_t sweeps_completed() const;

 private:
  void dispatch_loop();
  void worker_loop();
  std::string run_one(const Item& item);
  // Queues the item for the workers, or with one worker polls it on this thread; false when
  // stopping.
  bool release(Item item);
  void record(std::string error);  // a poll's outcome; callers hold mutex_
  bool wait_until(std::chrono::steady_clock::time_point deadline);  // false when stopping
  // Waits until start + the current interval, re-reading the interval; false when stopping.
  bool wait_for_interval(std::chrono::steady_clock::time_point start);
  std::chrono::milliseconds current_interval();

  std::string name_;
  std::string interval_key_;
  Interval interval_;
  int worker_count_;
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

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // dispatcher and workers: new work or stop
  std::condition_variable done_;  // dispatcher: a poll finished
  std::deque<Item> queue_;
  std::size_t in_flight_ = 0;
  std::size_t failures_ = 0;
  std::string last_error_;
  std::uint64_t sweeps_ = 0;
  bool stopping_ = false;
  std::thread dispatcher_;
  std::vector<std::thread> workers_;
};

}  // namespace vpbx::collectors
