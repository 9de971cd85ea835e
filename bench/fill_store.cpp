#include "bench/fill_store.h"

#include <chrono>
#include <string>
#include <vector>

#include "simulator/model.h"

namespace vpbx::bench {

config::Config hotel_config(int users) {
  config::Config config;
  config.max_users = static_cast<std::size_t>(users < 1 ? 1 : users) + 16;  // room for pushes
  for (int i = 0; i < users; ++i) {
    config::User user;
    user.enterprise = std::to_string(291908 + i / kUsersPerEnterprise) + ".bus.ent";
    user.user_id = 176125 + 4 * static_cast<std::int64_t>(i);
    user.number = "+" + std::to_string(41225662194LL + i);
    user.login = user.number + "@m.ipvoip.ch";
    user.name = "Room " + std::to_string(101 + i);
    config.users.push_back(std::move(user));
  }
  return config;
}

void fill_store(state::Store& store, int users) {
  const config::Config config = hotel_config(users);
  store.configure(config);

  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::int64_t feature_id = 2897999;
  for (int i = 0; i < users; ++i) {
    const auto& identity = config.users[static_cast<std::size_t>(i)];
    std::vector<api::Feature> features;
    for (const std::string& name : sim::Model::feature_names()) {
      api::Feature feature;
      feature.id = feature_id;
      feature_id += 5;
      feature.feat_name = name;
      feature.user_id = identity.user_id;
      // About one room in ten has DND or CFU on, as in the simulator.
      const bool on = (std::string_view(name) == "CENTRAL_DND" && i % 10 == 3) ||
                      (std::string_view(name) == "CALL_FORWARD_UNCONDITIONAL" && i % 10 == 7);
      feature.status = on ? "ACTIVE" : "INACTIVE";
      features.push_back(std::move(feature));
    }
    store.set_features(identity.user_id, features);
    store.set_presence(identity.user_id, i % 7 == 0 ? "BUSY" : "IDLE");
    // Three calls each: answered in and out, one missed.
    const char* directions[] = {"INCOMING", "OUTGOING", "INCOMING"};
    const int durations[] = {42, 125, 0};
    for (int c = 0; c < 3; ++c) {
      api::CallLog call;
      call.id = "bench-" + std::to_string(identity.user_id) + "-" + std::to_string(c);
      call.user_id = identity.user_id;
      call.call_start_epoch_ms = now_ms - 60000 * (c + 1);
      call.duration = durations[c];
      call.direction = directions[c];
      call.status = durations[c] > 0 ? 804 : 802;
      store.count_call_log(call, state::Source::poll);
    }
  }
}

}  // namespace vpbx::bench
