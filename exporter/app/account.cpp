#include "exporter/app/account.h"

#include "exporter/log/log.h"

namespace vpbx::app {
namespace {

// A miss found by polling keeps a type on the fallback interval for two fallback periods.
config::Duration missed_window(const config::Config& config) {
  return 2 * config.poll.fallback;
}

}  // namespace

std::string display_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto at = url.find('@');
  if (scheme_end == std::string::npos || at == std::string::npos) return url;
  const auto host_end = url.find('/', scheme_end + 3);
  if (host_end != std::string::npos && at > host_end) return url;
  return url.substr(0, scheme_end + 3) + url.substr(at + 1);
}

Account::Account(config::Config config, std::shared_ptr<prometheus::Registry> registry)
    : name_(config.account),
      registry_(std::move(registry)),
      api_metrics_(std::make_shared<api::ApiMetrics>(*registry_)),
      limiter_(std::make_shared<api::RateLimiter>(config.api.max_requests_per_second,
                                                  config.api.max_concurrent_requests)),
      collector_metrics_(std::make_shared<collectors::CollectorMetrics>(*registry_)),
      sweep_metrics_(std::make_shared<collectors::SweepMetrics>(*registry_)),
      system_(std::make_shared<collectors::SystemCollector>()),
      store_(std::make_shared<state::Store>()),
      persistence_metrics_(std::make_shared<state::PersistenceMetrics>(*registry_)),
      push_health_(std::make_shared<subscriptions::PushHealth>(subscriptions::managed_types(config),
                                                               missed_window(config))),
      subscription_metrics_(std::make_shared<subscriptions::SubscriptionMetrics>(*registry_)),
      webhook_metrics_(std::make_shared<webhook::WebhookMetrics>(*registry_)),
      receiver_(std::make_shared<webhook::Receiver>(config.webhook, *store_, webhook_metrics_)),
      config_(std::move(config)) {
  receiver_->set_push_listener(
      [health = push_health_](const std::string& type) { health->push_received(type); });
  store_->set_users_changed_listener([this] { notify_users_changed(); });
  // The state first: the webhook may be called as soon as the listener is up.
  store_->configure(config_);
}

Account::~Account() {
  stop();
}

void Account::restore() {
  log::AccountScope scope(name_);
  std::lock_guard lock(mutex_);
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
}

void Account::start() {
  log::AccountScope scope(name_);
  std::lock_guard lock(mutex_);
  if (!stopped_) start_collectors();
}

void Account::stop() {
  log::AccountScope scope(name_);
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    stop_collectors(subscriptions::StopMode::shutdown);
  }
  if (persistence_) persistence_->stop();
}

void Account::start_collectors() {
  store_->configure(config_);
  limiter_->configure(config_.api.max_requests_per_second, config_.api.max_concurrent_requests);
  client_ = std::make_unique<api::Client>(config_.api, api_metrics_, limiter_);
  // One pacing thread and as many pollers as the account may have requests in flight.
  pacer_ = std::make_shared<collectors::Pacer>(config_.api.max_concurrent_requests);
  if (config_.poll.server.count() > 0) {
    pollers_.push_back(std::make_unique<collectors::Poller>(
        "system", config_.poll.server, [this] { return system_->poll(*client_); },
        collector_metrics_, pacer_));
  }
  if (config_.poll.presence.count() > 0) {
    presence_ = std::make_unique<collectors::PresenceCollector>(
        pacing("PRESENCE", config_.poll.presence), pacer_, *client_, *store_, collector_metrics_,
        sweep_metrics_);
  }
  if (config_.poll.features.count() > 0) {
    features_ = std::make_unique<collectors::FeaturesCollector>(
        pacing("FEATURE", config_.poll.features), pacer_, *client_, *store_, collector_metrics_,
        sweep_metrics_);
  }
  if (config_.poll.call_logs.count() > 0) {
    call_logs_ = std::make_unique<collectors::CallLogsCollector>(
        config_, pacing("CALL_LOG", config_.poll.call_logs), pacer_, *client_, *store_,
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

collectors::PollPacing Account::pacing(const std::string& resource_type,
                                       config::Duration normal) const {
  // Values, not config_: the pollers' threads call these while a reload rewrites config_.
  const config::Duration fallback = config_.poll.fallback;
  return {[health = push_health_, resource_type, normal, fallback] {
            return health->poll_interval(resource_type, normal, fallback);
          },
          [health = push_health_, resource_type] { health->poll_found_missed(resource_type); }};
}

void Account::notify_users_changed() {
  std::shared_ptr<subscriptions::Manager> manager;
  {
    std::lock_guard lock(subscriptions_mutex_);
    manager = subscriptions_;
  }
  if (manager) manager->users_changed();
}

void Account::stop_collectors(subscriptions::StopMode mode) {
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
  pacer_.reset();  // its threads end: every collector is stopped
  client_.reset();
}

void Account::reload(config::Config fresh) {
  log::AccountScope scope(name_);
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  // Subscriptions go to the next manager when they still point at us; otherwise they are ours
  // to delete.
  const bool same_url =
      config::notification_url(fresh.webhook) == config::notification_url(config_.webhook);
  stop_collectors(same_url ? subscriptions::StopMode::handover : subscriptions::StopMode::shutdown);
  config_ = std::move(fresh);
  receiver_->reconfigure(config_.webhook);
  push_health_->configure(subscriptions::managed_types(config_), missed_window(config_));
  start_collectors();
}

AccountStatus Account::status() const {
  AccountStatus status;
  status.name = name_;
  {
    std::lock_guard lock(mutex_);
    status.api_url = display_url(config_.api.url);
    status.users = config_.users.size();
    status.enterprises = config_.enterprises.size();
    if (config_.shard.count > 1) status.shard_users = store_->users().size();
  }
  status.platform = system_->status();
  std::shared_ptr<subscriptions::Manager> manager;
  {
    std::lock_guard lock(subscriptions_mutex_);
    manager = subscriptions_;
  }
  if (manager && manager->enabled()) {
    status.subscriptions_managed = true;
    status.subscriptions = manager->status();
  }
  return status;
}

}  // namespace vpbx::app
