#include "exporter/api/client.h"

#include <curl/curl.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <utility>

#include "exporter/api/detail.h"
#include "exporter/api/rate_limiter.h"
#include "exporter/log/log.h"
#include "vpbx/version.h"

namespace vpbx::api {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kBackoffBase = 200ms;
constexpr auto kBackoffCap = 10s;
// A longer Retry-After is not waited for: the call fails and the next poll tries again.
constexpr auto kMaxRetryAfter = 30s;
// Answers are small (a page of call logs); anything larger is not the API we know.
constexpr std::size_t kMaxBodyBytes = 32u << 20;

// Route templates the paths of which are fixed (the seed shows them).
constexpr const char* kRouteServer = "v1/system/server";
constexpr const char* kRouteUserFeatures = "v1/users/{user_id}/feat";
constexpr const char* kRouteFeature = "v1/feat/{feature_id}";
constexpr const char* kRouteSubscriptions = "v1/subscriptions";
constexpr const char* kRouteSubscription = "v1/subscriptions/{id}";

const char* const kAuthHint =
    "check api.username, the password and api.application_id; the provider also refuses source "
    "IPs its firewall does not allow (by default only Swiss and French ones; others on request)";

enum class Method { get, post, put, del };

const char* method_name(Method m) {
  switch (m) {
    case Method::get:
      return "GET";
    case Method::post:
      return "POST";
    case Method::put:
      return "PUT";
    case Method::del:
      return "DELETE";
  }
  return "GET";
}

bool idempotent(Method m) {
  return m == Method::get || m == Method::del;
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

double random01() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

struct Transfer {
  std::string body;
  bool too_large = false;
  std::optional<std::string> retry_after;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->body.size() + n > kMaxBodyBytes) {
    t->too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  t->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.substr(0, 5) == "HTTP/") {
    t->retry_after.reset();  // a new response (after 100 Continue): forget the previous headers
    return n;
  }
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    }
    if (match) {
      auto value = line.substr(kName.size());
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() &&
             (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
        value.remove_suffix(1);
      }
      t->retry_after = std::string(value);
    }
  }
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

bool connect_failure(CURLcode code) {
  // Nothing was sent: safe to retry whatever the method.
  return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
         code == CURLE_COULDNT_RESOLVE_PROXY;
}

bool tls_failure(CURLcode code) {
  // Configuration problems (CA, certificate, handshake): retrying will not help.
  return code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE ||
         code == CURLE_SSL_CONNECT_ERROR || code == CURLE_SSL_CERTPROBLEM ||
         code == CURLE_SSL_CIPHER || code == CURLE_SSL_ENGINE_NOTFOUND ||
         code == CURLE_SSL_ISSUER_ERROR || code == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
         code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT;
}

std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
namespace detail {

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string expand_path(std::string_view route, const std::map<std::string, std::string>& params) {
  std::string out;
  out.reserve(route.size() + 16);
  size_t i = 0;
  while (i < route.size()) {
    if (route[i] == '{') {
      const size_t close = route.find('}', i);
      if (close != std::string_view::npos) {
        auto it = params.find(std::string(route.substr(i + 1, close - i - 1)));
        if (it != params.end()) {
          out += url_encode(it->second);
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(route[i]);
    ++i;
  }
  return out;
}

std::string join_url(std::string_view base, std::string_view relative) {
  while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
  std::string out(base);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(relative);
  return out;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::hours(24 * 365);  // absurd; callers cap it
    return std::chrono::seconds(std::stol(std::string(value)));
  }
  // HTTP-date (IMF-fixdate, RFC 850, asctime): curl knows them all.
  const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when == -1) return std::nullopt;
  const auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta <= std::chrono::system_clock::duration::zero()) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(delta);
}

std::chrono::milliseconds backoff_delay(int retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double random) {
  double d = static_cast<double>(base.count());
  for (int i = 0; i < retry && d < static_cast<double>(cap.count()); ++i) d *= 2;
  d = std::min(d, static_cast<double>(cap.count()));
  random = std::clamp(random, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(d / 2 + d / 2 * random));
}

std::string redact(std::string text, std::initializer_list<std::string_view> secrets) {
  for (auto secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 10)) {
      text.replace(pos, secret.size(), "<redacted>");
    }
  }
  return text;
}

AuthGate::AuthGate(std::chrono::milliseconds base, std::chrono::milliseconds cap)
    : base_(base), cap_(std::max(cap, std::chrono::milliseconds(1))) {
  base_ = std::clamp(base_, std::chrono::milliseconds(1), cap_);  // a cap below 10 s wins
}

