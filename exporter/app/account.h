#pragma once
// One account (one OpenAPI login) and everything it runs: its API client (own rate limit and
// concurrency), pollers, state store and state file, webhook receiver, subscription manager and
// metrics. Accounts share nothing but the process: one failing never delays another, and a
// reload adds or removes one without touching the others.

#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/api/client.h"
#include "exporter/api/rate_limiter.h"
#include "exporter/collectors/call_logs_collector.h"
#include "exporter/collectors/features_collector.h"
#include "exporter/collectors/pacer.h"
#include "exporter/collectors/poller.h"
#include "exporter/collectors/presence_collector.h"
#include "exporter/collectors/system_collector.h"
#include "exporter/config/config.h"
#include "exporter/state/persistence.h"
#include "exporter/state/store.h"
#include "exporter/subscriptions/manager.h"
#include "exporter/subscriptions/push_health.h"
#include "exporter/webhook/receiver.h"

namespace vpbx::app {

// What the landing page shows of an account.
struct AccountStatus {
  std::string name;
  std::string api_url;  // without userinfo
  std::size_t users = 0;
  std::size_t enterprises = 0;
  std::size_t shard_users = 0;
  collectors::PlatformStatus platform;
  bool subscriptions_managed = false;
  std::vector<subscriptions::SubscriptionStatus> subscriptions;
};

class Account {
 public:
  // `registry`: where its metrics go. The implicit account uses the process' registry (so one
  // account's output is what it always was); a named one gets its own, labelled at scrape time.
  Account(config::Config config, std::shared_ptr<prometheus::Registry> registry);
  ~Account();
  Account(const Account&) = delete;
  Account& operator=(const Account&) = delete;

  const std::string& name() const { return name_; }
  // Restores the state file (before the webhook is served). Throws std::runtime_error when a
  // resharding import fails.
  void restore();
  // Starts the pollers and the subscription manager.
  void start();
  // Stops the pollers (the manager deletes its subscriptions), then writes the state file.
  void stop();
  // The next config of the same account: pollers restart with it, the state and the counters
  // stay (the state file is the one it started with).
  void reload(config::Config fresh);

  std::shared_ptr<webhook::Receiver> receiver() const { return receiver_; }
  std::shared_ptr<const state::Store> store() const { return store_; }
  // Its metric sources in exposition order: platform, push health, registry.
  std::shared_ptr<prometheus::Collectable> system() const { return system_; }
  std::shared_ptr<prometheus::Collectable> push_health() const { return push_health_; }
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  AccountStatus status() const;

 private:
  void start_collectors();  // callers hold mutex_
  void stop_collectors(subscriptions::StopMode mode);
  void notify_users_changed();
  collectors::PollPacing pacing(const std::string& resource_type, config::Duration normal) const;

  const std::string name_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<api::ApiMetrics> api_metrics_;
  // The account's own limits at the platform: kept across reloads (its window with them), never
  // shared with another account, whose hung or throttled requests must not hold this one's slots.
  std::shared_ptr<api::RateLimiter> limiter_;
  std::shared_ptr<collectors::CollectorMetrics> collector_metrics_;
  std::shared_ptr<collectors::SweepMetrics> sweep_metrics_;
  std::shared_ptr<collectors::SystemCollector> system_;
  std::shared_ptr<state::Store> store_;
  std::shared_ptr<state::PersistenceMetrics> persistence_metrics_;
  std::unique_ptr<state::Persistence> persistence_;
  std::shared_ptr<subscriptions::PushHealth> push_health_;
  std::shared_ptr<subscriptions::SubscriptionMetrics> subscription_metrics_;
  std::shared_ptr<webhook::WebhookMetrics> webhook_metrics_;
  std::shared_ptr<webhook::Receiver> receiver_;

  mutable std::mutex mutex_;  // guards config_, client_ and the collectors
  config::Config config_;
  std::unique_ptr<api::Client> client_;
  std::shared_ptr<collectors::Pacer> pacer_;  // declared before the collectors that use it
  std::vector<std::unique_ptr<collectors::Poller>> pollers_;
  std::unique_ptr<collectors::PresenceCollector> presence_;
  std::unique_ptr<collectors::FeaturesCollector> features_;
  std::unique_ptr<collectors::CallLogsCollector> call_logs_;
  mutable std::mutex subscriptions_mutex_;  // guards the pointer only: learn_user() calls in
  std::shared_ptr<subscriptions::Manager> subscriptions_;
  bool stopped_ = false;
};

// The API URL without any userinfo, for display.
std::string display_url(const std::string& url);

}  // namespace vpbx::app
