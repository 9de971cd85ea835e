// checkout USER | --users-file FILE: the seed's "reset all features on check-out", then the bill.
#include <fstream>
#include <sstream>

#include "ctl/bulk.h"
#include "ctl/call_report.h"
#include "ctl/context.h"
#include "ctl/feature_change.h"
#include "ctl/profile.h"
#include "ctl/time_arg.h"
#include "exporter/config/users_csv.h"

namespace vpbx::ctl {
namespace {

struct Checkout {
  KnownUser user;
  std::vector<ChangeOutcome> changes;
  std::optional<CallReport> bill;
  std::string error;  // the features could not be read
};

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// One USER per line ('#' starts a comment), or the users CSV of the config's users_file.
std::vector<KnownUser> users_from_file(const Context& ctx, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("--users-file: cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  std::vector<KnownUser> out;
  const std::string head = trim(all.substr(0, all.find('\n')));
  if (head.rfind("enterpriseNames", 0) == 0 || head.rfind("\xEF\xBB\xBF"
                                                          "enterpriseNames",
                                                          0) == 0) {
    try {
      for (const auto& row : config::parse_users_csv(all)) {
        out.push_back(ctx.user(std::to_string(row.user.user_id)));
      }
    } catch (const config::CsvError& e) {
      throw UsageError("--users-file " + path + " line " + std::to_string(e.line()) + ": " +
                       e.problem());
    }
  } else {
    std::istringstream lines(all);
    std::string line;
    while (std::getline(lines, line)) {
      line = trim(line.substr(0, line.find('#')));
      if (!line.empty()) out.push_back(ctx.user(line));
    }
  }
  if (out.empty()) throw UsageError("--users-file " + path + " names no user");
  return out;
}

Checkout check_out(Context& ctx, const KnownUser& user, const config::FeatureProfile& profile,
                   bool dry_run, const std::optional<Period>& bill_period, int page_size) {
  Checkout c;
  c.user = user;
  const auto features = ctx.client->get_user_features(user.user_id);
  if (!features.ok()) {
    c.error = "cannot read the features: " + failure(features);
    return c;
  }
  for (const auto& planned : plan_profile(profile, *features.value)) {
    c.changes.push_back(change_feature(*ctx.client, user, planned.before, planned.after, dry_run));
  }
  if (bill_period) {
    c.bill = fetch_calls(*ctx.client, ctx.config.call_logs, user, bill_period->from_ms,
                         bill_period->to_ms, page_size);
  }
  return c;
}

bool failed(const Checkout& c) {
  return !c.error.empty() || (c.bill && !c.bill->error.empty()) ||
         exit_code(c.changes) == kExitPlatform;
}

void print_table(Context& ctx, const Checkout& c, const std::string& profile_name, bool dry_run) {
  ctx.out << c.user.display() << ": check-out, profile " << profile_name
          << (dry_run ? " (dry run: nothing is changed)" : "") << "\n";
  if (!c.error.empty()) {
    ctx.err << "vpbxctl: " << c.user.display() << ": " << c.error << "\n";
    return;
  }
  if (c.changes.empty()) {
    ctx.out << "nothing to change: every feature is as the profile wants\n";
  } else {
    print_changes(ctx, c.changes, Format::table);
  }
  if (!c.bill) return;
  ctx.out << "bill:\n";
  if (!c.bill->error.empty()) {
    ctx.err << "vpbxctl: " << c.user.display() << ": " << c.bill->error << "\n";
  } else {
    print_calls(ctx.out, ctx.config.call_logs, *c.bill, Format::table);
  }
}

void write_json(Context& ctx, Json& json, const Checkout& c) {
  auto& w = json.w();
  w.StartObject();
  json.field("user", c.user.label());
  json.field("userId", c.user.user_id);
  if (!c.error.empty()) json.field("error", c.error);
  json.key("changes");
  w.StartArray();
  for (const auto& change : c.changes) write_change_json(json, change);
  w.EndArray();
  if (c.bill) {
    json.key("bill");
    w.StartObject();
    if (!c.bill->error.empty()) {
      json.field("error", c.bill->error);
    } else {
      write_calls_json(json, ctx.config.call_logs, *c.bill);
    }
    w.EndObject();
  }
  w.EndObject();
}

}  // namespace

int cmd_checkout(Context& ctx, const Args& args) {
  allow_only(args, {"--dry-run", "--no-bill", "--profile", "--since", "--until", "--users-file",
                    "--page-size"});
  const Format format = ctx.format(args, {Format::table, Format::json});
  std::vector<KnownUser> users;
  if (const auto file = args.value("--users-file")) {
    expect_operands(args, 0, 0);
    users = users_from_file(ctx, *file);
  } else {
    expect_operands(args, 1, 1);
    users.push_back(ctx.user(args.operands()[0]));
  }
  const std::string profile_name = args.value("--profile").value_or("default");
  const config::FeatureProfile profile = find_profile(ctx.config, profile_name);
  const bool dry_run = args.has("--dry-run");
  std::optional<Period> bill_period;
  if (!args.has("--no-bill")) {
    bill_period = period_from_args(args, "24h");
  } else if (args.has("--since") || args.has("--until")) {
    throw UsageError("checkout: --since and --until are the bill's period; --no-bill has none");
  }
  const int page_size = page_size_from_args(ctx, args);

  std::vector<Checkout> done(users.size());
  std::vector<std::string> labels;
  for (const auto& u : users) labels.push_back(u.display());
  run_bulk(ctx, labels, ctx.config.api.max_concurrent_requests, [&](std::size_t i) {
    done[i] = check_out(ctx, users[i], profile, dry_run, bill_period, page_size);
  });

  if (format == Format::json) {
    Json json;
    json.w().StartObject();
    json.field("profile", profile_name);
    json.field("dryRun", dry_run);
    json.key("checkouts");
    json.w().StartArray();
    for (const auto& c : done) write_json(ctx, json, c);
    json.w().EndArray();
    json.w().EndObject();
    ctx.out << json.text();
    for (const auto& c : done) {
      if (!c.error.empty()) ctx.err << "vpbxctl: " << c.user.display() << ": " << c.error << "\n";
    }
  } else {
    for (std::size_t i = 0; i < done.size(); ++i) {
      if (i) ctx.out << "\n";
      print_table(ctx, done[i], profile_name, dry_run);
    }
  }
  for (const auto& c : done) {
    if (failed(c)) return kExitPlatform;
  }
  return kExitOk;
}

}  // namespace vpbx::ctl
