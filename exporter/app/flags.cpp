#include "exporter/app/flags.h"

#include <functional>
#include <map>

#include "vpbx/version.h"

namespace vpbx::app {

Flags parse_flags(const std::vector<std::string>& args) {
  Flags flags;
  const std::map<std::string, std::string*> valued{
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
         "  --version                   print the version and exit\n"
         "  --help                      this text\n"
         "Reload the config with SIGHUP or POST /-/reload.\n";
}

std::string version_text() {
  return std::string("vpbx_exporter, version ") + kVersion + " (revision " + kRevision + ")\n";
}

}  // namespace vpbx::app
