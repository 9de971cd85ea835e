// Presence: GET of a user's presence, the control API's changes, and the PRESENCE event each
// change pushes.
#include "simulator/model.h"
#include "simulator/model_detail.h"
#include "simulator/time_util.h"

namespace vpbx::sim {

using detail::pretty;
using detail::str;

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

std::optional<std::vector<Push>> Model::set_presence(std::int64_t user_id,
                                                     const std::string& state) {
  std::lock_guard lock(mutex_);
  User* user = find_user_by_id(user_id);
  if (!user) return std::nullopt;
  return change_presence(*user, state);
}

}  // namespace vpbx::sim
