#include "exporter/http/server.h"

#include <crypt.h>
#include <malloc.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <prometheus/metric_family.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>

#include "exporter/http/detail.h"
#include "exporter/http/exposition.h"
#include "exporter/http/gzip.h"
#include "exporter/http/transport.h"
#include "exporter/log/log.h"

namespace vpbx::http {

namespace detail {

ListenAddress parse_listen_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    throw std::runtime_error("listen address '" + address + "': expected host:port or :port");
  }
  ListenAddress result;
  result.host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      std::stoi(port) > 65535) {
    throw std::runtime_error("listen address '" + address + "': bad port '" + port + "'");
  }
  result.port = std::stoi(port);
  if (!result.host.empty() && result.host.front() == '[') {
    throw std::runtime_error("listen address '" + address +
                             "': IPv6 is not supported by this CivetWeb build");
  }
  return result;
}

std::optional<std::string> base64_decode(std::string_view text) {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  unsigned buffer = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      // Padding only at the very end, at most two.
      if (i + 2 < text.size()) return std::nullopt;
      ++padding;
      continue;
    }
    if (padding != 0) return std::nullopt;
    const auto value = alphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMetricsGzipLevel = 1;
// Scrapes of at least this many series return their memory to the system afterwards.
constexpr std::size_t kTrimAfterSeries = 20000;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

struct RouteEntry {
  std::string method;
  std::string path;
  bool prefix = false;
  Handler handler;
  Server::Access access = Server::Access::authenticated;
};

// A prefix route "/webhook" matches "/webhook" and "/webhook/..." but not "/webhooks".
bool prefix_matches(const std::string& prefix, const std::string& path) {
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

// Successful basic-auth checks, remembered for a minute: bcrypt at cost 10 takes ~100 ms, and a
// scrape every few seconds should not pay it each time. Keys are SHA-256-crypt digests of
// user, password and hash under a per-process random salt, so the memory holds no password, and a
// changed hash or password never hits a stale entry. Failures are never cached: guessing stays
// slow.
class AuthCache {
 public:
  AuthCache() {
    static constexpr char chars[] =
        "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::random_device random;
    std::string salt;
    for (int i = 0; i < 16; ++i) salt.push_back(chars[random() % 64]);
    setting_ = "$5$rounds=1000$" + salt + "$";
  }

  std::optional<std::string> key(const std::string& user, const std::string& password,
                                 const std::string& hash) const {
    const std::string phrase = user + ":" + password + ":" + hash;
    if (phrase.find('\0') != std::string::npos) return std::nullopt;
    auto data = std::make_unique<crypt_data>();
    const char* digest = crypt_r(phrase.c_str(), setting_.c_str(), data.get());
    if (digest == nullptr || digest[0] == '*') return std::nullopt;
    return std::string(digest);
  }

  bool contains(const std::string& key) {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    if (Clock::now() >= it->second) {
      entries_.erase(it);
      return false;
    }
    return true;
  }

  void insert(const std::string& key) {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    if (entries_.size() >= kMaxEntries) {
      std::erase_if(entries_, [now](const auto& entry) { return now >= entry.second; });
      if (entries_.size() >= kMaxEntries) entries_.clear();
    }
    entries_[key] = now + kTtl;
  }

 private:
  static constexpr std::size_t kMaxEntries = 1024;
  static constexpr auto kTtl = std::chrono::seconds(60);
  std::string setting_;
  std::mutex mutex_;
  std::unordered_map<std::string, Clock::time_point> entries_;
};

// Any valid bcrypt hash: unknown users are checked against it so that their answer takes as
// long as a wrong password does, and user names cannot be probed by timing.
constexpr const char* kDummyHash = "$2b$10$pC2nQmwiPwFwIg/z5LAX3OgaNMldHDMwML3P90CuR7YlzPPYZJgom";

Response plain(int status, const std::string& body) {
  return Response::text(status, body + "\n");
}

// The TLS context of --web.config.file: certificate chain, key and the lowest version allowed.
SSL_CTX* make_tls_context(const TlsConfig& tls) {
  const auto failure = [](SSL_CTX* ctx, const std::string& what) {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    char text[256] = "unknown error";
    if (code != 0) ERR_error_string_n(code, text, sizeof text);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    return std::runtime_error("TLS: " + what + " (" + text + ")");
  };
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) throw failure(ctx, "cannot create a context");
  int min_version = TLS1_2_VERSION;
  if (tls.min_version == "TLS10") min_version = TLS1_VERSION;
  if (tls.min_version == "TLS11") min_version = TLS1_1_VERSION;
  if (tls.min_version == "TLS13") min_version = TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Writes resume with the rest of the buffer, which the transport may have moved.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    throw failure(ctx, "cannot use the certificate " + tls.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw failure(ctx, "cannot use the key " + tls.key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw failure(ctx, "the key does not match the certificate " + tls.cert_file);
  }
  return ctx;
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

struct Server::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)) {}
  ~Impl() {
    if (tls_context != nullptr) SSL_CTX_free(tls_context);
  }

  ServerOptions options;
  mutable std::shared_mutex routes_mutex;
  std::vector<RouteEntry> routes;
  std::mutex collectables_mutex;
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables;
  SSL_CTX* tls_context = nullptr;
  std::unique_ptr<detail::Transport> transport;
  int bound_port = 0;
  AuthCache auth_cache;
  log::OncePerValue logged_failures;

  // What /metrics rendered, freed only after the answer is handed to the I/O thread: freeing
  // 300k series takes longer than sending them.
  using Scraped = std::vector<prometheus::MetricFamily>;
  Response handle(Request& request, detail::AfterResponse& after);
  Response dispatch(Request& request, Scraped& scraped);
  bool authorized(const Request& request);
  Response render_metrics(const Request& request, Scraped& families);
  void log_failure(const std::string& route, const std::string& what);
};

