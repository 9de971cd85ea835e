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

http::ServerOptions server_options(const Flags& flags, http::WebConfig web_config) {
  http::ServerOptions options;
  options.listen_address = flags.listen_address;
  options.telemetry_path = flags.telemetry_path;
  options.web = std::move(web_config);
  return options;
}

}  // namespace

App::App(Flags flags, config::Config config, http::WebConfig web_config)
    : flags_(std::move(flags)),
      registry_(std::make_shared<prometheus::Registry>()),
      api_metrics_(std::make_shared<api::ApiMetrics>(*registry_)),
      collector_metrics_(std::make_shared<collectors::CollectorMetrics>(*registry_)),
      sweep_metrics_(std::make_shared<collectors::SweepMetrics>(*registry_)),
      system_(std::make_shared<collectors::SystemCollector>()),
      store_(std::make_shared<state::Store>()),
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
      config_(std::move(config)),
      server_(std::make_unique<http::Server>(server_options(flags_, std::move(web_config)))) {
  prometheus::BuildGauge()
      .Name("vpbx_exporter_build_info")
      .Help("The exporter's version and git revision; always 1.")
      .Register(*registry_)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
  reload_successful_.Set(1);
  reload_timestamp_.Set(unix_now());

  server_->add_collectable(system_);
  server_->add_collectable(store_);
  server_->add_collectable(registry_);
  server_->add_collectable(process_);

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
  server_->start();
  std::lock_guard lock(reload_mutex_);
  store_->configure(config_);
  if (!config_.state_file.empty()) {
    persistence_ = std::make_unique<state::Persistence>(config_.state_file, *store_);
    persistence_->load();
    persistence_->start();
  }
  start_collectors();
  log::info("listening", {{"address", flags_.listen_address},
                          {"port", server_->port()},
                          {"tls", server_->tls()},
                          {"users", config_.users.size()}});
}

void App::stop() {
  {
    std::lock_guard lock(reload_mutex_);
    stop_collectors();
  }
  if (server_) server_->stop();
  // Last: whatever the collectors and the webhook counted goes into the final snapshot.
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
  for (auto& poller : pollers_) poller->start();
  if (presence_) presence_->start();
  if (features_) features_->start();
  if (call_logs_) call_logs_->start();
}

collectors::PollPacing App::pacing(const std::string& /*resource_type*/,
                                   config::Duration normal) const {
  return {[normal] { return normal; }, {}};
}

void App::stop_collectors() {
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
    fresh = config::load_file(flags_.config_file);
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
  stop_collectors();
  config_ = std::move(fresh);
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
  }
  const auto status = system_->status();
  info.api_polled = status.polled;
  info.api_up = status.up;
  info.api_error = status.last_error;
  if (status.server) info.platform_version = status.server->build_version;
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
    config = config::load_file(flags.config_file);
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
              << config.enterprises.size() << " enterprises)\n";
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
