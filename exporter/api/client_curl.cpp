// One exchange with the platform over a pooled, long-lived curl handle (its connection and TLS
// session are reused): the request as configured, the answer as it came.
#include <algorithm>
#include <cctype>

#include "exporter/api/client_impl.h"
#include "vpbx/version.h"

namespace vpbx::api {
namespace {

// Answers are small (a page of call logs); anything larger is not the API we know.
constexpr std::size_t kMaxBodyBytes = 32u << 20;

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

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

}  // namespace

Client::Impl::Impl(const config::ApiConfig& c, std::shared_ptr<ApiMetrics> m,
                   std::shared_ptr<RateLimiter> l)
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

Client::Impl::~Impl() {
  for (CURL* h : idle) curl_easy_cleanup(h);
  curl_slist_free_all(headers);
}

CURL* Client::Impl::take_handle() {
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

void Client::Impl::give_handle(CURL* h) {
  std::lock_guard lock(pool_mutex);
  if (static_cast<int>(idle.size()) < std::max(1, config.max_concurrent_requests)) {
    idle.push_back(h);
    return;
  }
  curl_easy_cleanup(h);  // more handles than slots (limits lowered by a reload)
}

Attempt Client::Impl::perform(CURL* h, Method method, const std::string& url,
                              const std::string& body) {
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
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.connect_timeout.count()));
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

}  // namespace vpbx::api
