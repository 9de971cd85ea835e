#pragma once
// What the store must make durable before it exposes it: counted call logs, learnt users and
// call-log cursors. A Batch is taken from the store, written to the journal and fsynced, and
// only then committed (folded into what /metrics shows): a crash between a scrape and the next
// snapshot can never make Prometheus' increase() count a call twice.

#include <cstdint>
#include <string>
#include <vector>

namespace vpbx::state {

enum class Direction { incoming, outgoing, other };

struct CallRecord {
  std::string id;
  std::int64_t user_id = 0;
  Direction direction = Direction::other;
  bool answered = false;
  std::int64_t duration_seconds = 0;
  std::int64_t call_start_ms = 0;
};

struct LearntUser {
  std::string enterprise;
  std::int64_t user_id = 0;
  std::string login;
};

// A call-log polling scope's cursor: calls that ended before start_ms are history (not counted);
// newest_ms is the newest callStart seen, from which the next poll reads (minus the overlap).
struct CallLogCursor {
  std::int64_t start_ms = 0;
  std::int64_t newest_ms = 0;
};

struct CursorRecord {
  std::string scope;
  CallLogCursor cursor;
};

struct Batch {
  std::vector<LearntUser> users;  // applied first: calls may belong to them
  std::vector<CallRecord> calls;
  std::vector<CursorRecord> cursors;  // applied last: never ahead of the calls they cover
  bool empty() const { return users.empty() && calls.empty() && cursors.empty(); }
};

// The journal's text form: one batch is "B\n", its records, "E\n". Fields are tab-separated
// and percent-escaped; a batch without its "E" (a crash mid-write) is dropped at replay.
std::string encode_batch(const Batch& batch);
// Parses a whole journal; complete batches only. `dropped` counts incomplete or bad batches.
std::vector<Batch> decode_journal(const std::string& text, std::size_t* dropped = nullptr);

}  // namespace vpbx::state
