#include "exporter/config/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace vpbx::config::detail {

bool contains(std::span<const std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int line_of(const YAML::Node& node) {
  const auto mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

std::string kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "nothing";
  }
}

std::string quote(std::string_view value) {
  constexpr std::size_t kMax = 60;
  if (value.size() > kMax) return "\"" + std::string(value.substr(0, kMax)) + "...\"";
  return "\"" + std::string(value) + "\"";
}

std::string safe_yaml_message(const std::string& msg) {
  return msg.substr(0, msg.find(':'));
}

[[noreturn]] void fail(const Value& v, const std::string& problem) {
  throw ConfigError(v.path, v.line, problem);
}

std::string as_string(const Value& v) {
  if (!v.node.IsScalar()) fail(v, "expected a string, got " + kind_of(v.node));
  return v.node.Scalar();
}

std::string as_nonempty_string(const Value& v) {
  std::string s = as_string(v);
  if (s.empty()) fail(v, "must not be empty");
  return s;
}

std::int64_t as_int(const Value& v, std::int64_t lo, std::int64_t hi) {
  if (!v.node.IsScalar()) fail(v, "expected an integer, got " + kind_of(v.node));
  const std::string& s = v.node.Scalar();
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    fail(v, "expected an integer, got " + quote(s));
  }
  if (n < lo || n > hi) {
    fail(v, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                std::to_string(n));
  }
  return n;
}

double as_number(const Value& v) {
  if (!v.node.IsScalar()) fail(v, "expected a number, got " + kind_of(v.node));
  const std::string& s = v.node.Scalar();
  double d = 0;
  // from_chars: no locale, no hex, no "inf".
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) {
    fail(v, "expected a number, got " + quote(s));
  }
  return d;
}

bool as_bool(const Value& v) {
  if (v.node.IsScalar()) {
    const std::string s = lower(v.node.Scalar());
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail(v, "expected true or false, got " + quote(v.node.Scalar()));
  }
  fail(v, "expected true or false, got " + kind_of(v.node));
}

Duration as_duration(const Value& v) {
  if (!v.node.IsScalar()) fail(v, "expected a duration such as 30s or 5m, got " + kind_of(v.node));
  try {
    return parse_duration(v.node.Scalar());
  } catch (const std::invalid_argument& e) {
    fail(v, e.what());
  }
}

std::vector<Value> elements(const Value& v) {
  if (!v.node.IsSequence()) fail(v, "expected a list, got " + kind_of(v.node));
  std::vector<Value> out;
  for (std::size_t i = 0; i < v.node.size(); ++i) {
    const YAML::Node e = v.node[i];
    const int line = line_of(e);
    out.push_back(Value{v.path + "[" + std::to_string(i) + "]", e, line ? line : v.line});
  }
  return out;
}

std::vector<std::string> as_string_list(const Value& v, std::string (*normalise)(std::string)) {
  std::vector<std::string> out;
  for (const Value& e : elements(v)) {
    std::string s = as_nonempty_string(e);
    if (normalise) s = normalise(s);
    if (std::find(out.begin(), out.end(), s) != out.end()) fail(e, quote(s) + " is listed twice");
    out.push_back(std::move(s));
  }
  return out;
}

std::string resolve(const std::string& base_dir, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute() || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

std::optional<std::string> read_text(const std::string& path, std::string& error) {
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::string out;
  char buf[8192];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int saved = errno;
  std::fclose(f);
  if (failed) {
    error = std::strerror(saved ? saved : EIO);
    return std::nullopt;
  }
  return out;
}

std::string checked_url(const Value& v, bool trailing_slash) {
  std::string url = as_nonempty_string(v);
  const std::string low = lower(url);
  std::size_t scheme = 0;
  if (low.starts_with("https://")) {
    scheme = 8;
  } else if (low.starts_with("http://")) {
    scheme = 7;
  } else {
    fail(v, "must start with http:// or https://");
  }
  const std::size_t host_end = std::min(url.find('/', scheme), url.size());
  const std::string authority = url.substr(scheme, host_end - scheme);
  if (authority.empty() || authority.front() == ':') fail(v, "has no host name");
  if (authority.find('@') != std::string::npos) {
    fail(v, "must not hold credentials; give them in their own keys");
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) fail(v, "must not contain whitespace");
  if (url.find_first_of("?#") != std::string::npos) fail(v, "must not have a query or a fragment");
  if (trailing_slash && url.back() != '/') url += '/';
  return url;
}

std::string checked_api_path(const Value& v, std::string_view placeholder) {
  const std::string path = as_nonempty_string(v);
  if (path.front() == '/') fail(v, "must be relative to api.url (no leading /)");
  if (path.find(placeholder) == std::string::npos) {
    fail(v, "must contain the placeholder " + std::string(placeholder));
  }
  return path;
}

void check_listen_address(const Value& v, const std::string& address) {
  const auto colon = address.rfind(':');
  const std::string port = colon == std::string::npos ? "" : address.substr(colon + 1);
  int n = -1;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || n < 0 || n > 65535) {
    fail(v, "expected host:port such as :9120 or 127.0.0.1:9120, got " + quote(address));
  }
}

}  // namespace vpbx::config::detail
