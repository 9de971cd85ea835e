#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "exporter/config/config.h"
#include "exporter/config/network.h"
#include "exporter/config/users_csv.h"

using namespace vpbx::config;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

const std::string kDataDir = VPBX_TEST_DATA_DIR "/config";

// The three secrets' variables, cleared for the test and restored after it, so that the
// developer's own environment cannot make a test pass or fail.
class CleanEnv {
 public:
  CleanEnv() {
    for (const char* name : kNames) {
      const char* v = std::getenv(name);
      saved_.emplace_back(v ? std::optional<std::string>(v) : std::nullopt);
      unsetenv(name);
    }
  }
  ~CleanEnv() {
    for (std::size_t i = 0; i < std::size(kNames); ++i) {
      if (saved_[i]) {
        setenv(kNames[i], saved_[i]->c_str(), 1);
      } else {
        unsetenv(kNames[i]);
      }
    }
  }

 private:
  static constexpr const char* kNames[] = {"VPBX_API_PASSWORD", "VPBX_APPLICATION_ID",
                                           "VPBX_WEBHOOK_TOKEN"};
  std::vector<std::optional<std::string>> saved_;
};

// Five lines: the smallest valid config. Cases append from line 6 on.
const std::string kBase =
    "api:\n"
    "  url: https://api.example.com/openapi\n"
    "  username: openapi@1.bus.ent\n"
    "  password: pw-inline-0001\n"
    "  application_id: app-inline-0001\n";

// Loads `yaml`, which must fail with exactly this key and line; returns the message.
std::string error_of(const std::string& yaml, const std::string& base_dir = kDataDir) {
  try {
    load_string(yaml, base_dir);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("no ConfigError for:\n" << yaml);
  return {};
}

void require_error(const std::string& yaml, const std::string& key, int line,
                   const std::string& problem_part = "") {
  INFO(yaml);
  try {
    load_string(yaml, kDataDir);
    FAIL("no ConfigError");
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(e.key() == key);
    CHECK(e.line() == line);
    std::string where = key + ": ";
    if (line > 0) {
      where = key.empty() ? "line " + std::to_string(line) + ": "
                          : key + " (line " + std::to_string(line) + "): ";
    }
    CHECK_THAT(what, Catch::StartsWith("config: " + where));
    if (!problem_part.empty()) CHECK_THAT(what, Contains(problem_part));
  }
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vpbx_config_XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& content) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

// ---------------------------------------------------------------- good configs

TEST_CASE("the installed example config loads with secrets from the environment", "[config]") {
  CleanEnv env;
  setenv("VPBX_API_PASSWORD", "example-password", 1);
  setenv("VPBX_APPLICATION_ID", "00000000-0000-0000-0000-000000000000", 1);
  setenv("VPBX_WEBHOOK_TOKEN", "example-token-0123456789", 1);
  const Config c = load_file(VPBX_SOURCE_DIR "/deploy/vpbx_exporter.example.yml");
  CHECK(c.api.url == "https://api.ipvoip.ch/openapi/");
  CHECK(c.api.password == "example-password");
  CHECK(c.api.application_id == "00000000-0000-0000-0000-000000000000");
  CHECK(c.webhook.token == "example-token-0123456789");
  CHECK(c.webhook.enabled());
  CHECK(c.api.ca_file.empty());
  CHECK(c.users.empty());
  CHECK(c.state_file == "/var/lib/vpbx_exporter/state.json");
  // The example documents the defaults: it must not drift from them.
  const Config defaults;
  CHECK(c.api.timeout == defaults.api.timeout);
  CHECK(c.api.connect_timeout == defaults.api.connect_timeout);
  CHECK(c.api.max_requests_per_second == defaults.api.max_requests_per_second);
  CHECK(c.api.max_concurrent_requests == defaults.api.max_concurrent_requests);
  CHECK(c.api.max_retries == defaults.api.max_retries);
  CHECK(c.api.paths.presence == defaults.api.paths.presence);
  CHECK(c.api.paths.user_call_logs == defaults.api.paths.user_call_logs);
  CHECK(c.api.paths.enterprise_call_logs == defaults.api.paths.enterprise_call_logs);
  CHECK(c.max_users == defaults.max_users);
  CHECK(c.discover_users == defaults.discover_users);
  CHECK(c.poll.server == defaults.poll.server);
  CHECK(c.poll.presence == defaults.poll.presence);
  CHECK(c.poll.features == defaults.poll.features);
  CHECK(c.poll.call_logs == defaults.poll.call_logs);
  CHECK(c.poll.fallback == defaults.poll.fallback);
  CHECK(c.call_logs.backfill == defaults.call_logs.backfill);
  CHECK(c.call_logs.overlap == defaults.call_logs.overlap);
  CHECK(c.call_logs.page_size == defaults.call_logs.page_size);
  CHECK(c.webhook.path == defaults.webhook.path);
  CHECK(c.webhook.max_body_bytes == defaults.webhook.max_body_bytes);
  CHECK(c.subscriptions.manage == defaults.subscriptions.manage);
  CHECK(c.subscriptions.resource_types == defaults.subscriptions.resource_types);
  CHECK(c.subscriptions.ttl == defaults.subscriptions.ttl);
  CHECK(c.subscriptions.renew_before == defaults.subscriptions.renew_before);
}

TEST_CASE("the example config names every key the loader knows", "[config]") {
  std::ifstream in(VPBX_SOURCE_DIR "/deploy/vpbx_exporter.example.yml");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* key : {"url:",
                          "username:",
                          "password_file:",
                          "password:",
                          "application_id_file:",
                          "application_id:",
                          "timeout:",
                          "connect_timeout:",
                          "max_requests_per_second:",
                          "max_concurrent_requests:",
                          "max_retries:",
                          "auth_failure_backoff_max:",
                          "ca_file:",
                          "insecure_skip_verify:",
                          "paths:",
                          "presence:",
                          "user_call_logs:",
                          "enterprise_call_logs:",
                          "users:",
                          "enterprise:",
                          "user_id:",
                          "login:",
                          "number:",
                          "name:",
                          "users_file:",
                          "enterprises:",
                          "discover_users:",
                          "max_users:",
                          "poll:",
                          "server:",
                          "features:",
                          "call_logs:",
                          "fallback:",
                          "state_map:",
                          "include:",
                          "expose_destinations:",
                          "backfill:",
                          "overlap:",
                          "page_size:",
                          "answered_status:",
                          "webhook:",
                          "path:",
                          "token_file:",
                          "listen_address:",
                          "public_url:",
                          "allowed_networks:",
                          "trusted_proxies:",
                          "max_body_bytes:",
                          "allow_unauthenticated:",
                          "subscriptions:",
                          "manage:",
                          "resource_types:",
                          "ttl:",
                          "renew_before:",
                          "keep_on_shutdown:",
                          "state_file:",
                          "profiles:",
                          "inactive:",
                          "active:",
                          "clear_destinations:",
                          "shard:",
                          "accounts:",
                          "index:",
                          "count:"}) {
    CHECK_THAT(text, Contains(key));
  }
}

