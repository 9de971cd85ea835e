#pragma once
// A state store as a 10k-room hotel chain would have it: the seed's 19 features per user, presence,
// and a few counted calls, filled in-process (polling 10k users through the API at the default
// 10 requests/s would take an hour, and /metrics reads the store the same way either way).

#include <cstddef>
#include <memory>
#include <vector>

#include "exporter/state/store.h"

namespace vpbx::bench {

inline constexpr int kUsersPerEnterprise = 1000;

// The config of `users` users, `per_enterprise` per enterprise, the first being user number
// `first` of the chain.
config::Config hotel_config(int users, int first = 0, int per_enterprise = kUsersPerEnterprise);

// Configures `store` with `config` and fills every user's state.
void fill_store(state::Store& store, const config::Config& config);
// ... with hotel_config(users).
void fill_store(state::Store& store, int users);

// `users` users in enterprises (hotels) of 250, as `accounts` accounts' stores, filled side by
// side: one enterprise or more each, named after its first ("291908-bus-ent"); one account is the
// implicit one (no name). The layouts of bench/accounts.sh, without the simulator.
std::vector<std::unique_ptr<state::Store>> fill_accounts(int users, int accounts);

}  // namespace vpbx::bench
