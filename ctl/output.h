#pragma once
// How vpbxctl prints: aligned tables for people, CSV and JSON for scripts, and the platform's
// own words when it refuses something. Everything that came from the network is cleaned of
// control characters before it reaches a terminal.

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/api/client.h"

namespace vpbx::ctl {

enum class Format { table, csv, json };

// Throws UsageError unless `text` is one of the formats `allowed` lists.
Format parse_format(const std::string& text, std::initializer_list<Format> allowed);

// Untrusted text made printable: control characters become '?', cut at `max_bytes`.
std::string printable(std::string_view text, std::size_t max_bytes = 300);

// A column-aligned table; the last column is never padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// One CSV line (RFC 4180 quoting), ending in "\n".
std::string csv_line(const std::vector<std::string>& fields);

// A pretty-printed JSON document written field by field.
class Json {
 public:
  Json() : writer_(buffer_) { writer_.SetIndent(' ', 2); }
  rapidjson::PrettyWriter<rapidjson::StringBuffer>& w() { return writer_; }
  void key(std::string_view k) {
    writer_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
  }
  void string(std::string_view v) {
    writer_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  void field(std::string_view k, std::string_view v) { key(k), string(v); }
  void field(std::string_view k, const char* v) { key(k), string(v); }
  void field(std::string_view k, const std::string& v) { key(k), string(v); }
  void field(std::string_view k, std::int64_t v) { key(k), writer_.Int64(v); }
  void field(std::string_view k, bool v) { key(k), writer_.Bool(v); }
  std::string text() const { return std::string(buffer_.GetString(), buffer_.GetSize()) + "\n"; }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer_;
};

// "HTTP 400 Bad Request: Feature 2898089 cannot be modified: ..." from a failed call: the
// client's short error, then the platform's own message when its answer carries one.
std::string failure_text(const std::string& error, const std::string& answer);

template <typename T>
std::string failure(const api::Result<T>& result) {
  return failure_text(result.error, result.answer);
}

// "1:02:03" for seconds.
std::string hms(std::int64_t seconds);

}  // namespace vpbx::ctl
