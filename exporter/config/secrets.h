#pragma once
// Secrets (API password, application id, webhook token): where each is read from, and the
// redaction that keeps any of them out of an error message.

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>

#include "exporter/config/config.h"
#include "exporter/config/yaml_reader.h"

namespace vpbx::config::detail {

struct Secret {
  std::string value;
  std::string key;  // where it came from: a key path or the environment variable
  int line = 0;
};

// A secret from `<name>_file`, `<name>`, or the environment `env`, in that order; nullopt when
// none is set.
std::optional<Secret> load_secret(const Section& s, std::string_view name, const char* env,
                                  const std::string& base_dir);
// "set x_file, x or the environment variable ENV", for a secret that is required.
std::string secret_sources(const Section& s, std::string_view name, const char* env);
// `e` with every value that looks like a configured secret cut out of it.
ConfigError redacted(const ConfigError& e, const YAML::Node& doc, const std::string& base_dir);

}  // namespace vpbx::config::detail
