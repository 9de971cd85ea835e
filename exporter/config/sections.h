#pragma once
// One loader per section of the config file; build() reads a whole document with them.

#include <yaml-cpp/yaml.h>

#include <string>

#include "exporter/config/config.h"
#include "exporter/config/yaml_reader.h"

namespace vpbx::config::detail {

// `users`, `users_file` and `max_users`: every user once, by id and by login.
void load_users(const Section& root, const std::string& base_dir, Config& c);
// index within [0, count): else a ConfigError naming `key` (shard.index, or a flag) and `line`.
void check_shard(const ShardConfig& shard, const std::string& key, int line);
// The whole config from a parsed document; relative paths are relative to `base_dir`.
Config build(const YAML::Node& doc, const std::string& base_dir);

}  // namespace vpbx::config::detail
