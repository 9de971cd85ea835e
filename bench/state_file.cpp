// Start-up with a large state file (issue 15): a store of --users users (bench/fill_store.h) that
// remembers --ids call-log ids is written to a state file by the exporter's own Persistence (its
// last snapshot at stop()), then a fresh store configured the same way loads it, as the exporter
// does at start-up before it serves. Prints one line of figures:
//   users=10000 ids=1000000 file_mb=... write_s=... load_s=... loaded=yes
//   vpbx_bench_state_file [--users=10000] [--ids=1000000] [--dir=/tmp]
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench/fill_store.h"
#include "exporter/state/persistence.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int users = 10000;
  long ids = 1000000;
  std::string dir = "/tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--users=", 0) == 0) {
      users = std::atoi(arg.c_str() + 8);
    } else if (arg.rfind("--ids=", 0) == 0) {
      ids = std::atol(arg.c_str() + 6);
    } else if (arg.rfind("--dir=", 0) == 0) {
      dir = arg.substr(6);
    } else {
      std::fprintf(stderr, "usage: %s [--users=N] [--ids=N] [--dir=DIR]\n", argv[0]);
      return 2;
    }
  }
  if (users < 1 || ids < 0) return 2;
  std::string folder = dir + "/vpbx-state-bench.XXXXXX";
  if (!mkdtemp(folder.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string state_file = folder + "/state.json";

  double write_s = 0;
  {
    vpbx::state::Store store;
    vpbx::bench::fill_store(store, users);
    // Call logs of the last half hour (inside the call-log overlap, so none is pruned), spread
    // over the users, each a new id: what a hotel's store remembers after a busy day of pushes.
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const auto configured = vpbx::bench::hotel_config(users).users;
    for (long n = 0; n < ids; ++n) {
      vpbx::api::CallLog call;
      call.id = "startup-" + std::to_string(n);
      call.user_id = configured[static_cast<std::size_t>(n % users)].user_id;
      call.call_start_epoch_ms = now_ms - (n % 1800) * 1000;
      call.duration = n % 300;
      call.direction = n % 2 ? "INCOMING" : "OUTGOING";
      call.status = call.duration > 0 ? 804 : 802;
      store.count_call_log(call, vpbx::state::Source::push);
    }
    vpbx::state::Persistence persistence(state_file, store);
    persistence.start();
    const auto start = std::chrono::steady_clock::now();
    persistence.stop();  // flushes and writes the last snapshot
    write_s = seconds_since(start);
  }

  struct stat file_stat {};
  stat(state_file.c_str(), &file_stat);
  vpbx::state::Store store;
  store.configure(vpbx::bench::hotel_config(users));
  vpbx::state::Persistence persistence(state_file, store);
  const auto start = std::chrono::steady_clock::now();
  const bool loaded = persistence.load();  // reads the file, then writes a fresh snapshot
  const double load_s = seconds_since(start);

  std::printf("users=%d ids=%ld file_mb=%.1f write_s=%.3f load_s=%.3f loaded=%s\n", users, ids,
              static_cast<double>(file_stat.st_size) / 1e6, write_s, load_s, loaded ? "yes" : "no");
  std::filesystem::remove_all(folder);
  return loaded ? 0 : 1;
}