void Server::Impl::log_failure(const std::string& route, const std::string& what) {
  // The route's pattern, never the request path: the webhook's path carries its token.
  if (logged_failures.first_time(route + "\n" + what)) {
    log::error("http handler failed", {{"route", route}, {"error", what}});
  }
}

bool Server::Impl::authorized(const Request& request) {
  const auto& users = options.web.basic_auth_users;
  if (users.empty()) return true;
  const std::string header = request.header("authorization");
  if (header.size() < 6 || lower(header.substr(0, 6)) != "basic ") return false;
  std::string_view encoded(header);
  encoded.remove_prefix(6);
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  const auto decoded = detail::base64_decode(encoded);
  if (!decoded) return false;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string user = decoded->substr(0, colon);
  const std::string password = decoded->substr(colon + 1);
  const auto it = users.find(user);
  if (it == users.end()) {
    verify_bcrypt(password, kDummyHash);
    return false;
  }
  const auto key = auth_cache.key(user, password, it->second);
  if (key && auth_cache.contains(*key)) return true;
  if (!verify_bcrypt(password, it->second)) return false;
  if (key) auth_cache.insert(*key);
  return true;
}

Response Server::Impl::render_metrics(const Request& request, Scraped& families) {
  std::vector<std::shared_ptr<prometheus::Collectable>> sources;
  {
    std::lock_guard lock(collectables_mutex);
    std::erase_if(collectables, [](const auto& weak) { return weak.expired(); });
    for (const auto& weak : collectables) {
      if (auto source = weak.lock()) sources.push_back(std::move(source));
    }
  }
  // Collected outside the lock: a slow collector must not block registration or other scrapes.
  for (const auto& source : sources) {
    try {
      auto collected = source->Collect();
      std::move(collected.begin(), collected.end(), std::back_inserter(families));
    } catch (const std::exception& e) {
      // A throwing Collect() is a bug; the other sources are still worth serving.
      log_failure(options.telemetry_path, std::string("Collect(): ") + e.what());
    } catch (...) {
      log_failure(options.telemetry_path, "Collect(): unknown exception");
    }
  }
  if (transport) append_transport_metrics(transport->stats(), families);
  Response response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.headers.emplace_back("Vary", "Accept-Encoding");
  if (accepts_gzip(request.header("accept-encoding"))) {
    try {
      // Compressed while it is written: a 10k-user text (30 MB) never exists whole. Level 1:
      // 2.8x faster than 6 on that text for a body 15 % larger (bench/results.md).
      GzipStream gzip(kMetricsGzipLevel);
      write_exposition(families, [&gzip](std::string_view chunk) { gzip.write(chunk); });
      response.body = gzip.finish();
      response.headers.emplace_back("Content-Encoding", "gzip");
      return response;
    } catch (const std::exception& e) {
      log_failure(options.telemetry_path, e.what());  // the plain body still goes out
    }
  }
  response.body = exposition(families);
  return response;
}

