#pragma once
// Polls v1/system/server: vpbx_up, vpbx_up_reason{reason} and
// vpbx_server_info{build_version,build_customer,...}.

#include <prometheus/collectable.h>

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "exporter/api/client.h"
#include "exporter/log/log.h"

namespace vpbx::collectors {

// Why vpbx_up is what it is: a bounded set, every value always exposed (a stateset).
inline constexpr std::array<std::string_view, 7> kUpReasons = {
    "none", "auth", "unreachable", "timeout", "http_5xx", "http_4xx", "parse"};

// The reason of a call's outcome: "none" on success, "auth" for 401/403 and for requests held
// back by the auth backoff.
template <typename T>
std::string_view up_reason(const api::Result<T>& result) {
  if (result.ok()) return "none";
  switch (result.error_kind) {
    case api::ErrorKind::auth:
      return "auth";
    case api::ErrorKind::timeout:
      return "timeout";
    case api::ErrorKind::http:
      return result.http_status >= 500 ? "http_5xx" : "http_4xx";
    case api::ErrorKind::parse:
      return "parse";
    case api::ErrorKind::transport:
    case api::ErrorKind::none:
      break;
  }
  return "unreachable";
}

struct PlatformStatus {
  bool up = false;
  bool polled = false;  // false until the first answer or failure
  std::optional<api::ServerInfo> server;
  std::string last_error;  // short, secret-free
  std::string reason;      // one of kUpReasons once polled; empty before
};

class SystemCollector : public prometheus::Collectable {
 public:
  // Polls through whichever client is current (the app swaps it on reload).
  bool poll(api::Client& client);
  PlatformStatus status() const;
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable std::mutex mutex_;
  PlatformStatus status_;
  log::ErrorLatch failure_;
};

}  // namespace vpbx::collectors
