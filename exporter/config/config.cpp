// Loading and validation of the YAML config. Every problem becomes one ConfigError naming the key
// path and the line; secrets (password, application id, webhook token) never enter a message.

#include "exporter/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <span>
#include <string_view>

#include "exporter/config/network.h"
#include "exporter/config/users_csv.h"
#include "exporter/log/log.h"

namespace vpbx::config {
namespace {

std::string format_message(const std::string& key, int line, const std::string& problem) {
  std::string out = "config: ";
  if (!key.empty()) out += key;
  if (line > 0) {
    out += key.empty() ? "line " + std::to_string(line) : " (line " + std::to_string(line) + ")";
  }
  if (!key.empty() || line > 0) out += ": ";
  return out + problem;
}

// The keys of each section; anything else is a typo and an error.
constexpr std::string_view kRootKeys[] = {
    "api",       "users",         "users_file", "enterprises", "discover_users",
    "max_users", "poll",          "presence",   "features",    "call_logs",
    "webhook",   "subscriptions", "state_file", "profiles"};
constexpr std::string_view kApiKeys[] = {"url",
                                         "username",
                                         "password",
                                         "password_file",
                                         "application_id",
                                         "application_id_file",
                                         "timeout",
                                         "connect_timeout",
                                         "max_requests_per_second",
                                         "max_concurrent_requests",
                                         "max_retries",
                                         "auth_failure_backoff_max",
                                         "ca_file",
                                         "insecure_skip_verify",
                                         "paths"};
constexpr std::string_view kPathKeys[] = {"presence", "user_call_logs", "enterprise_call_logs"};
constexpr std::string_view kUserKeys[] = {"enterprise", "user_id", "login", "number", "name"};
constexpr std::string_view kPollKeys[] = {"server", "presence", "features", "call_logs",
                                          "fallback"};
constexpr std::string_view kPresenceKeys[] = {"state_map"};
constexpr std::string_view kFeaturesKeys[] = {"include", "expose_destinations"};
constexpr std::string_view kCallLogsKeys[] = {"backfill", "overlap", "page_size",
                                              "answered_status"};
constexpr std::string_view kWebhookKeys[] = {"path",
                                             "token",
                                             "token_file",
                                             "listen_address",
                                             "public_url",
                                             "allowed_networks",
                                             "trusted_proxies",
                                             "max_body_bytes",
                                             "allow_unauthenticated"};
constexpr std::string_view kSubscriptionsKeys[] = {"manage", "resource_types", "ttl",
                                                   "renew_before", "keep_on_shutdown"};
constexpr std::string_view kProfileKeys[] = {"inactive", "active", "clear_destinations"};
constexpr std::string_view kCanonicalStates[] = {"idle", "busy", "ringing", "offline", "unknown"};
constexpr std::string_view kResourceTypes[] = {"CALL_LOG", "FEATURE", "PRESENCE"};

bool contains(std::span<const std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int line_of(const YAML::Node& node) {
  const auto mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

std::string kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "nothing";
  }
}

// For echoing non-secret values; long ones are cut so a message stays one readable line.
std::string quote(std::string_view value) {
  constexpr std::size_t kMax = 60;
  if (value.size() > kMax) return "\"" + std::string(value.substr(0, kMax)) + "...\"";
  return "\"" + std::string(value) + "\"";
}

// yaml-cpp appends document text to some messages (anchor names, escapes): keep the part before.
std::string safe_yaml_message(const std::string& msg) {
  return msg.substr(0, msg.find(':'));
}

// One key's value, with the key path and the line of the key (1-based).
struct Value {
  std::string path;
  YAML::Node node;
  int line = 0;
};

[[noreturn]] void fail(const Value& v, const std::string& problem) {
  throw ConfigError(v.path, v.line, problem);
}

// A map of known keys. Unknown and repeated keys are rejected on construction, before any
// value is read, so that a typo is reported as a typo.
class Section {
 public:
  Section(const YAML::Node& node, std::string path, int line,
          std::span<const std::string_view> known)
      : path_(std::move(path)), line_(line) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
      throw ConfigError(path_, line_ ? line_ : line_of(node),
                        "expected a map, got " + kind_of(node));
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        throw ConfigError(path_, line_of(key), "expected a map with plain names as keys");
      }
      const std::string name = key.Scalar();
      if (!contains(known, name)) throw ConfigError(child(name), line_of(key), "unknown key");
      for (const auto& e : entries_) {
        if (e.first == name) {
          throw ConfigError(child(name), line_of(key),
                            "appears twice (first at line " + std::to_string(e.second.line) + ")");
        }
      }
      entries_.emplace_back(name, Value{child(name), it->second, line_of(key)});
    }
  }

  // nullopt when absent or empty (`key:` or `key: ~`): the default applies.
  std::optional<Value> get(std::string_view name) const {
    for (const auto& e : entries_) {
      if (e.first == name) {
        if (e.second.node.IsNull()) return std::nullopt;
        return e.second;
      }
    }
    return std::nullopt;
  }

  std::string child(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }
  int line() const { return line_; }

 private:
  std::string path_;
  int line_;
  std::vector<std::pair<std::string, Value>> entries_;
};

