#include "exporter/log/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace vpbx::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<int> g_format{static_cast<int>(Format::logfmt)};
std::mutex g_write_mutex;

const char* level_name(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

std::string now_rfc3339() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return true;
  }
  return false;
}

// Escapes for both a logfmt quoted value and a JSON string; control bytes become \u00XX.
void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x",
                        static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
}

void append_logfmt_pair(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += ' ';
  out += key;
  out += '=';
  if (needs_quotes(value)) {
    out += '"';
    append_escaped(out, value);
    out += '"';
  } else {
    out += value;
  }
}

void append_json_pair(std::string& out, std::string_view key, std::string_view value) {
  out += out.size() > 1 ? ",\"" : "\"";
  append_escaped(out, key);
  out += "\":\"";
  append_escaped(out, value);
  out += '"';
}

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
  if (text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warn") return Level::warn;
  if (text == "error") return Level::error;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
  if (text == "logfmt") return Format::logfmt;
  if (text == "json") return Format::json;
  return std::nullopt;
}

void configure(Level level, Format format) {
  g_level = static_cast<int>(level);
  g_format = static_cast<int>(format);
}

bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load();
}

std::string format_record(Format format, std::string_view timestamp, Level level,
                          std::string_view message, std::initializer_list<Field> fields) {
  std::string out;
  out.reserve(128);
  if (format == Format::json) {
    out += '{';
    append_json_pair(out, "ts", timestamp);
    append_json_pair(out, "level", level_name(level));
    append_json_pair(out, "msg", message);
    for (const auto& f : fields) append_json_pair(out, f.key, f.value);
    out += '}';
  } else {
    append_logfmt_pair(out, "ts", timestamp);
    append_logfmt_pair(out, "level", level_name(level));
    append_logfmt_pair(out, "msg", message);
    for (const auto& f : fields) append_logfmt_pair(out, f.key, f.value);
  }
  out += '\n';
  return out;
}

namespace {
thread_local std::string t_account;
}  // namespace

const std::string& thread_account() {
  return t_account;
}

AccountScope::AccountScope(std::string account) : previous_(std::move(t_account)) {
  t_account = std::move(account);
}

AccountScope::~AccountScope() {
  t_account = std::move(previous_);
}

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  const auto format = static_cast<Format>(g_format.load());
  std::string record = format_record(format, now_rfc3339(), level, message, fields);
  // Account names are letters, digits, _ and - (config::valid_account_name): nothing to escape.
  if (!t_account.empty() && record.size() >= 2) {
    const std::size_t end = record.size() - (format == Format::json ? 2 : 1);
    record.insert(end, format == Format::json ? ",\"account\":\"" + t_account + "\""
                                              : " account=" + t_account);
  }
  std::lock_guard lock(g_write_mutex);
  std::fwrite(record.data(), 1, record.size(), stderr);
  std::fflush(stderr);
}

bool ErrorLatch::fail(std::string_view reason) {
  std::lock_guard lock(mutex_);
  const bool changed = !failing_ || last_reason_ != reason;
  failing_ = true;
  last_reason_ = reason;
  return changed;
}

bool ErrorLatch::recover() {
  std::lock_guard lock(mutex_);
  const bool changed = failing_;
  failing_ = false;
  last_reason_.clear();
  return changed;
}

bool OncePerValue::first_time(std::string_view value) {
  std::lock_guard lock(mutex_);
  return seen_.emplace(value).second;
}

}  // namespace vpbx::log
