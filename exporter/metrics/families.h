#pragma once
// Builds metric families from a snapshot at scrape time, for series whose label values change
// (a platform version, a presence state): rebuilding them avoids prometheus-cpp's Family::Remove,
// which leaves dangling references behind.

#include <prometheus/metric_family.h>

#include <initializer_list>
#include <string>
#include <utility>

namespace vpbx::metrics {

inline prometheus::MetricFamily make_family(std::string name, std::string help,
                                            prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

using Labels = std::initializer_list<std::pair<const char*, std::string>>;

// A new sample of `family` with `labels`; the caller sets its value.
inline prometheus::ClientMetric& add_sample(prometheus::MetricFamily& family, Labels labels) {
  auto& metric = family.metric.emplace_back();
  for (const auto& [name, label_value] : labels) metric.label.push_back({name, label_value});
  return metric;
}

inline void add_gauge(prometheus::MetricFamily& family, Labels labels, double value) {
  add_sample(family, labels).gauge.value = value;
}

inline void add_counter(prometheus::MetricFamily& family, Labels labels, double value) {
  add_sample(family, labels).counter.value = value;
}

}  // namespace vpbx::metrics
