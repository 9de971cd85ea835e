// The platform as built at start: its enterprises, users, their features and a week of call
// history; ids, user lookups, system/server and the error body.
#include "simulator/model.h"

#include <algorithm>
#include <cstdio>

#include "simulator/json_writer.h"
#include "simulator/model_detail.h"
#include "simulator/time_util.h"

namespace vpbx::sim {

using detail::dial_form;
using detail::parse_int64;
using detail::pretty;
using detail::str;

namespace {

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

}  // namespace vpbx::sim
