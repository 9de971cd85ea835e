#include "exporter/config/sections.h"

#include <algorithm>
#include <limits>

#include "exporter/config/keys.h"
#include "exporter/config/network.h"
#include "exporter/config/secrets.h"
#include "exporter/log/log.h"

namespace vpbx::config::detail {
namespace {

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
  load_shard(root, base_dir, c);
  return c;
}

}  // namespace vpbx::config::detail
