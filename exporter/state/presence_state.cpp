#include "exporter/state/presence_state.h"

#include <algorithm>
#include <cctype>

namespace vpbx::state {
namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

PresenceState from_canonical(std::string_view name) {
  for (const auto state : kPresenceStates) {
    if (upper(to_string(state)) == upper(name)) return state;
  }
  return PresenceState::unknown;
}

}  // namespace

std::string_view to_string(PresenceState state) {
  switch (state) {
    case PresenceState::idle:
      return "idle";
    case PresenceState::busy:
      return "busy";
    case PresenceState::ringing:
      return "ringing";
    case PresenceState::offline:
      return "offline";
    case PresenceState::unknown:
      return "unknown";
  }
  return "unknown";
}

PresenceMap::PresenceMap(const std::map<std::string, std::string>& extra) {
  // The values C5 is assumed to send (DESIGN.md), and their common synonyms.
  const std::pair<const char*, PresenceState> builtin[] = {
      {"IDLE", PresenceState::idle},
      {"AVAILABLE", PresenceState::idle},
      {"ONLINE", PresenceState::idle},
      {"FREE", PresenceState::idle},
      {"BUSY", PresenceState::busy},
      {"ON_THE_PHONE", PresenceState::busy},
      {"IN_CALL", PresenceState::busy},
      {"TALKING", PresenceState::busy},
      {"ACTIVE", PresenceState::busy},
      {"RINGING", PresenceState::ringing},
      {"ALERTING", PresenceState::ringing},
      {"OFFLINE", PresenceState::offline},
      {"UNREGISTERED", PresenceState::offline},
      {"UNAVAILABLE", PresenceState::offline},
      {"UNKNOWN", PresenceState::unknown},
  };
  for (const auto& [raw, state] : builtin) map_[raw] = state;
  for (const auto& [raw, canonical] : extra) map_[upper(raw)] = from_canonical(canonical);
}

PresenceState PresenceMap::map(std::string_view raw, bool* known) const {
  const auto it = map_.find(upper(raw));
  if (known) *known = it != map_.end();
  return it == map_.end() ? PresenceState::unknown : it->second;
}

}  // namespace vpbx::state
