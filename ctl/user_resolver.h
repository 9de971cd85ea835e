#pragma once
// USER on the command line: a user id, a number, a login or a configured name, looked up in the
// config's users and in those the exporter discovered (its state file, when readable). The API
// wants user ids; this is where a hotel's "Room 101" or "+41225662194" becomes one.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/config.h"

namespace vpbx::ctl {

struct KnownUser {
  std::string enterprise;
  std::int64_t user_id = 0;
  std::string login;
  std::string number;
  std::string name;
  std::string source;  // "config", "discovered", or "" for an id no one listed
  // As the exporter labels users: name, else number, else login, else the id.
  std::string label() const;
  // "Room 101 (176125)": the label, with the id when the label is not the id.
  std::string display() const;
};

struct KnownUsers {
  std::vector<KnownUser> users;  // the config's first, then the discovered ones
  std::string problem;           // the state file could not be read whole (a note, not an error)
};

// The config's users, then the users learnt by discovery that the config lacks. A discovered
// user's number is its login's part before '@' when that is a phone number.
KnownUsers known_users(const config::Config& config);

// Throws UsageError when `text` names no user (and is not a plain id) or several. Tried in
// order: id, login, number (with or without the leading +, or 00 for +), name (any case).
KnownUser resolve_user(const std::vector<KnownUser>& users, std::string_view text);

}  // namespace vpbx::ctl
