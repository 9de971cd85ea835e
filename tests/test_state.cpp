#include <prometheus/text_serializer.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "exporter/state/store.h"
#include "tests/support/exposition.h"
#include "tests/support/log_capture.h"

using vpbx::state::CallOutcome;
using vpbx::state::PresenceMap;
using vpbx::state::PresenceState;
using vpbx::state::Source;
using vpbx::state::Store;
using vpbx::test::find_samples;
using vpbx::test::sample_value;

namespace {

vpbx::config::Config two_rooms() {
  vpbx::config::Config config;
  config.users = {
      {"291908.bus.ent", 176125, "+41225662194@m.ipvoip.ch", "+41225662194", "Room 101"},
      {"291908.bus.ent", 176129, "+41225662195@m.ipvoip.ch", "+41225662195", ""}};
  return config;
}

std::string exposition(const Store& store) {
  return store.exposition();
}

vpbx::api::CallLog call(const std::string& id, std::int64_t user, const std::string& direction,
                        std::int64_t duration) {
  vpbx::api::CallLog log;
  log.id = id;
  log.user_id = user;
  log.direction = direction;
  log.duration = duration;
  log.call_start_epoch_ms = 1727450805000;
  return log;
}

vpbx::api::Feature feature(const std::string& name, const std::string& status) {
  vpbx::api::Feature f;
  f.feat_name = name;
  f.status = status;
  f.destination_uri =
      name == "CALL_FORWARD_UNCONDITIONAL" ? "0225117902@s1.431569.bus.ipvoip.ch" : "";
  return f;
}

// The users whose incoming answered calls and their summed duration disagree in `text`, where
// every call lasts 7 s.
std::vector<std::string> users_whose_calls_disagree(const std::string& text) {
  std::map<std::string, double> seconds;
  for (const auto& s :
       find_samples(text, "vpbx_user_call_duration_seconds_total", {{"direction", "incoming"}})) {
    seconds[s.labels.at("user")] = s.value;
  }
  std::vector<std::string> disagree;
  for (const auto& calls : find_samples(text, "vpbx_user_calls_total",
                                        {{"direction", "incoming"}, {"answered", "true"}})) {
    const auto it = seconds.find(calls.labels.at("user"));
    if (it == seconds.end() || it->second != calls.value * 7) {
      disagree.push_back(calls.labels.at("user"));
    }
  }
  return disagree;
}

}  // namespace

TEST_CASE("presence maps raw states case-insensitively, extended by the config",
          "[state][presence]") {
  const PresenceMap builtin;
  CHECK(builtin.map("IDLE") == PresenceState::idle);
  CHECK(builtin.map("busy") == PresenceState::busy);
  CHECK(builtin.map("Ringing") == PresenceState::ringing);
  bool known = true;
  CHECK(builtin.map("AWAY", &known) == PresenceState::unknown);
  CHECK_FALSE(known);
  const PresenceMap extended({{"away", "offline"}, {"busy", "ringing"}});
  CHECK(extended.map("AWAY") == PresenceState::offline);
  CHECK(extended.map("BUSY") == PresenceState::ringing);  // the config wins over the built-in map
}

TEST_CASE("configured users' series exist from the start, complete", "[state]") {
  Store store;
  store.configure(two_rooms());
  const auto text = exposition(store);
  // The stateset: every canonical state, exactly one at 1 (unknown until polled).
  const auto states = find_samples(text, "vpbx_user_presence", {{"user", "Room 101"}});
  REQUIRE(states.size() == 5);
  CHECK(sample_value(text, "vpbx_user_presence", {{"user", "Room 101"}, {"state", "unknown"}}) ==
        1);
  // Calls for each known direction, answered and not, at 0.
  CHECK(find_samples(text, "vpbx_user_calls_total", {{"user", "Room 101"}}).size() == 4);
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", "+41225662195"}, {"direction", "incoming"}, {"answered", "true"}}) ==
        0);
  CHECK(sample_value(text, "vpbx_users", {{"source", "config"}}) == 2);
  CHECK(sample_value(text, "vpbx_user_info", {{"user", "Room 101"}, {"user_id", "176125"}}) == 1);
}

