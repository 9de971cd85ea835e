#pragma once
// vpbxctl's manual: the overview (vpbxctl --help) and one page per command
// (vpbxctl COMMAND --help, or vpbxctl help COMMAND).

#include <string>

namespace vpbx::ctl {

std::string overview_help();
// Empty when `command` is not one of vpbxctl's commands.
std::string command_help(const std::string& command);

}  // namespace vpbx::ctl
