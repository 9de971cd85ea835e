// The changing commands: dnd, cfu and the generic feature, for one user or --all-users.
#include <algorithm>
#include <cctype>

#include "ctl/bulk.h"
#include "ctl/context.h"
#include "ctl/feature_change.h"

namespace vpbx::ctl {
namespace {

struct Targets {
  std::vector<KnownUser> users;
  std::vector<std::string> rest;  // the operands after USER
};

Targets targets(const Context& ctx, const Args& args) {
  Targets t;
  std::vector<std::string> operands = args.operands();
  if (args.has("--all-users")) {
    t.users = ctx.users.users;
    if (t.users.empty()) {
      throw UsageError(args.command() +
                       " --all-users: the config lists no users and the exporter discovered none");
    }
    t.rest = std::move(operands);
    return t;
  }
  if (operands.empty()) throw UsageError(args.command() + ": missing USER (or --all-users)");
  t.users.push_back(ctx.user(operands.front()));
  t.rest.assign(operands.begin() + 1, operands.end());
  return t;
}

bool on_off(const Args& args, const std::string& word) {
  if (word == "on") return true;
  if (word == "off") return false;
  throw UsageError(args.command() + ": expected on or off, got \"" + printable(word, 40) + "\"");
}

int run_change(Context& ctx, const Args& args, const std::vector<KnownUser>& users,
               const std::string& feat_name, const Edit& edit) {
  const Format format = ctx.format(args, {Format::table, Format::json});
  std::vector<ChangeOutcome> outcomes(users.size());
  std::vector<std::string> labels;
  for (const auto& u : users) labels.push_back(u.display());
  run_bulk(ctx, labels, ctx.config.api.max_concurrent_requests, [&](std::size_t i) {
    outcomes[i] =
        change_named_feature(*ctx.client, users[i], feat_name, edit, args.has("--dry-run"));
  });
  print_changes(ctx, outcomes, format);
  return exit_code(outcomes);
}

Edit set_status(bool on) {
  return [on](api::Feature& f) { f.status = on ? "ACTIVE" : "INACTIVE"; };
}

}  // namespace

int cmd_dnd(Context& ctx, const Args& args) {
  allow_only(args, {"--all-users", "--dry-run"});
  const Targets t = targets(ctx, args);
  if (t.rest.size() != 1) throw UsageError("usage: vpbxctl dnd USER on|off");
  return run_change(ctx, args, t.users, "CENTRAL_DND", set_status(on_off(args, t.rest[0])));
}

int cmd_cfu(Context& ctx, const Args& args) {
  allow_only(args, {"--all-users", "--dry-run"});
  const Targets t = targets(ctx, args);
  const char* usage = "usage: vpbxctl cfu USER on DESTINATION, or vpbxctl cfu USER off";
  if (t.rest.empty()) throw UsageError(usage);
  const bool on = on_off(args, t.rest[0]);
  if (on != (t.rest.size() == 2) || t.rest.size() > 2) throw UsageError(usage);
  Edit edit = set_status(false);
  if (on) {
    const std::string destination = t.rest[1];
    if (destination.empty() || destination.find_first_of(" \t\r\n") != std::string::npos) {
      throw UsageError("cfu: the destination is one word, e.g. 0225117902@s1.431569.bus.ipvoip.ch");
    }
    edit = [destination](api::Feature& f) {
      f.status = "ACTIVE";
      f.destination_uri = destination;
    };
  }
  return run_change(ctx, args, t.users, "CALL_FORWARD_UNCONDITIONAL", edit);
}

int cmd_feature(Context& ctx, const Args& args) {
  allow_only(args, {"--all-users", "--dry-run"});
  const Targets t = targets(ctx, args);
  if (t.rest.size() != 2) throw UsageError("usage: vpbxctl feature USER FEATURE_NAME on|off");
  std::string name = t.rest[0];
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isupper(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
  if (!plain)
    throw UsageError("feature: \"" + printable(t.rest[0], 60) +
                     "\" is not a feature name such as CALL_WAITING");
  return run_change(ctx, args, t.users, name, set_status(on_off(args, t.rest[1])));
}

}  // namespace vpbx::ctl
