#pragma once
// The config's known keys, per section, for the readers and for naming the key of a YAML syntax
// error.

#include <string_view>

namespace vpbx::config::detail {

// The keys of each section; anything else is a typo and an error.
inline constexpr std::string_view kRootKeys[] = {
    "api",        "users",    "users_file", "enterprises", "discover_users", "max_users",
    "poll",       "presence", "features",   "call_logs",   "webhook",        "subscriptions",
    "state_file", "profiles", "shard",      "accounts"};
// An entry of `accounts:`; the keys that are not here are shared by every account.
inline constexpr std::string_view kAccountKeys[] = {
    "name", "api", "users", "users_file", "enterprises", "subscriptions", "webhook", "state_file"};
inline constexpr std::string_view kAccountWebhookKeys[] = {"token", "token_file"};
// Top-level keys that belong to one account: with `accounts:` they must move into each one.
inline constexpr std::string_view kPerAccountRootKeys[] = {"api", "users", "users_file",
                                                           "enterprises"};
inline constexpr std::string_view kShardKeys[] = {"index", "count", "import_state_files"};
inline constexpr std::string_view kApiKeys[] = {"url",
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
inline constexpr std::string_view kPathKeys[] = {"presence", "user_call_logs",
                                                 "enterprise_call_logs"};
inline constexpr std::string_view kUserKeys[] = {"enterprise", "user_id", "login", "number",
                                                 "name"};
inline constexpr std::string_view kPollKeys[] = {"server", "presence", "features", "call_logs",
                                                 "fallback"};
inline constexpr std::string_view kPresenceKeys[] = {"state_map"};
inline constexpr std::string_view kFeaturesKeys[] = {"include", "expose_destinations"};
inline constexpr std::string_view kCallLogsKeys[] = {"backfill", "overlap", "page_size",
                                                     "answered_status"};
inline constexpr std::string_view kWebhookKeys[] = {"path",
                                                    "token",
                                                    "token_file",
                                                    "listen_address",
                                                    "public_url",
                                                    "allowed_networks",
                                                    "trusted_proxies",
                                                    "max_body_bytes",
                                                    "allow_unauthenticated"};
inline constexpr std::string_view kSubscriptionsKeys[] = {"manage", "resource_types", "ttl",
                                                          "renew_before", "keep_on_shutdown"};
inline constexpr std::string_view kProfileKeys[] = {"inactive", "active", "clear_destinations"};
inline constexpr std::string_view kCanonicalStates[] = {"idle", "busy", "ringing", "offline",
                                                        "unknown"};
inline constexpr std::string_view kResourceTypes[] = {"CALL_LOG", "FEATURE", "PRESENCE"};

}  // namespace vpbx::config::detail
