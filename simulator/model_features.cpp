// Features: GET of a user's features and of one, PUT of one, the control API's and the traffic
// generator's status changes, and the FEATURE event each change pushes.
#include "simulator/json_writer.h"
#include "simulator/model.h"
#include "simulator/model_detail.h"
#include "simulator/time_util.h"

namespace vpbx::sim {

using detail::pretty;
using detail::str;

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

}  // namespace vpbx::sim
