#include "exporter/http/server.h"

#include <civetweb.h>
#include <crypt.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <prometheus/metric_family.h>
#include <sys/socket.h>
#include <unistd.h>

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

#include "exporter/http/civetweb_stop.h"
#include "exporter/http/detail.h"
#include "exporter/http/exposition.h"
#include "exporter/http/gzip.h"
#include "exporter/http/tls_shim.h"
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

// One temp file with certificate and key, as CivetWeb's ssl_certificate wants: its directory
// is private (0700) and the file 0600, and both go away on stop().
class PemFile {
 public:
  PemFile(const TlsConfig& tls) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/vpbx_exporter-tls-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("TLS: cannot create a private temp directory in " + pattern);
    }
    dir_ = pattern;
    path_ = dir_ + "/server.pem";
    const int fd = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      remove();
      throw std::runtime_error("TLS: cannot create " + path_);
    }
    std::string pem;
    for (const std::string* file : {&tls.cert_file, &tls.key_file}) {
      std::ifstream in(*file, std::ios::binary);
      if (!in) {
        ::close(fd);
        remove();
        throw std::runtime_error("TLS: cannot read " + *file);
      }
      pem.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (!pem.empty() && pem.back() != '\n') pem.push_back('\n');
    }
    std::size_t done = 0;
    while (done < pem.size()) {
      const ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (done != pem.size()) {
      remove();
      throw std::runtime_error("TLS: cannot write " + path_);
    }
  }
  ~PemFile() { remove(); }
  PemFile(const PemFile&) = delete;
  PemFile& operator=(const PemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  void remove() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  std::string dir_;
  std::string path_;
};

const char* protocol_version(const std::string& min_version) {
  // CivetWeb's ssl_protocol_version: 2 = TLS 1.0+, 3 = TLS 1.1+, 4 = TLS 1.2+, 5 = TLS 1.3.
  if (min_version == "TLS10") return "2";
  if (min_version == "TLS11") return "3";
  if (min_version == "TLS13") return "5";
  return "4";
}

// RFC 9110 IMF-fixdate, e.g. "Thu, 26 Nov 2026 13:12:56 GMT".
std::string http_date() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[64];
  const std::size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return std::string(text, n);
}

// The same rule as CivetWeb's own: HTTP/1.1 keeps the connection unless the client says close;
// HTTP/1.0 only when it asks for keep-alive.
bool keep_alive(const mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const char* header = mg_get_header(conn, "Connection");
  if (header != nullptr) return lower(header).find("keep-alive") != std::string::npos;
  return info->http_version != nullptr && std::string(info->http_version) == "1.1";
}