TEST_CASE("a call log is counted once by its id, whichever path sees it first", "[state][calls]") {
  Store store;
  store.configure(two_rooms());
  CHECK(store.count_call_log(call("a", 176125, "OUTGOING", 7), Source::push) ==
        CallOutcome::counted);
  CHECK(store.count_call_log(call("a", 176125, "OUTGOING", 7), Source::poll) ==
        CallOutcome::duplicate);
  CHECK(store.count_call_log(call("b", 176125, "INCOMING", 0), Source::poll) ==
        CallOutcome::counted);
  CHECK(store.count_call_log(call("c", 999, "INCOMING", 5), Source::poll) ==
        CallOutcome::unknown_user);
  CHECK(store.count_call_log(call("", 176125, "INCOMING", 5), Source::push) ==
        CallOutcome::invalid);
  const auto text = exposition(store);
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", "Room 101"}, {"direction", "outgoing"}, {"answered", "true"}}) == 1);
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", "Room 101"}, {"direction", "incoming"}, {"answered", "false"}}) ==
        1);
  CHECK(sample_value(text, "vpbx_user_call_duration_seconds_total",
                     {{"user", "Room 101"}, {"direction", "outgoing"}}) == 7);
  CHECK(sample_value(text, "vpbx_call_duration_seconds_count", {{"direction", "outgoing"}}) == 1);
  CHECK(sample_value(text, "vpbx_call_duration_seconds_bucket",
                     {{"direction", "outgoing"}, {"le", "5"}}) == 0);
  CHECK(sample_value(text, "vpbx_call_duration_seconds_bucket",
                     {{"direction", "outgoing"}, {"le", "15"}}) == 1);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "poll"}, {"outcome", "duplicate"}}) == 1);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "counted"}}) == 1);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "poll"}, {"outcome", "unknown_user"}}) == 1);
}

TEST_CASE("a status code mapped in the config decides answered over the duration",
          "[state][calls]") {
  auto config = two_rooms();
  config.call_logs.answered_status[804] = false;
  Store store;
  store.configure(config);
  auto log = call("x", 176125, "INCOMING", 12);
  log.status = 804;
  store.count_call_log(log, Source::push);
  CHECK(sample_value(exposition(store), "vpbx_user_calls_total",
                     {{"user", "Room 101"}, {"direction", "incoming"}, {"answered", "false"}}) ==
        1);
}

TEST_CASE("features: states, changes, the include list and destinations only on request",
          "[state][features]") {
  auto config = two_rooms();
  config.features.include = {"CENTRAL_DND", "CALL_FORWARD_UNCONDITIONAL"};
  Store store;
  store.configure(config);
  store.set_features(
      176125, {feature("CENTRAL_DND", "INACTIVE"), feature("CALL_FORWARD_UNCONDITIONAL", "ACTIVE"),
               feature("CALL_WAITING", "ACTIVE")});
  auto text = exposition(store);
  CHECK(sample_value(text, "vpbx_user_feature_active",
                     {{"user", "Room 101"}, {"feature", "CENTRAL_DND"}}) == 0);
  CHECK(sample_value(text, "vpbx_user_feature_active",
                     {{"user", "Room 101"}, {"feature", "CALL_FORWARD_UNCONDITIONAL"}}) == 1);
  CHECK(find_samples(text, "vpbx_user_feature_active", {{"feature", "CALL_WAITING"}}).empty());
  CHECK(find_samples(text, "vpbx_user_feature_destination_info").empty());

  store.apply_feature(176125, feature("CENTRAL_DND", "ACTIVE"));
  store.apply_feature(176125, feature("CENTRAL_DND", "ACTIVE"));  // no change: not counted
  text = exposition(store);
  CHECK(sample_value(text, "vpbx_user_feature_active",
                     {{"user", "Room 101"}, {"feature", "CENTRAL_DND"}}) == 1);
  CHECK(sample_value(text, "vpbx_user_feature_changes_total",
                     {{"user", "Room 101"}, {"feature", "CENTRAL_DND"}}) == 1);

  config.features.expose_destinations = true;
  store.configure(config);
  CHECK(sample_value(exposition(store), "vpbx_user_feature_destination_info",
                     {{"destination", "0225117902@s1.431569.bus.ipvoip.ch"}}) == 1);
}

