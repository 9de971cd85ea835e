#include "exporter/collectors/sweep_items.h"

namespace vpbx::collectors {

std::vector<std::string> user_items(const state::Store& store) {
  std::vector<std::string> items;
  for (const auto& user : store.users()) items.push_back(std::to_string(user.identity.user_id));
  return items;
}

}  // namespace vpbx::collectors
