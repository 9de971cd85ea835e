// One connection of the transport: the TLS handshake, reading into the request parser,
// handing a complete request to a lane, writing the answer, draining after an early one.
#include <malloc.h>
#include <openssl/err.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

#include "exporter/http/transport_impl.h"

namespace vpbx::http::detail {

void Transport::Impl::watch(Connection& c, std::uint32_t events) {
  if (c.interest == events) return;
  epoll_event event{};
  event.events = events;
  event.data.u64 = c.id;
  ::epoll_ctl(c.loop->epoll_fd, EPOLL_CTL_MOD, c.fd, &event);
  c.interest = events;
}

void Transport::Impl::close(Connection& c) {
  if (c.ssl != nullptr) {
    if (c.phase != Connection::Phase::handshake) SSL_shutdown(c.ssl);  // best effort, no wait
    SSL_free(c.ssl);
    ERR_clear_error();
  }
  ::epoll_ctl(c.loop->epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
  Loop& loop = *c.loop;
  const std::uint64_t id = c.id;
  loop.connections.erase(id);  // c is gone from here on
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
      watch(c, kIn | (c.sending() ? kOut : 0u));
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

ssize_t Transport::Impl::transmit(Connection& c) {
  const std::string& piece = c.out[c.out_piece];
  if (c.ssl == nullptr) {
    // As many pieces as one call takes: a plain /metrics is a thousand of them.
    constexpr std::size_t kMaxParts = 64;
    iovec parts[kMaxParts];
    std::size_t count = 0;
    for (std::size_t i = c.out_piece; i < c.out.size() && count < kMaxParts; ++i) {
      const std::size_t skip = i == c.out_piece ? c.out_offset : 0;
      parts[count++] = {const_cast<char*>(c.out[i].data() + skip), c.out[i].size() - skip};
    }
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = count;
    const ssize_t n = ::sendmsg(c.fd, &message, MSG_NOSIGNAL);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  c.tls_write_wants_read = false;
  const std::size_t size = std::min<std::size_t>(piece.size() - c.out_offset, 1 << 30);
  const int n = SSL_write(c.ssl, piece.data() + c.out_offset, static_cast<int>(size));
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
  bool progressed = false;
  while (c.sending()) {
    const ssize_t n = transmit(c);
    if (n == -2) {
      close(c);
      return false;
    }
    if (n < 0) break;
    progressed = true;
    // Pieces sent are let go at once: a large answer shrinks as it goes out.
    auto sent = static_cast<std::size_t>(n);
    while (sent > 0 && c.sending()) {
      const std::size_t left = c.out[c.out_piece].size() - c.out_offset;
      if (sent < left) {
        c.out_offset += sent;
        break;
      }
      sent -= left;
      std::string().swap(c.out[c.out_piece]);
      ++c.out_piece;
      c.out_offset = 0;
    }
  }
  const bool pending = c.sending();
  if (c.phase == Connection::Phase::writing) {
    // A client that reads nothing for a request timeout is dropped. Once all is sent,
    // finish_response() says what to watch next.
    if (pending && progressed) c.deadline = Clock::now() + options.request_timeout;
    if (pending) watch(c, c.tls_write_wants_read ? kIn : kOut);
  } else {
    watch(c, kIn | (pending ? kOut : 0u));  // an interim 100 Continue while reading
  }
  if (!pending && c.phase != Connection::Phase::writing) {
    c.out.clear();
    c.out_piece = 0;
  }
  return true;
}

void Transport::Impl::start_write(Connection& c, std::vector<std::string> out, bool close) {
  c.phase = Connection::Phase::writing;
  std::erase_if(out, [](const std::string& piece) { return piece.empty(); });
  c.out_bytes = 0;
  for (const auto& piece : out) c.out_bytes += piece.size();
  c.out = std::move(out);
  c.out_piece = 0;
  c.out_offset = 0;
  c.close_after_write = close;
  c.deadline = Clock::now() + (close ? kErrorWriteTimeout : options.request_timeout);
  if (!flush(c)) return;
  if (!c.sending()) finish_response(c);
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
  c.out = {};
  c.out_piece = 0;
  if (c.out_bytes >= kTrimAfterBytes) ::malloc_trim(0);
  c.out_bytes = 0;
  c.parser.reset();
  c.continue_sent = false;
  c.request_started = false;
  c.phase = Connection::Phase::reading;
  c.waiting_since = Clock::now();
  c.deadline = c.waiting_since + options.idle_timeout;
  // Re-arming a socket that has input waiting reports it. What is buffered (pipelined requests,
  // TLS records) is not reported: whoever called this serves it (resume_reading), without
  // recursion however many requests a client pipelines.
  watch(c, EPOLLIN);
}

void Transport::Impl::resume_reading(Connection& c) {
  // TLS may hold decrypted bytes the socket no longer signals.
  if (c.ssl != nullptr || !c.pending.empty()) read_available(c);
}

void Transport::Impl::answer_error(Connection& c, int status, const std::string& text) {
  Response response = Response::text(status, text + "\n");
  std::vector<std::string> out;
  out.push_back(serialize_head(response, true));
  out.push_back(std::move(response.body));
  start_write(c, std::move(out), true);
}

void Transport::Impl::dispatch(Connection& c) {
  // The head is taken apart, not copied: the parser is reset before the next request.
  RequestHead& head = c.parser.head();
  Job job;
  job.loop = c.loop;
  job.connection = c.id;
  job.keep_alive = head.keep_alive;
  Request& request = job.request;
  c.head_request = head.method == "HEAD";
  request.method = std::move(head.method);
  request.path = std::move(head.path);
  request.query = std::move(head.query);
  request.remote_address = c.peer;
  for (auto& [name, value] : head.headers) {
    auto [it, inserted] = request.headers.try_emplace(std::move(name), std::move(value));
    if (!inserted) it->second += ", " + value;  // repeated headers fold into one list
  }
  request.body = std::move(c.parser.body());
  const Lane lane = choose_lane ? choose_lane(request.path, request.body.size()) : Lane::general;
  c.phase = Connection::Phase::processing;
  if (lane == Lane::io_thread) {
    AfterResponse after;
    Done d = respond(job, after);
    if (c.head_request) d.out.resize(1);        // the head only
    start_write(c, std::move(d.out), d.close);  // may close c
    if (after) {
      try {
        after();
      } catch (...) {
        // Clean-up only; nothing to report to anybody.
      }
    }
    return;
  }
  watch(c, 0);  // errors and hang-ups are still reported
  WorkQueue& queue = lane == Lane::priority ? urgent : general;
  {
    std::lock_guard lock(queue.mutex);
    queue.jobs.push_back(std::move(job));
  }
  queue.ready.notify_one();
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
        c.out = {"HTTP/1.1 100 Continue\r\n\r\n"};
        c.out_piece = 0;
        c.out_offset = 0;
        flush(c);
      }
      return;
    case RequestParser::State::head:
      return;
  }
}

void Transport::Impl::read_available(Connection& c) {
  char buffer[kReadChunk];
  Loop& loop = *c.loop;
  const std::uint64_t id = c.id;
  for (int turn = 0; c.phase == Connection::Phase::reading; ++turn) {
    if (turn == kInlineTurn) {
      loop.resume.push_back(id);  // the others first
      return;
    }
    if (!c.pending.empty()) {
      const std::string pipelined = std::move(c.pending);
      c.pending.clear();
      take_input(c, pipelined);
      if (!loop.alive(id)) return;
      continue;
    }
    const ssize_t n = receive(c, buffer, sizeof buffer);
    if (n == -1) return;
    if (n <= 0) {
      close(c);  // end of stream or error: nothing can be answered
      return;
    }
    take_input(c, std::string_view(buffer, static_cast<std::size_t>(n)));
    if (!loop.alive(id)) return;
    // A short read emptied the socket: epoll reports the next bytes, no recv() needs to ask.
    const bool socket_empty = c.ssl == nullptr && static_cast<std::size_t>(n) < sizeof buffer;
    if (socket_empty && c.pending.empty()) return;
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
    case Connection::Phase::writing: {
      Loop& loop = *c.loop;
      const std::uint64_t id = c.id;
      if (!flush(c)) return;
      if (c.sending()) return;
      finish_response(c);
      if (loop.alive(id) && c.phase == Connection::Phase::reading) resume_reading(c);
      return;
    }
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
    case Connection::Phase::reading:
      // An interim 100 Continue still going out, then the body.
      if ((events & EPOLLOUT) && c.sending() && !flush(c)) return;
      read_available(c);
      return;
  }
}

}  // namespace vpbx::http::detail
