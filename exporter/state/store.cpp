#include "exporter/state/store.h"

#include <algorithm>

namespace vpbx::state {

std::string_view to_string(EventOutcome outcome) {
  switch (outcome) {
    case EventOutcome::applied:
      return "applied";
    case EventOutcome::duplicate:
      return "duplicate";
    case EventOutcome::invalid:
      return "invalid";
    case EventOutcome::unknown_user:
      return "unknown_user";
    case EventOutcome::ignored:
      return "ignored";
    case EventOutcome::other_shard:
      return "other_shard";
  }
  return "invalid";
}

void Store::configure(const config::Config& config) {
  std::lock_guard lock(mutex_);
  max_users_ = config.max_users;
  discover_users_ = config.discover_users;
  feature_include_ = config.features.include;
  expose_destinations_ = config.features.expose_destinations;
  answered_status_ = config.call_logs.answered_status;
  presence_map_ = PresenceMap(config.presence.state_map);
  shard_ = config.shard;
  account_label_.clear();
  if (!config.account.empty()) {
    account_label_ = "account=\"";
    metrics::write_escaped(account_label_, config.account, true);
    account_label_ += '"';
  }

  std::set<std::int64_t> configured;
  for (const auto& user : config.users) {
    if (!shard_.owns(user.user_id)) continue;
    configured.insert(user.user_id);
    auto& state = users_[user.user_id];
    state.identity = user;
    state.configured = true;
  }
  for (auto it = users_.begin(); it != users_.end();) {
    auto& state = it->second;
    if (!configured.count(it->first)) state.configured = false;
    // A user dropped from the config goes, with its series; a discovered one stays if allowed.
    const bool keep =
        shard_.owns(it->first) && (state.configured || (state.discovered && discover_users_));
    it = keep ? std::next(it) : users_.erase(it);
  }
  // Features no longer included drop out now rather than at the next poll.
  for (auto& [id, state] : users_) {
    state.features.erase_if([this](const auto& f) { return !feature_included(f.first); });
  }
  relabel();
}

void Store::relabel() {
  // The `user` label must identify one user: on a clash, the login (unique) or the id is used.
  std::map<std::string, int> uses;
  for (auto& [id, state] : users_) ++uses[state.identity.label()];
  for (auto& [id, state] : users_) {
    state.label = state.identity.label();
    if (uses[state.label] > 1) {
      state.label = !state.identity.login.empty() ? state.identity.login : std::to_string(id);
    }
    state.series_labels = account_label_.empty() ? "" : account_label_ + ",";
    state.series_labels += "enterprise=\"";
    metrics::write_escaped(state.series_labels, state.identity.enterprise, true);
    state.series_labels += "\",user=\"";
    metrics::write_escaped(state.series_labels, state.label, true);
    state.series_labels += '"';
  }
}

bool Store::learn_user(const std::string& enterprise, std::int64_t user_id,
                       const std::string& login) {
  if (user_id <= 0 || enterprise.empty()) return false;
  bool learnt = false;
  {
    std::lock_guard lock(mutex_);
    if (!discover_users_ || users_.count(user_id) || !shard_.owns(user_id)) return false;
    if (users_.size() >= max_users_) {
      if (max_users_reached_.fail("max_users")) {
        log::warn("max_users reached; a new user is not tracked",
                  {{"max_users", max_users_}, {"user_id", user_id}});
      }
      return false;
    }
    const LearntUser user{enterprise, user_id, login};
    learnt = add_learnt_user(user);
    if (learnt && durable_) pending_.users.push_back(user);
  }
  if (learnt) {
    log::info("user discovered", {{"enterprise", enterprise}, {"user_id", user_id}});
    std::function<void()> listener;
    {
      std::lock_guard lock(listener_mutex_);
      listener = users_changed_;
    }
    if (listener) listener();
  }
  return learnt;
}

void Store::set_users_changed_listener(std::function<void()> listener) {
  std::lock_guard lock(listener_mutex_);
  users_changed_ = std::move(listener);
}

bool Store::owns(std::int64_t user_id) const {
  std::lock_guard lock(mutex_);
  return shard_.owns(user_id);
}

bool Store::add_learnt_user(const LearntUser& learnt) {
  if (users_.count(learnt.user_id) || !discover_users_ || users_.size() >= max_users_ ||
      !shard_.owns(learnt.user_id)) {
    return false;
  }
  UserState state;
  state.identity.enterprise = learnt.enterprise;
  state.identity.user_id = learnt.user_id;
  state.identity.login = learnt.login;
  // The login is "<number>@<domain>"; the number is what a hotel recognises.
  const auto at = learnt.login.find('@');
  if (at != std::string::npos && at > 0) state.identity.number = learnt.login.substr(0, at);
  state.discovered = true;
  users_.emplace(learnt.user_id, std::move(state));
  relabel();
  return true;
}

std::vector<UserSnapshot> Store::users() const {
  std::lock_guard lock(mutex_);
  std::vector<UserSnapshot> out;
  out.reserve(users_.size());
  for (const auto& [id, state] : users_)
    out.push_back({state.identity, state.discovered && !state.configured});
  return out;
}

std::optional<config::User> Store::user(std::int64_t user_id) const {
  std::lock_guard lock(mutex_);
  const auto it = users_.find(user_id);
  if (it == users_.end()) return std::nullopt;
  return it->second.identity;
}

bool Store::knows(std::int64_t user_id) const {
  std::lock_guard lock(mutex_);
  return users_.count(user_id) > 0;
}

bool Store::set_presence(std::int64_t user_id, const std::string& raw_state) {
  bool known = true;
  bool changed = false;
  bool log_it = false;
  {
    std::lock_guard lock(mutex_);
    const auto it = users_.find(user_id);
    if (it == users_.end()) return false;
    const PresenceState state = presence_map_.map(raw_state, &known);
    changed = it->second.presence_seen && it->second.presence != state;
    it->second.presence = state;
    it->second.presence_seen = true;
    if (!known) {
      ++unmapped_presence_;
      // Each value once, and only so many: the values come from the network.
      log_it = unmapped_logged_.size() < kMaxUnmappedStatesLogged &&
               unmapped_logged_.insert(raw_state).second;
    }
  }
  if (log_it) {
    log::warn("unmapped presence state; counted as unknown (see presence.state_map)",
              {{"state", raw_state}});
  }
  return changed;
}

bool Store::feature_included(const std::string& name) const {
  return feature_include_.empty() || std::find(feature_include_.begin(), feature_include_.end(),
                                               name) != feature_include_.end();
}

namespace {
constexpr auto kByName = [](const auto& entry, std::string_view name) {
  return entry.first < name;
};
}  // namespace

std::vector<Store::FeatureMap::Entry>::iterator Store::FeatureMap::find_slot(
    std::string_view name) {
  return std::lower_bound(entries_.begin(), entries_.end(), name, kByName);
}

bool Store::FeatureMap::contains(std::string_view name) const {
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), name, kByName);
  return it != entries_.end() && it->first == name;
}

