#pragma once
// Internals of the HTTP server, exposed for tests only.

#include <optional>
#include <string>
#include <string_view>

namespace vpbx::http::detail {

struct ListenAddress {
  std::string host;  // empty: every IPv4 interface
  int port = 0;
};

// "host:port" or ":port"; throws std::runtime_error on anything else (IPv6 included: this
// CivetWeb build has no IPv6).
ListenAddress parse_listen_address(const std::string& address);

// Standard base64 with padding; nullopt on malformed input.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace vpbx::http::detail
