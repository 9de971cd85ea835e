#pragma once
// vpbx_simulator: a faithful stand-in for the VPBX OpenAPI (see ../shared/seed/VoIP-OpenAPI.txt and
// DESIGN.md), used by the demo, the tests and the benchmarks. Runs in-process (tests) or as the
// vpbx_simulator binary. Everything is served under /openapi/, pretty-printed like the real API.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vpbx::sim {

struct Faults {
  double push_drop_ratio = 0;            // pushes silently not sent
  double push_duplicate_ratio = 0;       // pushes sent twice
  double api_error_ratio = 0;            // API answers 500, 503 or 429 (with Retry-After: 1)
  std::chrono::milliseconds latency{0};  // added to every API answer
  double hang_ratio = 0;                 // requests held for hang_duration before answering
  std::chrono::milliseconds hang_duration{std::chrono::seconds(30)};
  // PUT v1/feat/{featId} refused with 400 and the platform's error body, after auth: a change
  // the platform will not make (a feature locked at enterprise level, say). Nothing changes.
  double feature_put_reject_ratio = 0;
};

struct Options {
  std::string listen_address = "127.0.0.1:0";
  int enterprises = 1;
  int users_per_enterprise = 4;
  std::uint64_t seed = 1;
  std::string username = "openapi@291908.bus.ent";
  std::string password = "simulator-password";
  std::string application_id = "71c177e5-7417-4265-b97f-4595016dceb8";
  double calls_per_second = 0;            // traffic generator; 0 = off
  double feature_toggles_per_second = 0;  // DND / CFU toggles; 0 = off
  int history_calls_per_user = 0;         // call logs in the past at start
  int max_page_size = 100;                // largest `limit` honoured
  std::string bulk_limit_common = "100";
  Faults faults;
};

struct UserTruth {
  std::int64_t user_id = 0;
  std::string enterprise;
  std::string login;
  std::string number;
  std::uint64_t calls = 0;  // call logs created since start (history excluded)
  std::uint64_t answered = 0;
  std::map<std::string, std::uint64_t> calls_by_direction;  // INCOMING / OUTGOING
  double duration_seconds = 0;                              // summed `duration`
  std::map<std::string, std::string> features;              // featName -> status
  std::string presence;                                     // raw state, e.g. "IDLE"
};

struct Stats {
  std::uint64_t api_requests = 0;                          // requests under /openapi/
  std::uint64_t connections_accepted = 0;                  // TCP connections
  std::map<std::string, std::uint64_t> requests_by_route;  // route template -> count
  std::uint64_t pushes_sent = 0;
  std::uint64_t pushes_dropped = 0;
  std::uint64_t pushes_duplicated = 0;
  std::uint64_t pushes_failed = 0;     // POST to notificationUrl failed
  double max_requests_per_second = 0;  // highest count seen in any sliding 1 s window
  int max_concurrent_requests = 0;     // highest number in flight at once
};

struct CallSpec {
  std::int64_t user_id = 0;
  std::string direction = "OUTGOING";
  int duration_seconds = 7;  // 0 = not answered
};

class Simulator {
 public:
  explicit Simulator(Options options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  void start();  // throws std::runtime_error when it cannot listen
  void stop();
  int port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT/openapi/"

  void set_faults(const Faults& faults);
  Stats stats() const;
  void reset_stats();
  std::vector<UserTruth> truth() const;
  // The seed's CSV columns with a name: enterpriseNames,userIds,loginNames,phone_num,name
  std::string users_csv() const;

  // Control, also reachable over HTTP under /_sim/.
  std::string inject_call(const CallSpec& call);  // returns the call log id; pushes CALL_LOG
  bool set_feature_status(std::int64_t user_id, const std::string& feat_name, bool active);
  bool set_presence(std::int64_t user_id, const std::string& raw_state);
  // Forgets a subscription without telling anyone (as if the platform lost it).
  bool forget_subscription(const std::string& id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpbx::sim
