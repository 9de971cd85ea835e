#pragma once
// What the polling collectors share: their pacing, a poll's outcome, and UserSweep, the
// machinery of the collectors that poll one route per tracked user (presence, features).

#include <functional>
#include <string>
#include <vector>

#include "exporter/api/client.h"
#include "exporter/collectors/sweeper.h"
#include "exporter/state/store.h"

namespace vpbx::collectors {

// How push health steers a poller: the interval to use now (poll.<type>, or poll.fallback while
// push for the type is unhealthy), and whom to tell when a poll finds what push should have
// delivered (a call log not yet counted, a feature or presence change).
struct PollPacing {
  Sweeper::Interval interval;
  std::function<void()> found_missed_push;  // may be empty
  void missed() const {
    if (found_missed_push) found_missed_push();
  }
};

// The users of a sweep, as item keys (their ids).
std::vector<std::string> user_items(const state::Store& store);
// "" when the call succeeded, else its error (the Sweeper logs and counts it).
template <typename T>
std::string error_of(const api::Result<T>& result) {
  if (result.ok()) return {};
  return result.error.empty() ? std::string("request failed") : result.error;
}

// Polls one route per tracked user, each once per interval, spread evenly across it.
class UserSweep {
 public:
  // Polls one user: "" on success, else a short error (see error_of).
  using PollUser = std::function<std::string(std::int64_t user_id)>;

  UserSweep(std::string name, std::string interval_key, PollPacing pacing,
            std::shared_ptr<Pacer> pacer, state::Store& store, PollUser poll_user,
            std::shared_ptr<CollectorMetrics> metrics, std::shared_ptr<SweepMetrics> sweep_metrics);
  void start() { sweeper_.start(); }
  void request_stop() { sweeper_.request_stop(); }
  void stop() { sweeper_.stop(); }

 private:
  Sweeper sweeper_;
};

}  // namespace vpbx::collectors
