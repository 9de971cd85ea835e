#include "exporter/state/persistence.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace vpbx::state {
namespace {

namespace fs = std::filesystem;

bool write_all(int fd, const std::string& data) {
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  return true;
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

void fsync_folder(const std::string& file) {
  const auto folder = fs::path(file).parent_path();
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Journals beside the state file, by sequence number.
std::map<std::uint64_t, std::string> list_journals(const std::string& state_file) {
  std::map<std::uint64_t, std::string> journals;
  const auto path = fs::path(state_file);
  const auto folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  const std::string prefix = path.filename().string() + ".journal.";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    try {
      std::size_t used = 0;
      const auto seq = std::stoull(name.substr(prefix.size()), &used);
      if (used == name.size() - prefix.size()) journals[seq] = entry.path().string();
    } catch (const std::exception&) {
    }
  }
  return journals;
}

}  // namespace

Persistence::Persistence(std::string state_file, Store& store, PersistenceOptions options)
    : state_file_(std::move(state_file)), store_(store), options_(options) {}

Persistence::~Persistence() {
  stop();
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

std::string Persistence::journal_path(std::uint64_t seq) const {
  return state_file_ + ".journal." + std::to_string(seq);
}

bool Persistence::load() {
  std::string text;
  std::uint64_t first_seq = 1;
  bool loaded = false;
  const auto journals = list_journals(state_file_);
  if (read_file(state_file_, text)) {
    std::string error;
    if (store_.restore(text, first_seq, error)) {
      loaded = true;
    } else {
      // Keep the evidence, start fresh: counters begin at 0, a normal counter reset.
      const std::string aside = state_file_ + ".corrupt";
      std::error_code ec;
      fs::rename(state_file_, aside, ec);
      for (const auto& [seq, path] : journals) fs::rename(path, path + ".corrupt", ec);
      log::warn("state file unreadable; starting fresh",
                {{"file", state_file_}, {"err", error}, {"moved_to", aside}});
      first_seq = journals.empty() ? 1 : journals.rbegin()->first + 1;
      seq_ = first_seq;
      return false;
    }
  }
  std::size_t batches = 0, dropped_total = 0;
  std::uint64_t last_seq = first_seq;
  for (const auto& [seq, path] : journals) {
    if (seq < first_seq) continue;  // already in the snapshot
    last_seq = std::max(last_seq, seq);
    if (!read_file(path, text)) continue;
    std::size_t dropped = 0;
    for (const auto& batch : decode_journal(text, &dropped)) {
      store_.commit(batch, /*replay=*/true);
      ++batches;
    }
    dropped_total += dropped;
    loaded = true;
  }
  if (!journals.empty()) last_seq = std::max(last_seq, journals.rbegin()->first);
  seq_ = last_seq + 1;
  if (loaded) {
    log::info(
        "state restored",
        {{"file", state_file_}, {"journal_batches", batches}, {"torn_batches", dropped_total}});
  } else {
    log::info("no state file yet; starting fresh", {{"file", state_file_}});
  }
  // A new snapshot folds the journals just read, so they can go.
  snapshot();
  return loaded;
}

bool Persistence::open_journal(std::uint64_t seq) {
  const int fd = ::open(journal_path(seq).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  if (journal_fd_ >= 0) ::close(journal_fd_);
  journal_fd_ = fd;
  seq_ = seq;
  fsync_folder(state_file_);
  return true;
}

bool Persistence::flush() {
  Batch batch = store_.take_pending();
  if (!unwritten_.empty()) {
    // Retry the failed batch first, in order.
    unwritten_.users.insert(unwritten_.users.end(), batch.users.begin(), batch.users.end());
    unwritten_.calls.insert(unwritten_.calls.end(), batch.calls.begin(), batch.calls.end());
    unwritten_.cursors.insert(unwritten_.cursors.end(), batch.cursors.begin(), batch.cursors.end());
    batch = std::move(unwritten_);
    unwritten_ = {};
  }
  if (batch.empty()) return true;
  const bool ok = (journal_fd_ >= 0 || open_journal(seq_)) &&
                  write_all(journal_fd_, encode_batch(batch)) && ::fdatasync(journal_fd_) == 0;
  if (!ok) {
    if (write_failure_.fail(std::strerror(errno))) {
      log::error(
          "cannot write the state journal; new calls are held back from /metrics until it works",
          {{"file", journal_path(seq_)}, {"err", std::strerror(errno)}});
    }
    unwritten_ = std::move(batch);
    return false;
  }
  if (write_failure_.recover())
    log::info("state journal writable again", {{"file", journal_path(seq_)}});
  store_.commit(batch);
  return true;
}

bool Persistence::snapshot() {
  const std::uint64_t next = seq_ + 1;
  const std::string json = store_.snapshot_json(next);
  if (!open_journal(next)) {
    log::error("cannot open the state journal",
               {{"file", journal_path(next)}, {"err", std::strerror(errno)}});
    return false;
  }
  const std::string temp = state_file_ + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const bool ok = fd >= 0 && write_all(fd, json) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok || ::rename(temp.c_str(), state_file_.c_str()) != 0) {
    log::error("cannot write the state file",
               {{"file", state_file_}, {"err", std::strerror(errno)}});
    return false;
  }
  fsync_folder(state_file_);
  for (const auto& [seq, path] : list_journals(state_file_)) {
    if (seq < next) ::unlink(path.c_str());
  }
  return true;
}

void Persistence::start() {
  store_.enable_durability();
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
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
    wake_.wait_for(lock, options_.flush_interval, [this] { return stopping_; });
    lock.unlock();
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
