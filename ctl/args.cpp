#include "ctl/args.h"

#include <algorithm>

namespace vpbx::ctl {
namespace {

constexpr std::string_view kValueOptions[] = {"--config.file", "--format",   "--log.level",
                                              "--since",       "--until",    "--profile",
                                              "--users-file",  "--page-size"};
constexpr std::string_view kSwitches[] = {"--help",      "--version", "--dry-run", "--no-bill",
                                          "--all-users", "--foreign", "--all"};
constexpr std::string_view kGlobal[] = {"--config.file", "--format", "--log.level", "--help",
                                        "--version"};

template <std::size_t N>
bool listed(const std::string_view (&list)[N], std::string_view name) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

}  // namespace

std::optional<std::string> Args::value(std::string_view name) const {
  const auto it = options.find(std::string(name));
  if (it == options.end()) return std::nullopt;
  return it->second;
}

const std::string& Args::command() const {
  static const std::string kNone;
  return words.empty() ? kNone : words.front();
}

std::vector<std::string> Args::operands() const {
  if (words.size() <= 1) return {};
  return {words.begin() + 1, words.end()};
}

Args parse_args(const std::vector<std::string>& argv) {
  Args args;
  bool only_words = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (only_words || arg.size() < 2 || arg[0] != '-' || arg[1] != '-') {
      if (!only_words && arg == "-h") {
        args.options["--help"] = "";
        continue;
      }
      args.words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_words = true;
      continue;
    }
    const auto eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (listed(kValueOptions, name)) {
      std::string value;
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
      } else if (i + 1 < argv.size()) {
        value = argv[++i];
      } else {
        throw UsageError(name + " needs a value");
      }
      if (value.empty()) throw UsageError(name + " needs a value");
      if (args.options.contains(name)) throw UsageError(name + " is given twice");
      args.options[name] = value;
    } else if (listed(kSwitches, name)) {
      if (eq != std::string::npos) throw UsageError(name + " takes no value");
      args.options[name] = "";
    } else {
      throw UsageError("unknown option " + name);
    }
    args.spellings[name] = arg;
  }
  return args;
}

void allow_only(const Args& args, std::initializer_list<std::string_view> allowed) {
  for (const auto& [name, value] : args.options) {
    if (listed(kGlobal, name)) continue;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      throw UsageError(args.command() + " does not take " + name);
    }
  }
}

void expect_operands(const Args& args, std::size_t min, std::size_t max) {
  const std::size_t n = args.operands().size();
  if (n < min) throw UsageError(args.command() + ": missing operand");
  if (n > max)
    throw UsageError(args.command() + ": unexpected operand \"" + args.operands()[max] + "\"");
}

}  // namespace vpbx::ctl
