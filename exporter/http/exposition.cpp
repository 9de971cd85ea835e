#include "exporter/http/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

#include "exporter/metrics/text_format.h"

namespace vpbx::http {
namespace {

using metrics::write_double;
using metrics::write_escaped;
using metrics::write_uint;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// The sample's name and labels, up to the space before its value: `first` (labels already
// written out, e.g. account="…") first, `extra` (le, quantile) last, as prometheus-cpp puts it.
void write_head(std::string& out, const MetricFamily& family, const ClientMetric& metric,
                std::string_view first, std::string_view suffix = {}, std::string_view extra = {},
                double extra_value = 0) {
  out += family.name;
  out += suffix;
  if (!first.empty() || !metric.label.empty() || !extra.empty()) {
    out += '{';
    out += first;
    bool more = !first.empty();
    for (const auto& label : metric.label) {
      if (more) out += ',';
      more = true;
      out += label.name;
      out += "=\"";
      write_escaped(out, label.value, true);
      out += '"';
    }
    if (!extra.empty()) {
      if (more) out += ',';
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

// After each sample, `flush` may hand what is written so far on.
void write_samples(std::string& out, const MetricFamily& family, std::string_view first,
                   const std::function<void()>& flush = {}) {
  for (const auto& metric : family.metric) {
    switch (family.type) {
      case MetricType::Counter:
        write_head(out, family, metric, first);
        write_double(out, metric.counter.value);
        write_tail(out, metric);
        break;
      case MetricType::Gauge:
        write_head(out, family, metric, first);
        write_double(out, metric.gauge.value);
        write_tail(out, metric);
        break;
      case MetricType::Summary: {
        const auto& summary = metric.summary;
        write_head(out, family, metric, first, "_count");
        write_uint(out, summary.sample_count);
        write_tail(out, metric);
        write_head(out, family, metric, first, "_sum");
        write_double(out, summary.sample_sum);
        write_tail(out, metric);
        for (const auto& q : summary.quantile) {
          write_head(out, family, metric, first, {}, "quantile", q.quantile);
          write_double(out, q.value);
          write_tail(out, metric);
        }
        break;
      }
      case MetricType::Histogram: {
        const auto& histogram = metric.histogram;
        write_head(out, family, metric, first, "_count");
        write_uint(out, histogram.sample_count);
        write_tail(out, metric);
        write_head(out, family, metric, first, "_sum");
        write_double(out, histogram.sample_sum);
        write_tail(out, metric);
        double last = -std::numeric_limits<double>::infinity();
        for (const auto& bucket : histogram.bucket) {
          write_head(out, family, metric, first, "_bucket", "le", bucket.upper_bound);
          write_uint(out, bucket.cumulative_count);
          write_tail(out, metric);
          last = bucket.upper_bound;
        }
        if (last != std::numeric_limits<double>::infinity()) {
          write_head(out, family, metric, first, "_bucket", "le",
                     std::numeric_limits<double>::infinity());
          write_uint(out, histogram.sample_count);
          write_tail(out, metric);
        }
        break;
      }
      default:
        write_head(out, family, metric, first);
        write_double(out, metric.untyped.value);
        write_tail(out, metric);
        break;
    }
    if (flush) flush();
  }
}

void write_family(std::string& out, const MetricFamily& family,
                  const std::function<void()>& flush = {}) {
  metrics::write_family_head(out, family.name, family.help, family.type);
  write_samples(out, family, {}, flush);
}

}  // namespace

void write_exposition(std::string& out, const std::vector<MetricFamily>& families) {
  for (const auto& family : families) write_family(out, family);
}

void write_exposition(const std::vector<MetricFamily>& families,
                      const std::function<void(std::string_view)>& sink, std::size_t chunk_bytes) {
  metrics::TextOutput out(sink, chunk_bytes);
  write_exposition(out, families);
  out.finish();
}

void write_exposition(metrics::TextOutput& out, std::span<const MetricFamily> families) {
  const std::function<void()> flush = [&out] { out.line_done(); };
  for (const auto& family : families) write_family(out.text(), family, flush);
}

void write_samples(metrics::TextOutput& out, const MetricFamily& family,
                   std::string_view first_labels) {
  write_samples(out.text(), family, first_labels, [&out] { out.line_done(); });
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
