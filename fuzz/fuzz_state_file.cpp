// The state file (<state_file>, JSON) as read at start-up: Store::restore must refuse or load any
// text without crashing, and what it loaded must write out and load back the same.
#include <prometheus/metric_family.h>

#include <cstddef>
#include <cstdint>
#include <string>

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
  state::Store store;
  store.configure(fuzz::store_config());
  const std::string configured = fuzz::canonical_snapshot(store);
  std::uint64_t seq = 0;
  std::string error;
  if (!store.restore(text, seq, error)) {
    fuzz::check(!error.empty(), "restore refused without a reason");
    fuzz::check(fuzz::canonical_snapshot(store) == configured,
                "a refused state file changed the store");
    return 0;
  }
  (void)store.exposition();
  fuzz::check_snapshot_reloads(store, /*strict=*/true);
  return 0;
}
