#include "fuzz/fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "exporter/log/log.h"

// Read by UBSan at start-up, so that running a target by hand (build-fuzz/fuzz/fuzz_x crash-...)
// reports as scripts/fuzz.sh does; UBSAN_OPTIONS still overrides it.
extern "C" const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1:suppressions=" VPBX_FUZZ_DIR "/ubsan.supp";
}

namespace vpbx::fuzz {

void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "==fuzz invariant broken== %s\n", what);
  if (!detail.empty()) {
    // Bounded: the detail may be a whole input.
    std::fprintf(stderr, "%.*s\n", static_cast<int>(std::min<std::size_t>(detail.size(), 2000)),
                 detail.data());
  }
  std::abort();
}

const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "vpbx-fuzz-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) fail("cannot create a scratch folder", pattern);
    // Removed at exit, also when libFuzzer stops the run (it exits, it does not abort).
    static const std::string removed_at_exit = pattern;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(removed_at_exit, ec);
    });
    return pattern;
  }();
  return dir;
}

std::string write_scratch(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  check(out.good(), "cannot write a scratch file", path);
  return path;
}

config::Config store_config() {
  config::Config c;
  for (const std::int64_t id : {168382, 176125, 176129}) {
    config::User user;
    user.enterprise = "291908.bus.ent";
    user.user_id = id;
    user.login = "+4122566" + std::to_string(id) + "@m.ipvoip.ch";
    c.users.push_back(user);
  }
  c.enterprises = {"291908.bus.ent"};
  c.discover_users = true;
  c.max_users = 8;
  c.call_logs.answered_status = {{804, true}, {486, false}};
  return c;
}

void quiet_logs() {
  log::configure(log::Level::error, log::Format::logfmt);
}

}  // namespace vpbx::fuzz