AuthGate::Admit AuthGate::admit(Clock::time_point now) {
  switch (state_) {
    case State::accepted:
      return Admit::send;
    case State::untested:
      if (probe_out_) return Admit::wait;
      probe_out_ = true;
      return Admit::probe;
    case State::refused:
      if (probe_out_ || now < next_probe_) return Admit::refuse;
      probe_out_ = true;
      return Admit::probe;
  }
  return Admit::send;
}

AuthGate::Change AuthGate::report(Answer answer, bool probe, Clock::time_point now,
                                  double random01) {
  if (probe) probe_out_ = false;
  switch (answer) {
    case Answer::accepted: {
      const bool was_refused = state_ == State::refused;
      state_ = State::accepted;
      failures_ = 0;
      step_ = std::chrono::milliseconds(0);
      return was_refused ? Change::recovered : Change::none;
    }
    case Answer::refused:
      if (state_ != State::refused) {
        state_ = State::refused;
        failures_ = 1;
      } else if (probe) {
        ++failures_;
      } else {
        return Change::none;  // sent before the backoff began: the step stays
      }
      step_ = backoff_delay(failures_ - 1, base_, cap_, random01);
      next_probe_ = now + step_;
      return failures_ == 1 ? Change::refused : Change::refused_again;
    case Answer::unknown:
      // Nothing learnt about the credentials. Before any answer, the waiting requests go
      // (serialising them behind an unreachable platform would help nobody); in backoff, the
      // next probe waits for another step of the same length.
      if (state_ == State::untested && probe) state_ = State::accepted;
      if (state_ == State::refused && probe) next_probe_ = now + step_;
      return Change::none;
  }
  return Change::none;
}

void AuthGate::abandon_probe() {
  probe_out_ = false;
}

std::chrono::milliseconds AuthGate::retry_in(Clock::time_point now) const {
  if (state_ != State::refused || now >= next_probe_) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(next_probe_ - now);
}

AuthGate::Answer AuthGate::classify(long http_status) {
  if (http_status == 401 || http_status == 403) return Answer::refused;
  if (http_status >= 200 && http_status < 300) return Answer::accepted;
  // Other client errors come from the application, which let the request in.
  if (http_status >= 400 && http_status < 500 && http_status != 408 && http_status != 429) {
    return Answer::accepted;
  }
  return Answer::unknown;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
ApiMetrics::ApiMetrics(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("vpbx_api_requests_total")
                   .Help("Requests to the VPBX OpenAPI (every attempt, retries included) by route "
                         "template and HTTP status code (\"error\" / \"timeout\" when no answer).")
                   .Register(registry)),
      duration(prometheus::BuildHistogram()
                   .Name("vpbx_api_request_duration_seconds")
                   .Help("Duration of the VPBX OpenAPI requests by route template, in seconds.")
                   .Register(registry)),
      auth_failed(prometheus::BuildGauge()
                      .Name("vpbx_api_auth_failed")
                      .Help("1 while the API refuses the credentials (401/403) and every request "
                            "of the account is held back; 0 otherwise.")
                      .Register(registry)
                      .Add({})),
      auth_backoff(prometheus::BuildGauge()
                       .Name("vpbx_api_auth_backoff_seconds")
                       .Help("While the credentials are refused, the current wait between two "
                             "probe requests (it doubles up to api.auth_failure_backoff_max); 0 "
                             "otherwise.")
                       .Register(registry)
                       .Add({})) {}

namespace {

const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                0.5,   1,    2.5,   5,    10};
  return kBuckets;
}

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

