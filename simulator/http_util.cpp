#include "simulator/http_util.h"

#include <civetweb.h>

#include <cstdio>
#include <ctime>

namespace vpbx::sim {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%' && i + 2 < in.size() + 0 && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

std::string http_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  // Spelled out rather than strftime'd: the names must not follow a locale.
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

}  // namespace

Request read_request(mg_connection* conn, std::size_t max_body) {
  const mg_request_info* info = mg_get_request_info(conn);
  Request r;
  r.method = info->request_method ? info->request_method : "";
  r.path = info->local_uri ? info->local_uri : "";
  r.query = info->query_string ? info->query_string : "";
  char buf[8192];
  for (;;) {
    const int n = mg_read(conn, buf, sizeof buf);
    if (n <= 0) break;
    if (r.body.size() + static_cast<std::size_t>(n) > max_body) {
      r.body_too_large = true;
      continue;  // drain, so the connection stays usable
    }
    r.body.append(buf, static_cast<std::size_t>(n));
  }
  return r;
}

// The status line and headers are written here rather than by mg_response_header_send(): that
// one stamps a Date with gmtime(), whose shared buffer races between CivetWeb's worker threads.
void send_reply(mg_connection* conn, int status, const std::string& body, const Headers& extra,
                const char* content_type) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " +
                     mg_get_response_code_text(conn, status) + "\r\nDate: " + http_date() + "\r\n";
  if (!body.empty()) head += std::string("Content-Type: ") + content_type + "\r\n";
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : extra) head += name + ": " + value + "\r\n";
  const char* connection = mg_get_header(conn, "Connection");
  const bool close = connection && mg_strcasecmp(connection, "close") == 0;
  head += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  mg_write(conn, head.data(), head.size());
  if (!body.empty()) mg_write(conn, body.data(), body.size());
}

std::optional<std::string> query_param(const std::string& query, const std::string& name) {
  std::size_t pos = 0;
  while (pos <= query.size()) {
    const std::size_t amp = query.find('&', pos);
    const std::string part = query.substr(pos, amp == std::string::npos ? amp : amp - pos);
    const std::size_t eq = part.find('=');
    if (url_decode(part.substr(0, eq)) == name) {
      return eq == std::string::npos ? std::string() : url_decode(part.substr(eq + 1));
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return std::nullopt;
}

std::optional<std::string> base64_decode(const std::string& text) {
  std::string out;
  int bits = 0;
  unsigned value = 0;
  for (const char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return std::nullopt;
    }
    value = (value << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
    }
  }
  return out;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (pos < path.size()) {
    const std::size_t slash = path.find('/', pos);
    const std::size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > pos) parts.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return parts;
}

std::string header(mg_connection* conn, const char* name) {
  const char* v = mg_get_header(conn, name);
  return v ? v : "";
}

}  // namespace vpbx::sim
