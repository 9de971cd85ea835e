// Serves a filled state store on /metrics through the exporter's own http::Server, as the exporter
// does, for bench/run.sh to scrape. Prints "port N" once listening; stops on SIGINT/SIGTERM.
//   vpbx_bench_scrape_server --users=10000 [--listen=127.0.0.1:0] [--threads=8]
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "bench/fill_store.h"
#include "exporter/http/server.h"

int main(int argc, char** argv) {
  int users = 1000;
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--users=", 0) == 0) {
      users = std::atoi(arg.c_str() + 8);
    } else if (arg.rfind("--listen=", 0) == 0) {
      listen = arg.substr(9);
    } else {
      std::fprintf(stderr, "usage: %s --users=N [--listen=HOST:PORT]\n", argv[0]);
      return 2;
    }
  }
  // Signals are taken by sigwait below, not by whichever thread happens to get them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto store = std::make_shared<vpbx::state::Store>();
  vpbx::bench::fill_store(*store, users);

  vpbx::http::ServerOptions options;  // the exporter's defaults (threads, timeouts)
  options.listen_address = listen;
  vpbx::http::Server server(options);
  server.add_text_source(store);
  server.start();
  std::printf("port %d\n", server.port());
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  server.stop();
  return 0;
}
