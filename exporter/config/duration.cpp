// Prometheus' duration spelling: units in decreasing order, each at most once, integers only.

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "exporter/config/config.h"

namespace vpbx::config {
namespace {

struct Unit {
  const char* name;
  std::int64_t ms;
};

// Largest first: parsing enforces this order and formatting prints it.
constexpr Unit kUnits[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};

[[noreturn]] void bad(const std::string& text) {
  throw std::invalid_argument("\"" + text +
                              "\" is not a duration (use e.g. 250ms, 30s, 5m, 1h30m)");
}

}  // namespace

Duration parse_duration(const std::string& text) {
  if (text == "0") return Duration{0};
  if (text.empty()) bad(text);
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // index into kUnits: units must come in decreasing order
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    const std::size_t digits_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const int digit = text[i] - '0';
      if (n > (kMax - digit) / 10) bad(text);
      n = n * 10 + digit;
      ++i;
    }
    if (i == digits_start) bad(text);
    // "ms" before "m": the longest unit name that matches.
    std::size_t unit = std::size(kUnits);
    if (text.compare(i, 2, "ms") == 0) {
      unit = 6;
    } else if (i < text.size()) {
      for (std::size_t u = 0; u < 6; ++u) {
        if (text[i] == kUnits[u].name[0]) unit = u;
      }
    }
    if (unit == std::size(kUnits) || unit < next_unit) bad(text);
    i += unit == 6 ? 2 : 1;
    next_unit = unit + 1;
    if (n > (kMax - total) / kUnits[unit].ms) bad(text);
    total += n * kUnits[unit].ms;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (const auto& unit : kUnits) {
    if (ms >= unit.ms) {
      out += std::to_string(ms / unit.ms) + unit.name;
      ms %= unit.ms;
    }
  }
  return out;
}

}  // namespace vpbx::config
