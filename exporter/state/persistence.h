#pragma once
// The state file and its journal. The store's counted calls, learnt users and cursors are
// appended to a journal in batches every flush interval and fdatasync'ed, then committed to the
// store (only then does /metrics show them). Every snapshot interval, and at a clean stop, the
// durable state is written to the state file atomically (temp file, fsync, rename, fsync of the
// folder) and the journals it covers are deleted. At start-up: the state file, then the journals
// after it, are read back; a corrupt file is set aside and the exporter starts fresh.
//
//   <state_file>                 the snapshot (JSON)
//   <state_file>.journal.<seq>   batches not yet in a snapshot

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "exporter/log/log.h"
#include "exporter/state/store.h"

namespace vpbx::state {

struct PersistenceOptions {
  std::chrono::milliseconds flush_interval{20};
  std::chrono::milliseconds snapshot_interval{std::chrono::seconds(30)};
};

class Persistence {
 public:
  Persistence(std::string state_file, Store& store, PersistenceOptions options = {});
  ~Persistence();
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // Reads the state file and its journals into the (configured) store, then writes a fresh
  // snapshot. Returns false when there was nothing usable (a fresh start).
  bool load();
  // Turns on the store's durability and starts the writer thread.
  void start();
  // Flushes what is pending, writes a last snapshot, stops the thread.
  void stop();

  std::uint64_t journal_seq() const { return seq_; }

 private:
  void run();
  bool flush();  // writes and commits one batch; false on an I/O error (the batch is kept)
  bool snapshot();
  bool open_journal(std::uint64_t seq);
  std::string journal_path(std::uint64_t seq) const;

  std::string state_file_;
  Store& store_;
  PersistenceOptions options_;
  std::uint64_t seq_ = 1;
  int journal_fd_ = -1;
  Batch unwritten_;  // a batch whose write failed, retried first
  log::ErrorLatch write_failure_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vpbx::state
