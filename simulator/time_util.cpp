#include "simulator/time_util.h"

#include <chrono>
#include <cstdio>

namespace vpbx::sim {
namespace {

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month, day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

// Last Sunday of a month at 01:00 UTC: when the EU switches summer time on and off.
std::int64_t last_sunday_0100_utc_s(std::int64_t year, unsigned month) {
  const unsigned next_month = month == 12 ? 1 : month + 1;
  const std::int64_t next_year = month == 12 ? year + 1 : year;
  const std::int64_t last_day = days_from_civil(next_year, next_month, 1) - 1;
  const std::int64_t weekday = ((last_day + 4) % 7 + 7) % 7;  // 1970-01-01 was a Thursday
  return (last_day - weekday) * 86400 + 3600;
}

int zurich_offset_minutes(std::int64_t epoch_s) {
  const Civil c = civil_from_days(floor_div(epoch_s, 86400));
  const bool summer =
      epoch_s >= last_sunday_0100_utc_s(c.year, 3) && epoch_s < last_sunday_0100_utc_s(c.year, 10);
  return summer ? 120 : 60;
}

std::string format_civil(std::int64_t epoch_s) {
  const std::int64_t days = floor_div(epoch_s, 86400);
  const std::int64_t secs = epoch_s - days * 86400;
  const Civil c = civil_from_days(days);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                static_cast<long long>(c.year), c.month, c.day, static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

}  // namespace

std::int64_t now_epoch_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_utc_seconds(std::int64_t epoch_ms) {
  return format_civil(floor_div(epoch_ms, 1000)) + "Z";
}

std::string format_zurich(std::int64_t epoch_us, int digits, bool trim) {
  const std::int64_t epoch_s = floor_div(epoch_us, 1000000);
  const int offset = zurich_offset_minutes(epoch_s);
  std::string out = format_civil(epoch_s + offset * 60);
  if (digits > 0) {
    char frac[16];
    std::snprintf(frac, sizeof frac, "%06lld",
                  static_cast<long long>(epoch_us - epoch_s * 1000000));
    std::string f(frac, static_cast<std::size_t>(digits > 6 ? 6 : digits));
    if (trim) {
      while (!f.empty() && f.back() == '0') f.pop_back();
    }
    if (!f.empty()) out += "." + f;
  }
  char off[16];
  std::snprintf(off, sizeof off, "+%02d:%02d", offset / 60, offset % 60);
  return out + off;
}

std::optional<std::int64_t> parse_iso8601_ms(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](int n) -> std::optional<int> {
    if (i + static_cast<std::size_t>(n) > s.size()) return std::nullopt;
    int v = 0;
    for (int k = 0; k < n; ++k) {
      const char c = s[i + static_cast<std::size_t>(k)];
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    i += static_cast<std::size_t>(n);
    return v;
  };
  auto expect = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  const auto year = digits(4);
  if (!year || !expect('-')) return std::nullopt;
  const auto month = digits(2);
  if (!month || !expect('-')) return std::nullopt;
  const auto day = digits(2);
  if (!day || *month < 1 || *month > 12 || *day < 1 || *day > 31) return std::nullopt;
  int hour = 0, minute = 0, second = 0, millis = 0;
  if (i < s.size() && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
    ++i;
    const auto h = digits(2);
    if (!h || !expect(':')) return std::nullopt;
    const auto m = digits(2);
    if (!m) return std::nullopt;
    hour = *h;
    minute = *m;
    if (expect(':')) {
      const auto sec = digits(2);
      if (!sec) return std::nullopt;
      second = *sec;
      if (expect('.') || expect(',')) {
        int scale = 100;
        bool any = false;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          millis += (s[i] - '0') * scale;
          scale /= 10;
          any = true;
          ++i;
        }
        if (!any) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  }
  int offset_minutes = 0;
  if (i < s.size()) {
    if (s[i] == 'Z' || s[i] == 'z') {
      ++i;
    } else if (s[i] == '+' || s[i] == '-' || s[i] == ' ') {
      const int sign = s[i] == '-' ? -1 : 1;
      ++i;
      const auto oh = digits(2);
      if (!oh) return std::nullopt;
      expect(':');
      const auto om = digits(2);
      offset_minutes = sign * (*oh * 60 + (om ? *om : 0));
    }
  }
  if (i != s.size()) return std::nullopt;
  const std::int64_t days =
      days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return secs * 1000 + millis;
}

}  // namespace vpbx::sim