// A user's features are held sorted by name: the exposition and the state file list them in
// that order whatever order the API or a push brings them in, a poll that no longer returns one
// drops it, and a push may add one in its place.
TEST_CASE("features are listed by name, whatever order they come in", "[state][features]") {
  Store store;
  store.configure(two_rooms());
  const auto names = [&store] {
    std::vector<std::string> out;
    for (const auto& s :
         find_samples(exposition(store), "vpbx_user_feature_active", {{"user", "Room 101"}})) {
      out.push_back(s.labels.at("feature"));
    }
    return out;
  };
  store.set_features(176125, {feature("DND_C", "ACTIVE"), feature("A_FORWARD", "INACTIVE"),
                              feature("B_WAITING", "ACTIVE"), feature("E_LAST", "INACTIVE")});
  CHECK(names() == std::vector<std::string>{"A_FORWARD", "B_WAITING", "DND_C", "E_LAST"});
  store.set_features(176125, {feature("E_LAST", "ACTIVE"), feature("A_FORWARD", "INACTIVE")});
  CHECK(names() == std::vector<std::string>{"A_FORWARD", "E_LAST"});
  store.apply_feature(176125, feature("C_PUSHED", "ACTIVE"));
  CHECK(names() == std::vector<std::string>{"A_FORWARD", "C_PUSHED", "E_LAST"});
  CHECK(sample_value(exposition(store), "vpbx_user_feature_active",
                     {{"user", "Room 101"}, {"feature", "E_LAST"}}) == 1);
  const std::string json = store.snapshot_json(1);
  CHECK(json.find("\"A_FORWARD\"") < json.find("\"C_PUSHED\""));
  CHECK(json.find("\"C_PUSHED\"") < json.find("\"E_LAST\""));
}

TEST_CASE("a user removed from the config loses all its series at reload", "[state]") {
  Store store;
  auto config = two_rooms();
  store.configure(config);
  store.count_call_log(call("a", 176125, "OUTGOING", 7), Source::push);
  config.users.erase(config.users.begin());
  store.configure(config);
  const auto text = exposition(store);
  CHECK(text.find("Room 101") == std::string::npos);
  CHECK(text.find("176125") == std::string::npos);
  CHECK(sample_value(text, "vpbx_users", {{"source", "config"}}) == 1);
}

TEST_CASE("users are learnt up to max_users, with the number taken from the login",
          "[state][discovery]") {
  auto config = two_rooms();
  config.max_users = 3;
  Store store;
  store.configure(config);
  CHECK(store.learn_user("291908.bus.ent", 176133, "+41225662196@m.ipvoip.ch"));
  CHECK_FALSE(store.learn_user("291908.bus.ent", 176133, "+41225662196@m.ipvoip.ch"));
  CHECK_FALSE(store.learn_user("291908.bus.ent", 176137, "+41225662197@m.ipvoip.ch"));  // full
  const auto text = exposition(store);
  CHECK(sample_value(text, "vpbx_users", {{"source", "discovered"}}) == 1);
  CHECK(sample_value(text, "vpbx_user_info", {{"user", "+41225662196"}, {"user_id", "176133"}}) ==
        1);
  config.discover_users = false;
  store.configure(config);
  CHECK_FALSE(store.knows(176133));
}

TEST_CASE("two users with the same name keep distinct user labels", "[state]") {
  auto config = two_rooms();
  config.users[1].name = "Room 101";
  Store store;
  store.configure(config);
  const auto text = exposition(store);
  CHECK(find_samples(text, "vpbx_user_info", {{"user", "Room 101"}}).empty());
  CHECK(find_samples(text, "vpbx_user_info", {{"user", "+41225662194@m.ipvoip.ch"}}).size() == 1);
  CHECK(find_samples(text, "vpbx_user_info", {{"user", "+41225662195@m.ipvoip.ch"}}).size() == 1);
}

