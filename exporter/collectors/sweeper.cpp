#include "exporter/collectors/sweeper.h"

#include <exception>

#include "exporter/config/config.h"

namespace vpbx::collectors {

SweepMetrics::SweepMetrics(prometheus::Registry& registry)
    : overruns(prometheus::BuildCounter()
                   .Name("vpbx_collector_sweep_overrun_total")
                   .Help("Sweeps that took longer than the collector's interval.")
                   .Register(registry)),
      interval(
          prometheus::BuildGauge()
              .Name("vpbx_collector_interval_seconds")
              .Help("The collector's current interval: poll.<collector>, or poll.fallback while "
                    "push for its type is unhealthy.")
              .Register(registry)) {}

Sweeper::Sweeper(std::string name, std::string interval_key, Interval interval,
                 std::shared_ptr<Pacer> pacer, std::function<std::vector<Item>()> list,
                 std::function<std::string(const Item&)> poll_one,
                 std::shared_ptr<CollectorMetrics> metrics,
                 std::shared_ptr<SweepMetrics> sweep_metrics)
    : name_(std::move(name)),
      interval_key_(std::move(interval_key)),
      interval_(std::move(interval)),
      pacer_(std::move(pacer)),
      list_(std::move(list)),
      poll_one_(std::move(poll_one)),
      metrics_(std::move(metrics)),
      sweep_metrics_(std::move(sweep_metrics)),
      duration_(metrics_->duration.Add({{"collector", name_}})),
      last_success_(metrics_->last_success.Add({{"collector", name_}})),
      errors_(metrics_->errors.Add({{"collector", name_}})),
      overruns_(sweep_metrics_->overruns.Add({{"collector", name_}})),
      interval_gauge_(sweep_metrics_->interval.Add({{"collector", name_}})) {
  current_interval();
}

std::chrono::milliseconds Sweeper::current_interval() {
  std::chrono::milliseconds interval{0};
  try {
    interval = interval_();
  } catch (...) {
  }
  if (interval.count() <= 0) interval = std::chrono::seconds(60);
  interval_gauge_.Set(std::chrono::duration<double>(interval).count());
  return interval;
}

Sweeper::~Sweeper() {
  stop();
}

void Sweeper::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return;
    started_ = true;
    stopping_ = false;
  }
  phase_ = Phase::listing;
  sweep_start_ = Clock::now();
  pacer_->add(*this);
}

void Sweeper::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  pacer_->wake();  // a step waiting for its next slot returns now
}

void Sweeper::stop() {
  request_stop();
  pacer_->remove(*this);
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return in_flight_ == 0; });
  started_ = false;
}

std::uint64_t Sweeper::sweeps_completed() const {
  std::lock_guard lock(mutex_);
  return sweeps_;
}

std::string Sweeper::run_one(const Item& item) {
  try {
    return poll_one_(item);
  } catch (const std::exception& e) {
    return std::string("poll threw: ") + e.what();
  } catch (...) {
    return "poll threw";
  }
}

void Sweeper::release(Item item) {
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  // The poll's end wakes the pacer through a copy of its pointer: once done_ is notified, stop()
  // may return and this Sweeper be gone; the pacer outlives the workers that run its polls.
  pacer_->run([this, pacer = pacer_.get(), item = std::move(item)] {
    std::string error;
    bool skipped;
    {
      std::lock_guard lock(mutex_);
      skipped = stopping_;  // queued before a stop: not polled
    }
    if (!skipped) error = run_one(item);
    {
      std::lock_guard lock(mutex_);
      if (!error.empty()) {
        ++failures_;
        last_error_ = std::move(error);
      }
      --in_flight_;
      done_.notify_all();
    }
    pacer->wake();  // the sweep may be done
  });
}

Sweeper::Clock::time_point Sweeper::step() {
  constexpr auto kRecheck = std::chrono::seconds(1);  // the interval may change meanwhile
  for (;;) {
    const auto now = Clock::now();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return now + kRecheck;
    }
    switch (phase_) {
      case Phase::listing:
        try {
          items_ = list_();
        } catch (...) {
          items_.clear();
        }
        next_item_ = 0;
        {
          std::lock_guard lock(mutex_);
          failures_ = 0;
        }
        phase_ = Phase::releasing;
        break;
      case Phase::releasing: {
        const auto n = static_cast<long>(items_.size());
        if (next_item_ < items_.size()) {
          // Slot i of n: i * interval / n after the start, with the interval as it is now.
          const auto slot = sweep_start_ + current_interval() * static_cast<long>(next_item_) / n;
          if (now < slot) return std::min(slot, now + kRecheck);
          release(std::move(items_[next_item_++]));
          // Stepped again at once, after the account's other due tasks: with one worker the poll
          // ran here, and a sweep behind its slots must not hold the others back.
          return Clock::now();
        }
        items_.clear();
        phase_ = Phase::finishing;
        break;
      }
      case Phase::finishing: {
        {
          std::lock_guard lock(mutex_);
          if (in_flight_ > 0) return now + kRecheck;  // the last poll's wake() steps it sooner
        }
        finish_sweep();
        break;
      }
      case Phase::resting: {
        const auto deadline = sweep_start_ + current_interval();
        if (now < deadline) return std::min(deadline, now + kRecheck);
        sweep_start_ = now;
        phase_ = Phase::listing;
        break;
      }
    }
  }
}

void Sweeper::finish_sweep() {
  std::size_t failures = 0;
  std::size_t n = next_item_;
  std::string last_error;
  {
    std::lock_guard lock(mutex_);
    failures = failures_;
    last_error = last_error_;
    ++sweeps_;
  }
  const auto took = Clock::now() - sweep_start_;
  duration_.Set(std::chrono::duration<double>(took).count());
  if (failures == 0) {
    last_success_.Set(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
  errors_.Increment(static_cast<double>(failures));
  if (failures > 0) {
    if (failure_latch_.fail("failing")) {
      log::warn("collector polls failed",
                {{"collector", name_}, {"failed", failures}, {"of", n}, {"err", last_error}});
    }
  } else if (failure_latch_.recover()) {
    log::info("collector polls succeed again", {{"collector", name_}});
  }
  const auto interval = current_interval();
  if (took > interval) {
    overruns_.Increment();
    if (overrun_latch_.fail("overrun")) {
      log::warn("a sweep took longer than its interval; raise it or the API limits",
                {{"collector", name_},
                 {"took", config::format_duration(
                              std::chrono::duration_cast<std::chrono::milliseconds>(took))},
                 {"interval_key", interval_key_},
                 {"interval", config::format_duration(interval)}});
    }
    sweep_start_ = Clock::now();  // start over at once, without a catch-up burst
    phase_ = Phase::listing;
  } else {
    overrun_latch_.recover();
    phase_ = Phase::resting;
  }
}

}  // namespace vpbx::collectors
