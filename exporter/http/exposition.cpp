#include "exporter/http/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace vpbx::http {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void write_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    // Whole numbers as integers (le="1000000000", not "1e+09"), as prometheus-cpp writes them:
    // a bucket's le is part of the series' identity.
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

// Label values escape backslash, double quote and newline; HELP escapes backslash and newline.
void write_escaped(std::string& out, std::string_view text, bool quote) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '\\' && c != '\n' && !(quote && c == '"')) continue;
    out.append(text.data() + start, i - start);
    out += c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\";
    start = i + 1;
  }
  out.append(text.data() + start, text.size() - start);
}

// The sample's name and labels, up to the space before its value. `extra` (le, quantile) comes
// last, as prometheus-cpp puts it.
void write_head(std::string& out, const MetricFamily& family, const ClientMetric& metric,
                std::string_view suffix = {}, std::string_view extra = {}, double extra_value = 0) {
  out += family.name;
  out += suffix;
  if (!metric.label.empty() || !extra.empty()) {
    out += '{';
    bool first = true;
    for (const auto& label : metric.label) {
      if (!first) out += ',';
      first = false;
      out += label.name;
      out += "=\"";
      write_escaped(out, label.value, true);
      out += '"';
    }
    if (!extra.empty()) {
      if (!first) out += ',';
      out += extra;
      out += "=\"";
      write_double(out, extra_value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void write_tail(std::string& out, const ClientMetric& metric) {
  if (metric.timestamp_ms != 0) {
    out += ' ';
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, metric.timestamp_ms);
    out.append(buffer, result.ptr);
  }
  out += '\n';
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    default:
      return "untyped";
  }
}

// After each sample, `flush` may hand what is written so far on.
void write_family(std::string& out, const MetricFamily& family,
                  const std::function<void()>& flush = {}) {
  if (!family.help.empty()) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    write_escaped(out, family.help, false);
    out += '\n';
  }
  out += "# TYPE ";
  out += family.name;
  out += ' ';
  out += type_name(family.type);
  out += '\n';
  for (const auto& metric : family.metric) {
    switch (family.type) {
      case MetricType::Counter:
        write_head(out, family, metric);
        write_double(out, metric.counter.value);
        write_tail(out, metric);
        break;
      case MetricType::Gauge:
        write_head(out, family, metric);
        write_double(out, metric.gauge.value);
        write_tail(out, metric);
        break;
      case MetricType::Summary: {
        const auto& summary = metric.summary;
        write_head(out, family, metric, "_count");
        write_uint(out, summary.sample_count);
        write_tail(out, metric);
        write_head(out, family, metric, "_sum");
        write_double(out, summary.sample_sum);
        write_tail(out, metric);
        for (const auto& q : summary.quantile) {
          write_head(out, family, metric, {}, "quantile", q.quantile);
          write_double(out, q.value);
          write_tail(out, metric);
        }
        break;
      }
      case MetricType::Histogram: {
        const auto& histogram = metric.histogram;
        write_head(out, family, metric, "_count");
        write_uint(out, histogram.sample_count);
        write_tail(out, metric);
        write_head(out, family, metric, "_sum");
        write_double(out, histogram.sample_sum);
        write_tail(out, metric);
        double last = -std::numeric_limits<double>::infinity();
        for (const auto& bucket : histogram.bucket) {
          write_head(out, family, metric, "_bucket", "le", bucket.upper_bound);
          write_uint(out, bucket.cumulative_count);
          write_tail(out, metric);
          last = bucket.upper_bound;
        }
        if (last != std::numeric_limits<double>::infinity()) {
          write_head(out, family, metric, "_bucket", "le", std::numeric_limits<double>::infinity());
          write_uint(out, histogram.sample_count);
          write_tail(out, metric);
        }
        break;
      }
      default:
        write_head(out, family, metric);
        write_double(out, metric.untyped.value);
        write_tail(out, metric);
        break;
    }
    if (flush) flush();
  }
}

}  // namespace

void write_exposition(std::string& out, const std::vector<MetricFamily>& families) {
  for (const auto& family : families) write_family(out, family);
}

void write_exposition(const std::vector<MetricFamily>& families,
                      const std::function<void(std::string_view)>& sink, std::size_t chunk_bytes) {
  std::string buffer;
  buffer.reserve(chunk_bytes + 4096);
  const std::function<void()> flush = [&] {
    if (buffer.size() < chunk_bytes) return;
    sink(buffer);
    buffer.clear();
  };
  for (const auto& family : families) write_family(buffer, family, flush);
  if (!buffer.empty()) sink(buffer);
}

std::string exposition(const std::vector<MetricFamily>& families) {
  // A sample line is rarely longer than this; one reservation saves the doubling copies.
  std::size_t series = 0;
  for (const auto& family : families) series += family.metric.size();
  std::string out;
  out.reserve(series * 128 + 4096);
  write_exposition(out, families);
  return out;
}

}  // namespace vpbx::http
