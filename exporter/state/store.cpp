#include "exporter/state/store.h"

#include <algorithm>
#include <limits>
#include <set>
#include <thread>

#include "exporter/metrics/families.h"

namespace vpbx::state {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;
using vpbx::metrics::add_counter;
using vpbx::metrics::add_gauge;
using vpbx::metrics::make_family;

std::size_t index_of(Direction d) {
  return static_cast<std::size_t>(d);
}

}  // namespace

// Users rendered per hold of the store's lock in Collect().
constexpr std::size_t kCollectChunk = 256;

std::string_view to_string(Source source) {
  return source == Source::push ? "push" : "poll";
}

std::string_view to_string(CallOutcome outcome) {
  switch (outcome) {
    case CallOutcome::counted:
      return "counted";
    case CallOutcome::duplicate:
      return "duplicate";
    case CallOutcome::unknown_user:
      return "unknown_user";
    case CallOutcome::invalid:
      return "invalid";
  }
  return "invalid";
}

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
  }
  return "invalid";
}

std::string_view to_string(Direction direction) {
  switch (direction) {
    case Direction::incoming:
      return "incoming";
    case Direction::outgoing:
      return "outgoing";
    case Direction::other:
      return "other";
  }
  return "other";
}

Direction parse_direction(std::string_view api_value) {
  std::string upper(api_value);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (upper == "INCOMING") return Direction::incoming;
  if (upper == "OUTGOING") return Direction::outgoing;
  return Direction::other;
}

void Store::configure(const config::Config& config) {
  std::lock_guard lock(mutex_);
  max_users_ = config.max_users;
  discover_users_ = config.discover_users;
  feature_include_ = config.features.include;
  expose_destinations_ = config.features.expose_destinations;
  answered_status_ = config.call_logs.answered_status;
  presence_map_ = PresenceMap(config.presence.state_map);

  std::set<std::int64_t> configured;
  for (const auto& user : config.users) {
    configured.insert(user.user_id);
    auto& state = users_[user.user_id];
    state.identity = user;
    state.configured = true;
  }
  for (auto it = users_.begin(); it != users_.end();) {
    auto& state = it->second;
    if (!configured.count(it->first)) state.configured = false;
    // A user dropped from the config goes, with its series; a discovered one stays if allowed.
    const bool keep = state.configured || (state.discovered && discover_users_);
    it = keep ? std::next(it) : users_.erase(it);
  }
  // Features no longer included drop out now rather than at the next poll.
  for (auto& [id, state] : users_) {
    std::erase_if(state.features, [this](const auto& f) { return !feature_included(f.first); });
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
  }
}