TEST_CASE("a config with every key set loads each one", "[config]") {
  CleanEnv env;
  const Config c = load_file(kDataDir + "/full.yml");
  CHECK(c.api.url == "https://api.ipvoip.ch/openapi/");
  CHECK(c.api.username == "openapi@291908.bus.ent");
  CHECK(c.api.password == "fixture-password-1234");
  CHECK(c.api.application_id == "71c177e5-7417-4265-b97f-4595016dceb8");  // CRLF stripped
  CHECK(c.api.timeout == 15s);
  CHECK(c.api.connect_timeout == 2500ms);
  CHECK(c.api.max_requests_per_second == 2.5);
  CHECK(c.api.max_concurrent_requests == 2);
  CHECK(c.api.max_retries == 5);
  CHECK(c.api.ca_file == kDataDir + "/ca.pem");
  CHECK_FALSE(c.api.insecure_skip_verify);
  CHECK(c.api.paths.presence == "v2/users/{user_id}/presence");
  CHECK(c.api.paths.user_call_logs == "v2/users/{user_id}/calllogs");
  CHECK(c.api.paths.enterprise_call_logs == "v2/enterprises/{enterprise}/calllogs");

  REQUIRE(c.users.size() == 6);  // 2 inline, then 4 from the CSV
  CHECK(c.users[0].enterprise == "431569.bus.ent");
  CHECK(c.users[0].user_id == 177059);
  CHECK(c.users[0].login == "+41215776366@m.ipvoip.ch");
  CHECK(c.users[0].number == "+41215776366");
  CHECK(c.users[0].name == "Reception");
  CHECK(c.users[1].user_id == 177063);  // quoted in YAML, still a number
  CHECK(c.users[1].label() == "177063");
  CHECK(c.users[2].user_id == 176125);
  CHECK(c.users[5].login == "+41225662197@m.ipvoip.ch");
  CHECK(c.users_file == kDataDir + "/users.csv");
  CHECK(c.enterprises == std::vector<std::string>{"291908.bus.ent", "431569.bus.ent"});
  CHECK_FALSE(c.discover_users);
  CHECK(c.max_users == 50);

  CHECK(c.poll.server == 30s);
  CHECK(c.poll.presence == 2min);
  CHECK(c.poll.features == 10min);
  CHECK(c.poll.call_logs == 90min);
  CHECK(c.poll.fallback == 0s);

  CHECK(c.presence.state_map ==
        std::map<std::string, std::string>{{"AWAY", "offline"}, {"IN_CALL", "busy"}});
  CHECK(c.features.include ==
        std::vector<std::string>{"CALL_FORWARD_UNCONDITIONAL", "DO_NOT_DISTURB"});
  CHECK(c.features.expose_destinations);
  CHECK(c.call_logs.backfill == 24h);
  CHECK(c.call_logs.overlap == 15min);
  CHECK(c.call_logs.page_size == 50);
  CHECK(c.call_logs.answered_status == std::map<int, bool>{{486, false}, {804, true}});

  CHECK(c.webhook.path == "/push");  // trailing slash dropped
  CHECK(c.webhook.token == "fixture-webhook-token-0123456789");
  CHECK(c.webhook.listen_address == "127.0.0.1:9121");
  CHECK(c.webhook.public_url == "https://exporter.example.com/push/{token}");
  CHECK(notification_url(c.webhook) ==
        "https://exporter.example.com/push/fixture-webhook-token-0123456789");
  CHECK(c.webhook.allowed_networks ==
        std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"});
  CHECK(c.webhook.trusted_proxies == std::vector<std::string>{"127.0.0.1"});
  CHECK(c.webhook.max_body_bytes == 65536);
  CHECK_FALSE(c.webhook.allow_unauthenticated);

  CHECK(c.subscriptions.manage);
  CHECK(c.subscriptions.resource_types == std::vector<std::string>{"CALL_LOG", "FEATURE"});
  CHECK(c.subscriptions.ttl == 12h);
  CHECK(c.subscriptions.renew_before == 1h);
  CHECK(c.subscriptions.keep_on_shutdown);
  CHECK(c.state_file == kDataDir + "/state/state.json");
  REQUIRE(c.profiles.contains("default"));
  CHECK(c.profiles.at("default").inactive ==
        std::vector<std::string>{"CENTRAL_DND", "CALL_FORWARD_*"});
  CHECK(c.profiles.at("default").active == std::vector<std::string>{"CALL_WAITING"});
  CHECK(c.profiles.at("default").clear_destinations ==
        std::vector<std::string>{"CALL_FORWARD_UNCONDITIONAL"});
}

TEST_CASE("the smallest config gets the documented defaults", "[config]") {
  CleanEnv env;
  const Config c = load_string(kBase);
  const Config d;
  CHECK(c.api.url == "https://api.example.com/openapi/");  // normalised to end with '/'
  CHECK(c.api.timeout == d.api.timeout);
  CHECK(c.users.empty());
  CHECK(c.users_file.empty());
  CHECK(c.poll.presence == 60s);
  CHECK(c.subscriptions.resource_types == d.subscriptions.resource_types);
  CHECK_FALSE(c.subscriptions.manage);
  CHECK(c.webhook.token.empty());
  CHECK_FALSE(c.webhook.enabled());
  CHECK(c.state_file.empty());
  // `key:` with no value keeps the default.
  CHECK(load_string(kBase + "poll:\n  server:\nmax_users: ~\n").poll.server == 60s);
  // After a 401/403: probes from 10 s on, doubling up to 5 min.
  CHECK(c.api.auth_failure_backoff == 10s);
  CHECK(c.api.auth_failure_backoff_max == 5min);
  CHECK(load_string(kBase + "  auth_failure_backoff_max: 30m\n").api.auth_failure_backoff_max ==
        30min);
}

TEST_CASE("shard: one shard by default, index and count validated", "[config][shard]") {
  CleanEnv env;
  const Config one = load_string(kBase);
  CHECK(one.shard.index == 0);
  CHECK(one.shard.count == 1);
  CHECK(one.shard.owns(1));
  CHECK(one.shard.owns(176125));
  const Config c = load_string(kBase + "shard:\n  index: 2\n  count: 3\n");
  CHECK(c.shard.index == 2);
  CHECK(c.shard.count == 3);
  require_error(kBase + "shard:\n  index: 3\n  count: 3\n", "shard.index", 7,
                "must be from 0 to shard.count - 1 (3 with shard.count 3)");
  require_error(kBase + "shard:\n  count: 0\n", "shard.count", 7, "between 1 and");
  require_error(kBase + "shard:\n  index: -1\n  count: 2\n", "shard.index", 7, "between 0 and");
  require_error(kBase + "shard:\n  idx: 1\n", "shard.idx", 7, "unknown key");
  require_error(kBase + "shard: 3\n", "shard", 6, "expected a map");
  require_error(kBase + "shard:\n  import_state_files: [old.json]\n", "shard.import_state_files", 7,
                "needs state_file");
  const Config imports = load_string(
      kBase + "state_file: /var/lib/x/state.json\nshard: {import_state_files: [a.json, /b.json]}\n",
      "/etc/x");
  CHECK(imports.shard.import_state_files == std::vector<std::string>{"/etc/x/a.json", "/b.json"});
  // The flags override the file, and are checked against it.
  Config f = load_string(kBase + "shard: {index: 1, count: 2}\n");
  override_shard(f, std::nullopt, 4);
  CHECK(f.shard.index == 1);
  CHECK(f.shard.count == 4);
  override_shard(f, 3, std::nullopt);
  CHECK(f.shard.index == 3);
  try {
    override_shard(f, 4, std::nullopt);
    FAIL("no ConfigError");
  } catch (const ConfigError& e) {
    CHECK(e.key() == "--shard.index");
    CHECK_THAT(e.what(), Contains("4 with shard.count 4"));
  }
}

TEST_CASE("the shard hash is FNV-1a 64 of the user id, fixed for ever", "[config][shard]") {
  // Known values: a change here moves users between shards on upgrade, which loses counts.
  CHECK(shard_hash(0) == 0xaf63ad4c86019caf);  // FNV-1a 64 of "0"
  CHECK(shard_hash(176125) == 17397782595690732045ULL);
  CHECK(shard_of(176125, 1) == 0);
  // Every user is in exactly one shard, and the split is even enough.
  for (const int count : {2, 3, 4, 7}) {
    std::vector<int> per_shard(static_cast<std::size_t>(count));
    for (std::int64_t id = 100000; id < 110000; ++id) {
      int owners = 0;
      for (int index = 0; index < count; ++index) owners += ShardConfig{index, count, {}}.owns(id);
      CHECK(owners == 1);
      ++per_shard[static_cast<std::size_t>(shard_of(id, count))];
    }
    for (const int n : per_shard) CHECK(n > 10000 / count * 8 / 10);
  }
}

TEST_CASE("the user label is name, else number, else login, else the id", "[config]") {
  User u;
  u.user_id = 176125;
  CHECK(u.label() == "176125");
  u.login = "+41225662194@m.ipvoip.ch";
  CHECK(u.label() == "+41225662194@m.ipvoip.ch");
  u.number = "+41225662194";
  CHECK(u.label() == "+41225662194");
  u.name = "Room 101";
  CHECK(u.label() == "Room 101");
}

TEST_CASE("the notification URL puts the token in place or appends it", "[config]") {
  WebhookConfig w;
  w.public_url = "https://x.example/webhook";
  CHECK(notification_url(w) == "https://x.example/webhook");
  w.token = "abc";
  CHECK(notification_url(w) == "https://x.example/webhook/abc");
  w.public_url = "https://x.example/webhook/";
  CHECK(notification_url(w) == "https://x.example/webhook/abc");
  w.public_url = "https://x.example/hook/{token}/in";
  CHECK(notification_url(w) == "https://x.example/hook/abc/in");
}

TEST_CASE("networks match addresses by prefix", "[config]") {
  const auto v4 = parse_network("10.0.0.0/8");
  REQUIRE(v4);
  CHECK(v4->contains("10.200.1.2"));
  CHECK(v4->contains("::ffff:10.1.2.3"));
  CHECK_FALSE(v4->contains("11.0.0.1"));
  CHECK_FALSE(v4->contains("not an address"));
  const auto host = parse_network("192.0.2.7");
  REQUIRE(host);
  CHECK(host->contains("192.0.2.7"));
  CHECK_FALSE(host->contains("192.0.2.8"));
  const auto v6 = parse_network("2001:db8::/33");
  REQUIRE(v6);
  CHECK(v6->contains("2001:db8:7fff::1"));
  CHECK_FALSE(v6->contains("2001:db8:8000::1"));
  CHECK_FALSE(v6->contains("10.0.0.1"));
  CHECK(parse_network("0.0.0.0/0")->contains("203.0.113.9"));
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/", "10.0.0.0/x", "::/129",
                          "example.com", "10.0.0.0/8/8"}) {
    INFO(bad);
    CHECK_FALSE(parse_network(bad));
  }
}

