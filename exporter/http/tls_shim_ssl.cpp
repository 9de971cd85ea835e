// Loaded before CivetWeb starts a TLS listener; see tls_shim.h for why it exists.
// Its SONAME is "libssl.so": CivetWeb's dlopen("libssl.so") then gets this library, and
// dlsym() finds the rest of OpenSSL in libssl.so.3, which this library depends on.

extern "C" {

struct ssl_st;
struct x509_st;

x509_st* SSL_get1_peer_certificate(const ssl_st* ssl);

// OpenSSL 1.1's name for the same call; OpenSSL 3 keeps it only as a macro, not as a symbol.
__attribute__((visibility("default"))) x509_st* SSL_get_peer_certificate(const ssl_st* ssl) {
  return SSL_get1_peer_certificate(ssl);
}

}  // extern "C"
