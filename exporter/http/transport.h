#pragma once
// The HTTP transport under Server: a few I/O threads (one per core, at most 4) multiplex the
// connections with epoll, read and parse requests without blocking, and hand complete requests
// to worker threads. The first I/O thread accepts and deals new connections to all in turn.
//
// Why not CivetWeb's thread per connection: a client that sends half a request held one of its
// workers until the request timeout, so 200 such clients on the webhook left no worker for
// /metrics (every scrape timed out; docs/http.md, "Hostile clients"). Here a slow client costs a
// socket and at most max_head_bytes + max_body_bytes of buffer, whatever it does; the whole request
// must arrive within request_timeout; and scrapes and health checks have workers of their own,
// so a flood of webhook requests cannot delay them either. At max_connections (shared out
// between the I/O threads), the connection that has waited longest for its request on the new
// one's thread is closed to make room for it.
//
// Requests whose handler is known to be quick (a small webhook push: parsed and applied in memory
// in microseconds) are answered on the I/O thread itself: handing them to a worker and back cost
// two thread wake-ups and two epoll_ctl calls, more than the work (bench/analysis.md). An I/O
// thread answers at most kInlineTurn of them per connection before it serves its others.

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "exporter/http/request_parser.h"
#include "exporter/http/server.h"

namespace vpbx::http::detail {

struct TransportOptions {
  std::string host;        // numeric IPv4; empty: every interface
  int port = 0;            // 0 picks a free one
  SSL_CTX* tls = nullptr;  // not owned; must outlive the transport
  int io_threads = 0;      // 0: one per core, at most 4
  int workers = 8;
  int priority_workers = 2;
  std::chrono::milliseconds request_timeout{10000};  // whole request, head and body
  std::chrono::milliseconds idle_timeout{5000};      // keep-alive wait for the next request
  std::size_t max_connections = 4096;                // also bounded by the open-files limit
  ParserLimits limits;
};

// Work to do on the worker after the response is handed to the I/O thread (e.g. freeing what a
// large response was rendered from while it is being sent).
using AfterResponse = std::function<void()>;
using RequestHandler = std::function<Response(Request& request, AfterResponse& after)>;
// Where a complete request is handled.
enum class Lane {
  general,    // the workers
  priority,   // workers of their own, so that scrapes and health checks never queue behind others
  io_thread,  // at once, on the I/O thread: only handlers that never block and take microseconds
};
using LaneChoice = std::function<Lane(const std::string& path, std::size_t body_bytes)>;

struct TransportStats {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_evicted{0};  // closed at max_connections
  std::atomic<std::uint64_t> requests_timed_out{0};   // incomplete at request_timeout
  std::atomic<std::uint64_t> requests_malformed{0};   // refused by the parser
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::int64_t> connections_open{0};
};

class Transport {
 public:
  Transport(TransportOptions options, RequestHandler handler, LaneChoice choose_lane);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void start();  // throws std::runtime_error saying why it cannot listen
  void stop();   // closes every connection; waits for handlers that are running
  int port() const;
  const TransportStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpbx::http::detail
