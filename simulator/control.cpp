// /_sim/: control and truth for tests, demos and benchmarks. No auth: bind it to loopback.

#include <civetweb.h>
#include <rapidjson/document.h>

#include "exporter/log/log.h"
#include "simulator/duration.h"
#include "simulator/impl.h"
#include "simulator/json_writer.h"

namespace vpbx::sim {
namespace {

using Alloc = rapidjson::Document::AllocatorType;

rapidjson::Value str(const std::string& s, Alloc& a) {
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

std::string message(const std::string& key, const std::string& text) {
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember(str(key, d.GetAllocator()), str(text, d.GetAllocator()), d.GetAllocator());
  return to_pretty_json(d);
}

std::optional<std::int64_t> int_member(const rapidjson::Value& obj, const char* key) {
  if (!obj.HasMember(key)) return std::nullopt;
  const auto& v = obj[key];
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsString()) {
    try {
      std::size_t used = 0;
      const std::string s = v.GetString();
      const long long n = std::stoll(s, &used);
      if (used == s.size()) return n;
    } catch (...) {
    }
  }
  return std::nullopt;
}

std::optional<std::string> string_member(const rapidjson::Value& obj, const char* key) {
  if (!obj.HasMember(key) || !obj[key].IsString()) return std::nullopt;
  return std::string(obj[key].GetString());
}

// "200ms", "1.5s", "2m" or a bare number of milliseconds.
std::optional<std::chrono::milliseconds> duration_member(const rapidjson::Value& obj,
                                                         const char* key) {
  if (!obj.HasMember(key)) return std::nullopt;
  const auto& v = obj[key];
  if (v.IsNumber()) return std::chrono::milliseconds(static_cast<std::int64_t>(v.GetDouble()));
  if (!v.IsString()) return std::nullopt;
  return parse_duration(v.GetString());
}

std::string truth_json(const std::vector<UserTruth>& truth) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value users(rapidjson::kArrayType);
  for (const auto& t : truth) {
    rapidjson::Value u(rapidjson::kObjectType);
    u.AddMember("userId", t.user_id, a);
    u.AddMember("enterprise", str(t.enterprise, a), a);
    u.AddMember("login", str(t.login, a), a);
    u.AddMember("number", str(t.number, a), a);
    u.AddMember("calls", t.calls, a);
    u.AddMember("answered", t.answered, a);
    rapidjson::Value dir(rapidjson::kObjectType);
    for (const auto& [k, v] : t.calls_by_direction)
      dir.AddMember(str(k, a), rapidjson::Value(static_cast<std::uint64_t>(v)), a);
    u.AddMember("callsByDirection", dir, a);
    u.AddMember("durationSeconds", t.duration_seconds, a);
    rapidjson::Value feats(rapidjson::kObjectType);
    for (const auto& [k, v] : t.features) feats.AddMember(str(k, a), str(v, a), a);
    u.AddMember("features", feats, a);
    u.AddMember("presence", str(t.presence, a), a);
    users.PushBack(u, a);
  }
  d.AddMember("users", users, a);
  return to_pretty_json(d);
}

std::string stats_json(const Stats& s) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("apiRequests", s.api_requests, a);
  d.AddMember("connectionsAccepted", s.connections_accepted, a);
  rapidjson::Value routes(rapidjson::kObjectType);
  for (const auto& [k, v] : s.requests_by_route)
    routes.AddMember(str(k, a), rapidjson::Value(static_cast<std::uint64_t>(v)), a);
  d.AddMember("requestsByRoute", routes, a);
  d.AddMember("pushesSent", s.pushes_sent, a);
  d.AddMember("pushesDropped", s.pushes_dropped, a);
  d.AddMember("pushesDuplicated", s.pushes_duplicated, a);
  d.AddMember("pushesFailed", s.pushes_failed, a);
  d.AddMember("maxRequestsPerSecond", s.max_requests_per_second, a);
  d.AddMember("maxConcurrentRequests", s.max_concurrent_requests, a);
  return to_pretty_json(d);
}

std::string faults_json(const Faults& f) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("push_drop_ratio", f.push_drop_ratio, a);
  d.AddMember("push_duplicate_ratio", f.push_duplicate_ratio, a);
  d.AddMember("api_error_ratio", f.api_error_ratio, a);
  d.AddMember("latency_ms", static_cast<std::int64_t>(f.latency.count()), a);
  d.AddMember("hang_ratio", f.hang_ratio, a);
  d.AddMember("hang_duration_ms", static_cast<std::int64_t>(f.hang_duration.count()), a);
  d.AddMember("feature_put_reject_ratio", f.feature_put_reject_ratio, a);
  return to_pretty_json(d);
}

}  // namespace

