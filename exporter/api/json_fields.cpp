#include "exporter/api/json_fields.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstdio>

#include "exporter/api/models.h"

namespace vpbx::api::json_fields {

void set_error(std::string* error, std::string message) {
  if (error) *error = std::move(message);
}

bool parse_document(std::string_view json, Document& doc, std::string* error) {
  if (!is_valid_utf8(json)) {
    set_error(error, "invalid JSON: invalid UTF-8");
    return false;
  }
  return parse_json_document(json, doc, error);
}

const Value* member(const Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::optional<std::int64_t> int_from_text(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Integers may come as numbers, integral doubles or digit strings ("168382").
std::optional<std::int64_t> as_int(const Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsUint64()) return std::nullopt;  // beyond int64: not a plausible id
  if (v.IsDouble()) {
    const double d = v.GetDouble();
    if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) return std::nullopt;
    return static_cast<std::int64_t>(std::llround(d));
  }
  if (v.IsString()) return int_from_text(std::string_view(v.GetString(), v.GetStringLength()));
  return std::nullopt;
}

std::int64_t get_int(const Value& obj, const char* key, std::int64_t fallback) {
  const Value* v = member(obj, key);
  if (!v) return fallback;
  return as_int(*v).value_or(fallback);
}

std::optional<std::int64_t> get_opt_int(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (!v) return std::nullopt;
  return as_int(*v);
}

// Strings; numbers and booleans are accepted as their text (e.g. "buildNumber" : 1).
std::string get_string(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (!v) return {};
  if (v->IsString()) return std::string(v->GetString(), v->GetStringLength());
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  if (v->IsUint64()) return std::to_string(v->GetUint64());
  if (v->IsBool()) return v->GetBool() ? "true" : "false";
  if (v->IsDouble()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v->GetDouble());
    return buf;
  }
  return {};
}

bool get_bool(const Value& obj, const char* key) {
  const Value* v = member(obj, key);
  if (!v) return false;
  if (v->IsBool()) return v->GetBool();
  if (v->IsString()) {
    std::string_view s(v->GetString(), v->GetStringLength());
    return s == "true" || s == "TRUE" || s == "True" || s == "1";
  }
  if (v->IsNumber()) return v->GetDouble() != 0;
  return false;
}

std::vector<std::string> get_string_list(const Value& obj, const char* key) {
  std::vector<std::string> out;
  const Value* v = member(obj, key);
  if (!v || !v->IsArray()) return out;
  for (const auto& e : v->GetArray()) {
    if (e.IsString()) {
      out.emplace_back(e.GetString(), e.GetStringLength());
    } else if (auto n = as_int(e)) {
      out.push_back(std::to_string(*n));
    }
  }
  return out;
}

std::vector<std::int64_t> get_int_list(const Value& obj, const char* key) {
  std::vector<std::int64_t> out;
  const Value* v = member(obj, key);
  if (!v || !v->IsArray()) return out;
  for (const auto& e : v->GetArray()) {
    if (auto n = as_int(e)) out.push_back(*n);
  }
  return out;
}

std::string compact(const Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace vpbx::api::json_fields
