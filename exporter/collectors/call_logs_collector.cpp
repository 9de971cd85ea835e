#include "exporter/collectors/call_logs_collector.h"

#include <algorithm>
#include <chrono>

#include "exporter/collectors/user_sweep.h"

namespace vpbx::collectors {
namespace {

constexpr std::string_view kEnterprisePrefix = "enterprise:";
constexpr std::string_view kUserPrefix = "user:";
// A runaway pager (a server that ignores offset) stops here rather than loop forever.
constexpr int kMaxPages = 10000;
// Clocks differ: ask a little into the future so that a call that just ended is not cut off.
constexpr std::int64_t kClockSkewMs = 60'000;

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

CallLogsCollector::CallLogsCollector(const config::Config& config, PollPacing pacing,
                                     std::shared_ptr<Pacer> pacer, api::Client& client,
                                     state::Store& store, std::shared_ptr<CollectorMetrics> metrics,
                                     std::shared_ptr<SweepMetrics> sweep_metrics,
                                     WallClock wall_clock)
    : pacing_(std::move(pacing)),
      wall_clock_(wall_clock ? std::move(wall_clock) : WallClock(system_now_ms)),
      client_(client),
      store_(store),
      enterprises_(config.enterprises),
      overlap_ms_(config.call_logs.overlap.count()),
      page_size_(config.call_logs.page_size > 0 ? config.call_logs.page_size : 100),
      backfill_ms_(config.call_logs.backfill.count()),
      sweeper_(
          "call_logs", "poll.call_logs", pacing_.interval, std::move(pacer),
          [this] { return scopes(); }, [this](const std::string& scope) { return poll(scope); },
          std::move(metrics), std::move(sweep_metrics)) {}

std::vector<std::string> CallLogsCollector::scopes() const {
  std::vector<std::string> scopes;
  for (const auto& enterprise : enterprises_)
    scopes.push_back(std::string(kEnterprisePrefix) + enterprise);
  // The enterprise endpoint already covers its users: one request instead of one per user.
  for (const auto& user : store_.users()) {
    const auto& ent = user.identity.enterprise;
    if (std::find(enterprises_.begin(), enterprises_.end(), ent) == enterprises_.end()) {
      scopes.push_back(std::string(kUserPrefix) + std::to_string(user.identity.user_id));
    }
  }
  return scopes;
}

std::string CallLogsCollector::poll(const std::string& scope) {
  const bool enterprise_scope = scope.starts_with(kEnterprisePrefix);
  const std::string enterprise = enterprise_scope ? scope.substr(kEnterprisePrefix.size()) : "";
  const std::int64_t user_id = enterprise_scope ? 0 : std::stoll(scope.substr(kUserPrefix.size()));

  auto cursor = store_.call_log_cursor(scope);
  if (!cursor) {
    const std::int64_t start = wall_clock_() - backfill_ms_;
    store_.set_call_log_cursor(scope, state::CallLogCursor{start, start});
    // Read back: the store may hold the new scope's start later (after a restore that lost ids).
    cursor = store_.call_log_cursor(scope).value_or(state::CallLogCursor{start, start});
  }
  api::CallLogQuery query;
  query.from_epoch_ms = cursor->newest_ms - overlap_ms_;
  // Never before the window's start, even when the wall clock has been set back past it.
  query.to_epoch_ms = std::max(wall_clock_(), cursor->newest_ms) + kClockSkewMs;
  query.limit = page_size_;
  std::int64_t newest = cursor->newest_ms;
  for (int page = 0; page < kMaxPages; ++page) {
    const auto result = enterprise_scope ? client_.get_enterprise_call_logs(enterprise, query)
                                         : client_.get_user_call_logs(user_id, query);
    if (!result.ok()) return error_of(result);
    for (const auto& call_log : *result.value) {
      // An invalid call log teaches no user (count_call_log counts it invalid).
      if (enterprise_scope && api::call_log_problem(call_log) == nullptr) {
        store_.learn_user(enterprise, call_log.user_id, "");
      }
      // callStart and duration are whole seconds: one second of slack keeps a call that ended
      // just as the scope was first polled on the counted side.
      const std::int64_t ended_ms = call_log.call_start_epoch_ms + call_log.duration * 1000;
      if (ended_ms + 1000 < cursor->start_ms) {
        store_.remember_call_log(call_log);
      } else {
        // Counted by a poll: push, if it works, should have brought it first.
        if (store_.count_call_log(call_log, state::Source::poll) == state::CallOutcome::counted) {
          pacing_.missed();
        }
      }
      newest = std::max(newest, call_log.call_start_epoch_ms);
    }
    // Paging goes on while a page is full.
    if (static_cast<int>(result.value->size()) < query.limit) break;
    query.offset += static_cast<int>(result.value->size());
  }
  if (newest != cursor->newest_ms) store_.set_call_log_cursor(scope, {cursor->start_ms, newest});
  store_.prune_seen_call_logs_behind_cursors(
      overlap_ms_ + std::chrono::milliseconds(std::chrono::hours(1)).count());
  return {};
}

}  // namespace vpbx::collectors
