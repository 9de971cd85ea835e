#pragma once
// The state store: every user's identity, presence, feature states and call counters, in one
// place behind one mutex. Pollers and the webhook write to it; /metrics reads each user's series
// under one hold of it (a scrape never sees a half-applied update, and never waits on the API).
// Series are rebuilt from the store at every scrape, so a removed user's series simply vanish.

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "exporter/api/models.h"
#include "exporter/config/config.h"
#include "exporter/log/log.h"
#include "exporter/metrics/text_format.h"
#include "exporter/state/presence_state.h"
#include "exporter/state/records.h"

namespace vpbx::state {

// Upper bounds of vpbx_call_duration_seconds, in seconds (+Inf follows).
inline constexpr std::array<double, 10> kDurationBounds{5,   15,  30,   60,   120,
                                                        300, 600, 1200, 1800, 3600};
inline constexpr std::size_t kDurationBoundCount = kDurationBounds.size();

// Bounds on what a value from the network can make the store keep (issue 12). Users are bounded
// by max_users (learnt ones) and the config; these bound the rest:
// - feature names per user: the seed's platform has 19 features, so 64 leaves room for new ones
//   while a push of a thousand made-up names cannot make a thousand series per user; past it a
//   new name is `invalid` (a poll's extra features are dropped);
inline constexpr std::size_t kMaxFeaturesPerUser = 64;
// - ids of call logs of unknown users, remembered only so that re-reading one in a poll's overlap
//   is a duplicate: the oldest is forgotten first (then counted unknown_user again, which moves
//   no user's series). 4096 ids of at most 128 bytes: under 1 MB;
inline constexpr std::size_t kMaxUnknownCallLogs = 4096;
// - distinct unmapped presence values logged (all are counted in
//   vpbx_presence_unmapped_states_total).
inline constexpr std::size_t kMaxUnmappedStatesLogged = 64;

// How many remembered call-log ids the store keeps per immutable chunk (see Store::seen_chunks_):
// a snapshot takes the chunks, not the ids, under the lock. The open tail starts at
// kSeenCallLogTailStart and doubles up to a chunk, so a store that sees few calls (one of many
// accounts) does not hold a whole chunk's room.
inline constexpr std::size_t kSeenCallLogChunk = 4096;
inline constexpr std::size_t kSeenCallLogTailStart = 16;

enum class Source { poll, push };
// other_shard: a call of a user another replica counts (scale-out); neither counted nor
// remembered.
enum class CallOutcome { counted, duplicate, unknown_user, invalid, other_shard };
std::string_view to_string(Source source);
std::string_view to_string(CallOutcome outcome);

// Directions as labels: the API's INCOMING / OUTGOING, anything else is "other".
inline constexpr std::array<Direction, 3> kDirections{Direction::incoming, Direction::outgoing,
                                                      Direction::other};
std::string_view to_string(Direction direction);
Direction parse_direction(std::string_view api_value);

// What became of one pushed event.
enum class EventOutcome { applied, duplicate, invalid, unknown_user, ignored, other_shard };
std::string_view to_string(EventOutcome outcome);

struct AppliedEvent {
  std::string resource_type;  // CALL_LOG, FEATURE, PRESENCE, or the unknown "*Events" key
  EventOutcome outcome = EventOutcome::invalid;
};

struct UserSnapshot {
  config::User identity;
  bool discovered = false;
};

class Store : public metrics::TextSource {
 public:
  // Takes users and options from the config; on reload, users no longer configured (and not
  // discovered) lose their state and so their series. With config.shard, only the shard's users
  // are kept, configured or learnt: the others are other replicas' to poll and count.
  void configure(const config::Config& config);
  // Whether this replica counts the user (config::ShardConfig::owns).
  bool owns(std::int64_t user_id) const;

  // A user met in an event or an enterprise call log. False when already known, when discovery
  // is off, or when max_users is reached (logged once).
  bool learn_user(const std::string& enterprise, std::int64_t user_id, const std::string& login);
  std::vector<UserSnapshot> users() const;
  // Called, outside the store's lock, each time a user is learnt (subscriptions re-scope).
  void set_users_changed_listener(std::function<void()> listener);
  std::optional<config::User> user(std::int64_t user_id) const;
  bool knows(std::int64_t user_id) const;

  // Both return true when the state changed: a poll that finds a change push did not deliver.
  bool set_presence(std::int64_t user_id, const std::string& raw_state);
  // A full poll of a user's features; features the platform no longer returns are dropped.
  bool set_features(std::int64_t user_id, const std::vector<api::Feature>& features);
  // One changed feature (a push, or a PUT's answer). False when it was not kept: unknown user,
  // an invalid feature (api::feature_problem), or a new name past kMaxFeaturesPerUser.
  bool apply_feature(std::int64_t user_id, const api::Feature& feature);

  // Applies a parsed push body: learns users from the events' context (when discovery allows),
  // then applies every event. One outcome per event, in body order; unknown kinds are `ignored`.
  std::vector<AppliedEvent> apply_push(const api::PushBody& body);

