#include "exporter/http/tls_shim.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

namespace vpbx::http::detail {

std::string load_tls_shims() {
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    std::vector<std::string> dirs;
    if (const char* dir = std::getenv("VPBX_TLS_SHIM_DIR"); dir && *dir) dirs.emplace_back(dir);
    // Installed: <prefix>/bin/vpbx_exporter finds <prefix>/lib/vpbx_exporter/. In the build
    // tree (tests, the demo): the folder the bridges were built in.
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) dirs.push_back((exe.parent_path() / VPBX_TLS_SHIM_FROM_BINDIR).lexically_normal().string());
    dirs.emplace_back(VPBX_TLS_SHIM_BUILD_DIR);
    // libcrypto first: the libssl bridge's own dependencies are then already resolved.
    for (const char* name : {"libvpbx_tls_crypto.so", "libvpbx_tls_ssl.so"}) {
      bool loaded = false;
      for (const auto& dir : dirs) {
        const std::string path = (std::filesystem::path(dir) / name).string();
        if (!std::filesystem::exists(path)) continue;
        // Never closed: CivetWeb keeps using OpenSSL until the process ends.
        if (::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr) {
          loaded = true;
          break;
        }
        const char* why = ::dlerror();
        error = "cannot load " + path + ": " + (why ? why : "unknown error");
      }
      if (!loaded) {
        if (error.empty()) error = std::string("TLS bridge library ") + name + " not found";
        return;
      }
    }
    error.clear();
  });
  return error;
}

}  // namespace vpbx::http::detail
