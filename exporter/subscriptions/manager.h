#pragma once
// The subscription manager: keeps the exporter's own push subscriptions alive.
//
// With subscriptions.manage on, it lists the subscriptions, adopts those whose notificationUrl is
// ours (config::notification_url), deletes our duplicates (the one expiring last stays), and
// creates what is missing, one set per type of subscriptions.resource_types, scoped as plan.h
// says (a sharded replica scopes every type by its users' ids), in batches within the server's
// bulkLimitCommon. It renews `renew_before` ahead of expiry, make before break (the new one is
// created, then the old one deleted), retries failures with jittered backoff, re-lists every few
// minutes (and early when polling finds data push missed) to recreate what vanished, and re-scopes
// after users_changed(). Subscriptions with another notificationUrl are never touched. Every API
// call is made from its own thread, never under a lock that status() or the metrics need.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "exporter/api/client.h"
#include "exporter/config/config.h"
#include "exporter/log/log.h"
#include "exporter/subscriptions/metrics.h"
#include "exporter/subscriptions/plan.h"
#include "exporter/subscriptions/push_health.h"

namespace vpbx::subscriptions {

struct SubscriptionStatus {
  std::string resource_type;
  std::string id;
  std::string scope;  // short text, e.g. "userIds=176125,176129 (2)"
  std::int64_t expires_epoch_ms = 0;
  bool adopted = false;  // found on the platform, not created by this manager
};

struct ManagerOptions {
  config::Duration recheck_interval{std::chrono::minutes(5)};  // re-list to notice vanished ones
  config::Duration rescope_delay{std::chrono::seconds(2)};     // gathers bursts of users_changed()
  // Least time between two early re-lists triggered by PushHealth::poll_found_missed.
  config::Duration missed_recheck_gap{std::chrono::minutes(1)};
  config::Duration backoff_base{std::chrono::seconds(1)};
  config::Duration backoff_max{std::chrono::minutes(5)};
  std::size_t default_bulk_limit = 100;  // when v1/system/server does not say
};

enum class StopMode {
  shutdown,  // clean exit: delete ours unless subscriptions.keep_on_shutdown
  handover,  // reload with the same notificationUrl: keep them, the next Manager adopts them
};

class Manager {
 public:
  using UsersFn = std::function<std::vector<config::User>()>;

  // `users` returns the users tracked now (configured + discovered); called from the manager's
  // thread. `client` must outlive the manager and stay usable until stop() returns. `health` may
  // be null; `metrics` may be null.
  Manager(const config::Config& config, api::Client& client, UsersFn users,
          std::shared_ptr<SubscriptionMetrics> metrics, std::shared_ptr<PushHealth> health,
          ManagerOptions options = {});
  ~Manager();  // stops without deleting anything (as StopMode::handover)
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Reconciles at once on a background thread, then keeps reconciling. Does nothing unless
  // subscriptions.manage is on and webhook.public_url is set.
  void start();
  // Joins the thread, then deletes ours (StopMode::shutdown without keep_on_shutdown). Stop the
  // manager before cancelling the client.
  void stop(StopMode mode = StopMode::shutdown);
  // The set of users changed (reload, discovery): re-scope after a short delay.
  void users_changed();
  // Ours, as of the last reconcile, by resource type then expiry.
  std::vector<SubscriptionStatus> status() const;
  bool enabled() const { return enabled_; }

 private:
  struct Tracked {
    api::Subscription subscription;
    bool adopted = false;
  };
  using SteadyTime = std::chrono::steady_clock::time_point;

  void run();
  bool reconcile();  // true when every call succeeded
  void refresh_metrics();
  void request_recheck();
  SteadyTime next_after_success() const;
  config::Duration backoff(int failures);
  static std::int64_t now_ms();

  const bool enabled_;
  const std::string url_;  // our notificationUrl
  const config::SubscriptionsConfig config_;
  const std::vector<std::string> enterprises_;
  const std::vector<std::string> feature_names_;  // features.include: FEATURE's resourceNames
  const ManagerOptions options_;
  api::Client& client_;
  const UsersFn users_;
  const std::shared_ptr<SubscriptionMetrics> metrics_;
  const std::shared_ptr<PushHealth> health_;

  // Touched by the manager's thread only.
  std::size_t bulk_limit_;
  bool bulk_known_ = false;
  int failures_ = 0;
  // Ours by id, with the scope we asked for: a listing that leaves the scope out must not look
  // like an unscoped subscription (that would be replaced at every re-list).
  std::map<std::string, api::Subscription> created_;
  std::set<std::string> adoption_logged_;
  log::ErrorLatch list_latch_, create_latch_, delete_latch_;
  bool short_lifetime_logged_ = false;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool running_ = false;
  bool stopping_ = false;
  SteadyTime next_run_{};
  SteadyTime last_run_{};
  SteadyTime next_expiry_ = SteadyTime::max();
  std::int64_t renew_before_ms_;  // renew_before, shortened when the server grants short lives
  std::vector<Tracked> known_;
  std::map<std::string, Wanted> wanted_;  // by type, as of the last reconcile
  std::thread thread_;
};

}  // namespace vpbx::subscriptions
