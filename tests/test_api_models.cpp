// The typed models against the seed's bodies, verbatim (tests/data/api), and against the shapes the
// seed does not show: absent and extra fields, wrong types, numbers as strings.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "exporter/api/models.h"

using namespace vpbx::api;

namespace {

std::string data(const std::string& name) {
  std::ifstream in(std::string(VPBX_TEST_DATA_DIR) + "/api/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

TEST_CASE("system/server from the seed", "[api][parse]") {
  std::string error;
  auto info = parse_server_info(data("system_server.json"), &error);
  REQUIRE(info);
  CHECK(error.empty());
  CHECK(info->build_customer == "Release");
  CHECK(info->build_version == "7.7.2.12");
  CHECK(info->build_number == "1");
  CHECK(info->build_date == "2024-05-28T17:21:44+0200");
  CHECK(info->bulk_limit_common == 100);
  CHECK(info->bulk_limit_add_user == 100);
  CHECK(info->bulk_limit_add_address_book_entry == 1000);
  CHECK(parse_iso8601_ms(info->build_date) == parse_iso8601_ms("2024-05-28T15:21:44Z"));
}

TEST_CASE("the seed's features list, rebuilt as {\"features\":[...]}", "[api][parse]") {
  // The seed prints the list through jq as a stream of {id, featName}: join it into the array.
  std::string stream = data("user_feat_jq_stream.txt");
  std::string joined;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    joined += stream[i];
    if (stream[i] == '}' && i + 2 < stream.size() && stream[i + 1] == '\n' &&
        stream[i + 2] == '{') {
      joined += ',';
    }
  }
  auto features = parse_features("{\"features\":[" + joined + "]}");
  REQUIRE(features);
  REQUIRE(features->size() == 19);
  CHECK((*features)[0].id == 2897999);
  CHECK((*features)[0].feat_name == "CALLING_LINE_IDENTIFICATION_RESTRICTION");
  CHECK((*features)[10].id == 2898089);
  CHECK((*features)[10].feat_name == "CENTRAL_DND");
  CHECK((*features)[18].feat_name == "CALL_FORWARD_UNCONDITIONAL");
  CHECK((*features)[18].status.empty());  // absent in the stream
  CHECK_FALSE((*features)[18].active());

  // The seed's full CFU element, as the list holds it.
  auto list = parse_features("{\n\"features\" : [ " + data("user_feat_cfu_element.json") + " ]\n}");
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  const Feature& cfu = list->front();
  CHECK(cfu.id == 2898014);
  CHECK(cfu.user_id == 177059);
  CHECK(cfu.status == "ACTIVE");
  CHECK(cfu.active());
  CHECK(cfu.level == "USER");
  CHECK_FALSE(cfu.overriding_user_feature);
  CHECK_FALSE(cfu.time_table_active);
  CHECK(cfu.destination_uri == "0225117902@s1.431569.bus.ipvoip.ch");
  CHECK(cfu.condition == "ALWAYS");
}

TEST_CASE("GET feat/{id}: the seed's CFU in its three printings", "[api][parse]") {
  for (const char* name : {"feat_cfu.json", "feat_cfu_jq.json", "feat_cfu_jq_feature.json"}) {
    INFO(name);
    std::string error;
    auto f = parse_feature(data(name), &error);
    REQUIRE(f);
    CHECK(f->id == 2898014);
    CHECK(f->feat_name == "CALL_FORWARD_UNCONDITIONAL");
    CHECK(f->user_id == 177059);
    CHECK(f->status == "INACTIVE");
    CHECK_FALSE(f->active());
    CHECK(f->level == "USER");
    CHECK(f->destination_uri == "0225117902@s1.431569.bus.ipvoip.ch");
    CHECK(f->condition == "ALWAYS");
    // raw_json is the bare feature object, compact, every field kept (for the PUT).
    CHECK(f->raw_json.front() == '{');
    CHECK(f->raw_json.find("\"feature\"") == std::string::npos);
    CHECK(f->raw_json.find("\"destinationUriRepetition\":0") != std::string::npos);
    CHECK(f->raw_json.find("\"colpAllowed\":true") != std::string::npos);
    CHECK(f->raw_json.find('\n') == std::string::npos);
  }
  auto put = parse_feature(data("feat_cfu_put_answer.json"));
  REQUIRE(put);
  CHECK(put->status == "ACTIVE");
}

TEST_CASE("GET feat/{id}: the seed's DND", "[api][parse]") {
  auto f = parse_feature(data("feat_dnd.json"));
  REQUIRE(f);
  CHECK(f->id == 2898089);
  CHECK(f->feat_name == "CENTRAL_DND");
  CHECK(f->status == "INACTIVE");
  CHECK(f->condition == "ALWAYS");
  CHECK(f->destination_uri.empty());
  CHECK(f->raw_json ==
        "{\"id\":2898089,\"featName\":\"CENTRAL_DND\",\"userId\":177059,\"status\":\"INACTIVE\","
        "\"overridingUserFeature\":false,\"timeTableActive\":false,\"level\":\"USER\","
        "\"centralDndData\":{\"condition\":\"ALWAYS\",\"mode\":\"USER\"}}");
  auto put = parse_feature(data("feat_dnd_put_answer.json"));
  REQUIRE(put);
  CHECK(put->active());
}

TEST_CASE("the PUT body is the raw object with the changed fields applied", "[api][parse]") {
  auto f = parse_feature(data("feat_dnd.json"));
  REQUIRE(f);
  CHECK(to_json(*f) == f->raw_json);  // nothing changed: sent back as received

  Feature on = *f;
  on.status = "ACTIVE";
  auto echoed = parse_feature(to_json(on));
  REQUIRE(echoed);
  CHECK(echoed->status == "ACTIVE");
  CHECK(echoed->raw_json.find("\"mode\":\"USER\"") != std::string::npos);  // unknown fields kept

  // The typed fields win: raw_json edited on its own (the seed's sed s/INACTIVE/ACTIVE/) must be
  // parsed again so that both agree.
  Feature edited = *f;
  edited.raw_json.replace(edited.raw_json.find("INACTIVE"), 8, "ACTIVE");
  CHECK(parse_feature(to_json(edited))->status == "INACTIVE");
  auto reparsed = parse_feature(edited.raw_json);
  REQUIRE(reparsed);
  CHECK(parse_feature(to_json(*reparsed))->status == "ACTIVE");

  auto cfu = parse_feature(data("feat_cfu.json"));
  REQUIRE(cfu);
  cfu->destination_uri = "+41790000000";
  auto moved = parse_feature(to_json(*cfu));
  REQUIRE(moved);
  CHECK(moved->destination_uri == "+41790000000");
  CHECK(moved->raw_json.find("\"callForwardUnconditionalData\":{\"type\"") != std::string::npos);

  Feature bare;
  bare.id = 7;
  bare.status = "ACTIVE";
  auto built = parse_feature("{\"feature\":" + to_json(bare) + "}");
  REQUIRE(built);
  CHECK(built->id == 7);
  CHECK(built->active());
}

TEST_CASE("subscription POST answers from the seed", "[api][parse]") {
  auto features = parse_subscription(data("subscription_post_features_list.json"));
  REQUIRE(features);
  CHECK(features->id == "b014b9a4-99f8-4ef7-a83d-87d0606a6af5");
  CHECK(features->resource_type == "FEATURE");
  CHECK(features->resource_names ==
        std::vector<std::string>{"CALL_FORWARD_UNCONDITIONAL", "CALL_FORWARD_TIMEOUT"});
  CHECK(features->login_names == std::vector<std::string>{"+41215776366@m.ipvoip.ch"});
  CHECK(features->enterprise_names.empty());
  CHECK(features->user_ids.empty());
  CHECK(features->notification_url == "http://recovery.ipvoip.ch/openapi");
  CHECK(features->expires == "2024-11-06T00:00:00Z");
  CHECK(features->expires_epoch_ms == 1730851200000);
  CHECK(features->application_id == "71c177e5-7417-4265-b97f-4595016dceb8");

  auto ent = parse_subscription(data("subscription_post_ent_features.json"));
  REQUIRE(ent);
  CHECK(ent->id == "fc544ab6-590f-43be-9134-d37d93a22e4e");
  CHECK(ent->enterprise_names == std::vector<std::string>{"431569.bus.ent"});
  CHECK(ent->resource_names.empty());

  auto logs = parse_subscription(data("subscription_post_calllogs.json"));
  REQUIRE(logs);
  CHECK(logs->id == "dfaa8ef2-ac51-4883-ad40-92de788e142c");
  CHECK(logs->resource_type == "CALL_LOG");
  CHECK(logs->user_ids == std::vector<std::int64_t>{168382, 168386, 168390});
  CHECK(logs->expires_epoch_ms == parse_iso8601_ms("2024-09-29T00:00:00.000Z"));
}

TEST_CASE("subscription list from the seed", "[api][parse]") {
  auto list = parse_subscriptions(data("subscriptions_list.json"));
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK(list->front().id == "5b14a0bf-da8a-4c32-9979-1bc7017a3b84");
  CHECK(list->front().user_ids == std::vector<std::int64_t>{168382, 168386, 168390});
  CHECK(list->front().expires_epoch_ms == 1727568000000);

  auto empty = parse_subscriptions("{\n\"subscriptions\" : [ ]\n}");
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("the seed's CDR push", "[api][parse]") {
  auto body = parse_push_body(data("push_call_log.json"));
  REQUIRE(body);
  CHECK(body->subscription_id == "dfaa8ef2-ac51-4883-ad40-92de788e142c");
  CHECK(body->feature_events.empty());
  CHECK(body->invalid_events == 0);
  CHECK(body->unknown_event_kinds.empty());
  REQUIRE(body->call_log_events.size() == 1);
  const auto& ev = body->call_log_events.front();
  CHECK(ev.change_type == "CREATED");
  CHECK(ev.event_time == "2024-09-27T17:26:53.273+02:00");
  CHECK(ev.context.user_id == 168382);
  CHECK(ev.context.user_name == "+41225662195@m.ipvoip.ch");
  CHECK(ev.context.enterprise_name == "291908.bus.ent");
  CHECK(ev.context.enterprise_id == 16317);
  REQUIRE(ev.call_log);
  const CallLog& c = *ev.call_log;
  CHECK(c.id == "741f1e6a-8fb1-441e-9e0c-e57c68246d5d");
  CHECK(c.user_id == 168382);
  CHECK(c.call_start == "2024-09-27T15:26:45Z");
  CHECK(c.call_start_epoch_ms == 1727450805000);
  CHECK(c.duration == 7);
  CHECK(c.direction == "OUTGOING");
  CHECK(c.call_type == "VOICE");
  CHECK(c.status == 804);
  CHECK(c.call_party_number == "+41225117902");
}

TEST_CASE("the seed's FEATURE push", "[api][parse]") {
  auto body = parse_push_body(data("push_feature.json"));
  REQUIRE(body);
  CHECK(body->subscription_id == "fc544ab6-590f-43be-9134-d37d93a22e4e");
  REQUIRE(body->feature_events.size() == 1);
  const auto& ev = body->feature_events.front();
  CHECK(ev.change_type == "MODIFIED");
  REQUIRE(ev.feature);
  REQUIRE(ev.previous_value);
  CHECK(ev.feature->feat_name == "CENTRAL_DND");
  CHECK(ev.feature->active());
  CHECK_FALSE(ev.previous_value->active());
  CHECK(ev.event_time == "2024-11-04T12:38:54.753+01:00");
  CHECK(ev.context.user_id == 177059);
  CHECK(ev.context.user_name == "+41215776366@m.ipvoip.ch");
  CHECK(ev.context.enterprise_name == "431569.bus.ent");
  CHECK(ev.context.enterprise_id == 15198);
}

TEST_CASE("push bodies: presence, unknown kinds, invalid entries", "[api][parse]") {
  auto body = parse_push_body(R"({
    "subscriptionId" : "s1",
    "presenceEvents" : [ {
      "changeType" : "MODIFIED",
      "presence" : { "userId" : "176125", "status" : "BUSY" },
      "previousValue" : { "userId" : 176125, "status" : "IDLE" },
      "eventTime" : "2024-11-04T12:38:54.753+01:00",
      "context" : { "user" : { "id" : 176125, "name" : "+41225662194@m.ipvoip.ch" } }
    }, 42, "x", null ],
    "callLogEvents" : [ { "changeType" : "CREATED" } ],
    "voicemailEvents" : [ { "changeType" : "CREATED" } ],
    "somethingElse" : { "a" : 1 }
  })");
  REQUIRE(body);
  REQUIRE(body->presence_events.size() == 1);
  const auto& ev = body->presence_events.front();
  REQUIRE(ev.presence);
  CHECK(ev.presence->user_id == 176125);
  CHECK(ev.presence->status == "BUSY");
  CHECK(ev.previous_value->status == "IDLE");
  CHECK(ev.context.user_id == 176125);
  CHECK(ev.context.enterprise_name.empty());
  CHECK(body->invalid_events == 3);
  REQUIRE(body->call_log_events.size() == 1);
  CHECK_FALSE(body->call_log_events.front().call_log);  // absent: the consumer counts it invalid
  CHECK(body->unknown_event_kinds == std::vector<std::string>{"voicemailEvents"});

  auto odd = parse_push_body(R"({"featureEvents": {"not": "an array"}})");
  REQUIRE(odd);
  CHECK(odd->invalid_events == 1);
  CHECK(odd->subscription_id.empty());
}

TEST_CASE("presence and call logs (assumed shapes)", "[api][parse]") {
  auto p = parse_presence("{\n\"presence\" : {\n\"userId\" : 176125,\n\"status\" : \"IDLE\"\n}\n}");
  REQUIRE(p);
  CHECK(p->user_id == 176125);
  CHECK(p->status == "IDLE");
  CHECK(parse_presence(R"({"userId":1,"status":"AWAY"})")->status == "AWAY");  // bare object

  auto logs = parse_call_logs(R"({"callLogs":[
      {"id":"a","userId":"168382","callStart":"2024-09-27T15:26:45Z","duration":"12",
       "direction":"INCOMING","callType":"VOICE","status":"804","callPartyNumber":"+41"},
      {"id":17,"duration":0,"direction":"SOMETHING_NEW"},
      "junk"]})");
  REQUIRE(logs);
  REQUIRE(logs->size() == 2);
  CHECK((*logs)[0].user_id == 168382);
  CHECK((*logs)[0].duration == 12);
  CHECK((*logs)[0].status == 804);
  CHECK((*logs)[1].id == "17");
  CHECK((*logs)[1].direction == "SOMETHING_NEW");
  CHECK_FALSE((*logs)[1].status.has_value());
  CHECK((*logs)[1].call_start_epoch_ms == 0);
  CHECK(parse_call_logs(R"({"callLogs":[]})")->empty());
  CHECK(parse_call_logs("{}")->empty());  // absent: no calls
}