std::string as_string(const Value& v) {
  if (!v.node.IsScalar()) fail(v, "expected a string, got " + kind_of(v.node));
  return v.node.Scalar();
}

std::string as_nonempty_string(const Value& v) {
  std::string s = as_string(v);
  if (s.empty()) fail(v, "must not be empty");
  return s;
}

std::int64_t as_int(const Value& v, std::int64_t lo, std::int64_t hi) {
  if (!v.node.IsScalar()) fail(v, "expected an integer, got " + kind_of(v.node));
  const std::string& s = v.node.Scalar();
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    fail(v, "expected an integer, got " + quote(s));
  }
  if (n < lo || n > hi) {
    fail(v, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                std::to_string(n));
  }
  return n;
}

double as_number(const Value& v) {
  if (!v.node.IsScalar()) fail(v, "expected a number, got " + kind_of(v.node));
  const std::string& s = v.node.Scalar();
  double d = 0;
  // from_chars: no locale, no hex, no "inf".
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) {
    fail(v, "expected a number, got " + quote(s));
  }
  return d;
}

bool as_bool(const Value& v) {
  if (v.node.IsScalar()) {
    const std::string s = lower(v.node.Scalar());
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail(v, "expected true or false, got " + quote(v.node.Scalar()));
  }
  fail(v, "expected true or false, got " + kind_of(v.node));
}

Duration as_duration(const Value& v) {
  if (!v.node.IsScalar()) fail(v, "expected a duration such as 30s or 5m, got " + kind_of(v.node));
  try {
    return parse_duration(v.node.Scalar());
  } catch (const std::invalid_argument& e) {
    fail(v, e.what());
  }
}

std::vector<Value> elements(const Value& v) {
  if (!v.node.IsSequence()) fail(v, "expected a list, got " + kind_of(v.node));
  std::vector<Value> out;
  for (std::size_t i = 0; i < v.node.size(); ++i) {
    const YAML::Node e = v.node[i];
    const int line = line_of(e);
    out.push_back(Value{v.path + "[" + std::to_string(i) + "]", e, line ? line : v.line});
  }
  return out;
}

// Non-empty, distinct strings; `normalise` may rewrite each (e.g. upper-case) before the check.
std::vector<std::string> as_string_list(const Value& v,
                                        std::string (*normalise)(std::string) = nullptr) {
  std::vector<std::string> out;
  for (const Value& e : elements(v)) {
    std::string s = as_nonempty_string(e);
    if (normalise) s = normalise(s);
    if (std::find(out.begin(), out.end(), s) != out.end()) fail(e, quote(s) + " is listed twice");
    out.push_back(std::move(s));
  }
  return out;
}

// Reads a key when present; `read` turns the Value into the field.
template <typename Read>
void with(const Section& s, std::string_view name, Read read) {
  if (auto v = s.get(name)) read(*v);
}

