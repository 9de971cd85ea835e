// The store's series at scrape time, written as text straight from its records.
#include <limits>
#include <set>
#include <thread>

#include "exporter/metrics/text_format.h"
#include "exporter/state/store.h"

// Written straight from the records, one family at a time, each in chunks of users under the
// lock: no MetricFamily objects, no copy of the store, and a push waits for one chunk at most.
// The text goes to `out` between chunks, outside the lock (gzip runs there). A family's lines are
// consistent per chunk of users; as with any client library, a scrape is not one atomic read.
namespace vpbx::state {
namespace {

// Users written per hold of the store's lock.
constexpr std::size_t kUsersPerLock = 256;

using metrics::write_double;
using metrics::write_escaped;
using prometheus::MetricType;

// name{enterprise="…",user="…"  — the labels every per-user series starts with.
void open_user_sample(std::string& out, std::string_view name, const std::string& series_labels) {
  out += name;
  out += '{';
  out += series_labels;
}

void add_label(std::string& out, std::string_view name, std::string_view value) {
  out += ',';
  out += name;
  out += "=\"";
  write_escaped(out, value, true);
  out += '"';
}

void close_sample(std::string& out, double value) {
  out += "} ";
  write_double(out, value);
  out += '\n';
}

// A family's HELP and TYPE, written before its first sample only: a family without samples is
// left out, as prometheus-cpp leaves out an empty one.
class FamilyHead {
 public:
  FamilyHead(std::string_view name, std::string_view help, MetricType type)
      : name_(name), help_(help), type_(type) {}
  std::string_view name() const { return name_; }
  void before_sample(std::string& out) {
    if (written_) return;
    metrics::write_family_head(out, name_, help_, type_);
    written_ = true;
  }

