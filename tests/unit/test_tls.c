/*
 * tls.c's reading of a certificate's common name, which cert authentication compares with
 * the role: an embedded NUL or a name too long to read whole is no name at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <openssl/x509.h>

#include "pgward/tls.h"

static X509 *cert_with_cn(const char *cn, int len)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_get_subject_name(cert);

	assert_non_null(cert);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
						    (const unsigned char *)cn, len, -1, 0),
			 1);
	return cert;
}

static void test_cn_read_whole(void **state)
{
	X509 *cert = cert_with_cn("alice", -1);
	char out[256];

	assert_true(pgw_tls_cert_cn(cert, out, sizeof(out)));
	assert_string_equal(out, "alice");
	X509_free(cert);
}

static void test_cn_with_embedded_nul_refused(void **state)
{
	static const char cn[] = "alice\0.attacker.example";
	X509 *cert = cert_with_cn(cn, (int)sizeof(cn) - 1);
	char out[256];

	assert_false(pgw_tls_cert_cn(cert, out, sizeof(out)));
	X509_free(cert);
}

static void test_cn_too_long_refused(void **state)
{
	X509 *cert = cert_with_cn("a-name-longer-than-the-buffer", -1);
	char out[16];

	assert_false(pgw_tls_cert_cn(cert, out, sizeof(out)));
	X509_free(cert);
}

static void test_no_cn(void **state)
{
	X509 *cert = X509_new();
	char out[256];

	assert_false(pgw_tls_cert_cn(cert, out, sizeof(out)));
	X509_free(cert);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cn_read_whole),
		cmocka_unit_test(test_cn_with_embedded_nul_refused),
		cmocka_unit_test(test_cn_too_long_refused),
		cmocka_unit_test(test_no_cn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
