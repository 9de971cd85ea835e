#include "exporter/collectors/user_sweep.h"

namespace vpbx::collectors {

std::vector<std::string> user_items(const state::Store& store) {
  std::vector<std::string> items;
  for (const auto& user : store.users()) items.push_back(std::to_string(user.identity.user_id));
  return items;
}

UserSweep::UserSweep(std::string name, std::string interval_key, PollPacing pacing,
                     std::shared_ptr<Pacer> pacer, state::Store& store, PollUser poll_user,
                     std::shared_ptr<CollectorMetrics> metrics,
                     std::shared_ptr<SweepMetrics> sweep_metrics)
    : sweeper_(
          std::move(name), std::move(interval_key), std::move(pacing.interval), std::move(pacer),
          [&store] { return user_items(store); },
          [poll_user = std::move(poll_user)](const std::string& id) {
            return poll_user(std::stoll(id));
          },
          std::move(metrics), std::move(sweep_metrics)) {}

}  // namespace vpbx::collectors
