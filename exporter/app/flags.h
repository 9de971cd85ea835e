#pragma once
// Command-line flags, spelt as Prometheus' own exporters spell them.

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vpbx::app {

struct Flags {
  std::string config_file = "vpbx_exporter.yml";
  bool config_check = false;
  std::string listen_address = ":9876";
  std::string telemetry_path = "/metrics";
  std::string web_config_file;
  std::string log_level = "info";
  std::string log_format = "logfmt";
  // Over the config's shard.index / shard.count (scale-out), when given.
  std::optional<int> shard_index;
  std::optional<int> shard_count;
  bool version = false;
  bool help = false;
};

// Accepts --flag=value and --flag value; throws std::invalid_argument naming the bad flag.
Flags parse_flags(const std::vector<std::string>& args);
std::string usage();
std::string version_text();

}  // namespace vpbx::app
