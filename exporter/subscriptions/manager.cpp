#include "exporter/subscriptions/manager.h"

#include <algorithm>
#include <random>

namespace vpbx::subscriptions {

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

bool covers(const Items& have, const Items& need) {
  return std::includes(have.begin(), have.end(), need.begin(), need.end());
}

// The client's error already names the HTTP code when there was one.
std::string reason_of(const char* what, long http_status, const std::string& error) {
  if (!error.empty()) return std::string(what) + ": " + error;
  return std::string(what) + (http_status ? ": HTTP " + std::to_string(http_status) : "");
}

// Latch on the kind of failure, not its text: a 500 followed by a 429 is one outage.
std::string latch_key(api::ErrorKind kind) {
  return std::to_string(static_cast<int>(kind));
}

}  // namespace

std::int64_t Manager::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Manager::Manager(const config::Config& config, api::Client& client, UsersFn users,
                 std::shared_ptr<SubscriptionMetrics> metrics, std::shared_ptr<PushHealth> health,
                 ManagerOptions options)
    : enabled_(config.subscriptions.manage && !config.webhook.public_url.empty()),
      url_(config::notification_url(config.webhook)),
      config_(config.subscriptions),
      // Sharded, every type is scoped by the shard's userIds: an enterpriseNames scope would make
      // the platform push each event of the enterprise to every shard.
      enterprises_(config.shard.count > 1 ? std::vector<std::string>() : config.enterprises),
      feature_names_(config.features.include),
      options_(options),
      client_(client),
      users_(std::move(users)),
      metrics_(std::move(metrics)),
      health_(std::move(health)),
      bulk_limit_(std::max<std::size_t>(options.default_bulk_limit, 1)),
      renew_before_ms_(config.subscriptions.renew_before.count()) {}

Manager::~Manager() {
  stop(StopMode::handover);
}

void Manager::start() {
  if (!enabled_) {
    log::debug("subscription management off",
               {{"manage", config_.manage}, {"public_url_set", !url_.empty()}});
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (running_) return;
    running_ = true;
    stopping_ = false;
    next_run_ = SteadyClock::now();
  }
  if (health_) health_->set_missed_listener([this](const std::string&) { request_recheck(); });
  log::info("managing push subscriptions",
            {{"resource_types", std::to_string(config_.resource_types.size())},
             {"ttl", config::format_duration(config_.ttl)},
             {"renew_before", config::format_duration(config_.renew_before)}});
  thread_ = std::thread([this, account = log::thread_account()] {
    log::AccountScope scope(account);
    run();
  });
}

void Manager::stop(StopMode mode) {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (health_) health_->set_missed_listener({});

  std::vector<Tracked> ours;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
    ours = known_;
  }
  if (mode == StopMode::handover) return;
  if (config_.keep_on_shutdown) {
    log::info("keeping push subscriptions on shutdown", {{"count", ours.size()}});
    return;
  }
  std::vector<Tracked> left;
  for (const auto& t : ours) {
    const auto r = client_.delete_subscription(t.subscription.id);
    if (metrics_) metrics_->count(Operation::remove, r.ok());
    if (r.ok()) {
      log::info("subscription deleted", {{"resource_type", t.subscription.resource_type},
                                         {"id", t.subscription.id},
                                         {"reason", "shutdown"}});
    } else {
      log::warn("subscription not deleted at shutdown; it expires on its own",
                {{"resource_type", t.subscription.resource_type},
                 {"id", t.subscription.id},
                 {"expires", t.subscription.expires},
                 {"err", reason_of("delete failed", r.http_status, r.error)}});
      left.push_back(t);
    }
  }
  {
    std::lock_guard lock(mutex_);
    known_ = std::move(left);
    if (known_.empty()) wanted_.clear();  // nothing is covered any more
  }
  refresh_metrics();
}

void Manager::users_changed() {
  std::lock_guard lock(mutex_);
  next_run_ = std::min(next_run_, SteadyClock::now() + options_.rescope_delay);
  cv_.notify_all();
}

void Manager::request_recheck() {
  std::lock_guard lock(mutex_);
  if (!running_ || stopping_) return;
  next_run_ =
      std::min(next_run_, std::max(SteadyClock::now(), last_run_ + options_.missed_recheck_gap));
  cv_.notify_all();
}

std::vector<SubscriptionStatus> Manager::status() const {
  std::vector<SubscriptionStatus> out;
  std::lock_guard lock(mutex_);
  for (const auto& t : known_) {
    out.push_back({t.subscription.resource_type, t.subscription.id, describe_scope(t.subscription),
                   t.subscription.expires_epoch_ms, t.adopted});
  }
  std::sort(out.begin(), out.end(), [](const SubscriptionStatus& a, const SubscriptionStatus& b) {
    return std::tie(a.resource_type, a.expires_epoch_ms, a.id) <
           std::tie(b.resource_type, b.expires_epoch_ms, b.id);
  });
  return out;
}

