// calls USER --since TIME [--until TIME]: a user's call logs with totals.
#include <charconv>

#include "ctl/call_report.h"
#include "ctl/context.h"
#include "ctl/time_arg.h"

namespace vpbx::ctl {

int page_size_from_args(const Context& ctx, const Args& args) {
  const auto text = args.value("--page-size");
  if (!text) return ctx.config.call_logs.page_size > 0 ? ctx.config.call_logs.page_size : 100;
  int n = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || end != text->data() + text->size() || n < 1 || n > 1000) {
    throw UsageError("--page-size is an integer from 1 to 1000");
  }
  return n;
}

int cmd_calls(Context& ctx, const Args& args) {
  allow_only(args, {"--since", "--until", "--page-size"});
  expect_operands(args, 1, 1);
  const Format format = ctx.format(args, {Format::table, Format::csv, Format::json});
  const KnownUser user = ctx.user(args.operands()[0]);
  const Period period = period_from_args(args);
  const CallReport report = fetch_calls(*ctx.client, ctx.config.call_logs, user, period.from_ms,
                                        period.to_ms, page_size_from_args(ctx, args));
  if (!report.error.empty()) {
    // A bill with a missing page is wrong: nothing is printed but the error.
    ctx.err << "vpbxctl: " << user.display() << ": " << report.error << "\n";
    return kExitPlatform;
  }
  if (format == Format::json) {
    Json json;
    json.w().StartObject();
    write_calls_json(json, ctx.config.call_logs, report);
    json.w().EndObject();
    ctx.out << json.text();
  } else {
    print_calls(ctx.out, ctx.config.call_logs, report, format);
  }
  return kExitOk;
}

}  // namespace vpbx::ctl
