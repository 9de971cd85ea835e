#pragma once
// A state store as a 10k-room hotel chain would have it: the seed's 19 features per user, presence,
// and a few counted calls, filled in-process (polling 10k users through the API at the default
// 10 requests/s would take an hour, and /metrics reads the store the same way either way).

#include <cstddef>

#include "exporter/state/store.h"

namespace vpbx::bench {

inline constexpr int kUsersPerEnterprise = 1000;

// The config of `users` users, 1000 per enterprise.
config::Config hotel_config(int users);

// Configures `store` with hotel_config(users) and fills every user's state.
void fill_store(state::Store& store, int users);

}  // namespace vpbx::bench
