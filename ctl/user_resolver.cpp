#include "ctl/user_resolver.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "ctl/args.h"
#include "exporter/state/learnt_users.h"

namespace vpbx::ctl {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "+41 22 566 21 94", "0041225662194" and "41225662194" all become "41225662194".
std::string digits_of_number(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      out += c;
    } else if (c != '+' && c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
      return {};
    }
  }
  if (text.starts_with("00")) out.erase(0, 2);
  return out;
}

std::optional<std::int64_t> plain_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || id <= 0) {
    return std::nullopt;
  }
  return id;
}

// The login's part before '@' when it is a phone number such as +41225662194.
std::string number_from_login(const std::string& login) {
  const std::string local = login.substr(0, login.find('@'));
  if (local.size() < 2 || local[0] != '+') return {};
  const bool digits = std::all_of(local.begin() + 1, local.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  return digits ? local : std::string();
}

}  // namespace

std::string KnownUser::label() const {
  if (!name.empty()) return name;
  if (!number.empty()) return number;
  if (!login.empty()) return login;
  return std::to_string(user_id);
}

std::string KnownUser::display() const {
  const std::string l = label();
  const std::string id = std::to_string(user_id);
  return l == id ? id : l + " (" + id + ")";
}

KnownUsers known_users(const config::Config& config) {
  KnownUsers out;
  std::set<std::int64_t> ids;
  for (const auto& u : config.users) {
    out.users.push_back({u.enterprise, u.user_id, u.login, u.number, u.name, "config"});
    ids.insert(u.user_id);
  }
  if (config.state_file.empty()) return out;
  state::LearntUsers learnt = state::read_learnt_users(config.state_file);
  out.problem = std::move(learnt.problem);
  for (auto& u : learnt.users) {
    if (!ids.insert(u.user_id).second) continue;
    KnownUser known{u.enterprise, u.user_id, u.login, number_from_login(u.login), "", "discovered"};
    out.users.push_back(std::move(known));
  }
  return out;
}

KnownUser resolve_user(const std::vector<KnownUser>& users, std::string_view text) {
  if (text.empty()) throw UsageError("USER is empty");
  using Match = bool (*)(const KnownUser&, std::string_view);
  const Match tries[] = {
      [](const KnownUser& u, std::string_view t) { return std::to_string(u.user_id) == t; },
      [](const KnownUser& u, std::string_view t) {
        return !u.login.empty() && lower(u.login) == lower(t);
      },
      [](const KnownUser& u, std::string_view t) {
        const std::string digits = digits_of_number(t);
        return !digits.empty() && !u.number.empty() && digits_of_number(u.number) == digits;
      },
      [](const KnownUser& u, std::string_view t) {
        return !u.name.empty() && lower(u.name) == lower(t);
      },
  };
  for (const Match match : tries) {
    std::vector<const KnownUser*> found;
    for (const auto& u : users) {
      if (match(u, text)) found.push_back(&u);
    }
    if (found.size() == 1) return *found.front();
    if (found.size() > 1) {
      std::string which;
      for (const KnownUser* u : found) {
        which += (which.empty() ? "" : ", ") + u->enterprise + " " + std::to_string(u->user_id);
      }
      throw UsageError("user \"" + std::string(text) + "\" is ambiguous (" + which +
                       "): give the user id");
    }
  }
  // An id no one listed still works: the platform decides whether it exists.
  if (const auto id = plain_id(text)) return KnownUser{"", *id, "", "", "", ""};
  throw UsageError("unknown user \"" + std::string(text) +
                   "\": not a user id, nor a number, login or name of the config's users or of "
                   "those the exporter discovered (see: vpbxctl users)");
}

}  // namespace vpbx::ctl
