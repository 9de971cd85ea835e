#include "exporter/http/server.h"

#include <malloc.h>
#include <openssl/ssl.h>
#include <prometheus/metric_family.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <stdexcept>

#include "exporter/http/basic_auth.h"
#include "exporter/http/detail.h"
#include "exporter/http/exposition.h"
#include "exporter/http/gzip.h"
#include "exporter/http/listener.h"
#include "exporter/http/transport.h"
#include "exporter/log/log.h"

namespace vpbx::http {

namespace {

constexpr int kMetricsGzipLevel = 1;
// Scrapes of at least this many series, or this much text, return their memory to the system
// afterwards.
constexpr std::size_t kTrimAfterSeries = 20000;
constexpr std::size_t kTrimAfterTextBytes = 4 << 20;

struct RouteEntry {
  std::string method;
  std::string path;
  bool prefix = false;
  Handler handler;
  Server::Access access = Server::Access::authenticated;
  Server::Cost cost = Server::Cost::ordinary;
};

// A prefix route "/webhook" matches "/webhook" and "/webhook/..." but not "/webhooks".
bool prefix_matches(const std::string& prefix, const std::string& path) {
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

Response plain(int status, const std::string& body) {
  return Response::text(status, body + "\n");
}

// The transport's own figures, so that an attack shows on the dashboards rather than only as
// slowness: open connections, and what was cut off and why.
void append_transport_metrics(const detail::TransportStats& stats,
                              std::vector<prometheus::MetricFamily>& families) {
  prometheus::MetricFamily open;
  open.name = "vpbx_http_connections";
  open.help = "Connections open on this listener.";
  open.type = prometheus::MetricType::Gauge;
  open.metric.emplace_back();
  open.metric.back().gauge.value =
      static_cast<double>(stats.connections_open.load(std::memory_order_relaxed));
  families.push_back(std::move(open));

  prometheus::MetricFamily refused;
  refused.name = "vpbx_http_refused_total";
  refused.help =
      "Connections and requests cut off by the HTTP front: max_connections (closed to make room "
      "for a new one), request_timeout (incomplete at the request timeout), malformed (refused by "
      "the request parser), tls_handshake (failed handshakes).";
  refused.type = prometheus::MetricType::Counter;
  for (const auto& [reason, value] : {std::pair{"max_connections", &stats.connections_evicted},
                                      std::pair{"request_timeout", &stats.requests_timed_out},
                                      std::pair{"malformed", &stats.requests_malformed},
                                      std::pair{"tls_handshake", &stats.tls_handshake_failures}}) {
    prometheus::ClientMetric metric;
    metric.label.push_back({"reason", reason});
    metric.counter.value = static_cast<double>(value->load(std::memory_order_relaxed));
    refused.metric.push_back(std::move(metric));
  }
  families.push_back(std::move(refused));
}

bool is_priority_path(const ServerOptions& options, const std::string& path) {
  return path == options.telemetry_path || path == "/-/healthy" || path == "/-/ready";
}

// The routes that own a path: its exact routes, else those of the longest matching prefix.
std::vector<const RouteEntry*> routes_for(const std::vector<RouteEntry>& routes,
                                          const std::string& path) {
  std::vector<const RouteEntry*> found;
  for (const auto& r : routes) {
    if (!r.prefix && r.path == path) found.push_back(&r);
  }
  if (!found.empty()) return found;
  std::size_t longest = 0;
  for (const auto& r : routes) {
    if (r.prefix && prefix_matches(r.path, path)) longest = std::max(longest, r.path.size());
  }
  for (const auto& r : routes) {
    if (r.prefix && r.path.size() == longest && prefix_matches(r.path, path)) found.push_back(&r);
  }
  return found;
}

}  // namespace

std::string Request::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Response Response::text(int status, std::string body) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

std::size_t Response::body_size() const {
  std::size_t size = body.size();
  for (const auto& piece : more_body) size += piece.size();
  return size;
}

struct Server::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)) {}
  ~Impl() {
    if (tls_context != nullptr) SSL_CTX_free(tls_context);
  }

  ServerOptions options;
  mutable std::shared_mutex routes_mutex;
  std::vector<RouteEntry> routes;
  // One of the two is set.
  struct Source {
    std::weak_ptr<prometheus::Collectable> families;
    std::weak_ptr<const metrics::TextSource> text;
  };
  std::mutex sources_mutex;
  std::vector<Source> sources;
  SSL_CTX* tls_context = nullptr;
  std::unique_ptr<detail::Transport> transport;
  int bound_port = 0;
  detail::AuthCache auth_cache;
  log::OncePerValue logged_failures;

  // What /metrics rendered, freed only after the answer is handed to the I/O thread: freeing
  // 300k series takes longer than sending them.
  struct Scraped {
    std::vector<prometheus::MetricFamily> families;
    std::size_t text_bytes = 0;  // the text before gzip
  };
  Response handle(Request& request, detail::AfterResponse& after);
  Response dispatch(Request& request, Scraped& scraped);
  detail::Lane lane_for(const std::string& path, std::size_t body_bytes) const;
  bool authorized(const Request& request);
  Response render_metrics(const Request& request, Scraped& scraped);
  void log_failure(const std::string& route, const std::string& what);
};

