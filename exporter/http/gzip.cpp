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

// A raw deflate stream (no wrapper: GzipStream writes the gzip header and trailer itself).
class GzipStream::Deflater {
 public:
  explicit Deflater(int level) {
    if (deflateInit2(&stream_, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::runtime_error("gzip: deflateInit2 failed");
    }
  }
  ~Deflater() { deflateEnd(&stream_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Compresses `data` into `out`; `flush` as deflate() takes it.
  void deflate_into(std::string& out, std::string_view data, int flush) {
    // avail_in is 32 bits: very large inputs go in slices.
    constexpr std::size_t kSlice = std::size_t{1} << 30;
    do {
      const std::string_view slice = data.substr(0, kSlice);
      data.remove_prefix(slice.size());
      run(out, slice, data.empty() ? flush : Z_NO_FLUSH);
    } while (!data.empty());
  }
  void reset() {
    if (deflateReset(&stream_) != Z_OK) throw std::runtime_error("gzip: deflateReset failed");
  }

 private:
  void run(std::string& out, std::string_view data, int flush) {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream_.avail_in = static_cast<uInt>(data.size());
    // The output grows by what deflate produces; sizing it by deflateBound() up front would
    // touch as many bytes as the input for an answer ten to twenty times smaller.
    char buffer[16384];
    do {
      stream_.next_out = reinterpret_cast<Bytef*>(buffer);
      stream_.avail_out = sizeof buffer;
      const int rc = deflate(&stream_, flush);
      if (rc == Z_STREAM_ERROR) throw std::runtime_error("gzip: deflate failed");
      out.append(buffer, sizeof buffer - stream_.avail_out);
      if (rc == Z_STREAM_END) return;
    } while (stream_.avail_out == 0 || stream_.avail_in > 0);
    if (flush == Z_FINISH) throw std::runtime_error("gzip: deflate did not finish");
  }

  z_stream stream_{};
};

// A deferred stretch: its own deflate stream, so it can be compressed before what precedes it.
class GzipStream::Stretch : public metrics::DeferredText {
 public:
  Stretch(GzipStream& owner, int level) : owner_(owner), deflater_(level) {}
  void add(std::string& lines) override {
    crc_ = crc32_z(crc_, reinterpret_cast<const Bytef*>(lines.data()), lines.size());
    text_bytes_ += lines.size();
    deflater_.deflate_into(out_, lines, Z_NO_FLUSH);
    lines.clear();  // its memory is the next piece's
  }
  void done() override { owner_.splice(*this); }

 private:
  friend class GzipStream;
  GzipStream& owner_;
  Deflater deflater_;
  std::string out_;
  unsigned long crc_ = crc32_z(0, nullptr, 0);
  std::uint64_t text_bytes_ = 0;
};

GzipStream::GzipStream(int level)
    : level_(level), main_(std::make_unique<Deflater>(level)), crc_(crc32_z(0, nullptr, 0)) {
  // RFC 1952: magic, deflate, no flags, no mtime, the extra flags zlib sets, OS "Unix".
  const char xfl = level == 1 ? 4 : level == 9 ? 2 : 0;
  out_.assign({'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, xfl, 3});
}

GzipStream::~GzipStream() = default;

void GzipStream::write(std::string_view data) {
  if (!main_) throw std::runtime_error("gzip: stream already finished");
  crc_ = crc32_z(crc_, reinterpret_cast<const Bytef*>(data.data()), data.size());
  text_bytes_ += data.size();
  main_->deflate_into(out_, data, Z_NO_FLUSH);
}

std::unique_ptr<metrics::DeferredText> GzipStream::defer() {
  return std::make_unique<Stretch>(*this, level_);
}

void GzipStream::splice(Stretch& stretch) {
  if (!main_) throw std::runtime_error("gzip: stream already finished");
  if (stretch.text_bytes_ == 0) return;
  // Both end on a byte boundary, in non-final blocks; the main stream starts afresh after the
  // stretch, so none of its back-references reaches into it.
  stretch.deflater_.deflate_into(stretch.out_, {}, Z_SYNC_FLUSH);
  main_->deflate_into(out_, {}, Z_SYNC_FLUSH);
  out_ += stretch.out_;
  std::string().swap(stretch.out_);
  main_->reset();
  crc_ = crc32_combine(crc_, stretch.crc_, static_cast<z_off_t>(stretch.text_bytes_));
  text_bytes_ += stretch.text_bytes_;
  stretch.text_bytes_ = 0;
}

std::string GzipStream::finish() {
  if (!main_) throw std::runtime_error("gzip: stream already finished");
  main_->deflate_into(out_, {}, Z_FINISH);
  main_.reset();
  // The trailer: CRC-32 and the length modulo 2^32, little-endian.
  for (const std::uint64_t value : {std::uint64_t{crc_}, text_bytes_}) {
    for (int byte = 0; byte < 4; ++byte) out_ += static_cast<char>((value >> (8 * byte)) & 0xff);
  }
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
