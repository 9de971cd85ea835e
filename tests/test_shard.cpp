// Scale-out: each replica counts only its shard's users, and moving from 3 shards to 4 (the
// previous replicas' state files imported by the new ones) loses no call and counts none twice,
// first in the store, then end to end with the real exporter binary and the simulator.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "exporter/state/persistence.h"
#include "exporter/state/store.h"
#include "simulator/simulator.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

using namespace std::chrono_literals;
using vpbx::state::CallOutcome;
using vpbx::state::Source;
using vpbx::state::Store;
using vpbx::test::ChildProcess;
using vpbx::test::find_samples;
using vpbx::test::http_request;
using vpbx::test::sample_value;

namespace {

const std::string kExporter = std::string(VPBX_BINARY_DIR) + "/exporter/vpbx_exporter";

vpbx::config::Config rooms(int count, int index = 0, int shards = 1) {
  vpbx::config::Config config;
  for (int i = 0; i < count; ++i) {
    const std::int64_t id = 176100 + i;
    config.users.push_back({"291908.bus.ent", id, std::to_string(id) + "@m.ipvoip.ch", "", ""});
  }
  config.shard = {index, shards, {}};
  return config;
}

vpbx::api::CallLog call(const std::string& id, std::int64_t user, std::int64_t duration) {
  vpbx::api::CallLog log;
  log.id = id;
  log.user_id = user;
  log.direction = "INCOMING";
  log.duration = duration;
  log.call_start_epoch_ms = 1727450805000;
  return log;
}

// Sum over the shards' texts of every user's answered+unanswered calls, by user id.
std::map<std::string, double> calls_by_user(const std::vector<std::string>& texts) {
  std::map<std::string, double> out;
  for (const auto& text : texts) {
    std::map<std::string, std::string> id_of;
    for (const auto& s : find_samples(text, "vpbx_user_info"))
      id_of[s.labels.at("user")] = s.labels.at("user_id");
    for (const auto& s : find_samples(text, "vpbx_user_calls_total"))
      out[id_of.at(s.labels.at("user"))] += s.value;
  }
  return out;
}

double histogram_count(const std::vector<std::string>& texts) {
  double out = 0;
  for (const auto& text : texts) {
    for (const auto& s : find_samples(text, "vpbx_call_duration_seconds_count")) out += s.value;
  }
  return out;
}

}  // namespace

TEST_CASE("a shard holds, learns and counts only its own users", "[shard][state]") {
  const auto all = rooms(30);
  std::set<std::int64_t> seen;
  for (int index = 0; index < 3; ++index) {
    INFO("shard " << index);
    Store store;
    store.configure(rooms(30, index, 3));
    for (const auto& user : store.users()) {
      CHECK(vpbx::config::shard_of(user.identity.user_id, 3) == index);
      CHECK(seen.insert(user.identity.user_id).second);  // in no other shard
    }
    for (const auto& user : all.users) {
      const bool mine = vpbx::config::shard_of(user.user_id, 3) == index;
      const auto outcome = store.count_call_log(
          call("c" + std::to_string(user.user_id), user.user_id, 5), Source::poll);
      CHECK(outcome == (mine ? CallOutcome::counted : CallOutcome::other_shard));
      // Not remembered: the same call again is the other shard's still, never a duplicate.
      if (!mine) {
        CHECK(store.count_call_log(call("c" + std::to_string(user.user_id), user.user_id, 5),
                                   Source::poll) == CallOutcome::other_shard);
      }
    }
    // Discovery stays within the shard.
    std::int64_t foreign = 900000;
    while (vpbx::config::shard_of(foreign, 3) == index) ++foreign;
    std::int64_t own = 900000;
    while (vpbx::config::shard_of(own, 3) != index) ++own;
    CHECK_FALSE(store.learn_user("291908.bus.ent", foreign, ""));
    CHECK(store.learn_user("291908.bus.ent", own, ""));
    const auto text = store.exposition();
    CHECK(sample_value(text, "vpbx_shard_info",
                       {{"index", std::to_string(index)}, {"count", "3"}}) == 1);
    CHECK(sample_value(text, "vpbx_call_logs_received_total",
                       {{"source", "poll"}, {"outcome", "other_shard"}}) > 0);
  }
  CHECK(seen.size() == all.users.size());

  // One shard (the default) shows nothing of sharding: its output is as it always was.
  Store one;
  one.configure(all);
  CHECK(one.users().size() == all.users.size());
  const auto text = one.exposition();
  CHECK(text.find("vpbx_shard_info") == std::string::npos);
  CHECK(text.find("other_shard") == std::string::npos);
}

