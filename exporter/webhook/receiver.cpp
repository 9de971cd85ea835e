#include "exporter/webhook/receiver.h"

#include <chrono>
#include <exception>

#include "exporter/api/models.h"
#include "exporter/log/log.h"

namespace vpbx::webhook {
namespace {

constexpr std::array<state::EventOutcome, kEventOutcomeCount> kOutcomes{
    state::EventOutcome::applied, state::EventOutcome::duplicate,
    state::EventOutcome::invalid, state::EventOutcome::unknown_user,
    state::EventOutcome::ignored, state::EventOutcome::other_shard};

std::size_t type_index(std::string_view resource_type) {
  for (std::size_t i = 0; i + 1 < kResourceTypes.size(); ++i) {
    if (kResourceTypes[i] == resource_type) return i;
  }
  return kResourceTypes.size() - 1;  // unknown: the label never takes a value from the body
}

std::size_t outcome_index(state::EventOutcome outcome) {
  for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
    if (kOutcomes[i] == outcome) return i;
  }
  return 2;  // invalid
}

// What a 503 asks the platform to wait; the state's writer retries every second.
constexpr int kRetryAfterSeconds = 5;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The same answer as the server's for a path it does not know, so that a wrong token reveals
// nothing.
http::Response not_found() {
  return http::Response::text(404, "404 page not found\n");
}

}  // namespace

WebhookMetrics::WebhookMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("vpbx_webhook_requests_total")
                    .Help("Webhook requests by the HTTP status code of the answer.")
                    .Register(registry)),
      events_(prometheus::BuildCounter()
                  .Name("vpbx_webhook_events_total")
                  .Help("Pushed events by resource type and what became of them; refused bodies "
                        "count once as resource_type=\"unknown\", outcome=\"invalid\".")
                  .Register(registry)),
      last_event_(prometheus::BuildGauge()
                      .Name("vpbx_last_event_timestamp_seconds")
                      .Help("When the newest push carrying events of this resource type was "
                            "received (0: none since the start).")
                      .Register(registry)) {
  for (std::size_t i = 0; i < kStatusCodes.size(); ++i) {
    request_counters_[i] = &requests_.Add({{"code", std::to_string(kStatusCodes[i])}});
  }
  for (std::size_t t = 0; t < kResourceTypes.size(); ++t) {
    const std::string type(kResourceTypes[t]);
    for (std::size_t o = 0; o < kOutcomes.size(); ++o) {
      // Known types: every outcome but "ignored" and "other_shard" (only a sharded replica
      // meets it) is visible at 0; unknown: invalid and ignored.
      const bool unknown = t == kResourceTypes.size() - 1;
      const bool ignored = kOutcomes[o] == state::EventOutcome::ignored;
      const bool invalid = kOutcomes[o] == state::EventOutcome::invalid;
      const bool other_shard = kOutcomes[o] == state::EventOutcome::other_shard;
      if (unknown ? (ignored || invalid) : !(ignored || other_shard)) {
        event_counters_[t][o] = &events_.Add(
            {{"resource_type", type}, {"outcome", std::string(to_string(kOutcomes[o]))}});
      }
    }
    if (t < last_event_gauges_.size()) {
      last_event_gauges_[t] = &last_event_.Add({{"resource_type", type}});
    }
  }
}

void WebhookMetrics::count_request(int code) {
  for (std::size_t i = 0; i < kStatusCodes.size(); ++i) {
    if (kStatusCodes[i] == code) {
      request_counters_[i]->Increment();
      return;
    }
  }
  requests_.Add({{"code", std::to_string(code)}}).Increment();  // bounded: codes we answer
}

void WebhookMetrics::count_event(std::string_view resource_type, state::EventOutcome outcome) {
  const std::size_t t = type_index(resource_type);
  const std::size_t o = outcome_index(outcome);
  if (prometheus::Counter* counter = event_counters_[t][o]) {
    counter->Increment();
    return;
  }
  events_
      .Add({{"resource_type", std::string(kResourceTypes[t])},
            {"outcome", std::string(to_string(kOutcomes[o]))}})
      .Increment();
}

void WebhookMetrics::mark_received(std::string_view resource_type, double unix_seconds) {
  const std::size_t t = type_index(resource_type);
  if (t < last_event_gauges_.size()) last_event_gauges_[t]->Set(unix_seconds);
}

Receiver::Receiver(const config::WebhookConfig& config, state::Store& store,
                   std::shared_ptr<WebhookMetrics> metrics)
    : store_(store), metrics_(std::move(metrics)), settings_(make_settings(config)) {}

std::shared_ptr<const Receiver::Settings> Receiver::make_settings(
    const config::WebhookConfig& config) {
  auto settings = std::make_shared<Settings>();
  settings->config = config;
  // The config loader has validated every entry; one that still fails to parse is skipped,
  // which narrows what is allowed, never widens it (an empty list with entries configured
  // allows nothing: see answer()).
  for (const auto& text : config.allowed_networks) {
    if (auto n = config::parse_network(text)) settings->allowed.push_back(*n);
  }
  for (const auto& text : config.trusted_proxies) {
    if (auto n = config::parse_network(text)) settings->trusted.push_back(*n);
  }
  return settings;
}

void Receiver::set_push_listener(std::function<void(const std::string&)> listener) {
  push_listener_ = std::move(listener);
}

void Receiver::set_durability_check(std::function<bool()> check) {
  durable_ = std::move(check);
}

void Receiver::reconfigure(const config::WebhookConfig& config) {
  auto next = make_settings(config);
  std::lock_guard lock(settings_mutex_);
  settings_ = std::move(next);
}

std::shared_ptr<const Receiver::Settings> Receiver::settings() const {
  std::lock_guard lock(settings_mutex_);
  return settings_;
}

