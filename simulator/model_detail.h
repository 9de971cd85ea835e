#pragma once
// The Model's internals shared by its files (model*.cpp): JSON helpers and the number forms.

#include <rapidjson/document.h>

#include <cstdint>
#include <string>

#include "simulator/json_writer.h"

namespace vpbx::sim::detail {

using Alloc = rapidjson::Document::AllocatorType;

inline rapidjson::Value str(const std::string& s, Alloc& a) {
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

inline std::string pretty(const rapidjson::Value& v) {
  return to_pretty_json(v);
}

// "+41225117902" -> "0225117902": how a Swiss number is dialled inside the country.
inline std::string dial_form(const std::string& e164) {
  if (e164.rfind("+41", 0) == 0) return "0" + e164.substr(3);
  if (!e164.empty() && e164[0] == '+') return "00" + e164.substr(1);
  return e164;
}

inline bool parse_int64(const std::string& s, std::int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  std::int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace vpbx::sim::detail
