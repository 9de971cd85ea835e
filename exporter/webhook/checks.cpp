#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <limits>

#include "exporter/api/models.h"
#include "exporter/webhook/detail.h"

namespace vpbx::webhook::detail {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// "[2001:db8::1]:443" and "192.0.2.1:443" as some proxies write them; bare addresses unchanged.
std::string_view without_port(std::string_view entry) {
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    return close == std::string_view::npos ? entry : entry.substr(1, close - 1);
  }
  const auto colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    return entry.substr(0, colon);  // one colon: IPv4 with a port (IPv6 has at least two)
  }
  return entry;
}

// 1 when a < b, else 0, computed with bit operations only (OpenSSL's constant_time_lt).
std::size_t less_than_bit(std::size_t a, std::size_t b) {
  return (a ^ ((a ^ b) | ((a - b) ^ b))) >> (std::numeric_limits<std::size_t>::digits - 1);
}

}  // namespace

bool constant_time_equals(std::string_view secret, std::string_view candidate) {
  // Constant-time by construction, not by measurement: the loop runs secret.size() times whatever
  // the candidate, has no branch and no early exit on the bytes, and folds the length difference
  // into the same accumulator as the byte differences. Bytes past the candidate's end are read at
  // index 0 and masked to zero (the mask is arithmetic, not a comparison the compiler could turn
  // into a jump). The only branch is on whether the candidate is empty, outside the loop: the
  // client knows that already. bench/micro.cpp (BM_TokenCompare) reports the timings.
  static constexpr unsigned char kEmpty = 0;
  const std::size_t n = secret.size();
  const std::size_t m = candidate.size();
  const auto* s = reinterpret_cast<const unsigned char*>(secret.data());
  const auto* c = m == 0 ? &kEmpty : reinterpret_cast<const unsigned char*>(candidate.data());
  // volatile: every byte's difference is stored, so the compiler cannot stop at the first one.
  volatile std::size_t diff = n ^ m;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t in_range = std::size_t{0} - less_than_bit(i, m);  // all ones when i < m
    const auto byte = static_cast<unsigned char>(c[i & in_range] & in_range);
    diff = diff | static_cast<std::size_t>(s[i] ^ byte);
  }
  return diff == 0;
}

bool in_any(const std::vector<config::Network>& networks, std::string_view address) {
  return std::any_of(networks.begin(), networks.end(),
                     [address](const config::Network& n) { return n.contains(address); });
}

std::string client_address(std::string_view peer, std::string_view forwarded_for,
                           const std::vector<config::Network>& trusted_proxies) {
  if (trusted_proxies.empty() || !in_any(trusted_proxies, peer)) return std::string(peer);
  std::string_view client = peer;  // a trusted proxy without the header is the client
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    const std::string_view entry =
        without_port(trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1)));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (entry.empty()) continue;
    client = entry;
    if (!in_any(trusted_proxies, entry)) break;  // the first hop no trusted proxy vouches beyond
  }
  return std::string(client);
}

bool is_json_content_type(std::string_view content_type) {
  const std::string_view media = trim(content_type.substr(0, content_type.find(';')));
  static constexpr std::string_view kJson = "application/json";
  return media.size() == kJson.size() &&
         std::equal(media.begin(), media.end(), kJson.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

std::optional<std::string> check_json_text(std::string_view text, int max_depth) {
  if (!api::is_valid_utf8(text)) return "invalid UTF-8";
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return "JSON nested too deeply";
    } else if (c == ']' || c == '}') {
      --depth;
    }
    ++p;
  }
  return std::nullopt;
}

bool has_events_array(std::string_view text) {
  rapidjson::Document doc;
  // Iterative: this text passed check_json_text, but the parser must not recurse regardless.
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  for (const auto& m : doc.GetObject()) {
    const std::string_view key(m.name.GetString(), m.name.GetStringLength());
    if ((key == "featureEvents" || key == "callLogEvents" || key == "presenceEvents") &&
        m.value.IsArray()) {
      return true;
    }
  }
  return false;
}

std::string error_kind(std::string_view error) {
  // "invalid JSON at offset 12: Missing a comma..." -> "invalid JSON: Missing a comma..."
  const auto at = error.find(" at offset ");
  if (at == std::string_view::npos) return std::string(error);
  const auto colon = error.find(':', at);
  std::string kind(error.substr(0, at));
  if (colon != std::string_view::npos) kind.append(error.substr(colon));
  return kind;
}

bool WarnLimiter::should_log(const std::string& reason, std::size_t& repeats) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(reason);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxReasons) it = entries_.find(std::string_view("(other reasons)"));
    if (it == entries_.end()) {
      const std::string key = entries_.size() >= kMaxReasons ? "(other reasons)" : reason;
      entries_.emplace(key, Entry{now, 0});
      repeats = 0;
      return true;
    }
  }
  if (now - it->second.last < interval_) {
    ++it->second.suppressed;
    return false;
  }
  repeats = it->second.suppressed;
  it->second = Entry{now, 0};
  return true;
}

}  // namespace vpbx::webhook::detail
