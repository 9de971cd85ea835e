#pragma once
// The text exposition format 0.0.4, written straight into one string. prometheus-cpp's
// TextSerializer goes through an std::ostream (locale, flags, one virtual call per piece) and
// was most of a 10k-user scrape's time; see bench/results.md.

#include <prometheus/metric_family.h>

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/metrics/text_format.h"

namespace vpbx::http {

// Appends `families` to `out` in the text format: the same lines as prometheus-cpp's
// TextSerializer (HELP, TYPE, samples in order, histograms as _count, _sum, _bucket), with values
// in their shortest round-trip form and HELP text escaped as the format asks.
void write_exposition(std::string& out, const std::vector<prometheus::MetricFamily>& families);
std::string exposition(const std::vector<prometheus::MetricFamily>& families);
// The same text handed to `sink` in pieces of about `chunk_bytes` (whole lines), e.g. to gzip it
// while it is written.
void write_exposition(const std::vector<prometheus::MetricFamily>& families,
                      const std::function<void(std::string_view)>& sink,
                      std::size_t chunk_bytes = 1 << 16);
// The same text appended to `out`, which hands it on in whole lines.
void write_exposition(metrics::TextOutput& out, std::span<const prometheus::MetricFamily> families);
// The samples of `family` without its HELP and TYPE lines, each with `first_labels` (written out
// already, as `account="name"`) before its own labels: one source's share of a family that
// several write.
void write_samples(metrics::TextOutput& out, const prometheus::MetricFamily& family,
                   std::string_view first_labels);

}  // namespace vpbx::http
