#include "exporter/app/app.h"

#include <prometheus/counter.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "exporter/app/landing_page.h"
#include "exporter/log/log.h"
#include "exporter/metrics/process_collector.h"
#include "vpbx/version.h"

namespace vpbx::app {
namespace {

double unix_now() {
  const std::chrono::duration<double> now = std::chrono::system_clock::now().time_since_epoch();
  return now.count();
}

// The API URL without any userinfo, for display.
std::string display_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto at = url.find('@');
  if (scheme_end == std::string::npos || at == std::string::npos) return url;
  const auto host_end = url.find('/', scheme_end + 3);
  if (host_end != std::string::npos && at > host_end) return url;
  return url.substr(0, scheme_end + 3) + url.substr(at + 1);
}

http::ServerOptions server_options(const std::string& listen_address,
                                   const std::string& telemetry_path,
                                   const http::WebConfig& web_config, std::size_t max_body_bytes) {
  http::ServerOptions options;
  options.listen_address = listen_address;
  options.telemetry_path = telemetry_path;
  options.web = web_config;
  options.max_body_bytes = max_body_bytes;
  return options;
}

// A miss found by polling keeps a type on the fallback interval for two fallback periods.
config::Duration missed_window(const config::Config& config) {
  return 2 * config.poll.fallback;
}

}  // namespace

config::Config load_config(const Flags& flags) {
  config::Config config = config::load_file(flags.config_file);
  config::override_shard(config, flags.shard_index, flags.shard_count);
  return config;
}

App::App(Flags flags, config::Config config, http::WebConfig web_config)
    : flags_(std::move(flags)),
      registry_(std::make_shared<prometheus::Registry>()),
      api_metrics_(std::make_shared<api::ApiMetrics>(*registry_)),
      collector_metrics_(std::make_shared<collectors::CollectorMetrics>(*registry_)),
      sweep_metrics_(std::make_shared<collectors::SweepMetrics>(*registry_)),
      system_(std::make_shared<collectors::SystemCollector>()),
      store_(std::make_shared<state::Store>()),
      persistence_metrics_(std::make_shared<state::PersistenceMetrics>(*registry_)),
      process_(std::make_shared<metrics::ProcessCollector>()),
      reload_successful_(prometheus::BuildGauge()
                             .Name("vpbx_config_last_reload_successful")
                             .Help("1 if the last configuration reload succeeded.")
                             .Register(*registry_)
                             .Add({})),
      reload_timestamp_(prometheus::BuildGauge()
                            .Name("vpbx_config_last_reload_success_timestamp_seconds")
                            .Help("Unix time of the last successful configuration load.")
                            .Register(*registry_)
                            .Add({})),
      push_health_(std::make_shared<subscriptions::PushHealth>(subscriptions::managed_types(config),
                                                               missed_window(config))),
      subscription_metrics_(std::make_shared<subscriptions::SubscriptionMetrics>(*registry_)),
      webhook_metrics_(std::make_shared<webhook::WebhookMetrics>(*registry_)),
      receiver_(std::make_unique<webhook::Receiver>(config.webhook, *store_, webhook_metrics_)),
      config_(std::move(config)),
      server_(std::make_unique<http::Server>(server_options(
          flags_.listen_address, flags_.telemetry_path, web_config,
          config_.webhook.listen_address.empty() ? config_.webhook.max_body_bytes
                                                 : http::ServerOptions{}.max_body_bytes))) {
  prometheus::BuildGauge()
      .Name("vpbx_exporter_build_info")
      .Help("The exporter's version and git revision; always 1.")
      .Register(*registry_)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
  reload_successful_.Set(1);
  reload_timestamp_.Set(unix_now());

  server_->add_collectable(system_);
  server_->add_text_source(store_);
  server_->add_collectable(push_health_);
  server_->add_collectable(registry_);
  server_->add_collectable(process_);

  receiver_->set_push_listener(
      [health = push_health_](const std::string& type) { health->push_received(type); });
  // The webhook: on the main listener, or on its own (which serves nothing else).
  if (config_.webhook.listen_address.empty()) {
    receiver_->register_routes(*server_);
  } else {
    webhook_server_ = std::make_unique<http::Server>(server_options(
        config_.webhook.listen_address, "", web_config, config_.webhook.max_body_bytes));
    receiver_->register_routes(*webhook_server_);
  }
  store_->set_users_changed_listener([this] { notify_users_changed(); });

  using http::Request;
  using http::Response;
  server_->route("GET", "/", [this](const Request&) { return landing_page(); });
  server_->route("GET", "/-/healthy",
                 [](const Request&) { return Response::text(200, "Healthy.\n"); });
  // Ready once a config is loaded and the collectors run: the constructor needs a valid config.
  server_->route("GET", "/-/ready", [](const Request&) { return Response::text(200, "Ready.\n"); });
  const auto reload_handler = [this](const Request&) {
    const ReloadResult result = reload();
    return result.ok ? Response::text(200, "Configuration reloaded.\n")
                     : Response::text(500, "Configuration not reloaded: " + result.error + "\n");
  };
  server_->route("POST", "/-/reload", reload_handler);
  server_->route("PUT", "/-/reload", reload_handler);
}