TEST_CASE("absent and extra fields are tolerated", "[api][parse]") {
  auto info =
      parse_server_info(R"({"buildVersion":"7.8.0.1","newField":{"x":[1,2]},"buildNumber":3})");
  REQUIRE(info);
  CHECK(info->build_version == "7.8.0.1");
  CHECK(info->build_number == "3");  // a number where the seed has a string
  CHECK(info->build_customer.empty());
  CHECK(info->bulk_limit_common == 0);

  auto f = parse_feature(R"({"feature":{"id":"2898089","status":"SOME_FUTURE_STATE",
      "overridingUserFeature":"true","fooData":{"destinationUri":"x@y"},"barData":7}})");
  REQUIRE(f);
  CHECK(f->id == 2898089);
  CHECK(f->status == "SOME_FUTURE_STATE");
  CHECK_FALSE(f->active());
  CHECK(f->overriding_user_feature);
  CHECK(f->destination_uri == "x@y");
  CHECK(f->feat_name.empty());

  auto s = parse_subscription(R"({"subscription":{"id":"x","userIds":["1",2,"bad",null]}})");
  REQUIRE(s);
  CHECK(s->user_ids == std::vector<std::int64_t>{1, 2});
  CHECK(s->expires_epoch_ms == 0);
}

TEST_CASE("wrongly typed top levels are errors", "[api][parse]") {
  std::string error;
  CHECK_FALSE(parse_server_info("[]", &error));
  CHECK_FALSE(error.empty());
  error.clear();
  CHECK_FALSE(parse_server_info("not json", &error));
  CHECK(error.find("invalid JSON") != std::string::npos);
  CHECK_FALSE(parse_server_info(""));
  CHECK_FALSE(parse_features(R"({"features":{"id":1}})", &error));
  CHECK(error.find("features") != std::string::npos);
  CHECK_FALSE(parse_features("\"features\""));
  CHECK_FALSE(parse_feature(R"({"feature":[1]})"));
  CHECK_FALSE(parse_feature(R"({"other":{}})"));
  CHECK_FALSE(parse_feature("42"));
  CHECK_FALSE(parse_presence(R"({"presence":"IDLE"})"));
  CHECK_FALSE(parse_call_logs(R"({"callLogs":"none"})"));
  CHECK_FALSE(parse_subscriptions(R"({"subscriptions":null, "x":1} trailing)"));
  CHECK_FALSE(parse_subscriptions(R"({"subscriptions":{}})"));
  CHECK_FALSE(parse_subscription(R"({"subscription":"x"})"));
  CHECK_FALSE(parse_push_body(R"(["featureEvents"])"));
  CHECK_FALSE(parse_push_body(R"({"featureEvents":[)"));
}

