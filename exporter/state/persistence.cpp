#include "exporter/state/persistence.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>

#include "exporter/state/state_files.h"

namespace vpbx::state {

using namespace detail;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

PersistenceMetrics::PersistenceMetrics(prometheus::Registry& registry)
    : restore_failed_(prometheus::BuildGauge()
                          .Name("vpbx_state_restore_failed")
                          .Help("1 if the state file or a journal could not be restored whole at "
                                "start-up: it was set aside and call counters restarted at 0.")
                          .Register(registry)
                          .Add({})),
      write_errors_(prometheus::BuildCounter()
                        .Name("vpbx_state_write_errors_total")
                        .Help("Failed writes of the state journal or the state file (disk full, "
                              "read-only, I/O error).")
                        .Register(registry)),
      journal_errors_(write_errors_.Add({{"file", "journal"}})),
      state_file_errors_(write_errors_.Add({{"file", "state_file"}})) {}

void PersistenceMetrics::set_restore_failed(bool failed) {
  restore_failed_.Set(failed ? 1 : 0);
}

void PersistenceMetrics::count_journal_error() {
  journal_errors_.Increment();
}

void PersistenceMetrics::count_state_file_error() {
  state_file_errors_.Increment();
}

Persistence::Persistence(std::string state_file, Store& store, PersistenceOptions options,
                         std::shared_ptr<PersistenceMetrics> metrics)
    : state_file_(std::move(state_file)),
      store_(store),
      options_(std::move(options)),
      metrics_(std::move(metrics)) {}

Persistence::~Persistence() {
  stop();
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

std::string Persistence::journal_path(std::uint64_t seq) const {
  return state_file_ + ".journal." + std::to_string(seq);
}

int Persistence::injected_error(const std::string& path) const {
  return options_.inject_write_error ? options_.inject_write_error(path) : 0;
}

void Persistence::fault(const std::string& file, const std::string& where,
                        const std::string& reason) {
  restore_failed_ = true;
  set_aside_.push_back(file);
  static constexpr std::string_view message =
      "cannot restore from this file; it is set aside, call counters restart at 0";
  if (where.empty()) {
    log::error(message, {{"file", file}, {"err", reason}});
  } else {
    log::error(message, {{"file", file}, {"at", where}, {"err", reason}});
  }
}

// Restoring. A file that is read whole restores everything. When a file is lost or damaged, the
// exporter serves on, but what was counted cannot be rebuilt exactly, and a counter restored
// lower than the value Prometheus last scraped reads as a counter reset: increase() would then
// count every restored call a second time. So after any fault:
//  - call counters and histograms restart at 0 (a plain reset, which increase() handles);
//  - every call id still readable is remembered (the state file's if it parses, and those of
//    every complete journal batch, before and after a damaged one: a batch that ended was
//    committed, so its calls were counted; a later good journal is read like any other), so a
//    poll or a repeated push of such a call is a duplicate;
//  - the ids that were lost cannot be recognised, so every restored cursor's history starts at
//    the restore: a poll re-reading a call that ended before it remembers it without counting
//    it. Calls that ended while the exporter was down are not counted by polls: the lost
//    history, not a double count. The restore time is the wall clock, or the files' newest
//    mtime if the clock was set back since.
// A torn tail (an unfinished last batch) is no fault: it was never fsynced, so never exposed.
// The bad files are set aside by the snapshot that replaces them; until one is written, they
// stay and the next start meets the same fault again, so a restart cannot resurrect counters.
bool Persistence::load() {
  const auto journals = list_journals(state_file_);
  std::int64_t history_floor = now_ms();
  bool usable = false;
  bool state_ok = false;
  std::uint64_t first_seq = 1;
  std::string text;
  int error = 0;
  switch (read_file(state_file_, text, error)) {
    case Read::ok: {
      history_floor = std::max(history_floor, mtime_ms(state_file_));
      std::string reason;
      if (store_.restore(text, first_seq, reason)) {
        state_ok = usable = true;
      } else {
        first_seq = 1;  // unknown: every journal is read for its ids
        fault(state_file_, "", reason);
      }
      break;
    }
    case Read::missing:
      break;
    case Read::failed:
      fault(state_file_, "", "cannot be read: " + error_text(error));
      break;
  }
  std::size_t batches = 0, torn = 0;
  std::uint64_t last_seq = first_seq;
  for (const auto& [seq, path] : journals) {
    last_seq = std::max(last_seq, seq);
    if (state_ok && seq < first_seq) continue;  // already in the snapshot
    history_floor = std::max(history_floor, mtime_ms(path));
    if (read_file(path, text, error) != Read::ok) {
      fault(path, "", "cannot be read: " + error_text(error));
      continue;
    }
    const JournalContents contents = read_journal(text);
    for (const auto& batch : contents.batches) {
      store_.commit(batch, /*replay=*/true);
      ++batches;
      usable = true;
    }
    torn += contents.torn;
    if (contents.fault) {
      fault(path,
            "line " + std::to_string(contents.fault->line) + ", byte " +
                std::to_string(contents.fault->offset),
            contents.fault->reason);
    }
  }
  seq_ = last_seq + 1;
  if (restore_failed_) store_.restart_counters(history_floor);
  if (metrics_) metrics_->set_restore_failed(restore_failed_);
  if (restore_failed_) {
    log::error("state restored in part: counters restart at 0, readable call ids are remembered",
               {{"file", state_file_}, {"journal_batches", batches}, {"torn_batches", torn}});
  } else if (usable) {
    log::info("state restored",
              {{"file", state_file_}, {"journal_batches", batches}, {"torn_batches", torn}});
  } else {
    log::info("no state file yet; starting fresh", {{"file", state_file_}});
  }
  // A new snapshot folds the journals just read, so they can go.
  snapshot();
  return usable;
}

bool Persistence::import_if_fresh(const std::vector<std::string>& files, std::string& error) {
  std::string text;
  int read_error = 0;
  if (files.empty() || read_file(state_file_, text, read_error) != Read::missing ||
      !list_journals(state_file_).empty()) {
    return true;  // imported before, or never resharded: the own state wins
  }
  for (const auto& file : files) {
    if (read_file(file, text, read_error) != Read::ok) {
      error = file + ": cannot be read: " + error_text(read_error);
      return false;
    }
    std::uint64_t first_seq = 0;
    std::string reason;
    if (!store_.restore(text, first_seq, reason, /*import=*/true)) {
      error = file + ": " + reason;
      return false;
    }
    // A clean stop leaves only an empty journal after its last snapshot; calls in a journal
    // would be calls the state file lacks.
    for (const auto& [seq, path] : list_journals(file)) {
      if (seq < first_seq) continue;
      if (read_file(path, text, read_error) != Read::ok || !read_journal(text).batches.empty()) {
        error = path + ": calls not in its state file: stop that replica cleanly (SIGTERM) first";
        return false;
      }
    }
  }
  log::info("state imported from the previous shards",
            {{"file", state_file_}, {"imported_files", files.size()}});
  return true;
}

bool Persistence::open_journal(std::uint64_t seq, int& error) {
  if ((error = injected_error(journal_path(seq))) != 0) return false;
  const int fd = ::open(journal_path(seq).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = errno;
    return false;
  }
  struct stat st {};
  std::uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  if (size == 0) {
    const std::string header = journal_header();
    if (!write_all(fd, header, error)) {
      if (::ftruncate(fd, 0) != 0) {
        // Left as it is: a partial header is a torn tail.
      }
      ::close(fd);
      return false;
    }
    size = header.size();
  }
  if (journal_fd_ >= 0) ::close(journal_fd_);
  journal_fd_ = fd;
  journal_size_ = size;
  seq_ = seq;
  fsync_folder(state_file_);
  return true;
}

bool Persistence::write_journal(const std::string& data, int& error) {
  if (journal_fd_ < 0 && !open_journal(seq_, error)) return false;
  error = injected_error(journal_path(seq_));
  if (error == 0 && write_all(journal_fd_, data, error) && ::fdatasync(journal_fd_) != 0)
    error = errno;
  if (error == 0) {
    journal_size_ += data.size();
    return true;
  }
  // Nothing half-written may stay: the retry appended after a torn batch would glue its first
  // line to the torn one, and replay would drop the retried batch, which is committed by then.
  // If the journal cannot be cut back, the next write goes to a new journal: the torn batch is
  // then the tail of its own file, which replay drops.
  if (::ftruncate(journal_fd_, static_cast<off_t>(journal_size_)) != 0) {
    ::close(journal_fd_);
    journal_fd_ = -1;
    ++seq_;
  }
  return false;
}

void Persistence::journal_failed(int error) {
  durable_ = false;
  if (metrics_) metrics_->count_journal_error();
  if (journal_failure_.fail(error_text(error))) {
    log::error(
        "cannot write the state journal; the webhook answers 503 and new calls stay off /metrics "
        "until a write succeeds",
        {{"file", journal_path(seq_)}, {"err", error_text(error)}});
  }
}

void Persistence::journal_recovered() {
  durable_ = true;
  if (journal_failure_.recover()) {
    log::info("state journal writable again; the webhook accepts pushes again",
              {{"file", journal_path(seq_)}});
  }
}

bool Persistence::flush() {
  Batch batch = store_.take_pending();
  if (batch.empty()) return true;
  int error = 0;
  if (!write_journal(encode_batch(batch), error)) {
    // Back to the store, where snapshots leave its ids out: after a crash, polls find them again.
    store_.requeue_pending(std::move(batch));
    journal_failed(error);
    return false;
  }
  store_.commit(batch);
  journal_recovered();
  return true;
}

bool Persistence::snapshot() {
  const std::uint64_t next = seq_ + 1;
  const std::string json = store_.snapshot_json(next);
  const std::string temp = state_file_ + ".tmp";
  const auto failed = [&](int error) {
    ::unlink(temp.c_str());
    if (metrics_) metrics_->count_state_file_error();
    if (state_file_failure_.fail(error_text(error))) {
      log::error("cannot write the state file; the journals keep what it would hold",
                 {{"file", state_file_}, {"err", error_text(error)}});
    }
    return false;
  };
  // The new file first: only once it is written does the journal move on, so a full disk does
  // not leave a trail of empty journals behind.
  int error = injected_error(temp);
  if (error == 0) {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      error = errno;
    } else {
      if (write_all(fd, json, error) && ::fsync(fd) != 0) error = errno;
      ::close(fd);
    }
  }
  if (error != 0) return failed(error);
  if (!open_journal(next, error)) return failed(error);
  for (const auto& path : set_aside_) {
    int aside_error = 0;
    const std::string aside = keep_aside(path, aside_error);
    if (aside.empty()) {
      log::error("cannot set aside a file that could not be restored; it is replaced",
                 {{"file", path}, {"err", error_text(aside_error)}});
    } else {
      log::warn("file that could not be restored set aside", {{"file", path}, {"moved_to", aside}});
    }
  }
  set_aside_.clear();
  if (::rename(temp.c_str(), state_file_.c_str()) != 0) return failed(errno);
  fsync_folder(state_file_);
  for (const auto& [seq, path] : list_journals(state_file_)) {
    if (seq < next) ::unlink(path.c_str());
  }
  if (state_file_failure_.recover()) log::info("state file written again", {{"file", state_file_}});
  return true;
}

void Persistence::start() {
  store_.enable_durability();
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, account = log::thread_account()] {
    log::AccountScope scope(account);
    run();
  });
}

void Persistence::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Persistence::run() {
  auto next_snapshot = std::chrono::steady_clock::now() + options_.snapshot_interval;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, durable_ ? options_.flush_interval : options_.retry_interval,
                   [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    // While the journal fails, the batch stays pending, so the next flush is the retry, and
    // its success the recovery.
    flush();
    if (std::chrono::steady_clock::now() >= next_snapshot) {
      // Flushed just before: the snapshot holds everything committed so far.
      snapshot();
      next_snapshot = std::chrono::steady_clock::now() + options_.snapshot_interval;
    }
    lock.lock();
  }
  lock.unlock();
  flush();
  snapshot();
}

}  // namespace vpbx::state