App::~App() {
  stop();
}

void App::start() {
  std::lock_guard lock(reload_mutex_);
  // The state first: the webhook may be called as soon as the listener is up.
  store_->configure(config_);
  if (!config_.state_file.empty()) {
    persistence_ = std::make_unique<state::Persistence>(
        config_.state_file, *store_, state::PersistenceOptions{}, persistence_metrics_);
    std::string error;
    if (!persistence_->import_if_fresh(config_.shard.import_state_files, error)) {
      throw std::runtime_error("shard.import_state_files: " + error);
    }
    persistence_->load();
    persistence_->start();
    receiver_->set_durability_check(
        [persistence = persistence_.get()] { return persistence->durable(); });
  }
  server_->start();
  if (webhook_server_) webhook_server_->start();
  start_collectors();
  log::info("listening", {{"address", flags_.listen_address},
                          {"port", server_->port()},
                          {"tls", server_->tls()},
                          {"users", config_.users.size()}});
}

void App::stop() {
  // No new pushes, then no new polls (the manager deletes our subscriptions), then the final
  // snapshot with whatever both counted.
  if (webhook_server_) webhook_server_->stop();
  if (server_) server_->stop();
  {
    std::lock_guard lock(reload_mutex_);
    stop_collectors(subscriptions::StopMode::shutdown);
  }
  if (persistence_) persistence_->stop();
}

int App::port() const {
  return server_->port();
}

void App::start_collectors() {
  store_->configure(config_);
  client_ = std::make_unique<api::Client>(config_.api, api_metrics_);
  const int workers = config_.api.max_concurrent_requests;
  if (config_.poll.server.count() > 0) {
    pollers_.push_back(std::make_unique<collectors::Poller>(
        "system", config_.poll.server, [this] { return system_->poll(*client_); },
        collector_metrics_));
  }
  if (config_.poll.presence.count() > 0) {
    presence_ = std::make_unique<collectors::PresenceCollector>(
        pacing("PRESENCE", config_.poll.presence), workers, *client_, *store_, collector_metrics_,
        sweep_metrics_);
  }
  if (config_.poll.features.count() > 0) {
    features_ = std::make_unique<collectors::FeaturesCollector>(
        pacing("FEATURE", config_.poll.features), workers, *client_, *store_, collector_metrics_,
        sweep_metrics_);
  }
  if (config_.poll.call_logs.count() > 0) {
    call_logs_ = std::make_unique<collectors::CallLogsCollector>(
        config_, pacing("CALL_LOG", config_.poll.call_logs), workers, *client_, *store_,
        collector_metrics_, sweep_metrics_);
  }
  {
    auto manager = std::make_shared<subscriptions::Manager>(
        config_, *client_,
        [store = store_] {
          std::vector<config::User> users;
          for (const auto& user : store->users()) users.push_back(user.identity);
          return users;
        },
        subscription_metrics_, push_health_);
    std::lock_guard lock(subscriptions_mutex_);
    subscriptions_ = std::move(manager);
  }
  subscriptions_->start();
  for (auto& poller : pollers_) poller->start();
  if (presence_) presence_->start();
  if (features_) features_->start();
  if (call_logs_) call_logs_->start();
}

collectors::PollPacing App::pacing(const std::string& resource_type,
                                   config::Duration normal) const {
  // Values, not config_: the pollers' threads call these while a reload rewrites config_.
  const config::Duration fallback = config_.poll.fallback;
  return {[health = push_health_, resource_type, normal, fallback] {
            return health->poll_interval(resource_type, normal, fallback);
          },
          [health = push_health_, resource_type] { health->poll_found_missed(resource_type); }};
}

void App::notify_users_changed() {
  std::shared_ptr<subscriptions::Manager> manager;
  {
    std::lock_guard lock(subscriptions_mutex_);
    manager = subscriptions_;
  }
  if (manager) manager->users_changed();
}

void App::stop_collectors(subscriptions::StopMode mode) {
  std::shared_ptr<subscriptions::Manager> manager;
  {
    std::lock_guard lock(subscriptions_mutex_);
    manager = std::move(subscriptions_);
  }
  // Before the client is cancelled: deleting our subscriptions needs it.
  if (manager) manager->stop(mode);
  // Sweeps that end now are cut short by the shutdown, not failures: tell them before cancelling.
  if (presence_) presence_->request_stop();
  if (features_) features_->request_stop();
  if (call_logs_) call_logs_->request_stop();
  if (client_) client_->cancel();  // a poll waiting on the API returns now
  for (auto& poller : pollers_) poller->stop();
  pollers_.clear();
  if (presence_) presence_->stop();
  if (features_) features_->stop();
  if (call_logs_) call_logs_->stop();
  presence_.reset();
  features_.reset();
  call_logs_.reset();
  client_.reset();
}

