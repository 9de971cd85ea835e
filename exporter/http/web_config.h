#pragma once
// --web.config.file, in the Prometheus exporter-toolkit format:
//   tls_server_config: { cert_file, key_file, min_version: TLS12|TLS13 }
//   basic_auth_users: { name: bcrypt-hash }

#include <map>
#include <optional>
#include <string>

namespace vpbx::http {

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string min_version = "TLS12";
};

struct WebConfig {
  std::optional<TlsConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash ($2y$/$2b$/$2a$)
};

// Throws std::runtime_error naming the key on a bad file.
WebConfig load_web_config(const std::string& path);

// Constant-time-ish bcrypt check through libcrypt.
bool verify_bcrypt(const std::string& password, const std::string& hash);

}  // namespace vpbx::http
