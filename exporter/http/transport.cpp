#include "exporter/http/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "exporter/http/transport_impl.h"

namespace vpbx::http::detail {
namespace {

void set_thread_name(const char* name) {
  ::pthread_setname_np(::pthread_self(), name);
}

}  // namespace

bool Transport::Impl::evict_one(Loop& loop) {
  Connection* oldest = nullptr;
  for (auto& [id, c] : loop.connections) {
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

void Transport::Impl::accept_all(Loop& loop) {
  while (!stopping.load(std::memory_order_relaxed)) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && evict_one(loop)) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        // Out of descriptors with nobody to close: stop accepting until the next sweep rather
        // than spin on a listener that stays readable.
        epoll_event event{};
        event.data.u64 = kListenerId;
        ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_MOD, listen_fd, &event);
        loop.accept_paused = true;
      }
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
    Loop& target = *loops[next_loop];
    next_loop = (next_loop + 1) % loops.size();
    if (&target == &loop) {
      adopt(loop, fd, text);
      continue;
    }
    {
      std::lock_guard lock(target.mail_mutex);
      target.arrivals.push_back({fd, text});
    }
    const std::uint64_t wake = 1;
    [[maybe_unused]] const ssize_t n = ::write(target.wake_fd, &wake, sizeof wake);
  }
}

void Transport::Impl::adopt(Loop& loop, int fd, std::string peer) {
  if (stopping.load(std::memory_order_relaxed) ||
      (loop.connections.size() >= max_per_loop && !evict_one(loop))) {
    ::close(fd);
    stats.connections_evicted.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto c = std::make_unique<Connection>(options.limits);
  c->loop = &loop;
  c->id = loop.next_id++;
  c->fd = fd;
  c->peer = std::move(peer);
  c->waiting_since = Clock::now();
  c->deadline = c->waiting_since + options.request_timeout;
  if (options.tls != nullptr) {
    c->ssl = SSL_new(options.tls);
    if (c->ssl == nullptr || SSL_set_fd(c->ssl, fd) != 1) {
      if (c->ssl != nullptr) SSL_free(c->ssl);
      ERR_clear_error();
      ::close(fd);
      return;
    }
    SSL_set_accept_state(c->ssl);
    c->phase = Connection::Phase::handshake;
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = c->id;
  if (::epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    if (c->ssl != nullptr) SSL_free(c->ssl);
    ::close(fd);
    return;
  }
  c->interest = EPOLLIN;
  stats.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  stats.connections_open.fetch_add(1, std::memory_order_relaxed);
  loop.connections.emplace(c->id, std::move(c));
}

void Transport::Impl::read_mail(Loop& loop) {
  std::uint64_t ignored = 0;
  [[maybe_unused]] const ssize_t n = ::read(loop.wake_fd, &ignored, sizeof ignored);
  std::vector<Done> finished;
  std::vector<Arrival> arrived;
  {
    std::lock_guard lock(loop.mail_mutex);
    finished.swap(loop.done);
    arrived.swap(loop.arrivals);
  }
  for (auto& a : arrived) adopt(loop, a.fd, std::move(a.peer));
  for (auto& d : finished) {
    const auto it = loop.connections.find(d.connection);
    if (it == loop.connections.end()) continue;  // hung up or timed out while it was handled
    Connection& c = *it->second;
    if (c.head_request) d.out.resize(1);  // the head only
    start_write(c, std::move(d.out), d.close);
    if (loop.alive(d.connection) && c.phase == Connection::Phase::reading) resume_reading(c);
  }
}

void Transport::Impl::sweep(Loop& loop) {
  const auto now = Clock::now();
  std::vector<std::uint64_t> expired;
  for (const auto& [id, c] : loop.connections) {
    if (c->phase != Connection::Phase::processing && now >= c->deadline) expired.push_back(id);
  }
  for (const std::uint64_t id : expired) {
    const auto it = loop.connections.find(id);
    if (it == loop.connections.end()) continue;
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
  if (loop.accept_paused) {
    loop.accept_paused = false;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kListenerId;
    ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_MOD, listen_fd, &event);
  }
}

void Transport::Impl::close_all(Loop& loop) {
  while (!loop.connections.empty()) close(*loop.connections.begin()->second);
  std::lock_guard lock(loop.mail_mutex);
  for (const auto& a : loop.arrivals) ::close(a.fd);
  loop.arrivals.clear();
  loop.done.clear();
}

void Transport::Impl::run_io(Loop& loop) {
  set_thread_name("http-io");
  std::vector<epoll_event> events(256);
  auto next_sweep = Clock::now() + kSweepInterval;
  while (!stopping.load(std::memory_order_relaxed)) {
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_sweep - Clock::now());
    const int timeout_ms =
        loop.resume.empty() ? static_cast<int>(std::max<long long>(0, wait.count())) + 1 : 0;
    const int n =
        ::epoll_wait(loop.epoll_fd, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t id = events[i].data.u64;
      if (id == kListenerId) {
        accept_all(loop);
      } else if (id == kWakeId) {
        read_mail(loop);
      } else if (const auto it = loop.connections.find(id); it != loop.connections.end()) {
        on_event(*it->second, events[i].events);
      }
    }
    std::vector<std::uint64_t> turn;
    turn.swap(loop.resume);
    for (const std::uint64_t id : turn) {
      const auto it = loop.connections.find(id);
      if (it != loop.connections.end() && it->second->phase == Connection::Phase::reading) {
        read_available(*it->second);
      }
    }
    if (Clock::now() >= next_sweep) {
      sweep(loop);
      next_sweep = Clock::now() + kSweepInterval;
    }
  }
  close_all(loop);
}

Transport::Impl::Done Transport::Impl::respond(Job& job, AfterResponse& after) {
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
    d.out.reserve(2 + response.more_body.size());
    d.out.push_back(serialize_head(response, d.close));
    d.out.push_back(std::move(response.body));
    for (auto& piece : response.more_body) d.out.push_back(std::move(piece));
  } catch (...) {
    d.close = true;
    d.out.clear();
    d.out.push_back(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  }
  return d;
}

void Transport::Impl::run_worker(WorkQueue& queue) {
  set_thread_name(&queue == &urgent ? "http-scrape" : "http-worker");
  while (true) {
    Job job;
    {
      std::unique_lock lock(queue.mutex);
      queue.ready.wait(lock, [&] { return stopping.load() || !queue.jobs.empty(); });
      if (queue.jobs.empty()) return;
      job = std::move(queue.jobs.front());
      queue.jobs.pop_front();
    }
    AfterResponse after;
    Done d = respond(job, after);
    Loop& loop = *job.loop;
    {
      std::lock_guard lock(loop.mail_mutex);
      loop.done.push_back(std::move(d));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(loop.wake_fd, &one, sizeof one);
    if (after) {
      try {
        after();
      } catch (...) {
        // Clean-up only; nothing to report to anybody.
      }
    }
  }
}

Transport::Transport(TransportOptions options, RequestHandler handler, LaneChoice choose_lane)
    : impl_(
          std::make_unique<Impl>(std::move(options), std::move(handler), std::move(choose_lane))) {}

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
  if (!s.loops.empty()) return;
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
  const std::size_t max_connections = std::max<std::size_t>(limit, 1);
  std::size_t io_threads = s.options.io_threads > 0
                               ? static_cast<std::size_t>(s.options.io_threads)
                               : std::min<std::size_t>(std::thread::hardware_concurrency(), 4);
  io_threads = std::clamp<std::size_t>(io_threads, 1, max_connections);
  s.max_per_loop = (max_connections + io_threads - 1) / io_threads;

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(s.options.port));
  if (s.options.host.empty()) {
    address.sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (::inet_pton(AF_INET, s.options.host.c_str(), &address.sin_addr) != 1) {
    throw std::runtime_error("'" + s.options.host + "' is not an IPv4 address");
  }
  const auto close_descriptors = [&s] {
    if (s.listen_fd >= 0) ::close(s.listen_fd);
    s.listen_fd = -1;
    for (auto& loop : s.loops) {
      for (int* fd : {&loop->epoll_fd, &loop->wake_fd}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
      }
    }
  };
  const auto fail = [&s, &close_descriptors](const std::string& what) {
    const std::string reason = what + ": " + std::strerror(errno);
    close_descriptors();
    s.loops.clear();
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

  for (std::size_t i = 0; i < io_threads; ++i) {
    auto& loop = *s.loops.emplace_back(std::make_unique<Impl::Loop>());
    loop.index = i;
    loop.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (loop.epoll_fd < 0) fail("epoll_create1");
    loop.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop.wake_fd < 0) fail("eventfd");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kWakeId;
    ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, loop.wake_fd, &event);
    if (i == 0) {
      event.data.u64 = kListenerId;
      ::epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, s.listen_fd, &event);
    }
  }

  s.stopping = false;
  for (int i = 0; i < std::max(1, s.options.workers); ++i) {
    s.general.threads.emplace_back([&s] { s.run_worker(s.general); });
  }
  for (int i = 0; i < std::max(1, s.options.priority_workers); ++i) {
    s.urgent.threads.emplace_back([&s] { s.run_worker(s.urgent); });
  }
  for (auto& loop : s.loops) {
    loop->thread = std::thread([&s, &loop = *loop] { s.run_io(loop); });
  }
}

