// Loaded before CivetWeb starts a TLS listener; see tls_shim.h for why it exists.
// Its SONAME is "libcrypto.so" and it only depends on libcrypto.so.3: CivetWeb's
// dlopen("libcrypto.so") then works where no development symlink is installed.

extern "C" {
__attribute__((visibility("default"))) int vpbx_tls_shim_crypto = 1;
}
