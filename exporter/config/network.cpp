#include "exporter/config/network.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace vpbx::config {
namespace {

constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

struct Address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};

std::optional<Address> parse_address(std::string_view text) {
  // inet_pton reads up to a NUL: "10.0.0.1\0junk" is not an address.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN || text.find('\0') != text.npos) return {};
  const std::string s(text);
  Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    if (std::memcmp(a.bytes.data(), kMapped, 12) == 0) {
      std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
      std::memset(a.bytes.data() + 4, 0, 12);
      return a;
    }
    a.v6 = true;
    return a;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Network> parse_network(std::string_view text) {
  const auto slash = text.find('/');
  // Mapped addresses are not accepted as networks: the IPv4 spelling says the same thing plainly.
  const std::string_view host = text.substr(0, slash);
  Address a;
  const std::string s(host);
  if (host.empty() || host.size() > INET6_ADDRSTRLEN || host.find('\0') != host.npos) return {};
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) {
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    if (std::memcmp(a.bytes.data(), kMapped, 12) == 0) return std::nullopt;  // would never match
    a.v6 = true;
  }
  Network n;
  n.v6 = a.v6;
  n.bytes = a.bytes;
  const int max_prefix = a.v6 ? 128 : 32;
  n.prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    int value = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    if (value > max_prefix) return std::nullopt;
    n.prefix = value;
  }
  return n;
}

bool Network::contains(std::string_view address) const {
  const auto a = parse_address(address);
  if (!a || a->v6 != v6) return false;
  const int full = prefix / 8;
  if (std::memcmp(a->bytes.data(), bytes.data(), full) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a->bytes[full] & mask) == (bytes[full] & mask);
}

}  // namespace vpbx::config