std::string seconds_text(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + "s";
}

}  // namespace

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

  Impl(const config::ApiConfig& c, std::shared_ptr<ApiMetrics> m, std::shared_ptr<RateLimiter> l)
      : config(c),
        metrics(std::move(m)),
        limiter(std::move(l)),
        auth(config.auth_failure_backoff, config.auth_failure_backoff_max) {
    init_curl_once();
    if (metrics) {
      // A new client (start, reload) has not been refused yet.
      metrics->auth_failed.Set(0);
      metrics->auth_backoff.Set(0);
    }
    headers = curl_slist_append(headers, ("X-C5-Application: " + config.application_id).c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip on POST/PUT
    user_agent = std::string("vpbx_exporter/") + kVersion;
    const int slots = std::max(1, config.max_concurrent_requests);
    idle.reserve(static_cast<size_t>(slots));
  }

  ~Impl() {
    for (CURL* h : idle) curl_easy_cleanup(h);
    curl_slist_free_all(headers);
  }

  CURL* take_handle() {
    {
      std::lock_guard lock(pool_mutex);
      if (!idle.empty()) {
        CURL* h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void give_handle(CURL* h) {
    std::lock_guard lock(pool_mutex);
    if (static_cast<int>(idle.size()) < std::max(1, config.max_concurrent_requests)) {
      idle.push_back(h);
      return;
    }
    curl_easy_cleanup(h);  // more handles than slots (limits lowered by a reload)
  }

  log::ErrorLatch& latch_for(std::string_view endpoint) {
    std::lock_guard lock(latches_mutex);
    auto it = latches.find(endpoint);
    if (it == latches.end()) {
      it = latches.emplace(std::string(endpoint), std::make_unique<log::ErrorLatch>()).first;
    }
    return *it->second;
  }

  std::string scrub(std::string text) const {
    return detail::redact(std::move(text), {config.password, config.application_id});
  }

  // Sleeps unless cancelled; false when cancelled.
  bool sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(sleep_mutex);
    return !sleep_cv.wait_for(lock, d, [this] { return cancelled.load(); });
  }

  Attempt perform(CURL* h, Method method, const std::string& url, const std::string& body) {
    Attempt a;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_easy_reset(h);  // keeps the live connections and TLS sessions
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(h, CURLOPT_USERNAME, config.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, config.password.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(config.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout.count()));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // credentials never follow a redirect
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a.transfer);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &a.transfer);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &cancelled);
    if (!config.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config.ca_file.c_str());
    if (config.insecure_skip_verify) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    switch (method) {
      case Method::get:
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        break;
      case Method::post:
      case Method::put:
        if (method == Method::put) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        break;
      case Method::del:
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    }
    a.code = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
    if (a.code != CURLE_OK) {
      a.curl_error = error_buffer[0] ? error_buffer : curl_easy_strerror(a.code);
      if (a.transfer.too_large) a.curl_error = "answer larger than 32 MiB";
    }
    // Unset the pointers into this frame before the handle goes back to the pool.
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    return a;
  }

  void count(const std::string& endpoint, const Attempt& a, double seconds) {
    if (!metrics) return;
    std::string code;
    if (a.code == CURLE_OK || a.status > 0) {
      code = std::to_string(a.status);
    } else {
      code = a.code == CURLE_OPERATION_TIMEDOUT ? "timeout" : "error";
    }
    metrics->requests.Add({{"endpoint", endpoint}, {"code", code}}).Increment();
    metrics->duration.Add({{"endpoint", endpoint}}, duration_buckets()).Observe(seconds);
  }

  void log_failure(const std::string& endpoint, Method method, const Outcome& o) {
    if (o.kind == ErrorKind::auth) return;  // report_auth() logs the account's state changes
    // The state is the kind of failure, not its exact text: 500 then 503 is one outage.
    std::string state;
    switch (o.kind) {
      case ErrorKind::http:
        state = "http " + std::to_string(o.status / 100) + "xx";
        break;
      case ErrorKind::timeout:
        state = "timeout";
        break;
      case ErrorKind::parse:
        state = "parse";
        break;
      default:
        state = "transport";
        break;
    }
    if (latch_for(endpoint).fail(state)) {
      log::warn("VPBX API request failing", {{"endpoint", endpoint},
                                             {"method", method_name(method)},
                                             {"code", o.status},
                                             {"err", o.error}});
    }
  }

  void log_success(const std::string& endpoint) {
    if (latch_for(endpoint).recover()) {
      log::info("VPBX API request recovered", {{"endpoint", endpoint}});
    }
  }

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

  static Outcome held_outcome(std::chrono::milliseconds retry_in) {
    Outcome o{ErrorKind::auth, 0, {}, {}, true};
    o.error = "not sent: the API refused the credentials; ";
    o.error += retry_in.count() > 0 ? "next try in " + seconds_text(retry_in) : "a probe is out";
    return o;
  }

  // Whether an attempt may go. nullopt: yes (`probe` says if as the gate's probe); else the
  // local answer.
  std::optional<Outcome> pass_auth_gate(Probe& probe) {
    std::unique_lock lock(auth_mutex);
    for (;;) {
      if (cancelled.load()) return cancelled_outcome();
      const auto now = Clock::now();
      switch (auth.admit(now)) {
        case detail::AuthGate::Admit::send:
          return std::nullopt;
        case detail::AuthGate::Admit::probe:
          probe.impl = this;
          return std::nullopt;
        case detail::AuthGate::Admit::refuse:
          return held_outcome(auth.retry_in(now));
        case detail::AuthGate::Admit::wait:
          auth_cv.wait(lock);
          break;
      }
    }
  }

  // A request admitted before the backoff began, held by the limiter since: not sent either.
  std::optional<Outcome> refused_meanwhile(const Probe& probe) {
    if (probe.impl) return std::nullopt;
    std::lock_guard lock(auth_mutex);
    if (auth.state() != detail::AuthGate::State::refused) return std::nullopt;
    return held_outcome(auth.retry_in(Clock::now()));
  }

  // Tells the gate what an answered attempt says about the credentials; logs and shows changes.
  void report_auth(const std::string& endpoint, Method method, const Attempt& a, Probe& probe) {
    const auto answer = a.code == CURLE_OK ? detail::AuthGate::classify(a.status)
                                           : detail::AuthGate::Answer::unknown;
    detail::AuthGate::Change change;
    int failures = 0;
    std::chrono::milliseconds step{0};
    {
      std::lock_guard lock(auth_mutex);
      change = auth.report(answer, probe.impl != nullptr, Clock::now(), random01());
      failures = auth.failures();
      step = auth.step();
      if (metrics && change != detail::AuthGate::Change::none) {  // in order, under the lock
        metrics->auth_failed.Set(change == detail::AuthGate::Change::recovered ? 0 : 1);
        metrics->auth_backoff.Set(std::chrono::duration<double>(step).count());
      }
    }
    probe.impl = nullptr;
    auth_cv.notify_all();
    switch (change) {
      case detail::AuthGate::Change::none:
        return;
      case detail::AuthGate::Change::refused:
        log::error(
            "VPBX API refused the credentials; every request of the account is held back, "
            "but one probe per backoff step",
            {{"endpoint", endpoint},
             {"method", method_name(method)},
             {"code", a.status},
             {"retry_in", seconds_text(step)},
             {"hint", kAuthHint}});
        break;
      case detail::AuthGate::Change::refused_again:
        log::debug("VPBX API still refuses the credentials", {{"endpoint", endpoint},
                                                              {"code", a.status},
                                                              {"failures", failures},
                                                              {"retry_in", seconds_text(step)}});
        break;
      case detail::AuthGate::Change::recovered:
        log::info("VPBX API accepts the credentials again; requests resume",
                  {{"endpoint", endpoint}, {"code", a.status}});
        break;
    }
  }

  // Runs one call with the auth gate, limiter, retries and metrics. `endpoint` is the route
  // template.
  Outcome execute(Method method, const std::string& endpoint, const std::string& url,
                  const std::string& body) {
    Outcome out;
    const int max_retries = std::max(0, config.max_retries);
    for (int attempt = 0;; ++attempt) {
      if (cancelled.load()) return cancelled_outcome();
      Probe probe;
      if (auto held = pass_auth_gate(probe)) {
        // A retry the backoff holds back: the call ends with what its last attempt got.
        if (held->not_sent && attempt > 0) return out;
        return *held;
      }
      auto permit = limiter->acquire(&cancelled);
      if (!permit) return cancelled_outcome();
      if (auto held = refused_meanwhile(probe)) return attempt > 0 ? out : *held;
      CURL* h = take_handle();
      if (!h) return {ErrorKind::transport, 0, {}, "transport: cannot create a curl handle"};
      const auto started = Clock::now();
      Attempt a = perform(h, method, url, body);
      const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      give_handle(h);
      permit.release();
      count(endpoint, a, seconds);
      if (!(a.code == CURLE_ABORTED_BY_CALLBACK && cancelled.load())) {
        report_auth(endpoint, method, a, probe);
      }

      if (a.code == CURLE_OK && a.status >= 200 && a.status < 300) {
        out = {ErrorKind::none, a.status, std::move(a.transfer.body), {}};
        return out;
      }
      if (a.code == CURLE_ABORTED_BY_CALLBACK && cancelled.load()) return cancelled_outcome();

      bool retry = false;
      std::optional<std::chrono::milliseconds> wait;
      if (a.code != CURLE_OK) {
        out.status = 0;
        if (a.code == CURLE_OPERATION_TIMEDOUT) {
          out.kind = ErrorKind::timeout;
          out.error = "timeout after " + ms_text(config.timeout);
          retry = idempotent(method);
        } else {
          out.kind = ErrorKind::transport;
          out.error = "transport: " + scrub(a.curl_error);
          retry = !a.transfer.too_large && !tls_failure(a.code) &&
                  (idempotent(method) || connect_failure(a.code));
        }
      } else {
        out.status = a.status;
        out.error = "HTTP " + std::to_string(a.status);
        out.body = std::move(a.transfer.body);
        if (a.status == 401 || a.status == 403) {
          out.kind = ErrorKind::auth;
          out.error += ": credentials, application id or source IP refused";
        } else {
          out.kind = ErrorKind::http;
          if (a.transfer.retry_after) {
            wait = detail::parse_retry_after(*a.transfer.retry_after,
                                             std::chrono::system_clock::now());
          }
          if (a.status == 429) {
            retry = true;  // refused before any processing: safe for every method
          } else if (a.status == 503) {
            retry = idempotent(method) || wait.has_value();
          } else if (a.status >= 500 || a.status == 408) {
            retry = idempotent(method);
          }
          if (wait && *wait > kMaxRetryAfter) {
            out.error += " (Retry-After " + ms_text(*wait) + " is longer than we wait)";
            retry = false;
          }
        }
      }
      if (!retry || attempt >= max_retries) return out;

      auto delay = detail::backoff_delay(attempt, kBackoffBase, kBackoffCap, random01());
      if (wait) {
        // Honoured as given, plus a little jitter so that waiters do not return in a herd.
        delay = *wait + std::chrono::milliseconds(static_cast<std::int64_t>(random01() * 100));
      }
      log::debug("VPBX API request retried",
                 {{"endpoint", endpoint},
                  {"method", method_name(method)},
                  {"err", out.error},
                  {"attempt", attempt + 1},
                  {"delay_ms", static_cast<std::int64_t>(delay.count())}});
      if (!sleep_for(delay)) return cancelled_outcome();
    }
  }

  static Outcome cancelled_outcome() { return {ErrorKind::transport, 0, {}, "cancelled", false}; }

  // execute() + parse, with the state-change logging.
  template <typename T, typename Parse>
  Result<T> call(Method method, const std::string& endpoint, const std::string& url,
                 const std::string& body, Parse&& parse) {
    Result<T> result;
    Outcome o = execute(method, endpoint, url, body);
    result.http_status = o.status;
    if (o.kind != ErrorKind::none) {
      result.error_kind = o.kind;
      result.error = o.error;
      result.not_sent = o.not_sent;
      if (o.kind == ErrorKind::http) result.answer = o.body;
      if (o.error != "cancelled" && !o.not_sent) log_failure(endpoint, method, o);
      return result;
    }
    std::string why;
    std::optional<T> value = parse(o.body, o.status, &why);
    if (!value) {
      result.error_kind = ErrorKind::parse;
      result.error = "parse: " + why;
      log_failure(endpoint, method, {ErrorKind::parse, o.status, {}, result.error});
      return result;
    }
    result.value = std::move(value);
    log_success(endpoint);
    return result;
  }

  std::string url_for(std::string_view route,
                      const std::map<std::string, std::string>& params) const {
    return detail::join_url(config.url, detail::expand_path(route, params));
  }

  std::string call_log_query(const CallLogQuery& q) const {
    std::string s;
    auto add = [&s](const char* key, const std::string& value) {
      s += s.empty() ? '?' : '&';
      s += key;
      s += '=';
      s += detail::url_encode(value);
    };
    if (q.from_epoch_ms > 0) add("from", format_iso8601_ms(q.from_epoch_ms));
    if (q.to_epoch_ms > 0) add("to", format_iso8601_ms(q.to_epoch_ms));
    add("offset", std::to_string(std::max(0, q.offset)));
    if (q.limit > 0) add("limit", std::to_string(q.limit));
    return s;
  }
};

