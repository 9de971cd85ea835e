// --web.config.file: load_web_config reads only from a path, so each input goes to a scratch
// file. It promises std::runtime_error naming the file; anything else is a crash in main.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>

#include "exporter/http/web_config.h"
#include "fuzz/fuzz_support.h"

using namespace vpbx;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("web.yml", data, size);
  try {
    const http::WebConfig c = http::load_web_config(path);
    if (c.tls) {
      fuzz::check(!c.tls->cert_file.empty() && !c.tls->key_file.empty(),
                  "TLS on without a cert or key file");
    }
  } catch (const std::runtime_error& e) {
    fuzz::check(std::string_view(e.what()).find(path) != std::string_view::npos,
                "a web config error that does not name the file", e.what());
  } catch (const std::exception& e) {
    fuzz::fail("load_web_config threw something else than std::runtime_error", e.what());
  }
  return 0;
}
