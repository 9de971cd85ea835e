// The YAML config (--config.file). load_string promises ConfigError and nothing else: main prints
// it and exits non-zero. The *_file keys resolve against a scratch folder holding the files the
// seed corpus names (secrets/..., users.csv, ca.pem), so that inputs get past them.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>

#include "exporter/config/config.h"
#include "fuzz/fuzz_support.h"

using namespace vpbx;

namespace {

void put(const std::string& name, const std::string& text) {
  fuzz::write_scratch(name, reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  std::filesystem::create_directories(fuzz::scratch_dir() + "/secrets");
  put("secrets/password", "s3cret-password\n");
  put("secrets/application_id", "5b0cbbd0-0000-4000-8000-000000000001\n");
  put("secrets/webhook_token", "t0ken-t0ken-t0ken\n");
  put("users.csv",
      "enterpriseNames,userIds,loginNames,phone_num\n"
      "291908.bus.ent,176125,+41225662194@m.ipvoip.ch,+41225662194\n");
  put("ca.pem", "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const config::Config c = config::load_string(text, fuzz::scratch_dir());
    // What a loaded config promises its users.
    fuzz::check(!c.api.url.empty() && c.api.url.back() == '/', "api.url does not end with '/'",
                text);
    (void)config::notification_url(c.webhook);
    for (const auto& user : c.users) (void)user.label();
  } catch (const config::ConfigError& e) {
    fuzz::check(e.what()[0] != '\0', "a ConfigError without a message", text);
  } catch (const std::exception& e) {
    fuzz::fail("load_string threw something else than ConfigError", e.what());
  }
  return 0;
}
