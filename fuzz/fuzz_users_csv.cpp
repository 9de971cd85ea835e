// The users CSV (users_file): parse_users_csv promises CsvError naming the line, nothing else.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "exporter/config/users_csv.h"
#include "fuzz/fuzz_support.h"

using namespace vpbx;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    int previous = 0;
    for (const auto& row : config::parse_users_csv(text)) {
      fuzz::check(row.line > previous, "rows out of line order");
      previous = row.line;
    }
  } catch (const config::CsvError& e) {
    fuzz::check(e.line() >= 0, "a CsvError with a negative line");
  } catch (const std::exception& e) {
    fuzz::fail("parse_users_csv threw something else than CsvError", e.what());
  }
  return 0;
}
