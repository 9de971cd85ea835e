#include "exporter/http/transport.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

namespace vpbx::http::detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kIn = EPOLLIN;
constexpr std::uint32_t kOut = EPOLLOUT;
constexpr std::uint64_t kListenerId = 0;
constexpr std::uint64_t kWakeId = 1;
constexpr std::size_t kReadChunk = 16384;
// Deadlines are checked this often; they are enforced to within this much.
constexpr auto kSweepInterval = std::chrono::milliseconds(25);
// An error answer (400, 408, ...) gets this long to go out before the connection is dropped.
constexpr auto kErrorWriteTimeout = std::chrono::seconds(1);
// After an answer that ends the connection early (413 on a declared length, 400), what the client
// is still sending is read and dropped for a while before closing: closing with unread data
// makes the kernel send a reset, which can destroy the answer before the client reads it.
constexpr auto kDrainTimeout = std::chrono::seconds(2);
constexpr std::size_t kMaxDrainBytes = 64 << 20;
constexpr std::size_t kFileDescriptorReserve = 64;  // for the state file, libcurl, logs
// Bodies at least this large are handed back to the system once sent (a 10k-user scrape):
// otherwise the RSS stays at the scrape's peak (bench/results.md).
constexpr std::size_t kTrimAfterBytes = 4 << 20;

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
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

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string serialize_head(const Response& response, bool close) {
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " +
                     reason_phrase(response.status) + "\r\nDate: " + http_date() +
                     "\r\nContent-Type: " + response.content_type +
                     "\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\n";
  for (const auto& [name, value] : response.headers) {
    // Content-Length and Connection are ours to set: a handler's own would contradict what is
    // sent. CR/LF would let a value forge headers.
    const std::string lowered = lower(name);
    if (lowered == "content-length" || lowered == "connection" || lowered == "content-type" ||
        (name + value).find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    head += name + ": " + value + "\r\n";
  }
  head += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  return head;
}

void set_thread_name(const char* name) {
  ::pthread_setname_np(::pthread_self(), name);
}

}  // namespace

struct Transport::Impl {
  struct Connection {
    enum class Phase { handshake, reading, processing, writing, draining };
    std::uint64_t id = 0;
    int fd = -1;
    SSL* ssl = nullptr;
    std::string peer;
    Phase phase = Phase::reading;
    RequestParser parser;
    std::string pending;  // bytes read beyond the request being served (pipelining)
    std::string out_head;
    std::string out_body;
    std::size_t out_done = 0;  // of out_head + out_body
    bool close_after_write = false;
    bool continue_sent = false;
    bool request_started = false;
    bool head_request = false;
    bool tls_write_wants_read = false;  // SSL_write waits for the peer (a TLS key update)
    std::size_t drained = 0;            // bytes dropped after an early answer
    std::uint32_t interest = 0;
    Clock::time_point deadline;
    Clock::time_point waiting_since;  // for the choice of whom to close at max_connections

    explicit Connection(ParserLimits limits) : parser(limits) {}
  };

  struct Job {
    std::uint64_t connection = 0;
    Request request;
    bool keep_alive = true;
  };

  struct Done {
    std::uint64_t connection = 0;
    std::string head;
    std::string body;
    bool close = false;
  };

  // A queue of complete requests and the workers that take from it.
  struct Lane {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Job> jobs;
    std::vector<std::thread> threads;
  };

  Impl(TransportOptions o, RequestHandler h, PriorityTest p)
      : options(std::move(o)), handler(std::move(h)), priority(std::move(p)) {}

  TransportOptions options;
  RequestHandler handler;
  PriorityTest priority;
  TransportStats stats;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  int bound_port = 0;
  std::size_t max_connections = 0;
  bool accept_paused = false;
  std::atomic<bool> stopping{false};
  std::thread io_thread;
  Lane general;
  Lane urgent;
  std::mutex done_mutex;
  std::vector<Done> done;

  // Owned by the I/O thread.
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections;
  std::uint64_t next_id = 2;

