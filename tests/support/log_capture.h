#pragma once
// Reading what the code under test logged: stderr captured while alive, and counting lines.

#include <cstddef>
#include <cstdio>
#include <string>

namespace vpbx::test {

class StderrCapture {
 public:
  StderrCapture();
  ~StderrCapture();
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  // Restores stderr and returns what was written to it.
  std::string finish();

 private:
  std::FILE* file_ = nullptr;
  int saved_ = -1;
};

std::size_t count_occurrences(const std::string& text, const std::string& what);

}  // namespace vpbx::test