bool Store::learn_user(const std::string& enterprise, std::int64_t user_id,
                       const std::string& login) {
  if (user_id <= 0 || enterprise.empty()) return false;
  bool learnt = false;
  {
    std::lock_guard lock(mutex_);
    if (!discover_users_ || users_.count(user_id)) return false;
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

bool Store::add_learnt_user(const LearntUser& learnt) {
  if (users_.count(learnt.user_id) || !discover_users_ || users_.size() >= max_users_) return false;
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

bool Store::set_feature(UserState& user, const api::Feature& feature, bool count_change,
                        bool* kept) {
  if (kept) *kept = false;
  if (api::feature_problem(feature)) return false;
  if (kept) *kept = true;  // a feature the config does not include is kept as ignored
  if (!feature_included(feature.feat_name)) return false;
  const std::string& name = feature.feat_name;
  if (!user.features.count(name) && user.features.size() >= kMaxFeaturesPerUser) {
    if (kept) *kept = false;
    if (features_full_.fail("features")) {
      log::warn(
          "a user has the most features tracked per user; a new feature name is not tracked",
          {{"max_features_per_user", kMaxFeaturesPerUser}, {"user_id", user.identity.user_id}});
    }
    return false;
  }
  auto [it, inserted] = user.features.try_emplace(name);
  FeatureState& state = it->second;
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
  std::set<std::string> present;
  bool changed = false;
  for (const auto& feature : features) {
    bool kept = false;
    changed = set_feature(user, feature, true, &kept) || changed;
    if (kept) present.insert(feature.feat_name);  // an invalid one goes, as if not returned
  }
  std::erase_if(user.features, [&](const auto& f) { return !present.count(f.first); });
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
      if (!knows(user_id)) {
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
      if (!knows(user_id)) {
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

bool Store::answered(const api::CallLog& call_log) const {
  // Status codes have no public meaning: duration decides unless the config maps the code.
  if (call_log.status) {
    const auto it = answered_status_.find(static_cast<int>(*call_log.status));
    if (it != answered_status_.end()) return it->second;
  }
  return call_log.duration > 0;
}

CallOutcome Store::count_call_log(const api::CallLog& call_log, Source source) {
  std::lock_guard lock(mutex_);
  CallOutcome outcome = CallOutcome::counted;
  const auto user_it = users_.find(call_log.user_id);
  // An id is a key in memory and in the journal: an absurd one is refused, not stored; so is a
  // call whose duration is not data (-7 is not a 0 s call).
  if (api::call_log_problem(call_log)) {
    outcome = CallOutcome::invalid;
  } else if (seen_call_logs_.count(call_log.id) || unknown_call_logs_.count(call_log.id)) {
    outcome = CallOutcome::duplicate;
  } else if (user_it == users_.end()) {
    // Remembered too, so that re-reading it in the overlap window is a duplicate, not news; in a
    // bounded set, since anyone with the token can push calls of made-up users.
    remember_unknown_call_log(call_log.id);
    outcome = CallOutcome::unknown_user;
  } else {
    seen_call_logs_.emplace(call_log.id, call_log.call_start_epoch_ms);
    CallRecord call{call_log.id,        call_log.user_id,  parse_direction(call_log.direction),
                    answered(call_log), call_log.duration, call_log.call_start_epoch_ms};
    if (durable_) {
      pending_.calls.push_back(std::move(call));
    } else {
      apply_call(call);
    }
  }
  received_[{source, outcome}] += 1;
  return outcome;
}

void Store::apply_call(const CallRecord& call) {
  const auto user_it = users_.find(call.user_id);
  if (user_it == users_.end()) return;  // removed by a reload in the meantime
  auto& user = user_it->second;
  const auto d = index_of(call.direction);
  user.calls.calls[d][call.answered ? 1 : 0] += 1;
  user.calls.duration_seconds[d] += static_cast<double>(call.duration_seconds);
  if (call.answered) {
    auto& histogram = durations_[{user.identity.enterprise, call.direction}];
    if (histogram.buckets.empty()) histogram.buckets.assign(kDurationBounds.size() + 1, 0);
    const auto duration = static_cast<double>(call.duration_seconds);
    const auto bound = std::lower_bound(kDurationBounds.begin(), kDurationBounds.end(), duration);
    histogram.buckets[static_cast<std::size_t>(bound - kDurationBounds.begin())] += 1;
    histogram.count += 1;
    histogram.sum += duration;
  }
}

void Store::remember_unknown_call_log(const std::string& id) {
  if (!unknown_call_logs_.insert(id).second) return;
  unknown_call_log_order_.push_back(id);
  if (unknown_call_log_order_.size() > kMaxUnknownCallLogs) {
    unknown_call_logs_.erase(unknown_call_log_order_.front());
    unknown_call_log_order_.pop_front();
  }
}

void Store::remember_call_log(const api::CallLog& call_log) {
  if (api::call_log_problem(call_log)) return;
  std::lock_guard lock(mutex_);
  seen_call_logs_.emplace(call_log.id, call_log.call_start_epoch_ms);
}

std::optional<CallLogCursor> Store::call_log_cursor(const std::string& scope) const {
  std::lock_guard lock(mutex_);
  const auto it = cursors_.find(scope);
  if (it == cursors_.end()) return std::nullopt;
  return it->second;
}

void Store::set_call_log_cursor(const std::string& scope, const CallLogCursor& cursor) {
  std::lock_guard lock(mutex_);
  cursors_[scope] = cursor;
  if (durable_) {
    pending_.cursors.push_back({scope, cursor});
  } else {
    durable_cursors_[scope] = cursor;
  }
}

void Store::prune_seen_call_logs(std::int64_t older_than_epoch_ms) {
  std::lock_guard lock(mutex_);
  std::erase_if(seen_call_logs_,
                [&](const auto& entry) { return entry.second < older_than_epoch_ms; });
}

void Store::prune_seen_call_logs_behind_cursors(std::int64_t margin_ms) {
  std::int64_t oldest_cursor = 0;
  {
    std::lock_guard lock(mutex_);
    // The durable cursors: after a crash, polls resume from them, and must still find these ids.
    if (durable_cursors_.empty()) return;
    oldest_cursor = std::min_element(durable_cursors_.begin(), durable_cursors_.end(),
                                     [](const auto& a, const auto& b) {
                                       return a.second.newest_ms < b.second.newest_ms;
                                     })
                        ->second.newest_ms;
  }
  prune_seen_call_logs(oldest_cursor - margin_ms);
}

std::size_t Store::seen_call_log_count() const {
  std::lock_guard lock(mutex_);
  return seen_call_logs_.size();
}

std::size_t Store::unknown_call_log_count() const {
  std::lock_guard lock(mutex_);
  return unknown_call_log_order_.size();
}

std::vector<MetricFamily> Store::Collect() const {
  auto users =
      make_family("vpbx_users", "Users tracked, by where they come from.", MetricType::Gauge);
  auto info =
      make_family("vpbx_user_info", "A user's identity, for joins; always 1.", MetricType::Gauge);
  auto presence =
      make_family("vpbx_user_presence",
                  "The user's presence as a stateset: 1 for the current state.", MetricType::Gauge);
  auto feature_active = make_family("vpbx_user_feature_active",
                                    "1 if the user's feature (DND, call forwards, ...) is ACTIVE.",
                                    MetricType::Gauge);
  auto destinations = make_family(
      "vpbx_user_feature_destination_info",
      "A call forward's destination; only with features.expose_destinations.", MetricType::Gauge);
  auto feature_changes =
      make_family("vpbx_user_feature_changes_total", "Changes of the user's feature status seen.",
                  MetricType::Counter);
  auto calls = make_family("vpbx_user_calls_total", "Call logs of the user, each counted once.",
                           MetricType::Counter);
  auto call_seconds = make_family("vpbx_user_call_duration_seconds_total",
                                  "Summed duration of the user's call logs.", MetricType::Counter);

  double configured = 0, discovered = 0;
  std::set<std::string> enterprises;
  std::size_t chunk_users = 0;
  // The users in chunks, each under the lock: a push then waits for one chunk, not for the whole
  // scrape (about 100 ms at 10k users). Each user's series stay consistent with each other.
  std::unique_lock lock(mutex_);
  std::int64_t next_id = std::numeric_limits<std::int64_t>::min();
  for (auto it = users_.lower_bound(next_id); it != users_.end();) {
    const auto& [id, user] = *it;
    const std::string& ent = user.identity.enterprise;
    const std::string& label = user.label;
    enterprises.insert(ent);
    (user.configured ? configured : discovered) += 1;
    add_gauge(info,
              {{"enterprise", ent},
               {"user", label},
               {"user_id", std::to_string(id)},
               {"login", user.identity.login},
               {"number", user.identity.number},
               {"name", user.identity.name}},
              1);
    for (const auto state : kPresenceStates) {
      add_gauge(presence,
                {{"enterprise", ent}, {"user", label}, {"state", std::string(to_string(state))}},
                user.presence == state ? 1 : 0);
    }
    for (const auto& [name, feature] : user.features) {
      add_gauge(feature_active, {{"enterprise", ent}, {"user", label}, {"feature", name}},
                feature.active ? 1 : 0);
      if (expose_destinations_ && !feature.destination.empty()) {
        add_gauge(destinations,
                  {{"enterprise", ent},
                   {"user", label},
                   {"feature", name},
                   {"destination", feature.destination}},
                  1);
      }
    }
    for (const auto& [name, changes] : user.feature_changes) {
      add_counter(feature_changes, {{"enterprise", ent}, {"user", label}, {"feature", name}},
                  changes);
    }
    for (const auto direction : kDirections) {
      const auto d = index_of(direction);
      const auto& counts = user.calls.calls[d];
      // incoming/outgoing exist from the start; "other" only once the API sends one.
      if (direction == Direction::other && counts[0] == 0 && counts[1] == 0) continue;
      const std::string dir(to_string(direction));
      add_counter(calls,
                  {{"enterprise", ent}, {"user", label}, {"direction", dir}, {"answered", "false"}},
                  counts[0]);
      add_counter(calls,
                  {{"enterprise", ent}, {"user", label}, {"direction", dir}, {"answered", "true"}},
                  counts[1]);
      add_counter(call_seconds, {{"enterprise", ent}, {"user", label}, {"direction", dir}},
                  user.calls.duration_seconds[d]);
    }
    if (++it != users_.end() && ++chunk_users % kCollectChunk == 0) {
      next_id = it->first;
      lock.unlock();
      std::this_thread::yield();  // std::mutex is not fair: let a waiting push in
      lock.lock();
      it = users_.lower_bound(next_id);  // the map may have changed in between
    }
  }
  add_gauge(users, {{"source", "config"}}, configured);
  add_gauge(users, {{"source", "discovered"}}, discovered);

  auto histogram =
      make_family("vpbx_call_duration_seconds", "Length of answered calls.", MetricType::Histogram);
  for (const auto& enterprise : enterprises) {
    for (const auto direction : {Direction::incoming, Direction::outgoing, Direction::other}) {
      const auto it = durations_.find({enterprise, direction});
      if (direction == Direction::other && it == durations_.end()) continue;
      prometheus::ClientMetric metric;
      metric.label = {{"direction", std::string(to_string(direction))}, {"enterprise", enterprise}};
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= kDurationBounds.size(); ++i) {
        if (it != durations_.end()) cumulative += it->second.buckets[i];
        metric.histogram.bucket.push_back(
            {cumulative, i < kDurationBounds.size() ? kDurationBounds[i]
                                                    : std::numeric_limits<double>::infinity()});
      }
      if (it != durations_.end()) {
        metric.histogram.sample_count = it->second.count;
        metric.histogram.sample_sum = it->second.sum;
      }
      histogram.metric.push_back(std::move(metric));
    }
  }

  auto received = make_family("vpbx_call_logs_received_total",
                              "Call logs received, by path and outcome (counted once, or not).",
                              MetricType::Counter);
  for (const auto source : {Source::poll, Source::push}) {
    for (const auto outcome : {CallOutcome::counted, CallOutcome::duplicate,
                               CallOutcome::unknown_user, CallOutcome::invalid}) {
      const auto it = received_.find({source, outcome});
      add_counter(received,
                  {{"source", std::string(to_string(source))},
                   {"outcome", std::string(to_string(outcome))}},
                  it == received_.end() ? 0 : it->second);
    }
  }
  auto unmapped =
      make_family("vpbx_presence_unmapped_states_total",
                  "Presence values that matched no canonical state (see presence.state_map).",
                  MetricType::Counter);
  add_counter(unmapped, {}, unmapped_presence_);

  std::vector<MetricFamily> families;
  for (auto* family : {&users, &info, &presence, &feature_active, &destinations, &feature_changes,
                       &calls, &call_seconds, &histogram, &received, &unmapped}) {
    if (!family->metric.empty()) families.push_back(std::move(*family));
  }
  return families;
}

}  // namespace vpbx::state
