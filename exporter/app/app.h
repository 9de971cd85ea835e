#pragma once
// Wires the exporter together: config, API client, collectors, HTTP front; owns reloads.
//   pollers (timers) -> API client -> state  ;  /metrics -> snapshot of the state
// One process runs one implicit account or several named ones (account.h).

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/app/account.h"
#include "exporter/app/account_metrics.h"
#include "exporter/app/flags.h"
#include "exporter/config/config.h"
#include "exporter/http/server.h"
#include "exporter/webhook/router.h"

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
  // Re-reads --config.file; a bad one is refused and the running config stays. Accounts kept
  // carry on (their counters continue), new ones start, removed ones stop.
  ReloadResult reload();
  int port() const;

 private:
  // The accounts now, for a scrape, a push or the landing page.
  std::vector<std::shared_ptr<Account>> accounts() const;
  // Points the webhook router at the accounts' receivers; callers hold reload_mutex_.
  void route_webhooks();
  http::Response landing_page() const;

  Flags flags_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> process_;
  prometheus::Gauge& reload_successful_;
  prometheus::Gauge& reload_timestamp_;
  // Every account's sources of /metrics (account_metrics.h).
  std::shared_ptr<AccountFamilies> platforms_;
  std::shared_ptr<AccountStores> stores_;
  std::shared_ptr<AccountFamilies> push_health_;
  std::shared_ptr<AccountFamilies> registries_;  // named accounts'; the implicit one uses registry_
  std::shared_ptr<webhook::Router> router_;

  mutable std::mutex reload_mutex_;  // guards config_ and serialises start, stop and reloads
  config::Config config_;
  mutable std::mutex accounts_mutex_;  // guards accounts_
  std::vector<std::shared_ptr<Account>> accounts_;

  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Server> webhook_server_;  // with webhook.listen_address
};

// --config.file, with the flags that override it (--shard.*). Throws config::ConfigError.
config::Config load_config(const Flags& flags);

// The whole program: flags, logging, config, signals (SIGHUP reloads, SIGINT/SIGTERM stop).
int run(int argc, char** argv);

}  // namespace vpbx::app