// Adapts a models.h parser to call()'s signature.
template <typename F>
auto parser(F f) {
  return [f](const std::string& body, long, std::string* why) { return f(body, why); };
}

Client::Client(const config::ApiConfig& config, std::shared_ptr<ApiMetrics> metrics)
    : Client(config, std::move(metrics), RateLimiter::process_wide()) {
  impl_->limiter->configure(config.max_requests_per_second, config.max_concurrent_requests);
}

Client::Client(const config::ApiConfig& config, std::shared_ptr<ApiMetrics> metrics,
               std::shared_ptr<RateLimiter> limiter)
    : impl_(std::make_unique<Impl>(
          config, std::move(metrics),
          limiter ? std::move(limiter)
                  : std::make_shared<RateLimiter>(config.max_requests_per_second,
                                                  config.max_concurrent_requests))) {}

Client::~Client() = default;

Result<ServerInfo> Client::get_server_info() {
  return impl_->call<ServerInfo>(Method::get, kRouteServer, impl_->url_for(kRouteServer, {}), {},
                                 parser(parse_server_info));
}

Result<std::vector<Feature>> Client::get_user_features(std::int64_t user_id) {
  return impl_->call<std::vector<Feature>>(
      Method::get, kRouteUserFeatures,
      impl_->url_for(kRouteUserFeatures, {{"user_id", std::to_string(user_id)}}), {},
      parser(parse_features));
}