void Transport::stop() {
  Impl& s = *impl_;
  if (s.loops.empty()) return;
  s.stopping = true;
  for (Impl::WorkQueue* queue : {&s.general, &s.urgent}) {
    {
      std::lock_guard lock(queue->mutex);
      queue->jobs.clear();
    }
    queue->ready.notify_all();
  }
  for (auto& loop : s.loops) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(loop->wake_fd, &one, sizeof one);
  }
  for (auto& loop : s.loops) {
    if (loop->thread.joinable()) loop->thread.join();
  }
  for (Impl::WorkQueue* queue : {&s.general, &s.urgent}) {
    for (auto& thread : queue->threads) thread.join();
    queue->threads.clear();
  }
  // What was handed to a loop after its last look: a worker's answer, a dealt connection.
  for (auto& loop : s.loops) {
    std::lock_guard lock(loop->mail_mutex);
    for (const auto& a : loop->arrivals) ::close(a.fd);
    loop->arrivals.clear();
    loop->done.clear();
  }
  if (s.listen_fd >= 0) ::close(s.listen_fd);
  s.listen_fd = -1;
  for (auto& loop : s.loops) {
    for (int* fd : {&loop->epoll_fd, &loop->wake_fd}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }
  s.loops.clear();
}

}  // namespace vpbx::http::detail
