// Durations ("1h30m", "250ms"): parse_duration promises std::invalid_argument, and what it
// accepts, format_duration writes back as a text that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>

#include "exporter/config/config.h"
#include "fuzz/fuzz_support.h"

using namespace vpbx;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  config::Duration d{};
  try {
    d = config::parse_duration(text);
  } catch (const std::invalid_argument&) {
    return 0;
  } catch (const std::exception& e) {
    fuzz::fail("parse_duration threw something else than std::invalid_argument", e.what());
  }
  fuzz::check(d.count() >= 0, "a negative duration", text);
  const std::string formatted = config::format_duration(d);
  try {
    fuzz::check(config::parse_duration(formatted) == d, "format_duration changes the value",
                text + " -> " + formatted);
  } catch (const std::exception& e) {
    fuzz::fail("format_duration wrote what parse_duration refuses", text + " -> " + formatted);
  }
  return 0;
}
