#include "exporter/config/secrets.h"

#include <cctype>
#include <cstdlib>
#include <utility>
#include <vector>

namespace vpbx::config::detail {
namespace {

// Every value a secret could have, from wherever it may come; never throws.
std::vector<std::string> secret_candidates(const YAML::Node& doc, const std::string& base_dir) {
  std::vector<std::string> out;
  const auto add = [&](std::string value) {
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (!value.empty()) out.push_back(std::move(value));
  };
  const std::pair<const char*, const char*> places[] = {
      {"api", "password"}, {"api", "application_id"}, {"webhook", "token"}};
  // The top level, and every entry of `accounts:`.
  std::vector<YAML::Node> holders{doc};
  std::vector<std::string> envs{"VPBX_API_PASSWORD", "VPBX_APPLICATION_ID", "VPBX_WEBHOOK_TOKEN"};
  try {
    if (doc.IsMap() && doc["accounts"].IsSequence()) {
      for (const auto& account : doc["accounts"]) {
        holders.push_back(account);
        if (!account.IsMap() || !account["name"].IsScalar()) continue;
        std::string suffix = "_";
        for (const char c : account["name"].Scalar()) {
          suffix += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        for (const char* base :
             {"VPBX_API_PASSWORD", "VPBX_APPLICATION_ID", "VPBX_WEBHOOK_TOKEN"}) {
          envs.push_back(base + suffix);
        }
      }
    }
  } catch (...) {
    // A malformed document only means fewer candidates.
  }
  for (const auto& holder : holders)
    for (const auto& [section, name] : places) {
      try {
        const YAML::Node s = holder.IsMap() ? holder[section] : YAML::Node();
        if (!s.IsMap()) continue;
        if (const YAML::Node v = s[name]; v.IsScalar()) add(v.Scalar());
        if (const YAML::Node f = s[std::string(name) + "_file"]; f.IsScalar()) {
          std::string error;
          if (auto text = read_text(resolve(base_dir, f.Scalar()), error)) add(std::move(*text));
        }
      } catch (...) {
        // A malformed document only means fewer candidates.
      }
    }
  for (const auto& env : envs) {
    if (const char* v = std::getenv(env.c_str())) add(v);
  }
  return out;
}

}  // namespace

// A secret from `<name>_file`, `<name>`, or the environment, in that order. Messages here name
// keys and files' problems but never the value, nor a secret file's path (which is sometimes
// the secret itself, pasted into the wrong key).
std::optional<Secret> load_secret(const Section& s, std::string_view name, const char* env,
                                  const std::string& base_dir) {
  const std::string file_key = std::string(name) + "_file";
  const auto file = s.get(file_key);
  const auto inline_value = s.get(name);
  if (file && inline_value) {
    fail(*inline_value, "set either " + s.child(file_key) + " or " + s.child(name) + ", not both");
  }
  Secret secret;
  if (file) {
    const std::string path = resolve(base_dir, as_nonempty_string(*file));
    std::string error;
    auto text = read_text(path, error);
    if (!text) fail(*file, "cannot read the file: " + error);
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
    if (text->empty()) fail(*file, "the file is empty");
    if (text->find_first_of("\r\n") != std::string::npos)
      fail(*file, "the file holds more than one line");
    secret = Secret{std::move(*text), file->path, file->line};
  } else if (inline_value) {
    if (!inline_value->node.IsScalar())
      fail(*inline_value, "expected a string, got " + kind_of(inline_value->node));
    if (inline_value->node.Scalar().empty()) fail(*inline_value, "must not be empty");
    secret = Secret{inline_value->node.Scalar(), inline_value->path, inline_value->line};
  } else if (const char* from_env = std::getenv(env); from_env && *from_env) {
    secret = Secret{from_env, std::string("environment variable ") + env, 0};
  } else {
    return std::nullopt;
  }
  // It travels in HTTP headers or a URL: a control byte would corrupt the request.
  for (unsigned char c : secret.value) {
    if (c < 0x20 || c == 0x7f)
      throw ConfigError(secret.key, secret.line, "contains a control character");
  }
  return secret;
}

std::string secret_sources(const Section& s, std::string_view name, const char* env) {
  return "set " + s.child(std::string(name) + "_file") + ", " + s.child(name) +
         " or the environment variable " + env;
}

// Defence in depth: a secret pasted into the wrong key would be echoed as that key's bad
// value. Whatever looks like a configured secret is cut from the message before it leaves.
ConfigError redacted(const ConfigError& e, const YAML::Node& doc, const std::string& base_dir) {
  std::string key = e.key();
  std::string problem = e.problem();
  bool changed = false;
  for (const std::string& secret : secret_candidates(doc, base_dir)) {
    if (secret.size() < 4) continue;  // would garble every message and reveal nothing
    for (std::string* text : {&key, &problem}) {
      for (auto at = text->find(secret); at != std::string::npos; at = text->find(secret, at)) {
        text->replace(at, secret.size(), "<secret>");
        changed = true;
      }
    }
  }
  return changed ? ConfigError(key, e.line(), problem) : e;
}

}  // namespace vpbx::config::detail
