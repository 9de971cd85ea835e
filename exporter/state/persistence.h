#pragma once
// The state file and its journal. The store's counted calls, learnt users and cursors are
// appended to a journal in batches every flush interval and fdatasync'ed, then committed to the
// store (only then does /metrics show them). Every snapshot interval, and at a clean stop, the
// durable state is written to the state file atomically (temp file, fsync, rename, fsync of the
// folder) and the journals it covers are deleted. At start-up: the state file, then the journals
// after it, are read back.
//
//   <state_file>                      the snapshot (JSON)
//   <state_file>.journal.<seq>        batches not yet in a snapshot
//   <file>.corrupt-<UTC time>[.<n>]   a file that could not be restored, kept for inspection
//
// Faults. A state file or journal that is truncated, corrupt or of another version is logged
// (file, byte, line), counted in vpbx_state_restore_failed and set aside; the exporter serves on
// (see load() for why counters then restart at 0). A journal that cannot be written (disk full,
// read-only) counts in vpbx_state_write_errors_total and makes durable() false, so the webhook
// answers 503 until a write succeeds again; polls keep their batch pending meanwhile.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exporter/log/log.h"
#include "exporter/state/store.h"

namespace vpbx::state {

struct PersistenceOptions {
  std::chrono::milliseconds flush_interval{20};
  std::chrono::milliseconds snapshot_interval{std::chrono::seconds(30)};
  // While the journal cannot be written: how often a write is tried again.
  std::chrono::milliseconds retry_interval{std::chrono::seconds(1)};
  // A seam for tests where no file system can be made to fail for real: when set, it is asked
  // before every write to the state folder (with the file's path) and a non-zero errno makes
  // that write fail as the file system would.
  std::function<int(const std::string& path)> inject_write_error;
};

// vpbx_state_restore_failed and vpbx_state_write_errors_total, in the exporter's own registry.
class PersistenceMetrics {
 public:
  explicit PersistenceMetrics(prometheus::Registry& registry);
  void set_restore_failed(bool failed);
  void count_journal_error();
  void count_state_file_error();

 private:
  prometheus::Gauge& restore_failed_;
  prometheus::Family<prometheus::Counter>& write_errors_;
  prometheus::Counter& journal_errors_;
  prometheus::Counter& state_file_errors_;
};

class Persistence {
 public:
  Persistence(std::string state_file, Store& store, PersistenceOptions options = {},
              std::shared_ptr<PersistenceMetrics> metrics = nullptr);
  ~Persistence();
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // Reads the state file and its journals into the (configured) store, then writes a fresh
  // snapshot. Returns false when there was nothing usable (a fresh start). Never throws.
  bool load();
  // Resharding (shard.import_state_files): when this replica has no state file and no journal
  // yet, reads the previous layout's state files into the store (Store::restore's import), for
  // load() to write as this replica's first snapshot. Each must have been left by a clean stop
  // (no journal beside it). False, with `error` naming the file, when one cannot be used: the
  // replica must not start then, or the calls it holds would be lost.
  bool import_if_fresh(const std::vector<std::string>& files, std::string& error);
  // Turns on the store's durability and starts the writer thread.
  void start();
  // Flushes what is pending, writes a last snapshot, stops the thread.
  void stop();

  // True when load() met a file it could not restore whole.
  bool restore_failed() const { return restore_failed_; }
  // False while the journal cannot be written: what is accepted now cannot be made durable.
  bool durable() const { return durable_.load(); }
  std::uint64_t journal_seq() const { return seq_; }

 private:
  void run();
  bool flush();  // writes and commits one batch; on an I/O error the batch goes back pending
  bool snapshot();
  bool write_journal(const std::string& data, int& error);
  bool open_journal(std::uint64_t seq, int& error);
  std::string journal_path(std::uint64_t seq) const;
  void journal_failed(int error);
  void journal_recovered();
  void fault(const std::string& file, const std::string& where, const std::string& reason);
  int injected_error(const std::string& path) const;

  std::string state_file_;
  Store& store_;
  PersistenceOptions options_;
  std::shared_ptr<PersistenceMetrics> metrics_;
  std::uint64_t seq_ = 1;
  int journal_fd_ = -1;
  std::uint64_t journal_size_ = 0;  // bytes known good in the open journal
  bool restore_failed_ = false;
  std::vector<std::string> set_aside_;  // bad files, moved aside by the next snapshot
  std::atomic<bool> durable_{true};
  log::ErrorLatch journal_failure_;
  log::ErrorLatch state_file_failure_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vpbx::state
