#include <limits>
#include <map>

#include "exporter/config/keys.h"
#include "exporter/config/sections.h"
#include "exporter/config/users_csv.h"

namespace vpbx::config::detail {
namespace {

// Who already holds an id or a login, to name both places of a duplicate.
struct UserIndex {
  std::map<std::int64_t, std::string> ids;
  std::map<std::string, std::string> logins;

  // The problem with `u`, or empty when it is new; records it when new.
  std::string add(const User& u, const std::string& where, bool* login_clash) {
    *login_clash = false;
    if (auto it = ids.find(u.user_id); it != ids.end()) {
      return "duplicate user_id " + std::to_string(u.user_id) + " (also " + it->second + ")";
    }
    if (!u.login.empty()) {
      if (auto it = logins.find(u.login); it != logins.end()) {
        *login_clash = true;
        return "duplicate login " + quote(u.login) + " (also " + it->second + ")";
      }
      logins.emplace(u.login, where);
    }
    ids.emplace(u.user_id, where);
    return {};
  }
};

}  // namespace

void load_users(const Section& root, const std::string& base_dir, Config& c) {
  UserIndex index;
  int list_line = 0;
  if (auto users = root.get("users")) {
    list_line = users->line;
    for (const Value& e : elements(*users)) {
      Section s(e.node, e.path, e.line, kUserKeys);
      User u;
      const auto enterprise = s.get("enterprise");
      if (!enterprise) throw ConfigError(s.child("enterprise"), e.line, "is required");
      u.enterprise = as_nonempty_string(*enterprise);
      const auto id = s.get("user_id");
      if (!id) throw ConfigError(s.child("user_id"), e.line, "is required");
      u.user_id = as_int(*id, 1, std::numeric_limits<std::int64_t>::max());
      with(s, "login", [&](const Value& v) { u.login = as_string(v); });
      with(s, "number", [&](const Value& v) { u.number = as_string(v); });
      with(s, "name", [&](const Value& v) { u.name = as_string(v); });
      bool login_clash = false;
      const std::string problem =
          index.add(u, e.path + " (line " + std::to_string(e.line) + ")", &login_clash);
      if (!problem.empty()) {
        const auto key = s.get(login_clash ? "login" : "user_id");
        throw ConfigError(key->path, key->line, problem);
      }
      c.users.push_back(std::move(u));
    }
  }
  if (auto file = root.get("users_file")) {
    list_line = list_line ? list_line : file->line;
    c.users_file = resolve(base_dir, as_nonempty_string(*file));
    std::string error;
    const auto text = read_text(c.users_file, error);
    if (!text) fail(*file, "cannot read " + c.users_file + ": " + error);
    std::vector<CsvUser> rows;
    try {
      rows = parse_users_csv(*text);
    } catch (const CsvError& e) {
      fail(*file, c.users_file + " line " + std::to_string(e.line()) + ": " + e.problem());
    }
    for (auto& row : rows) {
      bool login_clash = false;
      const std::string where = c.users_file + " line " + std::to_string(row.line);
      const std::string problem = index.add(row.user, where, &login_clash);
      if (!problem.empty()) fail(*file, where + ": " + problem);
      c.users.push_back(std::move(row.user));
    }
  }
  with(root, "max_users", [&](const Value& v) {
    c.max_users = static_cast<std::size_t>(as_int(v, 1, 100000000));
    list_line = v.line;
  });
  if (c.users.size() > c.max_users) {
    throw ConfigError("max_users", list_line,
                      std::to_string(c.users.size()) +
                          " users are configured, more than max_users (" +
                          std::to_string(c.max_users) + ")");
  }
}

}  // namespace vpbx::config::detail
