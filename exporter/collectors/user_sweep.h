#pragma once
// What the per-user collectors share: the items of a sweep and a poll's outcome.

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

}  // namespace vpbx::collectors
