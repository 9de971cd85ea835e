#pragma once
// The vpbxctl tests' world: an in-process simulator, the exporter's config and secrets in a
// temporary folder, and the real vpbxctl binary run against them. Every run is checked for the
// secrets (password, application id, webhook token): none may ever show.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "exporter/config/config.h"
#include "exporter/state/persistence.h"
#include "exporter/state/store.h"
#include "simulator/simulator.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace vpbx::test::ctl {

using Catch::Matchers::Contains;

inline const std::string kCtl = std::string(VPBX_BINARY_DIR) + "/ctl/vpbxctl";
inline const std::string kExporter = std::string(VPBX_BINARY_DIR) + "/exporter/vpbx_exporter";
inline const std::string kPassword = "pa55-vpbxctl-secret";
inline const std::string kToken = "webhook-token-0123456789abcdef";
inline const std::string kPublicUrl = "http://127.0.0.1:9/webhook";
inline constexpr std::int64_t kRoom101 = 176125, kRoom102 = 176129, kRoom104 = 176137;

struct Run {
  int code = -1;
  std::string out, err;
};

inline rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  INFO(text);
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

struct Fixture {
  std::string dir = vpbx::test::make_temp_dir();
  vpbx::sim::Simulator sim{[] {
    vpbx::sim::Options o;
    o.users_per_enterprise = 4;
    o.password = kPassword;
    return o;
  }()};
  std::string app_id = vpbx::sim::Options{}.application_id;

  explicit Fixture(const std::string& extra = "", const std::string& api_extra = "") {
    sim.start();
    // Every user off at the start, so that each test says what it needs.
    for (const auto& t : sim.truth()) {
      for (const char* name : {"CENTRAL_DND", "CALL_FORWARD_UNCONDITIONAL"}) {
        sim.set_feature_status(t.user_id, name, false);
      }
    }
    vpbx::test::write_file(dir + "/password", kPassword + "\n");
    vpbx::test::write_file(dir + "/app_id", app_id + "\n");
    vpbx::test::write_file(dir + "/token", kToken + "\n");
    // The CSV lists three of the four users: the fourth is known through discovery only.
    const std::string csv = sim.users_csv();
    std::size_t at = 0;
    for (int line = 0; line < 4; ++line) at = csv.find('\n', at) + 1;
    vpbx::test::write_file(dir + "/users.csv", csv.substr(0, at));
    write_config(extra, api_extra);
  }

  void write_config(const std::string& extra, const std::string& api_extra = "") const {
    vpbx::test::write_file(dir + "/vpbx_exporter.yml",
                           "api:\n  url: " + sim.base_url() +
                               "\n  username: openapi@291908.bus.ent\n  password_file: password\n"
                               "  application_id_file: app_id\n  timeout: 3s\n" +
                               api_extra +
                               "users_file: users.csv\nstate_file: state.json\n"
                               "webhook: { token_file: token, public_url: " +
                               kPublicUrl + " }\n" + extra);
  }

  Run run(std::vector<std::string> args) const {
    args.insert(args.begin(), "--config.file=" + dir + "/vpbx_exporter.yml");
    Run r;
    r.code = vpbx::test::run_command(kCtl, args, r.out, r.err);
    INFO(r.out << r.err);
    for (const std::string& secret : {kPassword, app_id, kToken}) {
      CHECK_THAT(r.out + r.err, !Contains(secret));
    }
    return r;
  }

  std::string feature(std::int64_t user_id, const std::string& name) const {
    for (const auto& t : sim.truth()) {
      if (t.user_id == user_id) return t.features.at(name);
    }
    FAIL("no user " << user_id);
    return {};
  }

  std::uint64_t requests(const std::string& route) const {
    const auto stats = sim.stats();
    const auto it = stats.requests_by_route.find(route);
    return it == stats.requests_by_route.end() ? 0 : it->second;
  }

  // The exporter's state file, written by the exporter's own store, with room 104 discovered.
  void discover_room_104() const {
    vpbx::state::Store store;
    store.configure(vpbx::config::load_file(dir + "/vpbx_exporter.yml"));
    vpbx::state::Persistence persistence(dir + "/state.json", store);
    persistence.load();
    persistence.start();
    REQUIRE(store.learn_user("291908.bus.ent", kRoom104, "+41225662197@m.ipvoip.ch"));
    persistence.stop();
  }

  vpbx::test::HttpReply api(const std::string& method, const std::string& path,
                            const std::string& body = "") const {
    vpbx::test::HttpOptions o;
    o.method = method;
    o.body = body;
    o.userpwd = "openapi@291908.bus.ent:" + kPassword;
    o.headers = {"X-C5-Application: " + app_id, "Content-Type: application/json"};
    return vpbx::test::http_request(sim.base_url() + path, o);
  }
};

}  // namespace vpbx::test::ctl