std::string resolve(const std::string& base_dir, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute() || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

// The whole file, or nullopt with `error` set to the reason.
std::optional<std::string> read_text(const std::string& path, std::string& error) {
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::string out;
  char buf[8192];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int saved = errno;
  std::fclose(f);
  if (failed) {
    error = std::strerror(saved ? saved : EIO);
    return std::nullopt;
  }
  return out;
}

struct Secret {
  std::string value;
  std::string key;  // where it came from: a key path or the environment variable
  int line = 0;
};

// A secret from `<name>_file`, `<name>`, or the environment, in that order. Messages here name
// keys and files' problems but never the value, nor a secret file's path (which is sometimes
// the secret itself, pasted into the wrong key).
std::optional<Secret> load_secret(const Section& s, std::string_view name, const char* env,
                                  const std::string& base_dir) {
  const std::string file_key = std::string(name) + "_file";
  const auto file = s.get(file_key);
  const auto inline_value = s.get(name);
  if (file && inline_value) {
    fail(*inline_value, "set either " + s.child(file_key) + " or " + s.child(name) + ", not both");
  }
  Secret secret;
  if (file) {
    const std::string path = resolve(base_dir, as_nonempty_string(*file));
    std::string error;
    auto text = read_text(path, error);
    if (!text) fail(*file, "cannot read the file: " + error);
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
    if (text->empty()) fail(*file, "the file is empty");
    if (text->find_first_of("\r\n") != std::string::npos)
      fail(*file, "the file holds more than one line");
    secret = Secret{std::move(*text), file->path, file->line};
  } else if (inline_value) {
    if (!inline_value->node.IsScalar())
      fail(*inline_value, "expected a string, got " + kind_of(inline_value->node));
    if (inline_value->node.Scalar().empty()) fail(*inline_value, "must not be empty");
    secret = Secret{inline_value->node.Scalar(), inline_value->path, inline_value->line};
  } else if (const char* from_env = std::getenv(env); from_env && *from_env) {
    secret = Secret{from_env, std::string("environment variable ") + env, 0};
  } else {
    return std::nullopt;
  }
  // It travels in HTTP headers or a URL: a control byte would corrupt the request.
  for (unsigned char c : secret.value) {
    if (c < 0x20 || c == 0x7f)
      throw ConfigError(secret.key, secret.line, "contains a control character");
  }
  return secret;
}

std::string secret_sources(const Section& s, std::string_view name, const char* env) {
  return "set " + s.child(std::string(name) + "_file") + ", " + s.child(name) +
         " or the environment variable " + env;
}

// http(s)://host[:port][/path]; the URL itself is never echoed as it may hold credentials.
std::string checked_url(const Value& v, bool trailing_slash) {
  std::string url = as_nonempty_string(v);
  const std::string low = lower(url);
  std::size_t scheme = 0;
  if (low.starts_with("https://")) {
    scheme = 8;
  } else if (low.starts_with("http://")) {
    scheme = 7;
  } else {
    fail(v, "must start with http:// or https://");
  }
  const std::size_t host_end = std::min(url.find('/', scheme), url.size());
  const std::string authority = url.substr(scheme, host_end - scheme);
  if (authority.empty() || authority.front() == ':') fail(v, "has no host name");
  if (authority.find('@') != std::string::npos) {
    fail(v, "must not hold credentials; give them in their own keys");
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) fail(v, "must not contain whitespace");
  if (url.find_first_of("?#") != std::string::npos) fail(v, "must not have a query or a fragment");
  if (trailing_slash && url.back() != '/') url += '/';
  return url;
}

std::string checked_api_path(const Value& v, std::string_view placeholder) {
  const std::string path = as_nonempty_string(v);
  if (path.front() == '/') fail(v, "must be relative to api.url (no leading /)");
  if (path.find(placeholder) == std::string::npos) {
    fail(v, "must contain the placeholder " + std::string(placeholder));
  }
  return path;
}

// "host:port", ":port" or "[v6]:port" (port 0 lets the system choose, as tests do).
void check_listen_address(const Value& v, const std::string& address) {
  const auto colon = address.rfind(':');
  const std::string port = colon == std::string::npos ? "" : address.substr(colon + 1);
  int n = -1;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || n < 0 || n > 65535) {
    fail(v, "expected host:port such as :9120 or 127.0.0.1:9120, got " + quote(address));
  }
}

// Who already holds an id or a login, to name both places of a duplicate.
struct UserIndex {
  std::map<std::int64_t, std::string> ids;
  std::map<std::string, std::string> logins;

  // The problem with `u`, or empty when it is new; records it when new.
  std::string add(const User& u, const std::string& where, bool* login_clash) {
    *login_clash = false;
    if (auto it = ids.find(u.user_id); it != ids.end()) {
      return "duplicate user_id " + std::to_string(u.user_id) + " (also " + it->second + ")";
    }
    if (!u.login.empty()) {
      if (auto it = logins.find(u.login); it != logins.end()) {
        *login_clash = true;
        return "duplicate login " + quote(u.login) + " (also " + it->second + ")";
      }
      logins.emplace(u.login, where);
    }
    ids.emplace(u.user_id, where);
    return {};
  }
};

