/*
 * SSL_CTX construction for both legs: TLS 1.2 at least, certificate verification as
 * the sslmode asks, nothing else. Reload builds new contexts; it never edits a live one.
 */
#include "pgward/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static int tls_fail(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();

	snprintf(err, errlen, "%s %s: %s", what, file ? file : "",
		 e ? ERR_reason_error_string(e) : "unknown error");
	ERR_clear_error();
	return -1;
}

static bool set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int pgw_tls_client_side(const struct pgw_config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	*out = NULL;
	if (cfg->client_tls_sslmode == PGW_SSL_DISABLE)
		return 0;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return tls_fail(err, errlen, "cannot create client TLS context", NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->client_tls_cert_file) != 1) {
		tls_fail(err, errlen, "cannot load client_tls_cert_file",
			 cfg->client_tls_cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->client_tls_key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail(err, errlen, "cannot load client_tls_key_file", cfg->client_tls_key_file);
		goto fail;
	}
	if (set(cfg->client_tls_ca_file)) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->client_tls_ca_file, NULL) != 1) {
			tls_fail(err, errlen, "cannot load client_tls_ca_file",
				 cfg->client_tls_ca_file);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(cfg->client_tls_ca_file));
		/* A client certificate is checked whenever one is sent; verify-* demand one. */
		SSL_CTX_set_verify(ctx,
				   cfg->client_tls_sslmode >= PGW_SSL_VERIFY_CA
					   ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
					   : SSL_VERIFY_PEER,
				   NULL);
	}
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -1;
}

int pgw_tls_server_side(const struct pgw_config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	*out = NULL;
	if (cfg->server_tls_sslmode == PGW_SSL_DISABLE)
		return 0;
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return tls_fail(err, errlen, "cannot create server TLS context", NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (set(cfg->server_tls_ca_file) &&
	    SSL_CTX_load_verify_locations(ctx, cfg->server_tls_ca_file, NULL) != 1) {
		tls_fail(err, errlen, "cannot load server_tls_ca_file", cfg->server_tls_ca_file);
		goto fail;
	}
	if (set(cfg->server_tls_cert_file)) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cfg->server_tls_cert_file) != 1) {
			tls_fail(err, errlen, "cannot load server_tls_cert_file",
				 cfg->server_tls_cert_file);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, cfg->server_tls_key_file, SSL_FILETYPE_PEM) !=
			    1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			tls_fail(err, errlen, "cannot load server_tls_key_file",
				 cfg->server_tls_key_file);
			goto fail;
		}
	}
	SSL_CTX_set_verify(ctx,
			   cfg->server_tls_sslmode >= PGW_SSL_VERIFY_CA ? SSL_VERIFY_PEER
									: SSL_VERIFY_NONE,
			   NULL);
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -1;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

SSL *pgw_tls_server_ssl(SSL_CTX *ctx, enum pgw_sslmode mode, const char *host)
{
	SSL *ssl = SSL_new(ctx);
	bool ip = is_ip_literal(host);

	if (ssl == NULL)
		return NULL;
	SSL_set_connect_state(ssl);
	if (!ip)
		SSL_set_tlsext_host_name(ssl, host);
	if (mode == PGW_SSL_VERIFY_FULL) {
		X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
		int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
			    : X509_VERIFY_PARAM_set1_host(param, host, 0);

		if (ok != 1) {
			SSL_free(ssl);
			return NULL;
		}
	}
	return ssl;
}

SSL *pgw_tls_client_ssl(SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl != NULL)
		SSL_set_accept_state(ssl);
	return ssl;
}

bool pgw_tls_cert_cn(X509 *cert, char *out, size_t outlen)
{
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out,
					  (int)outlen);

	/* A NUL inside the name would let "alice\0.evil.example" pass for alice (PostgreSQL:
	 * "common name contains embedded null"); one that fills <out> may have been cut. */
	return n > 0 && (size_t)n == strlen(out) && (size_t)n + 1 < outlen;
}

bool pgw_tls_peer_cn(SSL *ssl, char *out, size_t outlen)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	bool ok;

	if (cert == NULL)
		return false;
	ok = pgw_tls_cert_cn(cert, out, outlen);
	X509_free(cert);
	return ok;
}
