#pragma once
// Work on many users (dnd --all-users, checkout --users-file): up to api.max_concurrent_requests
// users at once, every request through the client's limiter, so that a hotel's 400 rooms never
// exceed api.max_requests_per_second. On a terminal, stderr shows one progress line.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "ctl/context.h"

namespace vpbx::ctl {

// Calls work(i) for i in [0, labels.size()), from up to `workers` threads; returns when all
// are done. `labels[i]` names item i on the progress line.
void run_bulk(Context& ctx, const std::vector<std::string>& labels, int workers,
              const std::function<void(std::size_t)>& work);

}  // namespace vpbx::ctl