  void run_io();
  void run_worker(Lane& lane);
  void accept_all();
  bool evict_one();
  void on_event(Connection& c, std::uint32_t events);
  void drain_done();
  void sweep();

  void handshake(Connection& c);
  void read_available(Connection& c);
  void take_input(Connection& c, std::string_view data);
  void dispatch(Connection& c);
  void answer_error(Connection& c, int status, const std::string& text);
  void start_write(Connection& c, std::string head, std::string body, bool close);
  // Returns false when the connection was closed.
  bool flush(Connection& c);
  void finish_response(Connection& c);
  void watch(Connection& c, std::uint32_t events);
  void close(Connection& c);
  void close_all();

  // TLS-or-plain I/O: >0 bytes, 0 end of stream, -1 would block (c.interest updated), -2 error.
  ssize_t receive(Connection& c, char* buffer, std::size_t size);
  ssize_t transmit(Connection& c, const char* data, std::size_t size, const char* more,
                   std::size_t more_size);
};

void Transport::Impl::watch(Connection& c, std::uint32_t events) {
  if (c.interest == events) return;
  epoll_event event{};
  event.events = events;
  event.data.u64 = c.id;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &event);
  c.interest = events;
}

void Transport::Impl::close(Connection& c) {
  if (c.ssl != nullptr) {
    if (c.phase != Connection::Phase::handshake) SSL_shutdown(c.ssl);  // best effort, no wait
    SSL_free(c.ssl);
    ERR_clear_error();
  }
  ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
  connections.erase(c.id);  // c is gone from here on
}

void Transport::Impl::close_all() {
  while (!connections.empty()) close(*connections.begin()->second);
}