std::pair<Store::FeatureState*, bool> Store::FeatureMap::try_emplace(std::string_view name) {
  const auto slot = find_slot(name);
  if (slot != entries_.end() && slot->first == name) return {&slot->second, false};
  return {&entries_.insert(slot, Entry{std::string(name), FeatureState{}})->second, true};
}

bool Store::set_feature(UserState& user, const api::Feature& feature, bool count_change,
                        bool* kept) {
  if (kept) *kept = false;
  if (api::feature_problem(feature)) return false;
  if (kept) *kept = true;  // a feature the config does not include is kept as ignored
  if (!feature_included(feature.feat_name)) return false;
  const std::string& name = feature.feat_name;
  if (!user.features.contains(name) && user.features.size() >= kMaxFeaturesPerUser) {
    if (kept) *kept = false;
    if (features_full_.fail("features")) {
      log::warn(
          "a user has the most features tracked per user; a new feature name is not tracked",
          {{"max_features_per_user", kMaxFeaturesPerUser}, {"user_id", user.identity.user_id}});
    }
    return false;
  }
  auto [entry, inserted] = user.features.try_emplace(name);
  FeatureState& state = *entry;
  const bool changed = !inserted && state.status != feature.status;
  // Names leave features when a poll no longer returns them, not their change counters: these
  // are bounded on their own.
  if (changed && count_change &&
      (user.feature_changes.count(name) || user.feature_changes.size() < kMaxFeaturesPerUser)) {
    user.feature_changes[name] += 1;
  }
  state.status = feature.status;
  state.active = feature.active();
  state.destination = feature.destination_uri;
  return changed;
}

