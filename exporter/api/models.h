#pragma once
// Typed views of the API's JSON (shapes from the seed and DESIGN.md's assumptions), parsed with
// RapidJSON. Every field may be absent: absent strings are empty, absent numbers 0 / nullopt.
// Unknown fields are ignored; unknown enum values are kept as text.

#include <rapidjson/fwd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpbx::api {

// Bounds on what the network sends, in one place. Ids and names become map keys, journal and
// state-file records and label values; the platform's ids are UUIDs or digits (36 bytes at most
// in the seed) and its names a few dozen bytes. A value past these bounds is not data but a bug or
// an attack, and the event or call log carrying it is `invalid`: nothing of it is stored, so no
// one can grow the remembered ids, the state file or a label by sending longer values.
inline constexpr std::size_t kMaxIdBytes = 128;  // call-log and subscription ids
inline constexpr std::size_t kMaxNameBytes =
    256;  // logins, enterprise and feature names, states...
inline constexpr std::size_t kMaxUriBytes = 1024;  // a call forward's destinationUri, condition
// The longest call counted: a week. A longer one is a corrupt value, not a call; the bound also
// keeps callStart + duration and the summed seconds far from any overflow.
inline constexpr std::int64_t kMaxCallDurationSeconds = 7 * 24 * 3600;

// Containers nested in one document: the API's bodies need 5, the state file 4, the webhook
// allows 32 (checked before parsing, see webhook/detail.h).
inline constexpr std::size_t kMaxJsonNesting = 64;

// Parses a whole JSON text into `doc` without recursing (no input can overflow the stack), then
// refuses an object with a key twice and nesting past kMaxJsonNesting (what reads a document
// later, e.g. a Writer, recurses once per level). False with a short reason in *error; then
// doc.HasParseError() tells bad syntax (at doc.GetErrorOffset()) from these. The parse_*
// functions below use it, after checking the text is valid UTF-8; so does the state file.
bool parse_json_document(std::string_view json, rapidjson::Document& doc,
                         std::string* error = nullptr);

// At most `max_bytes` long, without control characters (U+0000..U+001F, U+007F): a value that
// can be a key, a label and a field of the journal's line format as it is.
bool is_sane_text(std::string_view text, std::size_t max_bytes);

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
  // Set by the parser when a field is present with a value that is not data (a duration that is
  // not a whole number of seconds in range, e.g. -7, 1.5, "NaN", true); see call_log_problem().
  const char* problem = nullptr;
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

// Why a parsed value cannot be applied, or nullptr when it can. A call log needs an id (1 to
// kMaxIdBytes sane bytes), a duration in [0, kMaxCallDurationSeconds] and no negative userId; a
// feature a name; every text within its bound. The webhook counts such an event `invalid`, a poll
// its call log `invalid` and skips such a feature; neither is remembered.
const char* call_log_problem(const CallLog& call_log);
const char* feature_problem(const Feature& feature);
const char* presence_problem(const Presence& presence);
const char* context_problem(const EventContext& context);

// Valid UTF-8 (RFC 3629), \u escapes of surrogates included: every parser below checks it, and
// so does the webhook before it parses.
bool is_valid_utf8(std::string_view text);

// Each returns nullopt (with a short reason in *error when given) on malformed or wrongly typed
// input: not JSON, or the expected top-level container missing / of the wrong type. Not JSON
// includes invalid UTF-8 (strings end up in labels), a \u escape of a surrogate that is not half
// of a pair (RapidJSON would decode a lone low one to bytes that are not UTF-8), an object with a
// key twice (which one counts would be a guess; the platform never sends that) and nesting past
// kMaxJsonNesting: the whole text is refused.
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
// Also refused whole: a subscriptionId that is not a sane id (see kMaxIdBytes). The id is not
// checked against the subscriptions we made (the token authenticates a push) and not kept.
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
