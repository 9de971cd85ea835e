#pragma once
// Waiting in tests: for a condition, with a deadline, never for a fixed time. A loaded machine
// (sanitizers, a build beside the suite) only makes the wait longer, not the test fail.

#include <chrono>
#include <thread>

namespace vpbx::test {

// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false).
template <typename Condition>
bool wait_until(Condition condition,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace vpbx::test
