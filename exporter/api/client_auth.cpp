// The client's side of the account's standing (detail::AuthGate): admitting attempts, holding
// them back while the credentials are refused, and logging each change once.
#include "exporter/api/client_impl.h"

namespace vpbx::api {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kAuthHint =
    "check api.username, the password and api.application_id; the provider also refuses source "
    "IPs its firewall does not allow (by default only Swiss and French ones; others on request)";

std::string seconds_text(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + "s";
}

}  // namespace

Outcome Client::Impl::held_outcome(std::chrono::milliseconds retry_in) {
  Outcome o{ErrorKind::auth, 0, {}, {}, true};
  o.error = "not sent: the API refused the credentials; ";
  o.error += retry_in.count() > 0 ? "next try in " + seconds_text(retry_in) : "a probe is out";
  return o;
}

std::optional<Outcome> Client::Impl::pass_auth_gate(Probe& probe) {
  std::unique_lock lock(auth_mutex);
  for (;;) {
    if (cancelled.load()) return cancelled_outcome();
    const auto now = Clock::now();
    switch (auth.admit(now)) {
      case detail::AuthGate::Admit::send:
        return std::nullopt;
      case detail::AuthGate::Admit::probe:
        probe.impl = this;
        return std::nullopt;
      case detail::AuthGate::Admit::refuse:
        return held_outcome(auth.retry_in(now));
      case detail::AuthGate::Admit::wait:
        auth_cv.wait(lock);
        break;
    }
  }
}

std::optional<Outcome> Client::Impl::refused_meanwhile(const Probe& probe) {
  if (probe.impl) return std::nullopt;
  std::lock_guard lock(auth_mutex);
  if (auth.state() != detail::AuthGate::State::refused) return std::nullopt;
  return held_outcome(auth.retry_in(Clock::now()));
}

void Client::Impl::report_auth(const std::string& endpoint, Method method, const Attempt& a,
                               Probe& probe) {
  const auto answer =
      a.code == CURLE_OK ? detail::AuthGate::classify(a.status) : detail::AuthGate::Answer::unknown;
  detail::AuthGate::Change change;
  int failures = 0;
  std::chrono::milliseconds step{0};
  {
    std::lock_guard lock(auth_mutex);
    change = auth.report(answer, probe.impl != nullptr, Clock::now(), random01());
    failures = auth.failures();
    step = auth.step();
    if (metrics && change != detail::AuthGate::Change::none) {  // in order, under the lock
      metrics->auth_failed.Set(change == detail::AuthGate::Change::recovered ? 0 : 1);
      metrics->auth_backoff.Set(std::chrono::duration<double>(step).count());
    }
  }
  probe.impl = nullptr;
  auth_cv.notify_all();
  switch (change) {
    case detail::AuthGate::Change::none:
      return;
    case detail::AuthGate::Change::refused:
      log::error(
          "VPBX API refused the credentials; every request of the account is held back, "
          "but one probe per backoff step",
          {{"endpoint", endpoint},
           {"method", method_name(method)},
           {"code", a.status},
           {"retry_in", seconds_text(step)},
           {"hint", kAuthHint}});
      break;
    case detail::AuthGate::Change::refused_again:
      log::debug("VPBX API still refuses the credentials", {{"endpoint", endpoint},
                                                            {"code", a.status},
                                                            {"failures", failures},
                                                            {"retry_in", seconds_text(step)}});
      break;
    case detail::AuthGate::Change::recovered:
      log::info("VPBX API accepts the credentials again; requests resume",
                {{"endpoint", endpoint}, {"code", a.status}});
      break;
  }
}

}  // namespace vpbx::api