Result<Feature> Client::get_feature(std::int64_t feature_id) {
  return impl_->call<Feature>(
      Method::get, kRouteFeature,
      impl_->url_for(kRouteFeature, {{"feature_id", std::to_string(feature_id)}}), {},
      parser(parse_feature));
}

Result<Feature> Client::put_feature(const Feature& feature) {
  return impl_->call<Feature>(
      Method::put, kRouteFeature,
      impl_->url_for(kRouteFeature, {{"feature_id", std::to_string(feature.id)}}), to_json(feature),
      parser(parse_feature));
}

Result<Presence> Client::get_presence(std::int64_t user_id) {
  const auto& route = impl_->config.paths.presence;
  return impl_->call<Presence>(Method::get, route,
                               impl_->url_for(route, {{"user_id", std::to_string(user_id)}}), {},
                               parser(parse_presence));
}

Result<std::vector<CallLog>> Client::get_user_call_logs(std::int64_t user_id,
                                                        const CallLogQuery& query) {
  const auto& route = impl_->config.paths.user_call_logs;
  return impl_->call<std::vector<CallLog>>(
      Method::get, route,
      impl_->url_for(route, {{"user_id", std::to_string(user_id)}}) + impl_->call_log_query(query),
      {}, parser(parse_call_logs));
}

