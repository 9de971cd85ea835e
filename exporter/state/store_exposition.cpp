// The store as metric families at scrape time: every user's series, rebuilt from its records.
#include <limits>
#include <set>
#include <thread>

#include "exporter/metrics/families.h"
#include "exporter/state/store.h"

namespace vpbx::state {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;
using vpbx::metrics::add_counter;
using vpbx::metrics::add_gauge;
using vpbx::metrics::make_family;

// Users rendered per hold of the store's lock in Collect().
constexpr std::size_t kCollectChunk = 256;

}  // namespace

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
