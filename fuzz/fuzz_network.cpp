// CIDRs (webhook.allowed_networks, trusted_proxies): parse_network and Network::contains must
// agree: a network contains its own address, and a bare address is a host network.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exporter/config/network.h"
#include "fuzz/fuzz_support.h"

using namespace vpbx;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto network = config::parse_network(text);
  // The same text as an address to match, as the receiver matches peers and X-Forwarded-For.
  for (const auto& n : {config::Network{}, config::Network{true, {}, 0}}) (void)n.contains(text);
  if (!network) return 0;
  fuzz::check(network->prefix >= 0 && network->prefix <= (network->v6 ? 128 : 32),
              "a prefix out of range", text);
  const auto slash = text.find('/');
  const std::string_view address = text.substr(0, slash);
  fuzz::check(network->contains(address), "a network does not contain its own address",
              std::string(text));
  if (slash == std::string_view::npos) {
    fuzz::check(network->prefix == (network->v6 ? 128 : 32), "a bare address is not a host", text);
  }
  if (!network->v6) {
    // Dual-stack sockets report IPv4 peers so.
    fuzz::check(network->contains("::ffff:" + std::string(address)),
                "an IPv4 network does not contain its IPv4-mapped address", text);
  }
  return 0;
}
