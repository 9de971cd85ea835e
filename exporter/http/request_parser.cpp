#include "exporter/http/request_parser.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace vpbx::http::detail {
namespace {

constexpr std::size_t kMaxChunkLine = 1024;

// RFC 9110 token characters (method and header names).
bool is_tchar(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return is_tchar(c); });
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Comma-separated list elements, trimmed and lower-cased, empty ones dropped.
std::vector<std::string> list_elements(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto element = trim(value.substr(0, comma));
    if (!element.empty()) out.push_back(lower(element));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

std::optional<std::string> decode_path(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out.push_back(raw[i]);
      continue;
    }
    if (i + 2 >= raw.size()) return std::nullopt;
    const int high = hex_value(raw[i + 1]);
    const int low = hex_value(raw[i + 2]);
    if (high < 0 || low < 0 || (high == 0 && low == 0)) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

void RequestParser::reset() {
  state_ = State::head;
  started_ = false;
  buffer_.clear();
  head_ = RequestHead();
  body_ = std::string();  // a large body's buffer is not kept for the next request
  step_ = BodyStep::fixed;
  remaining_ = 0;
  trailer_bytes_ = 0;
  error_status_ = 0;
  error_reason_.clear();
}

void RequestParser::fail(int status, std::string reason) {
  state_ = State::failed;
  error_status_ = status;
  error_reason_ = std::move(reason);
  buffer_.clear();
  body_.clear();
}

std::size_t RequestParser::feed(std::string_view data) {
  std::size_t used = 0;
  while (used < data.size() && (state_ == State::head || state_ == State::body)) {
    if (state_ == State::body) {
      used +=
          step_ == BodyStep::fixed ? feed_body(data.substr(used)) : feed_chunked(data.substr(used));
      continue;
    }
    // Blank lines before a request line are ignored (RFC 9112 2.2).
    if (buffer_.empty() && (data[used] == '\r' || data[used] == '\n')) {
      ++used;
      continue;
    }
    started_ = true;
    const std::size_t old = buffer_.size();
    // At most the limit plus the terminator: more cannot be a valid head.
    const std::size_t room = limits_.max_head_bytes + 4 - std::min(old, limits_.max_head_bytes + 4);
    const std::size_t take = std::min(room, data.size() - used);
    buffer_.append(data.substr(used, take));
    const std::size_t from = old >= 3 ? old - 3 : 0;
    const auto end = buffer_.find("\r\n\r\n", from);
    if (end == std::string::npos) {
      // Refused once no terminator can fit any more: the same byte whatever the split.
      if (buffer_.size() >= limits_.max_head_bytes + 4) {
        fail(431, "request head too large");
        return used + take;
      }
      used += take;
      continue;
    }
    const std::size_t head_size = end + 4;
    used += head_size - old;
    buffer_.resize(end + 2);  // keeps the last header line's CRLF
    if (head_size > limits_.max_head_bytes + 4) {
      fail(431, "request head too large");
      return used;
    }
    const std::string text = std::move(buffer_);
    buffer_.clear();
    parse_head(text);
  }
  return used;
}

void RequestParser::parse_head(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto eol = text.find("\r\n");
    lines.push_back(text.substr(0, eol));
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 2);
  }
  if (lines.empty()) return fail(400, "empty request line");

  // The request line: METHOD SP target SP HTTP/1.x
  const std::string_view line = lines.front();
  const auto first_space = line.find(' ');
  const auto last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || last_space == first_space) {
    return fail(400, "malformed request line");
  }
  const std::string_view method = line.substr(0, first_space);
  std::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
  const std::string_view version = line.substr(last_space + 1);
  if (!is_token(method)) return fail(400, "malformed method");
  if (version.size() != 8 || version.compare(0, 5, "HTTP/") != 0 || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[5])) ||
      !std::isdigit(static_cast<unsigned char>(version[7]))) {
    return fail(400, "malformed HTTP version");
  }
  if (version[5] != '1') return fail(505, "HTTP version not supported");
  head_.minor_version = version[7] - '0';
  head_.method = std::string(method);
  if (target.empty() || std::any_of(target.begin(), target.end(),
                                    [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) {
    return fail(400, "malformed request target");
  }
  // Absolute form (proxies' style): keep the path of it.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && lower(target.substr(0, scheme.size())) == scheme) {
      const auto slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  if (target.front() != '/' && target != "*") return fail(400, "malformed request target");
  const auto question = target.find('?');
  if (question != std::string_view::npos) head_.query = std::string(target.substr(question + 1));
  auto path = decode_path(target.substr(0, question));
  if (!path) return fail(400, "malformed escape in the path");
  head_.path = std::move(*path);

  bool close = false;
  bool keep_alive_token = false;
  bool has_transfer_encoding = false;
  std::vector<std::string> codings;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view header = lines[i];
    if (header.empty()) continue;
    if (header.front() == ' ' || header.front() == '\t') {
      return fail(400, "obsolete header line folding");
    }
    const auto colon = header.find(':');
    if (colon == std::string_view::npos || !is_token(header.substr(0, colon))) {
      return fail(400, "malformed header line");
    }
    const std::string_view value = trim(header.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(),
                    [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; })) {
      return fail(400, "control character in a header value");
    }
    if (head_.headers.size() >= limits_.max_headers) return fail(431, "too many header lines");
    std::string name = lower(header.substr(0, colon));
    if (name == "content-length") {
      for (const auto& element : list_elements(value)) {
        if (element.size() > 18 || !std::all_of(element.begin(), element.end(),
                                                [](char c) { return c >= '0' && c <= '9'; })) {
          return fail(400, "malformed Content-Length");
        }
        const std::size_t length = std::stoull(element);
        if (head_.content_length && *head_.content_length != length) {
          return fail(400, "conflicting Content-Length");
        }
        head_.content_length = length;
      }
      if (!head_.content_length) return fail(400, "malformed Content-Length");
    } else if (name == "transfer-encoding") {
      has_transfer_encoding = true;
      for (auto& element : list_elements(value)) codings.push_back(std::move(element));
    } else if (name == "connection") {
      for (const auto& element : list_elements(value)) {
        if (element == "close") close = true;
        if (element == "keep-alive") keep_alive_token = true;
      }
    } else if (name == "expect") {
      head_.expect_continue = lower(value) == "100-continue" && head_.minor_version >= 1;
    }
    head_.headers.emplace_back(std::move(name), std::string(value));
  }
  head_.keep_alive = !close && (head_.minor_version >= 1 || keep_alive_token);

  if (has_transfer_encoding) {
    // Both framings at once is how requests are smuggled past proxies: refused.
    if (head_.content_length) return fail(400, "both Content-Length and Transfer-Encoding");
    if (codings.size() != 1 || codings.front() != "chunked") {
      return fail(501, "unsupported Transfer-Encoding");
    }
    head_.chunked = true;
    step_ = BodyStep::chunk_size;
    state_ = State::body;
    return;
  }
  const std::size_t length = head_.content_length.value_or(0);
  if (length > limits_.max_body_bytes) return fail(413, "request body too large");
  if (length == 0) {
    state_ = State::complete;
    return;
  }
  // Reserved as the bytes come, not as declared: a declared length costs nothing until sent.
  body_.reserve(std::min<std::size_t>(length, 65536));
  remaining_ = length;
  step_ = BodyStep::fixed;
  state_ = State::body;
}

