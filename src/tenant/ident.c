/*
 * The pure pieces of the tenant context: UUID syntax and the context's signature. No
 * sockets, no state. (Startup options are read by the canonical startup view.)
 */
#include "pgward/tenant.h"

#include "pgward/sha256.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pgw_uuid_valid(const char *s)
{
	static const int dash_at[] = {8, 13, 18, 23};
	size_t d = 0;

	if (strlen(s) != PGW_UUID_LEN)
		return false;
	for (int i = 0; i < PGW_UUID_LEN; i++) {
		if (d < PGW_ARRAY_LEN(dash_at) && i == dash_at[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

void pgw_tenant_sign(const char *secret, const char *user_id, const char *org_ids, uint32_t pid,
		     uint64_t checkout, char out[PGW_HMAC_HEX_LEN + 1])
{
	uint8_t mac[PGW_SHA256_LEN];
	size_t n = strlen(user_id) + strlen(org_ids) + 40;
	char *msg = malloc(n);
	int len;

	out[0] = '\0';
	if (msg == NULL)
		return;
	len = snprintf(msg, n, "%s%s%u:%llu", user_id, org_ids, pid, (unsigned long long)checkout);
	if (pgw_hmac_sha256(secret, strlen(secret), msg, (size_t)len, mac) == 0)
		for (unsigned i = 0; i < PGW_SHA256_LEN && i < PGW_HMAC_HEX_LEN / 2; i++)
			snprintf(out + 2 * i, 3, "%02x", mac[i]);
	free(msg);
}