void Server::Impl::log_failure(const std::string& route, const std::string& what) {
  // The route's pattern, never the request path: the webhook's path carries its token.
  if (logged_failures.first_time(route + "\n" + what)) {
    log::error("http handler failed", {{"route", route}, {"error", what}});
  }
}

bool Server::Impl::authorized(const Request& request) {
  return detail::basic_auth_ok(options.web.basic_auth_users, request.header("authorization"),
                               auth_cache);
}

Response Server::Impl::render_metrics(const Request& request, Scraped& scraped) {
  auto& families = scraped.families;
  struct Live {
    std::shared_ptr<prometheus::Collectable> families;
    std::shared_ptr<const metrics::TextSource> text;
    std::size_t begin = 0, end = 0;  // its families in `families`
  };
  std::vector<Live> live;
  {
    std::lock_guard lock(sources_mutex);
    std::erase_if(sources,
                  [](const Source& s) { return s.families.expired() && s.text.expired(); });
    for (const auto& source : sources) {
      Live l{source.families.lock(), source.text.lock()};
      if (l.families || l.text) live.push_back(std::move(l));
    }
  }
  // Collected outside the lock: a slow collector must not block registration or other scrapes.
  for (auto& source : live) {
    source.begin = families.size();
    if (source.families) {
      try {
        auto collected = source.families->Collect();
        std::move(collected.begin(), collected.end(), std::back_inserter(families));
      } catch (const std::exception& e) {
        // A throwing Collect() is a bug; the other sources are still worth serving.
        log_failure(options.telemetry_path, std::string("Collect(): ") + e.what());
      } catch (...) {
        log_failure(options.telemetry_path, "Collect(): unknown exception");
      }
    }
    source.end = families.size();
  }
  const std::size_t own_begin = families.size();
  if (transport) append_transport_metrics(transport->stats(), families);
  // Text sources write while the answer is written, in their place among the others.
  const auto write_all = [&](metrics::TextOutput& out) {
    const auto write_families = [&](std::size_t begin, std::size_t end) {
      write_exposition(
          out, std::span<const prometheus::MetricFamily>(families).subspan(begin, end - begin));
    };
    for (const auto& source : live) {
      if (source.text) {
        source.text->write_exposition(out);
      } else {
        write_families(source.begin, source.end);
      }
    }
    write_families(own_begin, families.size());
    out.finish();
  };
  Response response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.headers.emplace_back("Vary", "Accept-Encoding");
  if (accepts_gzip(request.header("accept-encoding"))) {
    try {
      // Compressed while it is written: a 10k-user text (30 MB) never exists whole. Level 1:
      // 2.8x faster than 6 on that text for a body 15 % larger (bench/results.md).
      GzipStream gzip(kMetricsGzipLevel);
      metrics::TextOutput out([&gzip](std::string_view chunk) { gzip.write(chunk); },
                              std::size_t{1} << 16, &gzip);
      write_all(out);
      scraped.text_bytes = gzip.text_bytes();
      response.body = gzip.finish();
      response.headers.emplace_back("Content-Encoding", "gzip");
      return response;
    } catch (const std::exception& e) {
      log_failure(options.telemetry_path, e.what());  // the plain body still goes out
    }
  }
  // Plain: the text's pieces are the answer's, sent as they are; copied into one string, a 31 MB
  // text would exist twice at the scrape's peak (bench/results.md).
  metrics::TextOutput out(
      [&response](std::string&& piece) { response.more_body.push_back(std::move(piece)); },
      std::size_t{1} << 16);
  write_all(out);
  scraped.text_bytes = response.body_size();
  return response;
}