Result<std::vector<CallLog>> Client::get_enterprise_call_logs(const std::string& enterprise,
                                                              const CallLogQuery& query) {
  const auto& route = impl_->config.paths.enterprise_call_logs;
  return impl_->call<std::vector<CallLog>>(
      Method::get, route,
      impl_->url_for(route, {{"enterprise", enterprise}}) + impl_->call_log_query(query), {},
      parser(parse_call_logs));
}

Result<std::vector<Subscription>> Client::list_subscriptions() {
  return impl_->call<std::vector<Subscription>>(Method::get, kRouteSubscriptions,
                                                impl_->url_for(kRouteSubscriptions, {}), {},
                                                parser(parse_subscriptions));
}

Result<Subscription> Client::create_subscription(const SubscriptionRequest& request) {
  return impl_->call<Subscription>(Method::post, kRouteSubscriptions,
                                   impl_->url_for(kRouteSubscriptions, {}), to_json(request),
                                   parser(parse_subscription));
}

Result<bool> Client::delete_subscription(const std::string& id) {
  const std::string url = impl_->url_for(kRouteSubscription, {{"id", id}});
  Outcome o = impl_->execute(Method::del, kRouteSubscription, url, {});
  Result<bool> result;
  result.http_status = o.status;
  if (o.kind == ErrorKind::none) {
    result.value = true;
    impl_->log_success(kRouteSubscription);
  } else if (o.kind == ErrorKind::http && o.status == 404) {
    result.value = false;  // already gone: what we wanted
    impl_->log_success(kRouteSubscription);
  } else {
    result.error_kind = o.kind;
    result.error = o.error;
    result.not_sent = o.not_sent;
    if (o.kind == ErrorKind::http) result.answer = o.body;
    if (o.error != "cancelled" && !o.not_sent) {
      impl_->log_failure(kRouteSubscription, Method::del, o);
    }
  }
  return result;
}

void Client::cancel() {
  impl_->cancelled.store(true);
  { std::lock_guard lock(impl_->sleep_mutex); }
  impl_->sleep_cv.notify_all();
  { std::lock_guard lock(impl_->auth_mutex); }
  impl_->auth_cv.notify_all();
  impl_->limiter->wake();
}

}  // namespace vpbx::api
