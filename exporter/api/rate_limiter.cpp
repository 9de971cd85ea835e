#include "exporter/api/rate_limiter.h"

#include <cmath>

namespace vpbx::api {
namespace {

// Added to the 1-second window so that a start delayed on its way to the server (scheduling,
// connection setup) cannot make two windows' worth of starts look like one.
constexpr auto kWindowMargin = std::chrono::milliseconds(25);

}  // namespace

RateLimiter::Permit& RateLimiter::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

void RateLimiter::Permit::release() {
  if (owner_) {
    owner_->release_slot();
    owner_ = nullptr;
  }
}

RateLimiter::RateLimiter(double max_per_second, int max_concurrent)
    : max_per_second_(max_per_second), max_concurrent_(max_concurrent) {}

RateLimiter::~RateLimiter() = default;

std::shared_ptr<RateLimiter> RateLimiter::process_wide() {
  // Leaked on purpose: clients may outlive static destruction order at exit.
  static auto* instance = new std::shared_ptr<RateLimiter>(std::make_shared<RateLimiter>(10, 4));
  return *instance;
}

void RateLimiter::configure(double max_per_second, int max_concurrent) {
  {
    std::lock_guard lock(mutex_);
    max_per_second_ = max_per_second;
    max_concurrent_ = max_concurrent;
  }
  cv_.notify_all();
}

bool RateLimiter::stop_waiting(const std::atomic<bool>* cancelled) const {
  return cancelled_ || (cancelled && cancelled->load());
}

RateLimiter::Permit RateLimiter::acquire(const std::atomic<bool>* cancelled) {
  std::unique_lock lock(mutex_);
  // Concurrency first: a start slot reserved while still waiting for a free slot would let two
  // requests start closer together than the rate allows.
  cv_.wait(lock, [&] {
    return stop_waiting(cancelled) || max_concurrent_ <= 0 || in_flight_ < max_concurrent_;
  });
  if (stop_waiting(cancelled)) return Permit();
  ++in_flight_;
  Permit permit(this);

  if (max_per_second_ > 0) {
    const auto now = Clock::now();
    auto start = std::max(now, next_start_);
    const auto window = static_cast<std::size_t>(std::floor(max_per_second_));
    if (window >= 1) {
      while (recent_.size() > window) recent_.pop_front();
      if (recent_.size() == window) {
        start = std::max(start, recent_.front() + std::chrono::seconds(1) + kWindowMargin);
      }
    }
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / max_per_second_));
    // Reserved before sleeping: waiters queue up in order, and a cancelled reservation only
    // lowers the rate.
    next_start_ = start + interval;
    if (window >= 1) {
      recent_.push_back(start);
      while (recent_.size() > window) recent_.pop_front();
    }
    cv_.wait_until(lock, start, [&] { return stop_waiting(cancelled); });
    if (stop_waiting(cancelled)) {
      lock.unlock();
      return Permit();  // the destructor of `permit` frees the slot
    }
  }
  return permit;
}

void RateLimiter::release_slot() {
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
  }
  cv_.notify_all();
}

void RateLimiter::cancel() {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

void RateLimiter::wake() {
  // Taking the mutex orders the caller's flag store before any waiter's re-check.
  { std::lock_guard lock(mutex_); }
  cv_.notify_all();
}

int RateLimiter::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

}  // namespace vpbx::api