detail::Lane Server::Impl::lane_for(const std::string& path, std::size_t body_bytes) const {
  if (is_priority_path(options, path)) return detail::Lane::priority;
  if (body_bytes > kQuickBodyBytes) return detail::Lane::general;
  std::shared_lock lock(routes_mutex);
  const auto owners = routes_for(routes, path);
  const bool quick =
      !owners.empty() && std::all_of(owners.begin(), owners.end(), [](const RouteEntry* r) {
        // Basic auth may verify a bcrypt hash: never on the I/O thread.
        return r->cost == Cost::quick && r->access == Access::public_route;
      });
  return quick ? detail::Lane::io_thread : detail::Lane::general;
}

Response Server::Impl::dispatch(Request& request, Scraped& scraped) {
  const bool telemetry = request.path == options.telemetry_path;
  // The handler is chosen under the lock and run after it.
  bool known = telemetry;
  bool needs_auth = true;
  std::optional<RouteEntry> chosen;
  std::set<std::string> methods;  // for a 405's Allow
  if (telemetry && (request.method == "GET" || request.method == "HEAD")) {
    chosen.emplace();
    chosen->method = "GET";
    chosen->path = options.telemetry_path;
  } else if (telemetry) {
    methods = {"GET", "HEAD"};
  } else {
    std::shared_lock lock(routes_mutex);
    const auto owners = routes_for(routes, request.path);
    known = !owners.empty();
    // Unknown paths ask for credentials too, so that they cannot be told apart from real ones.
    needs_auth = !known || std::any_of(owners.begin(), owners.end(), [](const RouteEntry* r) {
      return r->access == Access::authenticated;
    });
    const std::string lookup = request.method == "HEAD" ? "GET" : request.method;
    const RouteEntry* match = nullptr;
    for (const RouteEntry* r : owners) {
      if (r->method == request.method) match = r;
    }
    if (match == nullptr) {
      for (const RouteEntry* r : owners) {
        if (r->method == lookup) match = r;
      }
    }
    if (match != nullptr) {
      chosen = *match;
    } else {
      for (const RouteEntry* r : owners) {
        methods.insert(r->method);
        if (r->method == "GET") methods.insert("HEAD");
      }
    }
  }

  if (needs_auth && !authorized(request)) {
    Response response = plain(401, "Unauthorized");
    response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"vpbx_exporter\"");
    return response;
  }
  if (!known) return plain(404, "404 page not found");
  if (!chosen) {
    std::string allow;
    for (const auto& m : methods) allow += (allow.empty() ? "" : ", ") + m;
    Response response = plain(405, "Method Not Allowed");
    response.headers.emplace_back("Allow", allow);
    return response;
  }

  const auto route_name = [&] {
    return chosen->method + " " + chosen->path + (chosen->prefix ? "/*" : "");
  };
  try {
    if (telemetry) return render_metrics(request, scraped);
    return chosen->handler(request);
  } catch (const std::exception& e) {
    log_failure(route_name(), e.what());
  } catch (...) {
    log_failure(route_name(), "unknown exception");
  }
  return plain(500, "Internal Server Error");
}