void load_users(const Section& root, const std::string& base_dir, Config& c) {
  UserIndex index;
  int list_line = 0;
  if (auto users = root.get("users")) {
    list_line = users->line;
    for (const Value& e : elements(*users)) {
      Section s(e.node, e.path, e.line, kUserKeys);
      User u;
      const auto enterprise = s.get("enterprise");
      if (!enterprise) throw ConfigError(s.child("enterprise"), e.line, "is required");
      u.enterprise = as_nonempty_string(*enterprise);
      const auto id = s.get("user_id");
      if (!id) throw ConfigError(s.child("user_id"), e.line, "is required");
      u.user_id = as_int(*id, 1, std::numeric_limits<std::int64_t>::max());
      with(s, "login", [&](const Value& v) { u.login = as_string(v); });
      with(s, "number", [&](const Value& v) { u.number = as_string(v); });
      with(s, "name", [&](const Value& v) { u.name = as_string(v); });
      bool login_clash = false;
      const std::string problem =
          index.add(u, e.path + " (line " + std::to_string(e.line) + ")", &login_clash);
      if (!problem.empty()) {
        const auto key = s.get(login_clash ? "login" : "user_id");
        throw ConfigError(key->path, key->line, problem);
      }
      c.users.push_back(std::move(u));
    }
  }
  if (auto file = root.get("users_file")) {
    list_line = list_line ? list_line : file->line;
    c.users_file = resolve(base_dir, as_nonempty_string(*file));
    std::string error;
    const auto text = read_text(c.users_file, error);
    if (!text) fail(*file, "cannot read " + c.users_file + ": " + error);
    std::vector<CsvUser> rows;
    try {
      rows = parse_users_csv(*text);
    } catch (const CsvError& e) {
      fail(*file, c.users_file + " line " + std::to_string(e.line()) + ": " + e.problem());
    }
    for (auto& row : rows) {
      bool login_clash = false;
      const std::string where = c.users_file + " line " + std::to_string(row.line);
      const std::string problem = index.add(row.user, where, &login_clash);
      if (!problem.empty()) fail(*file, where + ": " + problem);
      c.users.push_back(std::move(row.user));
    }
  }
  with(root, "max_users", [&](const Value& v) {
    c.max_users = static_cast<std::size_t>(as_int(v, 1, 100000000));
    list_line = v.line;
  });
  if (c.users.size() > c.max_users) {
    throw ConfigError("max_users", list_line,
                      std::to_string(c.users.size()) +
                          " users are configured, more than max_users (" +
                          std::to_string(c.max_users) + ")");
  }
}

void load_api(const Section& root, const std::string& base_dir, ApiConfig& api) {
  const auto node = root.get("api");
  if (!node) throw ConfigError("api", 0, "is required (at least api.url and api.username)");
  Section s(node->node, "api", node->line, kApiKeys);

  const auto url = s.get("url");
  if (!url) throw ConfigError("api.url", s.line(), "is required");
  api.url = checked_url(*url, true);
  const auto username = s.get("username");
  if (!username) throw ConfigError("api.username", s.line(), "is required");
  api.username = as_nonempty_string(*username);

  auto password = load_secret(s, "password", "VPBX_API_PASSWORD", base_dir);
  if (!password) {
    throw ConfigError("api.password", s.line(),
                      "is required: " + secret_sources(s, "password", "VPBX_API_PASSWORD"));
  }
  api.password = std::move(password->value);
  auto app_id = load_secret(s, "application_id", "VPBX_APPLICATION_ID", base_dir);
  if (!app_id) {
    throw ConfigError("api.application_id", s.line(),
                      "is required: " + secret_sources(s, "application_id", "VPBX_APPLICATION_ID"));
  }
  api.application_id = std::move(app_id->value);

  with(s, "timeout", [&](const Value& v) {
    api.timeout = as_duration(v);
    if (api.timeout <= Duration{0}) fail(v, "must be more than 0");
  });
  with(s, "connect_timeout", [&](const Value& v) {
    api.connect_timeout = as_duration(v);
    if (api.connect_timeout <= Duration{0}) fail(v, "must be more than 0");
  });
  with(s, "max_requests_per_second", [&](const Value& v) {
    api.max_requests_per_second = as_number(v);
    if (api.max_requests_per_second <= 0) fail(v, "must be more than 0");
  });
  with(s, "max_concurrent_requests",
       [&](const Value& v) { api.max_concurrent_requests = static_cast<int>(as_int(v, 1, 1000)); });
  with(s, "max_retries",
       [&](const Value& v) { api.max_retries = static_cast<int>(as_int(v, 0, 100)); });
  with(s, "auth_failure_backoff_max", [&](const Value& v) {
    api.auth_failure_backoff_max = as_duration(v);
    if (api.auth_failure_backoff_max < std::chrono::seconds(1)) fail(v, "must be at least 1s");
    if (api.auth_failure_backoff_max > std::chrono::hours(24)) fail(v, "must be at most 24h");
  });
  with(s, "ca_file", [&](const Value& v) {
    api.ca_file = as_string(v);
    if (api.ca_file.empty()) return;  // the system's store
    api.ca_file = resolve(base_dir, api.ca_file);
    std::string error;
    if (!read_text(api.ca_file, error)) fail(v, "cannot read " + api.ca_file + ": " + error);
  });
  with(s, "insecure_skip_verify", [&](const Value& v) { api.insecure_skip_verify = as_bool(v); });
  with(s, "paths", [&](const Value& v) {
    Section p(v.node, v.path, v.line, kPathKeys);
    with(p, "presence",
         [&](const Value& x) { api.paths.presence = checked_api_path(x, "{user_id}"); });
    with(p, "user_call_logs",
         [&](const Value& x) { api.paths.user_call_logs = checked_api_path(x, "{user_id}"); });
    with(p, "enterprise_call_logs", [&](const Value& x) {
      api.paths.enterprise_call_logs = checked_api_path(x, "{enterprise}");
    });
  });
}

