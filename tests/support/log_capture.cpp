#include "tests/support/log_capture.h"

#include <unistd.h>

namespace vpbx::test {

StderrCapture::StderrCapture() {
  std::fflush(stderr);
  file_ = std::tmpfile();
  saved_ = dup(2);
  dup2(fileno(file_), 2);
}

StderrCapture::~StderrCapture() {
  if (saved_ >= 0) finish();
}

std::string StderrCapture::finish() {
  std::fflush(stderr);
  dup2(saved_, 2);
  close(saved_);
  saved_ = -1;
  std::string out;
  std::rewind(file_);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) out.append(buf, n);
  std::fclose(file_);
  return out;
}

std::size_t count_occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace vpbx::test
