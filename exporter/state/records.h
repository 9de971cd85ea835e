#pragma once
// What the store must make durable before it exposes it: counted call logs, learnt users and
// call-log cursors. A Batch is taken from the store, written to the journal and fsynced, and
// only then committed (folded into what /metrics shows): a crash between a scrape and the next
// snapshot can never make Prometheus' increase() count a call twice.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vpbx::state {

enum class Direction { incoming, outgoing, other };
// A Direction as an index into per-direction arrays.
inline std::size_t index_of(Direction d) {
  return static_cast<std::size_t>(d);
}

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

// The journal's text form: a file starts with "J\t<version>\n"; then one batch is "B\n", its
// records, "E\n". Fields are tab-separated and percent-escaped; a batch without its "E" (a crash
// mid-write) is dropped at replay. Journals written before the header existed have none.
inline constexpr int kJournalVersion = 1;
std::string journal_header();
std::string encode_batch(const Batch& batch);
// Parses a whole journal; complete batches only. `dropped` counts incomplete or bad batches (a
// record out of bounds, as read_journal() sees them, makes a batch bad).
std::vector<Batch> decode_journal(const std::string& text, std::size_t* dropped = nullptr);

// The first damage in a journal that a crash cannot explain.
struct JournalFault {
  std::size_t line = 0;    // 1-based
  std::size_t offset = 0;  // byte offset of that line's start
  std::string reason;
};

// A journal as read at start-up. Only the tail can be torn by a crash (the writer truncates a
// failed write away, or starts a new file): an unfinished last batch is `torn`, never a fault,
// since it was never fsynced nor exposed. Anything else (a bad record, a batch cut short by
// another, a line outside a batch, another version) is a `fault`; the records that still parse
// in batches that did end (so were committed) are kept in `batches`, in file order. A record
// holding what the state file may not (a call of -1 s) is a bad record: what is replayed must
// write out as a state file that restores.
struct JournalContents {
  std::vector<Batch> batches;
  std::size_t torn = 0;
  std::size_t damaged = 0;  // batches with an unreadable part, or cut short
  std::optional<JournalFault> fault;
};
JournalContents read_journal(const std::string& text);

}  // namespace vpbx::state
