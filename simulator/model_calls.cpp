// Call logs: the per-user and per-enterprise listings and their paging, recording a call, and the
// calls the control API injects and the traffic generator begins and ends, with their pushes.
#include <algorithm>

#include "simulator/model.h"
#include "simulator/model_detail.h"
#include "simulator/time_util.h"

namespace vpbx::sim {

using detail::Alloc;
using detail::dial_form;
using detail::pretty;
using detail::str;

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

}  // namespace vpbx::sim
