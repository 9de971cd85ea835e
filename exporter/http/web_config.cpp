#include "exporter/http/web_config.h"

#include <crypt.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>

namespace vpbx::http {
namespace {

[[noreturn]] void fail(const std::string& file, const std::string& key, const YAML::Node& node,
                       const std::string& what) {
  std::string where = file;
  if (node.IsDefined() && node.Mark().line >= 0)
    where += ":" + std::to_string(node.Mark().line + 1);
  throw std::runtime_error("web config " + where + ": " + key + ": " + what);
}

std::string scalar(const std::string& file, const std::string& key, const YAML::Node& node) {
  if (!node.IsScalar()) fail(file, key, node, "must be a string");
  return node.as<std::string>();
}

// Relative paths are taken from the web config's own folder, as the exporter-toolkit does.
std::string resolve(const std::string& config_file, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(config_file).parent_path() / path).string();
}

void check_readable(const std::string& file, const std::string& key, const YAML::Node& node,
                    const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(file, key, node, "cannot read '" + path + "'");
}

bool is_bcrypt_hash(const std::string& hash) {
  return hash.size() == 60 &&
         (hash.rfind("$2a$", 0) == 0 || hash.rfind("$2b$", 0) == 0 || hash.rfind("$2y$", 0) == 0);
}

TlsConfig parse_tls(const std::string& file, const YAML::Node& node) {
  TlsConfig tls;
  if (node.IsNull()) return tls;
  if (!node.IsMap()) fail(file, "tls_server_config", node, "must be a mapping");
  // Keys of the exporter-toolkit this server cannot honour: refused, not silently ignored.
  static const std::set<std::string> unsupported = {"client_ca_file",
                                                    "cipher_suites",
                                                    "curve_preferences",
                                                    "max_version",
                                                    "prefer_server_cipher_suites",
                                                    "client_allowed_sans"};
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    const std::string name = "tls_server_config." + key;
    const YAML::Node& value = item.second;
    if (key == "cert_file") {
      tls.cert_file = resolve(file, scalar(file, name, value));
    } else if (key == "key_file") {
      tls.key_file = resolve(file, scalar(file, name, value));
    } else if (key == "min_version") {
      tls.min_version = scalar(file, name, value);
      if (tls.min_version != "TLS10" && tls.min_version != "TLS11" && tls.min_version != "TLS12" &&
          tls.min_version != "TLS13") {
        fail(file, name, value,
             "must be TLS10, TLS11, TLS12 or TLS13, not '" + tls.min_version + "'");
      }
    } else if (key == "client_auth_type") {
      const std::string type = scalar(file, name, value);
      if (type != "NoClientCert" && !type.empty()) {
        fail(file, name, value, "only NoClientCert is supported, not '" + type + "'");
      }
    } else if (unsupported.count(key) != 0) {
      fail(file, name, item.first, "not supported by vpbx_exporter");
    } else {
      fail(file, name, item.first, "unknown key");
    }
  }
  return tls;
}

WebConfig parse_root(const std::string& path, const YAML::Node& root);

}  // namespace

WebConfig load_web_config(const std::string& path) {
  {
    std::ifstream probe(path);
    if (!probe) throw std::runtime_error("web config " + path + ": cannot read the file");
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("web config " + path + ":" + std::to_string(e.mark.line + 1) +
                             ": not valid YAML: " + e.msg);
  }
  try {
    return parse_root(path, root);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("web config " + path + ":" + std::to_string(e.mark.line + 1) + ": " +
                             e.msg);
  }
}

namespace {

WebConfig parse_root(const std::string& path, const YAML::Node& root) {
  WebConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) fail(path, "(top level)", root, "must be a mapping");
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    const YAML::Node& value = item.second;
    if (key == "tls_server_config") {
      TlsConfig tls = parse_tls(path, value);
      // Both empty is how the exporter-toolkit spells "no TLS".
      if (tls.cert_file.empty() && tls.key_file.empty()) continue;
      if (tls.cert_file.empty()) fail(path, "tls_server_config.cert_file", value, "missing");
      if (tls.key_file.empty()) fail(path, "tls_server_config.key_file", value, "missing");
      check_readable(path, "tls_server_config.cert_file", value["cert_file"], tls.cert_file);
      check_readable(path, "tls_server_config.key_file", value["key_file"], tls.key_file);
      config.tls = std::move(tls);
    } else if (key == "basic_auth_users") {
      if (value.IsNull()) continue;
      if (!value.IsMap()) fail(path, key, value, "must be a mapping of user to bcrypt hash");
      for (const auto& user : value) {
        const std::string name = user.first.as<std::string>();
        const std::string where = "basic_auth_users." + name;
        if (name.empty() || name.find(':') != std::string::npos) {
          fail(path, where, user.first, "a user name must be non-empty and hold no ':'");
        }
        const std::string hash = scalar(path, where, user.second);
        if (!is_bcrypt_hash(hash)) {
          // The value itself is not echoed: it might be a password pasted by mistake.
          fail(path, where, user.second, "must be a bcrypt hash ($2a$, $2b$ or $2y$, 60 chars)");
        }
        config.basic_auth_users[name] = hash;
      }
    } else if (key == "http_server_config") {
      fail(path, key, item.first, "not supported by vpbx_exporter");
    } else {
      fail(path, key, item.first, "unknown key");
    }
  }
  return config;
}

}  // namespace

bool verify_bcrypt(const std::string& password, const std::string& hash) {
  // A NUL would silently cut the password short inside crypt(); other schemes (DES!) are refused.
  if (password.find('\0') != std::string::npos || !is_bcrypt_hash(hash)) return false;
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: too big for a worker thread's stack
  const char* result = crypt_r(password.c_str(), hash.c_str(), data.get());
  if (result == nullptr || result[0] == '*') return false;
  const std::string computed(result);
  if (computed.size() != hash.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < hash.size(); ++i) {
    diff |= static_cast<unsigned char>(computed[i] ^ hash[i]);
  }
  return diff == 0;
}

}  // namespace vpbx::http
