#pragma once
// Internals of the API client, exposed for tests only.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vpbx::api::detail {

// RFC 3986 percent-encoding of everything but the unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string url_encode(std::string_view text);

// Replaces each {name} of a route template by the encoded value; unknown names stay as written.
std::string expand_path(std::string_view route, const std::map<std::string, std::string>& params);

// Joins the base URL (ending with '/') and a relative route, tolerating a leading '/'.
std::string join_url(std::string_view base, std::string_view relative);

// Retry-After: delta-seconds or an HTTP-date; nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// The n-th retry's wait (n from 0): base * 2^n capped, with "equal jitter" in [d/2, d].
std::chrono::milliseconds backoff_delay(int retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double random01);

// Replaces every occurrence of each non-empty secret by "<redacted>".
std::string redact(std::string text, std::initializer_list<std::string_view> secrets);

}  // namespace vpbx::api::detail
