#pragma once
// The one YAML reader every section's loader shares: a key's value with its path and line, maps
// of known keys, typed reads that throw ConfigError naming the key, and the checks of values that
// several sections hold (URLs, paths, listen addresses, files).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exporter/config/config.h"

namespace vpbx::config::detail {

bool contains(std::span<const std::string_view> list, std::string_view s);
std::string upper(std::string s);
std::string lower(std::string s);
int line_of(const YAML::Node& node);
std::string kind_of(const YAML::Node& node);
// For echoing non-secret values; long ones are cut so a message stays one readable line.
std::string quote(std::string_view value);
// yaml-cpp appends document text to some messages (anchor names, escapes): keep the part before.
std::string safe_yaml_message(const std::string& msg);

// One key's value, with the key path and the line of the key (1-based).
struct Value {
  std::string path;
  YAML::Node node;
  int line = 0;
};

[[noreturn]] void fail(const Value& v, const std::string& problem);

// A map of known keys. Unknown and repeated keys are rejected on construction, before any
// value is read, so that a typo is reported as a typo.
class Section {
 public:
  Section(const YAML::Node& node, std::string path, int line,
          std::span<const std::string_view> known)
      : path_(std::move(path)), line_(line) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
      throw ConfigError(path_, line_ ? line_ : line_of(node),
                        "expected a map, got " + kind_of(node));
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        throw ConfigError(path_, line_of(key), "expected a map with plain names as keys");
      }
      const std::string name = key.Scalar();
      if (!contains(known, name)) throw ConfigError(child(name), line_of(key), "unknown key");
      for (const auto& e : entries_) {
        if (e.first == name) {
          throw ConfigError(child(name), line_of(key),
                            "appears twice (first at line " + std::to_string(e.second.line) + ")");
        }
      }
      entries_.emplace_back(name, Value{child(name), it->second, line_of(key)});
    }
  }

  // nullopt when absent or empty (`key:` or `key: ~`): the default applies.
  std::optional<Value> get(std::string_view name) const {
    for (const auto& e : entries_) {
      if (e.first == name) {
        if (e.second.node.IsNull()) return std::nullopt;
        return e.second;
      }
    }
    return std::nullopt;
  }

  std::string child(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }
  int line() const { return line_; }

 private:
  std::string path_;
  int line_;
  std::vector<std::pair<std::string, Value>> entries_;
};

std::string as_string(const Value& v);
std::string as_nonempty_string(const Value& v);
std::int64_t as_int(const Value& v, std::int64_t lo, std::int64_t hi);
double as_number(const Value& v);
bool as_bool(const Value& v);
Duration as_duration(const Value& v);
std::vector<Value> elements(const Value& v);
// Non-empty, distinct strings; `normalise` may rewrite each (e.g. upper-case) before the check.
std::vector<std::string> as_string_list(const Value& v,
                                        std::string (*normalise)(std::string) = nullptr);

// Reads a key when present; `read` turns the Value into the field.
template <typename Read>
void with(const Section& s, std::string_view name, Read read) {
  if (auto v = s.get(name)) read(*v);
}

// A relative path is relative to the config file's folder.
std::string resolve(const std::string& base_dir, const std::string& path);
// The whole file, or nullopt with `error` set to the reason.
std::optional<std::string> read_text(const std::string& path, std::string& error);

// http(s)://host[:port][/path]; the URL itself is never echoed as it may hold credentials.
std::string checked_url(const Value& v, bool trailing_slash);
std::string checked_api_path(const Value& v, std::string_view placeholder);
// "host:port", ":port" or "[v6]:port" (port 0 lets the system choose, as tests do).
void check_listen_address(const Value& v, const std::string& address);

}  // namespace vpbx::config::detail
