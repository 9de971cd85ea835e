#pragma once
// The simulator's insides, shared by simulator.cpp (lifecycle), api_handlers.cpp (/openapi/),
// control.cpp (/_sim/) and traffic.cpp (the generator thread).

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "simulator/http_util.h"
#include "simulator/model.h"
#include "simulator/push_sender.h"
#include "simulator/request_stats.h"
#include "simulator/simulator.h"

struct mg_context;
struct mg_connection;

namespace vpbx::sim {

struct Simulator::Impl {
  explicit Impl(Options opts) : options(std::move(opts)), model(options), faults(options.faults) {}

  Options options;
  Model model;
  PushSender pusher;
  RequestStats stats;

  mutable std::mutex faults_mutex;
  Faults faults;
  std::mt19937_64 fault_rng{std::random_device{}()};

  mg_context* ctx = nullptr;
  int port = 0;

  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread traffic;

  static constexpr std::size_t kMaxBody = 1 << 20;

  Faults current_faults() const {
    std::lock_guard lock(faults_mutex);
    return faults;
  }
  void send_pushes(std::vector<Push> pushes) {
    const Faults f = current_faults();
    pusher.enqueue(std::move(pushes), f.push_drop_ratio, f.push_duplicate_ratio);
  }
  // Sleeps, but wakes at stop(); false when stopping.
  bool sleep_for(std::chrono::milliseconds duration) {
    std::unique_lock lock(stop_mutex);
    return !stop_cv.wait_for(lock, duration, [&] { return stopping; });
  }

  int handle_api(mg_connection* conn);      // api_handlers.cpp
  int handle_control(mg_connection* conn);  // control.cpp
  void traffic_loop();                      // traffic.cpp

  // CivetWeb callbacks (simulator.cpp).
  static int on_api(mg_connection* conn, void* data);
  static int on_control(mg_connection* conn, void* data);
  static int on_init_connection(const mg_connection* conn, void** conn_data);
};

}  // namespace vpbx::sim
