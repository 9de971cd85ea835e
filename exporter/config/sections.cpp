#include "exporter/config/sections.h"

#include <algorithm>
#include <limits>
#include <map>

#include "exporter/config/keys.h"
#include "exporter/config/network.h"
#include "exporter/config/secrets.h"
#include "exporter/log/log.h"

namespace vpbx::config::detail {
namespace {

// The environment variables a secret falls back to: VPBX_API_PASSWORD for the implicit account,
// VPBX_API_PASSWORD_<NAME> (upper-cased, - as _) for a named one.
std::string env_name(const char* base, const std::string& account) {
  std::string name = base;
  if (account.empty()) return name;
  name += '_';
  for (const char c : account) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

void load_api(const Section& root, const std::string& base_dir, const std::string& account,
              ApiConfig& api) {
  const auto node = root.get("api");
  if (!node) {
    throw ConfigError(root.child("api"), root.line(),
                      "is required (at least api.url and api.username)");
  }
  Section s(node->node, node->path, node->line, kApiKeys);

  const auto url = s.get("url");
  if (!url) throw ConfigError(s.child("url"), s.line(), "is required");
  api.url = checked_url(*url, true);
  const auto username = s.get("username");
  if (!username) throw ConfigError(s.child("username"), s.line(), "is required");
  api.username = as_nonempty_string(*username);

  const std::string password_env = env_name("VPBX_API_PASSWORD", account);
  auto password = load_secret(s, "password", password_env.c_str(), base_dir);
  if (!password) {
    throw ConfigError(s.child("password"), s.line(),
                      "is required: " + secret_sources(s, "password", password_env.c_str()));
  }
  api.password = std::move(password->value);
  const std::string app_id_env = env_name("VPBX_APPLICATION_ID", account);
  auto app_id = load_secret(s, "application_id", app_id_env.c_str(), base_dir);
  if (!app_id) {
    throw ConfigError(s.child("application_id"), s.line(),
                      "is required: " + secret_sources(s, "application_id", app_id_env.c_str()));
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

// webhook.token (or token_file, or the environment), for the implicit account or a named one.
void load_token(const Section& s, const std::string& base_dir, const std::string& account,
                WebhookConfig& webhook) {
  const std::string env = env_name("VPBX_WEBHOOK_TOKEN", account);
  if (auto token = load_secret(s, "token", env.c_str(), base_dir)) {
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
  load_token(s, base_dir, "", webhook);
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

// `token_key`: where the webhook token of this account is set, for the error when it is not.
void load_subscriptions(const Section& root, const WebhookConfig& webhook,
                        const std::string& account, const std::string& token_key,
                        SubscriptionsConfig& subs) {
  const auto v = root.get("subscriptions");
  Section s(v ? v->node : YAML::Node(), root.child("subscriptions"), v ? v->line : 0,
            kSubscriptionsKeys);
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
  Value renew{s.child("renew_before"), {}, ttl_line};
  with(s, "renew_before", [&](const Value& x) {
    subs.renew_before = as_duration(x);
    renew = x;
  });
  if (subs.renew_before >= subs.ttl) {
    fail(renew, "must be shorter than " + s.child("ttl") + " (" +
                    format_duration(subs.renew_before) + " >= " + format_duration(subs.ttl) + ")");
  }
  with(s, "keep_on_shutdown", [&](const Value& x) { subs.keep_on_shutdown = as_bool(x); });
  with(s, "manage", [&](const Value& x) {
    subs.manage = as_bool(x);
    if (!subs.manage) return;
    if (webhook.public_url.empty()) {
      throw ConfigError("webhook.public_url", x.line,
                        "is required when " + s.child("manage") + " is true (the notificationUrl)");
    }
    if (!webhook.enabled()) {
      throw ConfigError(token_key, x.line,
                        "is required when subscriptions.manage is true: set " + token_key +
                            "_file, " + token_key + " or the environment variable " +
                            env_name("VPBX_WEBHOOK_TOKEN", account));
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

void load_shard(const Section& root, const std::string& base_dir, Config& c) {
  ShardConfig& shard = c.shard;
  with(root, "shard", [&](const Value& v) {
    Section s(v.node, v.path, v.line, kShardKeys);
    with(s, "count", [&](const Value& x) { shard.count = static_cast<int>(as_int(x, 1, 65536)); });
    Value index{"shard.index", {}, v.line};
    with(s, "index", [&](const Value& x) {
      shard.index = static_cast<int>(as_int(x, 0, 65535));
      index = x;
    });
    check_shard(shard, index.path, index.line);
    with(s, "import_state_files", [&](const Value& x) {
      shard.import_state_files = as_string_list(x);
      for (auto& file : shard.import_state_files) file = resolve(base_dir, file);
      // Imported into the new replica's own state file, which keeps it from importing twice.
      if (!shard.import_state_files.empty() && c.state_file.empty()) {
        fail(x, "needs state_file (this replica's own state file)");
      }
    });
  });
}

// The account's notificationUrl base: "{account}" in webhook.public_url is its name; else the
// name goes before "{token}", or last when there is no placeholder (the token follows it).
std::string account_public_url(std::string url, const std::string& account) {
  if (url.empty()) return url;
  if (const auto at = url.find("{account}"); at != std::string::npos) {
    return url.replace(at, 9, account);
  }
  if (const auto at = url.find("{token}"); at != std::string::npos) {
    return url.insert(at, account + "/");
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/" + account;
}

// `accounts:` (docs/configuration.md): each entry becomes a complete Config with the shared
// settings of `shared` and its own login, users, webhook token, subscriptions and state file.
void load_accounts(const Section& root, const Value& list, const std::string& base_dir,
                   Config& shared) {
  const auto entries = elements(list);
  if (entries.empty()) fail(list, "lists no account (leave it out for one implicit account)");
  std::map<std::string, int> names;           // name -> line
  std::map<std::string, std::string> states;  // state file -> account
  for (const Value& e : entries) {
    Section s(e.node, e.path, e.line, kAccountKeys);
    Config a = shared;
    a.accounts.clear();
    const auto name = s.get("name");
    if (!name) throw ConfigError(s.child("name"), e.line, "is required");
    a.account = as_nonempty_string(*name);
    if (!valid_account_name(a.account)) {
      fail(*name, quote(a.account) +
                      " is not an account name: letters, digits, _ and -, starting with a letter "
                      "or digit, at most 64 characters");
    }
    if (const auto [it, fresh] = names.emplace(a.account, name->line); !fresh) {
      fail(*name, "account " + quote(a.account) + " appears twice (first at line " +
                      std::to_string(it->second) + ")");
    }
    load_api(s, base_dir, a.account, a.api);
    if (a.api.insecure_skip_verify) {
      log::warn("TLS certificates of the API are not verified (api.insecure_skip_verify)",
                {{"account", a.account}});
    }
    load_users(s, base_dir, a);
    with(s, "enterprises", [&](const Value& v) { a.enterprises = as_string_list(v); });

    // One listener: the account's pushes arrive at {webhook.path}/{name}/{token}.
    a.webhook.path = shared.webhook.path + "/" + a.account;
    a.webhook.public_url = account_public_url(shared.webhook.public_url, a.account);
    const auto webhook = s.get("webhook");
    const Section w(webhook ? webhook->node : YAML::Node(), s.child("webhook"),
                    webhook ? webhook->line : 0, kAccountWebhookKeys);
    load_token(w, base_dir, a.account, a.webhook);
    // The account's own subscriptions block, else the top-level one, whole.
    a.subscriptions = SubscriptionsConfig{};
    load_subscriptions(s.get("subscriptions") ? s : root, a.webhook, a.account, w.child("token"),
                       a.subscriptions);

    Value state{s.child("name"), {}, name->line};
    a.state_file = shared.state_file.empty() ? "" : shared.state_file + "." + a.account;
    with(s, "state_file", [&](const Value& v) {
      a.state_file = as_string(v);
      if (!a.state_file.empty()) a.state_file = resolve(base_dir, a.state_file);
      state = v;
    });
    if (!a.state_file.empty()) {
      if (const auto [it, fresh] = states.emplace(a.state_file, a.account); !fresh) {
        fail(state, "account " + quote(a.account) + " would share its state file " + a.state_file +
                        " with account " + quote(it->second));
      }
    }
    // Resharding: each account imports the same account's files of the previous layout.
    for (auto& file : a.shard.import_state_files) file += "." + a.account;
    shared.accounts.push_back(std::move(a));
  }
}

}  // namespace

void check_shard(const ShardConfig& shard, const std::string& key, int line) {
  if (shard.count < 1) throw ConfigError("shard.count", line, "must be at least 1");
  if (shard.index < 0 || shard.index >= shard.count) {
    throw ConfigError(key, line,
                      "must be from 0 to shard.count - 1 (" + std::to_string(shard.index) +
                          " with shard.count " + std::to_string(shard.count) + ")");
  }
}

Config build(const YAML::Node& doc, const std::string& base_dir) {
  if (doc.IsDefined() && !doc.IsNull() && !doc.IsMap()) {
    throw ConfigError("", line_of(doc), "the file must be a map of keys (api, users, poll, ...)");
  }
  const Section root(doc, "", 0, kRootKeys);
  Config c;
  const auto accounts = root.get("accounts");
  if (accounts) {
    for (const auto key : kPerAccountRootKeys) {
      if (const auto v = root.get(key)) {
        fail(*v, "is set in each entry of accounts (line " + std::to_string(accounts->line) +
                     "), not at the top level");
      }
    }
  } else {
    load_api(root, base_dir, "", c.api);
    if (c.api.insecure_skip_verify) {
      log::warn("TLS certificates of the API are not verified (api.insecure_skip_verify)");
    }
    load_users(root, base_dir, c);
    with(root, "enterprises", [&](const Value& v) { c.enterprises = as_string_list(v); });
  }
  with(root, "discover_users", [&](const Value& v) { c.discover_users = as_bool(v); });
  with(root, "max_users",
       [&](const Value& v) { c.max_users = static_cast<std::size_t>(as_int(v, 1, 100000000)); });
  load_poll(root, c.poll);
  if (c.poll.presence > Duration{0} && c.poll.presence < std::chrono::seconds(10)) {
    log::warn("polling presence more often than every 10s loads the platform; prefer push",
              {{"interval", format_duration(c.poll.presence)}});
  }
  load_presence(root, c.presence);
  load_features(root, c.features);
  load_call_logs(root, c.call_logs);
  load_webhook(root, base_dir, c.webhook);
  if (accounts && !c.webhook.token.empty()) {
    throw ConfigError("webhook.token", root.get("webhook") ? root.get("webhook")->line : 0,
                      "is set in each entry of accounts (accounts[].webhook.token), not at the top "
                      "level (or in VPBX_WEBHOOK_TOKEN)");
  }
  if (!accounts) load_subscriptions(root, c.webhook, "", "webhook.token", c.subscriptions);
  with(root, "state_file", [&](const Value& v) {
    c.state_file = as_string(v);
    if (!c.state_file.empty()) c.state_file = resolve(base_dir, c.state_file);
  });
  load_profiles(root, c.profiles);
  load_shard(root, base_dir, c);
  if (accounts) load_accounts(root, *accounts, base_dir, c);
  return c;
}

}  // namespace vpbx::config::detail
