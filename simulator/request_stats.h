#pragma once
// What the benchmarks read back: request counts by route, connections, peak rate and concurrency.

#include <chrono>
#include <deque>
#include <mutex>
#include <string>

#include "simulator/simulator.h"

namespace vpbx::sim {

class RequestStats {
 public:
  void connection_accepted();
  void begin_api_request();  // counts it, updates the 1 s window and the concurrency
  void end_api_request();
  void count_route(const std::string& route);
  Stats snapshot() const;  // push counters left at 0: the PushSender owns them
  void reset();

 private:
  mutable std::mutex mutex_;
  Stats stats_;
  int in_flight_ = 0;
  std::deque<std::chrono::steady_clock::time_point> window_;
};

}  // namespace vpbx::sim
