#pragma once
// HTTP basic auth against --web.config.file's bcrypt hashes, with a cache of recent successes.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace vpbx::http::detail {

// Successful basic-auth checks, remembered for a minute: bcrypt at cost 10 takes ~100 ms, and a
// scrape every few seconds should not pay it each time. Keys are SHA-256-crypt digests of
// user, password and hash under a per-process random salt, so the memory holds no password, and a
// changed hash or password never hits a stale entry. Failures are never cached: guessing stays
// slow.
class AuthCache {
 public:
  AuthCache();

  std::optional<std::string> key(const std::string& user, const std::string& password,
                                 const std::string& hash) const;
  bool contains(const std::string& key);
  void insert(const std::string& key);

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxEntries = 1024;
  static constexpr auto kTtl = std::chrono::seconds(60);
  std::string setting_;
  std::mutex mutex_;
  std::unordered_map<std::string, Clock::time_point> entries_;
};

// True when `authorization` (the request's header) names one of `users` with its password, or
// when there are no users to check.
bool basic_auth_ok(const std::map<std::string, std::string>& users,
                   const std::string& authorization, AuthCache& cache);

}  // namespace vpbx::http::detail
