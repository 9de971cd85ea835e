#include "exporter/collectors/pacer.h"

#include <algorithm>

#include "exporter/log/log.h"

namespace vpbx::collectors {

// A task that asks for nothing is stepped again after this anyway: a guard against a lost wake.
constexpr auto kLongestSleep = std::chrono::seconds(1);

Pacer::Pacer(int workers) {
  const auto account = log::thread_account();
  for (int i = 0; workers > 1 && i < workers; ++i) {
    workers_.emplace_back([this, account] {
      log::AccountScope scope(account);
      work();
    });
  }
  pacing_ = std::thread([this, account] {
    log::AccountScope scope(account);
    pace();
  });
}

Pacer::~Pacer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  pacing_wake_.notify_all();
  work_wake_.notify_all();
  pacing_.join();
  for (auto& worker : workers_) worker.join();
}

void Pacer::add(Task& task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back({&task, Clock::now()});
    woken_ = true;
  }
  pacing_wake_.notify_all();
}

void Pacer::remove(Task& task) {
  std::unique_lock lock(mutex_);
  std::erase_if(tasks_, [&](const Scheduled& s) { return s.task == &task; });
  stepped_.wait(lock, [&] { return stepping_ != &task; });
}

void Pacer::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  pacing_wake_.notify_all();
}

void Pacer::run(std::function<void()> poll) {
  if (workers_.empty()) {
    poll();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    polls_.push_back(std::move(poll));
  }
  work_wake_.notify_one();
}

void Pacer::pace() {
  std::unique_lock lock(mutex_);
  const auto find = [this](const Task* task) {
    return std::find_if(tasks_.begin(), tasks_.end(),
                        [&](const Scheduled& s) { return s.task == task; });
  };
  while (!stopping_) {
    const auto now = Clock::now();
    if (woken_) {
      for (auto& s : tasks_) s.due = now;
      woken_ = false;
    }
    // The tasks due now; one removed while another is stepped is skipped.
    std::vector<Task*> due;
    for (const auto& s : tasks_) {
      if (s.due <= now) due.push_back(s.task);
    }
    for (Task* task : due) {
      if (find(task) == tasks_.end()) continue;
      stepping_ = task;
      lock.unlock();
      const auto next = task->step();
      lock.lock();
      stepping_ = nullptr;
      stepped_.notify_all();
      if (const auto it = find(task); it != tasks_.end()) it->due = next;
    }
    auto until = Clock::now() + kLongestSleep;
    for (const auto& s : tasks_) until = std::min(until, s.due);
    pacing_wake_.wait_until(lock, until, [this] { return stopping_ || woken_; });
  }
}

void Pacer::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_wake_.wait(lock, [this] { return stopping_ || !polls_.empty(); });
    if (stopping_) return;
    auto poll = std::move(polls_.front());
    polls_.pop_front();
    lock.unlock();
    poll();
    lock.lock();
  }
}

}  // namespace vpbx::collectors
