#pragma once
// TIME on the command line (calls --since/--until, checkout --since): an ISO 8601 date-time
// ("2024-09-27T15:26:45Z", "2024-09-27T17:26:45+02:00"; without an offset it is UTC), a date
// ("2024-09-27", midnight UTC), "now", or a duration back from now in Prometheus' spelling
// ("24h", "30m", "7d", "1h30m").

#include <cstdint>
#include <optional>
#include <string_view>

namespace vpbx::ctl {

// Epoch milliseconds, or nullopt when `text` is none of the above.
std::optional<std::int64_t> parse_time_arg(std::string_view text, std::int64_t now_ms);

std::int64_t now_epoch_ms();

}  // namespace vpbx::ctl

namespace vpbx::ctl {

struct Args;

struct Period {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
};

// --since (required unless `default_since` is given) and --until (default now). Throws
// UsageError for a bad TIME or a period that ends before it starts.
Period period_from_args(const Args& args, const char* default_since = nullptr);

}  // namespace vpbx::ctl