config::Duration Manager::backoff(int failures) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double d = static_cast<double>(options_.backoff_base.count());
  for (int i = 1; i < failures && d < static_cast<double>(options_.backoff_max.count()); ++i) {
    d *= 2;
  }
  d = std::min(d, static_cast<double>(options_.backoff_max.count()));
  // Jitter: many exporters restarted together must not retry in step.
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return config::Duration(static_cast<std::int64_t>(d * jitter(rng)));
}

Manager::SteadyTime Manager::next_after_success() const {
  // Callers hold mutex_.
  const auto now = SteadyClock::now();
  auto next = now + options_.recheck_interval;
  const std::int64_t now_epoch = now_ms();
  for (const auto& t : known_) {
    const std::int64_t renew_at = t.subscription.expires_epoch_ms - renew_before_ms_;
    next = std::min(
        next, now + std::chrono::milliseconds(std::max<std::int64_t>(renew_at - now_epoch, 0)));
  }
  return std::max(next, now + 200ms);  // never spin on a clock edge
}

void Manager::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = SteadyClock::now();
    if (now < next_run_) {
      // Also wake at the next expiry, so that `active` drops even while the API is down.
      const auto until = std::min(next_run_, next_expiry_);
      if (now >= until) {
        lock.unlock();
        refresh_metrics();
        lock.lock();
        continue;
      }
      cv_.wait_until(lock, until);
      continue;
    }
    last_run_ = now;
    next_run_ = SteadyTime::max();  // users_changed() during the reconcile lowers it again
    lock.unlock();
    bool ok = false;
    try {
      ok = reconcile();
    } catch (const std::exception& e) {
      // Should not happen (the client reports errors as values); retry rather than terminate.
      log::error("subscription reconcile failed", {{"err", e.what()}});
    }
    refresh_metrics();
    lock.lock();
    if (stopping_) break;
    failures_ = ok ? 0 : failures_ + 1;
    const auto planned = ok ? next_after_success() : SteadyClock::now() + backoff(failures_);
    next_run_ = std::min(next_run_, planned);
  }
}

