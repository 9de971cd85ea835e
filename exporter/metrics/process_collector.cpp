#include "exporter/metrics/process_collector.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

#include "exporter/log/log.h"

namespace vpbx::metrics {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

std::optional<double> to_number(std::string_view text) {
  double value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// Each unreadable source is logged once per process: a scrape every 15 s must not flood the log.
void report_unreadable(const std::string& what) {
  static log::OncePerValue once;
  if (once.first_time(what)) log::warn("process metrics: cannot read", {{"source", what}});
}

// Fields of /proc/<pid>/stat after the command name, which may itself hold spaces and ')'.
std::vector<std::string_view> stat_fields(std::string_view stat) {
  std::vector<std::string_view> fields;
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos) return fields;
  std::string_view rest = stat.substr(close + 1);
  while (!rest.empty()) {
    const auto start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  return fields;
}

// stat(5) numbers fields from 1; the first one after the command name is field 3 (state).
std::optional<double> stat_field(const std::vector<std::string_view>& fields, std::size_t number) {
  if (number < 3 || number - 3 >= fields.size()) return std::nullopt;
  return to_number(fields[number - 3]);
}

std::optional<double> boot_time(const std::string& proc_root) {
  const auto text = read_file(proc_root + "/stat");
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("btime ", 0) == 0) return to_number(line.substr(6));
  }
  return std::nullopt;
}

std::optional<double> count_open_fds(const std::string& proc_dir) {
  DIR* dir = ::opendir((proc_dir + "/fd").c_str());
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

// "Max open files            1024                 1048576              files"
std::optional<double> max_open_files(const std::string& proc_dir) {
  const auto text = read_file(proc_dir + "/limits");
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string line;
  constexpr std::string_view prefix = "Max open files";
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream words(line.substr(prefix.size()));
    std::string soft;
    words >> soft;
    if (soft == "unlimited") return std::nullopt;
    return to_number(soft);
  }
  return std::nullopt;
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

ProcessStats read_process_stats(const std::string& proc_dir, const std::string& proc_root) {
  ProcessStats stats;
  try {
    const long ticks = ::sysconf(_SC_CLK_TCK);
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (const auto stat = read_file(proc_dir + "/stat")) {
      const auto fields = stat_fields(*stat);
      const auto utime = stat_field(fields, 14);
      const auto stime = stat_field(fields, 15);
      const auto start_ticks = stat_field(fields, 22);
      const auto vsize = stat_field(fields, 23);
      const auto rss_pages = stat_field(fields, 24);
      if (utime && stime && ticks > 0) stats.cpu_seconds = (*utime + *stime) / ticks;
      if (vsize) stats.virtual_memory_bytes = *vsize;
      if (rss_pages && page_size > 0) stats.resident_memory_bytes = *rss_pages * page_size;
      const auto boot = boot_time(proc_root);
      if (start_ticks && boot && ticks > 0) stats.start_time_seconds = *boot + *start_ticks / ticks;
      if (!boot) report_unreadable(proc_root + "/stat");
    } else {
      report_unreadable(proc_dir + "/stat");
    }
    stats.open_fds = count_open_fds(proc_dir);
    if (!stats.open_fds) report_unreadable(proc_dir + "/fd");
    stats.max_fds = max_open_files(proc_dir);
  } catch (const std::exception& e) {
    report_unreadable(std::string("process stats: ") + e.what());
  } catch (...) {
    report_unreadable("process stats: unknown error");
  }
  return stats;
}

ProcessCollector::ProcessCollector(std::string proc_dir, std::string proc_root)
    : proc_dir_(std::move(proc_dir)), proc_root_(std::move(proc_root)) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  try {
    using prometheus::MetricType;
    const ProcessStats s = read_process_stats(proc_dir_, proc_root_);
    if (s.cpu_seconds)
      families.push_back(family("process_cpu_seconds_total",
                                "Total user and system CPU time spent in seconds.",
                                MetricType::Counter, *s.cpu_seconds));
    if (s.open_fds)
      families.push_back(family("process_open_fds", "Number of open file descriptors.",
                                MetricType::Gauge, *s.open_fds));
    if (s.max_fds)
      families.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                                MetricType::Gauge, *s.max_fds));
    if (s.virtual_memory_bytes)
      families.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                MetricType::Gauge, *s.virtual_memory_bytes));
    if (s.resident_memory_bytes)
      families.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                                MetricType::Gauge, *s.resident_memory_bytes));
    if (s.start_time_seconds)
      families.push_back(family("process_start_time_seconds",
                                "Start time of the process since unix epoch in seconds.",
                                MetricType::Gauge, *s.start_time_seconds));
  } catch (...) {
    // Out of memory while building the families: an empty answer beats a dead process.
    families.clear();
  }
  return families;
}

}  // namespace vpbx::metrics