// ---------------------------------------------------------------- secrets

TEST_CASE("secrets come from a file, inline, or the environment, in that order", "[config]") {
  CleanEnv env;
  TempDir dir;
  const std::string head = "api:\n  url: http://127.0.0.1:8080/openapi/\n  username: u@1.bus.ent\n";

  SECTION("files, relative to the config's folder, lose their trailing newline") {
    dir.write("pw", "from-file\n");
    dir.write("app", "app-from-file\r\n");
    dir.write("tok", "token-from-file-0123");
    const Config c = load_string(head +
                                     "  password_file: pw\n  application_id_file: app\n"
                                     "webhook:\n  token_file: tok\n",
                                 dir.str());
    CHECK(c.api.password == "from-file");
    CHECK(c.api.application_id == "app-from-file");
    CHECK(c.webhook.token == "token-from-file-0123");
  }
  SECTION("load_file resolves against the file's own folder") {
    dir.write("pw", "from-file\n");
    const auto path = dir.write("c.yml", head + "  password_file: pw\n  application_id: a\n");
    CHECK(load_file(path).api.password == "from-file");
  }
  SECTION("inline values") {
    const Config c = load_string(head +
                                 "  password: inline-pw\n  application_id: inline-app\n"
                                 "webhook: {token: inline-token}\n");
    CHECK(c.api.password == "inline-pw");
    CHECK(c.api.application_id == "inline-app");
    CHECK(c.webhook.token == "inline-token");
  }
  SECTION("the environment when the file names neither") {
    setenv("VPBX_API_PASSWORD", "env-pw", 1);
    setenv("VPBX_APPLICATION_ID", "env-app", 1);
    setenv("VPBX_WEBHOOK_TOKEN", "env-token", 1);
    Config c = load_string(head);
    CHECK(c.api.password == "env-pw");
    CHECK(c.api.application_id == "env-app");
    CHECK(c.webhook.token == "env-token");
    // The file's own value wins over the environment.
    c = load_string(head + "  password: inline-pw\n");
    CHECK(c.api.password == "inline-pw");
  }
  SECTION("an empty environment variable counts as unset") {
    setenv("VPBX_API_PASSWORD", "", 1);
    setenv("VPBX_APPLICATION_ID", "a", 1);
    CHECK_THROWS_AS(load_string(head), ConfigError);
  }
}

