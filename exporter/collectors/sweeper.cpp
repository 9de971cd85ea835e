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

Sweeper::Sweeper(std::string name, std::string interval_key, Interval interval, int workers,
                 std::function<std::vector<Item>()> list,
                 std::function<std::string(const Item&)> poll_one,
                 std::shared_ptr<CollectorMetrics> metrics,
                 std::shared_ptr<SweepMetrics> sweep_metrics)
    : name_(std::move(name)),
      interval_key_(std::move(interval_key)),
      interval_(std::move(interval)),
      worker_count_(workers < 1 ? 1 : workers),
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

bool Sweeper::wait_for_interval(std::chrono::steady_clock::time_point start) {
  for (;;) {
    const auto deadline = start + current_interval();
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    if (!wait_until(std::min(deadline, now + std::chrono::seconds(1)))) return false;
  }
}

Sweeper::~Sweeper() {
  stop();
}

void Sweeper::start() {
  std::lock_guard lock(mutex_);
  if (dispatcher_.joinable()) return;
  stopping_ = false;
  // With one worker the dispatcher polls each item itself when its slot comes: the same pace (a
  // lone worker takes them one by one), one thread fewer. Forty accounts of one connection each
  // are 120 threads fewer, each with its stack and its malloc cache.
  for (int i = 0; worker_count_ > 1 && i < worker_count_; ++i) {
    workers_.emplace_back([this, account = log::thread_account()] {
      log::AccountScope scope(account);
      worker_loop();
    });
  }
  dispatcher_ = std::thread([this, account = log::thread_account()] {
    log::AccountScope scope(account);
    dispatch_loop();
  });
}

void Sweeper::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  done_.notify_all();
}

void Sweeper::stop() {
  request_stop();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
}

std::uint64_t Sweeper::sweeps_completed() const {
  std::lock_guard lock(mutex_);
  return sweeps_;
}

bool Sweeper::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, deadline, [this] { return stopping_; });
  return !stopping_;
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

void Sweeper::worker_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    ++in_flight_;
    lock.unlock();
    std::string error = run_one(item);
    lock.lock();
    --in_flight_;
    record(std::move(error));
  }
}

void Sweeper::record(std::string error) {
  if (!error.empty()) {
    ++failures_;
    last_error_ = std::move(error);
  }
  done_.notify_all();
}

bool Sweeper::release(Item item) {
  std::unique_lock lock(mutex_);
  if (stopping_) return false;
  if (worker_count_ > 1) {
    queue_.push_back(std::move(item));
    wake_.notify_one();
    return true;
  }
  lock.unlock();
  std::string error = run_one(item);
  lock.lock();
  record(std::move(error));
  return true;
}

void Sweeper::dispatch_loop() {
  using clock = std::chrono::steady_clock;
  auto sweep_start = clock::now();
  for (;;) {
    std::vector<Item> items;
    try {
      items = list_();
    } catch (...) {
      items.clear();
    }
    {
      std::lock_guard lock(mutex_);
      failures_ = 0;
    }
    // Item i is released at start + i * interval / n: an even trickle across the interval.
    const auto n = items.size();
    for (std::size_t i = 0; i < n; ++i) {
      // Slot i of n: i * interval / n after the start, with the interval as it is now.
      for (;;) {
        const auto slot =
            sweep_start + current_interval() * static_cast<long>(i) / static_cast<long>(n);
        const auto now = clock::now();
        if (now >= slot) break;
        if (!wait_until(std::min(slot, now + std::chrono::seconds(1)))) return;
      }
      if (!release(std::move(items[i]))) return;
    }
    std::size_t failures = 0;
    std::string last_error;
    {
      std::unique_lock lock(mutex_);
      done_.wait(lock, [this] { return stopping_ || (queue_.empty() && in_flight_ == 0); });
      if (stopping_) return;
      failures = failures_;
      last_error = last_error_;
      ++sweeps_;
    }
    const auto took = clock::now() - sweep_start;
    duration_.Set(std::chrono::duration<double>(took).count());
    if (failures == 0) {
      last_success_.Set(
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count());
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
      sweep_start = clock::now();  // start over at once, without a catch-up burst
    } else {
      overrun_latch_.recover();
      if (!wait_for_interval(sweep_start)) return;
      sweep_start = clock::now();
    }
  }
}

}  // namespace vpbx::collectors
