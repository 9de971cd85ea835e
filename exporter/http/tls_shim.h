#pragma once
// Debian's CivetWeb 1.15 loads OpenSSL at run time, by the names "libssl.so" and "libcrypto.so"
// (development symlinks), and through the OpenSSL 1.1 API: it wants SSL_get_peer_certificate,
// which OpenSSL 3 has only as a macro. Every TLS listener then fails with "cannot find
// SSL_get_peer_certificate". Two tiny libraries built here bridge the gap; dlopen() matches an
// already-loaded library by its SONAME, so loading them first is enough.

#include <string>

namespace vpbx::http::detail {

// Loads the bridge libraries once per process. Returns an empty string on success, else what
// went wrong (start() adds it to its error). Search order: $VPBX_TLS_SHIM_DIR, the install
// directory, the build directory.
std::string load_tls_shims();

}  // namespace vpbx::http::detail
