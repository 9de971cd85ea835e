#include "ctl/output.h"

#include <rapidjson/document.h>

#include <algorithm>

#include "ctl/args.h"

namespace vpbx::ctl {

Format parse_format(const std::string& text, std::initializer_list<Format> allowed) {
  Format format = Format::table;
  if (text == "table") {
    format = Format::table;
  } else if (text == "csv") {
    format = Format::csv;
  } else if (text == "json") {
    format = Format::json;
  } else {
    throw UsageError("--format is table, json or (for calls) csv, not \"" + printable(text, 40) +
                     "\"");
  }
  if (std::find(allowed.begin(), allowed.end(), format) == allowed.end()) {
    throw UsageError("this command does not write --format " + text);
  }
  return format;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  for (const char c : text.substr(0, max_bytes)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

namespace {

// Columns on a terminal: UTF-8 continuation bytes take none ("…" is one column, three bytes).
std::size_t columns(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> width(header_.size(), 0);
  const auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], columns(row[i]));
    }
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  const auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t i = 0; i < row.size(); ++i) {
      text += row[i];
      if (i + 1 < row.size()) text += std::string(width[i] - columns(row[i]) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  line(header_);
  for (const auto& row : rows_) line(row);
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    const std::string& f = fields[i];
    if (f.find_first_of(",\"\r\n") == std::string::npos) {
      out += f;
      continue;
    }
    out += '"';
    for (const char c : f) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  return out + "\n";
}

std::string failure_text(const std::string& error, const std::string& answer) {
  std::string out = error;
  if (answer.empty()) return out;
  // The platform answers errors in Spring's shape: {"status", "error", "message", "path"}.
  std::string message;
  rapidjson::Document doc;
  if (api::parse_json_document(answer, doc) && doc.IsObject()) {
    for (const char* key : {"message", "error"}) {
      const auto it = doc.FindMember(key);
      if (it != doc.MemberEnd() && it->value.IsString() && it->value.GetStringLength() > 0) {
        message = it->value.GetString();
        break;
      }
    }
  } else {
    message = answer;
  }
  if (!message.empty()) out += ": the platform answered \"" + printable(message) + "\"";
  return out;
}

std::string hms(std::int64_t seconds) {
  const auto two = [](std::int64_t n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  return std::to_string(seconds / 3600) + ":" + two(seconds / 60 % 60) + ":" + two(seconds % 60);
}

}  // namespace vpbx::ctl
