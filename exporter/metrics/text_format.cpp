#include "exporter/metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

namespace vpbx::metrics {
namespace {

const char* type_name(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    default:
      return "untyped";
  }
}

}  // namespace

void write_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    char buffer[24];
    const auto result =
        std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(value));
    out.append(buffer, result.ptr);
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
  }
}

void write_uint(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

void write_escaped(std::string& out, std::string_view text, bool quote) {
  // One pass over the bytes: string_view::find_first_of calls memchr on the set for every byte,
  // and this runs for every label value of a 300k-series scrape.
  const auto special = [quote](char c) { return c == '\\' || c == '\n' || (quote && c == '"'); };
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!special(c)) continue;
    out.append(text.data() + start, i - start);
    out += c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\";
    start = i + 1;
  }
  out.append(text.data() + start, text.size() - start);
}

void write_family_head(std::string& out, std::string_view name, std::string_view help,
                       prometheus::MetricType type) {
  if (!help.empty()) {
    out += "# HELP ";
    out += name;
    out += ' ';
    write_escaped(out, help, false);
    out += '\n';
  }
  out += "# TYPE ";
  out += name;
  out += ' ';
  out += type_name(type);
  out += '\n';
}

namespace {

// A deferred stretch kept as text: the pieces as they came, each the next one's size hint.
class TextPieces : public DeferredText {
 public:
  explicit TextPieces(TextOutput& out) : out_(out) {}
  void add(std::string& lines) override {
    if (lines.empty()) return;
    const std::size_t size = lines.size();
    pieces_.push_back(std::move(lines));
    // Reserved to the last piece's size: grown by doubling, a 30 MB text would take up to twice
    // that.
    lines = std::string();
    lines.reserve(size + size / 8);
  }
  void done() override {
    for (auto& piece : pieces_) {
      out_.hand_on(std::move(piece));
      std::string().swap(piece);
    }
    pieces_.clear();
  }

 private:
  TextOutput& out_;
  std::vector<std::string> pieces_;
};

}  // namespace

TextOutput::TextOutput(Sink sink, std::size_t chunk_bytes, TextEncoder* encoder)
    : sink_(std::move(sink)), chunk_bytes_(chunk_bytes), encoder_(encoder) {
  buffer_.reserve(chunk_bytes_ + 4096);
}

TextOutput::TextOutput(Taker taker, std::size_t chunk_bytes)
    : taker_(std::move(taker)), chunk_bytes_(chunk_bytes), encoder_(nullptr) {
  buffer_.reserve(chunk_bytes_ + 4096);
}

void TextOutput::hand_on(std::string&& piece) {
  if (piece.empty()) return;
  if (taker_) {
    taker_(std::move(piece));
  } else {
    sink_(piece);
  }
}

void TextOutput::flush() {
  if (buffer_.empty()) return;
  if (taker_) {
    taker_(std::move(buffer_));
    buffer_ = std::string();
    buffer_.reserve(chunk_bytes_ + 4096);
  } else {
    sink_(buffer_);
    buffer_.clear();
  }
}

void TextOutput::write(std::string_view lines) {
  if (lines.empty()) return;
  flush();
  if (taker_) {
    taker_(std::string(lines));
  } else {
    sink_(lines);
  }
}

std::unique_ptr<DeferredText> TextOutput::defer() {
  if (encoder_) return encoder_->defer();
  return std::make_unique<TextPieces>(*this);
}

void TextOutput::write(DeferredText& text) {
  flush();
  text.done();
}

}  // namespace vpbx::metrics
