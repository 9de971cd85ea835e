#include "exporter/collectors/system_collector.h"

#include "exporter/metrics/families.h"

namespace vpbx::collectors {

using metrics::add_gauge;
using metrics::make_family;

bool SystemCollector::poll(api::Client& client) {
  auto result = client.get_server_info();
  // Cut short by a shutdown or reload: says nothing about the platform.
  if (!result.ok() && result.error == "cancelled") return false;
  {
    std::lock_guard lock(mutex_);
    status_.polled = true;
    status_.up = result.ok();
    status_.reason = up_reason(result);
    if (result.ok()) {
      status_.server = *result.value;
      status_.last_error.clear();
    } else {
      status_.last_error = result.error;
    }
  }
  if (result.ok()) {
    if (failure_.recover()) {
      log::info("platform API reachable again", {{"build_version", result.value->build_version}});
    }
  } else if ((!result.not_sent || !failure_.failing()) && failure_.fail(up_reason(result))) {
    // Once per kind of failure. A call the auth backoff held back says nothing new once down:
    // between two probes that met another failure, it must not make the log alternate.
    log::warn(
        "platform API down",
        {{"endpoint", "v1/system/server"}, {"code", result.http_status}, {"err", result.error}});
  }
  return result.ok();
}

PlatformStatus SystemCollector::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::vector<prometheus::MetricFamily> SystemCollector::Collect() const {
  const PlatformStatus status = this->status();
  auto up =
      make_family("vpbx_up", "1 if the last call to the platform's v1/system/server succeeded.",
                  prometheus::MetricType::Gauge);
  add_gauge(up, {}, status.up ? 1 : 0);
  auto reason = make_family("vpbx_up_reason",
                            "Why vpbx_up is what it is: 1 for the last v1/system/server call's "
                            "outcome (none when up; auth while the credentials are refused), 0 for "
                            "the others; all 0 before the first call.",
                            prometheus::MetricType::Gauge);
  for (const auto value : kUpReasons) {
    add_gauge(reason, {{"reason", std::string(value)}}, status.reason == value ? 1 : 0);
  }
  std::vector<prometheus::MetricFamily> families{std::move(up), std::move(reason)};
  if (status.server) {
    // Keeps the last known version while the platform is down, as it is still the best answer.
    auto info =
        make_family("vpbx_server_info", "The platform's build, from v1/system/server; always 1.",
                    prometheus::MetricType::Gauge);
    add_gauge(info,
              {{"build_version", status.server->build_version},
               {"build_customer", status.server->build_customer},
               {"build_number", status.server->build_number},
               {"build_date", status.server->build_date}},
              1);
    families.push_back(std::move(info));
  }
  return families;
}

}  // namespace vpbx::collectors