void load_poll(const Section& root, PollConfig& poll) {
  with(root, "poll", [&](const Value& v) {
    Section s(v.node, v.path, v.line, kPollKeys);
    with(s, "server", [&](const Value& x) { poll.server = as_duration(x); });
    with(s, "presence", [&](const Value& x) { poll.presence = as_duration(x); });
    with(s, "features", [&](const Value& x) { poll.features = as_duration(x); });
    with(s, "call_logs", [&](const Value& x) { poll.call_logs = as_duration(x); });
    with(s, "fallback", [&](const Value& x) { poll.fallback = as_duration(x); });
  });
}

void load_presence(const Section& root, PresenceConfig& presence) {
  with(root, "presence", [&](const Value& v) {
    Section s(v.node, v.path, v.line, kPresenceKeys);
    with(s, "state_map", [&](const Value& m) {
      if (!m.node.IsMap())
        fail(m, "expected a map of raw state to canonical state, got " + kind_of(m.node));
      for (auto it = m.node.begin(); it != m.node.end(); ++it) {
        if (!it->first.IsScalar() || it->first.Scalar().empty()) {
          throw ConfigError(m.path, line_of(it->first), "keys must be raw state names");
        }
        const std::string raw = upper(it->first.Scalar());
        const Value entry{m.path + "." + it->first.Scalar(), it->second, line_of(it->first)};
        const std::string state = lower(as_nonempty_string(entry));
        if (!contains(kCanonicalStates, state)) {
          fail(entry, quote(it->second.Scalar()) +
                          " is not a canonical state (idle, busy, ringing, offline, unknown)");
        }
        if (!presence.state_map.emplace(raw, state).second) {
          fail(entry, "appears twice (raw states match case-insensitively)");
        }
      }
    });
  });
}

void load_features(const Section& root, FeaturesConfig& features) {
  with(root, "features", [&](const Value& v) {
    Section s(v.node, v.path, v.line, kFeaturesKeys);
    with(s, "include", [&](const Value& x) { features.include = as_string_list(x, upper); });
    with(s, "expose_destinations",
         [&](const Value& x) { features.expose_destinations = as_bool(x); });
  });
}

void load_call_logs(const Section& root, CallLogsConfig& call_logs) {
  with(root, "call_logs", [&](const Value& v) {
    Section s(v.node, v.path, v.line, kCallLogsKeys);
    with(s, "backfill", [&](const Value& x) { call_logs.backfill = as_duration(x); });
    with(s, "overlap", [&](const Value& x) { call_logs.overlap = as_duration(x); });
    with(s, "page_size",
         [&](const Value& x) { call_logs.page_size = static_cast<int>(as_int(x, 1, 1000)); });
    with(s, "answered_status", [&](const Value& m) {
      if (!m.node.IsMap())
        fail(m, "expected a map of status code to true/false, got " + kind_of(m.node));
      for (auto it = m.node.begin(); it != m.node.end(); ++it) {
        const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
        const Value key{m.path + "." + name, it->first, line_of(it->first)};
        const int code = static_cast<int>(as_int(key, 0, 999999));
        const Value entry{key.path, it->second, key.line};
        if (!call_logs.answered_status.emplace(code, as_bool(entry)).second) {
          fail(entry, "appears twice");
        }
      }
    });
  });
}

