#pragma once
// Readers of the API's JSON fields, internal to vpbx_api. Lenient about types, as the platform is:
// integers may come as numbers, integral doubles or digit strings; strings as numbers or
// booleans. An absent or null field reads as its fallback.

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpbx::api::json_fields {

using rapidjson::Document;
using rapidjson::Value;

void set_error(std::string* error, std::string message);  // error may be null

// Parses the whole text; on failure says where, never echoes the input (it may be large).
// Invalid UTF-8, duplicated keys and deep nesting fail it too.
bool parse_document(std::string_view json, Document& doc, std::string* error);

const Value* member(const Value& obj, const char* key);  // null when absent or null
std::optional<std::int64_t> int_from_text(std::string_view text);
std::optional<std::int64_t> as_int(const Value& v);
std::int64_t get_int(const Value& obj, const char* key, std::int64_t fallback = 0);
std::optional<std::int64_t> get_opt_int(const Value& obj, const char* key);
std::string get_string(const Value& obj, const char* key);
bool get_bool(const Value& obj, const char* key);
std::vector<std::string> get_string_list(const Value& obj, const char* key);
std::vector<std::int64_t> get_int_list(const Value& obj, const char* key);
std::string compact(const Value& v);  // the value as compact JSON text
bool ends_with(std::string_view s, std::string_view suffix);

}  // namespace vpbx::api::json_fields
