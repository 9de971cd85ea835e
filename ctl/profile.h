#pragma once
// Check-out profiles (config key profiles): which features a room goes back to, and what that
// changes for one user's features. Pure: no I/O.

#include <string>
#include <string_view>
#include <vector>

#include "exporter/api/models.h"
#include "exporter/config/config.h"

namespace vpbx::ctl {

// Without a profiles section: CENTRAL_DND and every CALL_FORWARD_* INACTIVE.
config::FeatureProfile default_profile();

// The profile called `name`; "default" falls back to default_profile(). Throws UsageError for
// an unknown name, listing the configured ones.
config::FeatureProfile find_profile(const config::Config& config, const std::string& name);

// `pattern` is a featName, or a prefix followed by '*'.
bool feature_matches(std::string_view pattern, std::string_view feat_name);

struct PlannedChange {
  api::Feature before;
  api::Feature after;  // before with the profile applied: what is PUT
};

// One entry per feature the profile changes, in the features' order. Where patterns disagree
// the most specific wins (an exact name over CALL_FORWARD_*, a longer prefix over a shorter).
std::vector<PlannedChange> plan_profile(const config::FeatureProfile& profile,
                                        const std::vector<api::Feature>& features);

}  // namespace vpbx::ctl
