#include "ctl/time_arg.h"

#include <chrono>
#include <stdexcept>
#include <string>

#include "ctl/args.h"
#include "ctl/output.h"
#include "exporter/api/models.h"
#include "exporter/config/config.h"

namespace vpbx::ctl {

std::optional<std::int64_t> parse_time_arg(std::string_view text, std::int64_t now_ms) {
  if (text == "now") return now_ms;
  if (const auto ms = api::parse_iso8601_ms(text)) return ms;
  // A duration is digits then a unit letter; a date-time always has a '-' after its year.
  if (text.empty() || text.find('-') != std::string_view::npos) return std::nullopt;
  try {
    const auto back = config::parse_duration(std::string(text));
    if (back.count() <= 0) return std::nullopt;
    return now_ms - back.count();
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

std::int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace vpbx::ctl

namespace vpbx::ctl {

Period period_from_args(const Args& args, const char* default_since) {
  const std::int64_t now = now_epoch_ms();
  const auto read = [&](const char* option, const std::string& text) {
    const auto ms = parse_time_arg(text, now);
    if (!ms) {
      throw UsageError(std::string(option) + " \"" + printable(text, 60) +
                       "\" is not a TIME: give an ISO 8601 date-time such as "
                       "2024-09-27T15:26:45Z, a date, now, or a duration back such as 24h");
    }
    return *ms;
  };
  Period p;
  const auto since = args.value("--since");
  if (!since && !default_since) throw UsageError(args.command() + ": --since TIME is required");
  p.from_ms = read("--since", since ? *since : default_since);
  p.to_ms = args.has("--until") ? read("--until", *args.value("--until")) : now;
  if (p.to_ms <= p.from_ms) throw UsageError("--until must be after --since");
  return p;
}

}  // namespace vpbx::ctl