TEST_CASE("unmapped presence values are counted and land in unknown", "[state][presence]") {
  Store store;
  store.configure(two_rooms());
  store.set_presence(176125, "BUSY");
  store.set_presence(176129, "AWAY");
  const auto text = exposition(store);
  CHECK(sample_value(text, "vpbx_user_presence", {{"user", "Room 101"}, {"state", "busy"}}) == 1);
  CHECK(sample_value(text, "vpbx_user_presence", {{"user", "Room 101"}, {"state", "idle"}}) == 0);
  CHECK(sample_value(text, "vpbx_user_presence",
                     {{"user", "+41225662195"}, {"state", "unknown"}}) == 1);
  CHECK(sample_value(text, "vpbx_presence_unmapped_states_total") == 1);
}

TEST_CASE("seen call-log ids older than the window are pruned", "[state][calls]") {
  Store store;
  store.configure(two_rooms());
  auto old_call = call("old", 176125, "INCOMING", 1);
  old_call.call_start_epoch_ms = 1000;
  store.count_call_log(old_call, Source::poll);
  store.count_call_log(call("new", 176125, "INCOMING", 1), Source::poll);
  store.prune_seen_call_logs(2000);
  CHECK(store.seen_call_log_count() == 1);
}

// Forty accounts in one process are forty stores, most seeing a few calls an hour: each must hold
// room for about the ids it has, not a whole chunk of them. Short ids live inside their strings, so
// a tail that moved without re-pointing the index would lose them (ASan sees the stale views).
TEST_CASE("seen call-log ids take room for about what a store has seen, and stay found",
          "[state][calls]") {
  Store store;
  store.configure(two_rooms());
  const auto seen = [&store](std::size_t from, std::size_t to, std::int64_t start_ms) {
    for (std::size_t i = from; i < to; ++i) {
      auto log = call("c" + std::to_string(i), 176125, "INCOMING", 1);
      log.call_start_epoch_ms = start_ms;
      REQUIRE(store.count_call_log(log, Source::poll) == CallOutcome::counted);
    }
  };
  const auto all_duplicates = [&store](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      auto log = call("c" + std::to_string(i), 176125, "INCOMING", 1);
      if (store.count_call_log(log, Source::push) != CallOutcome::duplicate) return false;
    }
    return true;
  };
  seen(0, 3, 1000);
  CHECK(store.seen_call_log_capacity() <= vpbx::state::kSeenCallLogTailStart);
  seen(3, 100, 1000);
  CHECK(store.seen_call_log_capacity() <= 2 * 100);
  CHECK(all_duplicates(0, 100));

  // Past a chunk: the full chunk is sealed, the rest grows again; every id is still found.
  const std::size_t many = vpbx::state::kSeenCallLogChunk + 500;
  seen(100, many, 5000);
  CHECK(store.seen_call_log_count() == many);
  CHECK(store.seen_call_log_capacity() <= 2 * many);
  CHECK(all_duplicates(0, many));

  // A prune copies what it keeps into chunks of their size, and the ids stay found.
  store.prune_seen_call_logs(2000);
  CHECK(store.seen_call_log_count() == many - 100);
  CHECK(store.seen_call_log_capacity() <= many);
  CHECK(all_duplicates(100, many));
  CHECK(store.count_call_log(call("c5", 176125, "INCOMING", 1), Source::push) ==
        CallOutcome::counted);  // pruned: counted again, as the window allows
}

namespace {

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(VPBX_TEST_DATA_DIR) + "/api/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("the seed's pushes apply once, learning the users in their context", "[state][push]") {
  vpbx::config::Config config;  // no users configured: both are learnt from the context
  Store store;
  store.configure(config);
  const auto cdr = vpbx::api::parse_push_body(read_data("push_call_log.json"));
  REQUIRE(cdr);
  auto results = store.apply_push(*cdr);
  REQUIRE(results.size() == 1);
  CHECK(results[0].resource_type == "CALL_LOG");
  CHECK(results[0].outcome == vpbx::state::EventOutcome::applied);
  results = store.apply_push(*cdr);
  CHECK(results[0].outcome == vpbx::state::EventOutcome::duplicate);

  const auto feature = vpbx::api::parse_push_body(read_data("push_feature.json"));
  REQUIRE(feature);
  results = store.apply_push(*feature);
  REQUIRE(results.size() == 1);
  CHECK(results[0].outcome == vpbx::state::EventOutcome::applied);

