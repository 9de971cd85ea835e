#include "ctl/help.h"

#include <map>

namespace vpbx::ctl {
namespace {

constexpr const char* kCommon = R"(
GLOBAL OPTIONS
  --config.file=FILE   the exporter's config (default vpbx_exporter.yml in the current
                       folder, else /etc/vpbx_exporter/vpbx_exporter.yml): api.*, users,
                       users_file, state_file, webhook, call_logs, presence and profiles
  --format=FORMAT      table (default) or json; calls also writes csv
  --log.level=LEVEL    the API client's own log on stderr: debug, info, warn, error (default)
  --help               this page

USER
  A user id, a number (+41225662194, 0041225662194 or 41225662194), a login
  (+41225662194@m.ipvoip.ch) or a configured name ("Room 101", any case), from the config's
  users and users_file and from the users the exporter discovered (its state_file). An id no
  one lists is passed to the platform as it is.

EXIT STATUS
  0 done (also when nothing needed changing), 1 the platform refused or failed,
  2 usage error: bad command line, unknown user or feature, bad config.
)";

const std::map<std::string, std::string>& pages() {
  static const std::map<std::string, std::string> kPages = {
      {"server", R"(NAME
  vpbxctl server - the platform's version

SYNOPSIS
  vpbxctl server [--format=json]

DESCRIPTION
  GET v1/system/server: build version, number, date and the bulk limits.
)"},
      {"users", R"(NAME
  vpbxctl users - the users USER can name

SYNOPSIS
  vpbxctl users [--format=json]

DESCRIPTION
  The config's users (users, users_file), then those the exporter discovered and keeps in its
  state_file (read only; a damaged state file is reported and skipped): id, login, number,
  name, enterprise and where each comes from (config or discovered). No API call.
)"},
      {"features", R"(NAME
  vpbxctl features - every feature of a user

SYNOPSIS
  vpbxctl features USER [--format=json]

DESCRIPTION
  GET v1/users/{userId}/feat: each feature's id, name, status and, for call forwards, the
  destination (destinationUri).
)"},
      {"presence", R"(NAME
  vpbxctl presence - a user's presence now

SYNOPSIS
  vpbxctl presence USER [--format=json]

DESCRIPTION
  GET v1/users/{userId}/presence (api.paths.presence): the platform's raw status and the
  exporter's canonical state (idle, busy, ringing, offline, unknown; presence.state_map applies).
)"},
      {"dnd", R"(NAME
  vpbxctl dnd - do not disturb (CENTRAL_DND) on or off

SYNOPSIS
  vpbxctl dnd USER on|off [--dry-run] [--format=json]
  vpbxctl dnd --all-users on|off [--dry-run] [--format=json]

DESCRIPTION
  Reads the user's CENTRAL_DND, sets its status, PUTs the whole feature back (the API has no
  PATCH) and reads it again: the line shows before → after. A DND already as asked is not
  touched ("already ACTIVE, nothing changed"). A change the platform refuses shows its answer.

OPTIONS
  --all-users   every user of `vpbxctl users`, up to api.max_concurrent_requests at a time and
                within api.max_requests_per_second; a progress line on a terminal
  --dry-run     show what would change, change nothing
)"},
      {"cfu", R"(NAME
  vpbxctl cfu - call forward unconditional (CALL_FORWARD_UNCONDITIONAL)

SYNOPSIS
  vpbxctl cfu USER on DESTINATION [--dry-run] [--format=json]
  vpbxctl cfu USER off [--dry-run] [--format=json]
  vpbxctl cfu --all-users off

DESCRIPTION
  on: status ACTIVE and DESTINATION in the forward's destinationUri, as the platform spells it
  (e.g. 0225117902@s1.431569.bus.ipvoip.ch). off: status INACTIVE; the destination stays.
  GET, change, PUT, GET again, as dnd; idempotent; --all-users and --dry-run as for dnd.
)"},
      {"feature", R"(NAME
  vpbxctl feature - any feature on or off

SYNOPSIS
  vpbxctl feature USER FEATURE_NAME on|off [--dry-run] [--format=json]
  vpbxctl feature --all-users FEATURE_NAME on|off

DESCRIPTION
  As dnd, for the feature named FEATURE_NAME (any case), e.g. CALL_WAITING or
  CALL_FORWARD_BUSY. A user without that feature: exit status 2.
)"},
      {"checkout", R"(NAME
  vpbxctl checkout - reset a room's features at check-out, and print its bill

SYNOPSIS
  vpbxctl checkout USER [--dry-run] [--no-bill] [--profile=NAME] [--since=TIME] [--until=TIME]
  vpbxctl checkout --users-file=FILE [same options]

DESCRIPTION
  Puts every feature of the user back to a profile and prints what changed (before → after),
  then the room's calls with totals (as vpbxctl calls) since --since (default 24h).

  A profile is a section of the config; without one, "default" sets CENTRAL_DND and every
  CALL_FORWARD_* INACTIVE:

    profiles:
      default:
        inactive: [CENTRAL_DND, "CALL_FORWARD_*"]   # a trailing * matches a prefix
        active: [CALL_WAITING]
        clear_destinations: [CALL_FORWARD_UNCONDITIONAL]   # destinationUri emptied

  Where patterns disagree the more specific wins (CALL_FORWARD_BUSY over CALL_FORWARD_*).

OPTIONS
  --dry-run          only show what would change; the bill is still read
  --no-bill          no call logs
  --profile=NAME     another profile of the config (default: default)
  --since, --until   the bill's period (TIME as for vpbxctl calls)
  --users-file=FILE  one USER per line ('#' comments), or a users CSV (the users_file format);
                     up to api.max_concurrent_requests rooms at a time, a progress line on a
                     terminal
  --page-size=N      call logs per request (default call_logs.page_size)
)"},
      {"calls", R"(NAME
  vpbxctl calls - a user's call logs with totals: the room's bill

SYNOPSIS
  vpbxctl calls USER --since=TIME [--until=TIME] [--format=table|csv|json] [--page-size=N]

DESCRIPTION
  GET v1/users/{userId}/calllogs (api.paths.user_call_logs) for calls that started in
  [--since, --until), page after page until a page is not full, each call once (by id). The
  table ends with the totals: calls, answered (call_logs.answered_status, else duration > 0),
  duration, and the count per direction. csv: one row per call, no totals. A page that cannot
  be read fails the whole command (exit status 1): a bill is complete or not printed.

TIME
  An ISO 8601 date-time (2024-09-27T15:26:45Z, 2024-09-27T17:26:45+02:00; without an offset:
  UTC), a date (2024-09-27, midnight UTC), now, or a duration back from now: 24h, 30m, 7d, 1h30m.
  --until defaults to now.
)"},
      {"subscriptions", R"(NAME
  vpbxctl subscriptions - see and delete push subscriptions

SYNOPSIS
  vpbxctl subscriptions list [--format=json]
  vpbxctl subscriptions delete ID
  vpbxctl subscriptions delete --foreign|--all [--dry-run]

DESCRIPTION
  list: every subscription of the account, with its scope and expiry; OWNER is "exporter" for
  those whose notificationUrl is the exporter's webhook (webhook.public_url with its token),
  which the exporter manages, else "other". The webhook token is shown as <token>.
  delete ID: deletes one (already gone is not an error). delete --foreign: every one that is
  not the exporter's (needs webhook.public_url). delete --all: every one; a running exporter
  with subscriptions.manage creates its own again.
)"},
  };
  return kPages;
}

}  // namespace

