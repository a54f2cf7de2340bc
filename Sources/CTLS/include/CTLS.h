// CTLS: the OpenSSL client context Vigil hands to libmosquitto (MOSQ_OPT_SSL_CTX) for a TLS
// broker. OpenSSL's setters are macros over SSL_CTX_ctrl and its headers are large, so Swift
// sees only these functions and an opaque pointer.
#ifndef CTLS_H
#define CTLS_H

#include <stddef.h>

/// An SSL_CTX for a TLS client: the chain verified against `ca_file`, the peer's certificate
/// checked by OpenSSL itself (X509_check_host, or the IP address when `peer_name` is numeric)
/// against `peer_name`, and SNI set to `peer_name` when it is a name. `cert_file` and
/// `key_file` (both or neither) give a client certificate. NULL and a reason in `error` when a
/// file cannot be used. Release with `vigil_tls_context_release`.
void *vigil_tls_client_context(const char *ca_file, const char *cert_file, const char *key_file,
                               const char *peer_name, char *error, size_t error_size);
/// Why the last peer certificate was refused ("hostname mismatch", "unable to get local issuer
/// certificate"), and forgets it; NULL when none was.
const char *vigil_tls_take_verify_error(void);
/// Drops the caller's reference (libmosquitto holds its own).
void vigil_tls_context_release(void *ctx);

#endif
