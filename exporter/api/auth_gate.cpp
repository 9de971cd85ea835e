// The account's standing with the platform: when a refused password lets a request go.
#include <algorithm>

#include "exporter/api/detail.h"

namespace vpbx::api::detail {

AuthGate::AuthGate(std::chrono::milliseconds base, std::chrono::milliseconds cap)
    : base_(base), cap_(std::max(cap, std::chrono::milliseconds(1))) {
  base_ = std::clamp(base_, std::chrono::milliseconds(1), cap_);  // a cap below 10 s wins
}

AuthGate::Admit AuthGate::admit(Clock::time_point now) {
  switch (state_) {
    case State::accepted:
      return Admit::send;
    case State::untested:
      if (probe_out_) return Admit::wait;
      probe_out_ = true;
      return Admit::probe;
    case State::refused:
      if (probe_out_ || now < next_probe_) return Admit::refuse;
      probe_out_ = true;
      return Admit::probe;
  }
  return Admit::send;
}

AuthGate::Change AuthGate::report(Answer answer, bool probe, Clock::time_point now,
                                  double random01) {
  if (probe) probe_out_ = false;
  switch (answer) {
    case Answer::accepted: {
      const bool was_refused = state_ == State::refused;
      state_ = State::accepted;
      failures_ = 0;
      step_ = std::chrono::milliseconds(0);
      return was_refused ? Change::recovered : Change::none;
    }
    case Answer::refused:
      if (state_ != State::refused) {
        state_ = State::refused;
        failures_ = 1;
      } else if (probe) {
        ++failures_;
      } else {
        return Change::none;  // sent before the backoff began: the step stays
      }
      step_ = backoff_delay(failures_ - 1, base_, cap_, random01);
      next_probe_ = now + step_;
      return failures_ == 1 ? Change::refused : Change::refused_again;
    case Answer::unknown:
      // Nothing learnt about the credentials. Before any answer, the waiting requests go
      // (serialising them behind an unreachable platform would help nobody); in backoff, the
      // next probe waits for another step of the same length.
      if (state_ == State::untested && probe) state_ = State::accepted;
      if (state_ == State::refused && probe) next_probe_ = now + step_;
      return Change::none;
  }
  return Change::none;
}

void AuthGate::abandon_probe() {
  probe_out_ = false;
}

std::chrono::milliseconds AuthGate::retry_in(Clock::time_point now) const {
  if (state_ != State::refused || now >= next_probe_) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(next_probe_ - now);
}

AuthGate::Answer AuthGate::classify(long http_status) {
  if (http_status == 401 || http_status == 403) return Answer::refused;
  if (http_status >= 200 && http_status < 300) return Answer::accepted;
  // Other client errors come from the application, which let the request in.
  if (http_status >= 400 && http_status < 500 && http_status != 408 && http_status != 429) {
    return Answer::accepted;
  }
  return Answer::unknown;
}

}  // namespace vpbx::api::detail
