#pragma once
// Small HTTP helpers over CivetWeb's C API: read a request, write a JSON answer, parse a query.

#include <optional>
#include <string>
#include <utility>
#include <vector>

struct mg_connection;

namespace vpbx::sim {

struct Request {
  std::string method;
  std::string path;   // decoded, without the query
  std::string query;  // raw, after '?'
  std::string body;
  bool body_too_large = false;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

Request read_request(mg_connection* conn, std::size_t max_body);
void send_reply(mg_connection* conn, int status, const std::string& body, const Headers& extra = {},
                const char* content_type = "application/json");
// The decoded value of one query parameter ('+' reads as a space, as servlet containers do).
std::optional<std::string> query_param(const std::string& query, const std::string& name);
std::optional<std::string> base64_decode(const std::string& text);
std::vector<std::string> split_path(const std::string& path);  // "/a/b/" -> {"a","b"}
std::string header(mg_connection* conn, const char* name);

}  // namespace vpbx::sim