  // Counts a call log once by its id, whichever source sees it first. `invalid` (see
  // api::call_log_problem) moves no counter but vpbx_call_logs_received_total and is not
  // remembered; `unknown_user` is remembered among at most kMaxUnknownCallLogs.
  CallOutcome count_call_log(const api::CallLog& call_log, Source source);
  // Marks a call log as seen without counting it: history from before its scope was first polled.
  // An invalid one is not remembered.
  void remember_call_log(const api::CallLog& call_log);
  // Forgets ids whose callStart is older than `epoch_ms` (they can no longer be re-read).
  void prune_seen_call_logs(std::int64_t older_than_epoch_ms);
  // Forgets ids that no poll can return again: older than every cursor by more than `margin_ms`.
  void prune_seen_call_logs_behind_cursors(std::int64_t margin_ms);
  std::size_t seen_call_log_count() const;
  // Room the remembered ids take, counted in ids (a test's measure of their memory).
  std::size_t seen_call_log_capacity() const;
  std::size_t unknown_call_log_count() const;  // at most kMaxUnknownCallLogs

  // Call-log polling cursors, by scope ("enterprise:<name>", "user:<id>"). Kept here so that the
  // state file saves them with everything else, and never ahead of the calls they cover.
  std::optional<CallLogCursor> call_log_cursor(const std::string& scope) const;
  void set_call_log_cursor(const std::string& scope, const CallLogCursor& cursor);

  // Durability (see records.h). Once enabled, counted calls, learnt users and cursors are queued
  // and become visible (and part of snapshots) only when commit() is called with them, after
  // the journal holds them. Without it (no state_file) they apply at once.
  void enable_durability();
  Batch take_pending();
  // Folds a journaled batch in. `replay`: a batch read back from the journal at start-up, whose
  // ids the store has not seen yet (a call already seen is skipped).
  void commit(const Batch& batch, bool replay = false);
  // The durable state as JSON (the state file), naming the first journal not folded into it.
  std::string snapshot_json(std::uint64_t journal_seq) const;
  // What the last snapshot_json() copied while it held the lock: users, histograms, cursors and
  // call-log ids (a test's measure of how long a snapshot blocks pushes, without a clock).
  std::size_t last_snapshot_locked_copies() const;
  // Loads a state file written by snapshot_json() into a configured store. False on a corrupt
  // file, with a reason naming the byte, line and column (bad JSON), nesting past
  // api::kMaxJsonNesting or a key twice, or the member (bad content); the store is then left as
  // configured: the file is used whole or not at all.
  //
  // `import`: a state file of another replica, read when resharding (docs/scale-out.md); several
  // may be read in turn. Only this shard's users are taken, their counters added; cursors of a
  // scope keep the oldest (ids seen by any replica are remembered, so a re-read is a duplicate,
  // never a loss); enterprise histograms, which cannot be split by user, go to shard 0 only, so
  // that their sum over the shards carries on.
  bool restore(const std::string& json, std::uint64_t& journal_seq, std::string& error,
               bool import = false);
  // Puts back a batch that could not be written, ahead of what is pending since: it stays out
  // of snapshots and /metrics, and is retried first.
  void requeue_pending(Batch batch);
  // After a restore that lost durable data: call counters and histograms start again from 0
  // (remembered ids, users and cursors stay), and every cursor's history starts no earlier
  // than `history_floor_ms`. See Persistence::load().
  void restart_counters(std::int64_t history_floor_ms);

  // The store's series in the text format, written from its records at scrape time.
  void write_exposition(metrics::TextOutput& out) const override;
  // The series of several accounts' stores, each family once with every store's samples (each
  // store's carry its `account` label; see configure()).
  static void write_exposition(metrics::TextOutput& out, const std::vector<const Store*>& stores);
  std::string exposition() const;
  // For tests: called each time a scrape lets the lock go between two chunks of users.
  void set_between_scrape_chunks(std::function<void()> hook) {
    between_scrape_chunks_ = std::move(hook);
  }

 private:
  struct FeatureState {
    bool active = false;
    std::string status;
    std::string destination;
  };
  // A user's features by name, sorted: a vector, not a std::map, whose node per feature took 136
  // bytes (26 MB for 10k users of 19 features) and was a pointer chase for every scrape.
  class FeatureMap {
   public:
    using Entry = std::pair<std::string, FeatureState>;
    auto begin() const { return entries_.begin(); }
    auto end() const { return entries_.end(); }
    std::size_t size() const { return entries_.size(); }
    bool contains(std::string_view name) const;
    // The entry of `name`, made (inactive, no status) when new; true when made.
    std::pair<FeatureState*, bool> try_emplace(std::string_view name);
    void reserve(std::size_t n) { entries_.reserve(n); }
    template <typename Predicate>
    void erase_if(Predicate drop) {
      std::erase_if(entries_, drop);
    }