TEST_CASE("ISO 8601 as the API writes it", "[api][parse]") {
  CHECK(parse_iso8601_ms("2024-09-27T15:26:45Z") == 1727450805000);
  CHECK(parse_iso8601_ms("2024-09-27T17:26:45+02:00") == 1727450805000);
  CHECK(parse_iso8601_ms("2024-09-27T17:26:45+0200") == 1727450805000);
  CHECK(parse_iso8601_ms("2024-09-27T13:26:45-02:00") == 1727450805000);
  CHECK(parse_iso8601_ms("2024-11-04T12:38:54.753+01:00") == 1730720334753);
  CHECK(parse_iso8601_ms("2024-09-27T08:43:43.76913Z") == 1727426623769);
  CHECK(parse_iso8601_ms("2024-11-04T12:31:12.329907+01:00") == 1730719872329);
  CHECK(parse_iso8601_ms("2024-11-06T00:00:00.000Z") == 1730851200000);
  CHECK(parse_iso8601_ms("2024-09-27T15:26:45.5Z") == 1727450805500);
  CHECK(parse_iso8601_ms("2024-09-27 15:26:45Z") == 1727450805000);
  CHECK(parse_iso8601_ms("2024-09-27T15:26:45") == 1727450805000);  // no offset: UTC
  CHECK(parse_iso8601_ms("2024-09-27") == 1727395200000);
  CHECK(parse_iso8601_ms("2024-02-29T00:00:00Z").has_value());
  CHECK(parse_iso8601_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_iso8601_ms("1969-12-31T23:59:59.999Z") == -1);

  for (const char* bad : {"", "2024", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2024-09-27T25:00:00Z", "2024-09-27T15:26:45X", "2024-09-27T15:26:45+2",
                          "2024-09-27T15:26:45.Z", "2024-09-27T15:26:45Zjunk", "27.09.2024"}) {
    INFO(bad);
    CHECK_FALSE(parse_iso8601_ms(bad).has_value());
  }

  CHECK(format_iso8601_ms(1730851200000) == "2024-11-06T00:00:00.000Z");
  CHECK(format_iso8601_ms(1730720334753) == "2024-11-04T11:38:54.753Z");
  CHECK(format_iso8601_ms(-1) == "1969-12-31T23:59:59.999Z");
  for (std::int64_t ms : {0LL, 951782400123LL, 1727450805000LL, 4102444800000LL}) {
    CHECK(parse_iso8601_ms(format_iso8601_ms(ms)) == ms);
  }
}