std::size_t RequestParser::feed_body(std::string_view data) {
  const std::size_t take = std::min(remaining_, data.size());
  body_.append(data.substr(0, take));
  remaining_ -= take;
  if (remaining_ == 0) state_ = State::complete;
  return take;
}

bool RequestParser::take_line(std::string_view data, std::size_t& used, std::size_t max_line,
                              std::string_view& line) {
  const auto eol = data.find('\n', used);
  const std::size_t end = eol == std::string_view::npos ? data.size() : eol + 1;
  if (buffer_.size() + (end - used) > max_line + 2) {
    fail(400, "chunk framing line too long");
    used = end;
    return false;
  }
  buffer_.append(data.substr(used, end - used));
  used = end;
  if (eol == std::string_view::npos) return false;
  buffer_.pop_back();  // '\n'
  if (!buffer_.empty() && buffer_.back() == '\r') buffer_.pop_back();
  line = buffer_;
  return true;
}

std::size_t RequestParser::feed_chunked(std::string_view data) {
  std::size_t used = 0;
  while (used < data.size() && state_ == State::body) {
    std::string_view line;
    switch (step_) {
      case BodyStep::chunk_size: {
        if (!take_line(data, used, kMaxChunkLine, line)) break;
        const std::string_view digits = trim(line.substr(0, line.find(';')));
        std::size_t size = 0;
        if (digits.empty() || digits.size() > 15) {
          fail(400, "malformed chunk size");
          return used;
        }
        for (const char c : digits) {
          const int value = hex_value(c);
          if (value < 0) {
            fail(400, "malformed chunk size");
            return used;
          }
          size = size * 16 + static_cast<std::size_t>(value);
        }
        buffer_.clear();
        if (size == 0) {
          step_ = BodyStep::trailers;
        } else if (size > limits_.max_body_bytes - body_.size()) {
          {
            fail(413, "request body too large");
            return used;
          }
        } else {
          remaining_ = size;
          step_ = BodyStep::chunk_data;
        }
        break;
      }
      case BodyStep::chunk_data: {
        const std::size_t take = std::min(remaining_, data.size() - used);
        body_.append(data.substr(used, take));
        used += take;
        remaining_ -= take;
        if (remaining_ == 0) step_ = BodyStep::chunk_data_end;
        break;
      }
      case BodyStep::chunk_data_end:
        if (!take_line(data, used, 0, line)) break;
        if (!line.empty()) {
          fail(400, "malformed chunk end");
          return used;
        }
        buffer_.clear();
        step_ = BodyStep::chunk_size;
        break;
      case BodyStep::trailers:
        if (!take_line(data, used, kMaxChunkLine, line)) break;
        trailer_bytes_ += line.size() + 2;
        if (trailer_bytes_ > limits_.max_head_bytes) {
          fail(431, "trailers too large");
          return used;
        }
        if (line.empty()) state_ = State::complete;  // trailer fields are not used
        buffer_.clear();
        break;
      case BodyStep::fixed:
        return used;
    }
  }
  return used;
}

}  // namespace vpbx::http::detail
