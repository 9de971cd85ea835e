#include "simulator/request_stats.h"

#include <algorithm>

namespace vpbx::sim {

void RequestStats::connection_accepted() {
  std::lock_guard lock(mutex_);
  ++stats_.connections_accepted;
}

void RequestStats::begin_api_request() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  ++stats_.api_requests;
  ++in_flight_;
  stats_.max_concurrent_requests = std::max(stats_.max_concurrent_requests, in_flight_);
  window_.push_back(now);
  while (!window_.empty() && now - window_.front() >= std::chrono::seconds(1)) window_.pop_front();
  stats_.max_requests_per_second =
      std::max(stats_.max_requests_per_second, static_cast<double>(window_.size()));
}

void RequestStats::end_api_request() {
  std::lock_guard lock(mutex_);
  --in_flight_;
}

void RequestStats::count_route(const std::string& route) {
  std::lock_guard lock(mutex_);
  ++stats_.requests_by_route[route];
}

Stats RequestStats::snapshot() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void RequestStats::reset() {
  std::lock_guard lock(mutex_);
  stats_ = Stats{};
  window_.clear();
}

}  // namespace vpbx::sim