TEST_CASE("secret errors name the key and the line", "[config]") {
  CleanEnv env;
  const std::string head = "api:\n  url: https://a.example/\n  username: u\n";
  require_error(head + "  application_id: a\n", "api.password", 1, "VPBX_API_PASSWORD");
  require_error(head + "  password: p\n", "api.application_id", 1, "VPBX_APPLICATION_ID");
  require_error(head + "  password_file: secrets/password\n  password: p\n  application_id: a\n",
                "api.password", 5, "not both");
  require_error(head + "  password: p\n  application_id_file: nowhere/app_id\n",
                "api.application_id_file", 5, "cannot read the file: No such file");
  require_error(head + "  password_file: secrets\n  application_id: a\n", "api.password_file", 4,
                "cannot read the file");
  require_error(head + "  password: \"\"\n  application_id: a\n", "api.password", 4, "empty");
  require_error(head + "  password: \"a\\nb\"\n  application_id: a\n", "api.password", 4,
                "control character");
  require_error(head + "  password: [a, b]\n  application_id: a\n", "api.password", 4,
                "expected a string, got a list");
  require_error(kBase + "webhook:\n  token: has/slash\n", "webhook.token", 7, "letters, digits");
}

TEST_CASE("no error message and no log line shows a secret", "[config]") {
  CleanEnv env;
  const std::string pw = "Pa55w0rdXYZZYsecret";
  const std::string app = "AppIdSECRET4711";
  const std::string tok = "TokSECRETtokSECRET";
  TempDir dir;
  dir.write("pw", pw + "\nsecond line\n");
  dir.write("empty", "\n");
  const std::string head = "api:\n  url: https://a.example/\n  username: u\n";
  const std::string good_api = head + "  password: " + pw + "\n  application_id: " + app + "\n";
  const std::vector<std::string> bad = {
      head + "  password: " + pw + "\n  password_file: pw\n  application_id: " + app + "\n",
      head + "  password_file: " + pw + "\n  application_id: " + app + "\n",
      head + "  password_file: pw\n  application_id: " + app + "\n",
      head + "  password_file: empty\n  application_id: " + app + "\n",
      head + "  password: [" + pw + ", x]\n  application_id: " + app + "\n",
      head + "  password: {" + pw + ": 1}\n  application_id: " + app + "\n",
      head + "  password: \"" + pw + "\\u0001\"\n  application_id: " + app + "\n",
      head + "  password: *" + pw + "\n  application_id: " + app + "\n",
      head + "  password: \"" + pw + "\n  application_id: " + app + "\n",
      head + "  password: " + pw + "\n  application_id: \"" + app + "\\e\"\n",
      head + "  passwrd: " + pw + "\n  application_id: " + app + "\n",
      head + "  password: " + pw + "\n  application_id: [" + app + "]\n",
      head + "  password: " + pw + "\n  application_id_file: " + app + "\n",
      good_api + "  timeout: " + pw + "\n",
      good_api + "webhook:\n  token: " + tok + "/x\n",
      good_api + "webhook:\n  token: " + tok + "\n  token_file: " + tok + "\n",
      good_api + "webhook:\n  token: " + tok + "\nsubscriptions:\n  manage: true\n",
      good_api + "webhook:\n  token: " + tok + "\n  public_url: https://" + tok + "@x/\n",
      good_api + "webhook:\n  token: " + tok + "\n  public_url: ftp://x/" + tok + "\n",
      "api:\n  url: https://u:" + pw + "@a.example/\n  username: u\n  password: " + pw + "\n",
      "api:\n  url: https://u:" + pw + "@a.example/\n  username: u\n  password: " + pw +
          "\n  application_id: " + app + "\n",
      good_api + "max_users: lots\n  " + pw + "\n",
  };
  for (const auto& yaml : bad) {
    const std::string what = error_of(yaml, dir.str());
    INFO(what);
    CHECK_THAT(what, !Contains(pw) && !Contains(app) && !Contains(tok));
  }
  // Warnings while loading (short token, unauthenticated webhook) name keys, not values.
  fflush(stderr);
  const std::string log_path = dir.str() + "/stderr.log";
  const int saved = dup(2);
  std::FILE* log = std::fopen(log_path.c_str(), "w");
  REQUIRE(log);
  dup2(fileno(log), 2);
  load_string(good_api + "webhook:\n  token: short" + tok.substr(0, 4) + "\n" +
              "  allow_unauthenticated: true\n");
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(log);
  std::ifstream in(log_path);
  const std::string logged((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(logged, Contains("webhook.token"));
  CHECK_THAT(logged, !Contains("short" + tok.substr(0, 4)) && !Contains(pw) && !Contains(app));
}

// ---------------------------------------------------------------- bad configs

TEST_CASE("wrong types name the key and the line", "[config]") {
  CleanEnv env;
  require_error(kBase + "max_users: lots\n", "max_users", 6, "expected an integer, got \"lots\"");
  require_error(kBase + "poll:\n  presence: 10 parsecs\n", "poll.presence", 7,
                "\"10 parsecs\" is not a duration");
  require_error(kBase + "  timeout: 10\n", "api.timeout", 6, "is not a duration");
  require_error(kBase + "poll: [10s, 20s]\n", "poll", 6, "expected a map, got a list");
  require_error(kBase + "enterprises: {a: b}\n", "enterprises", 6, "expected a list, got a map");
  require_error(kBase + "enterprises: 291908.bus.ent\n", "enterprises", 6, "expected a list");
  require_error(kBase + "discover_users: maybe\n", "discover_users", 6, "expected true or false");
  require_error(kBase + "  max_requests_per_second: fast\n", "api.max_requests_per_second", 6,
                "expected a number");
  require_error(kBase + "users_file: [a.csv]\n", "users_file", 6, "expected a string, got a list");
  require_error(kBase + "call_logs:\n  answered_status:\n    ok: true\n",
                "call_logs.answered_status.ok", 8, "expected an integer");
  require_error(kBase + "call_logs:\n  answered_status:\n    804: sure\n",
                "call_logs.answered_status.804", 8, "expected true or false");
  require_error(kBase + "call_logs: {page_size: 0}\n", "call_logs.page_size", 6,
                "between 1 and 1000");
  require_error(kBase + "webhook: {max_body_bytes: -1}\n", "webhook.max_body_bytes", 6);
  require_error("- api\n- users\n", "", 1, "must be a map");
}

TEST_CASE("unknown and repeated keys are errors anywhere", "[config]") {
  CleanEnv env;
  require_error(kBase + "  passwrd: x\n", "api.passwrd", 6, "unknown key");
  require_error(kBase + "pol:\n  server: 1m\n", "pol", 6, "unknown key");
  require_error(kBase + "poll:\n  server: 1m\n  presense: 10s\n", "poll.presense", 8,
                "unknown key");
  require_error(kBase + "  paths:\n    presense: x/{user_id}\n", "api.paths.presense", 7);
  require_error(kBase + "users:\n  - {enterprise: e, user_id: 1, room: 101}\n", "users[0].room", 7,
                "unknown key");
  require_error(kBase + "max_users: 1\nmax_users: 2\n", "max_users", 7,
                "appears twice (first at line 6)");
}

TEST_CASE("missing required keys name the key and the line of their section", "[config]") {
  CleanEnv env;
  require_error("poll: {server: 1m}\n", "api", 0, "is required");
  require_error("", "api", 0, "is required");
  require_error("api:\n  username: u\n  password: p\n  application_id: a\n", "api.url", 1,
                "is required");
  require_error("api:\n  url: https://a/\n  password: p\n  application_id: a\n", "api.username", 1,
                "is required");
  require_error(kBase + "users:\n  - {enterprise: e, name: x}\n", "users[0].user_id", 7,
                "is required");
  require_error(kBase + "users:\n  - user_id: 5\n", "users[0].enterprise", 7, "is required");
}

TEST_CASE("values out of their domain are errors", "[config]") {
  CleanEnv env;
  const std::string api_tail = "  username: u\n  password: p\n  application_id: a\n";  // lines 3-5
  require_error("api:\n  url: ftp://a.example/\n" + api_tail, "api.url", 2, "http:// or https://");
  require_error("api:\n  url: api.example.com\n" + api_tail, "api.url", 2, "http:// or https://");
  require_error("api:\n  url: https://u:p@a.example/\n" + api_tail, "api.url", 2, "credentials");
  require_error("api:\n  url: https:///openapi\n" + api_tail, "api.url", 2, "host");
  require_error(kBase + "  max_requests_per_second: 0\n", "api.max_requests_per_second", 6,
                "more than 0");
  require_error(kBase + "  max_concurrent_requests: 0\n", "api.max_concurrent_requests", 6,
                "between 1 and");
  require_error(kBase + "  timeout: 0\n", "api.timeout", 6, "more than 0");
  require_error(kBase + "  auth_failure_backoff_max: 500ms\n", "api.auth_failure_backoff_max", 6,
                "at least 1s");
  require_error(kBase + "  auth_failure_backoff_max: 2d\n", "api.auth_failure_backoff_max", 6,
                "at most 24h");
  require_error(kBase + "  ca_file: missing.pem\n", "api.ca_file", 6, "cannot read");
  require_error(kBase + "  paths:\n    presence: /v1/users/{user_id}/presence\n",
                "api.paths.presence", 7, "no leading /");
  require_error(kBase + "  paths:\n    enterprise_call_logs: v1/calllogs\n",
                "api.paths.enterprise_call_logs", 7, "{enterprise}");
  require_error(kBase + "subscriptions:\n  resource_types: [CALL_LOG, SMS]\n",
                "subscriptions.resource_types[1]", 7, "\"SMS\" is not a resource type");
  require_error(kBase + "subscriptions:\n  resource_types:\n    - CALL_LOG\n    - CALL_LOG\n",
                "subscriptions.resource_types[1]", 9, "listed twice");
  require_error(kBase + "presence:\n  state_map:\n    AWAY: sleeping\n", "presence.state_map.AWAY",
                8, "not a canonical state");
  require_error(kBase + "presence:\n  state_map: {away: idle, AWAY: busy}\n",
                "presence.state_map.AWAY", 7, "twice");
  require_error(kBase + "webhook:\n  allowed_networks: [10.0.0.0/8, 10.0.0.0/33]\n",
                "webhook.allowed_networks[1]", 7, "\"10.0.0.0/33\" is not an IPv4/IPv6");
  require_error(kBase + "webhook:\n  trusted_proxies:\n    - proxy.local\n",
                "webhook.trusted_proxies[0]", 8, "CIDR");
  require_error(kBase + "webhook:\n  path: webhook\n", "webhook.path", 7, "start with /");
  require_error(kBase + "webhook:\n  listen_address: localhost\n", "webhook.listen_address", 7,
                "host:port");
  require_error(kBase + "webhook:\n  listen_address: :99999\n", "webhook.listen_address", 7);
  require_error(kBase + "webhook:\n  public_url: exporter.example.com/webhook\n",
                "webhook.public_url", 7, "http:// or https://");
  require_error(kBase + "subscriptions:\n  ttl: 2h\n  renew_before: 2h\n",
                "subscriptions.renew_before", 8, "shorter than subscriptions.ttl");
  require_error(kBase + "subscriptions:\n  ttl: 1h\n", "subscriptions.renew_before", 7,
                "shorter than subscriptions.ttl (2h >= 1h)");
  require_error(kBase + "subscriptions:\n  manage: true\n", "webhook.public_url", 7,
                "subscriptions.manage");
  require_error(kBase +
                    "webhook: {public_url: \"https://x/webhook\"}\nsubscriptions:\n"
                    "  manage: true\n",
                "webhook.token", 8, "VPBX_WEBHOOK_TOKEN");
  require_error(kBase + "max_users: 0\n", "max_users", 6, "between 1 and");
  // Without a token the webhook may still run when explicitly unauthenticated.
  CHECK(load_string(kBase + "webhook: {public_url: \"https://x/w\", allow_unauthenticated: true}\n"
                            "subscriptions: {manage: true}\n")
            .subscriptions.manage);
}

TEST_CASE("duplicate and surplus users are errors naming both places", "[config]") {
  CleanEnv env;
  require_error(kBase +
                    "users:\n"                           // 6
                    "  - {enterprise: e, user_id: 1}\n"  // 7
                    "  - {enterprise: e, user_id: 2}\n"  // 8
                    "  - enterprise: e\n"                // 9
                    "    user_id: 1\n",                  // 10
                "users[2].user_id", 10, "duplicate user_id 1 (also users[0] (line 7))");
  require_error(kBase +
                    "users:\n"
                    "  - {enterprise: e, user_id: 1, login: a@x}\n"
                    "  - {enterprise: e, user_id: 2, login: a@x}\n",
                "users[1].login", 8, "duplicate login \"a@x\"");
  require_error(kBase + "users:\n  - {enterprise: e, user_id: abc}\n", "users[0].user_id", 7,
                "expected an integer, got \"abc\"");
  require_error(kBase + "users:\n  - {enterprise: e, user_id: 0}\n", "users[0].user_id", 7);
  require_error(kBase + "users:\n  - [e, 1]\n", "users[0]", 7, "expected a map, got a list");
  require_error(kBase + "users:\n  - {enterprise: e, user_id: 176125}\nusers_file: users.csv\n",
                "users_file", 8, "users.csv line 2: duplicate user_id 176125 (also users[0]");
  require_error(kBase + "users_file: users_duplicate.csv\n", "users_file", 6,
                "users_duplicate.csv line 4: duplicate user_id 176125 (also " + kDataDir +
                    "/users_duplicate.csv line 2)");
  require_error(kBase + "users_file: users.csv\nmax_users: 3\n", "max_users", 7,
                "4 users are configured, more than max_users (3)");
  require_error(kBase +
                    "users:\n  - {enterprise: e, user_id: 1}\n  - {enterprise: e, user_id: 2}\n"
                    "max_users: 1\n",
                "max_users", 9, "more than max_users (1)");
}

TEST_CASE("users_file problems name users_file, the CSV file and its line", "[config][csv]") {
  CleanEnv env;
  require_error(kBase + "users_file: nowhere.csv\n", "users_file", 6,
                "cannot read " + kDataDir + "/nowhere.csv: No such file or directory");
  require_error(
      kBase + "users_file: users_bad_id.csv\n", "users_file", 6,
      kDataDir + "/users_bad_id.csv line 3: userIds \"17612x\" is not a positive integer");
  TempDir dir;
  dir.write("u.csv", "");
  const std::string what = error_of(kBase + "users_file: u.csv\n", dir.str());
  CHECK_THAT(what,
             Contains("users_file (line 6): " + dir.str() + "/u.csv line 1: the file is empty"));
}

TEST_CASE("a YAML syntax error is a ConfigError with the nearest key and the line", "[config]") {
  CleanEnv env;
  {
    const std::string what = error_of(kBase + "poll:\n  server: [10s\n  presence: 1m\n");
    INFO(what);
    CHECK_THAT(what, Catch::StartsWith("config: poll"));
    CHECK_THAT(what, Contains("(line ") && Contains("YAML syntax error"));
  }
  try {
    load_string(kBase + "webhook:\n  path: /w\n   listen_address: :1\n  bad\n");
    FAIL("no error");
  } catch (const ConfigError& e) {
    INFO(e.what());
    CHECK(e.line() >= 7);
    CHECK_THAT(e.key(), Catch::StartsWith("webhook"));
    CHECK_THAT(e.what(), Contains("YAML syntax error"));
  }
  try {
    load_string("api: {url: \"x\n");
    FAIL("no error");
  } catch (const ConfigError& e) {
    INFO(e.what());
    CHECK(e.line() >= 1);
    CHECK_THAT(e.what(), Contains("YAML syntax error"));
  }
}

TEST_CASE("an unreadable config file names the file", "[config]") {
  try {
    load_file(kDataDir + "/does-not-exist.yml");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(e.key().empty());
    CHECK(std::string(e.what()) == "config: cannot read the config file " + kDataDir +
                                       "/does-not-exist.yml: No such file or directory");
  }
}

TEST_CASE("the error format is config: key (line N): problem", "[config]") {
  CHECK(std::string(ConfigError("api.timeout", 4, "bad").what()) ==
        "config: api.timeout (line 4): bad");
  CHECK(std::string(ConfigError("api", 0, "is required").what()) == "config: api: is required");
  CHECK(std::string(ConfigError("", 3, "syntax").what()) == "config: line 3: syntax");
  CHECK(std::string(ConfigError("", 0, "cannot read x").what()) == "config: cannot read x");
}

// ---------------------------------------------------------------- durations

TEST_CASE("durations use Prometheus' spelling", "[duration]") {
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration("0s") == 0ms);
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("30s") == 30s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("24h") == 24h);
  CHECK(parse_duration("1h30m") == 90min);
  CHECK(parse_duration("90m") == 90min);
  CHECK(parse_duration("1d") == 24h);
  CHECK(parse_duration("2w") == 14 * 24h);
  CHECK(parse_duration("1y") == 365 * 24h);
  CHECK(parse_duration("1y2w3d4h5m6s7ms") == 365 * 24h + 14 * 24h + 3 * 24h + 4h + 5min + 6s + 7ms);
  CHECK(parse_duration("007s") == 7s);
}

