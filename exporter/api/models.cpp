#include "exporter/api/models.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace vpbx::api {
namespace {

using rapidjson::Document;
using rapidjson::Value;

void set_error(std::string* error, std::string message) {
  if (error) *error = std::move(message);
}

// Why a parsed document is refused although it is JSON: an object anywhere with a key twice
// (RapidJSON keeps both members, FindMember() finds the first and a loop over the members sees
// both: rather than pick one, the text is refused), or containers nested deeper than
// kMaxJsonNesting (what reads the document later, e.g. the Writer for raw_json, recurses once per
// level). Iterative; the keys of a large object are sorted, so that 100 000 of them cost n log n.
const char* document_problem(const Value& root) {
  std::vector<std::pair<const Value*, std::size_t>> pending{{&root, 1}};
  std::vector<std::string_view> keys;
  while (!pending.empty()) {
    const auto [v, depth] = pending.back();
    pending.pop_back();
    if (depth > kMaxJsonNesting) return "invalid JSON: nested too deeply";
    if (v->IsArray()) {
      for (const auto& e : v->GetArray()) {
        if (e.IsObject() || e.IsArray()) pending.emplace_back(&e, depth + 1);
      }
    } else if (v->IsObject()) {
      const auto object = v->GetObject();
      const auto name = [](const Value& key) {
        return std::string_view(key.GetString(), key.GetStringLength());
      };
      bool twice = false;
      if (object.MemberCount() <= 16) {  // the API's objects: compared pairwise, no allocation
        for (auto a = object.MemberBegin(); a != object.MemberEnd() && !twice; ++a) {
          for (auto b = a + 1; b != object.MemberEnd(); ++b) {
            if (name(a->name) == name(b->name)) twice = true;
          }
        }
      } else {
        keys.clear();
        for (const auto& m : object) keys.push_back(name(m.name));
        std::sort(keys.begin(), keys.end());
        twice = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
      }
      if (twice) return "invalid JSON: an object has the same key twice";
      for (const auto& m : object) {
        if (m.value.IsObject() || m.value.IsArray()) pending.emplace_back(&m.value, depth + 1);
      }
    }
  }
  return nullptr;
}

// The four hex digits at `p` as a number, or -1.
int hex4(const unsigned char* p) {
  int value = 0;
  for (int i = 0; i < 4; ++i) {
    const unsigned char c = p[i];
    const int digit = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

// Valid UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Checked
// here rather than with RapidJSON's kParseValidateEncodingFlag, which doubled a push's parse time.
// Escapes count too: RapidJSON refuses a high surrogate escape without its low half, but decodes
// a lone low one (\udc00) to the bytes ED B0 80, which are not UTF-8; both are refused here.
bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  const auto escape = [end](const unsigned char* at) {  // the \uXXXX at `at`, or -1
    return end - at >= 6 && at[0] == '\\' && at[1] == 'u' ? hex4(at + 2) : -1;
  };
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c != '\\' || end - p < 2) {
        ++p;
        continue;
      }
      // A backslash is an escape (outside a string it is no JSON at all): the escaped character
      // is skipped, so that the second backslash of an escaped one starts no escape.
      const int unit = escape(p);
      if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low half without its high one
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        const int low = escape(p + 6);
        if (low < 0xDC00 || low > 0xDFFF) return false;  // a high half without its low one
        p += 12;
      } else if (unit >= 0) {
        p += 6;
      } else {
        p += p[1] < 0x80 ? 2 : 1;  // a non-ASCII byte after it is checked as UTF-8 still
      }
      continue;
    }
    std::size_t len = 0;
    unsigned char min2 = 0x80, max2 = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) min2 = 0xA0;
      if (c == 0xED) max2 = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) min2 = 0x90;
      if (c == 0xF4) max2 = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < len || p[1] < min2 || p[1] > max2) return false;
    for (std::size_t i = 2; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += len;
  }
  return true;
}

bool parse_json_document(std::string_view json, Document& doc, std::string* error) {
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    set_error(error, std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                         ": " + rapidjson::GetParseError_En(doc.GetParseError()));
    return false;
  }
  if (const char* problem = document_problem(doc)) {
    set_error(error, problem);
    return false;
  }
  return true;
}

