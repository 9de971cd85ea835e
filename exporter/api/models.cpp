// The API's bodies as typed models, and the two bodies the exporter sends (a subscription, a
// feature). Field readers are lenient about types (json_fields.h); bounds are validation.cpp's.
#include "exporter/api/models.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>

#include "exporter/api/json_fields.h"

namespace vpbx::api {
namespace {

using namespace json_fields;
using rapidjson::Document;
using rapidjson::Value;

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

}  // namespace

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

}  // namespace vpbx::api