ssize_t Transport::Impl::receive(Connection& c, char* buffer, std::size_t size) {
  if (c.ssl == nullptr) {
    const ssize_t n = ::recv(c.fd, buffer, size, 0);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  const int n = SSL_read(c.ssl, buffer, static_cast<int>(size));
  if (n > 0) return n;
  switch (SSL_get_error(c.ssl, n)) {
    case SSL_ERROR_WANT_READ:
      watch(c, kIn | (c.out_done < c.out_head.size() + c.out_body.size() ? kOut : 0u));
      return -1;
    case SSL_ERROR_WANT_WRITE:
      watch(c, EPOLLOUT);
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    default:
      ERR_clear_error();
      return -2;
  }
}

ssize_t Transport::Impl::transmit(Connection& c, const char* data, std::size_t size,
                                  const char* more, std::size_t more_size) {
  if (c.ssl == nullptr) {
    iovec parts[2] = {{const_cast<char*>(data), size}, {const_cast<char*>(more), more_size}};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = more_size > 0 ? 2 : 1;
    const ssize_t n = ::sendmsg(c.fd, &message, MSG_NOSIGNAL);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  c.tls_write_wants_read = false;
  const int n = SSL_write(c.ssl, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
  if (n > 0) return n;
  switch (SSL_get_error(c.ssl, n)) {
    case SSL_ERROR_WANT_READ:
      c.tls_write_wants_read = true;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      return -1;
    default:
      ERR_clear_error();
      return -2;
  }
}

bool Transport::Impl::flush(Connection& c) {
  const std::size_t total = c.out_head.size() + c.out_body.size();
  bool progressed = false;
  while (c.out_done < total) {
    const char* data;
    std::size_t size;
    const char* more = nullptr;
    std::size_t more_size = 0;
    if (c.out_done < c.out_head.size()) {
      data = c.out_head.data() + c.out_done;
      size = c.out_head.size() - c.out_done;
      more = c.out_body.data();
      more_size = c.out_body.size();
    } else {
      data = c.out_body.data() + (c.out_done - c.out_head.size());
      size = total - c.out_done;
    }
    const ssize_t n = transmit(c, data, size, more, more_size);
    if (n == -2) {
      close(c);
      return false;
    }
    if (n < 0) break;
    c.out_done += static_cast<std::size_t>(n);
    progressed = true;
  }
  const bool pending = c.out_done < total;
  if (c.phase == Connection::Phase::writing) {
    // A client that reads nothing for a request timeout is dropped.
    if (progressed) c.deadline = Clock::now() + options.request_timeout;
    watch(c, !pending ? 0u : c.tls_write_wants_read ? kIn : kOut);
  } else {
    watch(c, kIn | (pending ? kOut : 0u));  // an interim 100 Continue while reading
  }
  if (!pending && c.phase != Connection::Phase::writing) {
    c.out_head.clear();
    c.out_done = 0;
  }
  return true;
}

void Transport::Impl::start_write(Connection& c, std::string head, std::string body, bool close) {
  c.phase = Connection::Phase::writing;
  c.out_head = std::move(head);
  c.out_body = std::move(body);
  c.out_done = 0;
  c.close_after_write = close;
  c.deadline = Clock::now() + (close ? kErrorWriteTimeout : options.request_timeout);
  if (!flush(c)) return;
  if (c.out_done == c.out_head.size() + c.out_body.size()) finish_response(c);
}

void Transport::Impl::finish_response(Connection& c) {
  if (stopping.load(std::memory_order_relaxed)) {
    close(c);
    return;
  }
  if (c.close_after_write) {
    const bool unread = c.parser.state() == RequestParser::State::failed ||
                        c.parser.state() == RequestParser::State::body || !c.pending.empty();
    if (!unread || c.ssl != nullptr) {
      close(c);
      return;
    }
    ::shutdown(c.fd, SHUT_WR);
    c.phase = Connection::Phase::draining;
    c.deadline = Clock::now() + kDrainTimeout;
    watch(c, kIn);
    return;
  }
  c.out_head.clear();
  const bool large = c.out_body.capacity() >= kTrimAfterBytes;
  c.out_body = std::string();
  if (large) ::malloc_trim(0);
  c.out_done = 0;
  c.parser.reset();
  c.continue_sent = false;
  c.request_started = false;
  c.phase = Connection::Phase::reading;
  c.waiting_since = Clock::now();
  c.deadline = c.waiting_since + options.idle_timeout;
  watch(c, EPOLLIN);
  if (!c.pending.empty()) {
    const std::string pipelined = std::move(c.pending);
    c.pending.clear();
    const std::uint64_t id = c.id;
    take_input(c, pipelined);
    if (connections.find(id) == connections.end()) return;
  }
  // TLS may hold decrypted bytes the socket no longer signals.
  if (c.phase == Connection::Phase::reading) read_available(c);
}

void Transport::Impl::answer_error(Connection& c, int status, const std::string& text) {
  Response response = Response::text(status, text + "\n");
  start_write(c, serialize_head(response, true), std::move(response.body), true);
}

void Transport::Impl::dispatch(Connection& c) {
  const RequestHead& head = c.parser.head();
  Job job;
  job.connection = c.id;
  job.keep_alive = head.keep_alive;
  Request& request = job.request;
  request.method = head.method;
  request.path = head.path;
  request.query = head.query;
  request.remote_address = c.peer;
  for (const auto& [name, value] : head.headers) {
    auto [it, inserted] = request.headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;  // repeated headers fold into one list
  }
  request.body = std::move(c.parser.body());
  c.head_request = head.method == "HEAD";
  c.phase = Connection::Phase::processing;
  watch(c, 0);  // errors and hang-ups are still reported
  Lane& lane = priority && priority(request.path) ? urgent : general;
  {
    std::lock_guard lock(lane.mutex);
    lane.jobs.push_back(std::move(job));
  }
  lane.ready.notify_one();
}

void Transport::Impl::take_input(Connection& c, std::string_view data) {
  const std::size_t used = c.parser.feed(data);
  if (!c.request_started && c.parser.started()) {
    // The request timeout counts from its first byte, not from when the connection went idle.
    c.request_started = true;
    c.deadline = Clock::now() + options.request_timeout;
  }
  switch (c.parser.state()) {
    case RequestParser::State::failed:
      stats.requests_malformed.fetch_add(1, std::memory_order_relaxed);
      answer_error(
          c, c.parser.error_status(),
          std::string(reason_phrase(c.parser.error_status())) + ": " + c.parser.error_reason());
      return;
    case RequestParser::State::complete:
      c.pending.append(data.substr(used));
      dispatch(c);
      return;
    case RequestParser::State::body:
      if (c.parser.head().expect_continue && !c.continue_sent) {
        c.continue_sent = true;
        c.out_head = "HTTP/1.1 100 Continue\r\n\r\n";
        c.out_done = 0;
        flush(c);
      }
      return;
    case RequestParser::State::head:
      return;
  }
}

void Transport::Impl::read_available(Connection& c) {
  char buffer[kReadChunk];
  const std::uint64_t id = c.id;
  while (c.phase == Connection::Phase::reading) {
    const ssize_t n = receive(c, buffer, sizeof buffer);
    if (n == -1) return;
    if (n <= 0) {
      close(c);  // end of stream or error: nothing can be answered
      return;
    }
    take_input(c, std::string_view(buffer, static_cast<std::size_t>(n)));
    if (connections.find(id) == connections.end()) return;
  }
}

void Transport::Impl::handshake(Connection& c) {
  const int rc = SSL_do_handshake(c.ssl);
  if (rc == 1) {
    c.phase = Connection::Phase::reading;
    watch(c, EPOLLIN);
    read_available(c);
    return;
  }
  switch (SSL_get_error(c.ssl, rc)) {
    case SSL_ERROR_WANT_READ:
      watch(c, EPOLLIN);
      return;
    case SSL_ERROR_WANT_WRITE:
      watch(c, EPOLLOUT);
      return;
    default:
      stats.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
      ERR_clear_error();
      close(c);
  }
}

void Transport::Impl::on_event(Connection& c, std::uint32_t events) {
  if (events & EPOLLERR) {
    close(c);
    return;
  }
  switch (c.phase) {
    case Connection::Phase::handshake:
      handshake(c);
      return;
    case Connection::Phase::processing:
      // Only a hang-up gets here (nothing else is watched): the answer has nobody to go to.
      if (events & EPOLLHUP) close(c);
      return;
    case Connection::Phase::writing:
      if (!flush(c)) return;
      if (c.out_done == c.out_head.size() + c.out_body.size()) finish_response(c);
      return;
    case Connection::Phase::draining: {
      char buffer[kReadChunk];
      while (true) {
        const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        c.drained += n > 0 ? static_cast<std::size_t>(n) : 0;
        if (n <= 0 || c.drained > kMaxDrainBytes) {
          close(c);
          return;
        }
      }
    }
    case Connection::Phase::reading: {
      const std::uint64_t id = c.id;
      if ((events & EPOLLOUT) && c.out_done < c.out_head.size()) {
        if (!flush(c)) return;
      }
      if (connections.find(id) != connections.end()) read_available(c);
      return;
    }
  }
}

bool Transport::Impl::evict_one() {
  Connection* oldest = nullptr;
  for (auto& [id, c] : connections) {
    const bool waiting = c->phase == Connection::Phase::handshake ||
                         c->phase == Connection::Phase::reading ||
                         c->phase == Connection::Phase::draining;
    if (waiting && (oldest == nullptr || c->waiting_since < oldest->waiting_since)) {
      oldest = c.get();
    }
  }
  if (oldest == nullptr) return false;
  stats.connections_evicted.fetch_add(1, std::memory_order_relaxed);
  close(*oldest);
  return true;
}

void Transport::Impl::accept_all() {
  while (!stopping.load(std::memory_order_relaxed)) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && evict_one()) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        // Out of descriptors with nobody to close: stop accepting until the next sweep rather
        // than spin on a listener that stays readable.
        epoll_event event{};
        event.data.u64 = kListenerId;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &event);
        accept_paused = true;
      }
      return;
    }
    if (connections.size() >= max_connections && !evict_one()) {
      ::close(fd);
      stats.connections_evicted.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Connection>(options.limits);
    c->id = next_id++;
    c->fd = fd;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
    c->peer = text;
    c->waiting_since = Clock::now();
    c->deadline = c->waiting_since + options.request_timeout;
    if (options.tls != nullptr) {
      c->ssl = SSL_new(options.tls);
      if (c->ssl == nullptr || SSL_set_fd(c->ssl, fd) != 1) {
        if (c->ssl != nullptr) SSL_free(c->ssl);
        ERR_clear_error();
        ::close(fd);
        continue;
      }
      SSL_set_accept_state(c->ssl);
      c->phase = Connection::Phase::handshake;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = c->id;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
      if (c->ssl != nullptr) SSL_free(c->ssl);
      ::close(fd);
      continue;
    }
    c->interest = EPOLLIN;
    stats.connections_accepted.fetch_add(1, std::memory_order_relaxed);
    stats.connections_open.fetch_add(1, std::memory_order_relaxed);
    connections.emplace(c->id, std::move(c));
  }
}

