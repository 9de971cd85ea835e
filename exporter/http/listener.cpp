#include "exporter/http/listener.h"

#include <netdb.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace vpbx::http::detail {

ListenAddress parse_listen_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    throw std::runtime_error("listen address '" + address + "': expected host:port or :port");
  }
  ListenAddress result;
  result.host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      std::stoi(port) > 65535) {
    throw std::runtime_error("listen address '" + address + "': bad port '" + port + "'");
  }
  result.port = std::stoi(port);
  if (!result.host.empty() && result.host.front() == '[') {
    throw std::runtime_error("listen address '" + address +
                             "': IPv6 is not supported by this CivetWeb build");
  }
  return result;
}

std::string resolve_ipv4(const std::string& host, const std::string& where) {
  if (host.empty()) return host;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    throw std::runtime_error(where + ": cannot resolve '" + host + "' to an IPv4 address");
  }
  char numeric[NI_MAXHOST];
  const int rc = getnameinfo(found->ai_addr, found->ai_addrlen, numeric, sizeof numeric, nullptr,
                             0, NI_NUMERICHOST);
  freeaddrinfo(found);
  if (rc != 0) throw std::runtime_error(where + ": cannot resolve '" + host + "'");
  return numeric;
}

SSL_CTX* make_tls_context(const TlsConfig& tls) {
  const auto failure = [](SSL_CTX* ctx, const std::string& what) {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    char text[256] = "unknown error";
    if (code != 0) ERR_error_string_n(code, text, sizeof text);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    return std::runtime_error("TLS: " + what + " (" + text + ")");
  };
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) throw failure(ctx, "cannot create a context");
  int min_version = TLS1_2_VERSION;
  if (tls.min_version == "TLS10") min_version = TLS1_VERSION;
  if (tls.min_version == "TLS11") min_version = TLS1_1_VERSION;
  if (tls.min_version == "TLS13") min_version = TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Writes resume with the rest of the buffer, which the transport may have moved.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    throw failure(ctx, "cannot use the certificate " + tls.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw failure(ctx, "cannot use the key " + tls.key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw failure(ctx, "the key does not match the certificate " + tls.cert_file);
  }
  return ctx;
}

}  // namespace vpbx::http::detail
