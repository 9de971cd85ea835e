#pragma once
// gzip for /metrics: a text exposition of a few thousand series shrinks about tenfold.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "exporter/metrics/text_format.h"

namespace vpbx::http {

// Compresses `data` into one gzip member (RFC 1952). Throws std::runtime_error if zlib fails.
std::string gzip_compress(std::string_view data, int level = 6);

// One gzip member written piece by piece, so that a large exposition is compressed as it is
// rendered instead of after (no second full-size copy of the text in memory). Throws
// std::runtime_error if zlib fails.
//
// Deferred stretches (metrics::TextEncoder) are compressed on their own as their pieces come:
// each is a run of deflate blocks that refers to nothing before it and ends on a byte boundary
// (Z_SYNC_FLUSH), spliced in its place when done, the way pigz splices its blocks, with the CRC
// combined. The result is one ordinary gzip member, a few bytes larger.
class GzipStream : public metrics::TextEncoder {
 public:
  explicit GzipStream(int level = 6);
  ~GzipStream() override;
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  void write(std::string_view data);
  std::unique_ptr<metrics::DeferredText> defer() override;
  std::string finish();  // the compressed member; the stream is done afterwards
  // The text compressed so far, deferred stretches included.
  std::uint64_t text_bytes() const { return text_bytes_; }

 private:
  class Deflater;
  class Stretch;
  void splice(Stretch& stretch);

  int level_;
  std::unique_ptr<Deflater> main_;
  std::string out_;
  unsigned long crc_;
  std::uint64_t text_bytes_ = 0;
};

// True when an Accept-Encoding header value lets us answer with gzip: "gzip", "x-gzip" or "*" is
// listed without q=0 (and gzip itself is not refused when "*" is what allows it).
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace vpbx::http
