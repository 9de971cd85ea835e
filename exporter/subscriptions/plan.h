#pragma once
// What the exporter's subscriptions of one resource type should be, and how to get there from the
// ones that exist: pure functions, no I/O (the Manager does the calls).
//
// Scopes: FEATURE subscriptions are scoped by enterpriseNames for the enterprises of the config
// (the seed shows it); users outside them, and every user for CALL_LOG and PRESENCE, by userIds
// (the seed's CALL_LOG body; enterprise scope is "DOC MISSING OR NOT IMPLEMENTED?" there), or by
// loginNames for a user known only by login. One kind of list per subscription, each list within
// the server's bulkLimitCommon.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "exporter/api/models.h"
#include "exporter/config/config.h"

namespace vpbx::subscriptions {

bool supports_enterprise_scope(const std::string& resource_type);

// A scope item, as text: "e:<enterpriseName>", "u:<userId>" or "l:<loginName>".
using Items = std::set<std::string>;

struct Wanted {
  Items items;
  std::vector<std::string> resource_names;  // sorted; FEATURE: features.include, else empty
};

Wanted wanted_scope(const std::string& resource_type, const std::vector<std::string>& enterprises,
                    const std::vector<config::User>& users,
                    const std::vector<std::string>& feature_names);

// The items a subscription covers; empty when it has no scope list (it then covers everyone).
Items items_of(const api::Subscription& subscription);

// What `subscription` covers that is still wanted: it may be deleted once all of this is covered
// by other live subscriptions. An unscoped one covers everything wanted.
Items still_needed(const api::Subscription& subscription, const Wanted& wanted);

struct PlannedCreate {
  api::SubscriptionRequest request;  // without expires and notificationUrl
  bool renewal = false;              // replaces (part of) a subscription due for renewal
};

struct TypePlan {
  std::vector<api::Subscription> keep;  // ours, right as they are
  std::vector<PlannedCreate> create;
  // Ours to delete after the creates (duplicates, due for renewal, out of scope, too large), each
  // only once still_needed() is covered by what is kept or was created.
  std::vector<api::Subscription> remove;
};

// `ours`: the exporter's subscriptions of this type. The one expiring last wins among overlaps;
// one within `renew_before_ms` of expiry is replaced.
TypePlan plan_type(const std::string& resource_type, const Wanted& wanted,
                   std::vector<api::Subscription> ours, std::int64_t now_ms,
                   std::int64_t renew_before_ms, std::size_t bulk_limit);

// Short, for logs and the landing page: "userIds=176125,176129,176133,… (12)".
std::string describe_scope(const api::Subscription& subscription);
std::string describe_scope(const api::SubscriptionRequest& request);

}  // namespace vpbx::subscriptions
