#pragma once
// The process-wide limit on calls to the provider: at most max_requests_per_second request starts
// in ANY 1-second window (every attempt counts, retries included) and at most
// max_concurrent_requests in flight. Starts are spaced 1/rate apart (a token bucket of burst 1)
// and, in addition, no more than floor(rate) starts fall within 1 s plus a safety margin, so
// that the limit holds as the server measures it even when a request's arrival is delayed.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

namespace vpbx::api {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // A concurrency slot, released when destroyed.
  class Permit {
   public:
    Permit() = default;
    explicit Permit(RateLimiter* owner) : owner_(owner) {}
    Permit(Permit&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { release(); }
    void release();
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    RateLimiter* owner_ = nullptr;
  };

  // max_per_second <= 0 means unlimited rate; max_concurrent <= 0 means unlimited concurrency.
  RateLimiter(double max_per_second, int max_concurrent);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // The one instance every Client of this process shares (a reload reconfigures it).
  static std::shared_ptr<RateLimiter> process_wide();

  // New limits apply to the next acquire(); permits already granted stay valid.
  void configure(double max_per_second, int max_concurrent);

  // Blocks until a concurrency slot and a start slot are free. Returns an empty permit when the
  // limiter, or the caller's `cancelled` flag (checked whenever waiters are woken), is cancelled.
  Permit acquire(const std::atomic<bool>* cancelled = nullptr);

  // Every current and future acquire() returns an empty permit.
  void cancel();
  // Wakes the waiters so that they re-check their own cancel flags (Client::cancel()).
  void wake();

  int in_flight() const;

 private:
  void release_slot();
  bool stop_waiting(const std::atomic<bool>* cancelled) const;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  double max_per_second_;
  int max_concurrent_;
  int in_flight_ = 0;
  bool cancelled_ = false;
  Clock::time_point next_start_{};        // earliest start the bucket allows
  std::deque<Clock::time_point> recent_;  // the last floor(rate) reserved starts
};

}  // namespace vpbx::api
