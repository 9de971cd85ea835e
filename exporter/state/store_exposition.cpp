// The store's series at scrape time, written as text straight from its records.
#include <array>
#include <limits>
#include <memory>
#include <set>
#include <thread>

#include "exporter/metrics/text_format.h"
#include "exporter/state/store.h"

// Written straight from the records, in chunks of users under the lock: no MetricFamily objects,
// no copy of the store, and a push waits for one chunk at most. The text format wants each
// family's samples together, but a user's series must agree with each other (calls with their
// duration, a feature with its changes), so each chunk writes all of its users' families at once,
// each into a deferred stretch of `out` that takes the chunk once the lock is released (gzip
// compresses it then); the store-wide families are written under the last chunk's hold. A scrape
// is not one atomic read of the store: a user written early may lag the totals by a call.
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

// One family's text: HELP and TYPE before its first sample only (a family without samples is
// left out, as prometheus-cpp leaves out an empty one), then its samples. A chunk's samples are
// written into `chunk_` under the lock and handed to the output's deferred stretch after it
// (gzip compresses them there), so the family's text is never held whole when gzipped.
class FamilyText {
 public:
  FamilyText(std::string_view name, std::string_view help, MetricType type)
      : name_(name), help_(help), type_(type) {}
  std::string_view name() const { return name_; }
  // The text to append a sample to.
  std::string& sample() {
    if (!started_) {
      metrics::write_family_head(chunk_, name_, help_, type_);
      started_ = true;
    }
    return chunk_;
  }
  // The chunk of users is done (the lock is released): its samples go to the stretch.
  void end_chunk(metrics::TextOutput& out) {
    if (chunk_.empty()) return;
    if (!text_) text_ = out.defer();
    text_->add(chunk_);
  }
  // Hands the family on, in its place.
  void write_to(metrics::TextOutput& out) {
    end_chunk(out);
    if (text_) out.write(*text_);
    text_.reset();
  }

 private:
  std::string_view name_, help_;
  MetricType type_;
  bool started_ = false;
  std::string chunk_;
  std::unique_ptr<metrics::DeferredText> text_;
};

}  // namespace

// The per-user families, in the order a scrape lists them.
struct Store::UserFamilies {
  FamilyText info{"vpbx_user_info", "A user's identity, for joins; always 1.", MetricType::Gauge};
  FamilyText presence{"vpbx_user_presence",
                      "The user's presence as a stateset: 1 for the current state.",
                      MetricType::Gauge};
  FamilyText active{"vpbx_user_feature_active",
                    "1 if the user's feature (DND, call forwards, ...) is ACTIVE.",
                    MetricType::Gauge};
  FamilyText destinations{"vpbx_user_feature_destination_info",
                          "A call forward's destination; only with features.expose_destinations.",
                          MetricType::Gauge};
  FamilyText changes{"vpbx_user_feature_changes_total",
                     "Changes of the user's feature status seen.", MetricType::Counter};
  FamilyText calls{"vpbx_user_calls_total", "Call logs of the user, each counted once.",
                   MetricType::Counter};
  FamilyText seconds{"vpbx_user_call_duration_seconds_total",
                     "Summed duration of the user's call logs.", MetricType::Counter};

  std::array<FamilyText*, 7> all() {
    return {&info, &presence, &active, &destinations, &changes, &calls, &seconds};
  }
};

void Store::write_user(UserFamilies& families, std::int64_t id, const UserState& user) const {
  {
    auto& text = families.info.sample();
    open_user_sample(text, families.info.name(), user.series_labels);
    add_label(text, "user_id", std::to_string(id));
    add_label(text, "login", user.identity.login);
    add_label(text, "number", user.identity.number);
    add_label(text, "name", user.identity.name);
    close_sample(text, 1);
  }
  auto& presence = families.presence.sample();
  for (const auto state : kPresenceStates) {
    open_user_sample(presence, families.presence.name(), user.series_labels);
    add_label(presence, "state", to_string(state));
    close_sample(presence, user.presence == state ? 1 : 0);
  }
  for (const auto& [name, feature] : user.features) {
    auto& text = families.active.sample();
    open_user_sample(text, families.active.name(), user.series_labels);
    add_label(text, "feature", name);
    close_sample(text, feature.active ? 1 : 0);
  }
  if (expose_destinations_) {
    for (const auto& [name, feature] : user.features) {
      if (feature.destination.empty()) continue;
      auto& text = families.destinations.sample();
      open_user_sample(text, families.destinations.name(), user.series_labels);
      add_label(text, "feature", name);
      add_label(text, "destination", feature.destination);
      close_sample(text, 1);
    }
  }
  for (const auto& [name, count] : user.feature_changes) {
    auto& text = families.changes.sample();
    open_user_sample(text, families.changes.name(), user.series_labels);
    add_label(text, "feature", name);
    close_sample(text, count);
  }
  for (const auto direction : kDirections) {
    const auto d = index_of(direction);
    const auto& counts = user.calls.calls[d];
    // incoming/outgoing exist from the start; "other" only once the API sends one.
    if (direction == Direction::other && counts[0] == 0 && counts[1] == 0) continue;
    auto& calls = families.calls.sample();
    for (const int answered : {0, 1}) {
      open_user_sample(calls, families.calls.name(), user.series_labels);
      add_label(calls, "direction", to_string(direction));
      add_label(calls, "answered", answered ? "true" : "false");
      close_sample(calls, counts[answered]);
    }
    auto& seconds = families.seconds.sample();
    open_user_sample(seconds, families.seconds.name(), user.series_labels);
    add_label(seconds, "direction", to_string(direction));
    close_sample(seconds, user.calls.duration_seconds[d]);
  }
}

