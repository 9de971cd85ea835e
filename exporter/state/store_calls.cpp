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
    case CallOutcome::other_shard:
      return "other_shard";
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
  } else if (user_it == users_.end() && !shard_.owns(call_log.user_id)) {
    // Another replica's to count. Not remembered: most of an enterprise's calls are, and the
    // owner remembers them.
    outcome = CallOutcome::other_shard;
  } else if (user_it == users_.end()) {
    // Remembered too, so that re-reading it in the overlap window is a duplicate, not news; in a
    // bounded set, since anyone with the token can push calls of made-up users.
    remember_unknown_call_log(call_log.id);
    outcome = CallOutcome::unknown_user;
  } else {
    remember_seen(call_log.id, call_log.call_start_epoch_ms);
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
  remember_seen(call_log.id, call_log.call_start_epoch_ms);
}

bool Store::remember_seen(std::string id, std::int64_t call_start_ms) {
  if (seen_call_logs_.count(id)) return false;
  make_room_in_seen_tail();
  seen_tail_.push_back({std::move(id), call_start_ms});
  seen_call_logs_.insert(seen_tail_.back().id);
  return true;
}

// The index views the tail's strings, whose text a short id keeps inline: the tail never
// reallocates behind its back. A full chunk is sealed (its buffer moved, its entries put), and the
// next tail starts whole, as the store is a busy one; a smaller tail is moved to one twice its size
// and its views re-pointed, so each id moves about once on average.
void Store::make_room_in_seen_tail() {
  if (seen_tail_.size() < seen_tail_.capacity()) return;
  if (seen_tail_.size() >= kSeenCallLogChunk) {
    seal_seen_tail();
    seen_tail_.reserve(kSeenCallLogChunk);
    return;
  }
  std::vector<SeenCallLog> grown;
  grown.reserve(std::clamp(2 * seen_tail_.size(), kSeenCallLogTailStart, kSeenCallLogChunk));
  for (auto& entry : seen_tail_) {
    // Found by the old text, so taken out before the entry moves.
    auto node = seen_call_logs_.extract(std::string_view(entry.id));
    grown.push_back(std::move(entry));
    repoint_seen(std::move(node), grown.back().id);
  }
  seen_tail_ = std::move(grown);
}

void Store::repoint_seen(SeenIndex::node_type node, const std::string& id) {
  if (!node) {  // every remembered id is indexed; this only keeps a broken invariant safe
    seen_call_logs_.insert(id);
    return;
  }
  node.value() = id;  // same text, same hash: no rehash, no allocation
  seen_call_logs_.insert(std::move(node));
}

void Store::seal_seen_tail() const {
  if (seen_tail_.empty()) return;
  // Moving the vector hands over its buffer: the entries, and the views of them, stay put.
  seen_chunks_.push_back(std::make_shared<const std::vector<SeenCallLog>>(std::move(seen_tail_)));
  seen_tail_ = std::vector<SeenCallLog>();
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
  prune_seen(older_than_epoch_ms);
}

void Store::prune_seen(std::int64_t older_than_epoch_ms) {
  // Chunks are shared with snapshots being written, so none is changed: one that loses no id is
  // kept as it is, the others are copied without their old ids, into full chunks again (small
  // ones, sealed by snapshots, are merged the same way).
  seal_seen_tail();
  const auto old = [&](const SeenCallLog& entry) {
    return entry.call_start_ms < older_than_epoch_ms;
  };
  std::vector<SeenChunk> kept;
  std::vector<SeenCallLog> building;
  // A copy is sealed at its size, then the index's views move to it: until then they view the
  // old chunks, which outlive this function.
  const auto seal_building = [&] {
    if (building.empty()) return;
    building.shrink_to_fit();
    for (const auto& entry : building) {
      repoint_seen(seen_call_logs_.extract(std::string_view(entry.id)), entry.id);
    }
    kept.push_back(std::make_shared<const std::vector<SeenCallLog>>(std::move(building)));
    building = std::vector<SeenCallLog>();
  };
  for (const auto& chunk : seen_chunks_) {
    if (chunk->size() >= kSeenCallLogChunk / 2 && std::none_of(chunk->begin(), chunk->end(), old)) {
      seal_building();  // ids stay in insertion order
      kept.push_back(chunk);
      continue;
    }
    for (const auto& entry : *chunk) {
      if (old(entry)) {
        seen_call_logs_.erase(std::string_view(entry.id));
        continue;
      }
      if (building.size() == kSeenCallLogChunk) seal_building();
      building.push_back(entry);
    }
  }
  seal_building();
  seen_chunks_ = std::move(kept);  // the old chunks go with the last snapshot holding them
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

std::size_t Store::seen_call_log_capacity() const {
  std::lock_guard lock(mutex_);
  std::size_t capacity = seen_tail_.capacity();
  for (const auto& chunk : seen_chunks_) capacity += chunk->capacity();
  return capacity;
}

std::size_t Store::unknown_call_log_count() const {
  std::lock_guard lock(mutex_);
  return unknown_call_log_order_.size();
}

}  // namespace vpbx::state
