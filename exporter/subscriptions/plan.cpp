#include "exporter/subscriptions/plan.h"

#include <algorithm>
#include <type_traits>

namespace vpbx::subscriptions {

namespace {

std::string user_item(std::int64_t id) {
  return "u:" + std::to_string(id);
}

template <typename T>
std::string join_short(const char* key, const std::vector<T>& values) {
  constexpr std::size_t kShown = 3;
  std::string out = key;
  out += '=';
  for (std::size_t i = 0; i < values.size() && i < kShown; ++i) {
    if (i) out += ',';
    if constexpr (std::is_same_v<T, std::string>) {
      out += values[i];
    } else {
      out += std::to_string(values[i]);
    }
  }
  if (values.size() > kShown) out += ",… (" + std::to_string(values.size()) + ")";
  return out;
}

std::string describe(const std::vector<std::string>& enterprises,
                     const std::vector<std::int64_t>& user_ids,
                     const std::vector<std::string>& logins,
                     const std::vector<std::string>& resource_names) {
  std::vector<std::string> parts;
  if (!enterprises.empty()) parts.push_back(join_short("enterpriseNames", enterprises));
  if (!user_ids.empty()) parts.push_back(join_short("userIds", user_ids));
  if (!logins.empty()) parts.push_back(join_short("loginNames", logins));
  if (!resource_names.empty()) parts.push_back(join_short("resourceNames", resource_names));
  if (parts.empty()) return "everyone";
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

bool subset(const Items& a, const Items& b) {
  return std::includes(b.begin(), b.end(), a.begin(), a.end());
}

bool disjoint(const Items& a, const Items& b) {
  return std::none_of(a.begin(), a.end(), [&](const std::string& i) { return b.count(i) != 0; });
}

}  // namespace

bool supports_enterprise_scope(const std::string& resource_type) {
  return resource_type == "FEATURE";
}

Wanted wanted_scope(const std::string& resource_type, const std::vector<std::string>& enterprises,
                    const std::vector<config::User>& users,
                    const std::vector<std::string>& feature_names) {
  Wanted wanted;
  const bool by_enterprise = supports_enterprise_scope(resource_type);
  const std::set<std::string> covered(enterprises.begin(), enterprises.end());
  if (by_enterprise) {
    for (const auto& e : covered) wanted.items.insert("e:" + e);
  }
  for (const auto& u : users) {
    if (by_enterprise && covered.count(u.enterprise)) continue;
    if (u.user_id != 0) {
      wanted.items.insert(user_item(u.user_id));
    } else if (!u.login.empty()) {
      wanted.items.insert("l:" + u.login);
    }
  }
  if (resource_type == "FEATURE") wanted.resource_names = sorted(feature_names);
  return wanted;
}

Items items_of(const api::Subscription& s) {
  Items items;
  for (const auto& e : s.enterprise_names) items.insert("e:" + e);
  for (const auto id : s.user_ids) items.insert(user_item(id));
  for (const auto& l : s.login_names) items.insert("l:" + l);
  return items;
}

Items still_needed(const api::Subscription& s, const Wanted& wanted) {
  const Items items = items_of(s);
  if (items.empty()) return wanted.items;
  Items needed;
  for (const auto& i : items) {
    if (wanted.items.count(i)) needed.insert(i);
  }
  return needed;
}

TypePlan plan_type(const std::string& resource_type, const Wanted& wanted,
                   std::vector<api::Subscription> ours, std::int64_t now_ms,
                   std::int64_t renew_before_ms, std::size_t bulk_limit) {
  bulk_limit = std::max<std::size_t>(bulk_limit, 1);
  TypePlan plan;
  // The one expiring last is kept among duplicates and overlaps.
  std::sort(ours.begin(), ours.end(), [](const api::Subscription& a, const api::Subscription& b) {
    return a.expires_epoch_ms != b.expires_epoch_ms ? a.expires_epoch_ms > b.expires_epoch_ms
                                                    : a.id < b.id;
  });
  Items covered;
  Items renewing;  // items of subscriptions due for renewal
  for (auto& s : ours) {
    const Items items = items_of(s);
    const bool due = s.expires_epoch_ms - now_ms <= renew_before_ms;
    const bool fits = s.enterprise_names.size() <= bulk_limit && s.user_ids.size() <= bulk_limit &&
                      s.login_names.size() <= bulk_limit;
    const bool keep = !due && fits && !items.empty() && subset(items, wanted.items) &&
                      disjoint(items, covered) && sorted(s.resource_names) == wanted.resource_names;
    if (keep) {
      covered.insert(items.begin(), items.end());
      plan.keep.push_back(std::move(s));
    } else {
      if (due) {
        const Items needed = still_needed(s, wanted);
        renewing.insert(needed.begin(), needed.end());
      }
      plan.remove.push_back(std::move(s));
    }
  }

  // What nothing kept covers, in batches of one list kind each.
  std::vector<std::string> enterprises, logins;
  std::vector<std::int64_t> user_ids;
  for (const auto& item : wanted.items) {
    if (covered.count(item)) continue;
    const std::string value = item.substr(2);
    switch (item[0]) {
      case 'e':
        enterprises.push_back(value);
        break;
      case 'u':
        user_ids.push_back(std::stoll(value));
        break;
      default:
        logins.push_back(value);
        break;
    }
  }
  std::sort(user_ids.begin(), user_ids.end());
  auto add_batches = [&](const auto& values, auto set_list, auto item_of) {
    for (std::size_t at = 0; at < values.size(); at += bulk_limit) {
      PlannedCreate c;
      c.request.resource_type = resource_type;
      c.request.resource_names = wanted.resource_names;
      const auto end =
          values.begin() + static_cast<std::ptrdiff_t>(std::min(values.size(), at + bulk_limit));
      for (auto it = values.begin() + static_cast<std::ptrdiff_t>(at); it != end; ++it) {
        set_list(c.request).push_back(*it);
        if (renewing.count(item_of(*it))) c.renewal = true;
      }
      plan.create.push_back(std::move(c));
    }
  };
  add_batches(
      enterprises, [](api::SubscriptionRequest & r) -> auto& { return r.enterprise_names; },
      [](const std::string& e) { return "e:" + e; });
  add_batches(
      user_ids, [](api::SubscriptionRequest & r) -> auto& { return r.user_ids; },
      [](std::int64_t id) { return user_item(id); });
  add_batches(
      logins, [](api::SubscriptionRequest & r) -> auto& { return r.login_names; },
      [](const std::string& l) { return "l:" + l; });
  return plan;
}

std::string describe_scope(const api::Subscription& s) {
  return describe(s.enterprise_names, s.user_ids, s.login_names, s.resource_names);
}

std::string describe_scope(const api::SubscriptionRequest& r) {
  return describe(r.enterprise_names, r.user_ids, r.login_names, r.resource_names);
}

}  // namespace vpbx::subscriptions
