#include "ctl/cli.h"

#include <unistd.h>

#include <filesystem>
#include <map>

#include "ctl/context.h"
#include "ctl/help.h"
#include "exporter/log/log.h"
#include "vpbx/version.h"

namespace vpbx::ctl {
namespace {

constexpr const char* kInstalledConfig = "/etc/vpbx_exporter/vpbx_exporter.yml";

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> kCommands = {
      {"server", cmd_server},     {"users", cmd_users},
      {"features", cmd_features}, {"presence", cmd_presence},
      {"dnd", cmd_dnd},           {"cfu", cmd_cfu},
      {"feature", cmd_feature},   {"checkout", cmd_checkout},
      {"calls", cmd_calls},       {"subscriptions", cmd_subscriptions}};
  return kCommands;
}

int usage_error(const std::string& message, const std::string& command) {
  std::cerr << "vpbxctl: " << message << "\n"
            << "try: vpbxctl " << (command.empty() ? "" : command + " ") << "--help\n";
  return kExitUsage;
}

}  // namespace

Format Context::format(const Args& args, std::initializer_list<Format> allowed) const {
  return parse_format(args.value("--format").value_or("table"), allowed);
}

int run(const std::vector<std::string>& argv) {
  Args args;
  try {
    args = parse_args(argv);
  } catch (const UsageError& e) {
    return usage_error(e.what(), "");
  }
  std::string command = args.command();
  if (args.has("--version")) {
    std::cout << "vpbxctl, version " << kVersion << " (revision " << kRevision << ")\n";
    return kExitOk;
  }
  if (command == "help") {
    const auto operands = args.operands();
    command = operands.empty() ? "" : operands.front();
    args.options["--help"] = "";
  }
  if (!command.empty() && !commands().contains(command)) {
    return usage_error("unknown command \"" + printable(command, 40) + "\"", "");
  }
  if (args.has("--help")) {
    std::cout << (command.empty() ? overview_help() : command_help(command));
    return kExitOk;
  }
  if (command.empty()) {
    std::cerr << overview_help();
    return kExitUsage;
  }

  const auto level = log::parse_level(args.value("--log.level").value_or("error"));
  if (!level) return usage_error("--log.level is debug, info, warn or error", command);
  log::configure(*level, log::Format::logfmt);

  // As the exporter, vpbx_exporter.yml in the current folder; else the installed one.
  std::string config_file = args.value("--config.file").value_or("vpbx_exporter.yml");
  if (!args.has("--config.file") && !std::filesystem::exists(config_file) &&
      std::filesystem::exists(kInstalledConfig)) {
    config_file = kInstalledConfig;
  }
  Context ctx;
  try {
    ctx.config = config::load_file(config_file);
  } catch (const config::ConfigError& e) {
    std::cerr << "vpbxctl: " << e.what() << "\n";
    return kExitUsage;
  }
  ctx.users = known_users(ctx.config);
  if (!ctx.users.problem.empty()) {
    std::cerr << "vpbxctl: note: the exporter's state file was not read whole, some discovered "
                 "users may be missing: "
              << printable(ctx.users.problem) << "\n";
  }
  ctx.err_is_terminal = isatty(STDERR_FILENO) == 1;
  ctx.client = std::make_unique<api::Client>(ctx.config.api, nullptr);
  try {
    return commands().at(command)(ctx, args);
  } catch (const UsageError& e) {
    return usage_error(e.what(), command);
  }
}

}  // namespace vpbx::ctl