TEST_CASE("to_json writes the seed's subscription POST shapes", "[api][parse]") {
  SubscriptionRequest features;
  features.expires = "2024-11-06T00:00:00.000Z";
  features.notification_url = "http://recovery.ipvoip.ch/openapi";
  features.resource_type = "FEATURE";
  features.resource_names = {"CALL_FORWARD_UNCONDITIONAL", "CALL_FORWARD_TIMEOUT"};
  features.login_names = {"+41215776366@m.ipvoip.ch"};
  CHECK(
      to_json(features) ==
      R"({"expires":"2024-11-06T00:00:00.000Z","notificationUrl":"http://recovery.ipvoip.ch/openapi",)"
      R"("resourceType":"FEATURE","resourceNames":["CALL_FORWARD_UNCONDITIONAL","CALL_FORWARD_TIMEOUT"],)"
      R"("loginNames":["+41215776366@m.ipvoip.ch"]})");

  SubscriptionRequest ent;
  ent.expires = "2024-11-06T00:00:00.000Z";
  ent.notification_url = "http://recovery.ipvoip.ch/openapi";
  ent.resource_type = "FEATURE";
  ent.enterprise_names = {"431569.bus.ent"};
  CHECK(
      to_json(ent) ==
      R"({"expires":"2024-11-06T00:00:00.000Z","notificationUrl":"http://recovery.ipvoip.ch/openapi",)"
      R"("resourceType":"FEATURE","enterpriseNames":["431569.bus.ent"]})");

  SubscriptionRequest logs;
  logs.expires = "2024-09-29T00:00:00.000Z";
  logs.notification_url = "http://recovery.ipvoip.ch/openapi";
  logs.resource_type = "CALL_LOG";
  logs.user_ids = {168382, 168386, 168390};
  CHECK(
      to_json(logs) ==
      R"({"expires":"2024-09-29T00:00:00.000Z","notificationUrl":"http://recovery.ipvoip.ch/openapi",)"
      R"("resourceType":"CALL_LOG","userIds":[168382,168386,168390]})");

  // Same content as the seed's request files once whitespace is gone.
  auto squash = [](std::string s) {
    std::string out;
    bool in_string = false;
    for (char c : s) {
      if (c == '"') in_string = !in_string;
      if (!in_string && (c == ' ' || c == '\n' || c == '\r')) continue;
      out += c;
    }
    return out;
  };
  CHECK(to_json(features) == squash(data("subscription_request_features_list.json")));
  CHECK(to_json(ent) == squash(data("subscription_request_ent_features.json")));
  CHECK(to_json(logs) == squash(data("subscription_request_calllogs.json")));

  SubscriptionRequest escaped;
  escaped.notification_url = "https://x/webhook/a\"b";
  CHECK(to_json(escaped).find(R"(a\"b)") != std::string::npos);
}

