#pragma once
// vpbxctl's command line: a command, its operands and --options, in any order. Options that take
// a value accept both --name=value and --name value.

#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vpbx::ctl {

// Exit codes, as scripts see them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitPlatform = 1;  // the platform refused or failed
inline constexpr int kExitUsage = 2;     // bad command line, unknown user, bad config

// A mistake of the caller's: exit code 2 with the message.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Args {
  std::vector<std::string> words;                // the command, then its operands
  std::map<std::string, std::string> options;    // "--since" -> "24h"; switches -> ""
  std::map<std::string, std::string> spellings;  // as typed, for messages

  bool has(std::string_view name) const { return options.contains(std::string(name)); }
  std::optional<std::string> value(std::string_view name) const;
  const std::string& command() const;  // empty when none was given
  // The operands after the command.
  std::vector<std::string> operands() const;
};

// Throws UsageError for an unknown option or one that lacks its value.
Args parse_args(const std::vector<std::string>& argv);

// Throws UsageError naming the first option that `command` does not take. The global options
// (--config.file, --format, --log.level, --help) are always allowed.
void allow_only(const Args& args, std::initializer_list<std::string_view> allowed);

// Throws UsageError unless the command got between `min` and `max` operands.
void expect_operands(const Args& args, std::size_t min, std::size_t max);

}  // namespace vpbx::ctl
