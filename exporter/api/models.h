#pragma once
// Typed views of the API's JSON (shapes from the seed and DESIGN.md's assumptions), parsed with
// RapidJSON. Every field may be absent: absent strings are empty, absent numbers 0 / nullopt.
// Unknown fields are ignored; unknown enum values are kept as text.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpbx::api {

struct ServerInfo {
  std::string build_customer;
  std::string build_version;
  std::string build_number;
  std::string build_date;
  std::int64_t bulk_limit_common = 0;
  std::int64_t bulk_limit_add_user = 0;
  std::int64_t bulk_limit_add_address_book_entry = 0;
};

struct Feature {
  std::int64_t id = 0;
  std::string feat_name;  // e.g. CENTRAL_DND, CALL_FORWARD_UNCONDITIONAL
  std::int64_t user_id = 0;
  std::string status;  // ACTIVE / INACTIVE / other
  bool overriding_user_feature = false;
  bool time_table_active = false;
  std::string level;
  std::string destination_uri;  // from any *Data block that has one (call forwards)
  std::string condition;        // from the *Data block
  std::string raw_json;         // the whole object, for a PUT that must send it back entire
  bool active() const { return status == "ACTIVE"; }
};

struct Presence {
  std::int64_t user_id = 0;
  std::string status;  // raw, e.g. IDLE
};

struct CallLog {
  std::string id;
  std::int64_t user_id = 0;
  std::string call_start;                // ISO 8601 as sent
  std::int64_t call_start_epoch_ms = 0;  // parsed, 0 when unparsable
  std::int64_t duration = 0;             // seconds
  std::string direction;                 // INCOMING / OUTGOING / other
  std::string call_type;
  std::optional<std::int64_t> status;
  std::string call_party_number;  // personal data: never a label
};

struct Subscription {
  std::string id;
  std::string resource_type;
  std::vector<std::string> resource_names;
  std::vector<std::string> login_names;
  std::vector<std::string> enterprise_names;
  std::vector<std::int64_t> user_ids;
  std::string notification_url;
  std::string expires;
  std::int64_t expires_epoch_ms = 0;
  std::string application_id;
};

struct SubscriptionRequest {
  std::string expires;  // ISO 8601, e.g. 2024-11-06T00:00:00.000Z
  std::string notification_url;
  std::string resource_type;
  std::vector<std::string> resource_names;
  std::vector<std::string> login_names;
  std::vector<std::string> enterprise_names;
  std::vector<std::int64_t> user_ids;
};

// The `context` of a push event.
struct EventContext {
  std::int64_t user_id = 0;
  std::string user_name;  // the login
  std::string enterprise_name;
  std::int64_t enterprise_id = 0;
};

struct FeatureEvent {
  std::string change_type;
  std::optional<Feature> feature;
  std::optional<Feature> previous_value;
  std::string event_time;
  EventContext context;
};

struct CallLogEvent {
  std::string change_type;
  std::optional<CallLog> call_log;
  std::string event_time;
  EventContext context;
};

struct PresenceEvent {
  std::string change_type;
  std::optional<Presence> presence;
  std::optional<Presence> previous_value;
  std::string event_time;
  EventContext context;
};

struct PushBody {
  std::string subscription_id;
  std::vector<FeatureEvent> feature_events;
  std::vector<CallLogEvent> call_log_events;
  std::vector<PresenceEvent> presence_events;
  std::vector<std::string> unknown_event_kinds;  // other "*Events" arrays, by key
  std::size_t invalid_events = 0;                // entries that were not objects
};

// Each returns nullopt (with a short reason in *error when given) on malformed or wrongly typed
// input: not JSON, or the expected top-level container missing / of the wrong type.
std::optional<ServerInfo> parse_server_info(std::string_view json, std::string* error = nullptr);
std::optional<std::vector<Feature>> parse_features(std::string_view json,
                                                   std::string* error = nullptr);
std::optional<Feature> parse_feature(std::string_view json, std::string* error = nullptr);
std::optional<Presence> parse_presence(std::string_view json, std::string* error = nullptr);
std::optional<std::vector<CallLog>> parse_call_logs(std::string_view json,
                                                    std::string* error = nullptr);
std::optional<std::vector<Subscription>> parse_subscriptions(std::string_view json,
                                                             std::string* error = nullptr);
std::optional<Subscription> parse_subscription(std::string_view json, std::string* error = nullptr);
std::optional<PushBody> parse_push_body(std::string_view json, std::string* error = nullptr);

std::string to_json(const SubscriptionRequest& request);
// The body of `PUT v1/feat/{id}`: raw_json (the whole object, as the API wants it back) with every
// typed field that differs from it applied (status, level, flags, destinationUri / condition in
// the *Data block that carries them). The typed fields win: after editing raw_json by hand, parse
// it again. Compact JSON; built from the typed fields alone when raw_json is empty.
std::string to_json(const Feature& feature);

// ISO 8601 / RFC 3339 with or without fraction and offset -> epoch milliseconds.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text);
std::string format_iso8601_ms(std::int64_t epoch_ms);  // UTC, "2024-11-06T00:00:00.000Z"

}  // namespace vpbx::api
