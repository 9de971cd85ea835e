// The journal (<state_file>.journal.<seq>) as replayed at start-up: decode_journal takes any
// text, its batches re-encode to themselves, and replaying them leaves a state file that loads.
#include <prometheus/metric_family.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "exporter/state/records.h"
#include "exporter/state/store.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/state_support.h"

using namespace vpbx;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::size_t dropped = 0;
  const auto batches = state::decode_journal(text, &dropped);
  state::Store store;
  store.configure(fuzz::store_config());
  for (const auto& batch : batches) {
    fuzz::check_batch_round_trip(batch);
    store.commit(batch, /*replay=*/true);
  }
  (void)store.exposition();
  // Text from the journal is not checked like the network's (a NUL in a login is cut on the
  // first reload), hence not strict.
  fuzz::check_snapshot_reloads(store, /*strict=*/false);
  return 0;
}