int civetweb_log(const mg_connection*, const char* message) {
  log::warn("http server", {{"message", message ? message : ""}});
  return 1;  // handled: CivetWeb writes nothing itself
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

  ServerOptions options;
  mutable std::shared_mutex routes_mutex;
  std::vector<RouteEntry> routes;
  std::mutex collectables_mutex;
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables;
  mg_context* ctx = nullptr;
  int bound_port = 0;
  std::unique_ptr<PemFile> pem;
  AuthCache auth_cache;
  log::OncePerValue logged_failures;

  static int on_request(mg_connection* conn);
  void handle(mg_connection* conn);
  // What happened on the wire while handling one request.
  struct Exchange {
    bool close_connection = false;  // the body was not read to its end
    // What /metrics rendered, freed only after the answer is sent: freeing 300k series takes
    // longer than sending them.
    std::vector<prometheus::MetricFamily> scraped;
  };
  Response dispatch(mg_connection* conn, Request& request, Exchange& exchange);
  bool authorized(const Request& request);
  Response render_metrics(const Request& request, Exchange& exchange);
  void send(mg_connection* conn, const Request& request, const Response& response,
            const Exchange& exchange);
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

Response Server::Impl::render_metrics(const Request& request, Exchange& exchange) {
  std::vector<std::shared_ptr<prometheus::Collectable>> sources;
  {
    std::lock_guard lock(collectables_mutex);
    std::erase_if(collectables, [](const auto& weak) { return weak.expired(); });
    for (const auto& weak : collectables) {
      if (auto source = weak.lock()) sources.push_back(std::move(source));
    }
  }
  // Collected outside the lock: a slow collector must not block registration or other scrapes.
  std::vector<prometheus::MetricFamily>& families = exchange.scraped;
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

Response Server::Impl::dispatch(mg_connection* conn, Request& request, Exchange& exchange) {
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

  // The body: refused by its declared length before a byte is read, and capped while reading
  // when the length is unknown (chunked). Either way the connection is then closed, as the rest
  // of the body is still on the wire.
  const mg_request_info* info = mg_get_request_info(conn);
  const std::size_t limit = options.max_body_bytes;
  if (info->content_length > 0 && static_cast<unsigned long long>(info->content_length) > limit) {
    exchange.close_connection = true;
    return plain(413, "Request body too large");
  }
  const bool has_body = info->content_length > 0 ||
                        (info->content_length < 0 && !request.header("transfer-encoding").empty());
  if (has_body) {
    if (lower(request.header("expect")) == "100-continue" && info->http_version &&
        std::string(info->http_version) == "1.1") {
      mg_printf(conn, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    char buffer[16384];
    // CivetWeb's timeout bounds each read, and mg_read() returns only once it has the length it
    // was asked for: a client trickling a byte at a time would hold this worker for ever. So the
    // whole body must arrive within the request timeout, and reads start at one byte and double
    // while the data comes fast (a 1 KiB push takes about ten reads), falling back to one byte
    // as soon as a read waits: a slow client is then checked against the deadline at every byte.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options.request_timeout_ms);
    std::size_t chunk = 1;
    while (true) {
      const auto started = std::chrono::steady_clock::now();
      const int n = mg_read(conn, buffer, chunk);
      if (n == 0) break;
      const auto now = std::chrono::steady_clock::now();
      if (now > deadline) {
        exchange.close_connection = true;
        request.body.clear();
        return plain(408, "Request Timeout");
      }
      if (n < 0) {
        exchange.close_connection = true;
        return plain(400, "Cannot read the request body");
      }
      if (request.body.size() + static_cast<std::size_t>(n) > limit) {
        exchange.close_connection = true;
        request.body.clear();
        return plain(413, "Request body too large");
      }
      chunk =
          now - started > std::chrono::milliseconds(20) ? 1 : std::min(chunk * 2, sizeof buffer);
      request.body.append(buffer, static_cast<std::size_t>(n));
    }
  }

  const std::string route_name = chosen->method + " " + chosen->path + (chosen->prefix ? "/*" : "");
  try {
    if (telemetry) return render_metrics(request, exchange);
    return chosen->handler(request);
  } catch (const std::exception& e) {
    log_failure(route_name, e.what());
  } catch (...) {
    log_failure(route_name, "unknown exception");
  }
  return plain(500, "Internal Server Error");
}

void Server::Impl::send(mg_connection* conn, const Request& request, const Response& response,
                        const Exchange& exchange) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Content-Type", response.content_type);
  headers.emplace_back("Content-Length", std::to_string(response.body.size()));
  for (const auto& header : response.headers) {
    // Content-Length and Connection are ours to set: a handler's own would contradict what is
    // sent. CR/LF would let a value forge headers.
    const std::string name = lower(header.first);
    if (name == "content-length" || name == "connection" ||
        (header.first + header.second).find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    headers.push_back(header);
  }
  // The head is written by hand rather than with mg_response_header_*: CivetWeb 1.15 formats its
  // Date header with gmtime(), a data race between workers, and after an interim 100 it
  // refuses to start a response at all.
  const bool close = exchange.close_connection || !keep_alive(conn);
  if (close) mg_disable_connection_keep_alive(conn);
  const char* reason = mg_get_response_code_text(conn, response.status);
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + (reason ? reason : "") +
                     "\r\nDate: " + http_date() + "\r\n";
  for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
  head += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  mg_write(conn, head.data(), head.size());
  if (request.method != "HEAD" && !response.body.empty()) {
    mg_write(conn, response.body.data(), response.body.size());
  }
}

void Server::Impl::handle(mg_connection* conn) {
  Request request;
  Response response;
  Exchange exchange;
  try {
    const mg_request_info* info = mg_get_request_info(conn);
    request.method = info->request_method ? info->request_method : "";
    request.path = info->local_uri ? info->local_uri : "";
    request.query = info->query_string ? info->query_string : "";
    request.remote_address = info->remote_addr;
    for (int i = 0; i < info->num_headers; ++i) {
      const auto& h = info->http_headers[i];
      if (h.name == nullptr) continue;
      std::string name = lower(h.name);
      std::string value = h.value ? h.value : "";
      auto [it, inserted] = request.headers.emplace(std::move(name), value);
      if (!inserted) it->second += ", " + value;  // repeated headers fold into one list
    }
    response = dispatch(conn, request, exchange);
  } catch (const std::exception& e) {
    log_failure("(request handling)", e.what());
    response = plain(500, "Internal Server Error");
  } catch (...) {
    log_failure("(request handling)", "unknown exception");
    response = plain(500, "Internal Server Error");
  }
  send(conn, request, response, exchange);
  std::size_t series = 0;
  for (const auto& family : exchange.scraped) series += family.metric.size();
  if (series >= kTrimAfterSeries) {
    // A large scrape leaves its series and text as free memory in this worker's malloc arena;
    // without handing it back, the RSS stays at the scrape's peak for good (bench/results.md).
    response = Response();
    exchange.scraped = {};
    ::malloc_trim(0);
  }
}

int Server::Impl::on_request(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  auto* self = static_cast<Impl*>(info->user_data);
  // Nothing may unwind into CivetWeb's C frames: that would terminate the process.
  try {
    self->handle(conn);
  } catch (...) {
    // handle() already catches everything it can; this only guards against a failing send.
  }
  return 1;  // handled: CivetWeb sends nothing more
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
  if (impl_->ctx != nullptr) return;
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
    // CivetWeb binds to numeric IPv4 addresses only; names such as "localhost" are resolved here.
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
  std::string ports = (host.empty() ? "" : host + ":") + std::to_string(address.port);

  std::string tls_problem;
  if (o.web.tls) {
    tls_problem = detail::load_tls_shims();
    try {
      impl_->pem = std::make_unique<PemFile>(*o.web.tls);
    } catch (const std::exception& e) {
      throw std::runtime_error(where + ": " + e.what());
    }
    ports += "s";
  }

  std::vector<std::pair<const char*, std::string>> settings = {
      {"listening_ports", ports},
      {"num_threads", std::to_string(std::max(1, o.num_threads))},
      {"request_timeout_ms", std::to_string(std::max(1, o.request_timeout_ms))},
      {"keep_alive_timeout_ms", std::to_string(std::max(1, o.idle_timeout_ms))},
      {"enable_keep_alive", "yes"},
      {"tcp_nodelay", "1"},
      {"enable_directory_listing", "no"},
      {"decode_url", "yes"},
  };
  if (impl_->pem) {
    settings.emplace_back("ssl_certificate", impl_->pem->path());
    settings.emplace_back("ssl_protocol_version", protocol_version(o.web.tls->min_version));
  }
  std::vector<const char*> config;
  for (const auto& [name, value] : settings) {
    config.push_back(name);
    config.push_back(value.c_str());
  }
  config.push_back(nullptr);

  mg_callbacks callbacks{};
  callbacks.begin_request = &Impl::on_request;
  callbacks.log_message = &civetweb_log;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = impl_.get();
  init.configuration_options = config.data();
  char error_text[256] = {};
  unsigned error_code = 0;
  mg_error_data error{};
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof error_text;

  impl_->ctx = mg_start2(&init, &error);
  if (impl_->ctx == nullptr) {
    impl_->pem.reset();
    std::string why = error_text[0] ? error_text : "CivetWeb failed to start";
    if (!tls_problem.empty()) why += " (" + tls_problem + ")";
    throw std::runtime_error(where + ": " + why);
  }
  mg_server_port bound[4] = {};
  const int count = mg_get_server_ports(impl_->ctx, 4, bound);
  impl_->bound_port = count > 0 ? bound[0].port : address.port;
  log::info("http server listening", {{"address", o.listen_address},
                                      {"port", impl_->bound_port},
                                      {"tls", o.web.tls.has_value()},
                                      {"basic_auth", !o.web.basic_auth_users.empty()}});
}

void Server::stop() {
  if (impl_->ctx == nullptr) return;
  stop_civetweb(impl_->ctx, impl_->bound_port);
  impl_->ctx = nullptr;
  impl_->pem.reset();
}

int Server::port() const {
  return impl_->bound_port;
}

bool Server::tls() const {
  return impl_->options.web.tls.has_value();
}

}  // namespace vpbx::http
