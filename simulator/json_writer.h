#pragma once
// JSON text the way the real API (Spring + Jackson's DefaultPrettyPrinter) writes it: objects one
// member a line with two-space indent and `"key" : value`, arrays inline (`[ 1, 2 ]`, `[ {` ...
// `}, {` ... `} ]`, `[ ]`). Clients that compare bytes or grep for `"key" : ` see the same text.

#include <rapidjson/document.h>

#include <string>
#include <string_view>

namespace vpbx::sim {

std::string to_pretty_json(const rapidjson::Value& value);
std::string to_compact_json(const rapidjson::Value& value);
void append_json_string(std::string& out, std::string_view text);

}  // namespace vpbx::sim
