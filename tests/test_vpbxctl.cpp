// End to end: the real vpbxctl binary against an in-process simulator over real HTTP: the read
// commands, the changes, the platform's refusals, subscriptions, exit codes and the manual.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/support/vpbxctl_fixture.h"

using namespace vpbx::test::ctl;
using Catch::Matchers::Contains;

TEST_CASE("server prints the platform's version, as a table and as JSON", "[vpbxctl]") {
  Fixture f;
  const Run table = f.run({"server"});
  CHECK(table.code == 0);
  CHECK_THAT(table.out, Contains("buildVersion") && Contains("7.7.2.12"));
  const Run json = f.run({"server", "--format=json"});
  REQUIRE(json.code == 0);
  const auto doc = parse(json.out);
  CHECK(std::string(doc["buildVersion"].GetString()) == "7.7.2.12");
  CHECK(doc["bulkLimitCommon"].GetInt64() == 100);
}

TEST_CASE("users lists the config's users and those the exporter discovered", "[vpbxctl]") {
  Fixture f;
  CHECK_THAT(f.run({"users"}).out, !Contains("176137"));
  f.discover_room_104();
  const Run table = f.run({"users"});
  CHECK(table.code == 0);
  CHECK_THAT(table.out, Contains("Room 101") && Contains("176137") && Contains("discovered"));
  const auto doc = parse(f.run({"users", "--format", "json"}).out);
  REQUIRE(doc["users"].Size() == 4);
  const auto& discovered = doc["users"][3];
  CHECK(discovered["userId"].GetInt64() == kRoom104);
  CHECK(std::string(discovered["number"].GetString()) == "+41225662197");
  CHECK(std::string(discovered["source"].GetString()) == "discovered");
}

TEST_CASE("a user is named by id, number, login or name, unknown ones are usage errors",
          "[vpbxctl]") {
  Fixture f;
  f.discover_room_104();
  const auto user_of = [&](const std::string& user) {
    const Run r = f.run({"features", user, "--format=json"});
    REQUIRE(r.code == 0);
    const auto doc = parse(r.out);
    CHECK(doc["features"].Size() == 19);
    return doc["user"]["userId"].GetInt64();
  };
  CHECK(user_of("176129") == kRoom102);
  CHECK(user_of("+41225662195") == kRoom102);
  CHECK(user_of("0041225662195") == kRoom102);
  CHECK(user_of("+41225662195@m.ipvoip.ch") == kRoom102);
  CHECK(user_of("room 102") == kRoom102);
  CHECK(user_of("+41225662197") == kRoom104);  // discovered: the number comes from its login

  const Run table = f.run({"features", "Room 101"});
  CHECK_THAT(table.out, Contains("CALL_FORWARD_UNCONDITIONAL") && Contains("@s1.291908"));

  const Run unknown = f.run({"features", "Room 999"});
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.err, Contains("unknown user \"Room 999\""));
  // An id no one lists goes to the platform, which does not know it either.
  const Run missing = f.run({"features", "999999"});
  CHECK(missing.code == 1);
  CHECK_THAT(missing.err, Contains("999999") && Contains("404") && Contains("User not found"));
}

TEST_CASE("dnd: GET, change, PUT, GET again, before → after, idempotent", "[vpbxctl]") {
  Fixture f;
  const Run on = f.run({"dnd", "Room 101", "on"});
  CHECK(on.code == 0);
  CHECK_THAT(on.out, Contains("Room 101 (176125)") && Contains("CENTRAL_DND") &&
                         Contains("INACTIVE → ACTIVE"));
  CHECK(f.feature(kRoom101, "CENTRAL_DND") == "ACTIVE");
  CHECK(f.requests("PUT v1/feat/{featId}") == 1);
  CHECK(f.requests("GET v1/feat/{featId}") == 1);  // read back after the PUT

  const Run again = f.run({"dnd", "176125", "on", "--format=json"});
  CHECK(again.code == 0);
  const auto doc = parse(again.out);
  CHECK(std::string(doc["changes"][0]["result"].GetString()) == "unchanged");
  CHECK(f.requests("PUT v1/feat/{featId}") == 1);  // nothing sent
  CHECK_THAT(f.run({"dnd", "176125", "on"}).out, Contains("already ACTIVE, nothing changed"));

  const Run off = f.run({"dnd", "+41225662194", "off", "--format=json"});
  CHECK(off.code == 0);
  const auto off_doc = parse(off.out);
  const auto change = off_doc["changes"][0].GetObject();
  CHECK(std::string(change["before"]["status"].GetString()) == "ACTIVE");
  CHECK(std::string(change["after"]["status"].GetString()) == "INACTIVE");
  CHECK(f.feature(kRoom101, "CENTRAL_DND") == "INACTIVE");
}

