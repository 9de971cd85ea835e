#pragma once
// The pieces of the text exposition format 0.0.4, shared by the writer of metric families
// (http/exposition.cpp) and the state store, which writes its series straight from its records.

#include <prometheus/metric_type.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace vpbx::metrics {

// Values in their shortest round-trip form; whole numbers as integers (le="1000000000", not
// "1e+09"), as prometheus-cpp writes them: a bucket's le is part of the series' identity.
void write_double(std::string& out, double value);
void write_uint(std::string& out, std::uint64_t value);
// Label values escape backslash, double quote and newline (`quote`); HELP escapes backslash and
// newline.
void write_escaped(std::string& out, std::string_view text, bool quote);
// "# HELP name help\n# TYPE name type\n" (no HELP line for an empty help).
void write_family_head(std::string& out, std::string_view name, std::string_view help,
                       prometheus::MetricType type);

// A stretch of the text written piece by piece while text after it is written too, handed on in
// its place once done. The state store needs it: it writes its per-user families side by side, a
// chunk of users at a time (so a user's series agree), and the format wants each family whole.
class DeferredText {
 public:
  virtual ~DeferredText() = default;
  // Takes `lines` (whole lines) and leaves the string empty for the next piece.
  virtual void add(std::string& lines) = 0;
  // Hands the stretch on, in order, and lets its memory go. Called by TextOutput::write().
  virtual void done() = 0;
};

// A sink that keeps deferred stretches in its own encoding, so that they need not be held as text
// (gzip compresses each one as it comes).
class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  virtual std::unique_ptr<DeferredText> defer() = 0;
};

// Text handed to a sink in pieces of about `chunk_bytes`, each of whole lines: append lines to
// text(), call line_done() after each, finish() at the end.
class TextOutput {
 public:
  using Sink = std::function<void(std::string_view)>;
  // Takes the pieces themselves: a plain /metrics answer is sent as them, so that a 31 MB text
  // is never copied into one string while its pieces still exist.
  using Taker = std::function<void(std::string&&)>;
  // With an encoder, defer() uses the encoder's stretches; `sink` takes all the rest.
  explicit TextOutput(Sink sink, std::size_t chunk_bytes = 1 << 16, TextEncoder* encoder = nullptr);
  TextOutput(Taker taker, std::size_t chunk_bytes);
  std::string& text() { return buffer_; }
  void line_done() {
    if (buffer_.size() >= chunk_bytes_) flush();
  }
  void finish() { flush(); }
  // Text of whole lines written elsewhere, handed on as it is.
  void write(std::string_view lines);
  // A stretch to fill while other text is written, then to hand on with write(): kept as pieces
  // of text, or in the encoder's form.
  std::unique_ptr<DeferredText> defer();
  void write(DeferredText& text);
  // Hands a piece on, to the taker as it is or to the sink.
  void hand_on(std::string&& piece);

 private:
  void flush();
  Sink sink_;
  Taker taker_;
  std::size_t chunk_bytes_;
  TextEncoder* encoder_;
  std::string buffer_;
};

// Something that writes its own series as text at scrape time, rather than as MetricFamily
// objects: the state store, whose 10k users make 300k series.
class TextSource {
 public:
  virtual ~TextSource() = default;
  // Never throws.
  virtual void write_exposition(TextOutput& out) const = 0;
};

}  // namespace vpbx::metrics
