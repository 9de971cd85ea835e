// Lifecycle of the simulator: CivetWeb listener, push worker, traffic thread; the C++ control API.

#include "simulator/simulator.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "simulator/civetweb_stop.h"
#include "exporter/log/log.h"
#include "simulator/impl.h"

namespace vpbx::sim {
namespace {

int on_other(mg_connection* conn, void*) {
  try {
    read_request(conn, 1 << 20);
    send_reply(conn, 404, "{\n  \"error\" : \"Not Found\"\n}");
  } catch (...) {
  }
  return 1;
}

int on_log(const mg_connection*, const char* message) {
  log::debug("civetweb", {{"message", message}});
  return 1;
}

// CivetWeb takes "ip:port" (IPv4) or a bare port; "localhost" is spelled out.
std::string civetweb_ports(const std::string& address) {
  std::string a = address;
  if (a.rfind("localhost:", 0) == 0) a = "127.0.0.1:" + a.substr(10);
  if (!a.empty() && a[0] == ':') a = a.substr(1);
  if (a.rfind("0.0.0.0:", 0) == 0) a = a.substr(8);
  return a;
}

}  // namespace

int Simulator::Impl::on_api(mg_connection* conn, void* data) {
  return static_cast<Impl*>(data)->handle_api(conn);
}

int Simulator::Impl::on_control(mg_connection* conn, void* data) {
  return static_cast<Impl*>(data)->handle_control(conn);
}

// Called once per accepted TCP connection, however many requests it then carries.
int Simulator::Impl::on_init_connection(const mg_connection* conn, void** conn_data) {
  *conn_data = nullptr;
  if (auto* impl = static_cast<Impl*>(mg_get_user_data(mg_get_context(conn)))) {
    impl->stats.connection_accepted();
  }
  return 0;
}

Simulator::Simulator(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mg_init_library(0);
  });
}

Simulator::~Simulator() {
  stop();
}

void Simulator::start() {
  Impl& d = *impl_;
  if (d.ctx) return;
  {
    std::lock_guard lock(d.stop_mutex);
    d.stopping = false;
  }
  const std::string ports = civetweb_ports(d.options.listen_address);
  const char* options[] = {"listening_ports",
                           ports.c_str(),
                           "num_threads",
                           "64",
                           "enable_keep_alive",
                           "yes",
                           "keep_alive_timeout_ms",
                           "60000",
                           "request_timeout_ms",
                           "120000",
                           "tcp_nodelay",
                           "1",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.init_connection = &Impl::on_init_connection;
  callbacks.log_message = on_log;
  d.ctx = mg_start(&callbacks, &d, options);
  if (!d.ctx) throw std::runtime_error("simulator cannot listen on " + d.options.listen_address);
  mg_set_request_handler(d.ctx, "/openapi/", &Impl::on_api, &d);
  mg_set_request_handler(d.ctx, "/_sim/", &Impl::on_control, &d);
  mg_set_request_handler(d.ctx, "/", on_other, &d);
  mg_server_port server_ports[4]{};
  const int n = mg_get_server_ports(d.ctx, 4, server_ports);
  d.port = n > 0 ? server_ports[0].port : 0;
  d.pusher.start();
  if (d.options.calls_per_second > 0 || d.options.feature_toggles_per_second > 0) {
    d.traffic = std::thread([&d] { d.traffic_loop(); });
  }
  log::info("simulator listening",
            {{"url", base_url()},
             {"users", static_cast<long long>(d.model.user_count())},
             {"calls_per_second", d.options.calls_per_second},
             {"feature_toggles_per_second", d.options.feature_toggles_per_second}});
}

void Simulator::stop() {
  Impl& d = *impl_;
  {
    std::lock_guard lock(d.stop_mutex);
    d.stopping = true;
  }
  d.stop_cv.notify_all();  // wakes hanging requests, latency sleeps and the generator
  if (d.traffic.joinable()) d.traffic.join();
  if (d.ctx) {
    http::stop_civetweb(d.ctx, d.port);
    d.ctx = nullptr;
    log::info("simulator stopped");
  }
  d.pusher.stop();
}

int Simulator::port() const {
  return impl_->port;
}

std::string Simulator::base_url() const {
  std::string host = impl_->options.listen_address;
  const auto colon = host.rfind(':');
  host = colon == std::string::npos ? "" : host.substr(0, colon);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  return "http://" + host + ":" + std::to_string(impl_->port) + "/openapi/";
}

void Simulator::set_faults(const Faults& faults) {
  std::lock_guard lock(impl_->faults_mutex);
  impl_->faults = faults;
}

Stats Simulator::stats() const {
  Stats s = impl_->stats.snapshot();
  const PushCounters p = impl_->pusher.counters();
  s.pushes_sent = p.sent;
  s.pushes_dropped = p.dropped;
  s.pushes_duplicated = p.duplicated;
  s.pushes_failed = p.failed;
  return s;
}

void Simulator::reset_stats() {
  impl_->stats.reset();
  impl_->pusher.reset_counters();
}

std::vector<UserTruth> Simulator::truth() const {
  return impl_->model.truth();
}

std::string Simulator::users_csv() const {
  return impl_->model.users_csv();
}

std::string Simulator::inject_call(const CallSpec& call) {
  auto [id, pushes] = impl_->model.inject_call(call);
  impl_->send_pushes(std::move(pushes));
  return id;
}

bool Simulator::set_feature_status(std::int64_t user_id, const std::string& feat_name,
                                   bool active) {
  auto pushes = impl_->model.set_feature_status(user_id, feat_name, active ? "ACTIVE" : "INACTIVE");
  if (!pushes) return false;
  impl_->send_pushes(std::move(*pushes));
  return true;
}

bool Simulator::set_presence(std::int64_t user_id, const std::string& raw_state) {
  auto pushes = impl_->model.set_presence(user_id, raw_state);
  if (!pushes) return false;
  impl_->send_pushes(std::move(*pushes));
  return true;
}

bool Simulator::forget_subscription(const std::string& id) {
  return impl_->model.forget_subscription(id);
}

}  // namespace vpbx::sim
