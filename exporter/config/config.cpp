// Loading and validation of the YAML config. Every problem becomes one ConfigError naming the key
// path and the line; secrets (password, application id, webhook token) never enter a message.

#include "exporter/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <span>
#include <string_view>

#include "exporter/config/keys.h"
#include "exporter/config/secrets.h"
#include "exporter/config/sections.h"
#include "exporter/config/yaml_reader.h"

namespace vpbx::config {
namespace {

using namespace detail;

std::string format_message(const std::string& key, int line, const std::string& problem) {
  std::string out = "config: ";
  if (!key.empty()) out += key;
  if (line > 0) {
    out += key.empty() ? "line " + std::to_string(line) : " (line " + std::to_string(line) + ")";
  }
  if (!key.empty() || line > 0) out += ": ";
  return out + problem;
}

// For a syntax error there is no node: walk the text's indentation up to the error line and
// name the innermost enclosing key. Only known key names are reported, so a value that YAML
// misread as a key (a pasted password, say) never reaches the message.
std::string nearest_key(const std::string& text, int error_line) {
  static const std::set<std::string_view> known = [] {
    std::set<std::string_view> all;
    for (auto list :
         {std::span<const std::string_view>(kRootKeys), std::span<const std::string_view>(kApiKeys),
          std::span<const std::string_view>(kPathKeys),
          std::span<const std::string_view>(kUserKeys),
          std::span<const std::string_view>(kPollKeys),
          std::span<const std::string_view>(kPresenceKeys),
          std::span<const std::string_view>(kFeaturesKeys),
          std::span<const std::string_view>(kCallLogsKeys),
          std::span<const std::string_view>(kWebhookKeys),
          std::span<const std::string_view>(kSubscriptionsKeys),
          std::span<const std::string_view>(kProfileKeys),
          std::span<const std::string_view>(kShardKeys),
          std::span<const std::string_view>(kAccountKeys)}) {
      all.insert(list.begin(), list.end());
    }
    return all;
  }();
  struct Key {
    std::size_t indent;
    std::string name;
    bool leaf;  // has its value on its own line, so nothing nests below it
  };
  std::vector<Key> stack;
  std::size_t start = 0;
  for (int line = 0; line <= error_line && start <= text.size(); ++line) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view l(text.data() + start, end - start);
    start = end + 1;
    std::size_t pos = 0;
    while (pos < l.size() &&
           (l[pos] == ' ' || (l[pos] == '-' && pos + 1 < l.size() && l[pos + 1] == ' ')))
      ++pos;
    std::size_t name_end = pos;
    while (name_end < l.size() &&
           (std::isalnum(static_cast<unsigned char>(l[name_end])) || l[name_end] == '_')) {
      ++name_end;
    }
    if (name_end == pos || name_end >= l.size() || l[name_end] != ':') continue;
    if (name_end + 1 < l.size() && l[name_end + 1] != ' ' && l[name_end + 1] != '\r') continue;
    while (!stack.empty() && (stack.back().leaf || stack.back().indent >= pos)) stack.pop_back();
    std::size_t value = name_end + 1;
    while (value < l.size() && (l[value] == ' ' || l[value] == '\r')) ++value;
    const bool leaf = value < l.size() && l[value] != '#';
    stack.push_back(Key{pos, std::string(l.substr(pos, name_end - pos)), leaf});
  }
  std::string path;
  for (const Key& key : stack) {
    if (!known.contains(key.name)) break;
    path += path.empty() ? key.name : "." + key.name;
  }
  return path;
}

}  // namespace

ConfigError::ConfigError(std::string key, int line, const std::string& problem)
    : std::runtime_error(format_message(key, line, problem)),
      key_(std::move(key)),
      line_(line),
      problem_(problem) {}

std::string User::label() const {
  if (!name.empty()) return name;
  if (!number.empty()) return number;
  if (!login.empty()) return login;
  return std::to_string(user_id);
}

std::vector<Config> account_configs(const Config& config) {
  if (!config.accounts.empty()) return config.accounts;
  return {config};
}

bool valid_account_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::string notification_url(const WebhookConfig& webhook) {
  std::string url = webhook.public_url;
  if (const auto at = url.find("{token}"); at != std::string::npos) {
    return url.replace(at, 7, webhook.token);
  }
  if (webhook.token.empty()) return url;
  if (url.empty() || url.back() != '/') url += '/';
  return url + webhook.token;
}

Config load_string(const std::string& yaml_text, const std::string& base_dir) {
  YAML::Node doc;
  try {
    doc = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(nearest_key(yaml_text, e.mark.line), e.mark.line >= 0 ? e.mark.line + 1 : 0,
                      "YAML syntax error: " + safe_yaml_message(e.msg));
  }
  try {
    return build(doc, base_dir);
  } catch (const ConfigError& e) {
    throw redacted(e, doc, base_dir);
  } catch (const YAML::Exception& e) {
    // Not expected after a successful parse; still one ConfigError, with no document text.
    throw ConfigError("", e.mark.line >= 0 ? e.mark.line + 1 : 0,
                      "cannot read the YAML: " + safe_yaml_message(e.msg));
  }
}

Config load_file(const std::string& path) {
  std::string error;
  const auto text = read_text(path, error);
  if (!text) throw ConfigError("", 0, "cannot read the config file " + path + ": " + error);
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  if (base_dir.empty()) base_dir = ".";
  return load_string(*text, base_dir);
}

}  // namespace vpbx::config