TEST_CASE("a reload to another shard drops the users it no longer owns", "[shard][state]") {
  Store store;
  store.configure(rooms(20));
  CHECK(store.users().size() == 20);
  store.configure(rooms(20, 1, 2));
  for (const auto& user : store.users())
    CHECK(vpbx::config::shard_of(user.identity.user_id, 2) == 1);
  CHECK(store.users().size() < 20);
}

TEST_CASE("3 shards' state files imported by 4 new shards carry every count once",
          "[shard][state][persistence]") {
  const auto all = rooms(40);
  std::vector<std::string> old_files;
  std::vector<std::string> old_texts;
  int n = 0;
  for (int index = 0; index < 3; ++index) {
    Store store;
    store.configure(rooms(40, index, 3));
    for (const auto& user : all.users) {
      for (int k = 0; k < 3; ++k) {
        store.count_call_log(call("c" + std::to_string(n++), user.user_id, 10 * k), Source::poll);
      }
    }
    store.set_call_log_cursor("enterprise:291908.bus.ent", {1000 + index, 5000 + index});
    for (const auto& user : store.users()) {
      store.set_call_log_cursor("user:" + std::to_string(user.identity.user_id), {1, 2});
    }
    old_texts.push_back(store.exposition());
    old_files.push_back(store.snapshot_json(1));
  }
  const auto before = calls_by_user(old_texts);
  REQUIRE(before.size() == 40);
  for (const auto& [user, calls] : before) CHECK(calls == 3);

  std::vector<std::string> new_texts;
  for (int index = 0; index < 4; ++index) {
    Store store;
    store.configure(rooms(40, index, 4));
    for (const auto& file : old_files) {
      std::uint64_t seq = 0;
      std::string error;
      REQUIRE(store.restore(file, seq, error, /*import=*/true));
    }
    // Every id any old shard counted is a duplicate here: a re-read counts nothing twice.
    const auto again = store.count_call_log(call("c0", 176100, 0), Source::poll);
    CHECK((again == CallOutcome::duplicate || again == CallOutcome::other_shard));
    // The enterprise cursor is the oldest of the three; another shard's user cursor is not kept.
    CHECK(store.call_log_cursor("enterprise:291908.bus.ent")->newest_ms == 5000);
    CHECK(store.call_log_cursor("enterprise:291908.bus.ent")->start_ms == 1000);
    for (const auto& user : all.users) {
      const auto cursor = store.call_log_cursor("user:" + std::to_string(user.user_id));
      CHECK(cursor.has_value() == (vpbx::config::shard_of(user.user_id, 4) == index));
    }
    new_texts.push_back(store.exposition());
  }
  CHECK(calls_by_user(new_texts) == before);
  // Histograms cannot be split by user: they go whole to shard 0, so their sum carries on.
  CHECK(histogram_count(new_texts) == histogram_count(old_texts));
  CHECK(histogram_count(old_texts) == 40 * 2);  // the answered ones (10 s and 20 s)
}

