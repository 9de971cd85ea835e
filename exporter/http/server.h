#pragma once
// The HTTP front: one listener serving our own routes, /metrics included, over the epoll
// transport of transport.h (slow clients cannot take the workers away from scrapes).
// prometheus-cpp's Exposer is not used: it cannot serve extra paths and holds one mutex across
// every Collect(); here /metrics is rendered from the registered Collectables with gzip.

#include <prometheus/collectable.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "exporter/http/web_config.h"
#include "exporter/metrics/text_format.h"

struct mg_context;
struct mg_connection;

namespace vpbx::http {

struct Request {
  std::string method;
  std::string path;                            // decoded, without the query string
  std::string query;                           // raw query string
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;  // peer IP as text
  std::string header(const std::string& lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // More of the body, sent after `body` piece by piece: an answer written in pieces (a plain
  // /metrics of 31 MB) is not copied into one string while its pieces exist.
  std::vector<std::string> more_body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close_connection = false;  // close once it is sent, whatever the client asked
  static Response text(int status, std::string body);
  std::size_t body_size() const;
};

// Must not throw; the server still catches everything and answers 500 if one does.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string listen_address = ":9876";  // "host:port" or ":port"; port 0 picks a free one
  std::string telemetry_path = "/metrics";
  WebConfig web;                         // TLS and basic auth
  std::size_t max_body_bytes = 1048576;  // larger bodies get 413 before being read
  int num_threads = 8;                   // workers for every route but the priority ones
  int priority_threads = 2;              // workers for the telemetry path and /-/ health checks
  int request_timeout_ms = 10000;        // the whole request, head and body, from its first byte
  int idle_timeout_ms = 5000;            // keep-alive wait for the next request
  std::size_t max_connections = 4096;    // then the longest-waiting one is closed for a new one
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Sources for /metrics, written in the order they were added at every scrape: families
  // collected from a Collectable, or text a TextSource writes itself.
  void add_collectable(std::weak_ptr<prometheus::Collectable> collectable);
  void add_text_source(std::weak_ptr<const metrics::TextSource> source);
  // Exact path, one method; several methods may share a path. Unknown path: 404; known path with
  // another method: 405 with Allow. A prefix route matches the path and everything below it.
  // `authenticated` routes need the web config's basic auth (when it has users); the webhook is
  // public and does its own token check.
  enum class Access { authenticated, public_route };
  // A `quick` handler never blocks and takes microseconds (the webhook parses and applies a push
  // in memory). A request for a public quick route with a body of at most kQuickBodyBytes is
  // answered on the I/O thread, without the hand-off to a worker and back that costs more than
  // such a handler (transport.h).
  enum class Cost { ordinary, quick };
  static constexpr std::size_t kQuickBodyBytes = 65536;
  void route(const std::string& method, const std::string& path, Handler handler,
             Access access = Access::authenticated, Cost cost = Cost::ordinary);
  void route_prefix(const std::string& method, const std::string& prefix, Handler handler,
                    Access access = Access::authenticated, Cost cost = Cost::ordinary);

  void start();  // throws std::runtime_error (with the address) when it cannot listen
  void stop();
  int port() const;  // the bound port, after start()
  bool tls() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpbx::http
