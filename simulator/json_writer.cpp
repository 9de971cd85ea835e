#include "simulator/json_writer.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>

namespace vpbx::sim {
namespace {

void newline_indent(std::string& out, int level) {
  out.push_back('\n');
  out.append(static_cast<std::size_t>(level) * 2, ' ');
}

void append_number(std::string& out, const rapidjson::Value& v) {
  if (v.IsInt64()) {
    out += std::to_string(v.GetInt64());
  } else if (v.IsUint64()) {
    out += std::to_string(v.GetUint64());
  } else {
    // Jackson prints doubles with Java's Double.toString; %.17g round-trips, close enough.
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v.GetDouble());
    std::string text(buf);
    if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
    out += text;
  }
}

void write_value(std::string& out, const rapidjson::Value& v, int level) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      out += "null";
      break;
    case rapidjson::kFalseType:
      out += "false";
      break;
    case rapidjson::kTrueType:
      out += "true";
      break;
    case rapidjson::kStringType:
      append_json_string(out, std::string_view(v.GetString(), v.GetStringLength()));
      break;
    case rapidjson::kNumberType:
      append_number(out, v);
      break;
    case rapidjson::kObjectType: {
      out.push_back('{');
      if (v.MemberCount() == 0) {
        out += " }";
        break;
      }
      bool first = true;
      for (const auto& m : v.GetObject()) {
        if (!first) out.push_back(',');
        first = false;
        newline_indent(out, level + 1);
        append_json_string(out, std::string_view(m.name.GetString(), m.name.GetStringLength()));
        out += " : ";
        write_value(out, m.value, level + 1);
      }
      newline_indent(out, level);
      out.push_back('}');
      break;
    }
    case rapidjson::kArrayType: {
      // Jackson's FixedSpaceIndenter: arrays stay on the line, elements separated by ", ".
      out.push_back('[');
      if (v.Size() == 0) {
        out += " ]";
        break;
      }
      bool first = true;
      for (const auto& e : v.GetArray()) {
        out += first ? " " : ", ";
        first = false;
        write_value(out, e, level);
      }
      out += " ]";
      break;
    }
  }
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string to_pretty_json(const rapidjson::Value& value) {
  std::string out;
  write_value(out, value, 0);
  return out;
}

std::string to_compact_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace vpbx::sim
