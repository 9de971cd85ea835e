#include "exporter/app/app.h"

#include <prometheus/counter.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

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

// A named account's metrics live in its own registry, labelled at scrape time; the implicit
// account's in the process' registry, as they always were.
std::shared_ptr<Account> make_account(const config::Config& config,
                                      const std::shared_ptr<prometheus::Registry>& process) {
  return std::make_shared<Account>(
      config, config.account.empty() ? process : std::make_shared<prometheus::Registry>());
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
      router_(std::make_shared<webhook::Router>()),
      config_(std::move(config)),
      server_(std::make_unique<http::Server>(server_options(
          flags_.listen_address, flags_.telemetry_path, web_config,
          config_.webhook.listen_address.empty() ? config_.webhook.max_body_bytes
                                                 : http::ServerOptions{}.max_body_bytes))) {
  for (const auto& account : config::account_configs(config_)) {
    accounts_.push_back(make_account(account, registry_));
  }
  prometheus::BuildGauge()
      .Name("vpbx_exporter_build_info")
      .Help("The exporter's version and git revision; always 1.")
      .Register(*registry_)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
  reload_successful_.Set(1);
  reload_timestamp_.Set(unix_now());

  using Sources = AccountFamilies::Sources;
  const auto sources = [this](auto pick, bool named_only) -> Sources {
    return [this, pick, named_only] {
      std::vector<std::pair<std::string, std::shared_ptr<prometheus::Collectable>>> out;
      for (const auto& account : accounts()) {
        if (named_only && account->name().empty()) continue;
        out.emplace_back(account->name(), pick(*account));
      }
      return out;
    };
  };
  platforms_ = std::make_shared<AccountFamilies>(
      sources([](const Account& a) { return a.system(); }, false));
  stores_ = std::make_shared<AccountStores>([this] {
    std::vector<std::shared_ptr<const state::Store>> out;
    for (const auto& account : accounts()) out.push_back(account->store());
    return out;
  });
  push_health_ = std::make_shared<AccountFamilies>(
      sources([](const Account& a) { return a.push_health(); }, false));
  registries_ = std::make_shared<AccountFamilies>(sources(
      [](const Account& a) -> std::shared_ptr<prometheus::Collectable> { return a.registry(); },
      true));
  server_->add_text_source(platforms_);
  server_->add_text_source(stores_);
  server_->add_text_source(push_health_);
  server_->add_text_source(registries_);
  server_->add_collectable(registry_);
  server_->add_collectable(process_);

  // The webhook: on the main listener, or on its own (which serves nothing else).
  route_webhooks();
  if (config_.webhook.listen_address.empty()) {
    router_->register_routes(*server_);
  } else {
    webhook_server_ = std::make_unique<http::Server>(server_options(
        config_.webhook.listen_address, "", web_config, config_.webhook.max_body_bytes));
    router_->register_routes(*webhook_server_);
  }

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

std::vector<std::shared_ptr<Account>> App::accounts() const {
  std::lock_guard lock(accounts_mutex_);
  return accounts_;
}

void App::route_webhooks() {
  std::shared_ptr<webhook::Receiver> implicit;
  std::map<std::string, std::shared_ptr<webhook::Receiver>> named;
  for (const auto& account : accounts()) {
    // Owning the account: a push in flight while a reload removes it keeps its store alive.
    std::shared_ptr<webhook::Receiver> receiver(account, account->receiver().get());
    if (account->name().empty()) {
      implicit = std::move(receiver);
    } else {
      named.emplace(account->name(), std::move(receiver));
    }
  }
  router_->set(config_.webhook.path, std::move(implicit), std::move(named));
}

void App::start() {
  std::lock_guard lock(reload_mutex_);
  // The state first: the webhook may be called as soon as the listener is up.
  for (const auto& account : accounts()) account->restore();
  server_->start();
  if (webhook_server_) webhook_server_->start();
  for (const auto& account : accounts()) account->start();
  std::size_t users = 0;
  for (const auto& account : config::account_configs(config_)) users += account.users.size();
  log::info("listening", {{"address", flags_.listen_address},
                          {"port", server_->port()},
                          {"tls", server_->tls()},
                          {"users", users}});
}

void App::stop() {
  // No new pushes, then no new polls (the managers delete our subscriptions), then the final
  // snapshots with whatever both counted.
  if (webhook_server_) webhook_server_->stop();
  if (server_) server_->stop();
  std::lock_guard lock(reload_mutex_);
  for (const auto& account : accounts()) account->stop();
}

int App::port() const {
  return server_->port();
}

ReloadResult App::reload() {
  ReloadResult result;
  config::Config fresh;
  try {
    fresh = load_config(flags_);
    // The implicit account's series have no account label and its metrics live in the process'
    // registry: turning it into named accounts (or back) is a restart.
    if (fresh.accounts.empty() != config_.accounts.empty()) {
      throw config::ConfigError("accounts", 0,
                                "moving between one implicit account and named accounts needs a "
                                "restart, not a reload");
    }
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
  const auto running = accounts();
  std::vector<std::shared_ptr<Account>> next, added, removed;
  for (const auto& account_config : config::account_configs(fresh)) {
    const auto same = std::find_if(running.begin(), running.end(), [&](const auto& a) {
      return a->name() == account_config.account;
    });
    if (same != running.end()) {
      (*same)->reload(account_config);
      next.push_back(*same);
      continue;
    }
    auto account = make_account(account_config, registry_);
    try {
      account->restore();
    } catch (const std::exception& e) {
      log::error("cannot start an added account; it is left out",
                 {{"account", account_config.account}, {"err", e.what()}});
      continue;
    }
    next.push_back(account);
    added.push_back(std::move(account));
  }
  for (const auto& account : running) {
    if (std::find(next.begin(), next.end(), account) == next.end()) removed.push_back(account);
  }
  config_ = std::move(fresh);
  {
    std::lock_guard accounts_lock(accounts_mutex_);
    accounts_ = next;
  }
  route_webhooks();
  if (config_.webhook.listen_address.empty()) router_->register_routes(*server_);
  for (const auto& account : added) account->start();
  // No push reaches a removed account any more; its series go with it.
  for (const auto& account : removed) account->stop();
  reload_successful_.Set(1);
  reload_timestamp_.Set(unix_now());
  std::size_t users = 0;
  for (const auto& account : config::account_configs(config_)) users += account.users.size();
  log::info(
      "config reloaded",
      {{"users", users}, {"accounts_added", added.size()}, {"accounts_removed", removed.size()}});
  result.ok = true;
  return result;
}

http::Response App::landing_page() const {
  LandingInfo info;
  info.telemetry_path = flags_.telemetry_path;
  {
    std::lock_guard lock(reload_mutex_);
    info.shard_index = config_.shard.index;
    info.shard_count = config_.shard.count;
  }
  for (const auto& account : accounts()) {
    const AccountStatus status = account->status();
    LandingAccount entry;
    entry.name = status.name;
    entry.users = status.users;
    entry.enterprises = status.enterprises;
    entry.shard_users = status.shard_users;
    entry.api_url = status.api_url;
    entry.api_polled = status.platform.polled;
    entry.api_up = status.platform.up;
    entry.api_error = status.platform.last_error;
    if (status.platform.server) entry.platform_version = status.platform.server->build_version;
    entry.subscriptions_managed = status.subscriptions_managed;
    for (const auto& sub : status.subscriptions) {
      entry.subscriptions.push_back({sub.resource_type, sub.id, sub.scope,
                                     api::format_iso8601_ms(sub.expires_epoch_ms), sub.adopted});
    }
    info.accounts.push_back(std::move(entry));
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
    std::size_t users = 0, enterprises = 0;
    for (const auto& account : config::account_configs(config)) {
      users += account.users.size();
      enterprises += account.enterprises.size();
    }
    std::cout << "config OK: " << flags.config_file << " ("
              << (config.accounts.empty() ? std::string()
                                          : std::to_string(config.accounts.size()) + " accounts, ")
              << users << " users, " << enterprises << " enterprises"
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
