#pragma once
// An account's polling threads: one keeps the times of all of its collectors (each sweep's slots,
// the system poll's interval) and hands each poll, when due, to one of max_concurrent_requests
// workers; with one, the pacing thread runs the poll itself (the account's API limiter would let
// only one run at a time anyway). Every collector with threads of its own made an account 4 to 16
// threads, each holding its stack and glibc's per-thread cache of freed memory: 40 accounts were
// 10 MB more than the same users in one (bench/accounts.sh).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vpbx::collectors {

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;

  // A collector's schedule, stepped on the pacing thread.
  class Task {
   public:
    virtual ~Task() = default;
    // Starts the polls that are due (Pacer::run) and returns when to be stepped next; wake()
    // steps it sooner. Must not throw.
    virtual Clock::time_point step() = 0;
  };

  explicit Pacer(int workers);
  ~Pacer();  // joins the threads; every task is removed by then
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  void add(Task& task);  // stepped at once, then when it asks
  // Once this returns the task is not being stepped and never will be again (polls it started
  // may still be running: the task waits for them itself).
  void remove(Task& task);
  // From Task::step(): hands `poll` to a worker, or with one worker runs it here and now. Must
  // not throw.
  void run(std::function<void()> poll);
  // Steps every task again soon (a poll finished, a stop was asked).
  void wake();

 private:
  struct Scheduled {
    Task* task;
    Clock::time_point due;
  };
  void pace();
  void work();

  std::mutex mutex_;
  std::condition_variable pacing_wake_;  // the pacing thread: a task added or woken, stopping
  std::condition_variable stepped_;      // remove(): the task being stepped is done
  std::condition_variable work_wake_;    // workers: a poll queued, stopping
  std::vector<Scheduled> tasks_;
  Task* stepping_ = nullptr;
  bool woken_ = false;
  bool stopping_ = false;
  std::deque<std::function<void()>> polls_;
  std::vector<std::thread> workers_;  // none with one worker
  std::thread pacing_;
};

}  // namespace vpbx::collectors
