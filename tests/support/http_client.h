#pragma once
// A plain libcurl client for tests: one request, everything returned raw (no gzip decoding).

#include <map>
#include <string>
#include <vector>

namespace vpbx::test {

struct HttpReply {
  long status = 0;  // 0 when the transfer failed
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased; last value wins
  std::string error;                           // curl's message when status is 0
  std::string header(const std::string& lower_name) const;
};

struct HttpOptions {
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  std::string userpwd;               // "user:password" for Basic auth
  std::string ca_file;               // trust this CA / self-signed cert
  long timeout_ms = 10000;
};

HttpReply http_request(const std::string& url, const HttpOptions& options = {});

// gzip-decodes a body (test-side check of Content-Encoding: gzip); throws on bad data.
std::string gunzip(const std::string& compressed);

}  // namespace vpbx::test