ReloadResult App::reload() {
  ReloadResult result;
  config::Config fresh;
  try {
    fresh = load_config(flags_);
  } catch (const config::ConfigError& e) {
    result.error = e.what();
  } catch (const std::exception& e) {
    result.error = std::string("config: ") + e.what();
  }
  if (!result.error.empty()) {
    reload_successful_.Set(0);
    log::error("config reload failed; keeping the running config", {{"err", result.error}});
    return result;
  }
  std::lock_guard lock(reload_mutex_);
  // Subscriptions go to the next manager when they still point at us; otherwise they are ours
  // to delete.
  const bool same_url =
      config::notification_url(fresh.webhook) == config::notification_url(config_.webhook);
  stop_collectors(same_url ? subscriptions::StopMode::handover : subscriptions::StopMode::shutdown);
  config_ = std::move(fresh);
  receiver_->reconfigure(config_.webhook);
  if (config_.webhook.listen_address.empty()) receiver_->register_routes(*server_);
  push_health_->configure(subscriptions::managed_types(config_), missed_window(config_));
  start_collectors();
  reload_successful_.Set(1);
  reload_timestamp_.Set(unix_now());
  log::info("config reloaded", {{"users", config_.users.size()}});
  result.ok = true;
  return result;
}

http::Response App::landing_page() const {
  LandingInfo info;
  info.telemetry_path = flags_.telemetry_path;
  {
    std::lock_guard lock(reload_mutex_);
    info.users = config_.users.size();
    info.enterprises = config_.enterprises.size();
    info.api_url = display_url(config_.api.url);
    info.shard_index = config_.shard.index;
    info.shard_count = config_.shard.count;
  }
  if (info.shard_count > 1) info.shard_users = store_->users().size();
  const auto status = system_->status();
  info.api_polled = status.polled;
  info.api_up = status.up;
  info.api_error = status.last_error;
  if (status.server) info.platform_version = status.server->build_version;
  std::shared_ptr<subscriptions::Manager> manager;
  {
    std::lock_guard lock(subscriptions_mutex_);
    manager = subscriptions_;
  }
  if (manager && manager->enabled()) {
    info.subscriptions_managed = true;
    for (const auto& sub : manager->status()) {
      info.subscriptions.push_back({sub.resource_type, sub.id, sub.scope,
                                    api::format_iso8601_ms(sub.expires_epoch_ms), sub.adopted});
    }
  }
  http::Response response;
  response.content_type = "text/html; charset=utf-8";
  response.body = render_landing_page(info);
  return response;
}

int run(int argc, char** argv) {
  Flags flags;
  try {
    flags = parse_flags(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::invalid_argument& e) {
    std::cerr << "vpbx_exporter: " << e.what() << "\n" << usage();
    return 2;
  }
  if (flags.help) {
    std::cout << usage();
    return 0;
  }
  if (flags.version) {
    std::cout << version_text();
    return 0;
  }
  const auto level = log::parse_level(flags.log_level);
  const auto format = log::parse_format(flags.log_format);
  if (!level || !format) {
    std::cerr << "vpbx_exporter: --log.level must be debug|info|warn|error and --log.format "
                 "logfmt|json\n";
    return 2;
  }
  log::configure(*level, *format);

  config::Config config;
  http::WebConfig web_config;
  try {
    config = load_config(flags);
    if (!flags.web_config_file.empty()) web_config = http::load_web_config(flags.web_config_file);
  } catch (const std::exception& e) {
    if (flags.config_check) {
      std::cerr << e.what() << "\n";
    } else {
      log::error("cannot load the configuration", {{"err", e.what()}});
    }
    return 1;
  }
  if (flags.config_check) {
    std::cout << "config OK: " << flags.config_file << " (" << config.users.size() << " users, "
              << config.enterprises.size() << " enterprises"
              << (config.shard.count > 1 ? ", shard " + std::to_string(config.shard.index) +
                                               " of " + std::to_string(config.shard.count)
                                         : std::string())
              << ")\n";
    return 0;
  }

  // Signals are taken synchronously by this thread; every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  log::info("starting vpbx_exporter", {{"version", kVersion}, {"revision", kRevision}});
  App app(flags, std::move(config), std::move(web_config));
  try {
    app.start();
  } catch (const std::exception& e) {
    log::error("cannot start", {{"err", e.what()}});
    return 1;
  }
  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      log::info("SIGHUP received, reloading the config");
      app.reload();
      continue;
    }
    log::info("shutting down", {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"}});
    break;
  }
  app.stop();
  return 0;
}

}  // namespace vpbx::app
