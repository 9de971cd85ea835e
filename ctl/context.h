#pragma once
// What every vpbxctl command works with: the exporter's config, one API client (its limiter,
// retries and TLS), the users USER can name, and where to print.

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "ctl/args.h"
#include "ctl/output.h"
#include "ctl/user_resolver.h"
#include "exporter/api/client.h"
#include "exporter/config/config.h"

namespace vpbx::ctl {

struct Context {
  config::Config config;
  std::unique_ptr<api::Client> client;
  KnownUsers users;
  std::ostream& out = std::cout;
  std::ostream& err = std::cerr;
  bool err_is_terminal = false;  // progress lines only then

  // The format asked with --format (default table), checked against what the command writes.
  Format format(const Args& args, std::initializer_list<Format> allowed) const;
  KnownUser user(const std::string& text) const { return resolve_user(users.users, text); }
};

// One command: returns the exit code; throws UsageError for the caller's mistakes.
using Command = int (*)(Context&, const Args&);

// --page-size, else call_logs.page_size: call logs asked per page.
int page_size_from_args(const Context& ctx, const Args& args);

int cmd_server(Context& ctx, const Args& args);
int cmd_users(Context& ctx, const Args& args);
int cmd_features(Context& ctx, const Args& args);
int cmd_presence(Context& ctx, const Args& args);
int cmd_dnd(Context& ctx, const Args& args);
int cmd_cfu(Context& ctx, const Args& args);
int cmd_feature(Context& ctx, const Args& args);
int cmd_checkout(Context& ctx, const Args& args);
int cmd_calls(Context& ctx, const Args& args);
int cmd_subscriptions(Context& ctx, const Args& args);

}  // namespace vpbx::ctl
