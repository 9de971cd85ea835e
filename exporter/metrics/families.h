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

inline void add_gauge(prometheus::MetricFamily& family,
                      std::initializer_list<std::pair<const char*, std::string>> labels,
                      double value) {
  prometheus::ClientMetric metric;
  for (const auto& [name, label_value] : labels) metric.label.push_back({name, label_value});
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

inline void add_counter(prometheus::MetricFamily& family,
                        std::initializer_list<std::pair<const char*, std::string>> labels,
                        double value) {
  prometheus::ClientMetric metric;
  for (const auto& [name, label_value] : labels) metric.label.push_back({name, label_value});
  metric.counter.value = value;
  family.metric.push_back(std::move(metric));
}

}  // namespace vpbx::metrics