namespace {

// Parses the whole text; on failure says where, never echoes the input (it may be large).
// Invalid UTF-8, duplicated keys and deep nesting fail it too.
bool parse_document(std::string_view json, Document& doc, std::string* error) {
  if (!is_valid_utf8(json)) {
    set_error(error, "invalid JSON: invalid UTF-8");
    return false;
  }
  return parse_json_document(json, doc, error);
}

const Value* member(const Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::optional<std::int64_t> int_from_text(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Integers may come as numbers, integral doubles or digit strings ("168382").
std::optional<std::int64_t> as_int(const Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsUint64()) return std::nullopt;  // beyond int64: not a plausible id
  if (v.IsDouble()) {
    const double d = v.GetDouble();
    if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) return std::nullopt;
    return static_cast<std::int64_t>(std::llround(d));
  }
  if (v.IsString()) return int_from_text(std::string_view(v.GetString(), v.GetStringLength()));
  return std::nullopt;
}

std::int64_t get_int(const Value& obj, const char* key, std::int64_t fallback = 0) {
  const Value* v = member(obj, key);
  if (!v) return fallback;
  return as_int(*v).value_or(fallback);
}

std::optional<std::int64_t> get_opt_int(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (!v) return std::nullopt;
  return as_int(*v);
}

// Strings; numbers and booleans are accepted as their text (e.g. "buildNumber" : 1).
std::string get_string(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (!v) return {};
  if (v->IsString()) return std::string(v->GetString(), v->GetStringLength());
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  if (v->IsUint64()) return std::to_string(v->GetUint64());
  if (v->IsBool()) return v->GetBool() ? "true" : "false";
  if (v->IsDouble()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v->GetDouble());
    return buf;
  }
  return {};
}

bool get_bool(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (!v) return false;
  if (v->IsBool()) return v->GetBool();
  if (v->IsString()) {
    std::string_view s(v->GetString(), v->GetStringLength());
    return s == "true" || s == "TRUE" || s == "True" || s == "1";
  }
  if (v->IsNumber()) return v->GetDouble() != 0;
  return false;
}

std::vector<std::string> get_string_list(const Value& obj, const char* key) {
  std::vector<std::string> out;
  const Value* v = member(obj, key);
  if (!v || !v->IsArray()) return out;
  for (const auto& e : v->GetArray()) {
    if (e.IsString()) {
      out.emplace_back(e.GetString(), e.GetStringLength());
    } else if (auto n = as_int(e)) {
      out.push_back(std::to_string(*n));
    }
  }
  return out;
}

std::vector<std::int64_t> get_int_list(const Value& obj, const char* key) {
  std::vector<std::int64_t> out;
  const Value* v = member(obj, key);
  if (!v || !v->IsArray()) return out;
  for (const auto& e : v->GetArray()) {
    if (auto n = as_int(e)) out.push_back(*n);
  }
  return out;
}

