// One call: the auth gate, the limiter, the attempts and their retries, the metrics and logs.
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <random>

#include "exporter/api/client_impl.h"

namespace vpbx::api {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kBackoffBase = 200ms;
constexpr auto kBackoffCap = 10s;
// A longer Retry-After is not waited for: the call fails and the next poll tries again.
constexpr auto kMaxRetryAfter = 30s;

bool idempotent(Method m) {
  return m == Method::get || m == Method::del;
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

const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                0.5,   1,    2.5,   5,    10};
  return kBuckets;
}

}  // namespace

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

double random01() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

log::ErrorLatch& Client::Impl::latch_for(std::string_view endpoint) {
  std::lock_guard lock(latches_mutex);
  auto it = latches.find(endpoint);
  if (it == latches.end()) {
    it = latches.emplace(std::string(endpoint), std::make_unique<log::ErrorLatch>()).first;
  }
  return *it->second;
}

std::string Client::Impl::scrub(std::string text) const {
  return detail::redact(std::move(text), {config.password, config.application_id});
}

bool Client::Impl::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(sleep_mutex);
  return !sleep_cv.wait_for(lock, d, [this] { return cancelled.load(); });
}

void Client::Impl::count(const std::string& endpoint, const Attempt& a, double seconds) {
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

void Client::Impl::log_failure(const std::string& endpoint, Method method, const Outcome& o) {
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

void Client::Impl::log_success(const std::string& endpoint) {
  if (latch_for(endpoint).recover()) {
    log::info("VPBX API request recovered", {{"endpoint", endpoint}});
  }
}

Outcome Client::Impl::execute(Method method, const std::string& endpoint, const std::string& url,
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
          wait =
              detail::parse_retry_after(*a.transfer.retry_after, std::chrono::system_clock::now());
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

}  // namespace vpbx::api
