#pragma once
// Structured logging: logfmt (default) or JSON lines on stderr, one mutex-guarded write per record.
// Never pass a secret as a field value: nothing here can tell a password from a user name.

#include <atomic>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace vpbx::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };
enum class Format { logfmt, json };

std::optional<Level> parse_level(std::string_view text);
std::optional<Format> parse_format(std::string_view text);

// Sets the process-wide threshold and format; records below the level are dropped.
void configure(Level level, Format format);
bool enabled(Level level);

struct Field {
  std::string_view key;
  std::string value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename Number, typename = std::enable_if_t<std::is_arithmetic_v<Number> &&
                                                         !std::is_same_v<Number, bool>>>
  Field(std::string_view k, Number n) : key(k), value(std::to_string(n)) {}
  Field(std::string_view k, bool b) : key(k), value(b ? "true" : "false") {}
};

void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

// The account (config `accounts:`) the calling thread works for; empty for the implicit one.
// Every record the thread writes then ends with account=<name>. The threads of an account's
// components take it from the thread that starts them.
const std::string& thread_account();
class AccountScope {
 public:
  explicit AccountScope(std::string account);
  ~AccountScope();
  AccountScope(const AccountScope&) = delete;
  AccountScope& operator=(const AccountScope&) = delete;

 private:
  std::string previous_;
};

// Formats one record without writing it; exposed for tests.
std::string format_record(Format format, std::string_view timestamp, Level level,
                          std::string_view message, std::initializer_list<Field> fields);

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::info, m, f);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::warn, m, f);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::error, m, f);
}

// Logs a failing condition once when it starts and once when it clears, never in a loop:
// a poller that fails every 10 s must not flood the log.
class ErrorLatch {
 public:
  // Returns true when this call changed the state (the caller then logs).
  bool fail(std::string_view reason);
  bool recover();
  bool failing() const { return failing_.load(); }

 private:
  std::mutex mutex_;
  std::atomic<bool> failing_{false};
  std::string last_reason_;
};

// Remembers which values have been reported, so each is logged once per process.
class OncePerValue {
 public:
  bool first_time(std::string_view value);

 private:
  std::mutex mutex_;
  std::set<std::string, std::less<>> seen_;
};

}  // namespace vpbx::log
