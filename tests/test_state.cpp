#include <prometheus/text_serializer.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "exporter/state/store.h"
#include "tests/support/exposition.h"

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
  return prometheus::TextSerializer().Serialize(store.Collect());
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
    std::map<std::string, double> seconds;
    for (const auto& s :
         find_samples(text, "vpbx_user_call_duration_seconds_total", {{"direction", "incoming"}})) {
      seconds[s.labels.at("user")] = s.value;
    }
    for (const auto& calls : find_samples(text, "vpbx_user_calls_total",
                                          {{"direction", "incoming"}, {"answered", "true"}})) {
      const auto it = seconds.find(calls.labels.at("user"));
      if (it == seconds.end() || it->second != calls.value * 7) consistent = false;
    }
  }
  writer.join();
  CHECK(users_seen == 1000);
  CHECK(consistent);
  CHECK(sample_value(exposition(store), "vpbx_call_logs_received_total",
                     {{"source", "push"}, {"outcome", "counted"}}) == 20000);
}
