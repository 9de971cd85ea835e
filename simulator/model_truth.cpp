// What the control API reads back: each user's truth (calls, features, presence) for the tests to
// compare the exporter's metrics with, and the users as a users_file CSV.
#include <sstream>

#include "simulator/model.h"

namespace vpbx::sim {

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
