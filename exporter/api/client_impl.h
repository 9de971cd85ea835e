#pragma once
// The API client's internals, shared by its parts: one exchange over a pooled curl handle
// (client_curl.cpp), the account's standing with the platform (client_auth.cpp), a call with its
// retries, metrics and logs (client_execute.cpp), and the typed calls (client.cpp).

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/api/client.h"
#include "exporter/api/detail.h"
#include "exporter/api/rate_limiter.h"
#include "exporter/log/log.h"

namespace vpbx::api {

enum class Method { get, post, put, del };
const char* method_name(Method m);

// Uniform in [0, 1), for jitter.
double random01();

struct Transfer {
  std::string body;
  bool too_large = false;
  std::optional<std::string> retry_after;
};

// One attempt's outcome, before interpretation.
struct Attempt {
  CURLcode code = CURLE_OK;
  long status = 0;
  Transfer transfer;
  std::string curl_error;
};

// A whole call's outcome.
struct Outcome {
  ErrorKind kind = ErrorKind::none;
  long status = 0;
  std::string body;
  std::string error;
  bool not_sent = false;  // answered locally: the account is in auth backoff
};

struct Client::Impl {
  config::ApiConfig config;
  std::shared_ptr<ApiMetrics> metrics;
  std::shared_ptr<RateLimiter> limiter;
  std::atomic<bool> cancelled{false};
  curl_slist* headers = nullptr;
  std::string user_agent;

  std::mutex sleep_mutex;
  std::condition_variable sleep_cv;

  std::mutex pool_mutex;
  std::vector<CURL*> idle;  // long-lived handles: each keeps its connection (and TLS) alive

  // The account's standing (AuthGate); auth_cv wakes requests waiting for a first answer.
  std::mutex auth_mutex;
  std::condition_variable auth_cv;
  detail::AuthGate auth;

  std::mutex latches_mutex;
  std::map<std::string, std::unique_ptr<log::ErrorLatch>, std::less<>> latches;

  Impl(const config::ApiConfig& c, std::shared_ptr<ApiMetrics> m, std::shared_ptr<RateLimiter> l);
  ~Impl();

  // The pool of curl handles, and one attempt over one of them.
  CURL* take_handle();
  void give_handle(CURL* h);
  Attempt perform(CURL* h, Method method, const std::string& url, const std::string& body);

  log::ErrorLatch& latch_for(std::string_view endpoint);
  std::string scrub(std::string text) const;
  // Sleeps unless cancelled; false when cancelled.
  bool sleep_for(std::chrono::milliseconds d);
  void count(const std::string& endpoint, const Attempt& a, double seconds);
  void log_failure(const std::string& endpoint, Method method, const Outcome& o);
  void log_success(const std::string& endpoint);

  // An attempt admitted as the gate's probe must tell it what it learnt, or give the turn back.
  struct Probe {
    Impl* impl = nullptr;
    ~Probe() {
      if (!impl) return;
      {
        std::lock_guard lock(impl->auth_mutex);
        impl->auth.abandon_probe();
      }
      impl->auth_cv.notify_all();
    }
  };

  static Outcome held_outcome(std::chrono::milliseconds retry_in);
  // Whether an attempt may go. nullopt: yes (`probe` says if as the gate's probe); else the
  // local answer.
  std::optional<Outcome> pass_auth_gate(Probe& probe);
  // A request admitted before the backoff began, held by the limiter since: not sent either.
  std::optional<Outcome> refused_meanwhile(const Probe& probe);
  // Tells the gate what an answered attempt says about the credentials; logs and shows changes.
  void report_auth(const std::string& endpoint, Method method, const Attempt& a, Probe& probe);

  // Runs one call with the auth gate, limiter, retries and metrics. `endpoint` is the route
  // template.
  Outcome execute(Method method, const std::string& endpoint, const std::string& url,
                  const std::string& body);
  static Outcome cancelled_outcome() { return {ErrorKind::transport, 0, {}, "cancelled", false}; }

  // execute() + parse, with the state-change logging.
  template <typename T, typename Parse>
  Result<T> call(Method method, const std::string& endpoint, const std::string& url,
                 const std::string& body, Parse&& parse);

  std::string url_for(std::string_view route,
                      const std::map<std::string, std::string>& params) const;
  std::string call_log_query(const CallLogQuery& q) const;
};

}  // namespace vpbx::api
