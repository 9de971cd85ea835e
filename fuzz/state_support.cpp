#include "fuzz/state_support.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "fuzz/fuzz_support.h"

namespace vpbx::fuzz {
namespace {

constexpr std::uint64_t kJournalSeq = 7;

bool same_batch(const state::Batch& a, const state::Batch& b) {
  if (a.users.size() != b.users.size() || a.calls.size() != b.calls.size() ||
      a.cursors.size() != b.cursors.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.users.size(); ++i) {
    const auto &x = a.users[i], &y = b.users[i];
    if (x.enterprise != y.enterprise || x.user_id != y.user_id || x.login != y.login) return false;
  }
  for (std::size_t i = 0; i < a.calls.size(); ++i) {
    const auto &x = a.calls[i], &y = b.calls[i];
    if (x.id != y.id || x.user_id != y.user_id || x.direction != y.direction ||
        x.answered != y.answered || x.duration_seconds != y.duration_seconds ||
        x.call_start_ms != y.call_start_ms) {
      return false;
    }
  }
  for (std::size_t i = 0; i < a.cursors.size(); ++i) {
    const auto &x = a.cursors[i], &y = b.cursors[i];
    if (x.scope != y.scope || x.cursor.start_ms != y.cursor.start_ms ||
        x.cursor.newest_ms != y.cursor.newest_ms) {
      return false;
    }
  }
  return true;
}

std::string canonical(const std::string& snapshot) {
  rapidjson::Document doc;
  doc.Parse(snapshot.c_str(), snapshot.size());
  check(!doc.HasParseError() && doc.IsObject(), "the store wrote a state file that is not JSON",
        snapshot);
  auto seen = doc.FindMember("seen_call_logs");
  check(seen != doc.MemberEnd() && seen->value.IsArray(), "state file without seen_call_logs",
        snapshot);
  std::vector<std::pair<std::string, std::int64_t>> ids;
  for (const auto& entry : seen->value.GetArray()) {
    check(entry.IsArray() && entry.Size() == 2 && entry[0].IsString() && entry[1].IsInt64(),
          "a seen_call_logs entry of the wrong shape", snapshot);
    ids.emplace_back(std::string(entry[0].GetString(), entry[0].GetStringLength()),
                     entry[1].GetInt64());
  }
  std::sort(ids.begin(), ids.end());
  seen->value.SetArray();
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  std::string out(buffer.GetString(), buffer.GetSize());
  for (const auto& [id, start] : ids) out += "\n" + id + "\t" + std::to_string(start);
  return out;
}

// A fresh store, configured as the targets configure theirs, loaded from `snapshot`.
std::string reload(const std::string& snapshot) {
  state::Store store;
  store.configure(store_config());
  std::uint64_t seq = 0;
  std::string error;
  check(store.restore(snapshot, seq, error), "a state file the store wrote does not load back",
        error + "\n" + snapshot);
  check(seq == kJournalSeq, "the state file's journal_seq changed on reload", snapshot);
  return store.snapshot_json(kJournalSeq);
}

}  // namespace

std::string canonical_snapshot(const state::Store& store) {
  return canonical(store.snapshot_json(kJournalSeq));
}

void check_snapshot_reloads(const state::Store& store, bool strict) {
  std::string before = store.snapshot_json(kJournalSeq);
  std::string after = reload(before);
  if (!strict) {
    before = std::move(after);
    after = reload(before);
  }
  const std::string a = canonical(before), b = canonical(after);
  check(a == b, "a reloaded state file differs from the one written", a + "\n----\n" + b);
}

void check_batch_round_trip(const state::Batch& batch) {
  const std::string text = state::encode_batch(batch);
  std::size_t dropped = 0;
  const auto decoded = state::decode_journal(text, &dropped);
  check(dropped == 0 && decoded.size() == 1, "an encoded batch does not decode as one batch", text);
  check(same_batch(batch, decoded.front()), "an encoded batch decodes to another batch", text);
}

}  // namespace vpbx::fuzz
