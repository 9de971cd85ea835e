#include "simulator/duration.h"

#include <regex>

namespace vpbx::sim {

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  static const std::regex re(R"(^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  const double value = std::stod(m[1].str());
  const std::string unit = m[2].matched ? m[2].str() : "ms";
  const double factor = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : 3600000;
  return std::chrono::milliseconds(static_cast<std::int64_t>(value * factor));
}

}  // namespace vpbx::sim