TEST_CASE("profiles (vpbxctl checkout's) load upper-cased, their mistakes name key and line",
          "[config]") {
  CleanEnv env;
  const Config c = load_string(kBase +
                               "profiles:\n"
                               "  default:\n"
                               "    inactive: [central_dnd, \"CALL_FORWARD_*\"]\n"
                               "    active: [CALL_WAITING]\n"
                               "    clear_destinations: [CALL_FORWARD_UNCONDITIONAL]\n"
                               "  late-checkout: { inactive: [CENTRAL_DND] }\n");
  REQUIRE(c.profiles.size() == 2);
  const FeatureProfile& p = c.profiles.at("default");
  CHECK(p.inactive == std::vector<std::string>{"CENTRAL_DND", "CALL_FORWARD_*"});
  CHECK(p.active == std::vector<std::string>{"CALL_WAITING"});
  CHECK(p.clear_destinations == std::vector<std::string>{"CALL_FORWARD_UNCONDITIONAL"});
  CHECK(load_string(kBase).profiles.empty());

  require_error(kBase + "profiles:\n  default:\n    inactiv: [CENTRAL_DND]\n",
                "profiles.default.inactiv", 8, "unknown key");
  require_error(kBase + "profiles:\n  default:\n    inactive: [CENTRAL DND]\n",
                "profiles.default.inactive[0]", 8, "is not a feature name");
  require_error(kBase + "profiles:\n  default:\n    inactive: [\"*\"]\n",
                "profiles.default.inactive[0]", 8, "is not a feature name");
  require_error(kBase +
                    "profiles:\n  default:\n    inactive: [CENTRAL_DND]\n"
                    "    active: [central_dnd]\n",
                "profiles.default.active", 9, "both active and inactive");
  require_error(kBase + "profiles:\n  room 101: {}\n", "profiles.room 101", 7, "letters, digits");
  require_error(kBase + "profiles: [CENTRAL_DND]\n", "profiles", 6, "expected a map");
}