void load_webhook(const Section& root, const std::string& base_dir, WebhookConfig& webhook) {
  const auto v = root.get("webhook");
  Section s(v ? v->node : YAML::Node(), "webhook", v ? v->line : 0, kWebhookKeys);
  with(s, "path", [&](const Value& x) {
    std::string path = as_nonempty_string(x);
    if (path.front() != '/') fail(x, "must start with /");
    if (path.find_first_of(" \t?#{}") != std::string::npos) {
      fail(x, "must be a plain URL path such as /webhook");
    }
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (path == "/") fail(x, "must name a path below /, such as /webhook");
    webhook.path = path;
  });
  if (auto token = load_secret(s, "token", "VPBX_WEBHOOK_TOKEN", base_dir)) {
    // It becomes a URL path segment: only unreserved characters survive every proxy unchanged.
    const bool url_safe = std::all_of(token->value.begin(), token->value.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
             c == '~';
    });
    if (!url_safe) {
      throw ConfigError(token->key, token->line,
                        "may only hold letters, digits and - . _ ~ (it is part of the URL)");
    }
    if (token->value.size() < 16) {
      log::warn("the webhook token is short; use at least 16 random characters",
                {{"key", token->key}});
    }
    webhook.token = std::move(token->value);
  }
  with(s, "listen_address", [&](const Value& x) {
    webhook.listen_address = as_string(x);
    if (!webhook.listen_address.empty()) check_listen_address(x, webhook.listen_address);
  });
  with(s, "public_url", [&](const Value& x) { webhook.public_url = checked_url(x, false); });
  const auto networks = [&](const Value& x) {
    std::vector<std::string> out = as_string_list(x);
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!parse_network(out[i])) {
        throw ConfigError(x.path + "[" + std::to_string(i) + "]",
                          line_of(x.node[i]) ? line_of(x.node[i]) : x.line,
                          quote(out[i]) + " is not an IPv4/IPv6 address or CIDR network");
      }
    }
    return out;
  };
  with(s, "allowed_networks", [&](const Value& x) { webhook.allowed_networks = networks(x); });
  with(s, "trusted_proxies", [&](const Value& x) { webhook.trusted_proxies = networks(x); });
  with(s, "max_body_bytes", [&](const Value& x) {
    webhook.max_body_bytes = static_cast<std::size_t>(as_int(x, 1, 1LL << 30));
  });
  with(s, "allow_unauthenticated", [&](const Value& x) {
    webhook.allow_unauthenticated = as_bool(x);
    if (webhook.allow_unauthenticated) {
      log::warn("the webhook accepts unauthenticated pushes (webhook.allow_unauthenticated)");
    }
  });
}

void load_subscriptions(const Section& root, const WebhookConfig& webhook,
                        SubscriptionsConfig& subs) {
  const auto v = root.get("subscriptions");
  Section s(v ? v->node : YAML::Node(), "subscriptions", v ? v->line : 0, kSubscriptionsKeys);
  with(s, "resource_types", [&](const Value& x) {
    subs.resource_types = as_string_list(x, upper);
    for (std::size_t i = 0; i < subs.resource_types.size(); ++i) {
      if (!contains(kResourceTypes, subs.resource_types[i])) {
        throw ConfigError(
            x.path + "[" + std::to_string(i) + "]",
            line_of(x.node[i]) ? line_of(x.node[i]) : x.line,
            quote(x.node[i].Scalar()) + " is not a resource type (CALL_LOG, FEATURE, PRESENCE)");
      }
    }
  });
  int ttl_line = s.line();
  with(s, "ttl", [&](const Value& x) {
    subs.ttl = as_duration(x);
    ttl_line = x.line;
    if (subs.ttl <= Duration{0}) fail(x, "must be more than 0");
  });
  Value renew{"subscriptions.renew_before", {}, ttl_line};
  with(s, "renew_before", [&](const Value& x) {
    subs.renew_before = as_duration(x);
    renew = x;
  });
  if (subs.renew_before >= subs.ttl) {
    fail(renew, "must be shorter than subscriptions.ttl (" + format_duration(subs.renew_before) +
                    " >= " + format_duration(subs.ttl) + ")");
  }
  with(s, "keep_on_shutdown", [&](const Value& x) { subs.keep_on_shutdown = as_bool(x); });
  with(s, "manage", [&](const Value& x) {
    subs.manage = as_bool(x);
    if (!subs.manage) return;
    if (webhook.public_url.empty()) {
      throw ConfigError("webhook.public_url", x.line,
                        "is required when subscriptions.manage is true (the notificationUrl)");
    }
    if (!webhook.enabled()) {
      throw ConfigError("webhook.token", x.line,
                        "is required when subscriptions.manage is true: set webhook.token_file, "
                        "webhook.token or the environment variable VPBX_WEBHOOK_TOKEN");
    }
  });
}

