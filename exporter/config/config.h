#pragma once
// The exporter's configuration (the YAML file of DESIGN.md), loaded and validated in one place.
// Everything here is plain data: components copy what they need at (re)start.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vpbx::config {

using Duration = std::chrono::milliseconds;

// A bad config: the message names the key path (e.g. "api.timeout") and, when known, the line.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, int line, const std::string& problem);
  const std::string& key() const { return key_; }
  int line() const { return line_; }  // 1-based; 0 when unknown
  const std::string& problem() const { return problem_; }

 private:
  std::string key_;
  int line_;
  std::string problem_;
};

struct ApiPaths {
  std::string presence = "v1/users/{user_id}/presence";
  std::string user_call_logs = "v1/users/{user_id}/calllogs";
  std::string enterprise_call_logs = "v1/enterprises/{enterprise}/calllogs";
};

struct ApiConfig {
  std::string url;  // always ends with '/'
  std::string username;
  std::string password;  // secret: from password_file, password, or VPBX_API_PASSWORD
  // Secret: from application_id_file, application_id, or VPBX_APPLICATION_ID.
  std::string application_id;
  Duration timeout{std::chrono::seconds(10)};
  Duration connect_timeout{std::chrono::seconds(5)};
  double max_requests_per_second = 10;
  int max_concurrent_requests = 4;
  int max_retries = 3;
  // After a 401/403, the first wait before a probe request (not a config key: the floor of a
  // poll interval; tests shorten it), doubling up to api.auth_failure_backoff_max.
  Duration auth_failure_backoff{std::chrono::seconds(10)};
  Duration auth_failure_backoff_max{std::chrono::minutes(5)};
  std::string ca_file;                // empty: the system's CA store
  bool insecure_skip_verify = false;  // explicit opt-in only
  ApiPaths paths;
};

struct User {
  std::string enterprise;
  std::int64_t user_id = 0;
  std::string login;
  std::string number;
  std::string name;
  // The `user` label: name, else number, else login, else the id.
  std::string label() const;
};

// A zero interval switches the collector off.
struct PollConfig {
  Duration server{std::chrono::seconds(60)};
  Duration presence{std::chrono::seconds(60)};
  Duration features{std::chrono::minutes(5)};
  Duration call_logs{std::chrono::minutes(5)};
  Duration fallback{std::chrono::seconds(60)};  // used while push is unhealthy
};

struct PresenceConfig {
  // Extra raw state -> canonical state (idle|busy|ringing|offline|unknown), matched
  // case-insensitively. Keys are stored upper-cased (the API's spelling, e.g. "AWAY"), values
  // lower-cased.
  std::map<std::string, std::string> state_map;
};

struct FeaturesConfig {
  std::vector<std::string> include;  // upper-cased; empty: every feature the platform returns
  bool expose_destinations = false;
};

struct CallLogsConfig {
  Duration backfill{0};  // how far back the first poll counts
  // Re-read window behind the cursor. Call logs are filtered by callStart but appear when the call
  // ends, so a call longer than the overlap is seen by push only.
  Duration overlap{std::chrono::hours(1)};
  int page_size = 100;
  std::map<int, bool> answered_status;  // explicit status code -> answered
};

struct WebhookConfig {
  std::string path = "/webhook";
  std::string token;           // secret: from token_file, token, or VPBX_WEBHOOK_TOKEN
  std::string listen_address;  // empty: the main listener
  std::string public_url;
  std::vector<std::string> allowed_networks;
  std::vector<std::string> trusted_proxies;
  std::size_t max_body_bytes = 1048576;
  bool allow_unauthenticated = false;

  // The receiver is served only when it can check a token, or when told not to.
  bool enabled() const { return !token.empty() || allow_unauthenticated; }
};

// The notificationUrl to register: public_url with "{token}" replaced by the token, or, without
// that placeholder, public_url + "/" + token (public_url alone when there is no token).
std::string notification_url(const WebhookConfig& webhook);

