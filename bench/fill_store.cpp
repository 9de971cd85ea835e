#include "bench/fill_store.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "simulator/model.h"

namespace vpbx::bench {

config::Config hotel_config(int users, int first, int per_enterprise) {
  config::Config config;
  config.max_users = static_cast<std::size_t>(users < 1 ? 1 : users) + 16;  // room for pushes
  for (int i = first; i < first + users; ++i) {
    config::User user;
    user.enterprise = std::to_string(291908 + i / per_enterprise) + ".bus.ent";
    user.user_id = 176125 + 4 * static_cast<std::int64_t>(i);
    user.number = "+" + std::to_string(41225662194LL + i);
    user.login = user.number + "@m.ipvoip.ch";
    user.name = "Room " + std::to_string(101 + i);
    config.users.push_back(std::move(user));
  }
  return config;
}

namespace {

// User number `i` of `config`: the seed's features, presence and three calls.
void fill_user(state::Store& store, const config::Config& config, int i) {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto& identity = config.users[static_cast<std::size_t>(i)];
  std::int64_t feature_id = 2897999 + 5 * 32 * identity.user_id;
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

}  // namespace

void fill_store(state::Store& store, int users) {
  fill_store(store, hotel_config(users));
}

std::vector<std::unique_ptr<state::Store>> fill_accounts(int users, int accounts) {
  constexpr int kPerEnterprise = 250;
  std::vector<std::unique_ptr<state::Store>> stores;
  std::vector<config::Config> configs;
  const int per_account = users / accounts;
  for (int a = 0; a < accounts; ++a) {
    auto config = hotel_config(per_account, a * per_account, kPerEnterprise);
    // Each hotel numbers its own rooms, as the simulator does: one account holding them all
    // labels its users by login, since their names clash.
    for (std::size_t i = 0; i < config.users.size(); ++i) {
      config.users[i].name = "Room " + std::to_string(101 + (a * per_account + i) % kPerEnterprise);
    }
    if (accounts > 1) {
      config.account = config.users.front().enterprise;
      std::replace(config.account.begin(), config.account.end(), '.', '-');
    }
    stores.push_back(std::make_unique<state::Store>());
    stores.back()->configure(config);
    configs.push_back(std::move(config));
  }
  // A user of each account in turn, as the accounts' pollers fill them side by side.
  for (int i = 0; i < per_account; ++i) {
    for (int a = 0; a < accounts; ++a) fill_user(*stores[a], configs[a], i);
  }
  return stores;
}

void fill_store(state::Store& store, const config::Config& config) {
  store.configure(config);
  for (int i = 0; i < static_cast<int>(config.users.size()); ++i) fill_user(store, config, i);
}

}  // namespace vpbx::bench
