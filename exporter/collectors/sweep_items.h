#pragma once
// What the per-user collectors share: the items of a sweep and a poll's outcome.

#include <string>
#include <vector>

#include "exporter/api/client.h"
#include "exporter/state/store.h"

namespace vpbx::collectors {

// The users of a sweep, as item keys (their ids).
std::vector<std::string> user_items(const state::Store& store);
// "" when the call succeeded, else its error (the Sweeper logs and counts it).
template <typename T>
std::string error_of(const api::Result<T>& result) {
  if (result.ok()) return {};
  return result.error.empty() ? std::string("request failed") : result.error;
}

}  // namespace vpbx::collectors
