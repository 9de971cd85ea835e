#pragma once
// The users CSV (config key users_file): the provider's mapping table, since no API call lists
// an enterprise's users. Header: enterpriseNames,userIds,loginNames,phone_num[,name], in any
// order and any case. Tolerates a UTF-8 BOM, CRLF, whitespace around fields, RFC 4180 quotes
// and empty lines.

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/config.h"

namespace vpbx::config {

struct CsvUser {
  User user;
  int line = 0;  // 1-based line where the row starts
};

class CsvError : public std::runtime_error {
 public:
  CsvError(int line, const std::string& problem);
  int line() const { return line_; }
  const std::string& problem() const { return problem_; }

 private:
  int line_;
  std::string problem_;
};

// Throws CsvError naming the line of the first bad row.
std::vector<CsvUser> parse_users_csv(std::string_view text);

}  // namespace vpbx::config
