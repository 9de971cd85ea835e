// The traffic generator: calls (presence BUSY/RINGING, then a CDR and IDLE) and DND / CFU toggles
// at Poisson-distributed times. A call lasts 0.5-3 s of real time while its CDR claims a
// plausible `duration`, so a demo shows minutes of traffic in seconds.

#include <algorithm>
#include <queue>

#include "simulator/impl.h"

namespace vpbx::sim {

void Simulator::Impl::traffic_loop() {
  using Clock = std::chrono::steady_clock;
  std::mt19937_64 rng(options.seed + 1);
  std::uniform_int_distribution<int> real_ms(500, 3000);
  auto next_after = [&](double rate) {
    std::exponential_distribution<double> gap(rate);
    return Clock::now() + std::chrono::microseconds(static_cast<std::int64_t>(gap(rng) * 1e6));
  };
  const double call_rate = options.calls_per_second;
  const double toggle_rate = options.feature_toggles_per_second;
  auto next_call = call_rate > 0 ? next_after(call_rate) : Clock::time_point::max();
  auto next_toggle = toggle_rate > 0 ? next_after(toggle_rate) : Clock::time_point::max();
  using Pending = std::pair<Clock::time_point, ActiveCall>;
  auto later = [](const Pending& a, const Pending& b) { return a.first > b.first; };
  std::priority_queue<Pending, std::vector<Pending>, decltype(later)> ending(later);

  while (sleep_for(std::chrono::milliseconds(5))) {
    const auto now = Clock::now();
    while (!ending.empty() && ending.top().first <= now) {
      send_pushes(model.end_call(ending.top().second));
      ending.pop();
    }
    // Catch up on the scheduled arrivals; a generator that fell behind skips, not floods.
    for (int n = 0; next_call <= now && n < 1000; ++n) {
      if (auto started = model.begin_random_call(rng)) {
        send_pushes(std::move(started->second));
        ending.emplace(now + std::chrono::milliseconds(real_ms(rng)), started->first);
      }
      next_call += std::chrono::microseconds(
          static_cast<std::int64_t>(std::exponential_distribution<double>(call_rate)(rng) * 1e6));
    }
    if (next_call <= now) next_call = next_after(call_rate);
    for (int n = 0; next_toggle <= now && n < 1000; ++n) {
      send_pushes(model.toggle_random_feature(rng));
      next_toggle += std::chrono::microseconds(
          static_cast<std::int64_t>(std::exponential_distribution<double>(toggle_rate)(rng) * 1e6));
    }
    if (next_toggle <= now) next_toggle = next_after(toggle_rate);
  }
  // Calls still in progress end now, so every started call leaves its CDR.
  while (!ending.empty()) {
    model.end_call(ending.top().second);
    ending.pop();
  }
}

}  // namespace vpbx::sim
