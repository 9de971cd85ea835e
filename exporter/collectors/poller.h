#pragma once
// Runs one collector's poll every interval on the account's pacer (pacer.h), reports its duration,
// last success and errors (vpbx_collector_*{collector}), and stops promptly. Nothing here runs at
// scrape time.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "exporter/collectors/pacer.h"

namespace vpbx::collectors {

// The per-collector self metrics; created once per process so reloads keep the counters.
struct CollectorMetrics {
  explicit CollectorMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Gauge>& duration;
  prometheus::Family<prometheus::Gauge>& last_success;
  prometheus::Family<prometheus::Counter>& errors;
};

class Poller : private Pacer::Task {
 public:
  // `poll` returns true on success; it must not throw (a throw counts as an error and is logged).
  Poller(std::string name, std::chrono::milliseconds interval, std::function<bool()> poll,
         std::shared_ptr<CollectorMetrics> metrics, std::shared_ptr<Pacer> pacer);
  ~Poller() override;
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void start();  // first poll at once, then every interval
  void stop();   // the caller also cancels the API client so that a poll in flight ends soon
  const std::string& name() const { return name_; }

 private:
  Pacer::Clock::time_point step() override;  // on the pacing thread
  bool poll_once();

  std::string name_;
  std::chrono::milliseconds interval_;
  std::function<bool()> poll_;
  std::shared_ptr<CollectorMetrics> metrics_;
  prometheus::Gauge& duration_;
  prometheus::Gauge& last_success_;
  prometheus::Counter& errors_;
  std::shared_ptr<Pacer> pacer_;
  std::mutex mutex_;
  std::condition_variable done_;  // stop(): the poll in flight finished
  Pacer::Clock::time_point next_;
  bool started_ = false;
  bool polling_ = false;
  bool stopping_ = false;
};

}  // namespace vpbx::collectors
