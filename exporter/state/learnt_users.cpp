#include "exporter/state/learnt_users.h"

#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "exporter/api/models.h"

namespace vpbx::state {
namespace {

bool read_text(const std::filesystem::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return static_cast<bool>(in) || in.eof();
}

std::string text_member(const rapidjson::Value& object, const char* key) {
  const auto it = object.FindMember(key);
  return it != object.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

}  // namespace

LearntUsers read_learnt_users(const std::string& state_file) {
  LearntUsers out;
  std::map<std::int64_t, LearntUser> by_id;
  const auto note = [&out](const std::string& problem) {
    if (out.problem.empty()) out.problem = problem;
  };
  const auto add = [&by_id](LearntUser user) {
    if (user.user_id > 0) by_id.insert_or_assign(user.user_id, std::move(user));
  };

  std::error_code ec;
  const std::filesystem::path snapshot(state_file);
  if (std::filesystem::exists(snapshot, ec)) {
    std::string text;
    rapidjson::Document doc;
    if (!read_text(snapshot, text)) {
      note("cannot read " + state_file);
    } else if (!api::parse_json_document(text, doc) || !doc.IsObject() || !doc.HasMember("users") ||
               !doc["users"].IsArray()) {
      note(state_file + " is not a state file");
    } else {
      for (const auto& user : doc["users"].GetArray()) {
        if (!user.IsObject() || !user.HasMember("user_id") || !user["user_id"].IsInt64()) continue;
        const auto discovered = user.FindMember("discovered");
        if (discovered == user.MemberEnd() || !discovered->value.IsBool() ||
            !discovered->value.GetBool()) {
          continue;  // a configured user: the config has it
        }
        add({text_member(user, "enterprise"), user["user_id"].GetInt64(),
             text_member(user, "login")});
      }
    }
  }

  // Journals hold what was learnt since that snapshot: <state_file>.journal.<seq>.
  const std::filesystem::path folder =
      snapshot.has_parent_path() ? snapshot.parent_path() : std::filesystem::path(".");
  const std::string prefix = snapshot.filename().string() + ".journal.";
  std::map<std::string, std::filesystem::path> journals;  // in name order, close to seq order
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix)) journals.emplace(name, entry.path());
  }
  for (const auto& [name, path] : journals) {
    std::string text;
    if (!read_text(path, text)) {
      note("cannot read " + path.string());
      continue;
    }
    const JournalContents contents = read_journal(text);
    if (contents.fault) note(path.string() + ": " + contents.fault->reason);
    for (const auto& batch : contents.batches) {
      for (const auto& user : batch.users) add(user);
    }
  }
  for (auto& [id, user] : by_id) out.users.push_back(std::move(user));
  return out;
}

}  // namespace vpbx::state
