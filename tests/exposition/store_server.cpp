// Serves a state store of N users on /metrics through the exporter's own http::Server, for
// check_exposition.py to parse with an independent parser. The users' content varies (every
// presence state, features on and off with destinations, calls in every direction, names that
// need escaping); the store's own state file (its JSON) is written beside, as the truth.
//   vpbx_test_store_server USERS STATE_JSON_PATH    prints "port=N", serves until stdin closes
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "exporter/http/server.h"
#include "exporter/state/store.h"

namespace {

using vpbx::state::Store;

void fill(Store& store, int users) {
  vpbx::config::Config config;
  config.max_users = static_cast<std::size_t>(users) + 1;
  config.features.expose_destinations = true;
  for (int i = 0; i < users; ++i) {
    vpbx::config::User user;
    user.enterprise = std::to_string(291908 + i / 1000) + ".bus.ent";
    user.user_id = 176125 + i;
    user.number = "+" + std::to_string(41225662194LL + i);
    user.login = user.number + "@m.ipvoip.ch";
    // Label values a careless writer would break: quote, backslash, newline, UTF-8.
    if (i % 97 == 5) {
      user.name = "Suite \"" + std::to_string(i) + "\" \\ east\nwing";
    } else if (i % 89 == 7) {
      user.name = "Chambre " + std::to_string(i) + " — vue lac";
    } else if (i % 5 != 4) {  // some users are named by their number
      user.name = "Room " + std::to_string(101 + i);
    }
    config.users.push_back(std::move(user));
  }
  store.configure(config);

  const char* presences[] = {"IDLE", "BUSY", "RINGING", "OFFLINE", "AWAY_ON_MARS"};
  const char* feature_names[] = {"CENTRAL_DND", "CALL_FORWARD_UNCONDITIONAL", "CALL_FORWARD_BUSY",
                                 "CALL_FORWARD_NO_ANSWER"};
  const char* directions[] = {"INCOMING", "OUTGOING", "INTERNAL"};
  std::int64_t feature_id = 2897999;
  for (int i = 0; i < users; ++i) {
    const auto user_id = config.users[static_cast<std::size_t>(i)].user_id;
    std::vector<vpbx::api::Feature> features;
    for (int f = 0; f < 4; ++f) {
      vpbx::api::Feature feature;
      feature.id = feature_id++;
      feature.feat_name = feature_names[f];
      feature.user_id = user_id;
      feature.status = (i + f) % 3 == 0 ? "ACTIVE" : "INACTIVE";
      if (f > 0 && i % 4 == 1) feature.destination_uri = "+4122" + std::to_string(5550000 + i);
      features.push_back(std::move(feature));
    }
    store.set_features(user_id, features);
    if (i % 6 == 2) {  // a change seen later: vpbx_user_feature_changes_total moves
      features[0].status = features[0].status == "ACTIVE" ? "INACTIVE" : "ACTIVE";
      store.apply_feature(user_id, features[0]);
    }
    if (i % 11 != 10) store.set_presence(user_id, presences[i % 5]);  // some never polled
    for (int c = 0; c < i % 4; ++c) {
      vpbx::api::CallLog call;
      call.id = "x-" + std::to_string(user_id) + "-" + std::to_string(c);
      call.user_id = user_id;
      call.call_start_epoch_ms = 1764000000000 + 60000LL * c;
      call.duration = (i * 37 + c * 301) % 4000 * (c % 2);
      call.direction = directions[(i + c) % 3];
      store.count_call_log(call, vpbx::state::Source::poll);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: vpbx_test_store_server USERS STATE_JSON_PATH\n";
    return 2;
  }
  auto store = std::make_shared<Store>();
  fill(*store, std::stoi(argv[1]));
  std::ofstream(argv[2]) << store->snapshot_json(0);
  vpbx::http::ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  vpbx::http::Server server(options);
  server.add_text_source(store);
  server.start();
  std::cout << "port=" << server.port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.stop();
  return 0;
}
