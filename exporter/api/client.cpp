#include "exporter/api/client.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <utility>

#include "exporter/api/client_impl.h"

namespace vpbx::api {
namespace {

// Route templates the paths of which are fixed (the seed shows them).
constexpr const char* kRouteServer = "v1/system/server";
constexpr const char* kRouteUserFeatures = "v1/users/{user_id}/feat";
constexpr const char* kRouteFeature = "v1/feat/{feature_id}";
constexpr const char* kRouteSubscriptions = "v1/subscriptions";
constexpr const char* kRouteSubscription = "v1/subscriptions/{id}";

}  // namespace

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

template <typename T, typename Parse>
Result<T> Client::Impl::call(Method method, const std::string& endpoint, const std::string& url,
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

std::string Client::Impl::url_for(std::string_view route,
                                  const std::map<std::string, std::string>& params) const {
  return detail::join_url(config.url, detail::expand_path(route, params));
}

std::string Client::Impl::call_log_query(const CallLogQuery& q) const {
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
