#pragma once
// Inside the transport (transport.h), shared by its two halves: transport.cpp (the I/O thread's
// loop, accepting, deadlines, the workers, start and stop) and transport_connection.cpp (one
// connection: TLS handshake, reading into the parser, dispatching, writing the answer).
// response_head.cpp writes the head of an answer.

#include <sys/epoll.h>
#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "exporter/http/transport.h"

namespace vpbx::http::detail {

using Clock = std::chrono::steady_clock;

inline constexpr std::uint32_t kIn = EPOLLIN;
inline constexpr std::uint32_t kOut = EPOLLOUT;
inline constexpr std::uint64_t kListenerId = 0;
inline constexpr std::uint64_t kWakeId = 1;
inline constexpr std::size_t kReadChunk = 16384;
// Requests one connection may have answered on the I/O thread before the others get their turn:
// a client pipelining webhook pushes must not hold the I/O thread.
inline constexpr int kInlineTurn = 16;
// Deadlines are checked this often; they are enforced to within this much.
inline constexpr auto kSweepInterval = std::chrono::milliseconds(25);
// An error answer (400, 408, ...) gets this long to go out before the connection is dropped.
inline constexpr auto kErrorWriteTimeout = std::chrono::seconds(1);
// After an answer that ends the connection early (413 on a declared length, 400), what the client
// is still sending is read and dropped for a while before closing: closing with unread data
// makes the kernel send a reset, which can destroy the answer before the client reads it.
inline constexpr auto kDrainTimeout = std::chrono::seconds(2);
inline constexpr std::size_t kMaxDrainBytes = 64 << 20;
inline constexpr std::size_t kFileDescriptorReserve = 64;  // for the state file, libcurl, logs
// Bodies at least this large are handed back to the system once sent (a 10k-user scrape):
// otherwise the RSS stays at the scrape's peak (bench/results.md).
inline constexpr std::size_t kTrimAfterBytes = 4 << 20;

// The status line's reason phrase ("" for an unknown status).
const char* reason_phrase(int status);
// "HTTP/1.1 ..." with Date, Content-Type, Content-Length, the handler's headers (never ones that
// would contradict ours) and Connection, up to the blank line.
std::string serialize_head(const Response& response, bool close);

struct Transport::Impl {
  struct Loop;

  struct Connection {
    enum class Phase { handshake, reading, processing, writing, draining };
    Loop* loop = nullptr;  // the I/O thread that owns it
    std::uint64_t id = 0;  // unique within its loop
    int fd = -1;
    SSL* ssl = nullptr;
    std::string peer;
    Phase phase = Phase::reading;
    RequestParser parser;
    std::string pending;  // bytes read beyond the request being served (pipelining)
    // What goes out: an answer's head, then its body's pieces (or an interim 100 Continue).
    std::vector<std::string> out;
    std::size_t out_piece = 0;   // the piece being sent
    std::size_t out_offset = 0;  // bytes of it sent
    std::size_t out_bytes = 0;   // of the whole answer
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
    bool sending() const { return out_piece < out.size(); }
  };

  struct Job {
    Loop* loop = nullptr;
    std::uint64_t connection = 0;
    Request request;
    bool keep_alive = true;
  };

  struct Done {
    std::uint64_t connection = 0;
    std::vector<std::string> out;  // the head, then the body's pieces
    bool close = false;
  };

  // A connection the accepting loop deals to another.
  struct Arrival {
    int fd = -1;
    std::string peer;
  };

  // One I/O thread and what it owns: an epoll set and the connections in it. The first loop
  // also accepts, and deals new connections to every loop in turn, so that the I/O work of many
  // clients spreads over the cores.
  struct Loop {
    std::size_t index = 0;
    int epoll_fd = -1;
    int wake_fd = -1;
    std::thread thread;
    std::mutex mail_mutex;  // what other threads hand this loop; wake_fd tells it
    std::vector<Done> done;
    std::vector<Arrival> arrivals;
    // Owned by the loop's thread.
    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections;
    std::uint64_t next_id = 2;
    bool accept_paused = false;
    // Connections that used up their turn (kInlineTurn) with input left: served again after the
    // events of the next epoll_wait, which then does not wait.
    std::vector<std::uint64_t> resume;

    bool alive(std::uint64_t id) const { return connections.find(id) != connections.end(); }
  };

  // Complete requests and the workers that take them.
  struct WorkQueue {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Job> jobs;
    std::vector<std::thread> threads;
  };

  Impl(TransportOptions o, RequestHandler h, LaneChoice l)
      : options(std::move(o)), handler(std::move(h)), choose_lane(std::move(l)) {}

  TransportOptions options;
  RequestHandler handler;
  LaneChoice choose_lane;
  TransportStats stats;
  int listen_fd = -1;
  int bound_port = 0;
  std::size_t max_per_loop = 0;  // max_connections, shared out
  std::atomic<bool> stopping{false};
  std::vector<std::unique_ptr<Loop>> loops;
  std::size_t next_loop = 0;  // the accepting loop's next deal
  WorkQueue general;
  WorkQueue urgent;

  void run_io(Loop& loop);
  void run_worker(WorkQueue& queue);
  // Runs the handler on a request and writes the head of its answer (the worker's part).
  Done respond(Job& job, AfterResponse& after);
  void accept_all(Loop& loop);
  void adopt(Loop& loop, int fd, std::string peer);
  bool evict_one(Loop& loop);
  void on_event(Connection& c, std::uint32_t events);
  void read_mail(Loop& loop);
  void sweep(Loop& loop);
  void close_all(Loop& loop);

  void handshake(Connection& c);
  // Serves what is buffered, then what the socket holds, until the connection waits (for the
  // socket, a worker or the client reading) or is gone, or its turn is used up.
  void read_available(Connection& c);
  void take_input(Connection& c, std::string_view data);
  void dispatch(Connection& c);
  // After an answer has gone out whole on a connection that stays open.
  void resume_reading(Connection& c);
  void answer_error(Connection& c, int status, const std::string& text);
  // Sends `out` (a head, then the pieces of its body).
  void start_write(Connection& c, std::vector<std::string> out, bool close);
  // Returns false when the connection was closed.
  bool flush(Connection& c);
  void finish_response(Connection& c);
  void watch(Connection& c, std::uint32_t events);
  void close(Connection& c);

  // TLS-or-plain I/O: >0 bytes, 0 end of stream, -1 would block (c.interest updated), -2 error.
  ssize_t receive(Connection& c, char* buffer, std::size_t size);
  // Sends what it can of c.out from where it stands.
  ssize_t transmit(Connection& c);
};

}  // namespace vpbx::http::detail