std::string compact(const Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Feature feature_from(const Value& obj) {
  Feature f;
  f.id = get_int(obj, "id");
  f.feat_name = get_string(obj, "featName");
  f.user_id = get_int(obj, "userId");
  f.status = get_string(obj, "status");
  f.overriding_user_feature = get_bool(obj, "overridingUserFeature");
  f.time_table_active = get_bool(obj, "timeTableActive");
  f.level = get_string(obj, "level");
  // The per-feature block is named after the feature (callForwardUnconditionalData,
  // centralDndData, ...): take destination and condition from whichever *Data object has them.
  for (const auto& m : obj.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (!m.value.IsObject() || !ends_with(name, "Data")) continue;
    if (f.destination_uri.empty()) f.destination_uri = get_string(m.value, "destinationUri");
    if (f.condition.empty()) f.condition = get_string(m.value, "condition");
  }
  f.raw_json = compact(obj);
  return f;
}

Presence presence_from(const Value& obj) {
  Presence p;
  p.user_id = get_int(obj, "userId");
  p.status = get_string(obj, "status");
  if (p.status.empty()) p.status = get_string(obj, "state");  // assumed shape: be lenient
  return p;
}

// A whole number of seconds in [0, kMaxCallDurationSeconds]: an integer, an integral double
// (7.0) or digits ("12"). Absent or null: 0. Anything else leaves 0 and returns the problem.
const char* duration_from(const Value& obj, std::int64_t& seconds) {
  seconds = 0;
  const Value* v = member(obj, "duration");
  if (!v) return nullptr;
  std::optional<std::int64_t> value;
  if (v->IsInt64()) {
    value = v->GetInt64();
  } else if (v->IsUint64()) {
    return "duration out of range";
  } else if (v->IsDouble()) {
    const double d = v->GetDouble();
    if (!std::isfinite(d) || std::trunc(d) != d) return "duration is not a whole number";
    if (d < 0 || d > static_cast<double>(kMaxCallDurationSeconds)) return "duration out of range";
    value = static_cast<std::int64_t>(d);
  } else if (v->IsString()) {
    value = int_from_text(std::string_view(v->GetString(), v->GetStringLength()));
  }
  if (!value) return "duration is not a whole number";
  if (*value < 0 || *value > kMaxCallDurationSeconds) return "duration out of range";
  seconds = *value;
  return nullptr;
}

CallLog call_log_from(const Value& obj) {
  CallLog c;
  c.id = get_string(obj, "id");
  c.user_id = get_int(obj, "userId");
  c.call_start = get_string(obj, "callStart");
  c.call_start_epoch_ms = parse_iso8601_ms(c.call_start).value_or(0);
  c.problem = duration_from(obj, c.duration);
  c.direction = get_string(obj, "direction");
  c.call_type = get_string(obj, "callType");
  c.status = get_opt_int(obj, "status");
  c.call_party_number = get_string(obj, "callPartyNumber");
  return c;
}

Subscription subscription_from(const Value& obj) {
  Subscription s;
  s.id = get_string(obj, "id");
  s.resource_type = get_string(obj, "resourceType");
  s.resource_names = get_string_list(obj, "resourceNames");
  s.login_names = get_string_list(obj, "loginNames");
  s.enterprise_names = get_string_list(obj, "enterpriseNames");
  s.user_ids = get_int_list(obj, "userIds");
  s.notification_url = get_string(obj, "notificationUrl");
  s.expires = get_string(obj, "expires");
  s.expires_epoch_ms = parse_iso8601_ms(s.expires).value_or(0);
  s.application_id = get_string(obj, "applicationId");
  return s;
}

EventContext context_from(const Value& event) {
  EventContext ctx;
  const Value* c = member(event, "context");
  if (!c || !c->IsObject()) return ctx;
  if (const Value* user = member(*c, "user"); user && user->IsObject()) {
    ctx.user_id = get_int(*user, "id");
    ctx.user_name = get_string(*user, "name");
  }
  if (const Value* ent = member(*c, "enterprise"); ent && ent->IsObject()) {
    ctx.enterprise_id = get_int(*ent, "id");
    ctx.enterprise_name = get_string(*ent, "name");
  }
  return ctx;
}

std::optional<Feature> optional_feature(const Value& event, const char* key) {
  const Value* v = member(event, key);
  if (!v || !v->IsObject()) return std::nullopt;
  return feature_from(*v);
}

std::optional<Presence> optional_presence(const Value& event, const char* key) {
  const Value* v = member(event, key);
  if (!v || !v->IsObject()) return std::nullopt;
  return presence_from(*v);
}

// `{"<key>": [ ... ]}`; an absent key is an empty list, a wrongly typed one an error.
template <typename T, typename F>
std::optional<std::vector<T>> parse_list(std::string_view json, const char* key, F&& convert,
                                         std::string* error) {
  Document doc;
  if (!parse_document(json, doc, error)) return std::nullopt;
  const Value* list = nullptr;
  if (doc.IsArray()) {
    list = &doc;  // tolerated: a bare array
  } else if (doc.IsObject()) {
    list = member(doc, key);
    if (!list) return std::vector<T>{};
    if (!list->IsArray()) {
      set_error(error, std::string("\"") + key + "\" is not an array");
      return std::nullopt;
    }
  } else {
    set_error(error, std::string("expected an object with \"") + key + "\"");
    return std::nullopt;
  }
  std::vector<T> out;
  out.reserve(list->Size());
  for (const auto& e : list->GetArray()) {
    if (e.IsObject()) out.push_back(convert(e));
  }
  return out;
}

// `{"<key>": {...}}`, or the bare object when it carries `marker` (lenient for echoes).
const Value* single_object(const Document& doc, const char* key, const char* marker,
                           std::string* error) {
  if (!doc.IsObject()) {
    set_error(error, std::string("expected an object with \"") + key + "\"");
    return nullptr;
  }
  if (const Value* v = member(doc, key)) {
    if (v->IsObject()) return v;
    set_error(error, std::string("\"") + key + "\" is not an object");
    return nullptr;
  }
  if (marker && member(doc, marker)) return &doc;
  set_error(error, std::string("no \"") + key + "\" object");
  return nullptr;
}

bool parse_fixed_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

}  // namespace

