#include "exporter/http/basic_auth.h"

#include <crypt.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <random>
#include <string_view>

#include "exporter/http/detail.h"
#include "exporter/http/web_config.h"

namespace vpbx::http::detail {
namespace {

// Any valid bcrypt hash: unknown users are checked against it so that their answer takes as
// long as a wrong password does, and user names cannot be probed by timing.
constexpr const char* kDummyHash = "$2b$10$pC2nQmwiPwFwIg/z5LAX3OgaNMldHDMwML3P90CuR7YlzPPYZJgom";

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  unsigned buffer = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      // Padding only at the very end, at most two.
      if (i + 2 < text.size()) return std::nullopt;
      ++padding;
      continue;
    }
    if (padding != 0) return std::nullopt;
    const auto value = alphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

AuthCache::AuthCache() {
  static constexpr char chars[] =
      "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::random_device random;
  std::string salt;
  for (int i = 0; i < 16; ++i) salt.push_back(chars[random() % 64]);
  setting_ = "$5$rounds=1000$" + salt + "$";
}

std::optional<std::string> AuthCache::key(const std::string& user, const std::string& password,
                                          const std::string& hash) const {
  const std::string phrase = user + ":" + password + ":" + hash;
  if (phrase.find('\0') != std::string::npos) return std::nullopt;
  auto data = std::make_unique<crypt_data>();
  const char* digest = crypt_r(phrase.c_str(), setting_.c_str(), data.get());
  if (digest == nullptr || digest[0] == '*') return std::nullopt;
  return std::string(digest);
}

bool AuthCache::contains(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  if (Clock::now() >= it->second) {
    entries_.erase(it);
    return false;
  }
  return true;
}

void AuthCache::insert(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  if (entries_.size() >= kMaxEntries) {
    std::erase_if(entries_, [now](const auto& entry) { return now >= entry.second; });
    if (entries_.size() >= kMaxEntries) entries_.clear();
  }
  entries_[key] = now + kTtl;
}

bool basic_auth_ok(const std::map<std::string, std::string>& users,
                   const std::string& authorization, AuthCache& cache) {
  if (users.empty()) return true;
  if (authorization.size() < 6 || lower(authorization.substr(0, 6)) != "basic ") return false;
  std::string_view encoded(authorization);
  encoded.remove_prefix(6);
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  const auto decoded = base64_decode(encoded);
  if (!decoded) return false;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string user = decoded->substr(0, colon);
  const std::string password = decoded->substr(colon + 1);
  const auto it = users.find(user);
  if (it == users.end()) {
    verify_bcrypt(password, kDummyHash);
    return false;
  }
  const auto key = cache.key(user, password, it->second);
  if (key && cache.contains(*key)) return true;
  if (!verify_bcrypt(password, it->second)) return false;
  if (key) cache.insert(*key);
  return true;
}

}  // namespace vpbx::http::detail
