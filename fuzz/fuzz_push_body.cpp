// The webhook's push body (callLogEvents, featureEvents, presenceEvents), through the receiver's
// own path: check_json_text, parse_push_body, then a durable store as with a state_file (apply,
// journal the batch, commit, write and reload the state file, scrape).
#include <prometheus/metric_family.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "exporter/api/models.h"
#include "exporter/state/store.h"
#include "exporter/webhook/detail.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/state_support.h"

using namespace vpbx;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (text.empty() || webhook::detail::check_json_text(text)) return 0;
  std::string error;
  const auto body = api::parse_push_body(text, &error);
  if (!body) {
    fuzz::check(!error.empty(), "parse_push_body refused a body without a reason");
    (void)webhook::detail::error_kind(error);
    return 0;
  }
  if (body->invalid_events > 0) return 0;  // the receiver refuses the whole body
  const bool any = !body->call_log_events.empty() || !body->feature_events.empty() ||
                   !body->presence_events.empty() || !body->unknown_event_kinds.empty();
  if (!any && !webhook::detail::has_events_array(text)) return 0;

  state::Store store;
  store.configure(fuzz::store_config());
  store.enable_durability();
  const auto applied = store.apply_push(*body);
  fuzz::check(applied.size() == body->call_log_events.size() + body->feature_events.size() +
                                    body->presence_events.size() + body->unknown_event_kinds.size(),
              "apply_push did not answer one outcome per event");
  // Nothing but invalid events may carry text the journal's line format could not keep.
  const state::Batch batch = store.take_pending();
  fuzz::check_batch_round_trip(batch);
  store.commit(batch);
  (void)store.exposition();
  fuzz::check_snapshot_reloads(store, /*strict=*/true);
  // Replayed as after a crash: every call in the batch is already seen, so nothing moves.
  const std::string before = fuzz::canonical_snapshot(store);
  store.commit(batch, /*replay=*/true);
  fuzz::check(fuzz::canonical_snapshot(store) == before,
              "replaying a committed batch changed the state");
  return 0;
}