TEST_CASE("bad durations throw invalid_argument quoting the text", "[duration]") {
  for (const char* bad : {"",
                          "10",
                          "10 parsecs",
                          "5x",
                          "1m1h",
                          "1h1h",
                          "-5s",
                          "+5s",
                          "1.5h",
                          "s",
                          "ms",
                          "h1",
                          "1h 30m",
                          " 1h",
                          "1h ",
                          "1S",
                          "1ms1s",
                          "1mss",
                          "99999999999999999999s",
                          "9223372036854775807y"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_duration(bad), std::invalid_argument);
  }
  CHECK_THROWS_WITH(parse_duration("10 parsecs"), Contains("\"10 parsecs\" is not a duration"));
}

TEST_CASE("durations print in their shortest form and read back", "[duration]") {
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(30s) == "30s");
  CHECK(format_duration(90min) == "1h30m");
  CHECK(format_duration(24h) == "1d");
  CHECK(format_duration(7 * 24h) == "1w");
  CHECK(format_duration(365 * 24h) == "1y");
  CHECK(format_duration(1001ms) == "1s1ms");
  for (const char* text : {"0s", "1ms", "59s", "1m1s", "1h30m", "2d12h", "1y1w1d1h1m1s1ms"}) {
    CHECK(format_duration(parse_duration(text)) == text);
  }
}