TEST_CASE("deeply nested input is refused without exhausting the stack", "[api][parse]") {
  // The recursive parser would need a stack frame per level; 200,000 levels overflow 8 MiB.
  const std::string deep(200000, '[');
  std::string error;
  CHECK_FALSE(vpbx::api::parse_push_body(deep, &error).has_value());
  CHECK_FALSE(error.empty());
  CHECK_FALSE(vpbx::api::parse_features(std::string(200000, '{'), &error).has_value());
}

namespace {

// A push with one call log whose "duration" is `duration` and "id" is `id`, both as JSON text.
std::string call_log_push(const std::string& duration, const std::string& id = "\"c1\"") {
  return R"({"subscriptionId":"s1","callLogEvents":[{"changeType":"CREATED","callLog":{"id":)" +
         id + R"(,"userId":168382,"duration":)" + duration +
         R"(,"direction":"OUTGOING"},"context":{"user":{"id":168382,"name":"+41225662195@m.ipvoip.ch"},"enterprise":{"id":16317,"name":"291908.bus.ent"}}}]})";
}

std::string quoted(const std::string& text) {
  return "\"" + text + "\"";
}

}  // namespace

TEST_CASE("a call log's duration must be whole seconds in range, or it is flagged, not clamped",
          "[api][parse][limits]") {
  const auto problem_of = [](const std::string& duration) -> const char* {
    const auto body = parse_push_body(call_log_push(duration));
    REQUIRE(body);
    REQUIRE(body->call_log_events.size() == 1);
    REQUIRE(body->call_log_events[0].call_log);
    return call_log_problem(*body->call_log_events[0].call_log);
  };
  for (const std::string ok : {"7", "0", "7.0", "\"12\"", "\" 12 \"", "null", "604800"}) {
    INFO(ok);
    CHECK(problem_of(ok) == nullptr);
  }
  // -7 used to be clamped to a 0 s call, counted.
  for (const std::string bad :
       {"-7", "-1", "\"-7\"", "7.5", "\"NaN\"", "\"nan\"", "\"Infinity\"", "\"7s\"", "\"\"", "true",
        "[7]", "{}", "604801", "1e300", "-1e300", "9223372036854775807", "18446744073709551615"}) {
    INFO(bad);
    CHECK(problem_of(bad) != nullptr);
  }
  const auto negative = parse_push_body(call_log_push("-7"));
  CHECK(negative->call_log_events[0].call_log->duration == 0);  // nothing downstream sees -7
  // Absent is a call of 0 s, as before.
  const auto absent = parse_call_logs(R"({"callLogs":[{"id":"a","userId":1}]})");
  REQUIRE(absent);
  CHECK(call_log_problem(absent->front()) == nullptr);
  CHECK(absent->front().duration == 0);
  // Polling parses with the same rules.
  const auto polled = parse_call_logs(R"({"callLogs":[{"id":"a","duration":-7},{"id":"b"}]})");
  REQUIRE(polled);
  REQUIRE(polled->size() == 2);
  CHECK(call_log_problem((*polled)[0]) != nullptr);
  CHECK(call_log_problem((*polled)[1]) == nullptr);
  // Numbers RapidJSON cannot hold, and NaN, are not JSON: the whole body is refused.
  std::string error;
  CHECK_FALSE(parse_push_body(call_log_push("1e400"), &error));
  CHECK(error.find("invalid JSON") == 0);
  CHECK_FALSE(parse_push_body(call_log_push("NaN")));
  CHECK_FALSE(parse_push_body(call_log_push("-Infinity")));
}