   private:
    std::vector<Entry>::iterator find_slot(std::string_view name);
    std::vector<Entry> entries_;
  };
  struct CallCounters {
    std::array<std::array<double, 2>, 3> calls{};  // [direction][answered]
    std::array<double, 3> duration_seconds{};      // [direction]
  };
  struct UserState {
    config::User identity;
    std::string label;
    std::string series_labels;  // enterprise="…",user="…", escaped: how every series starts
    bool configured = false;
    bool discovered = false;
    PresenceState presence = PresenceState::unknown;
    bool presence_seen = false;  // the first state seen is news to no one
    FeatureMap features;
    std::map<std::string, double> feature_changes;
    CallCounters calls;
  };
  struct DurationHistogram {
    std::vector<std::uint64_t> buckets;  // non-cumulative counts per bound, +Inf last
    std::uint64_t count = 0;
    double sum = 0;
  };

  bool feature_included(const std::string& name) const;
  bool answered(const api::CallLog& call_log) const;
  // Callers hold mutex_.
  void relabel();
  bool add_learnt_user(const LearntUser& learnt);
  void apply_call(const CallRecord& call);
  bool set_feature(UserState& user, const api::Feature& feature, bool count_change,
                   bool* kept = nullptr);
  void remember_unknown_call_log(const std::string& id);
  // The remembered call-log ids (see seen_chunks_). False when the id is known already.
  using SeenIndex = std::unordered_set<std::string_view>;
  bool remember_seen(std::string id, std::int64_t call_start_ms);
  void make_room_in_seen_tail();
  // Points the index's `node`, taken out by its old text, at `id` (the same text, moved).
  void repoint_seen(SeenIndex::node_type node, const std::string& id);
  void seal_seen_tail() const;
  void prune_seen(std::int64_t older_than_epoch_ms);
  // The exposition's parts (store_exposition.cpp); callers hold mutex_ but in write_into().
  struct UserFamilies;
  struct StoreFamilies;
  void write_into(metrics::TextOutput& out, UserFamilies& families, StoreFamilies& totals) const;
  void write_user(UserFamilies& families, std::int64_t id, const UserState& user) const;
  void write_users_count(StoreFamilies& totals) const;
  void write_totals(StoreFamilies& totals) const;
  // "name{" and the account label, with a comma when `more` labels follow.
  void open_sample(std::string& out, std::string_view name, bool more) const;

  mutable std::mutex mutex_;
  std::function<void()> between_scrape_chunks_;
  // account="<name>" for a named account (config::Config::account), else empty: every series
  // starts with it.
  std::string account_label_;
  std::map<std::int64_t, UserState> users_;
  std::size_t max_users_ = 10000;
  config::ShardConfig shard_;
  bool discover_users_ = true;
  std::vector<std::string> feature_include_;
  bool expose_destinations_ = false;
  std::map<int, bool> answered_status_;
  PresenceMap presence_map_;
  // The ids of the call logs counted or remembered, with their callStart, kept for exactly-once
  // (a lookup per call) and for the state file (all of them, every snapshot). There can be
  // hundreds of thousands (a new id per push); copying them under mutex_ for a snapshot made
  // every push wait tens of ms (issue 15). So each id is stored once, in insertion order, in
  // chunks of kSeenCallLogChunk that never change once sealed (shared with the snapshots
  // writing them), plus one open tail; seen_call_logs_ indexes them by views of those strings.
  // A chunk's entries never move; the tail is sealed with its buffer moved, not its entries, and
  // when it grows (doubling, up to a chunk) its views are re-pointed. A snapshot seals the tail and
  // takes the list of chunk pointers under the lock, then writes the ids outside it. A prune
  // keeps the chunks it removes nothing from and rebuilds the others, re-pointing their views.
  // Sealing changes how the ids are held, not which: snapshot_json() stays logically const.
  struct SeenCallLog {
    std::string id;
    std::int64_t call_start_ms = 0;
  };
  using SeenChunk = std::shared_ptr<const std::vector<SeenCallLog>>;
  mutable std::vector<SeenChunk> seen_chunks_;
  mutable std::vector<SeenCallLog> seen_tail_;  // grown by make_room_in_seen_tail() only
  SeenIndex seen_call_logs_;                    // views of the entries above
  mutable std::size_t last_snapshot_locked_copies_ = 0;
  // Call logs of unknown users: not durable, bounded, oldest first out.
  std::unordered_set<std::string> unknown_call_logs_;
  std::deque<std::string> unknown_call_log_order_;
  std::map<std::string, CallLogCursor> cursors_;          // what the pollers read from
  std::map<std::string, CallLogCursor> durable_cursors_;  // what the state file may hold
  bool durable_ = false;
  Batch pending_;
  std::map<std::pair<std::string, Direction>, DurationHistogram> durations_;
  std::map<std::pair<Source, CallOutcome>, double> received_;
  double unmapped_presence_ = 0;
  std::set<std::string, std::less<>> unmapped_logged_;  // at most kMaxUnmappedStatesLogged
  log::ErrorLatch max_users_reached_;
  log::ErrorLatch features_full_;
  std::mutex listener_mutex_;
  std::function<void()> users_changed_;
};

}  // namespace vpbx::state