void Transport::Impl::drain_done() {
  std::uint64_t ignored = 0;
  [[maybe_unused]] const ssize_t n = ::read(wake_fd, &ignored, sizeof ignored);
  std::vector<Done> finished;
  {
    std::lock_guard lock(done_mutex);
    finished.swap(done);
  }
  for (auto& d : finished) {
    const auto it = connections.find(d.connection);
    if (it == connections.end()) continue;  // hung up or timed out while it was handled
    Connection& c = *it->second;
    if (c.head_request) d.body.clear();
    start_write(c, std::move(d.head), std::move(d.body), d.close);
  }
}

void Transport::Impl::sweep() {
  const auto now = Clock::now();
  std::vector<std::uint64_t> expired;
  for (const auto& [id, c] : connections) {
    if (c->phase != Connection::Phase::processing && now >= c->deadline) expired.push_back(id);
  }
  for (const std::uint64_t id : expired) {
    const auto it = connections.find(id);
    if (it == connections.end()) continue;
    Connection& c = *it->second;
    if (c.phase == Connection::Phase::reading && c.request_started) {
      // Half a request at its deadline: say so, briefly, then drop it.
      stats.requests_timed_out.fetch_add(1, std::memory_order_relaxed);
      answer_error(c, 408, "Request Timeout");
    } else {
      if (c.phase == Connection::Phase::handshake) {
        stats.requests_timed_out.fetch_add(1, std::memory_order_relaxed);
      }
      close(c);
    }
  }
  if (accept_paused) {
    accept_paused = false;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kListenerId;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &event);
  }
}

