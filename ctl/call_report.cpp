#include "ctl/call_report.h"

#include <set>

namespace vpbx::ctl {
namespace {

// A pager that never sees a short page (a server that ignores offset) stops here.
constexpr int kMaxPages = 10000;

}  // namespace

bool is_answered(const config::CallLogsConfig& config, const api::CallLog& call) {
  if (call.status) {
    if (const auto it = config.answered_status.find(static_cast<int>(*call.status));
        it != config.answered_status.end()) {
      return it->second;
    }
  }
  return call.duration > 0;
}

CallReport fetch_calls(api::Client& client, const config::CallLogsConfig& config,
                       const KnownUser& user, std::int64_t from_ms, std::int64_t to_ms,
                       int page_size) {
  CallReport report;
  report.user = user;
  report.from_ms = from_ms;
  report.to_ms = to_ms;
  api::CallLogQuery query;
  query.from_epoch_ms = from_ms;
  query.to_epoch_ms = to_ms;
  query.limit = page_size;
  std::set<std::string> seen;  // a call that ends while we page shifts the offsets by one
  for (; report.pages < kMaxPages; ++report.pages) {
    const auto page = client.get_user_call_logs(user.user_id, query);
    if (!page.ok()) {
      report.error = "cannot read the call logs (page " + std::to_string(report.pages + 1) +
                     "): " + failure(page);
      return report;
    }
    for (const auto& call : *page.value) {
      if (!seen.insert(call.id).second) continue;
      report.calls.push_back(call);
      ++report.totals.calls;
      if (is_answered(config, call)) ++report.totals.answered;
      report.totals.duration_seconds += call.duration;
      ++report.totals.by_direction[call.direction];
    }
    if (static_cast<int>(page.value->size()) < query.limit) {
      ++report.pages;
      break;
    }
    query.offset += static_cast<int>(page.value->size());
  }
  return report;
}

void print_calls(std::ostream& out, const config::CallLogsConfig& config, const CallReport& r,
                 Format format) {
  if (format == Format::csv) {
    out << csv_line({"id", "userId", "callStart", "direction", "duration", "answered", "status",
                     "callType", "callPartyNumber"});
    for (const auto& c : r.calls) {
      out << csv_line({printable(c.id), std::to_string(c.user_id), printable(c.call_start),
                       printable(c.direction), std::to_string(c.duration),
                       is_answered(config, c) ? "true" : "false",
                       c.status ? std::to_string(*c.status) : "", printable(c.call_type),
                       printable(c.call_party_number)});
    }
    return;
  }
  out << r.user.display() << ": calls from " << api::format_iso8601_ms(r.from_ms) << " to "
      << api::format_iso8601_ms(r.to_ms) << "\n";
  Table table({"CALL START", "DIRECTION", "DURATION", "ANSWERED", "NUMBER", "STATUS"});
  for (const auto& c : r.calls) {
    table.add({printable(c.call_start), printable(c.direction), hms(c.duration),
               is_answered(config, c) ? "yes" : "no", printable(c.call_party_number),
               c.status ? std::to_string(*c.status) : ""});
  }
  if (!table.empty()) table.print(out);
  const CallTotals& t = r.totals;
  out << "total: " << t.calls << " calls, " << t.answered << " answered, "
      << hms(t.duration_seconds) << " (" << t.duration_seconds << " s)";
  for (const auto& [direction, count] : t.by_direction) {
    out << ", " << printable(direction, 40) << " " << count;
  }
  out << "\n";
}

void write_calls_json(Json& json, const config::CallLogsConfig& config, const CallReport& r) {
  auto& w = json.w();
  json.key("user");
  w.StartObject();
  json.field("userId", r.user.user_id);
  json.field("label", r.user.label());
  w.EndObject();
  json.field("from", api::format_iso8601_ms(r.from_ms));
  json.field("to", api::format_iso8601_ms(r.to_ms));
  json.key("calls");
  w.StartArray();
  for (const auto& c : r.calls) {
    w.StartObject();
    json.field("id", c.id);
    json.field("userId", c.user_id);
    json.field("callStart", c.call_start);
    json.field("duration", c.duration);
    json.field("direction", c.direction);
    json.field("callType", c.call_type);
    if (c.status) json.field("status", *c.status);
    json.field("callPartyNumber", c.call_party_number);
    json.field("answered", is_answered(config, c));
    w.EndObject();
  }
  w.EndArray();
  json.key("totals");
  w.StartObject();
  json.field("calls", r.totals.calls);
  json.field("answered", r.totals.answered);
  json.field("durationSeconds", r.totals.duration_seconds);
  json.key("byDirection");
  w.StartObject();
  for (const auto& [direction, count] : r.totals.by_direction) json.field(direction, count);
  w.EndObject();
  w.EndObject();
  json.field("pages", static_cast<std::int64_t>(r.pages));
}

}  // namespace vpbx::ctl
