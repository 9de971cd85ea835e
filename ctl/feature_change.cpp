#include "ctl/feature_change.h"

namespace vpbx::ctl {
namespace {

const char* result_name(ChangeResult result) {
  switch (result) {
    case ChangeResult::unchanged:
      return "unchanged";
    case ChangeResult::changed:
      return "changed";
    case ChangeResult::would_change:
      return "would_change";
    case ChangeResult::refused:
      return "refused";
    case ChangeResult::missing:
      return "missing";
    case ChangeResult::failed:
      break;
  }
  return "failed";
}

bool is_problem(ChangeResult result) {
  return result == ChangeResult::refused || result == ChangeResult::failed ||
         result == ChangeResult::missing;
}

}  // namespace

ChangeOutcome change_feature(api::Client& client, const KnownUser& user,
                             const api::Feature& current, const api::Feature& wanted,
                             bool dry_run) {
  ChangeOutcome out;
  out.user = user;
  out.feat_name = current.feat_name;
  out.feature_id = current.id;
  out.before_status = current.status;
  out.before_destination = current.destination_uri;
  out.after_status = wanted.status;
  out.after_destination = wanted.destination_uri;
  if (wanted.status == current.status && wanted.destination_uri == current.destination_uri) {
    out.result = ChangeResult::unchanged;
    return out;
  }
  if (dry_run) {
    out.result = ChangeResult::would_change;
    return out;
  }
  const auto put = client.put_feature(wanted);
  if (!put.ok()) {
    out.after_status = current.status;
    out.after_destination = current.destination_uri;
    out.result =
        put.error_kind == api::ErrorKind::http ? ChangeResult::refused : ChangeResult::failed;
    out.message = (out.result == ChangeResult::refused ? "the platform refused the change: "
                                                       : "the change failed: ") +
                  failure(put);
    return out;
  }
  const auto read_back = client.get_feature(current.id);
  if (!read_back.ok()) {
    out.result = ChangeResult::failed;
    out.message = "changed, but reading it back failed: " + failure(read_back);
    return out;
  }
  out.after_status = read_back.value->status;
  out.after_destination = read_back.value->destination_uri;
  if (out.after_status != wanted.status || out.after_destination != wanted.destination_uri) {
    out.result = ChangeResult::failed;
    out.message = "the platform accepted the change but the feature reads back " +
                  feature_state(out.feat_name, out.after_status, out.after_destination);
    return out;
  }
  out.result = ChangeResult::changed;
  return out;
}

ChangeOutcome change_named_feature(api::Client& client, const KnownUser& user,
                                   const std::string& feat_name, const Edit& edit, bool dry_run) {
  ChangeOutcome out;
  out.user = user;
  out.feat_name = feat_name;
  const auto features = client.get_user_features(user.user_id);
  if (!features.ok()) {
    out.message = "cannot read the features: " + failure(features);
    return out;
  }
  for (const auto& feature : *features.value) {
    if (feature.feat_name != feat_name) continue;
    api::Feature wanted = feature;
    edit(wanted);
    return change_feature(client, user, feature, wanted, dry_run);
  }
  out.result = ChangeResult::missing;
  out.message =
      "the user has no such feature (see: vpbxctl features " + std::to_string(user.user_id) + ")";
  return out;
}

std::string feature_state(const std::string& feat_name, const std::string& status,
                          const std::string& destination) {
  const std::string shown = status.empty() ? "?" : printable(status, 40);
  if (!feat_name.starts_with("CALL_FORWARD_") || destination.empty()) return shown;
  return shown + " (" + printable(destination, 200) + ")";
}

void write_change_json(Json& json, const ChangeOutcome& c) {
  auto& w = json.w();
  w.StartObject();
  json.field("user", c.user.label());
  json.field("userId", c.user.user_id);
  json.field("feature", c.feat_name);
  if (c.feature_id) json.field("featureId", c.feature_id);
  json.field("result", result_name(c.result));
  if (c.result != ChangeResult::missing && !c.before_status.empty()) {
    for (const bool before : {true, false}) {
      json.key(before ? "before" : "after");
      w.StartObject();
      json.field("status", before ? c.before_status : c.after_status);
      json.field("destinationUri", before ? c.before_destination : c.after_destination);
      w.EndObject();
    }
  }
  if (!c.message.empty()) json.field("message", c.message);
  w.EndObject();
}

void print_changes(Context& ctx, const std::vector<ChangeOutcome>& changes, Format format) {
  for (const auto& c : changes) {
    if (is_problem(c.result))
      ctx.err << "vpbxctl: " << c.user.display() << " " << c.feat_name << ": " << c.message << "\n";
  }
  if (format == Format::json) {
    Json json;
    json.w().StartObject();
    json.key("changes");
    json.w().StartArray();
    for (const auto& c : changes) write_change_json(json, c);
    json.w().EndArray();
    json.w().EndObject();
    ctx.out << json.text();
    return;
  }
  Table table({"USER", "FEATURE", "CHANGE"});
  for (const auto& c : changes) {
    const std::string before = feature_state(c.feat_name, c.before_status, c.before_destination);
    // A destination that stays and no longer forwards is noise after the arrow.
    const bool show_destination =
        c.after_destination != c.before_destination || c.after_status == "ACTIVE";
    const std::string after =
        feature_state(c.feat_name, c.after_status, show_destination ? c.after_destination : "");
    std::string change;
    switch (c.result) {
      case ChangeResult::unchanged:
        change = "already " + before + ", nothing changed";
        break;
      case ChangeResult::changed:
        change = before + " → " + after;
        break;
      case ChangeResult::would_change:
        change = before + " → " + after + " (dry run: not changed)";
        break;
      case ChangeResult::refused:
        change = "refused, stays " + before;
        break;
      case ChangeResult::missing:
        change = "no such feature";
        break;
      case ChangeResult::failed:
        change = c.before_status.empty() ? "failed" : "failed, was " + before;
        break;
    }
    table.add({c.user.display(), c.feat_name, change});
  }
  if (!table.empty()) table.print(ctx.out);
}

int exit_code(const std::vector<ChangeOutcome>& changes) {
  bool missing = false;
  for (const auto& c : changes) {
    if (c.result == ChangeResult::refused || c.result == ChangeResult::failed) return kExitPlatform;
    missing = missing || c.result == ChangeResult::missing;
  }
  return missing ? kExitUsage : kExitOk;
}

}  // namespace vpbx::ctl