  const auto text = exposition(store);
  // The CDR push: user 168382, +41225662195, 7 s outgoing, answered.
  CHECK(sample_value(text, "vpbx_user_calls_total",
                     {{"user", "+41225662195"}, {"direction", "outgoing"}, {"answered", "true"}}) ==
        1);
  CHECK(sample_value(text, "vpbx_user_call_duration_seconds_total",
                     {{"user", "+41225662195"}, {"direction", "outgoing"}}) == 7);
  CHECK(sample_value(text, "vpbx_user_info",
                     {{"user_id", "168382"}, {"enterprise", "291908.bus.ent"}}) == 1);
  // The FEATURE push: user 177059 in 431569.bus.ent turned CENTRAL_DND on.
  CHECK(sample_value(text, "vpbx_user_feature_active",
                     {{"user", "+41215776366"},
                      {"feature", "CENTRAL_DND"},
                      {"enterprise", "431569.bus.ent"}}) == 1);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "duplicate"}}) == 1);
}

TEST_CASE("pushed events for unknown users are not applied when discovery is off",
          "[state][push]") {
  vpbx::config::Config config;
  config.discover_users = false;
  Store store;
  store.configure(config);
  const auto cdr = vpbx::api::parse_push_body(read_data("push_call_log.json"));
  REQUIRE(cdr);
  CHECK(store.apply_push(*cdr)[0].outcome == vpbx::state::EventOutcome::unknown_user);
  CHECK(find_samples(exposition(store), "vpbx_user_calls_total").empty());
}

TEST_CASE("a poll reports a change only against a state seen before",
          "[state][presence][features]") {
  Store store;
  store.configure(two_rooms());
  CHECK_FALSE(store.set_presence(176125, "IDLE"));  // first sight: nothing push could have sent
  CHECK_FALSE(store.set_presence(176125, "IDLE"));
  CHECK(store.set_presence(176125, "BUSY"));
  CHECK_FALSE(store.set_features(176125, {feature("CENTRAL_DND", "INACTIVE")}));
  CHECK_FALSE(store.set_features(176125, {feature("CENTRAL_DND", "INACTIVE")}));
  CHECK(store.set_features(176125, {feature("CENTRAL_DND", "ACTIVE")}));
}

