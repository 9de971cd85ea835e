// X-Forwarded-For behind trusted proxies (webhook::detail::client_address). Input: the peer's
// address, a newline, then the header's value. The answer is always one of the addresses given,
// the peer itself when the peer is not a trusted proxy.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/network.h"
#include "exporter/webhook/detail.h"
#include "fuzz/fuzz_support.h"

using namespace vpbx;

namespace {

const std::vector<config::Network>& trusted() {
  static const std::vector<config::Network> networks = [] {
    std::vector<config::Network> out;
    for (const char* cidr : {"10.0.0.0/8", "127.0.0.1", "192.168.0.0/16", "::1", "fd00::/8"}) {
      const auto n = config::parse_network(cidr);
      if (!n) vpbx::fuzz::fail("a fixed trusted proxy does not parse", cidr);
      out.push_back(*n);
    }
    return out;
  }();
  return networks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto newline = text.find('\n');
  const std::string_view peer = text.substr(0, newline);
  const std::string_view header =
      newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);

  const std::string client = webhook::detail::client_address(peer, header, trusted());
  if (!webhook::detail::in_any(trusted(), peer)) {
    fuzz::check(client == peer, "an untrusted peer's X-Forwarded-For was believed",
                std::string(text));
  } else {
    fuzz::check(client == peer || header.find(client) != std::string_view::npos,
                "the client address is neither the peer nor in the header", std::string(text));
  }
  if (!peer.empty()) fuzz::check(!client.empty(), "an empty client address", std::string(text));
  (void)webhook::detail::client_address(peer, header, {});
  (void)webhook::detail::is_json_content_type(header);
  return 0;
}
