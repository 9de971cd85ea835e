#pragma once
// The receiver's checks as plain functions, so that tests can drive each one directly.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/network.h"

namespace vpbx::webhook::detail {

// True when both are equal. The time taken depends on the secret's length only, never on the
// candidate's bytes or length, so that a client cannot find the token byte by byte: the loop
// visits every byte of the secret with no data-dependent branch or early exit (see checks.cpp;
// bench/micro.cpp measures it, no test times it).
bool constant_time_equals(std::string_view secret, std::string_view candidate);

// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
// X-Forwarded-For entry that is not itself a trusted proxy (entries left of it are whatever the
// client claimed). An entry that is not an address is returned as is, and matches no network.
std::string client_address(std::string_view peer, std::string_view forwarded_for,
                           const std::vector<config::Network>& trusted_proxies);

bool in_any(const std::vector<config::Network>& networks, std::string_view address);

// application/json, any case, with or without parameters (charset=...).
bool is_json_content_type(std::string_view content_type);

// Nested containers allowed in a push body; real ones need 4.
inline constexpr int kMaxJsonDepth = 32;

// Checked before the body is parsed: the text is valid UTF-8 (api::is_valid_utf8: strings end up
// in labels), and arrays and objects nest at most `max_depth` deep. Returns the reason when the
// text fails.
std::optional<std::string> check_json_text(std::string_view text, int max_depth = kMaxJsonDepth);

// True when the JSON object `text` has a featureEvents, callLogEvents or presenceEvents array
// (empty ones included); used only when parsing found no event at all.
bool has_events_array(std::string_view text);

// A parse error without its offset, so that one kind of error is one log line.
std::string error_kind(std::string_view error);

// Logs each distinct reason once at warn, then at most once per `interval` with the number of
// repeats in between; a bounded number of reasons, so that hostile input cannot grow it.
class WarnLimiter {
 public:
  explicit WarnLimiter(std::chrono::steady_clock::duration interval = std::chrono::minutes(5))
      : interval_(interval) {}
  // True when the caller should log now; `repeats` is then how many were suppressed before.
  bool should_log(const std::string& reason, std::size_t& repeats);

 private:
  struct Entry {
    std::chrono::steady_clock::time_point last;
    std::size_t suppressed = 0;
  };
  static constexpr std::size_t kMaxReasons = 64;
  std::chrono::steady_clock::duration interval_;
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace vpbx::webhook::detail