TEST_CASE("a scrape of many users is complete, and each user's series agree with each other",
          "[state][scrape]") {
  vpbx::config::Config config;
  for (int i = 0; i < 1000; ++i) config.users.push_back({"291908.bus.ent", 200000 + i, "", "", ""});
  Store store;
  store.configure(config);
  // Calls land while scrapes run: a scrape may see a call or not, but never a user's count
  // without its duration.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int n = 0; n < 20000; ++n) {
      store.count_call_log(call("c" + std::to_string(n), 200000 + n % 1000, "INCOMING", 7),
                           Source::push);
    }
    done = true;
  });
  int scrapes = 0;
  bool consistent = true;
  std::size_t users_seen = 0;
  while (!done || scrapes < 3) {
    const auto text = exposition(store);
    ++scrapes;
    users_seen = find_samples(text, "vpbx_user_info").size();
    if (!users_whose_calls_disagree(text).empty()) consistent = false;
  }
  writer.join();
  CHECK(users_seen == 1000);
  CHECK(consistent);
  CHECK(sample_value(exposition(store), "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "counted"}}) == 20000);
}

TEST_CASE(
    "a call landing while a scrape lets the lock go shows in all of its user's series or none",
    "[state][scrape]") {
  vpbx::config::Config config;
  for (int i = 0; i < 1000; ++i) config.users.push_back({"291908.bus.ent", 200000 + i, "", "", ""});
  Store store;
  store.configure(config);
  // Each pause between two chunks of users, a call for a user of every chunk: written before the
  // pause, after it, or in between.
  int pauses = 0;
  store.set_between_scrape_chunks([&] {
    ++pauses;
    for (const int user : {0, 300, 600, 999}) {
      store.count_call_log(call("p" + std::to_string(pauses) + "-" + std::to_string(user),
                                200000 + user, "INCOMING", 7),
                           Source::push);
    }
  });
  const auto text = exposition(store);
  CHECK(pauses >= 3);
  CHECK(find_samples(text, "vpbx_user_calls_total").size() >= 1000);
  CHECK(users_whose_calls_disagree(text) == std::vector<std::string>{});
}

TEST_CASE("a call log out of bounds is invalid: it moves no counter and is not remembered",
          "[state][calls][limits]") {
  Store store;
  store.configure(two_rooms());
  const std::string before = exposition(store);
  auto negative = call("neg", 176125, "OUTGOING", -7);  // used to count as a 0 s call
  auto flagged = call("flagged", 176125, "OUTGOING", 0);
  flagged.problem = "duration is not a whole number";  // what the parser sets for 1.5 or "NaN"
  auto absurd = call("absurd", 176125, "OUTGOING", vpbx::api::kMaxCallDurationSeconds + 1);
  auto bad_user = call("bad-user", -1, "OUTGOING", 7);
  for (const auto& bad :
       {negative, flagged, absurd, bad_user, call(std::string(1000000, 'i'), 176125, "INCOMING", 7),
        call(std::string(vpbx::api::kMaxIdBytes + 1, 'i'), 176125, "INCOMING", 7),
        call("a\nb", 176125, "INCOMING", 7), call(std::string("a\0b", 3), 176125, "INCOMING", 7),
        call("", 176125, "INCOMING", 7)}) {
    INFO(bad.id.substr(0, 20));
    CHECK(store.count_call_log(bad, Source::push) == CallOutcome::invalid);
    CHECK(store.count_call_log(bad, Source::poll) == CallOutcome::invalid);
    store.remember_call_log(bad);
  }
  CHECK(store.seen_call_log_count() == 0);
  CHECK(store.unknown_call_log_count() == 0);
  const std::string after = exposition(store);
  for (const char* family : {"vpbx_user_calls_total", "vpbx_user_call_duration_seconds_total",
                             "vpbx_call_duration_seconds_count"}) {
    INFO(family);
    CHECK(find_samples(after, family).size() == find_samples(before, family).size());
    for (const auto& sample : find_samples(after, family)) CHECK(sample.value == 0);
  }
  CHECK(sample_value(after, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "invalid"}}) == 9);
  CHECK(sample_value(after, "vpbx_call_logs_received_total",
                     {{"source", "poll"}, {"outcome", "invalid"}}) == 9);
  // The bounds themselves are fine.
  CHECK(store.count_call_log(call(std::string(vpbx::api::kMaxIdBytes, 'i'), 176125, "INCOMING",
                                  vpbx::api::kMaxCallDurationSeconds),
                             Source::push) == CallOutcome::counted);
}

TEST_CASE("pushed events out of bounds are invalid whole and teach no user",
          "[state][push][limits]") {
  vpbx::config::Config config;  // discovery on, no users
  Store store;
  store.configure(config);
  const std::string mb(1000000, 'x');
  const std::string context =
      R"("context":{"user":{"id":168382,"name":"+41225662195@m.ipvoip.ch"},)"
      R"("enterprise":{"id":16317,"name":"291908.bus.ent"}})";
  const std::string big_context = R"("context":{"user":{"id":168382,"name":")" + mb +
                                  R"("},"enterprise":{"id":16317,"name":"291908.bus.ent"}})";
  const auto outcomes = [&](const std::string& json) {
    const auto body = vpbx::api::parse_push_body(json);
    REQUIRE(body);
    std::vector<vpbx::state::EventOutcome> out;
    for (const auto& applied : store.apply_push(*body)) out.push_back(applied.outcome);
    return out;
  };
  using vpbx::state::EventOutcome;
  const std::vector<EventOutcome> invalid{EventOutcome::invalid};
  CHECK(outcomes(R"({"callLogEvents":[{"callLog":{"id":"c","duration":-7},)" + context + "}]}") ==
        invalid);
  CHECK(outcomes(R"({"callLogEvents":[{"callLog":{"id":")" + mb + R"(","duration":7},)" + context +
                 "}]}") == invalid);
  CHECK(outcomes(R"({"callLogEvents":[{"callLog":{"id":"c","duration":7},)" + big_context +
                 "}]}") == invalid);
  CHECK(outcomes(R"({"featureEvents":[{"feature":{"featName":")" + mb + R"(","status":"ACTIVE"},)" +
                 context + "}]}") == invalid);
  CHECK(outcomes(R"({"featureEvents":[{"feature":{"featName":"CENTRAL_DND","status":"ACTIVE"},)" +
                 big_context + "}]}") == invalid);
  CHECK(outcomes(R"({"presenceEvents":[{"presence":{"status":")" + mb + R"("},)" + context +
                 "}]}") == invalid);
  CHECK(store.users().empty());  // none of these taught the user in their context
  CHECK(store.seen_call_log_count() == 0);
  CHECK(store.unknown_call_log_count() == 0);
  // The same events within bounds apply, and learn the user.
  CHECK(outcomes(R"({"callLogEvents":[{"callLog":{"id":"c","duration":7},)" + context + "}]}") ==
        std::vector<EventOutcome>{EventOutcome::applied});
  CHECK(store.users().size() == 1);
}

