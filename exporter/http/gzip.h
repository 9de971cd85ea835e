#pragma once
// gzip for /metrics: a text exposition of a few thousand series shrinks about tenfold.

#include <string>
#include <string_view>

namespace vpbx::http {

// Compresses `data` into one gzip member (RFC 1952). Throws std::runtime_error if zlib fails.
std::string gzip_compress(std::string_view data, int level = 6);

// True when an Accept-Encoding header value lets us answer with gzip: "gzip", "x-gzip" or "*" is
// listed without q=0 (and gzip itself is not refused when "*" is what allows it).
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace vpbx::http