TEST_CASE("cfu on DESTINATION sets destinationUri, off turns it off", "[vpbxctl]") {
  Fixture f;
  const std::string destination = "0791234567@s1.291908.bus.ipvoip.ch";
  const Run on = f.run({"cfu", "Room 102", "on", destination});
  CHECK(on.code == 0);
  CHECK_THAT(on.out, Contains("→ ACTIVE (" + destination + ")"));
  CHECK(f.feature(kRoom102, "CALL_FORWARD_UNCONDITIONAL") == "ACTIVE");
  const auto reply = f.api("GET", "v1/feat/2898109");  // room 102's CFU: 2898014 + 95
  CHECK_THAT(reply.body, Contains("\"destinationUri\" : \"" + destination + "\""));

  CHECK_THAT(f.run({"cfu", "Room 102", "on", destination}).out, Contains("already ACTIVE"));
  CHECK(f.run({"cfu", "Room 102", "off"}).code == 0);
  CHECK(f.feature(kRoom102, "CALL_FORWARD_UNCONDITIONAL") == "INACTIVE");
  CHECK(f.run({"cfu", "Room 102", "on"}).code == 2);  // no destination
  CHECK(f.run({"cfu", "Room 102", "off", destination}).code == 2);
}

TEST_CASE("feature USER NAME on|off changes any feature, a missing one names user and feature",
          "[vpbxctl]") {
  Fixture f;
  REQUIRE(f.feature(kRoom101, "CALL_WAITING") == "ACTIVE");
  const Run off = f.run({"feature", "Room 101", "call_waiting", "off"});
  CHECK(off.code == 0);
  CHECK_THAT(off.out, Contains("CALL_WAITING") && Contains("ACTIVE → INACTIVE"));
  CHECK(f.feature(kRoom101, "CALL_WAITING") == "INACTIVE");

  const Run missing = f.run({"feature", "Room 101", "TELEPORTATION", "on"});
  CHECK(missing.code == 2);
  CHECK_THAT(missing.err, Contains("Room 101 (176125)") && Contains("TELEPORTATION") &&
                              Contains("no such feature"));
}

TEST_CASE("a PUT the platform refuses shows its answer, names user and feature, exits 1",
          "[vpbxctl]") {
  Fixture f;
  vpbx::sim::Faults faults;
  faults.feature_put_reject_ratio = 1;
  f.sim.set_faults(faults);
  const Run refused = f.run({"dnd", "Room 101", "on"});
  CHECK(refused.code == 1);
  CHECK_THAT(refused.err, Contains("Room 101 (176125)") && Contains("CENTRAL_DND") &&
                              Contains("refused") && Contains("HTTP 400") &&
                              Contains("locked at enterprise level"));
  CHECK_THAT(refused.out, Contains("refused, stays INACTIVE"));
  CHECK(f.feature(kRoom101, "CENTRAL_DND") == "INACTIVE");

  const Run json = f.run({"checkout", "Room 101", "--no-bill", "--format=json"});
  f.sim.set_faults({});
  CHECK(json.code == 0);  // DND and every forward are already off: nothing to PUT
  f.sim.set_feature_status(kRoom101, "CENTRAL_DND", true);
  f.sim.set_faults(faults);
  const Run checkout = f.run({"checkout", "Room 101", "--no-bill", "--format=json"});
  CHECK(checkout.code == 1);
  const auto checkout_doc = parse(checkout.out);
  const auto change = checkout_doc["checkouts"][0]["changes"][0].GetObject();
  CHECK(std::string(change["result"].GetString()) == "refused");
  CHECK_THAT(change["message"].GetString(), Contains("locked at enterprise level"));
}