TEST_CASE("an import happens once, and never from a replica that was killed",
          "[shard][persistence]") {
  namespace fs = std::filesystem;
  vpbx::state::PersistenceOptions fast;
  fast.flush_interval = 5ms;
  fast.snapshot_interval = 1h;
  const std::string old_dir = vpbx::test::make_temp_dir();
  const std::string old_file = old_dir + "/state-0-of-1.json";
  const std::string killed_dir = vpbx::test::make_temp_dir();
  {
    Store store;
    store.configure(rooms(4));
    vpbx::state::Persistence persistence(old_file, store, fast);
    persistence.load();
    persistence.start();
    store.count_call_log(call("a", 176100, 5), Source::push);
    for (int i = 0; i < 200 && store.exposition().find("answered=\"true\"} 1") == std::string::npos;
         ++i) {
      std::this_thread::sleep_for(5ms);
    }
    // The files as a SIGKILL would leave them: the call is in the journal only.
    for (const auto& entry : fs::directory_iterator(old_dir))
      fs::copy_file(entry.path(), fs::path(killed_dir) / entry.path().filename());
    persistence.stop();  // a clean stop: the call is in the state file
  }
  const auto fresh = [&](const std::string& own, const std::vector<std::string>& imports,
                         std::string& error) {
    Store store;
    store.configure(rooms(4));
    vpbx::state::Persistence persistence(own, store, fast);
    const bool ok = persistence.import_if_fresh(imports, error);
    if (ok) persistence.load();
    return std::pair{ok, calls_by_user({store.exposition()})[std::to_string(176100)]};
  };
  std::string error;
  const std::string new_dir = vpbx::test::make_temp_dir();
  CHECK_FALSE(fresh(new_dir + "/a.json", {killed_dir + "/state-0-of-1.json"}, error).first);
  CHECK_THAT(error, Catch::Contains("stop that replica cleanly"));
  CHECK_FALSE(fresh(new_dir + "/a.json", {old_dir + "/missing.json"}, error).first);
  CHECK_THAT(error, Catch::Contains("missing.json: cannot be read"));
  CHECK_FALSE(fs::exists(new_dir + "/a.json"));  // nothing written by a refused import

  const auto imported = fresh(new_dir + "/a.json", {old_file}, error);
  CHECK(imported.first);
  CHECK(imported.second == 1);
  REQUIRE(fs::exists(new_dir + "/a.json"));
  // Its own state file now exists: the imports are not read again (the call is not added twice).
  const auto restarted = fresh(new_dir + "/a.json", {old_file}, error);
  CHECK(restarted.first);
  CHECK(restarted.second == 1);
}

