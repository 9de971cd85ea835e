#include "simulator/model.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "simulator/json_writer.h"
#include "simulator/time_util.h"

namespace vpbx::sim {
namespace {

using Alloc = rapidjson::Document::AllocatorType;

// The seed's feature list, in the order GET v1/users/{id}/feat returned it.
const std::vector<std::string> kFeatureNames = {
    "CALLING_LINE_IDENTIFICATION_RESTRICTION",
    "PARALLEL_RINGING",
    "PRESENCE",
    "CALL_TRANSFER",
    "AD_HOC_CONFERENCING",
    "LOCK_CODE",
    "CALL_FORWARD_BUSY",
    "MUSIC_ON_HOLD",
    "PHONE_BOOK_LOOKUP",
    "PICKUP_CALL",
    "CENTRAL_DND",
    "CALL_HOLD",
    "CALL_WAITING",
    "CALL_FORWARD_TIMEOUT",
    "CALL_FORWARD_NOT_REACHABLE",
    "FORWARDED_CALL_REJECTION",
    "CALL_FORWARD_UNREGISTERED",
    "EARLY_MEDIA",
    "CALL_FORWARD_UNCONDITIONAL",
};

// Feature ids follow this order, 5 apart, as in the seed (2897999 CLIR ... 2898089 CENTRAL_DND).
const std::vector<std::string> kFeatureIdOrder = {
    "CALLING_LINE_IDENTIFICATION_RESTRICTION",
    "CALL_FORWARD_BUSY",
    "CALL_FORWARD_NOT_REACHABLE",
    "CALL_FORWARD_UNCONDITIONAL",
    "PARALLEL_RINGING",
    "EARLY_MEDIA",
    "FORWARDED_CALL_REJECTION",
    "CALL_TRANSFER",
    "CALL_HOLD",
    "CALL_WAITING",
    "MUSIC_ON_HOLD",
    "CALL_FORWARD_UNREGISTERED",
    "CALL_FORWARD_TIMEOUT",
    "PHONE_BOOK_LOOKUP",
    "AD_HOC_CONFERENCING",
    "PICKUP_CALL",
    "PRESENCE",
    "LOCK_CODE",
    "CENTRAL_DND",
};

constexpr std::int64_t kFirstUserId = 176125;  // the seed's users: 176125, 176129, ... step 4
constexpr std::int64_t kFirstNumber = 41225662194;
constexpr std::int64_t kFirstFeatureId = 2897999;
constexpr std::int64_t kFirstEnterprise = 291908;
constexpr std::int64_t kFirstEnterpriseId = 16317;  // the seed's 291908.bus.ent context

bool active_by_default(const std::string& name) {
  static const std::vector<std::string> on = {
      "PRESENCE",    "CALL_TRANSFER", "AD_HOC_CONFERENCING", "MUSIC_ON_HOLD", "PHONE_BOOK_LOOKUP",
      "PICKUP_CALL", "CALL_HOLD",     "CALL_WAITING",        "EARLY_MEDIA"};
  return std::find(on.begin(), on.end(), name) != on.end();
}

// Call forwards carry a *Data block shaped like the seed's callForwardUnconditionalData.
struct ForwardKind {
  const char* feat;
  const char* key;
  const char* type;
};
const ForwardKind kForwards[] = {
    {"CALL_FORWARD_UNCONDITIONAL", "callForwardUnconditionalData", "CallForwardUnconditional"},
    {"CALL_FORWARD_BUSY", "callForwardBusyData", "CallForwardBusy"},
    {"CALL_FORWARD_NOT_REACHABLE", "callForwardNotReachableData", "CallForwardNotReachable"},
    {"CALL_FORWARD_TIMEOUT", "callForwardTimeoutData", "CallForwardTimeout"},
    {"CALL_FORWARD_UNREGISTERED", "callForwardUnregisteredData", "CallForwardUnregistered"},
};

rapidjson::Value str(const std::string& s, Alloc& a) {
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

std::string pretty(const rapidjson::Value& v) {
  return to_pretty_json(v);
}

// "+41225117902" -> "0225117902": how a Swiss number is dialled inside the country.
std::string dial_form(const std::string& e164) {
  if (e164.rfind("+41", 0) == 0) return "0" + e164.substr(3);
  if (!e164.empty() && e164[0] == '+') return "00" + e164.substr(1);
  return e164;
}

bool parse_int64(const std::string& s, std::int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  std::int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

template <typename T>
bool contains(const std::optional<std::vector<T>>& list, const T& value) {
  return list && std::find(list->begin(), list->end(), value) != list->end();
}

}  // namespace

ApiAnswer error_answer(int status, const std::string& message, const std::string& path) {
  // Spring Boot's error body, trimmed: enough for a client to log something useful.
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  const char* reason = status == 400   ? "Bad Request"
                       : status == 401 ? "Unauthorized"
                       : status == 403 ? "Forbidden"
                       : status == 404 ? "Not Found"
                       : status == 405 ? "Method Not Allowed"
                       : status == 429 ? "Too Many Requests"
                       : status == 503 ? "Service Unavailable"
                                       : "Internal Server Error";
  d.AddMember("timestamp", str(format_zurich(now_epoch_us(), 3, false), a), a);
  d.AddMember("status", status, a);
  d.AddMember("error", rapidjson::StringRef(reason), a);
  d.AddMember("message", str(message, a), a);
  if (!path.empty()) d.AddMember("path", str(path, a), a);
  return {status, pretty(d), {}};
}

const std::vector<std::string>& Model::feature_names() {
  return kFeatureNames;
}

Model::Model(const Options& options)
    : options_(options), id_rng_(std::random_device{}() ^ (options.seed * 0x9E3779B97F4A7C15ULL)) {
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> unit(0, 1);
  const int enterprises = std::max(1, options.enterprises);
  const int per_enterprise = std::max(0, options.users_per_enterprise);
  for (int e = 0; e < enterprises; ++e) {
    Enterprise ent;
    const std::string number = std::to_string(kFirstEnterprise + e);
    ent.name = number + ".bus.ent";
    ent.id = kFirstEnterpriseId + e * 10;
    ent.site_id = ent.id + 4;
    ent.site_name = "s1." + number + ".bus.ipvoip.ch";
    enterprises_.push_back(ent);
  }
  enterprise_calls_.resize(enterprises_.size());
  for (std::size_t e = 0; e < enterprises_.size(); ++e) {
    for (int u = 0; u < per_enterprise; ++u) {
      const std::size_t index = users_.size();
      User user;
      user.id = kFirstUserId + static_cast<std::int64_t>(index) * 4;
      user.enterprise = e;
      user.number = "+" + std::to_string(kFirstNumber + static_cast<std::int64_t>(index));
      user.login = user.number + "@m.ipvoip.ch";
      user.name = "Room " + std::to_string(101 + u);
      const std::string domain = enterprises_[e].site_name;
      for (const auto& name : kFeatureNames) {
        Feature f;
        f.feat_name = name;
        const auto pos = std::find(kFeatureIdOrder.begin(), kFeatureIdOrder.end(), name) -
                         kFeatureIdOrder.begin();
        f.id = kFirstFeatureId + static_cast<std::int64_t>(index) * 95 + pos * 5;
        bool active = active_by_default(name);
        if (name == "CENTRAL_DND" || name == "CALL_FORWARD_UNCONDITIONAL") active = unit(rng) < 0.1;
        f.status = active ? "ACTIVE" : "INACTIVE";
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("id", f.id, a);
        d.AddMember("featName", str(name, a), a);
        d.AddMember("userId", user.id, a);
        d.AddMember("status", str(f.status, a), a);
        d.AddMember("overridingUserFeature", false, a);
        d.AddMember("timeTableActive", false, a);
        d.AddMember("level", "USER", a);
        for (const auto& fw : kForwards) {
          if (name != fw.feat) continue;
          rapidjson::Value data(rapidjson::kObjectType);
          data.AddMember("type", rapidjson::StringRef(fw.type), a);
          data.AddMember("colpAllowed", true, a);
          const std::string dest = name == "CALL_FORWARD_BUSY" || name == "CALL_FORWARD_TIMEOUT"
                                       ? "voicemail-" + user.number.substr(1) + "@" + domain
                                       : dial_form(random_party_number(rng)) + "@" + domain;
          data.AddMember("destinationUri", str(dest, a), a);
          data.AddMember("destinationUriRepetition", 0, a);
          data.AddMember("condition", "ALWAYS", a);
          if (name == "CALL_FORWARD_TIMEOUT") data.AddMember("timeout", 20, a);
          d.AddMember(rapidjson::StringRef(fw.key), data, a);
        }
        if (name == "CENTRAL_DND") {
          rapidjson::Value data(rapidjson::kObjectType);
          data.AddMember("condition", "ALWAYS", a);
          data.AddMember("mode", "USER", a);
          d.AddMember("centralDndData", data, a);
        }
        f.json = to_compact_json(d);
        feature_by_id_[f.id] = {index, user.features.size()};
        user.features.push_back(std::move(f));
      }
      user_by_id_[user.id] = index;
      user_by_login_[user.login] = index;
      users_.push_back(std::move(user));
    }
  }
  // History: calls spread over the past week, not counted in the truth.
  const std::int64_t now_ms = now_epoch_us() / 1000;
  std::uniform_int_distribution<std::int64_t> when(now_ms - 7LL * 86400 * 1000, now_ms - 60000);
  std::exponential_distribution<double> length(1.0 / 90);
  for (auto& user : users_) {
    for (int i = 0; i < options.history_calls_per_user; ++i) {
      CallLog log;
      log.id = random_uuid();
      log.user_id = user.id;
      log.call_start_ms = when(rng) / 1000 * 1000;
      const bool answered = unit(rng) < 0.8;
      log.duration = answered ? std::clamp(static_cast<int>(length(rng)) + 1, 1, 3600) : 0;
      log.direction = unit(rng) < 0.5 ? "INCOMING" : "OUTGOING";
      log.status = answered ? 804 : (unit(rng) < 0.5 ? 802 : 805);
      log.party_number = random_party_number(rng);
      log.party_dial_number = dial_form(log.party_number);
      add_call_log(user, std::move(log), false);
    }
  }
}

std::string Model::random_uuid() {
  std::uniform_int_distribution<std::uint64_t> dist;
  std::uint64_t hi = dist(id_rng_), lo = dist(id_rng_);
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xFFFF),
                static_cast<unsigned long long>(hi & 0xFFFF),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

std::string Model::random_party_number(std::mt19937_64& rng) const {
  // Swiss fixed and mobile numbers, e.g. +41225117902.
  static const char* prefixes[] = {"+4122", "+4121", "+4144", "+4179", "+4178", "+4176"};
  std::uniform_int_distribution<int> p(0, 5);
  std::uniform_int_distribution<int> rest(1000000, 9999999);
  return std::string(prefixes[p(rng)]) + std::to_string(rest(rng));
}

std::size_t Model::user_count() const {
  std::lock_guard lock(mutex_);
  return users_.size();
}

const Model::User* Model::find_user(const std::string& key) const {
  std::int64_t id = 0;
  if (parse_int64(key, id)) {
    const auto it = user_by_id_.find(id);
    return it == user_by_id_.end() ? nullptr : &users_[it->second];
  }
  // Platform 7.8+ also takes the login in place of the id.
  const auto it = user_by_login_.find(key);
  return it == user_by_login_.end() ? nullptr : &users_[it->second];
}

Model::User* Model::find_user_by_id(std::int64_t id) {
  const auto it = user_by_id_.find(id);
  return it == user_by_id_.end() ? nullptr : &users_[it->second];
}

ApiAnswer Model::server_info() const {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("buildCustomer", "Release", a);
  d.AddMember("buildVersion", "7.7.2.12", a);
  d.AddMember("buildNumber", "1", a);
  d.AddMember("buildDate", "2024-05-28T17:21:44+0200", a);
  std::int64_t bulk = 100;
  parse_int64(options_.bulk_limit_common, bulk);
  d.AddMember("bulkLimitCommon", bulk, a);
  d.AddMember("bulkLimitAddUser", 100, a);
  d.AddMember("bulkLimitAddAddressBookEntry", 1000, a);
  return {200, pretty(d), {}};
}

ApiAnswer Model::user_features(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const User* user = find_user(key);
  if (!user) return error_answer(404, "User not found: " + key);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value list(rapidjson::kArrayType);
  for (const auto& f : user->features) {
    rapidjson::Document fd;
    fd.Parse(f.json.c_str());
    list.PushBack(rapidjson::Value(fd, a), a);
  }
  d.AddMember("features", list, a);
  return {200, pretty(d), {}};
}

ApiAnswer Model::feature(std::int64_t feature_id) const {
  std::lock_guard lock(mutex_);
  const auto it = feature_by_id_.find(feature_id);
  if (it == feature_by_id_.end()) {
    return error_answer(404, "Feature not found: " + std::to_string(feature_id));
  }
  const Feature& f = users_[it->second.first].features[it->second.second];
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Document fd;
  fd.Parse(f.json.c_str());
  d.AddMember("feature", rapidjson::Value(fd, a), a);
  return {200, pretty(d), {}};
}

ApiAnswer Model::put_feature(std::int64_t feature_id, const std::string& body) {
  rapidjson::Document in;
  in.Parse(body.c_str(), body.size());
  if (in.HasParseError() || !in.IsObject()) return error_answer(400, "Body is not a JSON object");
  // The seed PUTs the bare feature; a {"feature":{...}} envelope is taken too.
  rapidjson::Value* obj = &in;
  if (!in.HasMember("id") && in.HasMember("feature") && in["feature"].IsObject()) {
    obj = &in["feature"];
  }
  if (!obj->HasMember("id") || !(*obj)["id"].IsInt64() || (*obj)["id"].GetInt64() != feature_id) {
    return error_answer(400, "Feature id in the body does not match the path");
  }
  std::lock_guard lock(mutex_);
  const auto it = feature_by_id_.find(feature_id);
  if (it == feature_by_id_.end()) {
    return error_answer(404, "Feature not found: " + std::to_string(feature_id));
  }
  User& user = users_[it->second.first];
  Feature& f = user.features[it->second.second];
  if (obj->HasMember("featName") &&
      (!(*obj)["featName"].IsString() || f.feat_name != (*obj)["featName"].GetString())) {
    return error_answer(400, "featName cannot be changed");
  }
  if (obj->HasMember("userId") &&
      (!(*obj)["userId"].IsInt64() || (*obj)["userId"].GetInt64() != user.id)) {
    return error_answer(400, "userId cannot be changed");
  }
  std::string status = f.status;
  if (obj->HasMember("status")) {
    if (!(*obj)["status"].IsString()) return error_answer(400, "status must be a string");
    status = (*obj)["status"].GetString();
    if (status != "ACTIVE" && status != "INACTIVE") {
      return error_answer(400, "status must be ACTIVE or INACTIVE");
    }
  } else {
    obj->AddMember("status", str(status, in.GetAllocator()), in.GetAllocator());
  }
  ApiAnswer answer;
  answer.pushes = change_feature(user, f, to_compact_json(*obj), status);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("feature", rapidjson::Value(*obj, a), a);
  answer.body = pretty(d);
  return answer;
}

std::vector<Push> Model::change_feature(User& user, Feature& feature, std::string new_json,
                                        std::string new_status) {
  rapidjson::Document event(rapidjson::kObjectType);
  auto& a = event.GetAllocator();
  rapidjson::Document before, after;
  before.Parse(feature.json.c_str());
  after.Parse(new_json.c_str());
  feature.json = std::move(new_json);
  feature.status = std::move(new_status);
  event.AddMember("changeType", "MODIFIED", a);
  event.AddMember("feature", rapidjson::Value(after, a), a);
  event.AddMember("previousValue", rapidjson::Value(before, a), a);
  event.AddMember("eventTime", str(format_zurich(now_epoch_us(), 3, false), a), a);
  add_context(event, a, user);
  return fan_out("FEATURE", "featureEvents", user, feature.feat_name, event);
}

ApiAnswer Model::presence(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const User* user = find_user(key);
  if (!user) return error_answer(404, "User not found: " + key);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value p(rapidjson::kObjectType);
  p.AddMember("userId", user->id, a);
  p.AddMember("status", str(user->presence, a), a);
  d.AddMember("presence", p, a);
  return {200, pretty(d), {}};
}

void Model::write_call_log(rapidjson::Value& out, Alloc& a, const CallLog& log) const {
  out.SetObject();
  out.AddMember("id", str(log.id, a), a);
  out.AddMember("userId", log.user_id, a);
  out.AddMember("callStart", str(format_utc_seconds(log.call_start_ms), a), a);
  out.AddMember("duration", log.duration, a);
  out.AddMember("direction", str(log.direction, a), a);
  out.AddMember("callType", "VOICE", a);
  out.AddMember("status", log.status, a);
  out.AddMember("callPartyNumber", str(log.party_number, a), a);
  out.AddMember("callPartyDialNumber", str(log.party_dial_number, a), a);
}

ApiAnswer Model::call_log_page(const CallIndex& index, const CallLogQuery& q) const {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value list(rapidjson::kArrayType);
  if (q.from_ms < q.to_ms) {
    auto it = index.lower_bound({q.from_ms, std::string()});
    const auto end = index.lower_bound({q.to_ms, std::string()});
    for (int skipped = 0; it != end && skipped < q.offset; ++it, ++skipped) {
    }
    for (int n = 0; it != end && n < q.limit; ++it, ++n) {
      rapidjson::Value v;
      write_call_log(v, a, *it->second);
      list.PushBack(v, a);
    }
  }
  d.AddMember("callLogs", list, a);
  return {200, pretty(d), {}};
}

ApiAnswer Model::user_call_logs(const std::string& key, const CallLogQuery& query) const {
  std::lock_guard lock(mutex_);
  const User* user = find_user(key);
  if (!user) return error_answer(404, "User not found: " + key);
  return call_log_page(user->calls, query);
}

ApiAnswer Model::enterprise_call_logs(const std::string& name, const CallLogQuery& query) const {
  std::lock_guard lock(mutex_);
  for (std::size_t e = 0; e < enterprises_.size(); ++e) {
    if (enterprises_[e].name == name || std::to_string(enterprises_[e].id) == name) {
      return call_log_page(enterprise_calls_[e], query);
    }
  }
  return error_answer(404, "Enterprise not found: " + name);
}

void Model::add_call_log(User& user, CallLog log, bool count) {
  auto shared = std::make_shared<const CallLog>(std::move(log));
  const CallKey key{shared->call_start_ms, shared->id};
  user.calls.emplace(key, shared);
  enterprise_calls_[user.enterprise].emplace(key, shared);
  if (!count) return;
  ++user.calls_created;
  if (shared->duration > 0) ++user.answered;
  ++user.by_direction[shared->direction];
  user.duration_sum += shared->duration;
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

std::vector<Push> Model::change_presence(User& user, const std::string& state) {
  if (user.presence == state) return {};
  const std::string previous = user.presence;
  user.presence = state;
  rapidjson::Document event(rapidjson::kObjectType);
  auto& a = event.GetAllocator();
  auto presence = [&](const std::string& status) {
    rapidjson::Value p(rapidjson::kObjectType);
    p.AddMember("userId", user.id, a);
    p.AddMember("status", str(status, a), a);
    return p;
  };
  event.AddMember("changeType", "MODIFIED", a);
  event.AddMember("presence", presence(state), a);
  event.AddMember("previousValue", presence(previous), a);
  event.AddMember("eventTime", str(format_zurich(now_epoch_us(), 3, false), a), a);
  add_context(event, a, user);
  return fan_out("PRESENCE", "presenceEvents", user, "", event);
}

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

std::pair<std::string, std::vector<Push>> Model::inject_call(const CallSpec& call) {
  std::lock_guard lock(mutex_);
  User* user = find_user_by_id(call.user_id);
  if (!user) return {};
  ActiveCall active;
  active.user = static_cast<std::size_t>(user - users_.data());
  active.direction = call.direction;
  active.duration_seconds = std::max(0, call.duration_seconds);
  // The call just ended: it started `duration` seconds ago.
  active.call_start_ms = (now_epoch_us() / 1000 - active.duration_seconds * 1000LL) / 1000 * 1000;
  CallLog log;
  log.id = random_uuid();
  log.user_id = user->id;
  log.call_start_ms = active.call_start_ms;
  log.duration = active.duration_seconds;
  log.direction = active.direction;
  log.status = log.duration > 0 ? 804 : 802;
  log.party_number = random_party_number(id_rng_);
  log.party_dial_number = dial_form(log.party_number);
  const std::string id = log.id;
  const CallLog copy = log;
  add_call_log(*user, std::move(log), true);

  rapidjson::Document event(rapidjson::kObjectType);
  auto& a = event.GetAllocator();
  event.AddMember("changeType", "CREATED", a);
  rapidjson::Value v;
  write_call_log(v, a, copy);
  event.AddMember("callLog", v, a);
  event.AddMember("eventTime", str(format_zurich(now_epoch_us(), 3, false), a), a);
  add_context(event, a, *user);
  return {id, fan_out("CALL_LOG", "callLogEvents", *user, "", event)};
}

std::optional<std::vector<Push>> Model::set_feature_status(std::int64_t user_id,
                                                           const std::string& feat_name,
                                                           const std::string& status) {
  std::lock_guard lock(mutex_);
  User* user = find_user_by_id(user_id);
  if (!user) return std::nullopt;
  for (auto& f : user->features) {
    if (f.feat_name != feat_name) continue;
    if (f.status == status) return std::vector<Push>{};
    rapidjson::Document d;
    d.Parse(f.json.c_str());
    if (d.HasMember("status")) {
      d["status"].SetString(status.c_str(), static_cast<rapidjson::SizeType>(status.size()),
                            d.GetAllocator());
    } else {
      d.AddMember("status", str(status, d.GetAllocator()), d.GetAllocator());
    }
    return change_feature(*user, f, to_compact_json(d), status);
  }
  return std::nullopt;
}

std::optional<std::vector<Push>> Model::set_presence(std::int64_t user_id,
                                                     const std::string& state) {
  std::lock_guard lock(mutex_);
  User* user = find_user_by_id(user_id);
  if (!user) return std::nullopt;
  return change_presence(*user, state);
}

std::optional<std::pair<ActiveCall, std::vector<Push>>> Model::begin_random_call(
    std::mt19937_64& rng) {
  std::lock_guard lock(mutex_);
  if (users_.empty()) return std::nullopt;
  std::uniform_int_distribution<std::size_t> pick(0, users_.size() - 1);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int attempt = 0; attempt < 8; ++attempt) {
    User& user = users_[pick(rng)];
    if (user.in_call || user.presence != "IDLE") continue;
    ActiveCall call;
    call.user = static_cast<std::size_t>(&user - users_.data());
    call.direction = unit(rng) < 0.55 ? "INCOMING" : "OUTGOING";
    const bool answered = unit(rng) < 0.8;
    std::exponential_distribution<double> length(1.0 / 90);
    call.duration_seconds = answered ? std::clamp(static_cast<int>(length(rng)) + 1, 1, 3600) : 0;
    call.call_start_ms = now_epoch_us() / 1000 / 1000 * 1000;
    user.in_call = true;
    // An unanswered incoming call only ever rings.
    const bool rings = !answered && call.direction == "INCOMING";
    auto pushes = change_presence(user, rings ? "RINGING" : "BUSY");
    return std::make_pair(call, std::move(pushes));
  }
  return std::nullopt;
}

std::vector<Push> Model::end_call(const ActiveCall& call) {
  std::lock_guard lock(mutex_);
  User& user = users_[call.user];
  user.in_call = false;
  CallLog log;
  log.id = random_uuid();
  log.user_id = user.id;
  log.call_start_ms = call.call_start_ms;
  log.duration = call.duration_seconds;
  log.direction = call.direction;
  log.status = log.duration > 0 ? 804 : (call.direction == "INCOMING" ? 802 : 805);
  log.party_number = random_party_number(id_rng_);
  log.party_dial_number = dial_form(log.party_number);
  const CallLog copy = log;
  add_call_log(user, std::move(log), true);

  rapidjson::Document event(rapidjson::kObjectType);
  auto& a = event.GetAllocator();
  event.AddMember("changeType", "CREATED", a);
  rapidjson::Value v;
  write_call_log(v, a, copy);
  event.AddMember("callLog", v, a);
  event.AddMember("eventTime", str(format_zurich(now_epoch_us(), 3, false), a), a);
  add_context(event, a, user);
  // The CDR is pushed first, then the phone goes idle, as on the platform.
  auto pushes = fan_out("CALL_LOG", "callLogEvents", user, "", event);
  if (user.presence == "BUSY" || user.presence == "RINGING") {
    auto more = change_presence(user, "IDLE");
    pushes.insert(pushes.end(), more.begin(), more.end());
  }
  return pushes;
}

std::vector<Push> Model::toggle_random_feature(std::mt19937_64& rng) {
  std::int64_t user_id = 0;
  std::string name, status;
  {
    std::lock_guard lock(mutex_);
    if (users_.empty()) return {};
    std::uniform_int_distribution<std::size_t> pick(0, users_.size() - 1);
    const User& user = users_[pick(rng)];
    name = rng() % 2 ? "CENTRAL_DND" : "CALL_FORWARD_UNCONDITIONAL";
    for (const auto& f : user.features) {
      if (f.feat_name == name) status = f.status == "ACTIVE" ? "INACTIVE" : "ACTIVE";
    }
    user_id = user.id;
  }
  return set_feature_status(user_id, name, status).value_or(std::vector<Push>{});
}

std::vector<UserTruth> Model::truth() const {
  std::lock_guard lock(mutex_);
  std::vector<UserTruth> out;
  out.reserve(users_.size());
  for (const auto& u : users_) {
    UserTruth t;
    t.user_id = u.id;
    t.enterprise = enterprises_[u.enterprise].name;
    t.login = u.login;
    t.number = u.number;
    t.calls = u.calls_created;
    t.answered = u.answered;
    t.calls_by_direction = u.by_direction;
    t.duration_seconds = u.duration_sum;
    for (const auto& f : u.features) t.features[f.feat_name] = f.status;
    t.presence = u.presence;
    out.push_back(std::move(t));
  }
  return out;
}

std::string Model::users_csv() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out << "enterpriseNames,userIds,loginNames,phone_num,name\n";
  for (const auto& u : users_) {
    out << enterprises_[u.enterprise].name << ',' << u.id << ',' << u.login << ',' << u.number
        << ',' << u.name << '\n';
  }
  return out.str();
}

}  // namespace vpbx::sim