// ---------------------------------------------------------------- users CSV

TEST_CASE("the seed's CSV rows load verbatim", "[csv]") {
  const auto users = parse_users_csv(
      "enterpriseNames,userIds,loginNames,phone_num\n"
      "291908.bus.ent,176125,+41225662194@m.ipvoip.ch,+41225662194\n"
      "291908.bus.ent,176129,+41225662195@m.ipvoip.ch,+41225662195\n"
      "291908.bus.ent,176133,+41225662196@m.ipvoip.ch,+41225662196\n"
      "291908.bus.ent,176137,+41225662197@m.ipvoip.ch,+41225662197\n");
  REQUIRE(users.size() == 4);
  CHECK(users[0].line == 2);
  CHECK(users[0].user.enterprise == "291908.bus.ent");
  CHECK(users[0].user.user_id == 176125);
  CHECK(users[0].user.login == "+41225662194@m.ipvoip.ch");
  CHECK(users[0].user.number == "+41225662194");
  CHECK(users[0].user.name.empty());
  CHECK(users[0].user.label() == "+41225662194");
  CHECK(users[3].user.user_id == 176137);
  CHECK(users[3].line == 5);
}

TEST_CASE("the CSV tolerates a BOM, CRLF, spaces, quotes, empty lines and a name", "[csv]") {
  CleanEnv env;
  const Config c = load_string(kBase + "users_file: users_excel.csv\n", kDataDir);
  REQUIRE(c.users.size() == 3);
  CHECK(c.users[0].enterprise == "291908.bus.ent");
  CHECK(c.users[0].user_id == 176125);
  CHECK(c.users[0].name == "Room 101, sea view");
  CHECK(c.users[0].label() == "Room 101, sea view");
  CHECK(c.users[1].enterprise == "291908.bus.ent");
  CHECK(c.users[1].login == "+41225662195@m.ipvoip.ch");
  CHECK(c.users[1].name == "The \"Blue\" Room");
  CHECK(c.users[2].login.empty());
  CHECK(c.users[2].name.empty());
  CHECK(c.users[2].label() == "+41225662196");

  // Columns in another order and case; a quoted field across lines; a final row without newline.
  const auto users = parse_users_csv(
      "\n  NAME,phone_num,loginNames,userIds,enterpriseNames\r\n"
      "\"two\nlines\",+1,a@x,7,e\n"
      "  ,  ,  ,8,e");
  REQUIRE(users.size() == 2);
  CHECK(users[0].line == 3);
  CHECK(users[0].user.name == "two\nlines");
  CHECK(users[0].user.user_id == 7);
  CHECK(users[1].line == 5);
  CHECK(users[1].user.user_id == 8);
  CHECK(users[1].user.label() == "8");
  CHECK(parse_users_csv("enterpriseNames,userIds,loginNames,phone_num\n").empty());
}