bool Manager::reconcile() {
  auto stopping = [this] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  const std::vector<config::User> users = users_ ? users_() : std::vector<config::User>{};

  if (!bulk_known_) {
    // bulkLimitCommon bounds each scope list; read once, 100 (the seed's value) until known.
    const auto info = client_.get_server_info();
    if (info.ok()) {
      bulk_known_ = true;
      if (info.value->bulk_limit_common > 0) {
        bulk_limit_ = static_cast<std::size_t>(info.value->bulk_limit_common);
      }
    }
  }

  const auto listed = client_.list_subscriptions();
  if (metrics_) metrics_->count(Operation::list, listed.ok());
  if (!listed.ok()) {
    if (list_latch_.fail(latch_key(listed.error_kind))) {
      log::warn("cannot list subscriptions; retrying with backoff",
                {{"err", reason_of("list failed", listed.http_status, listed.error)}});
    }
    return false;
  }
  if (list_latch_.recover()) log::info("listing subscriptions works again");

  bool all_ok = true;
  const std::int64_t started_ms = now_ms();
  std::map<std::string, Wanted> wanted;
  std::map<std::string, std::vector<api::Subscription>> ours;
  for (const auto& type : config_.resource_types) {
    wanted[type] = wanted_scope(type, enterprises_, users, feature_names_);
    ours[type];
  }
  std::vector<api::Subscription> unwanted_type;
  for (auto s : *listed.value) {
    if (s.notification_url != url_) continue;  // someone else's: never touched
    if (const auto it = created_.find(s.id); it != created_.end() && items_of(s).empty()) {
      s.enterprise_names = it->second.enterprise_names;
      s.user_ids = it->second.user_ids;
      s.login_names = it->second.login_names;
    }
    if (!wanted.count(s.resource_type)) {
      unwanted_type.push_back(s);
    } else {
      ours[s.resource_type].push_back(s);
    }
  }

  std::vector<Tracked> next_known;
  auto track = [&](const api::Subscription& s) {
    const bool adopted = !created_.count(s.id);
    if (adopted && adoption_logged_.insert(s.id).second) {
      log::info("subscription adopted", {{"resource_type", s.resource_type},
                                         {"id", s.id},
                                         {"scope", describe_scope(s)},
                                         {"expires", s.expires}});
    }
    next_known.push_back({s, adopted});
  };
  auto remove = [&](const api::Subscription& s, const char* reason) {
    const auto r = client_.delete_subscription(s.id);
    if (metrics_) metrics_->count(Operation::remove, r.ok());
    if (!r.ok()) {
      all_ok = false;
      if (delete_latch_.fail(latch_key(r.error_kind))) {
        log::warn("cannot delete subscription; retrying with backoff",
                  {{"id", s.id}, {"err", reason_of("delete failed", r.http_status, r.error)}});
      }
      track(s);
      return;
    }
    if (delete_latch_.recover()) log::info("deleting subscriptions works again");
    log::info("subscription deleted",
              {{"resource_type", s.resource_type}, {"id", s.id}, {"reason", reason}});
  };

  for (const auto& type : config_.resource_types) {
    TypePlan plan = plan_type(type, wanted[type], std::move(ours[type]), started_ms,
                              renew_before_ms_, bulk_limit_);
    Items covered;
    for (const auto& s : plan.keep) {
      const Items items = items_of(s);
      covered.insert(items.begin(), items.end());
      track(s);
    }
    for (auto& c : plan.create) {
      if (stopping()) {
        all_ok = false;
        break;
      }
      api::SubscriptionRequest request = std::move(c.request);
      request.notification_url = url_;
      const std::int64_t asked_ms = now_ms();
      const std::int64_t expires_ms = asked_ms + config_.ttl.count();
      request.expires = api::format_iso8601_ms(expires_ms);
      const auto r = client_.create_subscription(request);
      if (metrics_) metrics_->count(c.renewal ? Operation::renew : Operation::create, r.ok());
      if (!r.ok() || r.value->id.empty()) {
        all_ok = false;
        if (create_latch_.fail(latch_key(r.error_kind))) {
          log::warn("cannot create subscription; retrying with backoff",
                    {{"resource_type", type},
                     {"scope", describe_scope(request)},
                     {"err", reason_of("create refused or failed", r.http_status, r.error)}});
        }
        continue;
      }
      if (create_latch_.recover()) log::info("creating subscriptions works again");
      api::Subscription s = *r.value;
      if (s.expires_epoch_ms == 0) s.expires_epoch_ms = expires_ms;
      if (s.resource_type.empty()) s.resource_type = type;
      if (s.notification_url.empty()) s.notification_url = url_;
      if (s.enterprise_names.empty() && s.user_ids.empty() && s.login_names.empty()) {
        s.enterprise_names = request.enterprise_names;
        s.user_ids = request.user_ids;
        s.login_names = request.login_names;
      }
      const std::int64_t lifetime = s.expires_epoch_ms - asked_ms;
      if (lifetime <= renew_before_ms_) {
        // The server grants less than asked: renew halfway instead of at once, again and again.
        if (!short_lifetime_logged_) {
          short_lifetime_logged_ = true;
          log::warn(
              "the platform grants subscriptions a shorter life than renew_before; renewing "
              "halfway through instead",
              {{"granted_ms", lifetime},
               {"renew_before", config::format_duration(config_.renew_before)}});
        }
        std::lock_guard lock(mutex_);
        renew_before_ms_ = std::max<std::int64_t>(lifetime / 2, 0);
      }
      created_[s.id] = s;
      log::info(c.renewal ? "subscription renewed" : "subscription created",
                {{"resource_type", type},
                 {"id", s.id},
                 {"scope", describe_scope(s)},
                 {"expires", s.expires}});
      const Items items = items_of(s);
      covered.insert(items.begin(), items.end());
      track(s);
    }
    // Make before break: an old one goes only once what it still covers is covered again.
    for (const auto& s : plan.remove) {
      const bool safe = covers(covered, still_needed(s, wanted[type]));
      if (!safe || stopping()) {
        track(s);
        continue;
      }
      const bool due = s.expires_epoch_ms - started_ms <= renew_before_ms_;
      remove(s, due ? "renewed" : "duplicate or out of scope");
    }
  }
  for (const auto& s : unwanted_type) {
    if (stopping()) {
      track(s);
      continue;
    }
    remove(s, "resource type no longer configured");
  }

  std::set<std::string> live;
  for (const auto& t : next_known) live.insert(t.subscription.id);
  std::erase_if(created_, [&](const auto& entry) { return !live.count(entry.first); });
  std::lock_guard lock(mutex_);
  known_ = std::move(next_known);
  wanted_ = std::move(wanted);
  return all_ok;
}

void Manager::refresh_metrics() {
  const std::int64_t now_epoch = now_ms();
  std::map<std::string, std::pair<double, bool>> by_type;  // expiry seconds, active
  for (const auto& type : known_resource_types()) by_type[type] = {0, false};
  {
    std::lock_guard lock(mutex_);
    std::int64_t next_expiry_ms = 0;
    for (const auto& [type, wanted] : wanted_) {
      std::int64_t earliest = 0;
      Items live;
      bool everyone = false;
      for (const auto& t : known_) {
        const auto& s = t.subscription;
        if (s.resource_type != type || s.expires_epoch_ms <= now_epoch) continue;
        if (!earliest || s.expires_epoch_ms < earliest) earliest = s.expires_epoch_ms;
        const Items items = items_of(s);
        if (items.empty()) everyone = true;
        live.insert(items.begin(), items.end());
      }
      if (earliest && (!next_expiry_ms || earliest < next_expiry_ms)) next_expiry_ms = earliest;
      const bool active =
          earliest != 0 && !wanted.items.empty() && (everyone || covers(live, wanted.items));
      by_type[type] = {static_cast<double>(earliest) / 1000.0, active};
    }
    next_expiry_ = next_expiry_ms ? SteadyClock::now() +
                                        std::chrono::milliseconds(next_expiry_ms - now_epoch + 1)
                                  : SteadyTime::max();
  }
  for (const auto& [type, value] : by_type) {
    if (metrics_) metrics_->set_type(type, value.first, value.second);
    if (health_) health_->set_active(type, value.second);
  }
}

}  // namespace vpbx::subscriptions