std::string overview_help() {
  return std::string(R"(NAME
  vpbxctl - the VPBX OpenAPI's curl/jq/sed recipes as one command

SYNOPSIS
  vpbxctl [--config.file=FILE] COMMAND [ARGS] [--format=json]

COMMANDS
  server                                    platform version
  users                                     the users USER can name
  features USER                             every feature, status and call-forward destination
  presence USER                             current presence
  dnd USER on|off                           do not disturb (--all-users for every user)
  cfu USER on DESTINATION | cfu USER off    call forward unconditional
  feature USER FEATURE_NAME on|off          any feature
  checkout USER [--dry-run] [--no-bill]     reset features to a profile, print the bill
  calls USER --since TIME [--until TIME]    call logs with totals (table, csv, json)
  subscriptions list | subscriptions delete ID|--foreign|--all
                                            see and delete push subscriptions

  vpbxctl COMMAND --help (or vpbxctl help COMMAND) shows a command's page.

DESCRIPTION
  vpbxctl uses vpbx_exporter's config file and secrets and its API client: the same rate and
  concurrency limits, retries and TLS settings. It never prints the API password or the
  application id.
)") + kCommon;
}

std::string command_help(const std::string& command) {
  const auto it = pages().find(command);
  if (it == pages().end()) return {};
  return it->second + kCommon;
}

}  // namespace vpbx::ctl
