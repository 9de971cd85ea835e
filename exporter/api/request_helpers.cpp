// The pieces of a request that need no connection: URLs, Retry-After, backoff, redaction.
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <random>

#include "exporter/api/detail.h"

namespace vpbx::api::detail {

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string expand_path(std::string_view route, const std::map<std::string, std::string>& params) {
  std::string out;
  out.reserve(route.size() + 16);
  size_t i = 0;
  while (i < route.size()) {
    if (route[i] == '{') {
      const size_t close = route.find('}', i);
      if (close != std::string_view::npos) {
        auto it = params.find(std::string(route.substr(i + 1, close - i - 1)));
        if (it != params.end()) {
          out += url_encode(it->second);
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(route[i]);
    ++i;
  }
  return out;
}

std::string join_url(std::string_view base, std::string_view relative) {
  while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
  std::string out(base);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(relative);
  return out;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::hours(24 * 365);  // absurd; callers cap it
    return std::chrono::seconds(std::stol(std::string(value)));
  }
  // HTTP-date (IMF-fixdate, RFC 850, asctime): curl knows them all.
  const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when == -1) return std::nullopt;
  const auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta <= std::chrono::system_clock::duration::zero()) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(delta);
}

std::chrono::milliseconds backoff_delay(int retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double random) {
  double d = static_cast<double>(base.count());
  for (int i = 0; i < retry && d < static_cast<double>(cap.count()); ++i) d *= 2;
  d = std::min(d, static_cast<double>(cap.count()));
  random = std::clamp(random, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(d / 2 + d / 2 * random));
}

std::string redact(std::string text, std::initializer_list<std::string_view> secrets) {
  for (auto secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 10)) {
      text.replace(pos, secret.size(), "<redacted>");
    }
  }
  return text;
}

}  // namespace vpbx::api::detail