Response Server::Impl::handle(Request& request, detail::AfterResponse& after) {
  Scraped scraped;
  Response response;
  try {
    response = dispatch(request, scraped);
  } catch (const std::exception& e) {
    log_failure("(request handling)", e.what());
    response = plain(500, "Internal Server Error");
  } catch (...) {
    log_failure("(request handling)", "unknown exception");
    response = plain(500, "Internal Server Error");
  }
  std::size_t series = 0;
  for (const auto& family : scraped.families) series += family.metric.size();
  if (series > 0 || scraped.text_bytes > 0) {
    // A large scrape leaves its series and text (a text source's included, gzipped or not) as
    // free memory in this worker's malloc arena; without handing it back, the RSS stays at the
    // scrape's peak for good (bench/results.md).
    const bool trim = series >= kTrimAfterSeries || scraped.text_bytes >= kTrimAfterTextBytes;
    auto held = std::make_shared<Scraped>(std::move(scraped));
    after = [held = std::move(held), trim]() mutable {
      held.reset();
      if (trim) ::malloc_trim(0);
    };
  }
  return response;
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::add_collectable(std::weak_ptr<prometheus::Collectable> collectable) {
  std::lock_guard lock(impl_->sources_mutex);
  impl_->sources.push_back({std::move(collectable), {}});
}

void Server::add_text_source(std::weak_ptr<const metrics::TextSource> source) {
  std::lock_guard lock(impl_->sources_mutex);
  impl_->sources.push_back({{}, std::move(source)});
}

void Server::route(const std::string& method, const std::string& path, Handler handler,
                   Access access, Cost cost) {
  std::unique_lock lock(impl_->routes_mutex);
  impl_->routes.push_back({method, path, false, std::move(handler), access, cost});
}

void Server::route_prefix(const std::string& method, const std::string& prefix, Handler handler,
                          Access access, Cost cost) {
  std::unique_lock lock(impl_->routes_mutex);
  impl_->routes.push_back({method, prefix, true, std::move(handler), access, cost});
}

void Server::start() {
  if (impl_->transport) return;
  const ServerOptions& o = impl_->options;
  const std::string where = "cannot listen on " + o.listen_address;
  detail::ListenAddress address;
  try {
    address = detail::parse_listen_address(o.listen_address);
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": " + e.what());
  }
  const std::string host = detail::resolve_ipv4(address.host, where);
  if (o.web.tls && impl_->tls_context == nullptr) {
    try {
      impl_->tls_context = detail::make_tls_context(*o.web.tls);
    } catch (const std::exception& e) {
      throw std::runtime_error(where + ": " + e.what());
    }
  }

  detail::TransportOptions transport;
  transport.host = host;
  transport.port = address.port;
  transport.tls = impl_->tls_context;
  transport.workers = std::max(1, o.num_threads);
  transport.priority_workers = std::max(1, o.priority_threads);
  transport.request_timeout = std::chrono::milliseconds(std::max(1, o.request_timeout_ms));
  transport.idle_timeout = std::chrono::milliseconds(std::max(1, o.idle_timeout_ms));
  transport.max_connections = std::max<std::size_t>(1, o.max_connections);
  transport.limits.max_body_bytes = o.max_body_bytes;
  Impl* self = impl_.get();
  auto started = std::make_unique<detail::Transport>(
      transport,
      [self](Request& request, detail::AfterResponse& after) {
        return self->handle(request, after);
      },
      [self](const std::string& path, std::size_t body_bytes) {
        return self->lane_for(path, body_bytes);
      });
  // In place before its workers start: a request may come in as soon as the socket listens,
  // and /metrics reads the transport's figures.
  impl_->transport = std::move(started);
  try {
    impl_->transport->start();
  } catch (const std::exception& e) {
    impl_->transport.reset();
    throw std::runtime_error(where + ": " + e.what());
  }
  impl_->bound_port = impl_->transport->port();
  log::info("http server listening", {{"address", o.listen_address},
                                      {"port", impl_->bound_port},
                                      {"tls", o.web.tls.has_value()},
                                      {"basic_auth", !o.web.basic_auth_users.empty()}});
}

void Server::stop() {
  if (!impl_->transport) return;
  impl_->transport->stop();
  impl_->transport.reset();
}

int Server::port() const {
  return impl_->bound_port;
}

bool Server::tls() const {
  return impl_->options.web.tls.has_value();
}

}  // namespace vpbx::http
