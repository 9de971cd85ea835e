// subscriptions list | delete ID | delete --foreign | delete --all. The exporter's own are those
// whose notificationUrl is its webhook (as its subscription manager decides); the webhook token
// in that URL is a secret and never printed.
#include "ctl/context.h"
#include "exporter/subscriptions/plan.h"

namespace vpbx::ctl {
namespace {

// Empty when the config does not say where the exporter receives pushes.
std::string our_url(const Context& ctx) {
  if (ctx.config.webhook.public_url.empty()) return {};
  return config::notification_url(ctx.config.webhook);
}

std::string shown_url(const Context& ctx, const std::string& url) {
  std::string out = url;
  const std::string& token = ctx.config.webhook.token;
  if (!token.empty()) {
    for (auto at = out.find(token); at != std::string::npos; at = out.find(token, at)) {
      out.replace(at, token.size(), "<token>");
    }
  }
  return printable(out);
}

int list(Context& ctx, const Args& args) {
  const Format format = ctx.format(args, {Format::table, Format::json});
  const auto subs = ctx.client->list_subscriptions();
  if (!subs.ok()) {
    ctx.err << "vpbxctl: subscriptions: " << failure(subs) << "\n";
    return kExitPlatform;
  }
  const std::string ours = our_url(ctx);
  if (format == Format::json) {
    Json json;
    json.w().StartObject();
    json.key("subscriptions");
    json.w().StartArray();
    for (const auto& s : *subs.value) {
      json.w().StartObject();
      json.field("id", s.id);
      json.field("resourceType", s.resource_type);
      json.field("scope", subscriptions::describe_scope(s));
      json.field("expires", s.expires);
      json.field("notificationUrl", shown_url(ctx, s.notification_url));
      json.field("exporter", !ours.empty() && s.notification_url == ours);
      json.w().EndObject();
    }
    json.w().EndArray();
    json.w().EndObject();
    ctx.out << json.text();
    return kExitOk;
  }
  Table table({"ID", "TYPE", "SCOPE", "EXPIRES", "OWNER", "NOTIFICATION URL"});
  for (const auto& s : *subs.value) {
    table.add({printable(s.id), printable(s.resource_type),
               printable(subscriptions::describe_scope(s)), printable(s.expires),
               !ours.empty() && s.notification_url == ours ? "exporter" : "other",
               shown_url(ctx, s.notification_url)});
  }
  table.print(ctx.out);
  if (ours.empty()) {
    ctx.err << "vpbxctl: the config has no webhook.public_url: no subscription can be told to be "
               "the exporter's\n";
  }
  return kExitOk;
}

int remove(Context& ctx, const std::vector<std::string>& ids) {
  int code = kExitOk;
  for (const auto& id : ids) {
    const auto deleted = ctx.client->delete_subscription(id);
    if (!deleted.ok()) {
      ctx.err << "vpbxctl: subscription " << printable(id) << ": " << failure(deleted) << "\n";
      code = kExitPlatform;
    } else {
      ctx.out << "deleted " << printable(id) << (*deleted.value ? "" : " (it was already gone)")
              << "\n";
    }
  }
  return code;
}

}  // namespace

int cmd_subscriptions(Context& ctx, const Args& args) {
  allow_only(args, {"--foreign", "--all", "--dry-run"});
  const auto operands = args.operands();
  const std::string action = operands.empty() ? "list" : operands[0];
  if (action == "list") {
    if (args.has("--foreign") || args.has("--all") || args.has("--dry-run")) {
      throw UsageError("subscriptions list takes no options but --format");
    }
    expect_operands(args, 0, 1);
    return list(ctx, args);
  }
  if (action != "delete") {
    throw UsageError("subscriptions: expected list or delete, got \"" + printable(action, 40) +
                     "\"");
  }
  const bool foreign = args.has("--foreign"), all = args.has("--all");
  if ((operands.size() == 2) + foreign + all != 1 || operands.size() > 2) {
    throw UsageError("usage: vpbxctl subscriptions delete ID|--foreign|--all");
  }
  if (operands.size() == 2) {
    if (args.has("--dry-run"))
      throw UsageError("subscriptions delete ID: --dry-run is for --foreign/--all");
    return remove(ctx, {operands[1]});
  }
  const std::string ours = our_url(ctx);
  if (foreign && ours.empty()) {
    throw UsageError(
        "subscriptions delete --foreign: the config has no webhook.public_url, so the exporter's "
        "own cannot be told from the others; delete them by ID or with --all");
  }
  const auto subs = ctx.client->list_subscriptions();
  if (!subs.ok()) {
    ctx.err << "vpbxctl: subscriptions: " << failure(subs) << "\n";
    return kExitPlatform;
  }
  std::vector<std::string> ids;
  for (const auto& s : *subs.value) {
    if (all || s.notification_url != ours) ids.push_back(s.id);
  }
  if (ids.empty()) ctx.out << "no subscription to delete\n";
  if (args.has("--dry-run")) {
    for (const auto& id : ids) ctx.out << "would delete " << printable(id) << "\n";
    return kExitOk;
  }
  return remove(ctx, ids);
}

}  // namespace vpbx::ctl
