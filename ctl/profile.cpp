#include "ctl/profile.h"

#include "ctl/args.h"

namespace vpbx::ctl {
namespace {

// How specifically `pattern` names `feat_name`: -1 not at all, else longer is more specific and
// an exact name beats every prefix.
int specificity(std::string_view pattern, std::string_view feat_name) {
  if (!feature_matches(pattern, feat_name)) return -1;
  return pattern.ends_with('*') ? static_cast<int>(pattern.size()) : 1 << 20;
}

int best(const std::vector<std::string>& patterns, std::string_view feat_name) {
  int out = -1;
  for (const auto& p : patterns) out = std::max(out, specificity(p, feat_name));
  return out;
}

}  // namespace

config::FeatureProfile default_profile() {
  config::FeatureProfile profile;
  profile.inactive = {"CENTRAL_DND", "CALL_FORWARD_*"};
  return profile;
}

config::FeatureProfile find_profile(const config::Config& config, const std::string& name) {
  if (const auto it = config.profiles.find(name); it != config.profiles.end()) return it->second;
  if (name == "default") return default_profile();
  std::string names;
  for (const auto& [known, profile] : config.profiles) names += (names.empty() ? "" : ", ") + known;
  throw UsageError("no profile \"" + name + "\" in the config's profiles" +
                   (names.empty() ? std::string(" (there are none)") : " (" + names + ")"));
}

bool feature_matches(std::string_view pattern, std::string_view feat_name) {
  if (pattern.ends_with('*')) {
    pattern.remove_suffix(1);
    return feat_name.starts_with(pattern);
  }
  return pattern == feat_name;
}

std::vector<PlannedChange> plan_profile(const config::FeatureProfile& profile,
                                        const std::vector<api::Feature>& features) {
  std::vector<PlannedChange> out;
  for (const auto& feature : features) {
    api::Feature after = feature;
    const int active = best(profile.active, feature.feat_name);
    const int inactive = best(profile.inactive, feature.feat_name);
    if (active > inactive) {
      after.status = "ACTIVE";
    } else if (inactive > active) {
      after.status = "INACTIVE";
    }
    if (best(profile.clear_destinations, feature.feat_name) >= 0) after.destination_uri.clear();
    if (after.status != feature.status || after.destination_uri != feature.destination_uri) {
      out.push_back({feature, std::move(after)});
    }
  }
  return out;
}

}  // namespace vpbx::ctl