bool Store::set_features(std::int64_t user_id, const std::vector<api::Feature>& features) {
  std::lock_guard lock(mutex_);
  const auto it = users_.find(user_id);
  if (it == users_.end()) return false;
  auto& user = it->second;
  std::vector<std::string_view> present;
  bool changed = false;
  user.features.reserve(features.size());  // the first poll sizes it once
  for (const auto& feature : features) {
    bool kept = false;
    changed = set_feature(user, feature, true, &kept) || changed;
    if (kept) present.push_back(feature.feat_name);  // an invalid one goes, as if not returned
  }
  std::sort(present.begin(), present.end());
  user.features.erase_if(
      [&](const auto& f) { return !std::binary_search(present.begin(), present.end(), f.first); });
  return changed;
}

bool Store::apply_feature(std::int64_t user_id, const api::Feature& feature) {
  std::lock_guard lock(mutex_);
  const auto it = users_.find(user_id);
  if (it == users_.end()) return false;
  bool kept = false;
  set_feature(it->second, feature, true, &kept);
  return kept;
}

std::vector<AppliedEvent> Store::apply_push(const api::PushBody& body) {
  std::vector<AppliedEvent> results;
  const auto learn = [this](const api::EventContext& context) {
    if (context.user_id > 0 && !context.enterprise_name.empty()) {
      learn_user(context.enterprise_name, context.user_id, context.user_name);
    }
  };
  // An event with a value out of bounds (api::*_problem) is invalid whole: nothing of it is
  // applied, and its context teaches no user.
  for (const auto& event : body.call_log_events) {
    AppliedEvent result{"CALL_LOG", EventOutcome::invalid};
    if (event.call_log) {
      api::CallLog call_log = *event.call_log;
      if (call_log.user_id == 0) call_log.user_id = event.context.user_id;
      if (!call_log.problem) call_log.problem = api::context_problem(event.context);
      if (!api::call_log_problem(call_log)) learn(event.context);
      switch (count_call_log(call_log, Source::push)) {
        case CallOutcome::counted:
          result.outcome = EventOutcome::applied;
          break;
        case CallOutcome::duplicate:
          result.outcome = EventOutcome::duplicate;
          break;
        case CallOutcome::unknown_user:
          result.outcome = EventOutcome::unknown_user;
          break;
        case CallOutcome::invalid:
          result.outcome = EventOutcome::invalid;
          break;
        case CallOutcome::other_shard:
          result.outcome = EventOutcome::other_shard;
          break;
      }
    }
    results.push_back(result);
  }
  for (const auto& event : body.feature_events) {
    AppliedEvent result{"FEATURE", EventOutcome::invalid};
    if (event.feature && !api::feature_problem(*event.feature) &&
        !api::context_problem(event.context)) {
      const std::int64_t user_id =
          event.feature->user_id ? event.feature->user_id : event.context.user_id;
      learn(event.context);
      if (!owns(user_id)) {
        result.outcome = EventOutcome::other_shard;
      } else if (!knows(user_id)) {
        result.outcome = EventOutcome::unknown_user;
      } else if (apply_feature(user_id, *event.feature)) {
        result.outcome = EventOutcome::applied;
      }  // else a new name past kMaxFeaturesPerUser: invalid
    }
    results.push_back(result);
  }
  for (const auto& event : body.presence_events) {
    AppliedEvent result{"PRESENCE", EventOutcome::invalid};
    if (event.presence && !api::presence_problem(*event.presence) &&
        !api::context_problem(event.context)) {
      const std::int64_t user_id =
          event.presence->user_id ? event.presence->user_id : event.context.user_id;
      learn(event.context);
      if (!owns(user_id)) {
        result.outcome = EventOutcome::other_shard;
      } else if (!knows(user_id)) {
        result.outcome = EventOutcome::unknown_user;
      } else {
        set_presence(user_id, event.presence->status);
        result.outcome = EventOutcome::applied;
      }
    }
    results.push_back(result);
  }
  for (const auto& kind : body.unknown_event_kinds)
    results.push_back({kind, EventOutcome::ignored});
  return results;
}

}  // namespace vpbx::state