 private:
  std::string_view name_, help_;
  MetricType type_;
  bool written_ = false;
};

}  // namespace

template <typename WriteUser>
void Store::write_users(metrics::TextOutput& out, WriteUser write_user) const {
  std::unique_lock lock(mutex_);
  std::size_t in_chunk = 0;
  for (auto it = users_.begin(); it != users_.end();) {
    write_user(out.text(), it->first, it->second);
    if (++it == users_.end() || ++in_chunk < kUsersPerLock) continue;
    in_chunk = 0;
    const std::int64_t next_id = it->first;
    lock.unlock();
    out.line_done();            // may hand the text on (and gzip it), not under the lock
    std::this_thread::yield();  // std::mutex is not fair: let a waiting push in
    lock.lock();
    it = users_.lower_bound(next_id);  // the map may have changed in between
  }
}

void Store::write_exposition(metrics::TextOutput& out) const {
  std::set<std::string> enterprises;
  {
    std::lock_guard lock(mutex_);
    double configured = 0, discovered = 0;
    for (const auto& [id, user] : users_) {
      (user.configured ? configured : discovered) += 1;
      enterprises.insert(user.identity.enterprise);
    }
    auto& text = out.text();
    metrics::write_family_head(text, "vpbx_users", "Users tracked, by where they come from.",
                               MetricType::Gauge);
    text += "vpbx_users{source=\"config\"} ";
    write_double(text, configured);
    text += "\nvpbx_users{source=\"discovered\"} ";
    write_double(text, discovered);
    text += '\n';
  }
  out.line_done();

  FamilyHead info("vpbx_user_info", "A user's identity, for joins; always 1.", MetricType::Gauge);
  write_users(out, [&](std::string& text, std::int64_t id, const UserState& user) {
    info.before_sample(text);
    open_user_sample(text, info.name(), user.series_labels);
    add_label(text, "user_id", std::to_string(id));
    add_label(text, "login", user.identity.login);
    add_label(text, "number", user.identity.number);
    add_label(text, "name", user.identity.name);
    close_sample(text, 1);
  });
  FamilyHead presence("vpbx_user_presence",
                      "The user's presence as a stateset: 1 for the current state.",
                      MetricType::Gauge);
  write_users(out, [&](std::string& text, std::int64_t, const UserState& user) {
    presence.before_sample(text);
    for (const auto state : kPresenceStates) {
      open_user_sample(text, presence.name(), user.series_labels);
      add_label(text, "state", to_string(state));
      close_sample(text, user.presence == state ? 1 : 0);
    }
  });
  FamilyHead active("vpbx_user_feature_active",
                    "1 if the user's feature (DND, call forwards, ...) is ACTIVE.",
                    MetricType::Gauge);
  write_users(out, [&](std::string& text, std::int64_t, const UserState& user) {
    for (const auto& [name, feature] : user.features) {
      active.before_sample(text);
      open_user_sample(text, active.name(), user.series_labels);
      add_label(text, "feature", name);
      close_sample(text, feature.active ? 1 : 0);
    }
  });
  if (expose_destinations_) {
    FamilyHead destinations("vpbx_user_feature_destination_info",
                            "A call forward's destination; only with features.expose_destinations.",
                            MetricType::Gauge);
    write_users(out, [&](std::string& text, std::int64_t, const UserState& user) {
      for (const auto& [name, feature] : user.features) {
        if (feature.destination.empty()) continue;
        destinations.before_sample(text);
        open_user_sample(text, destinations.name(), user.series_labels);
        add_label(text, "feature", name);
        add_label(text, "destination", feature.destination);
        close_sample(text, 1);
      }
    });
  }
  FamilyHead changes("vpbx_user_feature_changes_total",
                     "Changes of the user's feature status seen.", MetricType::Counter);
  write_users(out, [&](std::string& text, std::int64_t, const UserState& user) {
    for (const auto& [name, count] : user.feature_changes) {
      changes.before_sample(text);
      open_user_sample(text, changes.name(), user.series_labels);
      add_label(text, "feature", name);
      close_sample(text, count);
    }
  });
  FamilyHead calls("vpbx_user_calls_total", "Call logs of the user, each counted once.",
                   MetricType::Counter);
  write_users(out, [&](std::string& text, std::int64_t, const UserState& user) {
    for (const auto direction : kDirections) {
      const auto& counts = user.calls.calls[index_of(direction)];
      // incoming/outgoing exist from the start; "other" only once the API sends one.
      if (direction == Direction::other && counts[0] == 0 && counts[1] == 0) continue;
      calls.before_sample(text);
      for (const int answered : {0, 1}) {
        open_user_sample(text, calls.name(), user.series_labels);
        add_label(text, "direction", to_string(direction));
        add_label(text, "answered", answered ? "true" : "false");
        close_sample(text, counts[answered]);
      }
    }
  });
  FamilyHead seconds("vpbx_user_call_duration_seconds_total",
                     "Summed duration of the user's call logs.", MetricType::Counter);
  write_users(out, [&](std::string& text, std::int64_t, const UserState& user) {
    for (const auto direction : kDirections) {
      const auto d = index_of(direction);
      const auto& counts = user.calls.calls[d];
      if (direction == Direction::other && counts[0] == 0 && counts[1] == 0) continue;
      seconds.before_sample(text);
      open_user_sample(text, seconds.name(), user.series_labels);
      add_label(text, "direction", to_string(direction));
      close_sample(text, user.calls.duration_seconds[d]);
    }
  });

  std::lock_guard lock(mutex_);
  auto& text = out.text();
  FamilyHead histogram("vpbx_call_duration_seconds", "Length of answered calls.",
                       MetricType::Histogram);
  for (const auto& enterprise : enterprises) {
    for (const auto direction : kDirections) {
      const auto it = durations_.find({enterprise, direction});
      if (direction == Direction::other && it == durations_.end()) continue;
      const bool seen = it != durations_.end();
      histogram.before_sample(text);
      // Labels in prometheus-cpp's order for a histogram: direction, enterprise, then le.
      const auto head = [&](std::string_view suffix) {
        text += histogram.name();
        text += suffix;
        text += "{direction=\"";
        text += to_string(direction);
        text += "\",enterprise=\"";
        write_escaped(text, enterprise, true);
        text += '"';
      };
      head("_count");
      text += "} ";
      metrics::write_uint(text, seen ? it->second.count : 0);
      text += '\n';
      head("_sum");
      close_sample(text, seen ? it->second.sum : 0);
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= kDurationBounds.size(); ++i) {
        if (seen) cumulative += it->second.buckets[i];
        head("_bucket");
        text += ",le=\"";
        write_double(text, i < kDurationBounds.size() ? kDurationBounds[i]
                                                      : std::numeric_limits<double>::infinity());
        text += "\"} ";
        metrics::write_uint(text, cumulative);
        text += '\n';
      }
    }
  }
  metrics::write_family_head(text, "vpbx_call_logs_received_total",
                             "Call logs received, by path and outcome (counted once, or not).",
                             MetricType::Counter);
  for (const auto source : {Source::poll, Source::push}) {
    for (const auto outcome : {CallOutcome::counted, CallOutcome::duplicate,
                               CallOutcome::unknown_user, CallOutcome::invalid}) {
      const auto it = received_.find({source, outcome});
      text += "vpbx_call_logs_received_total{source=\"";
      text += to_string(source);
      text += "\",outcome=\"";
      text += to_string(outcome);
      text += "\"} ";
      write_double(text, it == received_.end() ? 0 : it->second);
      text += '\n';
    }
  }
  metrics::write_family_head(
      text, "vpbx_presence_unmapped_states_total",
      "Presence values that matched no canonical state (see presence.state_map).",
      MetricType::Counter);
  text += "vpbx_presence_unmapped_states_total ";
  write_double(text, unmapped_presence_);
  text += '\n';
}

std::string Store::exposition() const {
  std::string text;
  metrics::TextOutput out([&text](std::string_view chunk) { text += chunk; });
  write_exposition(out);
  out.finish();
  return text;
}

}  // namespace vpbx::state
