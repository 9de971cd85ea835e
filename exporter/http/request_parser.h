#pragma once
// An incremental HTTP/1.1 request parser: bytes go in as they arrive, in pieces of any size; out
// comes one request (head and decoded body) or the status to refuse it with. It allocates no
// more than its limits allow, so a client cannot make it hold more than max_head_bytes plus
// max_body_bytes however it sends. Pure: no I/O, no clock, no logging (fuzzed in fuzz/).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vpbx::http::detail {

struct ParserLimits {
  std::size_t max_head_bytes = 16384;  // request line and headers together
  std::size_t max_headers = 100;
  std::size_t max_body_bytes = 1048576;
};

struct RequestHead {
  std::string method;
  std::string path;       // percent-decoded, without the query string
  std::string query;      // raw
  int minor_version = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::optional<std::size_t> content_length;
  bool chunked = false;
  bool expect_continue = false;  // "Expect: 100-continue" on HTTP/1.1
  bool keep_alive = true;        // what the client asked for
};

class RequestParser {
 public:
  enum class State { head, body, complete, failed };

  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Takes bytes of the stream; returns how many it used. It stops using bytes once the request is
  // complete (the rest belongs to the next, pipelined, request) or has failed.
  std::size_t feed(std::string_view data);

  State state() const { return state_; }
  bool head_done() const { return state_ == State::body || state_ == State::complete; }
  // True once any byte of a request has arrived (leading blank lines excepted).
  bool started() const { return started_; }
  const RequestHead& head() const { return head_; }
  RequestHead& head() { return head_; }  // to take apart once complete; reset() renews it
  std::string& body() { return body_; }
  // With State::failed: the status to answer (400, 413, 431, 501 or 505) and why.
  int error_status() const { return error_status_; }
  const std::string& error_reason() const { return error_reason_; }

  // Ready for the next request on the same connection.
  void reset();

 private:
  enum class BodyStep { chunk_size, chunk_data, chunk_data_end, trailers, fixed };

  void fail(int status, std::string reason);
  void parse_head(std::string_view text);
  std::size_t feed_body(std::string_view data);
  std::size_t feed_chunked(std::string_view data);
  bool take_line(std::string_view data, std::size_t& used, std::size_t max_line,
                 std::string_view& line);

  ParserLimits limits_;
  State state_ = State::head;
  bool started_ = false;
  std::string buffer_;  // the head so far, or a partial chunk-size/trailer line
  RequestHead head_;
  std::string body_;
  BodyStep step_ = BodyStep::fixed;
  std::size_t remaining_ = 0;  // of the fixed-length body or the current chunk
  std::size_t trailer_bytes_ = 0;
  int error_status_ = 0;
  std::string error_reason_;
};

// Percent-decoding of a path: nullopt on a malformed escape or an encoded NUL.
std::optional<std::string> decode_path(std::string_view raw);

}  // namespace vpbx::http::detail
