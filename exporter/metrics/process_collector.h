#pragma once
// The standard process_* self-metrics, read from /proc/self at every scrape, with the names, help
// texts and types of the Go client so that the usual dashboards and alerts work unchanged.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <optional>
#include <string>
#include <vector>

namespace vpbx::metrics {

// One reading of the process; a field is empty when its source could not be read.
struct ProcessStats {
  std::optional<double> cpu_seconds;
  std::optional<double> resident_memory_bytes;
  std::optional<double> virtual_memory_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> start_time_seconds;
};

// Reads the stats of the process whose /proc directory is `proc_dir` ("/proc/self" normally; tests
// may point it at a fixture). `proc_root` holds `stat` for the boot time. Never throws.
ProcessStats read_process_stats(const std::string& proc_dir = "/proc/self",
                                const std::string& proc_root = "/proc");

class ProcessCollector : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::string proc_dir = "/proc/self", std::string proc_root = "/proc");
  // Reports what could be read and skips the rest; never throws.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string proc_dir_;
  std::string proc_root_;
};

}  // namespace vpbx::metrics
