#pragma once
// The HTTP transport under Server: one I/O thread multiplexes every connection with epoll, reads
// and parses requests without blocking, and hands only complete requests to worker threads.
//
// Why not CivetWeb's thread per connection: a client that sends half a request held one of its
// workers until the request timeout, so 200 such clients on the webhook left no worker for
// /metrics (every scrape timed out; docs/http.md, "Hostile clients"). Here a slow client costs a
// socket and at most max_head_bytes + max_body_bytes of buffer, whatever it does; the whole request
// must arrive within request_timeout; and scrapes and health checks have workers of their own,
// so a flood of webhook requests cannot delay them either. At max_connections, the connection
// that has waited longest for its request is closed to make room for the new one.

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
// Which requests go to the priority workers (by path).
using PriorityTest = std::function<bool(const std::string& path)>;

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
  Transport(TransportOptions options, RequestHandler handler, PriorityTest priority);
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