TEST_CASE("ids, names and states past their bounds are flagged", "[api][parse][limits]") {
  const std::string mb(1000000, 'x');
  const auto call_problem = [](const std::string& id) -> const char* {
    const auto body = parse_push_body(call_log_push("7", id));
    REQUIRE(body);
    REQUIRE(body->call_log_events[0].call_log);
    return call_log_problem(*body->call_log_events[0].call_log);
  };
  CHECK(call_problem(quoted(std::string(kMaxIdBytes, 'a'))) == nullptr);
  CHECK(call_problem("17") == nullptr);  // a number is its digits
  CHECK(call_problem(quoted(std::string(kMaxIdBytes + 1, 'a'))) != nullptr);
  CHECK(call_problem(quoted(mb)) != nullptr);
  CHECK(call_problem(quoted("")) != nullptr);
  CHECK(call_problem("null") != nullptr);
  CHECK(call_problem(quoted("a\\nb")) != nullptr);      // control characters, as escapes
  CHECK(call_problem(quoted("a\\u0000b")) != nullptr);  // an embedded NUL
  CHECK(call_problem(quoted("a\\u007fb")) != nullptr);
  CHECK(call_problem(quoted("caf\xc3\xa9-\xe2\x82\xac")) == nullptr);  // UTF-8 is fine

  CallLog c;
  c.id = "ok";
  CHECK(call_log_problem(c) == nullptr);
  c.user_id = -1;
  CHECK(call_log_problem(c) != nullptr);
  c.user_id = 1;
  c.call_party_number = mb;
  CHECK(call_log_problem(c) != nullptr);
  c.call_party_number.clear();
  c.duration = -7;  // built by hand, not parsed: checked all the same
  CHECK(call_log_problem(c) != nullptr);

  Feature f;
  f.feat_name = "CENTRAL_DND";
  f.status = "ACTIVE";
  CHECK(feature_problem(f) == nullptr);
  f.feat_name = std::string(kMaxNameBytes, 'F');
  CHECK(feature_problem(f) == nullptr);
  f.feat_name += 'F';
  CHECK(feature_problem(f) != nullptr);
  f.feat_name = "";
  CHECK(feature_problem(f) != nullptr);
  f.feat_name = "CALL_FORWARD_UNCONDITIONAL";
  f.status = mb;
  CHECK(feature_problem(f) != nullptr);
  f.status = "ACTIVE";
  f.destination_uri = std::string(kMaxUriBytes + 1, 'd');
  CHECK(feature_problem(f) != nullptr);
  f.destination_uri = "0225117902@s1.431569.bus.ipvoip.ch";
  CHECK(feature_problem(f) == nullptr);

  Presence p;
  CHECK(presence_problem(p) != nullptr);  // no status
  p.status = "IDLE";
  CHECK(presence_problem(p) == nullptr);
  p.status = mb;
  CHECK(presence_problem(p) != nullptr);
  p.status = "ID\tLE";
  CHECK(presence_problem(p) != nullptr);

  EventContext context;
  CHECK(context_problem(context) == nullptr);  // absent is fine
  context.user_name = mb;
  CHECK(context_problem(context) != nullptr);
  context.user_name = "+41225662195@m.ipvoip.ch";
  context.enterprise_name = std::string(kMaxNameBytes + 1, 'e');
  CHECK(context_problem(context) != nullptr);
  context.enterprise_name = "291908.bus.ent";
  context.user_id = -1;
  CHECK(context_problem(context) != nullptr);

  // The parsed events carry what the checks need.
  const auto body =
      parse_push_body(R"({"featureEvents":[{"feature":{"featName":")" + mb +
                      R"(","status":"ACTIVE"}}],"presenceEvents":[{"presence":{"status":")" + mb +
                      R"("},"context":{"user":{"id":1,"name":")" + mb + R"("}}}]})");
  REQUIRE(body);
  CHECK(feature_problem(*body->feature_events[0].feature) != nullptr);
  CHECK(presence_problem(*body->presence_events[0].presence) != nullptr);
  CHECK(context_problem(body->presence_events[0].context) != nullptr);

  // A body's own id: refused whole, like any malformed body.
  std::string error;
  CHECK(parse_push_body(R"({"subscriptionId":")" + std::string(kMaxIdBytes, 's') +
                        R"(","callLogEvents":[]})"));
  CHECK_FALSE(parse_push_body(R"({"subscriptionId":")" + mb + R"(","callLogEvents":[]})", &error));
  CHECK(error.find("subscriptionId") != std::string::npos);
  CHECK_FALSE(parse_push_body(R"({"subscriptionId":"a\nb","callLogEvents":[]})"));
}