void Receiver::register_routes(http::Server& server) {
  const auto current = settings();
  if (!current->config.enabled()) return;
  std::lock_guard lock(routes_mutex_);
  if (!registered_paths_.insert(current->config.path).second) return;
  // Every method reaches handle(), so that a wrong token is a 404 whatever the method. Quick:
  // handle() only parses and applies in memory (see the header), so small pushes are answered
  // on the I/O thread.
  for (const char* method : {"POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    server.route_prefix(
        method, current->config.path, [this](const http::Request& r) { return handle(r); },
        http::Server::Access::public_route, http::Server::Cost::quick);
  }
}

http::Response Receiver::handle(const http::Request& request) {
  http::Response response;
  try {
    response = answer(*settings(), request);
  } catch (const std::exception& e) {
    // Only allocation failures can get here; the store may hold part of the body.
    log::error("webhook request failed", {{"error", e.what()}});
    response = http::Response::text(500, "Internal Server Error\n");
  } catch (...) {
    response = http::Response::text(500, "Internal Server Error\n");
  }
  try {
    metrics_->count_request(response.status);
  } catch (...) {
    // Counting must not turn an answer into a failure.
  }
  return response;
}

http::Response Receiver::refuse_body(std::string_view reason, const std::string& client) {
  metrics_->count_event("unknown", state::EventOutcome::invalid);
  // The reason only: the body holds personal data (call party numbers).
  std::size_t repeats = 0;
  const std::string kind = detail::error_kind(reason);
  if (warnings_.should_log(kind, repeats)) {
    log::warn("webhook refused a malformed push body",
              {{"reason", kind}, {"client", client}, {"repeats_since_last_log", repeats}});
  }
  return http::Response::text(400, "Bad Request: " + kind + "\n");
}

http::Response Receiver::answer(const Settings& settings, const http::Request& request) {
  const config::WebhookConfig& config = settings.config;
  if (!config.enabled()) return not_found();
  // After a reload that moved the webhook, the old path's routes still lead here.
  const std::string_view path(request.path);
  if (path.compare(0, config.path.size(), config.path) != 0) return not_found();
  const std::string_view rest = path.substr(config.path.size());

  // Networks first: a client from elsewhere learns nothing about the token, not even by 404s.
  std::string client;
  if (!config.allowed_networks.empty()) {
    client = detail::client_address(request.remote_address, request.header("x-forwarded-for"),
                                    settings.trusted);
    if (!detail::in_any(settings.allowed, client)) {
      std::size_t repeats = 0;
      if (warnings_.should_log("network not allowed", repeats)) {
        log::warn("webhook request from a network not in webhook.allowed_networks",
                  {{"client", client}, {"repeats_since_last_log", repeats}});
      }
      return http::Response::text(403, "Forbidden\n");
    }
  }

  // Then the token, before anything that would tell a real path from a made-up one.
  if (config.token.empty()) {
    // allow_unauthenticated: the path itself, nothing below it.
    if (!rest.empty()) return not_found();
  } else {
    const std::string_view candidate = rest.empty() || rest.front() != '/' ? "" : rest.substr(1);
    const bool match = detail::constant_time_equals(config.token, candidate);
    if (!match || rest.empty() || rest.front() != '/') return not_found();
  }

  if (request.method != "POST") {
    http::Response response = http::Response::text(405, "Method Not Allowed\n");
    response.headers.emplace_back("Allow", "POST");
    return response;
  }
  if (!detail::is_json_content_type(request.header("content-type"))) {
    return http::Response::text(415, "Unsupported Media Type: send application/json\n");
  }
  // The server refuses larger bodies before reading them when its limit is the same; this
  // holds when the webhook shares a listener whose limit is larger.
  if (request.body.size() > config.max_body_bytes) {
    return http::Response::text(413, "Request body too large\n");
  }
  if (client.empty()) client = request.remote_address;

  if (request.body.empty()) return refuse_body("empty body", client);
  if (auto problem = detail::check_json_text(request.body)) return refuse_body(*problem, client);
  std::string error;
  const auto body = api::parse_push_body(request.body, &error);
  if (!body) return refuse_body(error, client);
  // A known *Events key holding something else than an array, or an entry that is not an
  // object: the body is not what the platform sends, so none of it is applied.
  if (body->invalid_events > 0)
    return refuse_body("an event or event list of the wrong type", client);
  if (body->call_log_events.empty() && body->feature_events.empty() &&
      body->presence_events.empty() && body->unknown_event_kinds.empty() &&
      !detail::has_events_array(request.body)) {
    return refuse_body("no *Events array", client);
  }

  if (durable_ && !durable_()) {
    // Nothing applied: the platform retries. The state's writer logs why, once.
    http::Response response =
        http::Response::text(503, "Service Unavailable: the state file cannot be written\n");
    response.headers.emplace_back("Retry-After", std::to_string(kRetryAfterSeconds));
    return response;
  }

  const double now = unix_now();
  for (const auto& [events, type] : {std::pair{body->call_log_events.size(), "CALL_LOG"},
                                     {body->feature_events.size(), "FEATURE"},
                                     {body->presence_events.size(), "PRESENCE"}}) {
    if (events == 0) continue;
    metrics_->mark_received(type, now);
    if (push_listener_) push_listener_(type);
  }
  for (const auto& applied : store_.apply_push(*body)) {
    metrics_->count_event(applied.resource_type, applied.outcome);
  }
  if (log::enabled(log::Level::debug)) {
    log::debug("webhook push applied", {{"call_log_events", body->call_log_events.size()},
                                        {"feature_events", body->feature_events.size()},
                                        {"presence_events", body->presence_events.size()}});
  }
  return http::Response::text(200, "");
}

}  // namespace vpbx::webhook
