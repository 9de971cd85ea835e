#pragma once
// Wires the exporter together: config, API client, collectors, HTTP front; owns reloads.
//   pollers (timers) -> API client -> state  ;  /metrics -> snapshot of the state

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/api/client.h"
#include "exporter/app/flags.h"
#include "exporter/collectors/call_logs_collector.h"
#include "exporter/collectors/features_collector.h"
#include "exporter/collectors/poller.h"
#include "exporter/collectors/presence_collector.h"
#include "exporter/collectors/system_collector.h"
#include "exporter/config/config.h"
#include "exporter/http/server.h"
#include "exporter/state/persistence.h"
#include "exporter/state/store.h"
#include "exporter/subscriptions/manager.h"
#include "exporter/subscriptions/push_health.h"
#include "exporter/webhook/receiver.h"

namespace vpbx::app {

struct ReloadResult {
  bool ok = false;
  std::string error;  // the config error, naming the key; never a secret
};

class App {
 public:
  App(Flags flags, config::Config config, http::WebConfig web_config);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  void start();  // throws std::runtime_error when the listener cannot start
  void stop();
  // Re-reads --config.file; a bad one is refused and the running config stays.
  ReloadResult reload();
  int port() const;

 private:
  void start_collectors();  // with the current config; callers hold reload_mutex_
  // `mode`: on reload, subscriptions are handed over to the next manager, not deleted.
  void stop_collectors(subscriptions::StopMode mode);
  void notify_users_changed();
  // The interval a poller of `resource_type` uses now, and whom it tells of missed pushes.
  collectors::PollPacing pacing(const std::string& resource_type, config::Duration normal) const;
  http::Response landing_page() const;

  Flags flags_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<api::ApiMetrics> api_metrics_;
  std::shared_ptr<collectors::CollectorMetrics> collector_metrics_;
  std::shared_ptr<collectors::SweepMetrics> sweep_metrics_;
  std::shared_ptr<collectors::SystemCollector> system_;
  std::shared_ptr<state::Store> store_;
  std::shared_ptr<state::PersistenceMetrics> persistence_metrics_;
  std::unique_ptr<state::Persistence> persistence_;  // with a state_file; kept across reloads
  std::shared_ptr<prometheus::Collectable> process_;
  prometheus::Gauge& reload_successful_;
  prometheus::Gauge& reload_timestamp_;
  std::shared_ptr<subscriptions::PushHealth> push_health_;
  std::shared_ptr<subscriptions::SubscriptionMetrics> subscription_metrics_;
  std::shared_ptr<webhook::WebhookMetrics> webhook_metrics_;
  std::unique_ptr<webhook::Receiver> receiver_;

  mutable std::mutex reload_mutex_;  // guards config_, client_, pollers_
  config::Config config_;
  std::unique_ptr<api::Client> client_;
  std::vector<std::unique_ptr<collectors::Poller>> pollers_;
  std::unique_ptr<collectors::PresenceCollector> presence_;
  std::unique_ptr<collectors::FeaturesCollector> features_;
  std::unique_ptr<collectors::CallLogsCollector> call_logs_;
  mutable std::mutex subscriptions_mutex_;  // guards the pointer only: learn_user() calls in
  std::shared_ptr<subscriptions::Manager> subscriptions_;

  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Server> webhook_server_;  // with webhook.listen_address
};

// --config.file, with the flags that override it (--shard.*). Throws config::ConfigError.
config::Config load_config(const Flags& flags);

// The whole program: flags, logging, config, signals (SIGHUP reloads, SIGINT/SIGTERM stop).
int run(int argc, char** argv);

}  // namespace vpbx::app