// A featName (letters, digits, _) with an optional trailing * that matches a prefix.
bool is_feature_pattern(std::string_view name) {
  if (name.ends_with('*')) name.remove_suffix(1);
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isupper(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

void load_profiles(const Section& root, std::map<std::string, FeatureProfile>& profiles) {
  with(root, "profiles", [&](const Value& v) {
    if (!v.node.IsMap())
      fail(v, "expected a map of profile name to profile, got " + kind_of(v.node));
    for (auto it = v.node.begin(); it != v.node.end(); ++it) {
      const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
      const Value entry{v.path + "." + name, it->second, line_of(it->first)};
      const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
      });
      if (!plain) fail(entry, "a profile name holds letters, digits, - and _ only");
      if (profiles.contains(name)) fail(entry, "appears twice");
      Section s(entry.node, entry.path, entry.line, kProfileKeys);
      FeatureProfile profile;
      const auto names = [](const Value& x) {
        std::vector<std::string> out = as_string_list(x, upper);
        for (std::size_t i = 0; i < out.size(); ++i) {
          if (!is_feature_pattern(out[i])) {
            throw ConfigError(
                x.path + "[" + std::to_string(i) + "]",
                line_of(x.node[i]) ? line_of(x.node[i]) : x.line,
                quote(out[i]) + " is not a feature name such as CENTRAL_DND or CALL_FORWARD_*");
          }
        }
        return out;
      };
      with(s, "inactive", [&](const Value& x) { profile.inactive = names(x); });
      with(s, "clear_destinations", [&](const Value& x) { profile.clear_destinations = names(x); });
      with(s, "active", [&](const Value& x) {
        profile.active = names(x);
        for (const auto& feature : profile.active) {
          if (std::find(profile.inactive.begin(), profile.inactive.end(), feature) !=
              profile.inactive.end()) {
            fail(x, quote(feature) + " is listed in both active and inactive");
          }
        }
      });
      profiles.emplace(name, std::move(profile));
    }
  });
}

Config build(const YAML::Node& doc, const std::string& base_dir) {
  if (doc.IsDefined() && !doc.IsNull() && !doc.IsMap()) {
    throw ConfigError("", line_of(doc), "the file must be a map of keys (api, users, poll, ...)");
  }
  const Section root(doc, "", 0, kRootKeys);
  Config c;
  load_api(root, base_dir, c.api);
  if (c.api.insecure_skip_verify) {
    log::warn("TLS certificates of the API are not verified (api.insecure_skip_verify)");
  }
  load_users(root, base_dir, c);
  with(root, "enterprises", [&](const Value& v) { c.enterprises = as_string_list(v); });
  with(root, "discover_users", [&](const Value& v) { c.discover_users = as_bool(v); });
  load_poll(root, c.poll);
  if (c.poll.presence > Duration{0} && c.poll.presence < std::chrono::seconds(10)) {
    log::warn("polling presence more often than every 10s loads the platform; prefer push",
              {{"interval", format_duration(c.poll.presence)}});
  }
  load_presence(root, c.presence);
  load_features(root, c.features);
  load_call_logs(root, c.call_logs);
  load_webhook(root, base_dir, c.webhook);
  load_subscriptions(root, c.webhook, c.subscriptions);
  with(root, "state_file", [&](const Value& v) {
    c.state_file = as_string(v);
    if (!c.state_file.empty()) c.state_file = resolve(base_dir, c.state_file);
  });
  load_profiles(root, c.profiles);
  return c;
}

// For a syntax error there is no node: walk the text's indentation up to the error line and
// name the innermost enclosing key. Only known key names are reported, so a value that YAML
// misread as a key (a pasted password, say) never reaches the message.
std::string nearest_key(const std::string& text, int error_line) {
  static const std::set<std::string_view> known = [] {
    std::set<std::string_view> all;
    for (auto list :
         {std::span<const std::string_view>(kRootKeys), std::span<const std::string_view>(kApiKeys),
          std::span<const std::string_view>(kPathKeys),
          std::span<const std::string_view>(kUserKeys),
          std::span<const std::string_view>(kPollKeys),
          std::span<const std::string_view>(kPresenceKeys),
          std::span<const std::string_view>(kFeaturesKeys),
          std::span<const std::string_view>(kCallLogsKeys),
          std::span<const std::string_view>(kWebhookKeys),
          std::span<const std::string_view>(kSubscriptionsKeys),
          std::span<const std::string_view>(kProfileKeys)}) {
      all.insert(list.begin(), list.end());
    }
    return all;
  }();
  struct Key {
    std::size_t indent;
    std::string name;
    bool leaf;  // has its value on its own line, so nothing nests below it
  };
  std::vector<Key> stack;
  std::size_t start = 0;
  for (int line = 0; line <= error_line && start <= text.size(); ++line) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view l(text.data() + start, end - start);
    start = end + 1;
    std::size_t pos = 0;
    while (pos < l.size() &&
           (l[pos] == ' ' || (l[pos] == '-' && pos + 1 < l.size() && l[pos + 1] == ' ')))
      ++pos;
    std::size_t name_end = pos;
    while (name_end < l.size() &&
           (std::isalnum(static_cast<unsigned char>(l[name_end])) || l[name_end] == '_')) {
      ++name_end;
    }
    if (name_end == pos || name_end >= l.size() || l[name_end] != ':') continue;
    if (name_end + 1 < l.size() && l[name_end + 1] != ' ' && l[name_end + 1] != '\r') continue;
    while (!stack.empty() && (stack.back().leaf || stack.back().indent >= pos)) stack.pop_back();
    std::size_t value = name_end + 1;
    while (value < l.size() && (l[value] == ' ' || l[value] == '\r')) ++value;
    const bool leaf = value < l.size() && l[value] != '#';
    stack.push_back(Key{pos, std::string(l.substr(pos, name_end - pos)), leaf});
  }
  std::string path;
  for (const Key& key : stack) {
    if (!known.contains(key.name)) break;
    path += path.empty() ? key.name : "." + key.name;
  }
  return path;
}

