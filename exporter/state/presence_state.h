#pragma once
// Canonical presence states. The API's raw values are mapped case-insensitively; the config's
// presence.state_map extends or overrides the built-in map.

#include <array>
#include <map>
#include <string>
#include <string_view>

namespace vpbx::state {

enum class PresenceState { idle, busy, ringing, offline, unknown };

inline constexpr std::array<PresenceState, 5> kPresenceStates{
    PresenceState::idle, PresenceState::busy, PresenceState::ringing, PresenceState::offline,
    PresenceState::unknown};

std::string_view to_string(PresenceState state);

class PresenceMap {
 public:
  // `extra`: raw (any case) -> canonical name; an unknown canonical name maps to unknown.
  explicit PresenceMap(const std::map<std::string, std::string>& extra = {});
  // `known` is set false when the raw value matched nothing (it then maps to unknown).
  PresenceState map(std::string_view raw, bool* known = nullptr) const;

 private:
  std::map<std::string, PresenceState, std::less<>> map_;  // upper-cased raw -> state
};

}  // namespace vpbx::state
