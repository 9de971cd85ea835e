// The baseline for webhook ingest: CivetWeb with the exporter's server settings (threads,
// keep-alive, timeouts, TCP_NODELAY) and a handler that reads the body and answers 204. Whatever
// the exporter adds on top (routing, token check, JSON parse, the store) shows in the ratio.
// Prints "port N" once listening; stops on SIGINT/SIGTERM.
#include <civetweb.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "exporter/http/server.h"

namespace {

int on_request(mg_connection* conn) {
  char buffer[16384];
  std::string body;
  for (int n; (n = mg_read(conn, buffer, sizeof buffer)) > 0;) body.append(buffer, n);
  static constexpr char kAnswer[] =
      "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n";
  mg_write(conn, kAnswer, sizeof kAnswer - 1);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string port = argc > 1 ? argv[1] : "127.0.0.1:0";
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const vpbx::http::ServerOptions defaults;  // the same settings as the exporter's server
  const std::string threads = std::to_string(defaults.num_threads);
  const std::string request_timeout = std::to_string(defaults.request_timeout_ms);
  const std::string idle_timeout = std::to_string(defaults.idle_timeout_ms);
  const char* options[] = {"listening_ports",
                           port.c_str(),
                           "num_threads",
                           threads.c_str(),
                           "request_timeout_ms",
                           request_timeout.c_str(),
                           "keep_alive_timeout_ms",
                           idle_timeout.c_str(),
                           "enable_keep_alive",
                           "yes",
                           "tcp_nodelay",
                           "1",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &on_request;
  mg_context* ctx = mg_start(&callbacks, nullptr, options);
  if (ctx == nullptr) {
    std::fprintf(stderr, "cannot listen on %s\n", port.c_str());
    return 1;
  }
  mg_server_port bound[1] = {};
  mg_get_server_ports(ctx, 1, bound);
  std::printf("port %d\n", bound[0].port);
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  mg_stop(ctx);
  return 0;
}