// The store-wide families' samples, of every store written; their heads go on at the end.
struct Store::StoreFamilies {
  std::string users, shard_info, histogram, received, unmapped;
};

void Store::open_sample(std::string& out, std::string_view name, bool more) const {
  out += name;
  out += '{';
  out += account_label_;
  if (more && !account_label_.empty()) out += ',';
}

void Store::write_users_count(StoreFamilies& totals) const {
  double configured = 0, discovered = 0;
  for (const auto& [id, user] : users_) (user.configured ? configured : discovered) += 1;
  std::string& text = totals.users;
  open_sample(text, "vpbx_users", true);
  text += "source=\"config\"} ";
  write_double(text, configured);
  text += '\n';
  open_sample(text, "vpbx_users", true);
  text += "source=\"discovered\"} ";
  write_double(text, discovered);
  text += '\n';
  // The replica's shard, shared by its accounts: once, without an account label.
  if (shard_.count > 1 && totals.shard_info.empty()) {
    totals.shard_info = "vpbx_shard_info{index=\"" + std::to_string(shard_.index) + "\",count=\"" +
                        std::to_string(shard_.count) + "\"} 1\n";
  }
}

void Store::write_totals(StoreFamilies& totals) const {
  std::set<std::string_view> enterprises;
  for (const auto& [id, user] : users_) enterprises.insert(user.identity.enterprise);
  constexpr std::string_view histogram = "vpbx_call_duration_seconds";
  std::string& text = totals.histogram;
  for (const auto& enterprise : enterprises) {
    for (const auto direction : kDirections) {
      const auto it = durations_.find({std::string(enterprise), direction});
      if (direction == Direction::other && it == durations_.end()) continue;
      const bool seen = it != durations_.end();
      // Labels in prometheus-cpp's order for a histogram: direction, enterprise, then le.
      const auto head = [&](std::string_view suffix) {
        text += histogram;
        text += suffix;
        text += '{';
        if (!account_label_.empty()) {
          text += account_label_;
          text += ',';
        }
        text += "direction=\"";
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
  for (const auto source : {Source::poll, Source::push}) {
    for (const auto outcome :
         {CallOutcome::counted, CallOutcome::duplicate, CallOutcome::unknown_user,
          CallOutcome::invalid, CallOutcome::other_shard}) {
      // Only a sharded replica meets other shards' calls: one shard's output stays as it was.
      if (outcome == CallOutcome::other_shard && shard_.count <= 1) continue;
      const auto it = received_.find({source, outcome});
      open_sample(totals.received, "vpbx_call_logs_received_total", true);
      totals.received += "source=\"";
      totals.received += to_string(source);
      totals.received += "\",outcome=\"";
      totals.received += to_string(outcome);
      totals.received += "\"} ";
      write_double(totals.received, it == received_.end() ? 0 : it->second);
      totals.received += '\n';
    }
  }
  if (account_label_.empty()) {
    totals.unmapped += "vpbx_presence_unmapped_states_total ";
  } else {
    open_sample(totals.unmapped, "vpbx_presence_unmapped_states_total", false);
    totals.unmapped += "} ";
  }
  write_double(totals.unmapped, unmapped_presence_);
  totals.unmapped += '\n';
}

void Store::write_into(metrics::TextOutput& out, UserFamilies& families,
                       StoreFamilies& totals) const {
  std::unique_lock lock(mutex_);
  std::size_t in_chunk = 0;
  for (auto it = users_.begin(); it != users_.end();) {
    write_user(families, it->first, it->second);
    if (++it == users_.end() || ++in_chunk < kUsersPerLock) continue;
    in_chunk = 0;
    const std::int64_t next_id = it->first;
    lock.unlock();
    for (auto* family : families.all()) family->end_chunk(out);
    if (between_scrape_chunks_) between_scrape_chunks_();
    std::this_thread::yield();  // std::mutex is not fair: let a waiting push in
    lock.lock();
    it = users_.lower_bound(next_id);  // the map may have changed in between
  }
  write_users_count(totals);
  write_totals(totals);
  lock.unlock();
  for (auto* family : families.all()) family->end_chunk(out);
}

void Store::write_exposition(metrics::TextOutput& out) const {
  write_exposition(out, {this});
}

void Store::write_exposition(metrics::TextOutput& out, const std::vector<const Store*>& stores) {
  UserFamilies families;
  StoreFamilies totals;
  for (const Store* store : stores) store->write_into(out, families, totals);
  const auto family = [](std::string& text, std::string_view name, std::string_view help,
                         MetricType type, std::string& samples) {
    if (samples.empty()) return;
    metrics::write_family_head(text, name, help, type);
    text += samples;
  };
  std::string head;
  family(head, "vpbx_users", "Users tracked, by where they come from.", MetricType::Gauge,
         totals.users);
  family(head, "vpbx_shard_info", "This replica's shard of the users (scale-out); always 1.",
         MetricType::Gauge, totals.shard_info);
  out.write(head);
  for (auto* user_family : families.all()) user_family->write_to(out);
  std::string tail;
  family(tail, "vpbx_call_duration_seconds", "Length of answered calls.", MetricType::Histogram,
         totals.histogram);
  family(tail, "vpbx_call_logs_received_total",
         "Call logs received, by path and outcome (counted once, or not).", MetricType::Counter,
         totals.received);
  family(tail, "vpbx_presence_unmapped_states_total",
         "Presence values that matched no canonical state (see presence.state_map).",
         MetricType::Counter, totals.unmapped);
  out.write(tail);
}

std::string Store::exposition() const {
  std::string text;
  metrics::TextOutput out([&text](std::string_view chunk) { text += chunk; });
  write_exposition(out);
  out.finish();
  return text;
}

}  // namespace vpbx::state