TEST_CASE("invalid UTF-8 anywhere refuses the whole text, API responses and pushes alike",
          "[api][parse][limits]") {
  for (const std::string bad :
       {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "caf\xe9"}) {
    INFO(static_cast<int>(static_cast<unsigned char>(bad[0])));
    std::string error;
    CHECK_FALSE(parse_push_body(call_log_push("7", quoted("id-" + bad)), &error));
    CHECK(error.find("invalid JSON") == 0);
    CHECK_FALSE(parse_call_logs(R"({"callLogs":[{"id":"a","direction":")" + bad + "\"}]}"));
    CHECK_FALSE(parse_features(R"({"features":[{"featName":")" + bad + "\"}]}"));
    CHECK_FALSE(parse_presence(R"({"presence":{"status":")" + bad + "\"}}"));
  }
  CHECK_FALSE(parse_push_body(call_log_push("7", quoted("\\ud800"))));  // a lone surrogate
  // A lone low one, which RapidJSON decodes to bytes that are not UTF-8, a high one followed by
  // anything but a low one, and a low one first: refused like the bytes they stand for.
  for (const std::string bad :
       {"\\udc00", "a\\uDFFFb", "\\ud800\\u0041", "\\udbff\\ud800", "\\udc00\\ud800"}) {
    INFO(bad);
    std::string error;
    CHECK_FALSE(parse_push_body(call_log_push("7", quoted(bad)), &error));
    CHECK(error == "invalid JSON: invalid UTF-8");
    CHECK_FALSE(parse_features(R"({"features":[{"featName":")" + bad + "\"}]})"));
  }
  CHECK(parse_push_body(call_log_push("7", quoted("\\ud83d\\ude00"))));  // a pair: U+1F600
  CHECK(parse_push_body(call_log_push("7", quoted("\\\\udc00"))));       // a backslash, then text
  CHECK(parse_push_body(call_log_push("7", quoted("\\u00e9\xf0\x9f\x98\x80"))));
}

