#pragma once

#include <string>
#include <vector>

namespace vpbx::app {

struct LandingSubscription {
  std::string resource_type;
  std::string id;
  std::string scope;
  std::string expires;  // ISO 8601
  bool adopted = false;
};

// One account's part of the page.
struct LandingAccount {
  std::string name;  // empty: the implicit account
  std::size_t users = 0;
  std::size_t enterprises = 0;
  std::size_t shard_users = 0;  // the users this shard holds
  bool api_polled = false;
  bool api_up = false;
  std::string api_url;
  std::string platform_version;
  std::string api_error;
  bool subscriptions_managed = false;
  std::vector<LandingSubscription> subscriptions;
};

struct LandingInfo {
  std::string telemetry_path;
  int shard_index = 0;  // shown when shard_count > 1 (scale-out)
  int shard_count = 1;
  std::vector<LandingAccount> accounts;
};

// The HTML of `/`: name, version, links, users configured, API status (per account, with several).
// No secret ever goes in.
std::string render_landing_page(const LandingInfo& info);

}  // namespace vpbx::app
