#pragma once
// IPv4/IPv6 networks for webhook.allowed_networks and webhook.trusted_proxies: parsed once
// here so that validation and matching agree on what "10.0.0.0/8" means.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vpbx::config {

struct Network {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4
  int prefix = 0;

  // True when `address` (a literal IPv4 or IPv6 address) is inside. An IPv4-mapped IPv6
  // address (::ffff:10.1.2.3) matches IPv4 networks, as dual-stack sockets report them so.
  bool contains(std::string_view address) const;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). nullopt when invalid.
std::optional<Network> parse_network(std::string_view text);

}  // namespace vpbx::config
