// Inputs the fuzz targets (fuzz/) once failed on, kept in fuzz/regressions/<target>/ and
// replayed here, so that the plain test builds guard them too.
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <string>

#include "exporter/config/network.h"

using namespace vpbx;

namespace {

std::string regression(const std::string& target, const std::string& name) {
  const std::string path = VPBX_SOURCE_DIR "/fuzz/regressions/" + target + "/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("a network in IPv4-mapped IPv6 spelling is refused: it could never match",
          "[fuzz][config]") {
  // Network::contains() matches ::ffff:a.b.c.d as IPv4, so ::ffff:0:0/96 validated and then
  // matched no address at all: allowed_networks refused everyone, trusted_proxies trusted no one.
  const std::string text = regression("network", "mapped_ipv6_network");
  CHECK(text == "::ffff:0:0/96");
  CHECK_FALSE(config::parse_network(text));
  CHECK_FALSE(config::parse_network("::ffff:10.0.0.0/104"));
  CHECK_FALSE(config::parse_network("::ffff:192.0.2.7"));
  // IPv6 networks around the mapped range are still fine, and IPv4 ones match mapped peers.
  CHECK(config::parse_network("::/0"));
  CHECK(config::parse_network("::fffe:0:0/96"));
  CHECK(config::parse_network("10.0.0.0/8")->contains("::ffff:10.1.2.3"));
}

TEST_CASE("an address with a NUL byte is not an address", "[fuzz][config]") {
  // inet_pton stops at the NUL, so "1.2.3.1\0..." parsed as the network 1.2.3.1, and an
  // X-Forwarded-For entry "10.0.0.1\0junk" matched 10.0.0.0/8.
  const std::string text = regression("network", "nul_in_address");
  REQUIRE(text.find('\0') != std::string::npos);
  CHECK_FALSE(config::parse_network(text));
  CHECK_FALSE(config::parse_network(std::string("10.0.0.0\0/8", 11)));
  const auto net = config::parse_network("10.0.0.0/8");
  REQUIRE(net);
  CHECK_FALSE(net->contains(std::string("10.0.0.1\0junk", 13)));
  CHECK(net->contains("10.0.0.1"));
}