int Simulator::Impl::handle_control(mg_connection* conn) {
  try {
    const Request req = read_request(conn, kMaxBody);
    const std::vector<std::string> parts = split_path(req.path);  // "_sim", ...
    const std::string what = parts.size() > 1 ? parts[1] : "";
    const std::string& m = req.method;
    rapidjson::Document in;
    if (m == "POST") {
      in.Parse(req.body.c_str(), req.body.size());
      if (in.HasParseError() || !in.IsObject()) {
        send_reply(conn, 400, message("error", "body must be a JSON object"));
        return 1;
      }
    }
    auto bad = [&](const std::string& text) { send_reply(conn, 400, message("error", text)); };
    auto not_found = [&](const std::string& text) {
      send_reply(conn, 404, message("error", text));
    };

    if (what == "calls" && parts.size() == 2 && m == "POST") {
      CallSpec call;
      const auto user = int_member(in, "userId");
      if (!user) return bad("userId is required"), 1;
      call.user_id = *user;
      call.direction = string_member(in, "direction").value_or("OUTGOING");
      if (call.direction != "INCOMING" && call.direction != "OUTGOING") {
        return bad("direction is INCOMING or OUTGOING"), 1;
      }
      const auto duration = int_member(in, "duration");
      call.duration_seconds = static_cast<int>(duration.value_or(7));
      if (call.duration_seconds < 0) return bad("duration must be >= 0"), 1;
      auto [id, pushes] = model.inject_call(call);
      if (id.empty()) return not_found("unknown user"), 1;
      send_pushes(std::move(pushes));
      send_reply(conn, 200, message("id", id));
    } else if (what == "features" && parts.size() == 2 && m == "POST") {
      const auto user = int_member(in, "userId");
      const auto name = string_member(in, "featName");
      const auto status = string_member(in, "status");
      if (!user || !name || !status || (*status != "ACTIVE" && *status != "INACTIVE")) {
        return bad("userId, featName and status (ACTIVE|INACTIVE) are required"), 1;
      }
      auto pushes = model.set_feature_status(*user, *name, *status);
      if (!pushes) return not_found("unknown user or feature"), 1;
      send_pushes(std::move(*pushes));
      send_reply(conn, 200, message("status", *status));
    } else if (what == "presence" && parts.size() == 2 && m == "POST") {
      const auto user = int_member(in, "userId");
      const auto status = string_member(in, "status");
      if (!user || !status || status->empty()) return bad("userId and status are required"), 1;
      auto pushes = model.set_presence(*user, *status);
      if (!pushes) return not_found("unknown user"), 1;
      send_pushes(std::move(*pushes));
      send_reply(conn, 200, message("status", *status));
    } else if (what == "truth" && m == "GET") {
      send_reply(conn, 200, truth_json(model.truth()));
    } else if (what == "stats" && parts.size() == 2 && m == "GET") {
      Stats s = stats.snapshot();
      const PushCounters p = pusher.counters();
      s.pushes_sent = p.sent;
      s.pushes_dropped = p.dropped;
      s.pushes_duplicated = p.duplicated;
      s.pushes_failed = p.failed;
      send_reply(conn, 200, stats_json(s));
    } else if (what == "stats" && (m == "DELETE" || (m == "POST" && parts.size() == 3))) {
      stats.reset();
      pusher.reset_counters();
      send_reply(conn, 204, "");
    } else if (what == "faults" && m == "GET") {
      send_reply(conn, 200, faults_json(current_faults()));
    } else if (what == "faults" && m == "POST") {
      Faults f = current_faults();
      auto ratio = [&](const char* key, double& out) {
        if (!in.HasMember(key)) return true;
        if (!in[key].IsNumber() || in[key].GetDouble() < 0 || in[key].GetDouble() > 1) {
          return false;
        }
        out = in[key].GetDouble();
        return true;
      };
      if (!ratio("push_drop_ratio", f.push_drop_ratio) ||
          !ratio("push_duplicate_ratio", f.push_duplicate_ratio) ||
          !ratio("api_error_ratio", f.api_error_ratio) || !ratio("hang_ratio", f.hang_ratio) ||
          !ratio("feature_put_reject_ratio", f.feature_put_reject_ratio)) {
        return bad("ratios are numbers in [0, 1]"), 1;
      }
      for (const char* key : {"latency", "latency_ms"}) {
        if (!in.HasMember(key)) continue;
        const auto d = duration_member(in, key);
        if (!d) return bad("latency is a duration such as 200ms"), 1;
        f.latency = *d;
      }
      for (const char* key : {"hang_duration", "hang_duration_ms"}) {
        if (!in.HasMember(key)) continue;
        const auto d = duration_member(in, key);
        if (!d) return bad("hang_duration is a duration such as 30s"), 1;
        f.hang_duration = *d;
      }
      {
        std::lock_guard lock(faults_mutex);
        faults = f;
      }
      log::info("faults changed", {{"push_drop_ratio", f.push_drop_ratio},
                                   {"push_duplicate_ratio", f.push_duplicate_ratio},
                                   {"api_error_ratio", f.api_error_ratio},
                                   {"latency_ms", static_cast<long long>(f.latency.count())},
                                   {"hang_ratio", f.hang_ratio},
                                   {"feature_put_reject_ratio", f.feature_put_reject_ratio}});
      send_reply(conn, 200, faults_json(f));
    } else if (what == "subscriptions" && parts.size() == 3 && m == "DELETE") {
      if (!model.forget_subscription(parts[2])) return not_found("unknown subscription"), 1;
      send_reply(conn, 204, "");
    } else if (what == "users.csv" && m == "GET") {
      const std::string csv = model.users_csv();
      send_reply(conn, 200, csv, {}, "text/csv");
    } else {
      not_found("no such control route: " + m + " " + req.path);
    }
  } catch (const std::exception& e) {
    log::error("control handler failed", {{"error", e.what()}});
    try {
      send_reply(conn, 500, message("error", "internal error"));
    } catch (...) {
    }
  } catch (...) {
    try {
      send_reply(conn, 500, message("error", "internal error"));
    } catch (...) {
    }
  }
  return 1;
}

}  // namespace vpbx::sim
