#include "CTLS.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static int is_numeric(const char *host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void set_error(char *error, size_t size, const char *what, const char *file) {
  if (error == NULL || size == 0) return;
  char reason[160] = "";
  unsigned long e = ERR_peek_last_error();
  if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  if (file != NULL) {
    snprintf(error, size, "%s %s: %s", what, file, reason[0] ? reason : "cannot be used");
  } else {
    snprintf(error, size, "%s: %s", what, reason[0] ? reason : "failed");
  }
}

// libmosquitto sets SNI to the string it connects to, which may be an address (RFC 6066 allows
// none in SNI). The handshake-start callback runs before the ClientHello is written, so SNI is
// set again from the name kept in the verify parameters: the broker's name, or none for an IP.
static void handshake_info(const SSL *ssl, int where, int ret) {
  (void)ret;
  if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
  SSL *s = (SSL *)ssl;
  const char *name = X509_VERIFY_PARAM_get0_host(SSL_get0_param(s), 0);
  SSL_set_tlsext_host_name(s, name);
}

// Why the last certificate was refused, for the log: libmosquitto reports only "A TLS error
// occurred". One thread uses it (the agent's loop).
static char verify_error[128];

static int verify_peer(int ok, X509_STORE_CTX *store) {
  if (!ok) {
    snprintf(verify_error, sizeof verify_error, "%s",
             X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
  }
  return ok;
}

// An encrypted key_file would otherwise have OpenSSL ask for its passphrase on /dev/tty, which
// blocks the loop when the agent runs from a terminal: no passphrase is given, the key refused.
static int no_passphrase(char *buf, int size, int rwflag, void *user) {
  (void)buf; (void)size; (void)rwflag; (void)user;
  return -1;
}

const char *vigil_tls_take_verify_error(void) {
  static char taken[sizeof verify_error];
  memcpy(taken, verify_error, sizeof taken);
  verify_error[0] = 0;
  return taken[0] ? taken : NULL;
}

void *vigil_tls_client_context(const char *ca_file, const char *cert_file, const char *key_file,
                               const char *peer_name, char *error, size_t error_size) {
  if (error != NULL && error_size > 0) error[0] = 0;
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    set_error(error, error_size, "SSL_CTX_new", NULL);
    return NULL;
  }
  // What libmosquitto 2.0 sets on a context of its own (net__init_ssl_ctx): TLS 1.2 at least,
  // no compression, buffers released while idle (about 34 KB a connection).
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
    set_error(error, error_size, "ca_file", ca_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  if (cert_file != NULL && key_file != NULL) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
      set_error(error, error_size, "cert_file", cert_file);
      SSL_CTX_free(ctx);
      return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
      set_error(error, error_size, "key_file", key_file);
      SSL_CTX_free(ctx);
      return NULL;
    }
  }
  // The peer's name is checked inside the handshake, so a certificate for another name fails
  // it before libmosquitto sends CONNECT (and the credentials in it).
  X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
  int ok;
  if (is_numeric(peer_name)) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(param, peer_name);
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = X509_VERIFY_PARAM_set1_host(param, peer_name, 0);
  }
  if (ok != 1) {
    set_error(error, error_size, "peer name", peer_name);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_peer);
  SSL_CTX_set_info_callback(ctx, handshake_info);
  return ctx;
}

void vigil_tls_context_release(void *ctx) {
  if (ctx != NULL) SSL_CTX_free((SSL_CTX *)ctx);
}
