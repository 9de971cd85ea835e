#pragma once
// Runs a real binary for end-to-end tests: stdout and stderr go to a log file the test can read;
// the child is killed (SIGKILL) when the handle goes out of scope.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace vpbx::test {

class ChildProcess {
 public:
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::string& log_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signal_number) const;
  // Waits for the exit; returns the exit code, 128+signal when killed, -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  std::string log() const;
  // Polls the log until it contains `text`; false after the timeout.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string log_file_;
};

// Runs to completion; returns the exit code and fills `output` with stdout+stderr.
int run_command(const std::string& binary, const std::vector<std::string>& args,
                std::string& output);

// The same with stdout and stderr apart (a command's JSON on stdout, its errors on stderr).
int run_command(const std::string& binary, const std::vector<std::string>& args, std::string& out,
                std::string& err);

std::string make_temp_dir();
// A loopback port free at the time of the call, for a child that must be told its port upfront.
int free_port();
void write_file(const std::string& path, const std::string& content);

}  // namespace vpbx::test