struct SubscriptionsConfig {
  bool manage = false;  // requires webhook.public_url and an enabled webhook
  std::vector<std::string> resource_types{"CALL_LOG", "FEATURE", "PRESENCE"};  // upper-cased
  Duration ttl{std::chrono::hours(24)};
  Duration renew_before{std::chrono::hours(2)};
  bool keep_on_shutdown = false;
};

// The feature states `vpbxctl checkout` puts a user back to (config key profiles.<name>); the
// exporter reads and checks them but does not use them. Entries are featNames, upper-cased; a
// trailing * matches every name with that prefix (CALL_FORWARD_*).
struct FeatureProfile {
  std::vector<std::string> inactive;
  std::vector<std::string> active;
  std::vector<std::string> clear_destinations;  // destinationUri emptied (call forwards)
};

// Scale-out: this replica counts only the users whose shard_of() is `index` (see
// docs/scale-out.md). One shard (the default) is everyone.
struct ShardConfig {
  int index = 0;
  int count = 1;
  // Resharding: the state files of the previous layout's replicas, read once when this replica's
  // own state_file does not exist yet (docs/scale-out.md). Resolved like every *_file.
  std::vector<std::string> import_state_files;
  bool owns(std::int64_t user_id) const;
};

// FNV-1a 64 of the user id in decimal: the same on every machine, version and restart (unlike
// std::hash), so every replica agrees on who counts a user.
std::uint64_t shard_hash(std::int64_t user_id);
int shard_of(std::int64_t user_id, int count);

// One OpenAPI login and what it polls (docs/configuration.md, "Many accounts"). A file without
// `accounts:` is one implicit account with an empty name: its series carry no `account` label.
struct Config {
  // This account's name ("" for the implicit one); the `account` label of its series.
  std::string account;
  ApiConfig api;
  std::vector<User> users;  // the inline list and users_file, merged, no duplicates
  std::string users_file;   // resolved against the config's folder, like every *_file
  std::vector<std::string> enterprises;
  bool discover_users = true;
  std::size_t max_users = 10000;
  PollConfig poll;
  PresenceConfig presence;
  FeaturesConfig features;
  CallLogsConfig call_logs;
  WebhookConfig webhook;
  SubscriptionsConfig subscriptions;
  std::string state_file;  // empty: nothing survives a restart
  // By name; vpbxctl checkout uses "default" unless told otherwise.
  std::map<std::string, FeatureProfile> profiles;
  ShardConfig shard;
  // With `accounts:` in the file: one complete config per account, in file order, each with its
  // own api, users, enterprises, subscriptions, webhook token (webhook.path is
  // "{webhook.path}/{name}") and state_file; the rest is the file's. The fields above then
  // hold the shared settings only (no api, no users).
  std::vector<Config> accounts;
};

// The accounts to run: `accounts`, or the config itself as the one implicit account.
std::vector<Config> account_configs(const Config& config);
// Letters, digits, _ and -, starting with a letter or digit, at most 64: it is a label value, a
// URL path segment, a file name suffix and part of an environment variable's name.
bool valid_account_name(std::string_view name);

// Loads, resolves secrets and files relative to the config's folder, validates. Throws ConfigError.
Config load_file(const std::string& path);
// Same from text; `base_dir` resolves relative *_file paths. Throws ConfigError.
Config load_string(const std::string& yaml_text, const std::string& base_dir = ".");

// The flags --shard.index and --shard.count, over the file's shard (each when given). Throws
// ConfigError when the index is not below the count.
void override_shard(Config& config, std::optional<int> index, std::optional<int> count);

// "250ms", "30s", "5m", "24h", "1h30m", "0" (Prometheus' duration spelling). Throws
// std::invalid_argument.
Duration parse_duration(const std::string& text);
std::string format_duration(Duration d);

}  // namespace vpbx::config
