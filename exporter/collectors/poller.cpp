#include "exporter/collectors/poller.h"

#include <exception>

#include "exporter/log/log.h"

namespace vpbx::collectors {

CollectorMetrics::CollectorMetrics(prometheus::Registry& registry)
    : duration(prometheus::BuildGauge()
                   .Name("vpbx_collector_duration_seconds")
                   .Help("Duration of the collector's last poll.")
                   .Register(registry)),
      last_success(prometheus::BuildGauge()
                       .Name("vpbx_collector_last_success_timestamp_seconds")
                       .Help("Unix time of the collector's last successful poll; 0 if none yet.")
                       .Register(registry)),
      errors(prometheus::BuildCounter()
                 .Name("vpbx_collector_errors_total")
                 .Help("Polls of the collector that failed.")
                 .Register(registry)) {}

Poller::Poller(std::string name, std::chrono::milliseconds interval, std::function<bool()> poll,
               std::shared_ptr<CollectorMetrics> metrics, std::shared_ptr<Pacer> pacer)
    : name_(std::move(name)),
      interval_(interval),
      poll_(std::move(poll)),
      metrics_(std::move(metrics)),
      duration_(metrics_->duration.Add({{"collector", name_}})),
      last_success_(metrics_->last_success.Add({{"collector", name_}})),
      errors_(metrics_->errors.Add({{"collector", name_}})),
      pacer_(std::move(pacer)) {}

Poller::~Poller() {
  stop();
}

void Poller::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return;
    started_ = true;
    stopping_ = false;
    next_ = Pacer::Clock::now();
  }
  pacer_->add(*this);
}

void Poller::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!started_) return;
    stopping_ = true;
  }
  pacer_->remove(*this);
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return !polling_; });
  started_ = false;
}

bool Poller::poll_once() {
  const auto started = std::chrono::steady_clock::now();
  bool ok = false;
  try {
    ok = poll_();
  } catch (const std::exception& e) {
    log::error("collector poll threw", {{"collector", name_}, {"err", e.what()}});
  } catch (...) {
    log::error("collector poll threw", {{"collector", name_}});
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  duration_.Set(took.count());
  if (ok) {
    const std::chrono::duration<double> now = std::chrono::system_clock::now().time_since_epoch();
    last_success_.Set(now.count());
  } else {
    errors_.Increment();
  }
  return ok;
}

Pacer::Clock::time_point Poller::step() {
  const auto now = Pacer::Clock::now();
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || polling_) return now + std::chrono::seconds(1);  // done: wake() steps it
    if (now < next_) return next_;
    polling_ = true;
  }
  // The poll's end wakes the pacer through a copy of its pointer: once done_ is notified, stop()
  // may return and this Poller be gone; the pacer outlives the workers that run its polls.
  pacer_->run([this, pacer = pacer_.get()] {
    bool skip;
    {
      std::lock_guard lock(mutex_);
      skip = stopping_;
    }
    if (!skip) poll_once();
    {
      std::lock_guard lock(mutex_);
      polling_ = false;
      // Fixed-rate schedule; a poll that overran starts the next one at once, without catch-up
      // bursts.
      next_ += interval_;
      next_ = std::max(next_, Pacer::Clock::now());
      done_.notify_all();
    }
    pacer->wake();
  });
  return Pacer::Clock::now();
}

}  // namespace vpbx::collectors
