#pragma once
// A user's call logs over a period, read page by page until a page is not full, with totals:
// the seed's "bill a room at check-out without missing any entries".

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "ctl/output.h"
#include "ctl/user_resolver.h"
#include "exporter/api/client.h"
#include "exporter/config/config.h"

namespace vpbx::ctl {

struct CallTotals {
  std::int64_t calls = 0;
  std::int64_t answered = 0;
  std::int64_t duration_seconds = 0;
  std::map<std::string, std::int64_t> by_direction;  // INCOMING / OUTGOING / other
};

struct CallReport {
  KnownUser user;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::vector<api::CallLog> calls;  // each id once, in the API's order
  CallTotals totals;
  int pages = 0;
  std::string error;  // empty when every page was read
};

// The exporter's rule: call_logs.answered_status for an explicit code, else duration > 0.
bool is_answered(const config::CallLogsConfig& config, const api::CallLog& call);

CallReport fetch_calls(api::Client& client, const config::CallLogsConfig& config,
                       const KnownUser& user, std::int64_t from_ms, std::int64_t to_ms,
                       int page_size);

// Table (with a totals line) or CSV (one row per call). JSON: write_calls_json.
void print_calls(std::ostream& out, const config::CallLogsConfig& config, const CallReport& report,
                 Format format);
// The report's members ("user", "from", "to", "calls", "totals") into an open JSON object.
void write_calls_json(Json& json, const config::CallLogsConfig& config, const CallReport& report);

}  // namespace vpbx::ctl
