/*
 * OpenSSL contexts for the two legs, built from the configuration. A context is
 * reference-counted by OpenSSL, so a reload can replace it while sessions still use
 * the old one.
 */
#ifndef PGWARD_TLS_H
#define PGWARD_TLS_H

#include "pgward/common.h"
#include "pgward/config.h"

#include <openssl/ssl.h>

/*
 * Context for accepting client TLS, or NULL in <*out> when client_tls_sslmode is
 * disable. -1 with <err> filled if files cannot be loaded.
 */
int pgw_tls_client_side(const struct pgw_config *cfg, SSL_CTX **out, char *err,
			size_t errlen) PGW_MUSTCHECK;

/* Context for TLS towards the server, or NULL when server_tls_sslmode is disable. */
int pgw_tls_server_side(const struct pgw_config *cfg, SSL_CTX **out, char *err,
			size_t errlen) PGW_MUSTCHECK;

/*
 * A new SSL for one server connection to <host>: SNI, and for verify-full the host name
 * or IP address check. NULL on failure.
 */
SSL *pgw_tls_server_ssl(SSL_CTX *ctx, enum pgw_sslmode mode, const char *host);

/* A new SSL accepting one client. */
SSL *pgw_tls_client_ssl(SSL_CTX *ctx);

/* Common name of the verified client certificate, or false if there is none (or it
 * cannot be read whole: an embedded NUL, longer than <outlen> - 2). */
bool pgw_tls_peer_cn(SSL *ssl, char *out, size_t outlen);
/* The same for a certificate. */
bool pgw_tls_cert_cn(X509 *cert, char *out, size_t outlen);

#endif