TEST_CASE("bad CSV rows name their line", "[csv]") {
  const std::string header = "enterpriseNames,userIds,loginNames,phone_num\n";
  const auto line_of = [](const std::string& text, const std::string& part) {
    try {
      parse_users_csv(text);
    } catch (const CsvError& e) {
      INFO(e.what());
      CHECK_THAT(e.problem(), Contains(part));
      CHECK_THAT(e.what(), Catch::StartsWith("line " + std::to_string(e.line()) + ": "));
      return e.line();
    }
    FAIL("no CsvError for " << text);
    return 0;
  };
  CHECK(line_of(header + "e,1,a,1\ne,x,a,1\n", "userIds \"x\" is not a positive integer") == 3);
  CHECK(line_of(header + "e,-4,a,1\n", "not a positive integer") == 2);
  CHECK(line_of(header + "e,1,a\n", "expected 4 fields as in the header, got 3") == 2);
  CHECK(line_of(header + "\n\ne,1,a,1,extra\n", "expected 4 fields") == 4);
  CHECK(line_of(header + ",1,a,1\n", "enterpriseNames is empty") == 2);
  CHECK(line_of(header + "e,1,\"a,1\n", "unterminated quoted field") == 2);
  CHECK(line_of(header + "e,1,\"a\"b,1\n", "after a quoted field") == 2);
  CHECK(line_of(header + "e,1,a\"b,1\n", "quote inside an unquoted field") == 2);
  CHECK(line_of("\n\nenterpriseNames,userIds,loginNames\n", "missing column phone_num") == 3);
  CHECK(line_of("enterpriseNames,userIds,loginNames,phone_num,room\n", "unknown column \"room\"") ==
        1);
  CHECK(line_of("enterpriseNames,userIds,userIds,loginNames,phone_num\n", "appears twice") == 1);
  CHECK(line_of("", "the file is empty") == 1);
  CHECK(line_of("\xEF\xBB\xBF\r\n", "the file is empty") == 1);
}
