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
               std::shared_ptr<CollectorMetrics> metrics)
    : name_(std::move(name)),
      interval_(interval),
      poll_(std::move(poll)),
      metrics_(std::move(metrics)),
      duration_(metrics_->duration.Add({{"collector", name_}})),
      last_success_(metrics_->last_success.Add({{"collector", name_}})),
      errors_(metrics_->errors.Add({{"collector", name_}})) {}

Poller::~Poller() {
  stop();
}

void Poller::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, account = log::thread_account()] {
    log::AccountScope scope(account);
    run();
  });
}

void Poller::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
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

void Poller::run() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    poll_once();
    lock.lock();
    // Fixed-rate schedule; a poll that overran starts the next one at once, without catch-up
    // bursts.
    next += interval_;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
    wake_.wait_until(lock, next, [this] { return stopping_; });
  }
}

}  // namespace vpbx::collectors
