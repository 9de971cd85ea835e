#pragma once
// vpbxctl's entry point: parses the command line, loads the exporter's config, runs a command.

#include <string>
#include <vector>

namespace vpbx::ctl {

// Returns the exit status (see args.h).
int run(const std::vector<std::string>& argv);

}  // namespace vpbx::ctl
