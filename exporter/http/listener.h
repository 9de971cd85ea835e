#pragma once
// What a listener needs before its transport starts: the address to bind and the TLS context.

#include <openssl/ssl.h>

#include <string>

#include "exporter/http/detail.h"
#include "exporter/http/web_config.h"

namespace vpbx::http::detail {

// The numeric IPv4 address of `host` ("localhost" becomes "127.0.0.1"); empty stays empty (every
// interface). Throws std::runtime_error, prefixed with `where`, when it does not resolve.
std::string resolve_ipv4(const std::string& host, const std::string& where);

// The TLS context of --web.config.file: certificate chain, key and the lowest version allowed.
// Throws std::runtime_error naming the file that failed.
SSL_CTX* make_tls_context(const TlsConfig& tls);

}  // namespace vpbx::http::detail
