#include "exporter/state/records.h"

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "exporter/api/models.h"

namespace vpbx::state {
namespace {

// Identifiers come from the network: escape anything that would break a line or a field.
void append_escaped(std::string& out, const std::string& field) {
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : field) {
    if (c == '%' || c == '\t' || c == '\n' || c == '\r') {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
}

bool unescape(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    unsigned value = 0;
    const auto* begin = in.data() + i + 1;
    if (std::from_chars(begin, begin + 2, value, 16).ptr != begin + 2) return false;
    out += static_cast<char>(value);
    i += 2;
  }
  return true;
}

bool to_int(std::string_view text, std::int64_t& value) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (;;) {
    const auto tab = line.find('\t', start);
    fields.push_back(
        line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) return fields;
    start = tab + 1;
  }
}

// Why `line` is not a record, or nullptr once it is added to `batch`. The bounds are those of the
// state file that the store writes after a replay: a record it could not write so that the file
// loads back is as damaged as one that does not parse. A call's duration has the network's bound
// (api::kMaxCallDurationSeconds): never negative, so that no restored sum is.
const char* parse_record(std::string_view line, Batch& batch) {
  static constexpr const char* kUnreadable = "an unreadable record";
  const auto f = split(line);
  if (f.empty()) return kUnreadable;
  if (f[0] == "U" && f.size() == 4) {
    LearntUser user;
    if (!unescape(f[1], user.enterprise) || !to_int(f[2], user.user_id) ||
        !unescape(f[3], user.login)) {
      return kUnreadable;
    }
    batch.users.push_back(std::move(user));
    return nullptr;
  }
  if (f[0] == "C" && f.size() == 7) {
    CallRecord call;
    std::int64_t direction = 0, answered = 0;
    if (!unescape(f[1], call.id) || !to_int(f[2], call.user_id) || !to_int(f[3], direction) ||
        !to_int(f[4], answered) || !to_int(f[5], call.duration_seconds) ||
        !to_int(f[6], call.call_start_ms) || direction < 0 || direction > 2) {
      return kUnreadable;
    }
    if (call.duration_seconds < 0 || call.duration_seconds > api::kMaxCallDurationSeconds)
      return "a call record with a duration out of range";
    call.direction = static_cast<Direction>(direction);
    call.answered = answered != 0;
    batch.calls.push_back(std::move(call));
    return nullptr;
  }
  if (f[0] == "K" && f.size() == 4) {
    CursorRecord cursor;
    if (!unescape(f[1], cursor.scope) || !to_int(f[2], cursor.cursor.start_ms) ||
        !to_int(f[3], cursor.cursor.newest_ms)) {
      return kUnreadable;
    }
    batch.cursors.push_back(std::move(cursor));
    return nullptr;
  }
  return kUnreadable;
}

}  // namespace

std::string encode_batch(const Batch& batch) {
  std::string out = "B\n";
  for (const auto& user : batch.users) {
    out += "U\t";
    append_escaped(out, user.enterprise);
    out += '\t' + std::to_string(user.user_id) + '\t';
    append_escaped(out, user.login);
    out += '\n';
  }
  for (const auto& call : batch.calls) {
    out += "C\t";
    append_escaped(out, call.id);
    out += '\t' + std::to_string(call.user_id) + '\t' +
           std::to_string(static_cast<int>(call.direction)) + '\t' + (call.answered ? "1" : "0") +
           '\t' + std::to_string(call.duration_seconds) + '\t' +
           std::to_string(call.call_start_ms) + '\n';
  }
  for (const auto& cursor : batch.cursors) {
    out += "K\t";
    append_escaped(out, cursor.scope);
    out += '\t' + std::to_string(cursor.cursor.start_ms) + '\t' +
           std::to_string(cursor.cursor.newest_ms) + '\n';
  }
  out += "E\n";
  return out;
}

std::string journal_header() {
  return "J\t" + std::to_string(kJournalVersion) + "\n";
}

std::vector<Batch> decode_journal(const std::string& text, std::size_t* dropped) {
  std::vector<Batch> batches;
  std::size_t bad = 0;
  std::optional<Batch> current;
  bool current_ok = true;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) break;  // a torn last line: never fsynced, never exposed
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line == "B") {
      if (current) ++bad;  // a batch left without its end
      current.emplace();
      current_ok = true;
    } else if (line == "E") {
      if (current && current_ok) {
        batches.push_back(std::move(*current));
      } else {
        ++bad;
      }
      current.reset();
    } else if (!current || parse_record(line, *current)) {
      current_ok = false;
    }
  }
  if (current) ++bad;
  if (dropped) *dropped = bad;
  return batches;
}

JournalContents read_journal(const std::string& text) {
  JournalContents out;
  std::optional<Batch> current;
  std::optional<JournalFault> current_fault;  // damage inside the open batch
  std::size_t start = 0;
  std::size_t line_no = 0;
  const auto fault = [&](std::size_t offset, std::string reason) {
    if (!out.fault) out.fault = JournalFault{line_no, offset, std::move(reason)};
  };
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) break;  // a torn last line: never fsynced, never exposed
    const std::string_view line(text.data() + start, end - start);
    const std::size_t offset = start;
    start = end + 1;
    ++line_no;
    if (line_no == 1 && line.starts_with("J\t")) {
      std::int64_t version = 0;
      if (!to_int(line.substr(2), version) || version != kJournalVersion) {
        fault(offset, "journal version " + std::string(line.substr(2)) + ", expected " +
                          std::to_string(kJournalVersion));
        return out;  // nothing of another format is trusted
      }
      continue;
    }
    if (line == "B") {
      if (current) {
        // Our writer never appends after a torn batch: something else cut this one short.
        ++out.damaged;
        fault(offset, "a batch starts before the previous one ended");
      }
      current.emplace();
      current_fault.reset();
    } else if (line == "E") {
      if (!current) {
        fault(offset, "a batch end without its start");
        continue;
      }
      // It ended, so it was committed: what still parses of it is kept.
      if (current_fault) {
        ++out.damaged;
        if (!out.fault) out.fault = current_fault;
      }
      out.batches.push_back(std::move(*current));
      current.reset();
      current_fault.reset();
    } else if (!current) {
      fault(offset, "a line outside a batch");
    } else if (const char* problem = parse_record(line, *current); problem && !current_fault) {
      current_fault = JournalFault{line_no, offset, problem};
    }
  }
  // An unfinished last batch, damaged or not, is a torn write.
  if (current || start < text.size()) ++out.torn;
  return out;
}

}  // namespace vpbx::state