bool is_sane_text(std::string_view text, std::size_t max_bytes) {
  return text.size() <= max_bytes && std::none_of(text.begin(), text.end(), [](char c) {
           const auto byte = static_cast<unsigned char>(c);
           return byte < 0x20 || byte == 0x7F;
         });
}

const char* call_log_problem(const CallLog& c) {
  if (c.problem) return c.problem;
  if (c.id.empty()) return "call log without an id";
  if (!is_sane_text(c.id, kMaxIdBytes)) return "call-log id too long or with control characters";
  if (c.duration < 0 || c.duration > kMaxCallDurationSeconds) return "duration out of range";
  if (c.user_id < 0) return "negative userId";
  for (const std::string* text :
       {&c.call_start, &c.direction, &c.call_type, &c.call_party_number}) {
    if (!is_sane_text(*text, kMaxNameBytes))
      return "call-log field too long or with control characters";
  }
  return nullptr;
}

const char* feature_problem(const Feature& f) {
  if (f.feat_name.empty()) return "feature without a featName";
  if (f.user_id < 0) return "negative userId";
  for (const std::string* text : {&f.feat_name, &f.status, &f.level}) {
    if (!is_sane_text(*text, kMaxNameBytes))
      return "feature field too long or with control characters";
  }
  for (const std::string* text : {&f.destination_uri, &f.condition}) {
    if (!is_sane_text(*text, kMaxUriBytes))
      return "feature field too long or with control characters";
  }
  return nullptr;
}

const char* presence_problem(const Presence& p) {
  if (p.status.empty()) return "presence without a status";
  if (p.user_id < 0) return "negative userId";
  if (!is_sane_text(p.status, kMaxNameBytes))
    return "presence status too long or with control characters";
  return nullptr;
}

const char* context_problem(const EventContext& context) {
  if (context.user_id < 0 || context.enterprise_id < 0) return "negative id in the context";
  if (!is_sane_text(context.user_name, kMaxNameBytes) ||
      !is_sane_text(context.enterprise_name, kMaxNameBytes)) {
    return "context name too long or with control characters";
  }
  return nullptr;
}

std::optional<ServerInfo> parse_server_info(std::string_view json, std::string* error) {
  Document doc;
  if (!parse_document(json, doc, error)) return std::nullopt;
  if (!doc.IsObject()) {
    set_error(error, "expected an object");
    return std::nullopt;
  }
  ServerInfo s;
  s.build_customer = get_string(doc, "buildCustomer");
  s.build_version = get_string(doc, "buildVersion");
  s.build_number = get_string(doc, "buildNumber");
  s.build_date = get_string(doc, "buildDate");
  s.bulk_limit_common = get_int(doc, "bulkLimitCommon");
  s.bulk_limit_add_user = get_int(doc, "bulkLimitAddUser");
  s.bulk_limit_add_address_book_entry = get_int(doc, "bulkLimitAddAddressBookEntry");
  return s;
}

std::optional<std::vector<Feature>> parse_features(std::string_view json, std::string* error) {
  return parse_list<Feature>(json, "features", feature_from, error);
}

std::optional<Feature> parse_feature(std::string_view json, std::string* error) {
  Document doc;
  if (!parse_document(json, doc, error)) return std::nullopt;
  const Value* v = single_object(doc, "feature", "featName", error);
  if (!v) return std::nullopt;
  return feature_from(*v);
}

std::optional<Presence> parse_presence(std::string_view json, std::string* error) {
  Document doc;
  if (!parse_document(json, doc, error)) return std::nullopt;
  const Value* v = single_object(doc, "presence", "status", error);
  if (!v) return std::nullopt;
  return presence_from(*v);
}

std::optional<std::vector<CallLog>> parse_call_logs(std::string_view json, std::string* error) {
  return parse_list<CallLog>(json, "callLogs", call_log_from, error);
}

