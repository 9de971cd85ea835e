#pragma once
// Polls v1/system/server: vpbx_up and vpbx_server_info{build_version,build_customer,...}.

#include <prometheus/collectable.h>

#include <mutex>
#include <optional>
#include <string>

#include "exporter/api/client.h"
#include "exporter/log/log.h"

namespace vpbx::collectors {

struct PlatformStatus {
  bool up = false;
  bool polled = false;  // false until the first answer or failure
  std::optional<api::ServerInfo> server;
  std::string last_error;  // short, secret-free
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
