#pragma once
// Durations as flags and /_sim/faults spell them: "200ms", "1.5s", "2m", "1h", or bare
// milliseconds.

#include <chrono>
#include <optional>
#include <string>

namespace vpbx::sim {

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace vpbx::sim
