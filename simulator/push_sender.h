#pragma once
// Delivers pushes to notificationUrls from one worker thread, in order, over a long-lived libcurl
// handle (keep-alive, as the platform's ReactorNetty client does). Drop / duplicate faults are
// decided when a push is queued.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "simulator/model.h"

namespace vpbx::sim {

struct PushCounters {
  std::uint64_t sent = 0;
  std::uint64_t dropped = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t failed = 0;
};

class PushSender {
 public:
  PushSender();
  ~PushSender();
  PushSender(const PushSender&) = delete;
  PushSender& operator=(const PushSender&) = delete;

  void start();
  void stop();  // pending pushes are discarded
  void enqueue(std::vector<Push> pushes, double drop_ratio, double duplicate_ratio);
  PushCounters counters() const;
  void reset_counters();

 private:
  void run();

  static constexpr std::size_t kMaxQueued = 100000;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Push> queue_;
  bool stopping_ = false;
  std::thread worker_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::atomic<std::uint64_t> sent_{0}, dropped_{0}, duplicated_{0}, failed_{0};
};

}  // namespace vpbx::sim
