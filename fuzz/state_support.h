#pragma once
// Invariants of the store's durable side, shared by the push, journal and state-file targets.

#include <string>

#include "exporter/state/store.h"

namespace vpbx::fuzz {

// The state file's JSON with seen_call_logs sorted: the store keeps those ids in a hash map, so
// two equal stores may write them in different orders.
std::string canonical_snapshot(const state::Store& store);

// What the exporter relies on at start-up: a state file the store wrote loads back, into a store
// configured the same, to the same state. `strict`: the first reload already gives the same file;
// otherwise the second must (text from a corrupt journal may hold NULs, which a reload cuts once).
void check_snapshot_reloads(const state::Store& store, bool strict);

// The journal's line format keeps a batch as it is: decode(encode(batch)) == batch.
void check_batch_round_trip(const state::Batch& batch);

}  // namespace vpbx::fuzz