TEST_CASE("UTF-8 and escapes are checked wherever they fall against 8-byte words", "[api][parse]") {
  // is_valid_utf8 skips plain ASCII eight bytes at a time: a fault must be found at any offset.
  for (std::size_t pad = 0; pad <= 17; ++pad) {
    INFO(pad);
    const std::string ascii(pad, 'a');
    CHECK(is_valid_utf8(ascii + "caf\xc3\xa9" + ascii));
    CHECK(is_valid_utf8(ascii + "\\\\udc00" + ascii));  // an escaped backslash, then text
    CHECK_FALSE(is_valid_utf8(ascii + "\xff" + ascii));
    CHECK_FALSE(is_valid_utf8(ascii + "\xe2\x82" + ascii));  // cut short
    CHECK_FALSE(is_valid_utf8(ascii + "\\udc00" + ascii));   // a lone low surrogate
    CHECK_FALSE(is_valid_utf8(ascii + "\\ud800"));           // a high one at the very end
  }
}

TEST_CASE("an object with a key twice refuses the whole text", "[api][parse][limits]") {
  std::string error;
  // Two event lists: both used to be applied, while other keys took the first.
  CHECK_FALSE(parse_push_body(R"({"callLogEvents":[],"callLogEvents":[]})", &error));
  CHECK(error.find("twice") != std::string::npos);
  CHECK_FALSE(parse_push_body(R"({"subscriptionId":"a","subscriptionId":"b","callLogEvents":[]})"));
  CHECK_FALSE(parse_push_body(call_log_push("7, \"duration\": -7")));  // nested in the callLog
  CHECK_FALSE(parse_push_body(call_log_push("7", "\"a\", \"id\": \"b\"")));
  CHECK_FALSE(parse_features(R"({"features":[{"featName":"A","status":"ACTIVE","status":"X"}]})"));
  CHECK_FALSE(parse_call_logs(R"({"callLogs":[],"callLogs":[{"id":"a"}]})"));
  CHECK_FALSE(parse_server_info(R"({"buildVersion":"1","buildVersion":"2"})"));
  // The same key in different objects is no duplicate.
  CHECK(parse_push_body(R"({"callLogEvents":[{"callLog":{"id":"a"}},{"callLog":{"id":"b"}}]})"));
  // Many keys: sorted, not compared pairwise, so 100 000 keys parse at once.
  std::string many = "{";
  for (int i = 0; i < 100000; ++i) many += "\"k" + std::to_string(i) + "\":1,";
  CHECK(parse_server_info(many + "\"buildVersion\":\"1\"}"));
  CHECK_FALSE(parse_server_info(many + "\"k5\":2}"));
}

TEST_CASE("documents nested past kMaxJsonNesting are refused, closed or not", "[api][parse]") {
  const auto nested = [](std::size_t levels) {
    return R"({"features":[{"featName":"A","fooData":)" + std::string(levels, '[') +
           std::string(levels, ']') + "}]}";
  };
  CHECK(parse_features(nested(kMaxJsonNesting - 3)));  // object, features, feature, then these
  std::string error;
  CHECK_FALSE(parse_features(nested(kMaxJsonNesting), &error));
  CHECK(error.find("nested") != std::string::npos);
  // Closed, 200 000 levels: parsed iteratively, then refused before anything recurses over it.
  CHECK_FALSE(parse_features(nested(200000)));
}
