#pragma once
// gzip for /metrics: a text exposition of a few thousand series shrinks about tenfold.

#include <memory>
#include <string>
#include <string_view>

namespace vpbx::http {

// Compresses `data` into one gzip member (RFC 1952). Throws std::runtime_error if zlib fails.
std::string gzip_compress(std::string_view data, int level = 6);

// One gzip member written piece by piece, so that a large exposition is compressed as it is
// rendered instead of after (no second full-size copy of the text in memory). Throws
// std::runtime_error if zlib fails.
class GzipStream {
 public:
  explicit GzipStream(int level = 6);
  ~GzipStream();
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  void write(std::string_view data);
  std::string finish();  // the compressed member; the stream is done afterwards

 private:
  void deflate_all(std::string_view data, int flush);
  struct State;
  std::unique_ptr<State> state_;
  std::string out_;
};

// True when an Accept-Encoding header value lets us answer with gzip: "gzip", "x-gzip" or "*" is
// listed without q=0 (and gzip itself is not refused when "*" is what allows it).
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace vpbx::http
