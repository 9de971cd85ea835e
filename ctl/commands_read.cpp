// The read commands: server, users, features USER, presence USER.
#include "ctl/context.h"
#include "ctl/feature_change.h"
#include "exporter/state/presence_state.h"

namespace vpbx::ctl {
namespace {

void write_user_json(Json& json, const KnownUser& u) {
  json.w().StartObject();
  json.field("userId", u.user_id);
  json.field("login", u.login);
  json.field("number", u.number);
  json.field("name", u.name);
  json.field("enterprise", u.enterprise);
  json.field("source", u.source);
  json.w().EndObject();
}

}  // namespace

int cmd_server(Context& ctx, const Args& args) {
  allow_only(args, {});
  expect_operands(args, 0, 0);
  const Format format = ctx.format(args, {Format::table, Format::json});
  const auto server = ctx.client->get_server_info();
  if (!server.ok()) {
    ctx.err << "vpbxctl: server: " << failure(server) << "\n";
    return kExitPlatform;
  }
  const api::ServerInfo& s = *server.value;
  if (format == Format::json) {
    Json json;
    json.w().StartObject();
    json.field("buildCustomer", s.build_customer);
    json.field("buildVersion", s.build_version);
    json.field("buildNumber", s.build_number);
    json.field("buildDate", s.build_date);
    json.field("bulkLimitCommon", s.bulk_limit_common);
    json.field("bulkLimitAddUser", s.bulk_limit_add_user);
    json.field("bulkLimitAddAddressBookEntry", s.bulk_limit_add_address_book_entry);
    json.w().EndObject();
    ctx.out << json.text();
    return kExitOk;
  }
  Table table({"FIELD", "VALUE"});
  table.add({"buildVersion", printable(s.build_version)});
  table.add({"buildNumber", printable(s.build_number)});
  table.add({"buildCustomer", printable(s.build_customer)});
  table.add({"buildDate", printable(s.build_date)});
  table.add({"bulkLimitCommon", std::to_string(s.bulk_limit_common)});
  table.add({"bulkLimitAddUser", std::to_string(s.bulk_limit_add_user)});
  table.add({"bulkLimitAddAddressBookEntry", std::to_string(s.bulk_limit_add_address_book_entry)});
  table.print(ctx.out);
  return kExitOk;
}

int cmd_users(Context& ctx, const Args& args) {
  allow_only(args, {});
  expect_operands(args, 0, 0);
  const Format format = ctx.format(args, {Format::table, Format::json});
  if (format == Format::json) {
    Json json;
    json.w().StartObject();
    json.key("users");
    json.w().StartArray();
    for (const auto& u : ctx.users.users) write_user_json(json, u);
    json.w().EndArray();
    json.w().EndObject();
    ctx.out << json.text();
    return kExitOk;
  }
  Table table({"ID", "LOGIN", "NUMBER", "NAME", "ENTERPRISE", "SOURCE"});
  for (const auto& u : ctx.users.users) {
    table.add({std::to_string(u.user_id), printable(u.login), printable(u.number),
               printable(u.name), printable(u.enterprise), u.source});
  }
  table.print(ctx.out);
  return kExitOk;
}

int cmd_features(Context& ctx, const Args& args) {
  allow_only(args, {});
  expect_operands(args, 1, 1);
  const Format format = ctx.format(args, {Format::table, Format::json});
  const KnownUser user = ctx.user(args.operands()[0]);
  const auto features = ctx.client->get_user_features(user.user_id);
  if (!features.ok()) {
    ctx.err << "vpbxctl: " << user.display() << ": cannot read the features: " << failure(features)
            << "\n";
    return kExitPlatform;
  }
  if (format == Format::json) {
    Json json;
    json.w().StartObject();
    json.key("user");
    write_user_json(json, user);
    json.key("features");
    json.w().StartArray();
    for (const auto& f : *features.value) {
      json.w().StartObject();
      json.field("id", f.id);
      json.field("featName", f.feat_name);
      json.field("status", f.status);
      if (!f.destination_uri.empty()) json.field("destinationUri", f.destination_uri);
      json.w().EndObject();
    }
    json.w().EndArray();
    json.w().EndObject();
    ctx.out << json.text();
    return kExitOk;
  }
  ctx.out << user.display() << "\n";
  Table table({"ID", "FEATURE", "STATUS", "DESTINATION"});
  for (const auto& f : *features.value) {
    table.add({std::to_string(f.id), printable(f.feat_name), printable(f.status),
               f.feat_name.starts_with("CALL_FORWARD_") ? printable(f.destination_uri) : ""});
  }
  table.print(ctx.out);
  return kExitOk;
}

int cmd_presence(Context& ctx, const Args& args) {
  allow_only(args, {});
  expect_operands(args, 1, 1);
  const Format format = ctx.format(args, {Format::table, Format::json});
  const KnownUser user = ctx.user(args.operands()[0]);
  const auto presence = ctx.client->get_presence(user.user_id);
  if (!presence.ok()) {
    ctx.err << "vpbxctl: " << user.display() << ": cannot read the presence: " << failure(presence)
            << "\n";
    return kExitPlatform;
  }
  // The exporter's own mapping, so that the state matches vpbx_user_presence.
  const state::PresenceMap map(ctx.config.presence.state_map);
  const std::string state(state::to_string(map.map(presence.value->status)));
  if (format == Format::json) {
    Json json;
    json.w().StartObject();
    json.key("user");
    write_user_json(json, user);
    json.field("status", presence.value->status);
    json.field("state", state);
    json.w().EndObject();
    ctx.out << json.text();
    return kExitOk;
  }
  Table table({"USER", "STATUS", "STATE"});
  table.add({user.display(), printable(presence.value->status), state});
  table.print(ctx.out);
  return kExitOk;
}

}  // namespace vpbx::ctl