TEST_CASE("subscriptions: list marks the exporter's own, delete --foreign keeps them",
          "[vpbxctl]") {
  Fixture f;
  const auto subscribe = [&](const std::string& url) -> std::string {
    const auto reply = f.api("POST", "v1/subscriptions",
                             R"({"expires":"2099-01-01T00:00:00.000Z","notificationUrl":")" + url +
                                 R"(","resourceType":"CALL_LOG","userIds":[176125]})");
    REQUIRE(reply.status == 200);
    return parse(reply.body)["subscription"]["id"].GetString();
  };
  const std::string ours = subscribe(kPublicUrl + "/" + kToken);
  const std::string other = subscribe("http://crm.example.com/push");
  const std::string third = subscribe("http://crm.example.com/push2");

  const Run table = f.run({"subscriptions", "list"});
  CHECK(table.code == 0);
  CHECK_THAT(table.out, Contains(ours) && Contains("exporter") && Contains(other) &&
                            Contains("other") && Contains("/webhook/<token>") &&
                            Contains("userIds=176125"));
  const auto doc = parse(f.run({"subscriptions", "list", "--format=json"}).out);
  REQUIRE(doc["subscriptions"].Size() == 3);
  for (const auto& s : doc["subscriptions"].GetArray()) {
    CHECK(s["exporter"].GetBool() == (s["id"].GetString() == ours));
  }

  const Run dry = f.run({"subscriptions", "delete", "--foreign", "--dry-run"});
  CHECK_THAT(dry.out, Contains("would delete " + other) && !Contains(ours));
  CHECK(f.run({"subscriptions", "delete", third}).code == 0);
  const Run foreign = f.run({"subscriptions", "delete", "--foreign"});
  CHECK(foreign.code == 0);
  CHECK_THAT(foreign.out, Contains("deleted " + other) && !Contains(third));
  auto left = parse(f.run({"subscriptions", "list", "--format=json"}).out);
  REQUIRE(left["subscriptions"].Size() == 1);
  CHECK(left["subscriptions"][0]["id"].GetString() == ours);
  CHECK(f.run({"subscriptions", "delete", "--all"}).code == 0);
  left = parse(f.run({"subscriptions", "list", "--format=json"}).out);
  CHECK(left["subscriptions"].Size() == 0);
  CHECK(f.run({"subscriptions", "delete"}).code == 2);
  CHECK(f.run({"subscriptions", "delete", "--foreign", "--all"}).code == 2);
}

TEST_CASE("presence shows the raw status and the exporter's state", "[vpbxctl]") {
  Fixture f;
  f.sim.set_presence(kRoom102, "BUSY");
  const auto doc = parse(f.run({"presence", "Room 102", "--format=json"}).out);
  CHECK(std::string(doc["status"].GetString()) == "BUSY");
  CHECK(std::string(doc["state"].GetString()) == "busy");
  CHECK_THAT(f.run({"presence", "Room 101"}).out, Contains("IDLE") && Contains("idle"));
}

TEST_CASE("exit codes: 2 for usage errors, 1 when the platform refuses or fails", "[vpbxctl]") {
  Fixture f;
  CHECK(f.run({}).code == 2);
  CHECK(f.run({"teleport"}).code == 2);
  CHECK(f.run({"dnd", "Room 101"}).code == 2);
  CHECK(f.run({"dnd", "Room 101", "maybe"}).code == 2);
  CHECK(f.run({"dnd", "Room 101", "on", "--no-bill"}).code == 2);
  CHECK(f.run({"server", "--format=csv"}).code == 2);
  CHECK(f.run({"server", "--bogus"}).code == 2);
  CHECK(f.run({"users", "--config.file"}).code == 2);

  Run r;
  r.code =
      vpbx::test::run_command(kCtl, {"--config.file=/nonexistent.yml", "server"}, r.out, r.err);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("/nonexistent.yml"));

  // A wrong password: the platform refuses (401), and the password is not shown.
  vpbx::test::write_file(f.dir + "/password", "not-the-password\n");
  const Run refused = f.run({"dnd", "Room 101", "on"});
  CHECK(refused.code == 1);
  CHECK_THAT(refused.err, Contains("Room 101") && Contains("401") && !Contains("not-the-password"));
  vpbx::test::write_file(f.dir + "/password", kPassword + "\n");

  f.sim.stop();  // the platform is down
  const Run down = f.run({"server"});
  CHECK(down.code == 1);
  CHECK_THAT(down.err, Contains("transport"));
}

TEST_CASE("every command has a manual page, no config is needed to read it", "[vpbxctl]") {
  for (const std::string command : {"server", "users", "features", "presence", "dnd", "cfu",
                                    "feature", "checkout", "calls", "subscriptions"}) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{command, "--help"}, std::vector<std::string>{"help", command}}) {
      Run r;
      r.code = vpbx::test::run_command(kCtl, args, r.out, r.err);
      INFO(command);
      CHECK(r.code == 0);
      CHECK_THAT(r.out, Contains("NAME\n  vpbxctl " + command) && Contains("SYNOPSIS") &&
                            Contains("EXIT STATUS"));
    }
  }
  Run overview;
  overview.code = vpbx::test::run_command(kCtl, {"--help"}, overview.out, overview.err);
  CHECK(overview.code == 0);
  CHECK_THAT(overview.out, Contains("checkout USER") && Contains("subscriptions list"));
}