void Transport::Impl::run_io() {
  set_thread_name("http-io");
  std::vector<epoll_event> events(256);
  auto next_sweep = Clock::now() + kSweepInterval;
  while (!stopping.load(std::memory_order_relaxed)) {
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_sweep - Clock::now());
    const int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()),
                               static_cast<int>(std::max<long long>(0, wait.count())) + 1);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t id = events[i].data.u64;
      if (id == kListenerId) {
        accept_all();
      } else if (id == kWakeId) {
        drain_done();
      } else if (const auto it = connections.find(id); it != connections.end()) {
        on_event(*it->second, events[i].events);
      }
    }
    if (Clock::now() >= next_sweep) {
      sweep();
      next_sweep = Clock::now() + kSweepInterval;
    }
  }
  close_all();
}

void Transport::Impl::run_worker(Lane& lane) {
  set_thread_name(&lane == &urgent ? "http-scrape" : "http-worker");
  while (true) {
    Job job;
    {
      std::unique_lock lock(lane.mutex);
      lane.ready.wait(lock, [&] { return stopping.load() || !lane.jobs.empty(); });
      if (lane.jobs.empty()) return;
      job = std::move(lane.jobs.front());
      lane.jobs.pop_front();
    }
    AfterResponse after;
    Response response;
    try {
      response = handler(job.request, after);
    } catch (...) {
      // The server's handler catches everything; this guards the transport all the same.
      response = Response::text(500, "Internal Server Error\n");
    }
    Done d;
    d.connection = job.connection;
    d.close = !job.keep_alive || response.close_connection;
    try {
      d.head = serialize_head(response, d.close);
    } catch (...) {
      d.close = true;
      d.head =
          "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      response.body.clear();
    }
    d.body = std::move(response.body);
    {
      std::lock_guard lock(done_mutex);
      done.push_back(std::move(d));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof one);
    if (after) {
      try {
        after();
      } catch (...) {
        // Clean-up only; nothing to report to anybody.
      }
    }
  }
}

