// The store's durable side: pending batches, commits, and the state file's JSON.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <unordered_set>

#include "exporter/api/models.h"
#include "exporter/state/store.h"

namespace vpbx::state {
namespace {

constexpr int kStateFileVersion = 1;

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string get_string(const rapidjson::Value& object, const char* key) {
  const auto it = object.FindMember(key);
  return it != object.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

std::int64_t get_int(const rapidjson::Value& object, const char* key) {
  const auto it = object.FindMember(key);
  return it != object.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
}

double get_double(const rapidjson::Value& value) {
  return value.IsNumber() ? value.GetDouble() : 0;
}

bool is_count(const rapidjson::Value& value) {
  return value.IsNumber() && std::isfinite(value.GetDouble()) && value.GetDouble() >= 0;
}

bool has(const rapidjson::Value& object, const char* key, bool (rapidjson::Value::*is)() const) {
  const auto it = object.FindMember(key);
  return it != object.MemberEnd() && (it->value.*is)();
}

// Where `offset` is in `text`, as "byte N (line L, column C)".
std::string position(const std::string& text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "byte " + std::to_string(offset) + " (line " + std::to_string(line) + ", column " +
         std::to_string(column) + ")";
}

// The whole document is checked before anything is applied: the file is used whole or not at
// all. A partly restored counter lower than the value last exposed reads as a counter reset to
// Prometheus, whose increase() would then count every restored call a second time. Returns the
// first problem, naming the member; empty when the file is sound.
std::string check_document(const rapidjson::Document& doc) {
  using V = rapidjson::Value;
  if (!doc.IsObject()) return "the document is not a JSON object";
  const auto version = doc.FindMember("version");
  if (version == doc.MemberEnd() || !version->value.IsInt() ||
      version->value.GetInt() != kStateFileVersion) {
    return "version: " +
           std::string(version == doc.MemberEnd() ? "missing"
                       : version->value.IsInt()   ? std::to_string(version->value.GetInt())
                                                  : "not an integer") +
           ", expected " + std::to_string(kStateFileVersion);
  }
  if (!has(doc, "journal_seq", &V::IsUint64)) return "journal_seq: missing or not a number";
  if (!has(doc, "users", &V::IsArray)) return "users: missing or not an array";
  if (!has(doc, "histograms", &V::IsArray)) return "histograms: missing or not an array";
  if (!has(doc, "cursors", &V::IsObject)) return "cursors: missing or not an object";
  if (!has(doc, "seen_call_logs", &V::IsArray)) return "seen_call_logs: missing or not an array";
  rapidjson::SizeType i = 0;
  for (const auto& user : doc["users"].GetArray()) {
    const std::string at = "users[" + std::to_string(i++) + "]";
    if (!user.IsObject() || !has(user, "user_id", &V::IsInt64) ||
        !has(user, "enterprise", &V::IsString) || !has(user, "login", &V::IsString) ||
        !has(user, "discovered", &V::IsBool) || !has(user, "presence", &V::IsString) ||
        !has(user, "features", &V::IsObject) || !has(user, "calls", &V::IsArray) ||
        !has(user, "duration_seconds", &V::IsArray)) {
      return at + ": not a user with all its members";
    }
    for (const auto& feature : user["features"].GetObject()) {
      if (!feature.value.IsObject() || !has(feature.value, "status", &V::IsString) ||
          !has(feature.value, "destination", &V::IsString)) {
        return at + ".features." + feature.name.GetString() + ": not a feature state";
      }
    }
    const auto& calls = user["calls"];
    if (calls.Size() != 3) return at + ".calls: not one pair of counts per direction";
    for (const auto& pair : calls.GetArray()) {
      if (!pair.IsArray() || pair.Size() != 2 || !is_count(pair[0]) || !is_count(pair[1]))
        return at + ".calls: not one pair of counts per direction";
    }
    const auto& seconds = user["duration_seconds"];
    if (seconds.Size() != 3 || !is_count(seconds[0]) || !is_count(seconds[1]) ||
        !is_count(seconds[2])) {
      return at + ".duration_seconds: not one sum per direction";
    }
  }
  i = 0;
  for (const auto& histogram : doc["histograms"].GetArray()) {
    const std::string at = "histograms[" + std::to_string(i++) + "]";
    if (!histogram.IsObject() || !has(histogram, "enterprise", &V::IsString) ||
        !has(histogram, "direction", &V::IsInt) || histogram["direction"].GetInt() < 0 ||
        histogram["direction"].GetInt() > 2 || !has(histogram, "buckets", &V::IsArray) ||
        histogram["buckets"].Size() != kDurationBoundCount + 1 ||
        !has(histogram, "count", &V::IsUint64) || !has(histogram, "sum", &V::IsNumber) ||
        !is_count(histogram["sum"])) {
      return at + ": not a histogram";
    }
    for (const auto& bucket : histogram["buckets"].GetArray()) {
      if (!bucket.IsUint64()) return at + ".buckets: not counts";
    }
  }
  for (const auto& cursor : doc["cursors"].GetObject()) {
    if (!cursor.value.IsArray() || cursor.value.Size() != 2 || !cursor.value[0].IsInt64() ||
        !cursor.value[1].IsInt64()) {
      return std::string("cursors.") + cursor.name.GetString() + ": not a pair of times";
    }
  }
  i = 0;
  for (const auto& entry : doc["seen_call_logs"].GetArray()) {
    if (!entry.IsArray() || entry.Size() != 2 || !entry[0].IsString() || !entry[1].IsInt64())
      return "seen_call_logs[" + std::to_string(i) + "]: not an id and a time";
    ++i;
  }
  return "";
}

}  // namespace

void Store::enable_durability() {
  std::lock_guard lock(mutex_);
  durable_ = true;
}

Batch Store::take_pending() {
  std::lock_guard lock(mutex_);
  Batch batch;
  std::swap(batch, pending_);
  return batch;
}

void Store::commit(const Batch& batch, bool replay) {
  std::lock_guard lock(mutex_);
  for (const auto& user : batch.users) add_learnt_user(user);
  for (const auto& call : batch.calls) {
    if (replay) {
      // Read back from the journal: counted before the crash, unless the snapshot has it.
      if (!remember_seen(call.id, call.call_start_ms)) continue;
    }
    apply_call(call);
  }
  for (const auto& [scope, cursor] : batch.cursors) {
    durable_cursors_[scope] = cursor;
    if (replay) cursors_[scope] = cursor;
  }
}

void Store::requeue_pending(Batch batch) {
  std::lock_guard lock(mutex_);
  batch.users.insert(batch.users.end(), pending_.users.begin(), pending_.users.end());
  batch.calls.insert(batch.calls.end(), pending_.calls.begin(), pending_.calls.end());
  batch.cursors.insert(batch.cursors.end(), pending_.cursors.begin(), pending_.cursors.end());
  pending_ = std::move(batch);
}

void Store::restart_counters(std::int64_t history_floor_ms) {
  std::lock_guard lock(mutex_);
  for (auto& [id, user] : users_) user.calls = {};
  durations_.clear();
  for (auto* cursors : {&cursors_, &durable_cursors_}) {
    for (auto& [scope, cursor] : *cursors)
      cursor.start_ms = std::max(cursor.start_ms, history_floor_ms);
  }
}

std::string Store::snapshot_json(std::uint64_t journal_seq) const {
  // Taken under the lock, written outside it: pushes and scrapes do not wait on the JSON. The
  // users, histograms and cursors are copied (a few µs per user); the remembered ids, which can
  // be hundreds of thousands, are not: their sealed chunks are shared (see seen_chunks_), so
  // what is under the lock is one pointer per chunk. All of it is taken at one instant, so the
  // ids agree with the counters and with journal_seq as a full copy would.
  std::map<std::int64_t, UserState> users;
  std::map<std::pair<std::string, Direction>, DurationHistogram> durations;
  std::map<std::string, CallLogCursor> cursors;
  std::vector<std::string> pending_ids;
  std::vector<SeenChunk> seen;
  {
    std::lock_guard lock(mutex_);
    users = users_;
    durations = durations_;
    cursors = durable_cursors_;
    // Ids still waiting for the journal are not durable: a crash must let a poll find them again.
    // Few: what came since the last flush (more only while the journal cannot be written).
    pending_ids.reserve(pending_.calls.size());
    for (const auto& call : pending_.calls) pending_ids.push_back(call.id);
    seal_seen_tail();
    seen = seen_chunks_;
    last_snapshot_locked_copies_ =
        users.size() + durations.size() + cursors.size() + pending_ids.size();
  }
  const std::unordered_set<std::string_view> pending(pending_ids.begin(), pending_ids.end());

  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("version");
  w.Int(kStateFileVersion);
  w.Key("journal_seq");
  w.Uint64(journal_seq);
  w.Key("users");
  w.StartArray();
  for (const auto& [id, user] : users) {
    w.StartObject();
    w.Key("user_id");
    w.Int64(id);
    write_string(w, "enterprise", user.identity.enterprise);
    write_string(w, "login", user.identity.login);
    w.Key("discovered");
    w.Bool(user.discovered);
    write_string(w, "presence", std::string(to_string(user.presence)));
    w.Key("features");
    w.StartObject();
    for (const auto& [name, feature] : user.features) {
      w.Key(name.c_str());
      w.StartObject();
      write_string(w, "status", feature.status);
      write_string(w, "destination", feature.destination);
      w.EndObject();
    }
    w.EndObject();
    w.Key("calls");
    w.StartArray();
    for (const auto& per_direction : user.calls.calls) {
      w.StartArray();
      w.Double(per_direction[0]);
      w.Double(per_direction[1]);
      w.EndArray();
    }
    w.EndArray();
    w.Key("duration_seconds");
    w.StartArray();
    for (const double seconds : user.calls.duration_seconds) w.Double(seconds);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("histograms");
  w.StartArray();
  for (const auto& [key, histogram] : durations) {
    w.StartObject();
    write_string(w, "enterprise", key.first);
    w.Key("direction");
    w.Int(static_cast<int>(key.second));
    w.Key("buckets");
    w.StartArray();
    for (const auto count : histogram.buckets) w.Uint64(count);
    w.EndArray();
    w.Key("count");
    w.Uint64(histogram.count);
    w.Key("sum");
    w.Double(histogram.sum);
    w.EndObject();
  }
  w.EndArray();
  w.Key("cursors");
  w.StartObject();
  for (const auto& [scope, cursor] : cursors) {
    w.Key(scope.c_str(), static_cast<rapidjson::SizeType>(scope.size()));
    w.StartArray();
    w.Int64(cursor.start_ms);
    w.Int64(cursor.newest_ms);
    w.EndArray();
  }
  w.EndObject();
  w.Key("seen_call_logs");
  w.StartArray();
  for (const auto& chunk : seen) {
    for (const auto& [id, call_start] : *chunk) {
      if (pending.count(id)) continue;
      w.StartArray();
      w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
      w.Int64(call_start);
      w.EndArray();
    }
  }
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::size_t Store::last_snapshot_locked_copies() const {
  std::lock_guard lock(mutex_);
  return last_snapshot_locked_copies_;
}

bool Store::restore(const std::string& json, std::uint64_t& journal_seq, std::string& error,
                    bool import) {
  // Parsed as the API's bodies are: iteratively, and refused when nested past kMaxJsonNesting
  // (the file needs 4 levels), so that a corrupt file of brackets cannot overflow the stack.
  rapidjson::Document doc;
  std::string problem;
  if (!api::parse_json_document(json, doc, &problem)) {
    error = doc.HasParseError() ? "not JSON at " + position(json, doc.GetErrorOffset()) + ": " +
                                      rapidjson::GetParseError_En(doc.GetParseError())
                                : std::move(problem);
    return false;
  }
  error = check_document(doc);
  if (!error.empty()) return false;
  const auto seq = doc.FindMember("journal_seq");
  const auto users = doc.FindMember("users");
  const auto histograms = doc.FindMember("histograms");
  const auto cursors = doc.FindMember("cursors");
  const auto seen = doc.FindMember("seen_call_logs");

  std::lock_guard lock(mutex_);
  journal_seq = seq->value.GetUint64();
  for (const auto& saved : users->value.GetArray()) {
    if (!saved.IsObject()) continue;
    const std::int64_t id = get_int(saved, "user_id");
    auto it = users_.find(id);
    const auto discovered = saved.FindMember("discovered");
    if (it == users_.end() && discovered != saved.MemberEnd() && discovered->value.IsBool() &&
        discovered->value.GetBool()) {
      add_learnt_user({get_string(saved, "enterprise"), id, get_string(saved, "login")});
      it = users_.find(id);
    }
    if (it == users_.end()) continue;  // no longer configured: its counters go with it
    auto& user = it->second;
    user.presence = presence_map_.map(get_string(saved, "presence"));
    const auto features = saved.FindMember("features");
    if (features != saved.MemberEnd() && features->value.IsObject()) {
      for (const auto& feature : features->value.GetObject()) {
        if (!feature.value.IsObject() || !feature_included(feature.name.GetString())) continue;
        auto& state = *user.features.try_emplace(feature.name.GetString()).first;
        state.status = get_string(feature.value, "status");
        state.active = state.status == "ACTIVE";
        state.destination = get_string(feature.value, "destination");
      }
    }
    const auto calls = saved.FindMember("calls");
    if (calls != saved.MemberEnd() && calls->value.IsArray() && calls->value.Size() == 3) {
      for (rapidjson::SizeType d = 0; d < 3; ++d) {
        const auto& pair = calls->value[d];
        if (!pair.IsArray() || pair.Size() != 2) continue;
        // Added: a fresh store holds 0, and imported shards hold disjoint users.
        user.calls.calls[d][0] += get_double(pair[0]);
        user.calls.calls[d][1] += get_double(pair[1]);
      }
    }
    const auto durations = saved.FindMember("duration_seconds");
    if (durations != saved.MemberEnd() && durations->value.IsArray() &&
        durations->value.Size() == 3) {
      for (rapidjson::SizeType d = 0; d < 3; ++d)
        user.calls.duration_seconds[d] += get_double(durations->value[d]);
    }
  }
  std::set<std::string> enterprises;
  for (const auto& [id, user] : users_) enterprises.insert(user.identity.enterprise);
  for (const auto& saved : histograms->value.GetArray()) {
    if (!saved.IsObject()) continue;
    const std::string enterprise = get_string(saved, "enterprise");
    const auto direction = get_int(saved, "direction");
    const auto buckets = saved.FindMember("buckets");
    if (import && shard_.index != 0) continue;
    if (!enterprises.count(enterprise) || direction < 0 || direction > 2 ||
        buckets == saved.MemberEnd() || !buckets->value.IsArray() ||
        buckets->value.Size() != kDurationBoundCount + 1) {
      continue;
    }
    auto& histogram = durations_[{enterprise, static_cast<Direction>(direction)}];
    histogram.buckets.resize(kDurationBoundCount + 1, 0);
    rapidjson::SizeType b = 0;
    for (const auto& count : buckets->value.GetArray())
      histogram.buckets[b++] += count.IsUint64() ? count.GetUint64() : 0;
    const auto count = saved.FindMember("count");
    histogram.count +=
        count != saved.MemberEnd() && count->value.IsUint64() ? count->value.GetUint64() : 0;
    const auto sum = saved.FindMember("sum");
    histogram.sum += sum != saved.MemberEnd() ? get_double(sum->value) : 0;
  }
  for (const auto& cursor : cursors->value.GetObject()) {
    if (!cursor.value.IsArray() || cursor.value.Size() != 2 || !cursor.value[0].IsInt64() ||
        !cursor.value[1].IsInt64()) {
      continue;
    }
    CallLogCursor saved{cursor.value[0].GetInt64(), cursor.value[1].GetInt64()};
    const std::string scope = cursor.name.GetString();
    if (import) {
      // Another shard's user: never polled here, and its cursor would hold back pruning.
      if (scope.starts_with("user:") && !users_.count(std::atoll(scope.c_str() + 5))) continue;
      if (const auto it = cursors_.find(scope); it != cursors_.end()) {
        saved.start_ms = std::min(saved.start_ms, it->second.start_ms);
        saved.newest_ms = std::min(saved.newest_ms, it->second.newest_ms);
      }
    }
    cursors_[scope] = saved;
    durable_cursors_[scope] = saved;
  }
  for (const auto& entry : seen->value.GetArray()) {
    if (entry.IsArray() && entry.Size() == 2 && entry[0].IsString() && entry[1].IsInt64()) {
      remember_seen(entry[0].GetString(), entry[1].GetInt64());
    }
  }
  relabel();
  return true;
}

}  // namespace vpbx::state
