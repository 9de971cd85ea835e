// The state file and its journal: what is exposed is durable, restarts continue the counters,
// torn or corrupt files never count anything twice.
#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "exporter/state/persistence.h"
#include "exporter/state/records.h"
#include "exporter/state/store.h"
#include "tests/support/exposition.h"
#include "tests/support/process.h"

using namespace std::chrono_literals;
using vpbx::state::Batch;
using vpbx::state::CallOutcome;
using vpbx::state::Persistence;
using vpbx::state::Source;
using vpbx::state::Store;
using vpbx::test::sample_value;
namespace fs = std::filesystem;

namespace {

vpbx::config::Config rooms() {
  vpbx::config::Config config;
  config.users = {
      {"291908.bus.ent", 176125, "+41225662194@m.ipvoip.ch", "+41225662194", "Room 101"}};
  return config;
}

vpbx::api::CallLog call(const std::string& id, std::int64_t user = 176125,
                        std::int64_t duration = 7) {
  vpbx::api::CallLog log;
  log.id = id;
  log.user_id = user;
  log.direction = "OUTGOING";
  log.duration = duration;
  log.call_start_epoch_ms = 1727450805000;
  return log;
}

double outgoing_answered(const Store& store, const std::string& user = "Room 101") {
  const auto text = prometheus::TextSerializer().Serialize(store.Collect());
  return sample_value(text, "vpbx_user_calls_total",
                      {{"user", user}, {"direction", "outgoing"}, {"answered", "true"}})
      .value_or(-1);
}

template <typename Predicate>
bool eventually(Predicate done) {
  for (int i = 0; i < 400; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// The files as a crash would leave them: copied while the writer runs, without a last snapshot.
std::string copy_state_dir(const std::string& from) {
  const std::string to = vpbx::test::make_temp_dir();
  for (const auto& entry : fs::directory_iterator(from)) {
    fs::copy_file(entry.path(), fs::path(to) / entry.path().filename());
  }
  return to;
}

}  // namespace

TEST_CASE("journal batches round-trip, escaping what comes from the network", "[persistence]") {
  Batch batch;
  batch.users.push_back({"291908.bus.ent", 176133, "+4122\t566%2196@m.ipvoip.ch\n"});
  batch.calls.push_back(
      {"741f1e6a\tid", 176133, vpbx::state::Direction::incoming, true, 42, 1727450805000});
  batch.cursors.push_back({"enterprise:291908.bus.ent", {1000, 2000}});
  const auto text = vpbx::state::encode_batch(batch) + vpbx::state::encode_batch(batch);
  std::size_t dropped = 99;
  const auto batches = vpbx::state::decode_journal(text, &dropped);
  REQUIRE(batches.size() == 2);
  CHECK(dropped == 0);
  CHECK(batches[0].users[0].login == "+4122\t566%2196@m.ipvoip.ch\n");
  CHECK(batches[0].calls[0].id == "741f1e6a\tid");
  CHECK(batches[0].calls[0].duration_seconds == 42);
  CHECK(batches[0].calls[0].answered);
  CHECK(batches[0].cursors[0].cursor.newest_ms == 2000);
}

TEST_CASE("a torn or damaged batch is dropped whole at replay", "[persistence]") {
  Batch batch;
  batch.calls.push_back({"a", 1, vpbx::state::Direction::outgoing, true, 1, 1});
  const std::string whole = vpbx::state::encode_batch(batch);
  std::size_t dropped = 0;
  // Cut inside the second batch: the first stays, the second is dropped.
  auto batches = vpbx::state::decode_journal(whole + whole.substr(0, whole.size() - 2), &dropped);
  CHECK(batches.size() == 1);
  CHECK(dropped == 1);
  // A batch whose record is garbage is dropped, the next one read.
  batches = vpbx::state::decode_journal("B\nC\tonly-two\nE\n" + whole, &dropped);
  CHECK(batches.size() == 1);
  CHECK(dropped == 1);
  // A batch left without its end, then a new one: the first is dropped.
  batches = vpbx::state::decode_journal("B\nC\tx\t1\t1\t1\t1\t1\n" + whole, &dropped);
  CHECK(batches.size() == 1);
  CHECK(dropped == 1);
}

TEST_CASE("with durability, a counted call is exposed only once committed", "[persistence]") {
  Store store;
  store.configure(rooms());
  store.enable_durability();
  CHECK(store.count_call_log(call("a"), Source::push) == CallOutcome::counted);
  CHECK(outgoing_answered(store) == 0);  // not durable yet
  CHECK(store.count_call_log(call("a"), Source::poll) ==
        CallOutcome::duplicate);  // but deduplicated
  const Batch batch = store.take_pending();
  REQUIRE(batch.calls.size() == 1);
  CHECK(outgoing_answered(store) == 0);
  store.commit(batch);
  CHECK(outgoing_answered(store) == 1);
}

TEST_CASE("a clean stop and start continue every counter and remember every id", "[persistence]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  auto config = rooms();
  {
    Store store;
    store.configure(config);
    Persistence persistence(file, store);
    CHECK_FALSE(persistence.load());
    persistence.start();
    store.count_call_log(call("a"), Source::push);
    store.count_call_log(call("b", 176125, 0), Source::poll);
    CHECK(store.learn_user("291908.bus.ent", 176133, "+41225662196@m.ipvoip.ch"));
    store.count_call_log(call("c", 176133), Source::push);
    store.set_call_log_cursor("enterprise:291908.bus.ent", {1000, 1727450805000});
    persistence.stop();
  }
  Store store;
  store.configure(config);
  Persistence persistence(file, store);
  CHECK(persistence.load());
  CHECK(outgoing_answered(store) == 1);
  CHECK(outgoing_answered(store, "+41225662196") == 1);  // the learnt user came back
  CHECK(store.count_call_log(call("a"), Source::poll) == CallOutcome::duplicate);
  CHECK(store.count_call_log(call("c", 176133), Source::poll) == CallOutcome::duplicate);
  REQUIRE(store.call_log_cursor("enterprise:291908.bus.ent").has_value());
  CHECK(store.call_log_cursor("enterprise:291908.bus.ent")->newest_ms == 1727450805000);
}

TEST_CASE("after a crash, exposed calls are durable and unexposed ones can be counted again",
          "[persistence]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  Store store;
  store.configure(rooms());
  Persistence persistence(file, store, {std::chrono::milliseconds(5), std::chrono::hours(1)});
  persistence.load();
  persistence.start();
  store.count_call_log(call("exposed"), Source::push);
  REQUIRE(eventually([&] { return outgoing_answered(store) == 1; }));
  const std::string crashed = copy_state_dir(dir);  // the disk as a SIGKILL leaves it
  persistence.stop();

  // "exposed" was shown on /metrics, so it must come back; "never-durable" was not, so a poll
  // re-reading it must count it.
  Store restarted;
  restarted.configure(rooms());
  Persistence again(crashed + "/state.json", restarted);
  CHECK(again.load());
  CHECK(outgoing_answered(restarted) == 1);
  CHECK(restarted.count_call_log(call("exposed"), Source::poll) == CallOutcome::duplicate);
  CHECK(restarted.count_call_log(call("never-durable"), Source::poll) == CallOutcome::counted);
}

TEST_CASE("a snapshot leaves out ids that are not durable yet", "[persistence]") {
  Store store;
  store.configure(rooms());
  store.enable_durability();
  store.count_call_log(call("pending"), Source::push);
  const std::string json = store.snapshot_json(7);
  CHECK(json.find("pending") == std::string::npos);
  Store restored;
  restored.configure(rooms());
  std::uint64_t seq = 0;
  std::string error;
  REQUIRE(restored.restore(json, seq, error));
  CHECK(seq == 7);
  CHECK(restored.count_call_log(call("pending"), Source::poll) == CallOutcome::counted);
}

TEST_CASE("a corrupt state file is set aside and the exporter starts fresh", "[persistence]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  vpbx::test::write_file(file, "{\"version\": 1, \"users\": [");
  Store store;
  store.configure(rooms());
  Persistence persistence(file, store);
  CHECK_FALSE(persistence.load());
  CHECK(fs::exists(file + ".corrupt"));
  CHECK(outgoing_answered(store) == 0);
  persistence.start();
  store.count_call_log(call("a"), Source::push);
  persistence.stop();
  Store restarted;
  restarted.configure(rooms());
  Persistence again(file, restarted);
  CHECK(again.load());
  CHECK(outgoing_answered(restarted) == 1);
}

TEST_CASE("a user removed from the config does not come back from the state file",
          "[persistence]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  auto config = rooms();
  config.users.push_back({"291908.bus.ent", 176129, "", "+41225662195", ""});
  {
    Store store;
    store.configure(config);
    Persistence persistence(file, store);
    persistence.load();
    persistence.start();
    store.count_call_log(call("x", 176129), Source::push);
    persistence.stop();
  }
  config.users.pop_back();
  Store store;
  store.configure(config);
  Persistence persistence(file, store);
  persistence.load();
  CHECK_FALSE(store.knows(176129));
  const auto text = prometheus::TextSerializer().Serialize(store.Collect());
  CHECK(text.find("+41225662195") == std::string::npos);
}
