// The call-log ledger: counting each call log once by its id, the ids remembered for that, the
// polling cursors, and the names of the call-related enums.
#include <algorithm>
#include <cctype>

#include "exporter/state/store.h"

namespace vpbx::state {

std::string_view to_string(Source source) {
  return source == Source::push ? "push" : "poll";
}

std::string_view to_string(CallOutcome outcome) {
  switch (outcome) {
    case CallOutcome::counted:
      return "counted";
    case CallOutcome::duplicate:
      return "duplicate";
    case CallOutcome::unknown_user:
      return "unknown_user";
    case CallOutcome::invalid:
      return "invalid";
  }
  return "invalid";
}

std::string_view to_string(Direction direction) {
  switch (direction) {
    case Direction::incoming:
      return "incoming";
    case Direction::outgoing:
      return "outgoing";
    case Direction::other:
      return "other";
  }
  return "other";
}

Direction parse_direction(std::string_view api_value) {
  std::string upper(api_value);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (upper == "INCOMING") return Direction::incoming;
  if (upper == "OUTGOING") return Direction::outgoing;
  return Direction::other;
}

bool Store::answered(const api::CallLog& call_log) const {
  // Status codes have no public meaning: duration decides unless the config maps the code.
  if (call_log.status) {
    const auto it = answered_status_.find(static_cast<int>(*call_log.status));
    if (it != answered_status_.end()) return it->second;
  }
  return call_log.duration > 0;
}

CallOutcome Store::count_call_log(const api::CallLog& call_log, Source source) {
  std::lock_guard lock(mutex_);
  CallOutcome outcome = CallOutcome::counted;
  const auto user_it = users_.find(call_log.user_id);
  // An id is a key in memory and in the journal: an absurd one is refused, not stored; so is a
  // call whose duration is not data (-7 is not a 0 s call).
  if (api::call_log_problem(call_log)) {
    outcome = CallOutcome::invalid;
  } else if (seen_call_logs_.count(call_log.id) || unknown_call_logs_.count(call_log.id)) {
    outcome = CallOutcome::duplicate;
  } else if (user_it == users_.end()) {
    // Remembered too, so that re-reading it in the overlap window is a duplicate, not news; in a
    // bounded set, since anyone with the token can push calls of made-up users.
    remember_unknown_call_log(call_log.id);
    outcome = CallOutcome::unknown_user;
  } else {
    seen_call_logs_.emplace(call_log.id, call_log.call_start_epoch_ms);
    CallRecord call{call_log.id,        call_log.user_id,  parse_direction(call_log.direction),
                    answered(call_log), call_log.duration, call_log.call_start_epoch_ms};
    if (durable_) {
      pending_.calls.push_back(std::move(call));
    } else {
      apply_call(call);
    }
  }
  received_[{source, outcome}] += 1;
  return outcome;
}

void Store::apply_call(const CallRecord& call) {
  const auto user_it = users_.find(call.user_id);
  if (user_it == users_.end()) return;  // removed by a reload in the meantime
  auto& user = user_it->second;
  const auto d = index_of(call.direction);
  user.calls.calls[d][call.answered ? 1 : 0] += 1;
  user.calls.duration_seconds[d] += static_cast<double>(call.duration_seconds);
  if (call.answered) {
    auto& histogram = durations_[{user.identity.enterprise, call.direction}];
    if (histogram.buckets.empty()) histogram.buckets.assign(kDurationBounds.size() + 1, 0);
    const auto duration = static_cast<double>(call.duration_seconds);
    const auto bound = std::lower_bound(kDurationBounds.begin(), kDurationBounds.end(), duration);
    histogram.buckets[static_cast<std::size_t>(bound - kDurationBounds.begin())] += 1;
    histogram.count += 1;
    histogram.sum += duration;
  }
}

void Store::remember_unknown_call_log(const std::string& id) {
  if (!unknown_call_logs_.insert(id).second) return;
  unknown_call_log_order_.push_back(id);
  if (unknown_call_log_order_.size() > kMaxUnknownCallLogs) {
    unknown_call_logs_.erase(unknown_call_log_order_.front());
    unknown_call_log_order_.pop_front();
  }
}

void Store::remember_call_log(const api::CallLog& call_log) {
  if (api::call_log_problem(call_log)) return;
  std::lock_guard lock(mutex_);
  seen_call_logs_.emplace(call_log.id, call_log.call_start_epoch_ms);
}

std::optional<CallLogCursor> Store::call_log_cursor(const std::string& scope) const {
  std::lock_guard lock(mutex_);
  const auto it = cursors_.find(scope);
  if (it == cursors_.end()) return std::nullopt;
  return it->second;
}

void Store::set_call_log_cursor(const std::string& scope, const CallLogCursor& cursor) {
  std::lock_guard lock(mutex_);
  cursors_[scope] = cursor;
  if (durable_) {
    pending_.cursors.push_back({scope, cursor});
  } else {
    durable_cursors_[scope] = cursor;
  }
}

void Store::prune_seen_call_logs(std::int64_t older_than_epoch_ms) {
  std::lock_guard lock(mutex_);
  std::erase_if(seen_call_logs_,
                [&](const auto& entry) { return entry.second < older_than_epoch_ms; });
}

void Store::prune_seen_call_logs_behind_cursors(std::int64_t margin_ms) {
  std::int64_t oldest_cursor = 0;
  {
    std::lock_guard lock(mutex_);
    // The durable cursors: after a crash, polls resume from them, and must still find these ids.
    if (durable_cursors_.empty()) return;
    oldest_cursor = std::min_element(durable_cursors_.begin(), durable_cursors_.end(),
                                     [](const auto& a, const auto& b) {
                                       return a.second.newest_ms < b.second.newest_ms;
                                     })
                        ->second.newest_ms;
  }
  prune_seen_call_logs(oldest_cursor - margin_ms);
}

std::size_t Store::seen_call_log_count() const {
  std::lock_guard lock(mutex_);
  return seen_call_logs_.size();
}

std::size_t Store::unknown_call_log_count() const {
  std::lock_guard lock(mutex_);
  return unknown_call_log_order_.size();
}

}  // namespace vpbx::state
