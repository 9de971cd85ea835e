// Subscriptions and push delivery: create, list and delete, and the fan-out of an event into one
// push body for each live subscription whose scope takes it.
#include <algorithm>

#include "simulator/model.h"
#include "simulator/model_detail.h"
#include "simulator/time_util.h"

namespace vpbx::sim {

using detail::Alloc;
using detail::parse_int64;
using detail::pretty;
using detail::str;

namespace {

template <typename T>
bool contains(const std::optional<std::vector<T>>& list, const T& value) {
  return list && std::find(list->begin(), list->end(), value) != list->end();
}

}  // namespace

ApiAnswer Model::create_subscription(const std::string& body) {
  rapidjson::Document in;
  in.Parse(body.c_str(), body.size());
  if (in.HasParseError() || !in.IsObject()) return error_answer(400, "Body is not a JSON object");
  Subscription s;
  if (!in.HasMember("resourceType") || !in["resourceType"].IsString()) {
    return error_answer(400, "resourceType is required");
  }
  s.resource_type = in["resourceType"].GetString();
  if (s.resource_type != "CALL_LOG" && s.resource_type != "FEATURE" &&
      s.resource_type != "PRESENCE") {
    return error_answer(400, "Unknown resourceType: " + s.resource_type);
  }
  if (!in.HasMember("notificationUrl") || !in["notificationUrl"].IsString()) {
    return error_answer(400, "notificationUrl is required");
  }
  s.notification_url = in["notificationUrl"].GetString();
  if (s.notification_url.rfind("http://", 0) != 0 && s.notification_url.rfind("https://", 0) != 0) {
    return error_answer(400, "notificationUrl must be an http(s) URL");
  }
  s.created_us = now_epoch_us();
  if (in.HasMember("expires")) {
    const auto& v = in["expires"];
    const auto ms = v.IsString() ? parse_iso8601_ms(v.GetString()) : std::nullopt;
    if (!ms) return error_answer(400, "expires must be an ISO 8601 date-time");
    s.expires_ms = *ms;
  } else {
    s.expires_ms = s.created_us / 1000 + 86400LL * 1000;
  }
  auto strings = [&](const char* key, std::optional<std::vector<std::string>>& out) {
    if (!in.HasMember(key) || in[key].IsNull()) return true;
    if (!in[key].IsArray()) return false;
    out.emplace();
    for (const auto& e : in[key].GetArray()) {
      if (!e.IsString()) return false;
      out->push_back(e.GetString());
    }
    return true;
  };
  if (!strings("resourceNames", s.resource_names) || !strings("loginNames", s.login_names) ||
      !strings("enterpriseNames", s.enterprise_names)) {
    return error_answer(400, "resourceNames, loginNames and enterpriseNames are lists of strings");
  }
  if (in.HasMember("userIds") && !in["userIds"].IsNull()) {
    if (!in["userIds"].IsArray()) return error_answer(400, "userIds is a list of ids");
    s.user_ids.emplace();
    for (const auto& e : in["userIds"].GetArray()) {
      std::int64_t id = 0;
      if (e.IsInt64()) {
        id = e.GetInt64();
      } else if (!e.IsString() || !parse_int64(e.GetString(), id)) {
        return error_answer(400, "userIds is a list of ids");
      }
      s.user_ids->push_back(id);
    }
  }
  std::lock_guard lock(mutex_);
  s.id = random_uuid();
  subscriptions_.push_back(s);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value v;
  write_subscription(v, a, s);
  d.AddMember("subscription", v, a);
  return {200, pretty(d), {}};
}

void Model::write_subscription(rapidjson::Value& out, Alloc& a, const Subscription& s) const {
  out.SetObject();
  auto list = [&](const std::vector<std::string>& items) {
    rapidjson::Value v(rapidjson::kArrayType);
    for (const auto& i : items) v.PushBack(str(i, a), a);
    return v;
  };
  out.AddMember("id", str(s.id, a), a);
  out.AddMember("resourceType", str(s.resource_type, a), a);
  if (s.resource_names) out.AddMember("resourceNames", list(*s.resource_names), a);
  if (s.login_names) out.AddMember("loginNames", list(*s.login_names), a);
  if (s.enterprise_names) out.AddMember("enterpriseNames", list(*s.enterprise_names), a);
  if (s.user_ids) {
    rapidjson::Value ids(rapidjson::kArrayType), nums(rapidjson::kArrayType);
    for (const auto id : *s.user_ids) {
      ids.PushBack(str(std::to_string(id), a), a);
      nums.PushBack(id, a);
    }
    out.AddMember("resourceIds", ids, a);
    out.AddMember("userIds", nums, a);
  }
  out.AddMember("notificationUrl", str(s.notification_url, a), a);
  out.AddMember("expires", str(format_utc_seconds(s.expires_ms), a), a);
  out.AddMember("creatorId", str(options_.username, a), a);
  out.AddMember("creatorRole", "ENTERPRISE_ADMIN", a);
  out.AddMember("creatorIsImpersonated", false, a);
  out.AddMember("applicationId", str(options_.application_id, a), a);
  const std::string created = format_zurich(s.created_us, 6, true);
  out.AddMember("created", str(created, a), a);
  out.AddMember("modified", str(created, a), a);
}

ApiAnswer Model::list_subscriptions() const {
  std::lock_guard lock(mutex_);
  const std::int64_t now_ms = now_epoch_us() / 1000;
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value list(rapidjson::kArrayType);
  for (const auto& s : subscriptions_) {
    if (s.expires_ms <= now_ms) continue;
    rapidjson::Value v;
    write_subscription(v, a, s);
    list.PushBack(v, a);
  }
  d.AddMember("subscriptions", list, a);
  return {200, pretty(d), {}};
}

ApiAnswer Model::delete_subscription(const std::string& id) {
  std::lock_guard lock(mutex_);
  const std::int64_t now_ms = now_epoch_us() / 1000;
  const auto it = std::find_if(subscriptions_.begin(), subscriptions_.end(),
                               [&](const Subscription& s) { return s.id == id; });
  if (it == subscriptions_.end() || it->expires_ms <= now_ms) {
    return error_answer(404, "Subscription not found: " + id);
  }
  subscriptions_.erase(it);
  return {204, "", {}};
}

bool Model::forget_subscription(const std::string& id) {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(subscriptions_.begin(), subscriptions_.end(),
                               [&](const Subscription& s) { return s.id == id; });
  if (it == subscriptions_.end()) return false;
  subscriptions_.erase(it);
  return true;
}

void Model::add_context(rapidjson::Value& event, Alloc& a, const User& user) const {
  const Enterprise& e = enterprises_[user.enterprise];
  auto entity = [&](std::int64_t id, const std::string& name) {
    rapidjson::Value v(rapidjson::kObjectType);
    v.AddMember("id", id, a);
    v.AddMember("name", str(name, a), a);
    return v;
  };
  rapidjson::Value context(rapidjson::kObjectType);
  context.AddMember("user", entity(user.id, user.login), a);
  context.AddMember("site", entity(e.site_id, e.site_name), a);
  context.AddMember("enterprise", entity(e.id, e.name), a);
  context.AddMember("serviceProvider", entity(2, "vtx.sp"), a);
  event.AddMember("context", context, a);
}

std::vector<Push> Model::fan_out(const std::string& resource_type, const std::string& events_key,
                                 const User& user, const std::string& feat_name,
                                 rapidjson::Document& event) {
  std::vector<Push> pushes;
  const std::int64_t now_ms = now_epoch_us() / 1000;
  const std::string& enterprise = enterprises_[user.enterprise].name;
  for (const auto& s : subscriptions_) {
    if (s.resource_type != resource_type || s.expires_ms <= now_ms) continue;
    const bool scoped = s.user_ids || s.login_names || s.enterprise_names;
    const bool in_scope = !scoped || contains(s.user_ids, user.id) ||
                          contains(s.login_names, user.login) ||
                          contains(s.enterprise_names, enterprise);
    if (!in_scope) continue;
    if (resource_type == "FEATURE" && s.resource_names && !contains(s.resource_names, feat_name)) {
      continue;
    }
    rapidjson::Document body(rapidjson::kObjectType);
    auto& a = body.GetAllocator();
    body.AddMember("subscriptionId", str(s.id, a), a);
    rapidjson::Value events(rapidjson::kArrayType);
    events.PushBack(rapidjson::Value(event, a), a);
    body.AddMember(str(events_key, a), events, a);
    pushes.push_back({s.id, s.notification_url, pretty(body)});
  }
  return pushes;
}

}  // namespace vpbx::sim
