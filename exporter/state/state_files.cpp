#include "exporter/state/state_files.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace vpbx::state::detail {
namespace {

namespace fs = std::filesystem;

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
  return text;
}

}  // namespace

std::string error_text(int error) {
  return std::strerror(error);
}

bool write_all(int fd, const std::string& data, int& error) {
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  return true;
}

Read read_file(const std::string& path, std::string& out, int& error) {
  out.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno;
    return errno == ENOENT ? Read::missing : Read::failed;
  }
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      ::close(fd);
      return Read::failed;
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return Read::ok;
}

std::int64_t mtime_ms(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

void fsync_folder(const std::string& file) {
  const auto folder = fs::path(file).parent_path();
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::map<std::uint64_t, std::string> list_journals(const std::string& state_file) {
  std::map<std::uint64_t, std::string> journals;
  const auto path = fs::path(state_file);
  const auto folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  const std::string prefix = path.filename().string() + ".journal.";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    try {
      journals[std::stoull(digits)] = entry.path().string();
    } catch (const std::exception&) {
    }
  }
  return journals;
}

std::string keep_aside(const std::string& path, int& error) {
  const std::string base = path + ".corrupt-" + utc_stamp();
  for (int n = 0; n < 1000; ++n) {
    const std::string candidate = n == 0 ? base : base + "." + std::to_string(n);
    if (::link(path.c_str(), candidate.c_str()) == 0) return candidate;
    if (errno == EEXIST) continue;
    if (::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, candidate.c_str(), RENAME_NOREPLACE) == 0)
      return candidate;
    if (errno == EEXIST) continue;
    error = errno;
    return "";
  }
  error = EEXIST;
  return "";
}

}  // namespace vpbx::state::detail