std::optional<std::vector<Subscription>> parse_subscriptions(std::string_view json,
                                                             std::string* error) {
  return parse_list<Subscription>(json, "subscriptions", subscription_from, error);
}

std::optional<Subscription> parse_subscription(std::string_view json, std::string* error) {
  Document doc;
  if (!parse_document(json, doc, error)) return std::nullopt;
  const Value* v = single_object(doc, "subscription", "resourceType", error);
  if (!v) return std::nullopt;
  return subscription_from(*v);
}

std::optional<PushBody> parse_push_body(std::string_view json, std::string* error) {
  Document doc;
  if (!parse_document(json, doc, error)) return std::nullopt;
  if (!doc.IsObject()) {
    set_error(error, "expected an object");
    return std::nullopt;
  }
  PushBody body;
  body.subscription_id = get_string(doc, "subscriptionId");
  if (!is_sane_text(body.subscription_id, kMaxIdBytes)) {
    set_error(error, "subscriptionId too long or with control characters");
    return std::nullopt;
  }
  for (const auto& m : doc.GetObject()) {
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    if (!ends_with(key, "Events")) continue;
    const bool known = key == "featureEvents" || key == "callLogEvents" || key == "presenceEvents";
    if (!known) {
      body.unknown_event_kinds.emplace_back(key);
      continue;
    }
    if (m.value.IsNull()) continue;
    if (!m.value.IsArray()) {
      ++body.invalid_events;  // a kind we know, of a shape we do not
      continue;
    }
    for (const auto& e : m.value.GetArray()) {
      if (!e.IsObject()) {
        ++body.invalid_events;
        continue;
      }
      if (key == "featureEvents") {
        FeatureEvent ev;
        ev.change_type = get_string(e, "changeType");
        ev.feature = optional_feature(e, "feature");
        ev.previous_value = optional_feature(e, "previousValue");
        ev.event_time = get_string(e, "eventTime");
        ev.context = context_from(e);
        body.feature_events.push_back(std::move(ev));
      } else if (key == "callLogEvents") {
        CallLogEvent ev;
        ev.change_type = get_string(e, "changeType");
        if (const Value* c = member(e, "callLog"); c && c->IsObject())
          ev.call_log = call_log_from(*c);
        ev.event_time = get_string(e, "eventTime");
        ev.context = context_from(e);
        body.call_log_events.push_back(std::move(ev));
      } else {
        PresenceEvent ev;
        ev.change_type = get_string(e, "changeType");
        ev.presence = optional_presence(e, "presence");
        ev.previous_value = optional_presence(e, "previousValue");
        ev.event_time = get_string(e, "eventTime");
        ev.context = context_from(e);
        body.presence_events.push_back(std::move(ev));
      }
    }
  }
  return body;
}

