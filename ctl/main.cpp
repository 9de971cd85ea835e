// vpbxctl: the platform's curl/jq/sed recipes as one command (see vpbxctl --help).
#include "ctl/cli.h"

int main(int argc, char** argv) {
  return vpbx::ctl::run({argv + 1, argv + argc});
}
