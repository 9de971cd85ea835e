// Inputs the fuzz targets (fuzz/) once failed on, kept in fuzz/regressions/<target>/ and
// replayed here, so that the plain test builds guard them too.
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <string>

#include "exporter/api/models.h"
#include "exporter/config/config.h"
#include "exporter/config/network.h"
#include "exporter/http/request_parser.h"
#include "exporter/state/records.h"
#include "exporter/state/store.h"

using namespace vpbx;

namespace {

std::string regression(const std::string& target, const std::string& name) {
  const std::string path = VPBX_SOURCE_DIR "/fuzz/regressions/" + target + "/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// RFC 3629, written apart from the code under test.
bool valid_utf8(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 0;
    if (len == 0 || i + len > text.size()) return false;
    std::uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

config::Config seed_users() {
  config::Config config;
  for (const std::int64_t id : {168382, 176125}) {
    config::User user;
    user.enterprise = "291908.bus.ent";
    user.user_id = id;
    config.users.push_back(user);
  }
  return config;
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

TEST_CASE("a state file nested a million deep is refused or loaded, never a crash",
          "[fuzz][state]") {
  // Store::restore parsed the state file with RapidJSON's recursive parser: one stack frame per
  // nesting level, so a corrupt file of brackets overflowed the stack at start-up (ASan:
  // stack-overflow in GenericReader::ParseArray, from 100 000 levels under fuzz_state_file). Too
  // large for fuzz/regressions/, so built here.
  const std::size_t depth = 1000000;
  const std::string json = R"({"version":1,"journal_seq":1,"users":[],"histograms":[],)"
                           R"("cursors":{},"seen_call_logs":[)" +
                           std::string(depth, '[') + std::string(depth, ']') + "]}";
  state::Store store;
  store.configure(seed_users());
  std::uint64_t seq = 0;
  std::string error;
  store.restore(json, seq, error);
  CHECK(store.seen_call_log_count() == 0);
}

TEST_CASE("a lone low surrogate escape is refused like invalid UTF-8", "[fuzz][api]") {
  // "\udc00" is valid JSON syntax but no character: RapidJSON writes it as the bytes ED B0 80,
  // which the raw-text UTF-8 check never sees. The feature name became a label value that is not
  // UTF-8 (which Prometheus refuses), and the feature's PUT body was refused by our own parser.
  const auto features = api::parse_features(regression("api_responses", "lone_low_surrogate.json"));
  if (features) {
    for (const auto& f : *features) {
      CHECK(valid_utf8(f.feat_name));
      CHECK(valid_utf8(f.raw_json));
    }
  }
  const auto body = api::parse_push_body(regression("push_body", "lone_low_surrogate.json"));
  if (body) {
    for (const auto& event : body->feature_events) {
      REQUIRE(event.feature);
      CHECK(valid_utf8(event.feature->feat_name));
    }
  }
}

TEST_CASE("a state file written after a journal replay loads back", "[fuzz][state]") {
  // decode_journal took a call of -1 s; replayed, it left a negative sum, and the snapshot written
  // right after it was refused by restore ("not one sum per direction") at the next start: the
  // whole state file was set aside. Both sides must agree on what a call record may hold.
  const auto batches = state::decode_journal(regression("journal", "negative_duration.journal"));
  state::Store store;
  store.configure(seed_users());
  for (const auto& batch : batches) store.commit(batch, /*replay=*/true);
  const std::string snapshot = store.snapshot_json(7);

  state::Store restarted;
  restarted.configure(seed_users());
  std::uint64_t seq = 0;
  std::string error;
  CHECK(restarted.restore(snapshot, seq, error));
  CHECK(error.empty());
}

TEST_CASE("a request head refused for its size is refused at the same byte however it is split",
          "[fuzz][http]") {
  // fuzz_http_request's input: a split pattern, then the bytes. A head with no end within the
  // limit was refused at limit + 1 bytes when fed a byte at a time, but parsed when its end came
  // in the last 4 bytes of one larger read.
  const std::string input = regression("http_request", "split-changes-431");
  const std::size_t pattern = static_cast<unsigned char>(input[0]) % 8;
  const std::string bytes = input.substr(1 + pattern);
  const http::detail::ParserLimits limits{2048, 32, 4096};
  http::detail::RequestParser whole(limits);
  whole.feed(bytes);
  http::detail::RequestParser bytewise(limits);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytewise.state() == http::detail::RequestParser::State::failed ||
        bytewise.feed(std::string_view(bytes).substr(i, 1)) == 0) {
      break;
    }
  }
  CHECK(whole.state() == bytewise.state());
  CHECK(whole.error_status() == bytewise.error_status());

  // At the boundary: a head whose terminator ends exactly at limit + 4 bytes is read either way.
  const std::string head = "GET / HTTP/1.1\r\nX: ";
  const std::string exact = head + std::string(2048 - head.size() - 2, 'a') + "\r\n\r\n";
  REQUIRE(exact.size() == 2048 + 2);
  for (const std::size_t piece : {std::size_t{1}, exact.size()}) {
    http::detail::RequestParser parser(limits);
    for (std::size_t i = 0; i < exact.size(); i += piece) {
      parser.feed(std::string_view(exact).substr(i, piece));
    }
    CHECK(parser.state() == http::detail::RequestParser::State::complete);
  }
}
