// The head of an HTTP/1.1 answer: status line, Date, lengths, the handler's headers.
#include <cctype>
#include <ctime>
#include <string>
#include <string_view>

#include "exporter/http/transport_impl.h"

namespace vpbx::http::detail {
namespace {

// RFC 9110 IMF-fixdate, e.g. "Thu, 26 Nov 2026 13:12:56 GMT". Formatted once a second per
// thread: the I/O thread answers tens of thousands of pushes a second.
std::string_view http_date() {
  thread_local std::time_t formatted = -1;
  thread_local char text[64];
  thread_local std::size_t length = 0;
  const std::time_t now = std::time(nullptr);
  if (now != formatted) {
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
    formatted = now;
  }
  return {text, length};
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

std::string serialize_head(const Response& response, bool close) {
  std::string head;
  head.reserve(160 + response.content_type.size());
  head += "HTTP/1.1 ";
  head += std::to_string(response.status);
  head += ' ';
  head += reason_phrase(response.status);
  head += "\r\nDate: ";
  head += http_date();
  head += "\r\nContent-Type: ";
  head += response.content_type;
  head += "\r\nContent-Length: ";
  head += std::to_string(response.body_size());
  head += "\r\n";
  for (const auto& [name, value] : response.headers) {
    // Content-Length and Connection are ours to set: a handler's own would contradict what is
    // sent. CR/LF would let a value forge headers.
    const std::string lowered = lower(name);
    if (lowered == "content-length" || lowered == "connection" || lowered == "content-type" ||
        (name + value).find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    head += name + ": " + value + "\r\n";
  }
  head += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  return head;
}

}  // namespace vpbx::http::detail