TEST_CASE("unknown users' call ids are remembered in a bounded set, oldest out first",
          "[state][calls][limits]") {
  Store store;
  store.configure(two_rooms());
  constexpr std::size_t kPushed = 10000;
  for (std::size_t i = 0; i < kPushed; ++i) {
    CHECK(store.count_call_log(
              call("u" + std::to_string(i), 900000 + static_cast<int>(i), "INCOMING", 7),
              Source::push) == CallOutcome::unknown_user);
  }
  CHECK(store.unknown_call_log_count() == vpbx::state::kMaxUnknownCallLogs);
  CHECK(store.seen_call_log_count() == 0);  // nothing of theirs reaches the state file
  // The newest are still known as seen; the oldest are forgotten.
  CHECK(store.count_call_log(call("u" + std::to_string(kPushed - 1), 900000, "INCOMING", 7),
                             Source::poll) == CallOutcome::duplicate);
  CHECK(store.count_call_log(call("u0", 900000, "INCOMING", 7), Source::poll) ==
        CallOutcome::unknown_user);
  CHECK(store.unknown_call_log_count() == vpbx::state::kMaxUnknownCallLogs);
  const auto text = exposition(store);
  CHECK(find_samples(text, "vpbx_user_info").size() == 2);
  CHECK(sample_value(text, "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "unknown_user"}}) == kPushed);
}

TEST_CASE("a user's feature names are bounded, and so are the unmapped presence values logged",
          "[state][features][presence][limits]") {
  Store store;
  store.configure(two_rooms());
  std::vector<vpbx::api::Feature> many;
  for (int i = 0; i < 1000; ++i) many.push_back(feature("MADE_UP_" + std::to_string(i), "ACTIVE"));
  store.set_features(176125, many);
  CHECK(
      find_samples(exposition(store), "vpbx_user_feature_active", {{"user", "Room 101"}}).size() ==
      vpbx::state::kMaxFeaturesPerUser);
  CHECK_FALSE(store.apply_feature(176125, feature("ONE_MORE", "ACTIVE")));
  CHECK(store.apply_feature(176125, feature("MADE_UP_0", "INACTIVE")));  // known names still move
  CHECK(store.apply_feature(176129, feature("CENTRAL_DND", "ACTIVE")));  // per user
  CHECK_FALSE(store.apply_feature(176129, feature(std::string(1000000, 'F'), "ACTIVE")));
  // A poll that returns fewer makes room again.
  store.set_features(176125, {feature("CENTRAL_DND", "ACTIVE")});
  CHECK(store.apply_feature(176125, feature("ONE_MORE", "ACTIVE")));
  // An invalid feature in a poll is dropped, as if the platform had not returned it.
  store.set_features(176129,
                     {feature("CENTRAL_DND", "ACTIVE"), feature("X", std::string(300, 's'))});
  CHECK(find_samples(exposition(store), "vpbx_user_feature_active", {{"user", "+41225662195"}})
            .size() == 1);

  vpbx::test::StderrCapture capture;
  for (int i = 0; i < 1000; ++i) store.set_presence(176125, "MADE_UP_" + std::to_string(i));
  const std::string log = capture.finish();
  CHECK(vpbx::test::count_occurrences(log, "unmapped presence state") ==
        vpbx::state::kMaxUnmappedStatesLogged);
  CHECK(sample_value(exposition(store), "vpbx_presence_unmapped_states_total") == 1000);
}
