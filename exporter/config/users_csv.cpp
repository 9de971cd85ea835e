#include "exporter/config/users_csv.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>

namespace vpbx::config {
namespace {

struct Record {
  int line = 0;
  std::vector<std::string> fields;
  bool blank = true;  // one unquoted field of whitespace only
};

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits the whole text into records; a quoted field may span lines, so the record keeps the
// line it starts on.
std::vector<Record> split_records(std::string_view text) {
  std::vector<Record> records;
  int line = 1;
  std::size_t i = 0;
  const auto at_eol = [&](std::size_t pos) {
    return pos >= text.size() || text[pos] == '\n' || text[pos] == '\r';
  };
  const auto skip_eol = [&] {
    if (i < text.size() && text[i] == '\r') ++i;
    if (i < text.size() && text[i] == '\n') ++i;
    ++line;
  };
  while (i < text.size()) {
    Record record;
    record.line = line;
    for (;;) {
      while (i < text.size() && is_space(text[i])) ++i;
      std::string field;
      if (i < text.size() && text[i] == '"') {
        record.blank = false;
        const int start_line = line;
        ++i;
        for (;;) {
          if (i >= text.size()) throw CsvError(start_line, "unterminated quoted field");
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (c == '\n' || (c == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n'))) ++line;
          field += c;
          ++i;
        }
        while (i < text.size() && is_space(text[i])) ++i;
        if (!at_eol(i) && text[i] != ',') {
          throw CsvError(line, "unexpected text after a quoted field");
        }
      } else {
        const std::size_t start = i;
        while (!at_eol(i) && text[i] != ',') {
          if (text[i] == '"') throw CsvError(line, "a quote inside an unquoted field");
          ++i;
        }
        field = std::string(trim(text.substr(start, i - start)));
        if (!field.empty()) record.blank = false;
      }
      record.fields.push_back(std::move(field));
      if (i < text.size() && text[i] == ',') {
        record.blank = false;
        ++i;
        continue;
      }
      skip_eol();
      break;
    }
    if (!record.blank) records.push_back(std::move(record));
  }
  return records;
}

enum Column { kEnterprise, kUserId, kLogin, kNumber, kName, kColumns };
constexpr std::array<const char*, kColumns> kColumnNames = {"enterpriseNames", "userIds",
                                                            "loginNames", "phone_num", "name"};
constexpr const char* kHeaderHint =
    "the header must be enterpriseNames,userIds,loginNames,phone_num and optionally name";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

CsvError::CsvError(int line, const std::string& problem)
    : std::runtime_error("line " + std::to_string(line) + ": " + problem),
      line_(line),
      problem_(problem) {}

std::vector<CsvUser> parse_users_csv(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // Excel writes a BOM
  const auto records = split_records(text);
  if (records.empty()) throw CsvError(1, "the file is empty; " + std::string(kHeaderHint));

  const Record& header = records.front();
  std::array<std::optional<std::size_t>, kColumns> index;
  for (std::size_t f = 0; f < header.fields.size(); ++f) {
    const std::string& name = header.fields[f];
    const auto known = std::find_if(kColumnNames.begin(), kColumnNames.end(),
                                    [&](const char* c) { return iequals(c, name); });
    if (known == kColumnNames.end()) {
      throw CsvError(header.line,
                     "unknown column \"" + name + "\" in the header; " + std::string(kHeaderHint));
    }
    auto& slot = index[known - kColumnNames.begin()];
    if (slot) throw CsvError(header.line, "column " + std::string(*known) + " appears twice");
    slot = f;
  }
  for (std::size_t c = 0; c < kName; ++c) {
    if (!index[c]) {
      throw CsvError(header.line, "missing column " + std::string(kColumnNames[c]) +
                                      " in the header; " + std::string(kHeaderHint));
    }
  }

  std::vector<CsvUser> users;
  users.reserve(records.size() - 1);
  for (std::size_t r = 1; r < records.size(); ++r) {
    const Record& row = records[r];
    if (row.fields.size() != header.fields.size()) {
      throw CsvError(row.line, "expected " + std::to_string(header.fields.size()) +
                                   " fields as in the header, got " +
                                   std::to_string(row.fields.size()));
    }
    const auto field = [&](Column c) -> std::string {
      return index[c] ? row.fields[*index[c]] : std::string();
    };
    CsvUser u;
    u.line = row.line;
    u.user.enterprise = field(kEnterprise);
    if (u.user.enterprise.empty()) throw CsvError(row.line, "enterpriseNames is empty");
    const std::string id = field(kUserId);
    const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), u.user.user_id);
    if (id.empty() || ec != std::errc() || end != id.data() + id.size() || u.user.user_id <= 0) {
      throw CsvError(row.line, "userIds \"" + id + "\" is not a positive integer");
    }
    u.user.login = field(kLogin);
    u.user.number = field(kNumber);
    u.user.name = field(kName);
    users.push_back(std::move(u));
  }
  return users;
}

}  // namespace vpbx::config
