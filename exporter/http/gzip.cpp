#include "exporter/http/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <vector>

namespace vpbx::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The q value of one "coding;q=0.5" element; 1 when absent, 0 when unparsable (refuse rather
// than guess).
double quality(std::string_view params) {
  while (!params.empty()) {
    const auto semi = params.find(';');
    std::string_view param = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    const auto eq = param.find('=');
    if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "q")) continue;
    const std::string value(trim(param.substr(eq + 1)));
    try {
      std::size_t used = 0;
      const double q = std::stod(value, &used);
      return used == value.size() ? q : 0.0;
    } catch (...) {
      return 0.0;
    }
  }
  return 1.0;
}

}  // namespace

struct GzipStream::State {
  z_stream stream{};
  // On the heap: CivetWeb's worker threads have small stacks.
  std::vector<char> buffer = std::vector<char>(65536);
};

GzipStream::GzipStream(int level) : state_(std::make_unique<State>()) {
  // 16 + MAX_WBITS asks zlib for the gzip wrapper instead of zlib's own.
  if (deflateInit2(&state_->stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    state_.reset();
    throw std::runtime_error("gzip: deflateInit2 failed");
  }
}

GzipStream::~GzipStream() {
  if (state_) deflateEnd(&state_->stream);
}

void GzipStream::deflate_all(std::string_view data, int flush) {
  if (!state_) throw std::runtime_error("gzip: stream already finished");
  z_stream& stream = state_->stream;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  // The output grows by what deflate produces; sizing it by deflateBound() up front would touch
  // as many bytes as the input for an answer ten to twenty times smaller.
  auto& buffer = state_->buffer;
  do {
    stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
    stream.avail_out = static_cast<uInt>(buffer.size());
    const int rc = deflate(&stream, flush);
    if (rc == Z_STREAM_ERROR) throw std::runtime_error("gzip: deflate failed");
    out_.append(buffer.data(), buffer.size() - stream.avail_out);
    if (rc == Z_STREAM_END) return;
  } while (stream.avail_out == 0 || stream.avail_in > 0);
  if (flush == Z_FINISH) throw std::runtime_error("gzip: deflate did not finish");
}

void GzipStream::write(std::string_view data) {
  // avail_in is 32 bits: feed very large inputs in slices.
  constexpr std::size_t kSlice = std::size_t{1} << 30;
  while (!data.empty()) {
    const std::string_view slice = data.substr(0, kSlice);
    deflate_all(slice, Z_NO_FLUSH);
    data.remove_prefix(slice.size());
  }
}

std::string GzipStream::finish() {
  deflate_all({}, Z_FINISH);
  deflateEnd(&state_->stream);
  state_.reset();
  return std::move(out_);
}

std::string gzip_compress(std::string_view data, int level) {
  GzipStream stream(level);
  stream.write(data);
  return stream.finish();
}

bool accepts_gzip(std::string_view accept_encoding) {
  std::optional<double> gzip_q;
  std::optional<double> any_q;
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view element = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto semi = element.find(';');
    const std::string_view coding = trim(element.substr(0, semi));
    const double q = semi == std::string_view::npos ? 1.0 : quality(element.substr(semi + 1));
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) {
      gzip_q = std::max(gzip_q.value_or(0.0), q);
    } else if (coding == "*") {
      any_q = q;
    }
  }
  if (gzip_q) return *gzip_q > 0;
  return any_q.value_or(0.0) > 0;
}

}  // namespace vpbx::http
