#pragma once
// Shared by the libFuzzer targets: invariant checks that abort (so libFuzzer keeps the input),
// a per-process scratch folder for parsers that only read from a path, and the store every
// state-touching target applies its input to.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exporter/config/config.h"

namespace vpbx::fuzz {

// Reports and aborts: a broken invariant is a finding, like a sanitizer report.
[[noreturn]] void fail(const char* what, std::string_view detail = {});
inline void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) fail(what, detail);
}

// A folder of this process's own, removed at exit: parallel fuzzers never share files.
const std::string& scratch_dir();
// Writes `data` to `<scratch_dir>/<name>` and returns the path.
std::string write_scratch(const std::string& name, const std::uint8_t* data, std::size_t size);

// Three users of the seed's enterprise (their ids are in the seed corpus' pushes), discovery on
// and a small max_users, so that learning and its limit are both reachable.
config::Config store_config();

// Silences the exporter's log: a fuzzer logs millions of refusals.
void quiet_logs();

}  // namespace vpbx::fuzz