std::string to_json(const SubscriptionRequest& request) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto string_list = [&w](const char* key, const std::vector<std::string>& list) {
    if (list.empty()) return;
    w.Key(key);
    w.StartArray();
    for (const auto& s : list) w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    w.EndArray();
  };
  w.StartObject();
  w.Key("expires");
  w.String(request.expires.data(), static_cast<rapidjson::SizeType>(request.expires.size()));
  w.Key("notificationUrl");
  w.String(request.notification_url.data(),
           static_cast<rapidjson::SizeType>(request.notification_url.size()));
  w.Key("resourceType");
  w.String(request.resource_type.data(),
           static_cast<rapidjson::SizeType>(request.resource_type.size()));
  string_list("resourceNames", request.resource_names);
  string_list("loginNames", request.login_names);
  string_list("enterpriseNames", request.enterprise_names);
  if (!request.user_ids.empty()) {
    w.Key("userIds");
    w.StartArray();
    for (auto id : request.user_ids) w.Int64(id);
    w.EndArray();
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string to_json(const Feature& feature) {
  Document doc;
  if (!feature.raw_json.empty())
    doc.Parse<rapidjson::kParseIterativeFlag>(feature.raw_json.data(), feature.raw_json.size());
  if (feature.raw_json.empty() || doc.HasParseError() || !doc.IsObject()) doc.SetObject();
  auto& alloc = doc.GetAllocator();
  const Feature base = feature_from(doc);

  auto set = [&alloc](Value& obj, const char* key, Value value) {
    auto it = obj.FindMember(key);
    if (it != obj.MemberEnd()) {
      it->value = std::move(value);
    } else {
      obj.AddMember(Value(key, alloc), std::move(value), alloc);
    }
  };
  auto text = [&alloc](const std::string& s) {
    return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc);
  };
  if (feature.id != base.id) set(doc, "id", Value(static_cast<std::int64_t>(feature.id)));
  if (feature.feat_name != base.feat_name) set(doc, "featName", text(feature.feat_name));
  if (feature.user_id != base.user_id)
    set(doc, "userId", Value(static_cast<std::int64_t>(feature.user_id)));
  if (feature.status != base.status) set(doc, "status", text(feature.status));
  if (feature.overriding_user_feature != base.overriding_user_feature) {
    set(doc, "overridingUserFeature", Value(feature.overriding_user_feature));
  }
  if (feature.time_table_active != base.time_table_active) {
    set(doc, "timeTableActive", Value(feature.time_table_active));
  }
  if (feature.level != base.level) set(doc, "level", text(feature.level));
  // destinationUri / condition go back into the *Data block that carries them; without one there
  // is no knowing the block's name, so the change is not sent.
  auto set_in_data = [&](const char* key, const std::string& value) {
    for (auto& m : doc.GetObject()) {
      std::string_view name(m.name.GetString(), m.name.GetStringLength());
      if (m.value.IsObject() && ends_with(name, "Data") && m.value.HasMember(key)) {
        set(m.value, key, text(value));
        return;
      }
    }
  };
  if (feature.destination_uri != base.destination_uri) {
    set_in_data("destinationUri", feature.destination_uri);
  }
  if (feature.condition != base.condition) set_in_data("condition", feature.condition);
  return compact(doc);
}

std::optional<std::int64_t> parse_iso8601_ms(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  int year, month, day, hour = 0, minute = 0, second = 0;
  if (!parse_fixed_digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' ||
      !parse_fixed_digits(s, 5, 2, month) || s[7] != '-' || !parse_fixed_digits(s, 8, 2, day)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  std::size_t pos = 10;
  std::int64_t millis = 0;
  std::int64_t offset_minutes = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
    ++pos;
    if (!parse_fixed_digits(s, pos, 2, hour) || pos + 2 >= s.size() || s[pos + 2] != ':' ||
        !parse_fixed_digits(s, pos + 3, 2, minute)) {
      return std::nullopt;
    }
    pos += 5;
    if (pos < s.size() && s[pos] == ':') {
      if (!parse_fixed_digits(s, pos + 1, 2, second)) return std::nullopt;
      pos += 3;
    }
    // 23:59:60 (a leap second) is clamped rather than rejected.
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    if (second == 60) second = 59;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      const std::size_t start = pos;
      int scale = 100;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        millis += (s[pos] - '0') * scale;  // digits past milliseconds are truncated
        scale /= 10;
        ++pos;
      }
      if (pos == start) return std::nullopt;
    }
    if (pos < s.size()) {
      const char c = s[pos];
      if ((c == 'Z' || c == 'z') && pos + 1 == s.size()) {
        pos = s.size();
      } else if (c == '+' || c == '-') {
        int oh = 0, om = 0;
        if (!parse_fixed_digits(s, pos + 1, 2, oh)) return std::nullopt;
        std::size_t p = pos + 3;
        if (p < s.size() && s[p] == ':') ++p;  // "+01:00" and "+0100" (the seed's buildDate)
        if (p < s.size()) {
          if (!parse_fixed_digits(s, p, 2, om)) return std::nullopt;
          p += 2;
        }
        if (p != s.size() || oh > 23 || om > 59) return std::nullopt;
        offset_minutes = (c == '+' ? 1 : -1) * (oh * 60 + om);
        pos = s.size();
      } else {
        return std::nullopt;
      }
    }
    // No designator: taken as UTC (the API always sends one).
  }
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t seconds =
      days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

std::string format_iso8601_ms(std::int64_t epoch_ms) {
  std::int64_t seconds = epoch_ms / 1000;
  std::int64_t millis = epoch_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  std::int64_t days = seconds / 86400;
  std::int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // civil_from_days (H. Hinnant)
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y0 = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = y0 + (m <= 2);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                static_cast<long long>(rem % 3600 / 60), static_cast<long long>(rem % 60),
                static_cast<long long>(millis));
  return buf;
}

}  // namespace vpbx::api
