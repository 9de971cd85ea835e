#pragma once
// File operations of the state file and its journals: whole reads and writes, fsync of the folder,
// the journals beside the state file, and setting a damaged file aside.

#include <cstdint>
#include <map>
#include <string>

namespace vpbx::state::detail {

std::string error_text(int error);
// Writes all of `data`, resuming after short writes and EINTR; false with `error` set otherwise.
bool write_all(int fd, const std::string& data, int& error);

enum class Read { ok, missing, failed };
Read read_file(const std::string& path, std::string& out, int& error);

// When the file was last written, by the wall clock of that moment (0 if unknown).
std::int64_t mtime_ms(const std::string& path);

// Makes a rename or a new file in the folder of `file` durable.
void fsync_folder(const std::string& file);

// Journals beside the state file, by sequence number.
std::map<std::uint64_t, std::string> list_journals(const std::string& state_file);

// Gives `path` a second name, "<path>.corrupt-<UTC time>[.<n>]", and returns it; never replaces
// an existing file (two faults in one second, or a clock set back, get the next free suffix).
// A hard link keeps the original in place, so that a state file is replaced atomically by the
// next snapshot's rename; without hard links, a rename that refuses to replace. Empty on failure.
std::string keep_aside(const std::string& path, int& error);

}  // namespace vpbx::state::detail