// Every value a secret could have, from wherever it may come; never throws.
std::vector<std::string> secret_candidates(const YAML::Node& doc, const std::string& base_dir) {
  std::vector<std::string> out;
  const auto add = [&](std::string value) {
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (!value.empty()) out.push_back(std::move(value));
  };
  const std::pair<const char*, const char*> places[] = {
      {"api", "password"}, {"api", "application_id"}, {"webhook", "token"}};
  for (const auto& [section, name] : places) {
    try {
      const YAML::Node s = doc.IsMap() ? doc[section] : YAML::Node();
      if (!s.IsMap()) continue;
      if (const YAML::Node v = s[name]; v.IsScalar()) add(v.Scalar());
      if (const YAML::Node f = s[std::string(name) + "_file"]; f.IsScalar()) {
        std::string error;
        if (auto text = read_text(resolve(base_dir, f.Scalar()), error)) add(std::move(*text));
      }
    } catch (...) {
      // A malformed document only means fewer candidates.
    }
  }
  for (const char* env : {"VPBX_API_PASSWORD", "VPBX_APPLICATION_ID", "VPBX_WEBHOOK_TOKEN"}) {
    if (const char* v = std::getenv(env)) add(v);
  }
  return out;
}

// Defence in depth: a secret pasted into the wrong key would be echoed as that key's bad
// value. Whatever looks like a configured secret is cut from the message before it leaves.
ConfigError redacted(const ConfigError& e, const YAML::Node& doc, const std::string& base_dir) {
  std::string key = e.key();
  std::string problem = e.problem();
  bool changed = false;
  for (const std::string& secret : secret_candidates(doc, base_dir)) {
    if (secret.size() < 4) continue;  // would garble every message and reveal nothing
    for (std::string* text : {&key, &problem}) {
      for (auto at = text->find(secret); at != std::string::npos; at = text->find(secret, at)) {
        text->replace(at, secret.size(), "<secret>");
        changed = true;
      }
    }
  }
  return changed ? ConfigError(key, e.line(), problem) : e;
}

}  // namespace

ConfigError::ConfigError(std::string key, int line, const std::string& problem)
    : std::runtime_error(format_message(key, line, problem)),
      key_(std::move(key)),
      line_(line),
      problem_(problem) {}

std::string User::label() const {
  if (!name.empty()) return name;
  if (!number.empty()) return number;
  if (!login.empty()) return login;
  return std::to_string(user_id);
}

std::string notification_url(const WebhookConfig& webhook) {
  std::string url = webhook.public_url;
  if (const auto at = url.find("{token}"); at != std::string::npos) {
    return url.replace(at, 7, webhook.token);
  }
  if (webhook.token.empty()) return url;
  if (url.empty() || url.back() != '/') url += '/';
  return url + webhook.token;
}

Config load_string(const std::string& yaml_text, const std::string& base_dir) {
  YAML::Node doc;
  try {
    doc = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(nearest_key(yaml_text, e.mark.line), e.mark.line >= 0 ? e.mark.line + 1 : 0,
                      "YAML syntax error: " + safe_yaml_message(e.msg));
  }
  try {
    return build(doc, base_dir);
  } catch (const ConfigError& e) {
    throw redacted(e, doc, base_dir);
  } catch (const YAML::Exception& e) {
    // Not expected after a successful parse; still one ConfigError, with no document text.
    throw ConfigError("", e.mark.line >= 0 ? e.mark.line + 1 : 0,
                      "cannot read the YAML: " + safe_yaml_message(e.msg));
  }
}

Config load_file(const std::string& path) {
  std::string error;
  const auto text = read_text(path, error);
  if (!text) throw ConfigError("", 0, "cannot read the config file " + path + ": " + error);
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  if (base_dir.empty()) base_dir = ".";
  return load_string(*text, base_dir);
}

}  // namespace vpbx::config
