// HTTP requests as the listener reads them: the bytes of a connection, fed to the request
// parser in pieces whose sizes come from the input itself, as the network would split them.
// Invariants: the parser never takes a byte past a complete request; the same bytes give the
// same outcome however they are split; nothing grows past the limits; a failed parse always has
// a 4xx/5xx status; pipelined requests parse again after reset().
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exporter/http/request_parser.h"
#include "fuzz/fuzz_support.h"

using vpbx::http::detail::ParserLimits;
using vpbx::http::detail::RequestParser;

namespace {

constexpr ParserLimits kLimits{2048, 32, 4096};

struct Outcome {
  RequestParser::State state;
  int status = 0;
  std::size_t used = 0;
  std::string method, path, query, body;
  bool keep_alive = false;
};

// Feeds `bytes` in pieces of the sizes `split` names (cycled); stops when the parser does.
Outcome parse(std::string_view bytes, std::string_view split) {
  RequestParser parser(kLimits);
  Outcome out;
  std::size_t next = 0;
  while (out.used < bytes.size() && (parser.state() == RequestParser::State::head ||
                                     parser.state() == RequestParser::State::body)) {
    const std::size_t piece =
        split.empty() ? bytes.size() : 1 + static_cast<unsigned char>(split[next++ % split.size()]);
    const std::string_view chunk = bytes.substr(out.used, piece);
    const std::size_t taken = parser.feed(chunk);
    vpbx::fuzz::check(taken <= chunk.size(), "feed() used more bytes than it was given");
    out.used += taken;
    if (taken < chunk.size()) break;
  }
  out.state = parser.state();
  out.status = parser.error_status();
  if (parser.state() == RequestParser::State::failed) {
    vpbx::fuzz::check(out.status >= 400 && out.status < 600, "a failure without an error status");
  }
  vpbx::fuzz::check(parser.body().size() <= kLimits.max_body_bytes, "a body past the limit");
  if (parser.head_done()) {
    out.method = parser.head().method;
    out.path = parser.head().path;
    out.query = parser.head().query;
    out.keep_alive = parser.head().keep_alive;
    vpbx::fuzz::check(parser.head().headers.size() <= kLimits.max_headers, "too many headers");
    vpbx::fuzz::check(out.path.find('\0') == std::string::npos, "a NUL in the decoded path");
  }
  if (parser.state() == RequestParser::State::complete) out.body = parser.body();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte says how long the split pattern is; the pattern, then the request bytes.
  if (size == 0) return 0;
  const std::size_t pattern = std::min<std::size_t>(data[0] % 8, size - 1);
  const std::string_view split(reinterpret_cast<const char*>(data + 1), pattern);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1 + pattern),
                               size - 1 - pattern);

  const Outcome whole = parse(bytes, {});
  const Outcome pieces = parse(bytes, split);
  const Outcome bytewise = parse(bytes, std::string_view("\0", 1));
  for (const Outcome* other : {&pieces, &bytewise}) {
    // An incomplete head may fail on its size at a different byte depending on the split; a
    // finished parse must agree in full.
    if (whole.state == RequestParser::State::complete ||
        other->state == RequestParser::State::complete) {
      vpbx::fuzz::check(other->state == whole.state && other->used == whole.used &&
                            other->method == whole.method && other->path == whole.path &&
                            other->query == whole.query && other->body == whole.body &&
                            other->keep_alive == whole.keep_alive,
                        "a split changes the parsed request");
    }
    if (whole.state == RequestParser::State::failed &&
        other->state == RequestParser::State::failed) {
      vpbx::fuzz::check(other->status == whole.status, "a split changes the error status");
    }
  }
  // What follows a complete request parses on its own after reset(), as on keep-alive.
  if (whole.state == RequestParser::State::complete && whole.used < bytes.size()) {
    RequestParser parser(kLimits);
    parser.feed(bytes);
    parser.reset();
    vpbx::fuzz::check(!parser.started(), "reset() keeps a started request");
    parser.feed(bytes.substr(whole.used));
  }
  return 0;
}
