#pragma once
// The users the exporter learnt (discovery), read from its state file and the journals after it
// without writing anything: for tools that run beside a live exporter (vpbxctl). A missing file
// is no users; a damaged one is a problem to report, never a reason to fail.

#include <string>
#include <vector>

#include "exporter/state/records.h"

namespace vpbx::state {

struct LearntUsers {
  std::vector<LearntUser> users;  // by user id, each once
  std::string problem;            // empty when every file present was read whole
};

LearntUsers read_learnt_users(const std::string& state_file);

}  // namespace vpbx::state
