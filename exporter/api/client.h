#pragma once
// The VPBX OpenAPI client: libcurl with reused connections, one process-wide limiter
// (api.max_requests_per_second and api.max_concurrent_requests), retries of GETs with jittered
// exponential backoff on 5xx / timeouts / 429 (Retry-After honoured), never on 401/403.
// A 401/403 is not transient: it puts the whole account (this client, so every collector and the
// subscription manager) in an auth backoff. Until an answer shows the credentials are accepted
// again, requests are answered locally (ErrorKind::auth, not_sent) but one probe per step, the
// step doubling from api.auth_failure_backoff up to api.auth_failure_backoff_max, jittered. Before
// the first answer, one request goes out and the others wait for it. Logged once when refused and
// once when accepted again; shown in vpbx_api_auth_failed and vpbx_api_auth_backoff_seconds.
// Every call is counted in vpbx_api_requests_total{endpoint,code} and timed in
// vpbx_api_request_duration_seconds{endpoint}; `endpoint` is the route template, never an id.

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "exporter/api/models.h"
#include "exporter/config/config.h"

namespace vpbx::api {

enum class ErrorKind { none, transport, timeout, http, auth, parse };

template <typename T>
struct Result {
  std::optional<T> value;
  ErrorKind error_kind = ErrorKind::none;
  long http_status = 0;  // 0 when no answer
  std::string error;     // short, never contains a secret
  // The platform's body when it answered with an HTTP error (its own words, e.g. why a PUT was
  // refused), as sent; empty otherwise. Untrusted: clean it before showing it.
  std::string answer;
  // Answered locally, nothing sent: the account is in auth backoff (error_kind is auth).
  bool not_sent = false;
  bool ok() const { return value.has_value(); }
};

struct CallLogQuery {
  std::int64_t from_epoch_ms = 0;
  std::int64_t to_epoch_ms = 0;
  int offset = 0;
  int limit = 100;
};

// The API metric families; created once per process so that reloads keep the counters.
struct ApiMetrics {
  explicit ApiMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Gauge& auth_failed;   // vpbx_api_auth_failed
  prometheus::Gauge& auth_backoff;  // vpbx_api_auth_backoff_seconds
};

class RateLimiter;

class Client {
 public:
  // Uses RateLimiter::process_wide(), reconfigured with config's limits. `metrics` may be null.
  Client(const config::ApiConfig& config, std::shared_ptr<ApiMetrics> metrics);
  // Same with an explicit limiter (tests, or several clients that must share one budget).
  Client(const config::ApiConfig& config, std::shared_ptr<ApiMetrics> metrics,
         std::shared_ptr<RateLimiter> limiter);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<ServerInfo> get_server_info();
  Result<std::vector<Feature>> get_user_features(std::int64_t user_id);
  Result<Feature> get_feature(std::int64_t feature_id);
  Result<Feature> put_feature(const Feature& feature);  // sends to_json(feature) (models.h)
  Result<Presence> get_presence(std::int64_t user_id);
  Result<std::vector<CallLog>> get_user_call_logs(std::int64_t user_id, const CallLogQuery& query);
  Result<std::vector<CallLog>> get_enterprise_call_logs(const std::string& enterprise,
                                                        const CallLogQuery& query);
  Result<std::vector<Subscription>> list_subscriptions();
  Result<Subscription> create_subscription(const SubscriptionRequest& request);
  // true: deleted; false: the API answered 404 (already gone), which is not an error.
  Result<bool> delete_subscription(const std::string& id);

  // Stops waiting requests and backoffs promptly (shutdown, reload); transfers in progress are
  // aborted too. Permanent: later calls fail at once with ErrorKind::transport, "cancelled".
  void cancel();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpbx::api