TEST_CASE("3 shards moved to 4 with the real exporter: the sum over shards equals the truth",
          "[shard][exporter][persistence]") {
  vpbx::sim::Options options;
  options.enterprises = 2;
  options.users_per_enterprise = 9;
  options.faults.push_drop_ratio = 0.2;
  vpbx::sim::Simulator sim(options);
  sim.start();
  const auto users = sim.truth();
  const std::string enterprise = users.front().enterprise;  // the other is polled per user

  const std::string dir = vpbx::test::make_temp_dir();
  vpbx::test::write_file(dir + "/users.csv", sim.users_csv());
  vpbx::test::write_file(dir + "/password", options.password + "\n");
  vpbx::test::write_file(dir + "/token", "shard-test-token-0123456789\n");

  struct Replica {
    int port = 0;
    std::unique_ptr<ChildProcess> process;
  };
  // One replica: its own port, public_url and state file, as docs/scale-out.md asks.
  const auto start = [&](int index, int count, const std::string& imports) {
    Replica r;
    r.port = vpbx::test::free_port();
    const std::string name = std::to_string(index) + "-of-" + std::to_string(count);
    vpbx::test::write_file(
        dir + "/" + name + ".yml",
        "api:\n  url: " + sim.base_url() + "\n  username: " + options.username +
            "\n  password_file: password\n  application_id: " + options.application_id +
            "\n  timeout: 2s\n  max_requests_per_second: 100\n"
            "users_file: users.csv\nenterprises: [" +
            enterprise +
            "]\n"
            "poll: { server: 1s, presence: 0, features: 0, call_logs: 1s }\n"
            "call_logs: { overlap: 10m }\n"
            "webhook:\n  token_file: token\n  public_url: http://127.0.0.1:" +
            std::to_string(r.port) +
            "/webhook/{token}\n"
            "subscriptions: { manage: true, resource_types: [CALL_LOG] }\n"
            "state_file: state-" +
            name +
            ".json\n"
            "shard:\n  index: " +
            std::to_string(index) + "\n  count: " + std::to_string(count) + "\n" +
            (imports.empty() ? "" : "  import_state_files: [" + imports + "]\n"));
    r.process = std::make_unique<ChildProcess>(
        kExporter,
        std::vector<std::string>{"--config.file=" + dir + "/" + name + ".yml",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(r.port)},
        dir + "/" + name + ".log");
    REQUIRE(r.process->wait_for_log("msg=listening", 10s));
    return r;
  };
  const auto scrape = [](const Replica& r) {
    return http_request("http://127.0.0.1:" + std::to_string(r.port) + "/metrics").body;
  };
  const auto texts = [&](const std::vector<Replica>& replicas) {
    std::vector<std::string> out;
    for (const auto& r : replicas) out.push_back(scrape(r));
    return out;
  };
  const auto truth_by_user = [&] {
    std::map<std::string, double> out;
    for (const auto& user : sim.truth())
      out[std::to_string(user.user_id)] = static_cast<double>(user.calls);
    return out;
  };
  // Each replica's first call-log sweep fixes where its counting starts.
  const auto wait_swept = [&](const std::vector<Replica>& replicas) {
    for (const auto& r : replicas) {
      bool swept = false;
      for (int i = 0; i < 200 && !swept; ++i) {
        swept = sample_value(scrape(r), "vpbx_collector_last_success_timestamp_seconds",
                             {{"collector", "call_logs"}})
                    .value_or(0) > 0;
        if (!swept) std::this_thread::sleep_for(50ms);
      }
      REQUIRE(swept);
    }
  };
  const auto wait_equal = [&](const std::vector<Replica>& replicas) {
    for (int i = 0; i < 300; ++i) {
      if (calls_by_user(texts(replicas)) == truth_by_user()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  std::mt19937 random(7);
  const auto traffic = [&](int calls) {
    for (int i = 0; i < calls; ++i) {
      const auto& user = users[random() % users.size()];
      sim.inject_call({user.user_id, random() % 2 ? "INCOMING" : "OUTGOING",
                       static_cast<int>(random() % 4 == 0 ? 0 : random() % 300)});
      std::this_thread::sleep_for(20ms);
    }
  };

  std::vector<Replica> three;
  for (int index = 0; index < 3; ++index) three.push_back(start(index, 3, ""));
  wait_swept(three);
  std::this_thread::sleep_for(1100ms);  // callStart has whole seconds
  traffic(60);
  REQUIRE(wait_equal(three));
  // Each user is counted by exactly one replica.
  std::map<std::string, int> holders;
  for (const auto& text : texts(three)) {
    for (const auto& s : find_samples(text, "vpbx_user_info")) ++holders[s.labels.at("user_id")];
  }
  CHECK(holders.size() == users.size());
  for (const auto& [user, count] : holders) CHECK(count == 1);
  CHECK_THAT(http_request("http://127.0.0.1:" + std::to_string(three[2].port) + "/").body,
             Catch::Contains("<td>Shard</td><td>2 of 3 ("));

  // The procedure of docs/scale-out.md, with calls going on throughout: stop the 3 cleanly,
  // start the 4 importing their state files.
  std::thread more([&] { traffic(90); });
  std::this_thread::sleep_for(500ms);
  for (auto& r : three) r.process->signal(SIGTERM);
  for (auto& r : three) CHECK(r.process->wait(20s) == 0);
  three.clear();
  const std::string imports = "state-0-of-3.json, state-1-of-3.json, state-2-of-3.json";
  std::vector<Replica> four;
  for (int index = 0; index < 4; ++index) four.push_back(start(index, 4, imports));
  more.join();
  const bool equal = wait_equal(four);
  const auto got = calls_by_user(texts(four));
  const auto want = truth_by_user();
  for (const auto& [user, calls] : want) {
    INFO("user " << user);
    CHECK(got.count(user) == 1);
    if (got.count(user)) CHECK(got.at(user) == calls);
  }
  REQUIRE(equal);
  double total = 0;
  for (const auto& [user, calls] : want) total += calls;
  CHECK(total == 150);
  // The new replicas really imported: a restart now reads its own state file, not the imports.
  for (const auto& r : four) CHECK(r.process->log().find("state imported") != std::string::npos);
}
