#include "ctl/bulk.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

namespace vpbx::ctl {

void run_bulk(Context& ctx, const std::vector<std::string>& labels, int workers,
              const std::function<void(std::size_t)>& work) {
  const std::size_t total = labels.size();
  std::atomic<std::size_t> next{0};
  std::mutex progress_mutex;
  std::size_t done = 0;
  const bool progress = ctx.err_is_terminal && total > 1;
  const auto worker = [&] {
    for (std::size_t i = next++; i < total; i = next++) {
      work(i);
      if (!progress) continue;
      std::lock_guard lock(progress_mutex);
      ++done;
      // \r and "erase to end of line": the line is redrawn in place.
      ctx.err << "\r\033[K[" << done << "/" << total << "] " << printable(labels[i], 60)
              << std::flush;
    }
  };
  const std::size_t threads = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::max(1, workers)), 1, std::max<std::size_t>(total, 1));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (progress) ctx.err << "\r\033[K" << std::flush;
}

}  // namespace vpbx::ctl