Transport::Transport(TransportOptions options, RequestHandler handler, PriorityTest priority)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(priority))) {}

Transport::~Transport() {
  stop();
}

int Transport::port() const {
  return impl_->bound_port;
}

const TransportStats& Transport::stats() const {
  return impl_->stats;
}

void Transport::start() {
  Impl& s = *impl_;
  if (s.io_thread.joinable()) return;
  // A peer that hangs up while we write must not kill the process.
  ::signal(SIGPIPE, SIG_IGN);

  rlimit files{};
  std::size_t limit = s.options.max_connections;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const auto usable = files.rlim_cur > kFileDescriptorReserve * 2
                            ? files.rlim_cur - kFileDescriptorReserve
                            : files.rlim_cur / 2;
    limit = std::min<std::size_t>(limit, usable);
  }
  s.max_connections = std::max<std::size_t>(limit, 1);

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(s.options.port));
  if (s.options.host.empty()) {
    address.sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (::inet_pton(AF_INET, s.options.host.c_str(), &address.sin_addr) != 1) {
    throw std::runtime_error("'" + s.options.host + "' is not an IPv4 address");
  }
  const auto fail = [&s](const std::string& what) {
    const std::string reason = what + ": " + std::strerror(errno);
    for (int* fd : {&s.listen_fd, &s.epoll_fd, &s.wake_fd}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
    throw std::runtime_error(reason);
  };
  s.listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.listen_fd < 0) fail("socket");
  const int one = 1;
  ::setsockopt(s.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    fail("bind");
  }
  if (::listen(s.listen_fd, SOMAXCONN) != 0) fail("listen");
  socklen_t length = sizeof address;
  ::getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&address), &length);
  s.bound_port = ntohs(address.sin_port);

  s.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (s.epoll_fd < 0) fail("epoll_create1");
  s.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s.wake_fd < 0) fail("eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kListenerId;
  ::epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.listen_fd, &event);
  event.data.u64 = kWakeId;
  ::epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.wake_fd, &event);

  s.stopping = false;
  for (int i = 0; i < std::max(1, s.options.workers); ++i) {
    s.general.threads.emplace_back([&s] { s.run_worker(s.general); });
  }
  for (int i = 0; i < std::max(1, s.options.priority_workers); ++i) {
    s.urgent.threads.emplace_back([&s] { s.run_worker(s.urgent); });
  }
  s.io_thread = std::thread([&s] { s.run_io(); });
}

void Transport::stop() {
  Impl& s = *impl_;
  if (!s.io_thread.joinable()) return;
  s.stopping = true;
  for (Impl::Lane* lane : {&s.general, &s.urgent}) {
    {
      std::lock_guard lock(lane->mutex);
      lane->jobs.clear();
    }
    lane->ready.notify_all();
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(s.wake_fd, &one, sizeof one);
  s.io_thread.join();
  for (Impl::Lane* lane : {&s.general, &s.urgent}) {
    for (auto& thread : lane->threads) thread.join();
    lane->threads.clear();
  }
  for (int* fd : {&s.listen_fd, &s.epoll_fd, &s.wake_fd}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  std::lock_guard lock(s.done_mutex);
  s.done.clear();
}

}  // namespace vpbx::http::detail
