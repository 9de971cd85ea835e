#pragma once
// Changing a feature the only way the API allows: GET the whole object, change it, PUT it back
// (no PATCH), then GET it again and report what the platform now says. Idempotent: a feature
// already as wanted is not PUT at all.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ctl/context.h"
#include "exporter/api/client.h"

namespace vpbx::ctl {

enum class ChangeResult { unchanged, changed, would_change, refused, failed, missing };

struct ChangeOutcome {
  KnownUser user;
  std::string feat_name;
  std::int64_t feature_id = 0;
  std::string before_status, before_destination;
  std::string after_status, after_destination;  // read back; planned for would_change
  ChangeResult result = ChangeResult::failed;
  std::string message;  // why it was refused, failed or is missing
};

// What a feature should become.
using Edit = std::function<void(api::Feature&)>;

// PUTs `wanted` unless it equals `current` (or `dry_run`), then reads the feature back.
ChangeOutcome change_feature(api::Client& client, const KnownUser& user,
                             const api::Feature& current, const api::Feature& wanted, bool dry_run);

// Reads the user's features, finds `feat_name` and changes it with `edit`.
ChangeOutcome change_named_feature(api::Client& client, const KnownUser& user,
                                   const std::string& feat_name, const Edit& edit, bool dry_run);

// "ACTIVE", or "ACTIVE (0225117902@s1.431569.bus.ipvoip.ch)" for a call forward.
std::string feature_state(const std::string& feat_name, const std::string& status,
                          const std::string& destination);

// Table (stdout; refusals and failures also on stderr, naming user and feature) or JSON.
void print_changes(Context& ctx, const std::vector<ChangeOutcome>& changes, Format format);
void write_change_json(Json& json, const ChangeOutcome& change);

// 1 when anything was refused or failed, else 2 when a feature was missing, else 0.
int exit_code(const std::vector<ChangeOutcome>& changes);

}  // namespace vpbx::ctl
