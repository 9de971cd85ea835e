// The state file and its journal: what is exposed is durable, restarts continue the counters,
// torn or corrupt files never count anything twice.
#include <fcntl.h>
#include <prometheus/text_serializer.h>
#include <rapidjson/document.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "exporter/api/models.h"
#include "exporter/state/persistence.h"
#include "exporter/state/records.h"
#include "exporter/state/store.h"
#include "exporter/webhook/receiver.h"
#include "tests/support/exposition.h"
#include "tests/support/log_capture.h"
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
  const auto text = store.exposition();
  return sample_value(text, "vpbx_user_calls_total",
                      {{"user", user}, {"direction", "outgoing"}, {"answered", "true"}})
      .value_or(-1);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <typename Predicate>
bool eventually(Predicate done) {
  for (int i = 0; i < 400; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// The files set aside as "<name>.corrupt-<UTC time>[.<n>]" in `dir`, by name, with their text.
std::map<std::string, std::string> aside_files(const std::string& dir) {
  std::map<std::string, std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".corrupt-") != std::string::npos) found[name] = read_text(entry.path());
  }
  return found;
}

// Flushes every 5 ms, never snapshots on its own, retries a failed write every 20 ms.
vpbx::state::PersistenceOptions fast_options() {
  vpbx::state::PersistenceOptions options;
  options.flush_interval = 5ms;
  options.snapshot_interval = 1h;
  options.retry_interval = 20ms;
  return options;
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

TEST_CASE("a journal call the state file could not hold is a damaged record", "[persistence]") {
  // A duration of -1 s would leave a negative sum, which the state file written next refuses.
  const std::string bad = "B\nC\tc1\t168382\t1\t1\t-1\t1\nE\n";
  const auto contents = vpbx::state::read_journal(bad);
  REQUIRE(contents.fault);
  CHECK(contents.fault->line == 2);
  CHECK(contents.fault->reason.find("duration") != std::string::npos);
  CHECK(contents.damaged == 1);
  REQUIRE(contents.batches.size() == 1);
  CHECK(contents.batches.front().calls.empty());
  std::size_t dropped = 0;
  CHECK(vpbx::state::decode_journal(bad, &dropped).empty());
  CHECK(dropped == 1);
  // The network's bound: a week is a call, a second more is not.
  const auto week = std::to_string(vpbx::api::kMaxCallDurationSeconds);
  CHECK_FALSE(vpbx::state::read_journal("B\nC\tc1\t1\t1\t1\t" + week + "\t1\nE\n").fault);
  const auto longer = std::to_string(vpbx::api::kMaxCallDurationSeconds + 1);
  CHECK(vpbx::state::read_journal("B\nC\tc1\t1\t1\t1\t" + longer + "\t1\nE\n").fault);
}

TEST_CASE("a state file nested too deeply is set aside as corrupt", "[persistence][faults]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  vpbx::test::write_file(file, R"({"version":1,"journal_seq":1,"users":[],"histograms":[],)"
                               R"("cursors":{},"seen_call_logs":[)" +
                                   std::string(200000, '[') + std::string(200000, ']') + "]}");
  Store store;
  store.configure(rooms());
  Persistence persistence(file, store);
  CHECK_FALSE(persistence.load());
  CHECK(persistence.restore_failed());
  CHECK(aside_files(dir).size() == 1);
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
  Persistence persistence(file, store, fast_options());
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
  CHECK(aside_files(dir).size() == 1);
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
  const auto text = store.exposition();
  CHECK(text.find("+41225662195") == std::string::npos);
}

// ---- Faults of the state file and the journal --------------------------------------------

namespace {

std::vector<std::string> journal_files(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".journal.") != std::string::npos && name.find(".corrupt-") == std::string::npos)
      found.push_back(entry.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::optional<double> metric(prometheus::Registry& registry, const std::string& name,
                             std::map<std::string, std::string> labels = {}) {
  return sample_value(prometheus::TextSerializer().Serialize(registry.Collect()), name, labels);
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::size_t line_of(const std::string& text, std::size_t offset) {
  return static_cast<std::size_t>(std::count(text.begin(), text.begin() + offset, '\n')) + 1;
}

const std::string kScope = "enterprise:291908.bus.ent";

// A state folder as a crash leaves it: the state file, then one journal with a batch per call
// ("a", "b", "c", each exposed on /metrics before the next is counted), a cursor with "a".
struct Crashed {
  std::string dir;
  std::string file;
  std::string journal;
};

Crashed crash_after_three_batches() {
  const std::string dir = vpbx::test::make_temp_dir();
  Store store;
  store.configure(rooms());
  Persistence persistence(dir + "/state.json", store, fast_options());
  persistence.load();
  persistence.start();
  store.set_call_log_cursor(kScope, {1000, 1727450805000});
  double exposed = 0;
  for (const char* id : {"a", "b", "c"}) {
    store.count_call_log(call(id), Source::push);
    ++exposed;
    REQUIRE(eventually([&] { return outgoing_answered(store) == exposed; }));
  }
  const std::string crashed = copy_state_dir(dir);
  persistence.stop();
  const auto journals = journal_files(crashed);
  REQUIRE(journals.size() == 1);
  return {crashed, crashed + "/state.json", journals.front()};
}

// Replaces the first `what` in `path`; returns the byte offset where it was.
std::size_t damage(const std::string& path, const std::string& what, const std::string& with) {
  std::string text = read_text(path);
  const auto at = text.find(what);
  REQUIRE(at != std::string::npos);
  text.replace(at, what.size(), with);
  vpbx::test::write_file(path, text);
  return text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
}

struct Restarted {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Store store;
  std::unique_ptr<Persistence> persistence;
  std::string log;
  bool loaded = false;

  explicit Restarted(const std::string& file, const vpbx::config::Config& config = rooms()) {
    store.configure(config);
    persistence =
        std::make_unique<Persistence>(file, store, vpbx::state::PersistenceOptions{},
                                      std::make_shared<vpbx::state::PersistenceMetrics>(*registry));
    vpbx::test::StderrCapture capture;
    loaded = persistence->load();
    log = capture.finish();
  }
  std::optional<double> restore_failed() { return metric(*registry, "vpbx_state_restore_failed"); }
};

}  // namespace

TEST_CASE("a truncated state file is set aside under a UTC name that never replaces another",
          "[persistence][faults]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  const std::string truncated = "{\n  \"version\": 1,\n  \"journal_seq\": 3,\n  \"users\": [ {";
  vpbx::test::write_file(file, truncated);
  // Files already set aside at every name this second (and the next few) could take.
  std::vector<std::string> decoys;
  for (int s = -1; s <= 3; ++s) {
    const std::time_t t = std::time(nullptr) + s;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    decoys.push_back(std::string("state.json.corrupt-") + stamp);
    vpbx::test::write_file(dir + "/" + decoys.back(), "decoy");
  }

  Restarted restarted(file);
  CHECK_FALSE(restarted.loaded);
  CHECK(restarted.persistence->restore_failed());
  CHECK(restarted.restore_failed() == 1);
  // The log names the file and where it breaks.
  CHECK(restarted.log.find(file) != std::string::npos);
  CHECK(restarted.log.find("line 4") != std::string::npos);
  CHECK(restarted.log.find("byte " + std::to_string(truncated.size())) != std::string::npos);
  // Set aside with a suffix, every decoy intact; a fresh, sound state file in its place.
  const auto aside = aside_files(dir);
  CHECK(aside.size() == decoys.size() + 1);
  for (const auto& decoy : decoys) CHECK(aside.at(decoy) == "decoy");
  CHECK(std::count_if(aside.begin(), aside.end(),
                      [&](const auto& f) { return f.second == truncated; }) == 1);
  Restarted again(file);
  CHECK_FALSE(again.persistence->restore_failed());
  CHECK(again.restore_failed() == 0);
}

TEST_CASE("a state file of another version is set aside and named with its version",
          "[persistence][faults]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  const std::string future =
      R"({"version": 2, "journal_seq": 3, "users": [], "histograms": [], "cursors": {},)"
      R"( "seen_call_logs": []})";
  vpbx::test::write_file(file, future);
  Restarted restarted(file);
  CHECK(restarted.persistence->restore_failed());
  CHECK(restarted.log.find("version: 2, expected 1") != std::string::npos);
  const auto aside = aside_files(dir);
  REQUIRE(aside.size() == 1);
  CHECK(aside.begin()->second == future);
}

TEST_CASE("a state file with a member of the wrong type is not restored in part",
          "[persistence][faults]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  {
    Store store;
    store.configure(rooms());
    Persistence persistence(file, store);
    persistence.load();
    persistence.start();
    store.count_call_log(call("a"), Source::push);
    persistence.stop();
  }
  // Valid JSON, but one counter is a string: the file is used whole or not at all.
  damage(file, "\"duration_seconds\":[", "\"duration_seconds\":[\"x\",");
  Restarted restarted(file);
  CHECK(restarted.persistence->restore_failed());
  CHECK(restarted.log.find("users[0].duration_seconds") != std::string::npos);
  CHECK(outgoing_answered(restarted.store) == 0);
}

TEST_CASE("a lost state file: the journal's ids are still remembered, counters restart at 0",
          "[persistence][faults]") {
  const Crashed crashed = crash_after_three_batches();
  vpbx::test::write_file(crashed.file, "{\"version\": 1, \"jour");  // cut short
  const std::int64_t before = wall_ms();
  Restarted restarted(crashed.file);
  CHECK(restarted.persistence->restore_failed());
  CHECK(restarted.restore_failed() == 1);
  // 3 calls were exposed; the snapshot that held the counters is gone. 0 is a counter reset,
  // which increase() handles; anything between 0 and 3 would count its calls a second time.
  CHECK(outgoing_answered(restarted.store) == 0);
  for (const char* id : {"a", "b", "c"})
    CHECK(restarted.store.count_call_log(call(id), Source::poll) == CallOutcome::duplicate);
  // The cursor came back from the journal; its history starts at the restore.
  const auto cursor = restarted.store.call_log_cursor(kScope);
  REQUIRE(cursor.has_value());
  CHECK(cursor->newest_ms == 1727450805000);
  CHECK(cursor->start_ms >= before);
  CHECK(aside_files(crashed.dir).size() == 1);
}

TEST_CASE("a journal damaged in its middle: ids before and after it are remembered",
          "[persistence][faults]") {
  const Crashed crashed = crash_after_three_batches();
  const std::size_t offset = damage(crashed.journal, "C\tb\t176125", "C\tb\t17x125");
  const std::string damaged = read_text(crashed.journal);
  const std::int64_t before = wall_ms();
  Restarted restarted(crashed.file);
  CHECK(restarted.persistence->restore_failed());
  CHECK(restarted.restore_failed() == 1);
  CHECK(restarted.log.find(crashed.journal) != std::string::npos);
  CHECK(restarted.log.find("line " + std::to_string(line_of(damaged, offset)) + ", byte " +
                           std::to_string(offset)) != std::string::npos);
  // "b" cannot be read back, so the restored counters would be 2 where 3 were exposed.
  CHECK(outgoing_answered(restarted.store) == 0);
  CHECK(restarted.store.count_call_log(call("a"), Source::poll) == CallOutcome::duplicate);
  CHECK(restarted.store.count_call_log(call("c"), Source::poll) == CallOutcome::duplicate);
  // "b" is not remembered: a poll re-reading it finds it older than the cursor's history.
  const auto cursor = restarted.store.call_log_cursor(kScope);
  REQUIRE(cursor.has_value());
  CHECK(cursor->start_ms >= before);
  CHECK(cursor->start_ms > 1727450805000 + 7000);
  // The damaged journal is kept aside; the one replaced by the fresh snapshot is gone.
  const auto aside = aside_files(crashed.dir);
  REQUIRE(aside.size() == 1);
  CHECK(aside.begin()->second == damaged);
  CHECK(journal_files(crashed.dir).size() == 1);  // the new, empty one

  // The next start finds a sound state: the reset is not repeated, nothing is lost again.
  restarted.persistence->start();
  restarted.store.count_call_log(call("d"), Source::push);
  restarted.persistence->stop();
  Restarted again(crashed.file);
  CHECK_FALSE(again.persistence->restore_failed());
  CHECK(outgoing_answered(again.store) == 1);
  CHECK(again.store.count_call_log(call("a"), Source::poll) == CallOutcome::duplicate);
}

TEST_CASE("a good journal after a bad one is read, only the bad one is set aside",
          "[persistence][faults]") {
  const Crashed crashed = crash_after_three_batches();
  // Garbage between two batches of the first journal; a second journal after it.
  damage(crashed.journal, "E\nB\n", "E\n\x01\x02garbage\nB\n");
  const auto seq = std::stoull(crashed.journal.substr(crashed.journal.rfind('.') + 1));
  Batch later;
  later.calls.push_back({"d", 176125, vpbx::state::Direction::outgoing, true, 7, 1727450805000});
  const std::string second = crashed.file + ".journal." + std::to_string(seq + 1);
  vpbx::test::write_file(second, vpbx::state::journal_header() + vpbx::state::encode_batch(later));
  Restarted restarted(crashed.file);
  CHECK(restarted.persistence->restore_failed());
  CHECK(outgoing_answered(restarted.store) == 0);
  for (const char* id : {"a", "b", "c", "d"})
    CHECK(restarted.store.count_call_log(call(id), Source::poll) == CallOutcome::duplicate);
  const auto aside = aside_files(crashed.dir);
  REQUIRE(aside.size() == 1);
  CHECK(aside.begin()->first.find(fs::path(crashed.journal).filename().string()) == 0);
  CHECK_FALSE(fs::exists(second));  // folded into the fresh snapshot
}

TEST_CASE("a journal of another version is set aside", "[persistence][faults]") {
  const Crashed crashed = crash_after_three_batches();
  damage(crashed.journal, "J\t1\n", "J\t2\n");
  Restarted restarted(crashed.file);
  CHECK(restarted.persistence->restore_failed());
  CHECK(restarted.log.find("journal version 2, expected 1") != std::string::npos);
  CHECK(outgoing_answered(restarted.store) == 0);
  CHECK(aside_files(crashed.dir).size() == 1);
}

TEST_CASE("a torn last batch is what a crash leaves, not a fault", "[persistence][faults]") {
  const Crashed crashed = crash_after_three_batches();
  std::ofstream(crashed.journal, std::ios::app) << "B\nC\tx\t176125\t1\t1\t5\t17";
  Restarted restarted(crashed.file);
  CHECK_FALSE(restarted.persistence->restore_failed());
  CHECK(restarted.restore_failed() == 0);
  CHECK(outgoing_answered(restarted.store) == 3);  // continued
  CHECK(restarted.store.count_call_log(call("x"), Source::poll) == CallOutcome::counted);
  CHECK(aside_files(crashed.dir).empty());
}

TEST_CASE("a clock set back since the crash does not move a restore's history back",
          "[persistence][faults][clock]") {
  const Crashed crashed = crash_after_three_batches();
  damage(crashed.journal, "C\tb\t176125", "C\tb\t17x125");
  // The journal was last written an hour ahead of the clock as it is now.
  fs::last_write_time(crashed.journal, fs::file_time_type::clock::now() + 1h);
  Restarted restarted(crashed.file);
  REQUIRE(restarted.persistence->restore_failed());
  const auto cursor = restarted.store.call_log_cursor(kScope);
  REQUIRE(cursor.has_value());
  CHECK(cursor->start_ms >= wall_ms() + std::chrono::milliseconds(59min).count());
}

// ---- Writes failing while running ---------------------------------------------------------

namespace {

const std::string kToken = "0123456789abcdef0123";

// Room 101 as in rooms(), and Room 102: the user of the seed's CDR push.
vpbx::config::Config two_rooms() {
  auto config = rooms();
  config.users.push_back(
      {"291908.bus.ent", 168382, "+41225662195@m.ipvoip.ch", "+41225662195", "Room 102"});
  return config;
}

vpbx::config::WebhookConfig webhook_config() {
  vpbx::config::WebhookConfig config;
  config.token = kToken;
  return config;
}

// The seed's CDR push (user 168382, Room 102, outgoing, 7 s) with another call id.
vpbx::http::Request push_request(const std::string& id) {
  std::string body = read_text(std::string(VPBX_TEST_DATA_DIR) + "/api/push_call_log.json");
  const std::string seed_id = "741f1e6a-8fb1-441e-9e0c-e57c68246d5d";
  body.replace(body.find(seed_id), seed_id.size(), id);
  vpbx::http::Request request;
  request.method = "POST";
  request.path = "/webhook/" + kToken;
  request.headers["content-type"] = "application/json";
  request.remote_address = "127.0.0.1";
  request.body = body;
  return request;
}

std::optional<std::string> header(const vpbx::http::Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// A real file system of `size`, mounted on a new folder (root and CAP_SYS_ADMIN needed).
class TinyFileSystem {
 public:
  explicit TinyFileSystem(const std::string& size) : dir_(vpbx::test::make_temp_dir()) {
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~TinyFileSystem() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TinyFileSystem(const TinyFileSystem&) = delete;
  TinyFileSystem& operator=(const TinyFileSystem&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  // Writes a file until the file system has no room left.
  void fill() {
    const int fd = ::open((dir_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const std::string block(4096, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
  }
  void make_room() { ::unlink((dir_ + "/filler").c_str()); }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// A store, its persistence and a webhook receiver asking it whether pushes can be made durable.
struct Running {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Store store;
  std::unique_ptr<Persistence> persistence;
  std::unique_ptr<vpbx::webhook::Receiver> receiver;

  Running(const std::string& file, vpbx::state::PersistenceOptions options) {
    store.configure(two_rooms());
    persistence =
        std::make_unique<Persistence>(file, store, std::move(options),
                                      std::make_shared<vpbx::state::PersistenceMetrics>(*registry));
    receiver = std::make_unique<vpbx::webhook::Receiver>(
        webhook_config(), store, std::make_shared<vpbx::webhook::WebhookMetrics>(*registry));
    receiver->set_durability_check([this] { return persistence->durable(); });
    persistence->load();
    persistence->start();
  }
  double journal_errors() {
    return metric(*registry, "vpbx_state_write_errors_total", {{"file", "journal"}}).value_or(-1);
  }
};

}  // namespace

TEST_CASE("a batch that could not be written goes back pending, out of snapshots",
          "[persistence][faults]") {
  Store store;
  store.configure(rooms());
  store.enable_durability();
  store.count_call_log(call("call-one"), Source::poll);
  Batch failed = store.take_pending();
  store.count_call_log(call("call-two"), Source::poll);
  store.requeue_pending(std::move(failed));
  // Not durable, so not remembered by a snapshot: after a crash, a poll must count them.
  const std::string json = store.snapshot_json(1);
  CHECK(json.find("call-one") == std::string::npos);
  CHECK(json.find("call-two") == std::string::npos);
  const Batch retry = store.take_pending();
  REQUIRE(retry.calls.size() == 2);
  CHECK(retry.calls[0].id == "call-one");  // in order, the failed one first
  CHECK(retry.calls[1].id == "call-two");
}

TEST_CASE("a read-only state folder (injected): 503 to pushes, polls held, recovery on its own",
          "[persistence][faults]") {
  // Tests run as root, whom permissions do not stop, and a mounted file system cannot be made
  // read-only under an open file: the failure is injected through the seam for it.
  std::atomic<int> fail_with{0};
  auto options = fast_options();
  options.inject_write_error = [&](const std::string&) { return fail_with.load(); };
  const std::string dir = vpbx::test::make_temp_dir();
  vpbx::test::StderrCapture capture;
  Running running(dir + "/state.json", options);
  REQUIRE(running.receiver->handle(push_request("p1")).status == 200);
  REQUIRE(eventually([&] { return outgoing_answered(running.store, "Room 102") == 1; }));

  fail_with = EROFS;
  running.store.count_call_log(call("q1"), Source::poll);
  REQUIRE(eventually([&] { return !running.persistence->durable(); }));
  const auto refused = running.receiver->handle(push_request("p2"));
  CHECK(refused.status == 503);
  CHECK(header(refused, "Retry-After").has_value());
  CHECK(running.store.count_call_log(call("p2", 168382), Source::poll) == CallOutcome::counted);
  REQUIRE(eventually([&] { return running.journal_errors() >= 3; }));  // retried, not lost
  CHECK(outgoing_answered(running.store) == 0);                        // not durable, not exposed
  const std::string crashed = copy_state_dir(dir);

  fail_with = 0;
  REQUIRE(eventually([&] { return running.persistence->durable(); }));
  REQUIRE(eventually([&] { return outgoing_answered(running.store) == 1; }));
  REQUIRE(eventually([&] { return outgoing_answered(running.store, "Room 102") == 2; }));
  CHECK(running.receiver->handle(push_request("p3")).status == 200);
  running.persistence->stop();
  const std::string log = capture.finish();
  CHECK(vpbx::test::count_occurrences(log, "cannot write the state journal") == 1);
  CHECK(vpbx::test::count_occurrences(log, "state journal writable again") == 1);

  // A crash during the failure: what was exposed is remembered, what was held back is not.
  Restarted restarted(crashed + "/state.json", two_rooms());
  CHECK_FALSE(restarted.persistence->restore_failed());
  CHECK(outgoing_answered(restarted.store, "Room 102") == 1);
  CHECK(restarted.store.count_call_log(call("p1", 168382), Source::poll) == CallOutcome::duplicate);
  CHECK(restarted.store.count_call_log(call("q1"), Source::poll) == CallOutcome::counted);
}

TEST_CASE("a full disk: 503 to pushes, polls held, and every call written once there is room",
          "[persistence][faults][disk]") {
  TinyFileSystem disk("256k");
  if (!disk.mounted()) {
    WARN("no tmpfs can be mounted here (" << disk.error()
                                          << "): the real full disk is not tried, the injected "
                                             "read-only folder is");
    return;
  }
  vpbx::test::StderrCapture capture;
  Running running(disk.dir() + "/state.json", fast_options());
  REQUIRE(running.receiver->handle(push_request("p1")).status == 200);
  REQUIRE(eventually([&] { return outgoing_answered(running.store, "Room 102") == 1; }));

  disk.fill();
  // A batch larger than what is left of the journal's last page: the write is cut partway.
  const std::string padding(40, 'x');
  for (int i = 0; i < 300; ++i)
    running.store.count_call_log(call("poll-" + std::to_string(i) + padding), Source::poll);
  REQUIRE(eventually([&] { return !running.persistence->durable(); }));
  const auto refused = running.receiver->handle(push_request("p2"));
  CHECK(refused.status == 503);
  CHECK(header(refused, "Retry-After").has_value());
  REQUIRE(eventually([&] { return running.journal_errors() >= 3; }));
  // What fitted before the disk was full may be shown (a slow machine flushes the first calls in
  // a batch of their own); the rest waits for room and shows nothing while the writes fail.
  const double shown = outgoing_answered(running.store);
  CHECK(shown < 300);
  const double errors = running.journal_errors();
  REQUIRE(eventually([&] { return running.journal_errors() >= errors + 2; }));
  CHECK(outgoing_answered(running.store) == shown);

  disk.make_room();
  REQUIRE(eventually([&] { return running.persistence->durable(); }));
  REQUIRE(eventually([&] { return outgoing_answered(running.store) == 300; }));
  CHECK(running.receiver->handle(push_request("p2")).status == 200);
  REQUIRE(eventually([&] { return outgoing_answered(running.store, "Room 102") == 2; }));
  const std::string crashed = copy_state_dir(disk.dir());
  running.persistence->stop();
  const std::string log = capture.finish();
  CHECK(vpbx::test::count_occurrences(log, "cannot write the state journal") == 1);
  CHECK(vpbx::test::count_occurrences(log, "state journal writable again") == 1);

  // The journal as the crash left it reads back whole: the cut write left nothing behind.
  Restarted restarted(crashed + "/state.json", two_rooms());
  CHECK_FALSE(restarted.persistence->restore_failed());
  CHECK(outgoing_answered(restarted.store) == 300);
  CHECK(outgoing_answered(restarted.store, "Room 102") == 2);
}

// ---- Snapshots while pushes go on --------------------------------------------------------

namespace {

// The remembered ids of a state file, in file order (a repeated id stays repeated).
std::vector<std::string> snapshot_ids(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  REQUIRE(doc.IsObject());
  std::vector<std::string> ids;
  for (const auto& entry : doc["seen_call_logs"].GetArray()) ids.emplace_back(entry[0].GetString());
  return ids;
}

// A user's calls (every direction, answered or not) and their summed duration, as the store
// would write them to the state file: what it has committed, so what /metrics shows.
std::pair<double, double> user_totals(const Store& store, std::int64_t user_id) {
  rapidjson::Document doc;
  const std::string json = store.snapshot_json(0);
  doc.Parse(json.c_str(), json.size());
  REQUIRE(doc.IsObject());
  for (const auto& user : doc["users"].GetArray()) {
    if (user["user_id"].GetInt64() != user_id) continue;
    double calls = 0, seconds = 0;
    for (const auto& pair : user["calls"].GetArray())
      calls += pair[0].GetDouble() + pair[1].GetDouble();
    for (const auto& sum : user["duration_seconds"].GetArray()) seconds += sum.GetDouble();
    return {calls, seconds};
  }
  return {-1, -1};
}

}  // namespace

TEST_CASE("a snapshot copies the users under the lock, not the remembered ids",
          "[persistence][snapshot]") {
  // 200k ids, as the webhook benchmark leaves after a few seconds (a new id per push). Before
  // issue 15 the snapshot copied every one of them under the store's lock, so every push waited
  // for it: the work under the lock is counted here, not timed (these machines are noisy).
  Store store;
  store.configure(two_rooms());
  store.enable_durability();
  constexpr int kIds = 200000;
  for (int i = 0; i < kIds; ++i) {
    const std::string id = "id-" + std::to_string(i);
    if (i % 2 == 0) {
      store.remember_call_log(call(id));  // history
    } else {
      store.count_call_log(call(id, i % 4 == 1 ? 176125 : 168382), Source::push);
    }
    if (i % 10000 == 9999) store.commit(store.take_pending());
  }
  for (const char* id : {"pending-1", "pending-2", "pending-3"})
    store.count_call_log(call(id), Source::push);

  const std::string json = store.snapshot_json(3);
  const std::size_t users = 2, pending = 3;
  CHECK(store.last_snapshot_locked_copies() <= users + pending + vpbx::state::kSeenCallLogChunk);
  auto ids = snapshot_ids(json);
  CHECK(ids.size() == kIds);  // all of them, the pending ones left out
  std::sort(ids.begin(), ids.end());
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  CHECK(std::find(ids.begin(), ids.end(), "pending-1") == ids.end());
  CHECK(std::binary_search(ids.begin(), ids.end(), "id-0"));
  CHECK(std::binary_search(ids.begin(), ids.end(), "id-199999"));

  // After a prune that rebuilds part of the ledger, the next snapshot is as cheap.
  auto recent = call("recent-after-prune");
  recent.call_start_epoch_ms = 1727450806000;
  store.remember_call_log(recent);
  store.prune_seen_call_logs(1727450806000);
  CHECK(store.seen_call_log_count() == 1);
  store.remember_call_log(call("id-7"));  // forgotten, so remembered again
  const std::string pruned = store.snapshot_json(4);
  CHECK(store.last_snapshot_locked_copies() <= users + pending + vpbx::state::kSeenCallLogChunk);
  ids = snapshot_ids(pruned);
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::string>{"id-7", "recent-after-prune"});
}

TEST_CASE("a snapshot holds every remembered id once, in step with prunes, replays and restores",
          "[persistence][snapshot]") {
  Store store;
  store.configure(two_rooms());
  store.enable_durability();
  std::set<std::string> expected;
  auto old_call = [](const std::string& id) {
    auto log = call(id);
    log.call_start_epoch_ms = 1000;
    return log;
  };
  // Enough ids for several chunks, half of them old; some seen twice by every path.
  for (std::size_t i = 0; i < 3 * vpbx::state::kSeenCallLogChunk + 17; ++i) {
    const std::string id = "c" + std::to_string(i);
    if (i % 3 == 0) {
      store.remember_call_log(i % 2 ? old_call(id) : call(id));
    } else {
      store.count_call_log(i % 2 ? old_call(id) : call(id), Source::poll);
    }
    if (i % 2 == 0) expected.insert(id);
    if (i % 1000 == 0) store.snapshot_json(1);  // the open chunk is closed at each snapshot
  }
  store.commit(store.take_pending());
  store.remember_call_log(call("c0"));  // seen already
  CHECK(store.count_call_log(call("c2"), Source::push) == CallOutcome::duplicate);
  Batch replayed;
  replayed.calls.push_back(
      {"c4", 176125, vpbx::state::Direction::outgoing, true, 7, 1727450805000});
  replayed.calls.push_back(
      {"replayed", 176125, vpbx::state::Direction::outgoing, true, 7, 1727450805000});
  store.commit(replayed, /*replay=*/true);
  expected.insert("replayed");
  store.prune_seen_call_logs(2000);
  CHECK(store.seen_call_log_count() == expected.size());
  store.count_call_log(call("pending"), Source::push);

  const std::string json = store.snapshot_json(5);
  auto ids = snapshot_ids(json);
  CHECK(ids.size() == expected.size());
  CHECK(std::set<std::string>(ids.begin(), ids.end()) == expected);

  // Restored, then written again: the same ids, and the restored ledger prunes like the first.
  Store restored;
  restored.configure(two_rooms());
  std::uint64_t seq = 0;
  std::string error;
  REQUIRE(restored.restore(json, seq, error));
  restored.remember_call_log(call("c0"));
  restored.remember_call_log(call("late"));
  expected.insert("late");
  ids = snapshot_ids(restored.snapshot_json(5));
  CHECK(ids.size() == expected.size());
  CHECK(std::set<std::string>(ids.begin(), ids.end()) == expected);
  restored.prune_seen_call_logs(1727450805001);
  CHECK(restored.seen_call_log_count() == 0);
  CHECK(snapshot_ids(restored.snapshot_json(5)).empty());
  CHECK(restored.count_call_log(call("pending"), Source::poll) == CallOutcome::counted);
}

TEST_CASE(
    "snapshots taken while calls are pushed and ids pruned: a crash anywhere restores every "
    "exposed call exactly once",
    "[persistence][snapshot][exactly_once]") {
  // The persistence thread's loop, with the journal in memory: take a batch, "write" it, commit
  // it, and now and then a snapshot naming the first batch it does not hold. Pushes of new calls
  // and old ids remembered and pruned run alongside, on other threads. A crash after any batch
  // leaves the last snapshot and the batches after it: restored, they must hold every committed
  // call once (an id in a snapshot without its counts, or counts without the id, would be
  // counted twice or lost at replay).
  Store store;
  store.configure(two_rooms());
  store.enable_durability();
  constexpr int kPushers = 3;
  constexpr int kCallsEach = 3000;
  std::atomic<int> pushers_left{kPushers};
  std::atomic<int> not_counted{0};  // Catch2's CHECK is for the test's own thread
  std::vector<std::thread> threads;
  for (int t = 0; t < kPushers; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsEach; ++i) {
        const auto log =
            call("t" + std::to_string(t) + "-" + std::to_string(i), i % 2 ? 176125 : 168382, i % 5);
        if (store.count_call_log(log, Source::push) != CallOutcome::counted) ++not_counted;
        if (i % 64 == 0) std::this_thread::yield();
      }
      --pushers_left;
    });
  }
  std::atomic<std::size_t> history_pruned_rounds{0};
  threads.emplace_back([&] {
    for (int n = 0; pushers_left > 0; ++n) {
      auto log = call("h" + std::to_string(n));
      log.call_start_epoch_ms = 1000 + n % 7;
      store.remember_call_log(log);
      if (n % 500 == 499) {
        store.prune_seen_call_logs(2000);
        ++history_pruned_rounds;
      }
    }
  });

  std::vector<Batch> journal;
  struct Snapshot {
    std::string json;
    std::size_t first_batch;  // journal_seq: the first batch not folded in
  };
  std::vector<Snapshot> snapshots{{store.snapshot_json(0), 0}};
  for (int round = 0;; ++round) {
    const bool last = pushers_left == 0;
    Batch batch = store.take_pending();
    if (!batch.empty()) {
      journal.push_back(batch);
      store.commit(batch);
    }
    if (round % 4 == 3) snapshots.push_back({store.snapshot_json(journal.size()), journal.size()});
    if (last && batch.empty()) break;
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  for (auto& thread : threads) thread.join();
  snapshots.push_back({store.snapshot_json(journal.size()), journal.size()});
  CHECK(not_counted == 0);
  CHECK(history_pruned_rounds > 0);
  REQUIRE(snapshots.size() > 4);
  std::size_t committed = 0;
  for (const auto& batch : journal) committed += batch.calls.size();
  REQUIRE(committed == kPushers * kCallsEach);

  // Crash points: a few snapshots spread over the run, each with part of the batches after it.
  for (std::size_t k = 1; k <= 8; ++k) {
    const Snapshot& snapshot = snapshots[k * (snapshots.size() - 1) / 8];
    const std::size_t next = std::min(journal.size(), snapshot.first_batch + 1 + k % 3);
    const std::size_t crash_after = snapshot.first_batch + (next - snapshot.first_batch) / 2;
    INFO("snapshot of " << snapshot.first_batch << " batches, crash after " << crash_after);
    std::map<std::int64_t, std::pair<double, double>> expected;  // user -> calls, seconds
    for (std::size_t b = 0; b < crash_after; ++b) {
      for (const auto& c : journal[b].calls) {
        auto& totals = expected[c.user_id];
        totals.first += 1;
        totals.second += static_cast<double>(c.duration_seconds);
      }
    }
    Store restored;
    restored.configure(two_rooms());
    std::uint64_t seq = 99;
    std::string error;
    REQUIRE(restored.restore(snapshot.json, seq, error));
    CHECK(seq == snapshot.first_batch);
    for (std::size_t b = snapshot.first_batch; b < crash_after; ++b)
      restored.commit(journal[b], /*replay=*/true);
    for (const std::int64_t user : {176125, 168382}) {
      const auto totals = user_totals(restored, user);
      CHECK(totals.first == expected[user].first);
      CHECK(totals.second == expected[user].second);
    }
    // Every committed call is known, and a call not yet journaled is news to a poll.
    std::size_t duplicates = 0;
    for (std::size_t b = 0; b < crash_after; ++b) {
      for (const auto& c : journal[b].calls) {
        duplicates += restored.count_call_log(call(c.id, c.user_id, c.duration_seconds),
                                              Source::poll) == CallOutcome::duplicate;
      }
    }
    CHECK(duplicates == expected[176125].first + expected[168382].first);
    if (crash_after < journal.size() && !journal[crash_after].calls.empty()) {
      const auto& c = journal[crash_after].calls.front();
      CHECK(restored.count_call_log(call(c.id, c.user_id, c.duration_seconds), Source::poll) ==
            CallOutcome::counted);
    }
  }
}

TEST_CASE(
    "the writer thread snapshotting every few ms while pushes go on loses and doubles nothing",
    "[persistence][snapshot]") {
  const std::string dir = vpbx::test::make_temp_dir();
  const std::string file = dir + "/state.json";
  auto options = fast_options();
  options.flush_interval = 1ms;
  options.snapshot_interval = 3ms;
  constexpr int kCalls = 4000;
  {
    Store store;
    store.configure(two_rooms());
    Persistence persistence(file, store, options);
    persistence.load();
    persistence.start();
    std::thread other([&] {
      for (int i = 0; i < kCalls; ++i)
        store.count_call_log(call("b" + std::to_string(i), 168382, 3), Source::push);
    });
    for (int i = 0; i < kCalls; ++i)
      store.count_call_log(call("a" + std::to_string(i), 176125, 2), Source::push);
    other.join();
    REQUIRE(eventually([&] { return user_totals(store, 168382).first == kCalls; }));
    persistence.stop();
  }
  Store store;
  store.configure(two_rooms());
  Persistence persistence(file, store, options);
  CHECK(persistence.load());
  CHECK(user_totals(store, 176125) == std::pair<double, double>{kCalls, 2.0 * kCalls});
  CHECK(user_totals(store, 168382) == std::pair<double, double>{kCalls, 3.0 * kCalls});
  CHECK(store.seen_call_log_count() == 2 * kCalls);
  CHECK(store.count_call_log(call("a0"), Source::poll) == CallOutcome::duplicate);
  CHECK(store.count_call_log(call("b3999", 168382), Source::poll) == CallOutcome::duplicate);
}
