#include "exporter/app/flags.h"

#include <charconv>
#include <functional>
#include <map>

#include "vpbx/version.h"

namespace vpbx::app {
namespace {

std::optional<int> shard_flag(const std::string& name, const std::string& value, int lo) {
  if (value.empty()) return std::nullopt;
  int out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size() || out < lo || out > 65536) {
    throw std::invalid_argument("flag " + name + " must be a whole number from " +
                                std::to_string(lo) + " to 65536");
  }
  return out;
}

}  // namespace

Flags parse_flags(const std::vector<std::string>& args) {
  Flags flags;
  std::string shard_index, shard_count;
  const std::map<std::string, std::string*> valued{
      {"--shard.index", &shard_index},
      {"--shard.count", &shard_count},
      {"--config.file", &flags.config_file},
      {"--web.listen-address", &flags.listen_address},
      {"--web.telemetry-path", &flags.telemetry_path},
      {"--web.config.file", &flags.web_config_file},
      {"--log.level", &flags.log_level},
      {"--log.format", &flags.log_format},
  };
  const std::map<std::string, bool*> switches{
      {"--config.check", &flags.config_check},
      {"--version", &flags.version},
      {"--help", &flags.help},
      {"-h", &flags.help},
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::string value;
    bool has_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (const auto it = switches.find(name); it != switches.end()) {
      if (has_value && value != "true" && value != "false") {
        throw std::invalid_argument("flag " + name + " takes no value, or true/false");
      }
      *it->second = !has_value || value == "true";
      continue;
    }
    const auto it = valued.find(name);
    if (it == valued.end()) throw std::invalid_argument("unknown flag " + name + " (see --help)");
    if (!has_value) {
      if (i + 1 >= args.size()) throw std::invalid_argument("flag " + name + " needs a value");
      value = args[++i];
    }
    *it->second = value;
  }
  flags.shard_index = shard_flag("--shard.index", shard_index, 0);
  flags.shard_count = shard_flag("--shard.count", shard_count, 1);
  if (flags.telemetry_path.empty() || flags.telemetry_path.front() != '/') {
    throw std::invalid_argument("flag --web.telemetry-path must start with '/'");
  }
  return flags;
}

std::string usage() {
  return "usage: vpbx_exporter [flags]\n"
         "  --config.file=FILE          the YAML config (default vpbx_exporter.yml)\n"
         "  --config.check              validate the config (and the web config) and exit 0 or 1\n"
         "  --web.listen-address=ADDR   host:port or :port to listen on (default :9876)\n"
         "  --web.telemetry-path=PATH   where metrics are served (default /metrics)\n"
         "  --web.config.file=FILE      TLS and basic auth, exporter-toolkit format\n"
         "  --log.level=LEVEL           debug, info, warn or error (default info)\n"
         "  --log.format=FORMAT         logfmt or json (default logfmt)\n"
         "  --shard.index=I             this replica's shard, 0 to count-1 (over shard.index)\n"
         "  --shard.count=N             how many shards split the users (over shard.count)\n"
         "  --version                   print the version and exit\n"
         "  --help                      this text\n"
         "Reload the config with SIGHUP or POST /-/reload.\n";
}

std::string version_text() {
  return std::string("vpbx_exporter, version ") + kVersion + " (revision " + kRevision + ")\n";
}

}  // namespace vpbx::app
