// /openapi/: the platform's API as clients see it, with auth, fault injection and routing.

#include <civetweb.h>

#include <algorithm>
#include <cctype>

#include "exporter/log/log.h"
#include "simulator/impl.h"
#include "simulator/time_util.h"

namespace vpbx::sim {
namespace {

struct Route {
  std::string name;  // route template, e.g. "GET v1/feat/{featId}"
  std::string arg;   // the path parameter
  bool known_path = false;
};

// Maps a path below /openapi/ to its route template; the method is checked by the caller.
Route match(const std::string& method, const std::vector<std::string>& p) {
  Route r;
  auto is = [&](std::initializer_list<const char*> pattern) {
    if (p.size() != pattern.size()) return false;
    std::size_t i = 0;
    for (const char* part : pattern) {
      if (part[0] == '{') {
        r.arg = p[i];
      } else if (p[i] != part) {
        return false;
      }
      ++i;
    }
    return true;
  };
  auto set = [&](const std::string& tmpl) {
    r.name = method + " " + tmpl;
    r.known_path = true;
  };
  if (is({"v1", "system", "server"})) {
    set("v1/system/server");
  } else if (is({"v1", "users", "{}", "feat"})) {
    set("v1/users/{userId}/feat");
  } else if (is({"v1", "users", "{}", "presence"})) {
    set("v1/users/{userId}/presence");
  } else if (is({"v1", "users", "{}", "calllogs"})) {
    set("v1/users/{userId}/calllogs");
  } else if (is({"v1", "enterprises", "{}", "calllogs"})) {
    set("v1/enterprises/{enterprise}/calllogs");
  } else if (is({"v1", "feat", "{}"})) {
    set("v1/feat/{featId}");
  } else if (is({"v1", "subscriptions"})) {
    set("v1/subscriptions");
  } else if (is({"v1", "subscriptions", "{}"})) {
    set("v1/subscriptions/{subscriptionId}");
  } else {
    r.name = method + " other";
  }
  return r;
}

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<int> parse_non_negative(const std::string& s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// from / to / offset / limit of the call log routes; nullopt (400) when one is malformed.
std::optional<CallLogQuery> call_log_query(const std::string& query, int max_page_size,
                                           std::string& error) {
  CallLogQuery q;
  q.from_ms = 0;
  q.to_ms = std::numeric_limits<std::int64_t>::max();
  q.offset = 0;
  q.limit = max_page_size;
  if (const auto from = query_param(query, "from")) {
    const auto ms = parse_iso8601_ms(*from);
    if (!ms) {
      error = "from is not an ISO 8601 date-time: " + *from;
      return std::nullopt;
    }
    q.from_ms = *ms;
  }
  if (const auto to = query_param(query, "to")) {
    const auto ms = parse_iso8601_ms(*to);
    if (!ms) {
      error = "to is not an ISO 8601 date-time: " + *to;
      return std::nullopt;
    }
    q.to_ms = *ms;
  }
  if (const auto offset = query_param(query, "offset")) {
    const auto v = parse_non_negative(*offset);
    if (!v) {
      error = "offset must be a non-negative integer";
      return std::nullopt;
    }
    q.offset = *v;
  }
  if (const auto limit = query_param(query, "limit")) {
    const auto v = parse_non_negative(*limit);
    if (!v || *v == 0) {
      error = "limit must be a positive integer";
      return std::nullopt;
    }
    q.limit = std::min(*v, max_page_size);
  }
  return q;
}

// Last resort of a handler: nothing may escape into CivetWeb's C code.
void reply_internal_error(mg_connection* conn) noexcept {
  try {
    send_reply(conn, 500, error_answer(500, "Internal error").body);
  } catch (...) {
  }
}

}  // namespace

int Simulator::Impl::handle_api(mg_connection* conn) {
  struct InFlight {
    RequestStats& stats;
    explicit InFlight(RequestStats& s) : stats(s) { stats.begin_api_request(); }
    ~InFlight() { stats.end_api_request(); }
  } in_flight(stats);
  try {
    Request req = read_request(conn, kMaxBody);
    std::vector<std::string> parts = split_path(req.path);
    if (!parts.empty()) parts.erase(parts.begin());  // "openapi"
    const Route route = match(req.method, parts);
    stats.count_route(route.name);

    // Faults first: a struggling platform (or its load balancer) fails before it checks anyone.
    const Faults f = current_faults();
    double roll_hang = 0, roll_error = 0, roll_reject = 0;
    int error_kind = 0;
    {
      std::lock_guard lock(faults_mutex);
      std::uniform_real_distribution<double> unit(0, 1);
      roll_hang = unit(fault_rng);
      roll_error = unit(fault_rng);
      roll_reject = unit(fault_rng);
      error_kind = static_cast<int>(fault_rng() % 3);
    }
    if (f.latency.count() > 0) sleep_for(f.latency);
    if (f.hang_ratio > 0 && roll_hang < f.hang_ratio) {
      if (!sleep_for(f.hang_duration)) {
        send_reply(conn, 503, error_answer(503, "Shutting down", req.path).body,
                   {{"Connection", "close"}});
        return 1;
      }
    }
    if (f.api_error_ratio > 0 && roll_error < f.api_error_ratio) {
      static const int codes[] = {500, 503, 429};
      const int code = codes[error_kind];
      Headers extra;
      if (code != 500) extra.emplace_back("Retry-After", "1");
      send_reply(conn, code, error_answer(code, "Injected fault", req.path).body, extra);
      return 1;
    }

    // Basic auth, then the application id: 401 names the scheme, 403 refuses the caller.
    const std::string auth = header(conn, "Authorization");
    bool authorized = false;
    if (auth.size() > 6 && iequals(auth.substr(0, 6), "Basic ")) {
      const auto decoded = base64_decode(auth.substr(6));
      authorized = decoded && *decoded == options.username + ":" + options.password;
    }
    if (!authorized) {
      send_reply(conn, 401, error_answer(401, "Full authentication is required", req.path).body,
                 {{"WWW-Authenticate", "Basic realm=\"Realm\""}});
      return 1;
    }
    if (!iequals(header(conn, "X-C5-Application"), options.application_id)) {
      send_reply(conn, 403,
                 error_answer(403, "Missing or unknown X-C5-Application", req.path).body);
      return 1;
    }

    ApiAnswer answer;
    const std::string& m = req.method;
    auto allow = [&](const char* methods) {
      answer = error_answer(405, "Method not allowed", req.path);
      return Headers{{"Allow", methods}};
    };
    Headers extra;
    const std::string tmpl = route.name.substr(route.name.find(' ') + 1);
    if (req.body_too_large) {
      answer = error_answer(413, "Body too large", req.path);
    } else if (!route.known_path) {
      answer = error_answer(404, "No such resource", req.path);
    } else if (tmpl == "v1/system/server") {
      if (m == "GET")
        answer = model.server_info();
      else
        extra = allow("GET");
    } else if (tmpl == "v1/users/{userId}/feat") {
      if (m == "GET")
        answer = model.user_features(route.arg);
      else
        extra = allow("GET");
    } else if (tmpl == "v1/users/{userId}/presence") {
      if (m == "GET")
        answer = model.presence(route.arg);
      else
        extra = allow("GET");
    } else if (tmpl == "v1/users/{userId}/calllogs" ||
               tmpl == "v1/enterprises/{enterprise}/calllogs") {
      if (m != "GET") {
        extra = allow("GET");
      } else {
        std::string error;
        const auto q = call_log_query(req.query, std::max(1, options.max_page_size), error);
        if (!q) {
          answer = error_answer(400, error, req.path);
        } else if (tmpl[3] == 'u') {
          answer = model.user_call_logs(route.arg, *q);
        } else {
          answer = model.enterprise_call_logs(route.arg, *q);
        }
      }
    } else if (tmpl == "v1/feat/{featId}") {
      std::int64_t id = -1;
      if (route.arg.size() < 19 && std::all_of(route.arg.begin(), route.arg.end(), ::isdigit)) {
        id = std::stoll(route.arg);
      }
      if (m != "GET" && m != "PUT") {
        extra = allow("GET, PUT");
      } else if (id < 0) {
        answer = error_answer(404, "Feature not found: " + route.arg, req.path);
      } else if (m == "GET") {
        answer = model.feature(id);
      } else if (f.feature_put_reject_ratio > 0 && roll_reject < f.feature_put_reject_ratio) {
        answer = error_answer(
            400, "Feature " + route.arg + " cannot be modified: locked at enterprise level",
            req.path);
      } else {
        answer = model.put_feature(id, req.body);
      }
    } else if (tmpl == "v1/subscriptions") {
      if (m == "GET") {
        answer = model.list_subscriptions();
      } else if (m == "POST") {
        answer = model.create_subscription(req.body);
      } else {
        extra = allow("GET, POST");
      }
    } else if (tmpl == "v1/subscriptions/{subscriptionId}") {
      if (m == "DELETE")
        answer = model.delete_subscription(route.arg);
      else
        extra = allow("DELETE");
    }
    send_reply(conn, answer.status, answer.body, extra);
    send_pushes(std::move(answer.pushes));
  } catch (const std::exception& e) {
    log::error("API handler failed", {{"error", e.what()}});
    reply_internal_error(conn);
  } catch (...) {
    reply_internal_error(conn);
  }
  return 1;
}

}  // namespace vpbx::sim
