#pragma once
// Timestamps as the platform writes them: callStart / expires in UTC to the second
// ("2024-09-27T15:26:45Z"); eventTime / created / modified in the platform's local time
// (Europe/Zurich, the provider's zone) with an offset ("2024-11-04T12:38:54.753+01:00").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vpbx::sim {

std::int64_t now_epoch_us();
std::string format_utc_seconds(std::int64_t epoch_ms);  // 2024-09-27T15:26:45Z
// Europe/Zurich with its offset; `digits` of fraction (3 = ms, 6 = us, trailing zeros trimmed
// when trim is set, as Java's ISO formatter does).
std::string format_zurich(std::int64_t epoch_us, int digits, bool trim);
// ISO 8601 / RFC 3339: date, optional time, fraction and offset (Z, +01:00, +0100, or a space
// where a '+' was decoded from a query string). nullopt when unparsable.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text);

}  // namespace vpbx::sim