Response Server::Impl::dispatch(Request& request, Scraped& scraped) {
  // Which handlers own this path: the telemetry path, else exact routes, else the longest prefix.
  std::vector<RouteEntry> candidates;
  const bool telemetry = request.path == options.telemetry_path;
  if (telemetry) {
    RouteEntry metrics;
    metrics.method = "GET";
    metrics.path = options.telemetry_path;
    candidates.push_back(std::move(metrics));
  } else {
    std::shared_lock lock(routes_mutex);
    for (const auto& r : routes) {
      if (!r.prefix && r.path == request.path) candidates.push_back(r);
    }
    if (candidates.empty()) {
      std::size_t longest = 0;
      for (const auto& r : routes) {
        if (r.prefix && prefix_matches(r.path, request.path))
          longest = std::max(longest, r.path.size());
      }
      for (const auto& r : routes) {
        if (r.prefix && r.path.size() == longest && prefix_matches(r.path, request.path)) {
          candidates.push_back(r);
        }
      }
    }
  }

  const bool needs_auth =
      candidates.empty() ||
      std::any_of(candidates.begin(), candidates.end(),
                  [](const RouteEntry& r) { return r.access == Server::Access::authenticated; });
  // Unknown paths ask for credentials too, so that they cannot be told apart from real ones.
  if (needs_auth && !authorized(request)) {
    Response response = plain(401, "Unauthorized");
    response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"vpbx_exporter\"");
    return response;
  }
  if (candidates.empty()) return plain(404, "404 page not found");

  const std::string lookup = request.method == "HEAD" ? "GET" : request.method;
  const RouteEntry* chosen = nullptr;
  for (const auto& r : candidates) {
    if (r.method == request.method) chosen = &r;
  }
  if (chosen == nullptr) {
    for (const auto& r : candidates) {
      if (r.method == lookup) chosen = &r;
    }
  }
  if (chosen == nullptr) {
    std::set<std::string> methods;
    for (const auto& r : candidates) {
      methods.insert(r.method);
      if (r.method == "GET") methods.insert("HEAD");
    }
    std::string allow;
    for (const auto& m : methods) allow += (allow.empty() ? "" : ", ") + m;
    Response response = plain(405, "Method Not Allowed");
    response.headers.emplace_back("Allow", allow);
    return response;
  }

  const std::string route_name = chosen->method + " " + chosen->path + (chosen->prefix ? "/*" : "");
  try {
    if (telemetry) return render_metrics(request, scraped);
    return chosen->handler(request);
  } catch (const std::exception& e) {
    log_failure(route_name, e.what());
  } catch (...) {
    log_failure(route_name, "unknown exception");
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
  for (const auto& family : scraped) series += family.metric.size();
  if (series > 0) {
    auto held = std::make_shared<Scraped>(std::move(scraped));
    after = [held = std::move(held), series]() mutable {
      held.reset();
      // A large scrape leaves its series and text as free memory in this worker's malloc
      // arena; without handing it back, the RSS stays at the scrape's peak for good
      // (bench/results.md).
      if (series >= kTrimAfterSeries) ::malloc_trim(0);
    };
  }
  return response;
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::add_collectable(std::weak_ptr<prometheus::Collectable> collectable) {
  std::lock_guard lock(impl_->collectables_mutex);
  impl_->collectables.push_back(std::move(collectable));
}

void Server::route(const std::string& method, const std::string& path, Handler handler,
                   Access access) {
  std::unique_lock lock(impl_->routes_mutex);
  impl_->routes.push_back({method, path, false, std::move(handler), access});
}

void Server::route_prefix(const std::string& method, const std::string& prefix, Handler handler,
                          Access access) {
  std::unique_lock lock(impl_->routes_mutex);
  impl_->routes.push_back({method, prefix, true, std::move(handler), access});
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
  std::string host = address.host;
  if (!host.empty()) {
    // Names such as "localhost" are resolved here, once, to the IPv4 address to bind.
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
      throw std::runtime_error(where + ": cannot resolve '" + host + "' to an IPv4 address");
    }
    char numeric[NI_MAXHOST];
    const int rc = getnameinfo(found->ai_addr, found->ai_addrlen, numeric, sizeof numeric, nullptr,
                               0, NI_NUMERICHOST);
    freeaddrinfo(found);
    if (rc != 0) throw std::runtime_error(where + ": cannot resolve '" + host + "'");
    host = numeric;
  }
  if (o.web.tls && impl_->tls_context == nullptr) {
    try {
      impl_->tls_context = make_tls_context(*o.web.tls);
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
      [self](const std::string& path) { return is_priority_path(self->options, path); });
  try {
    started->start();
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": " + e.what());
  }
  impl_->bound_port = started->port();
  impl_->transport = std::move(started);
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
