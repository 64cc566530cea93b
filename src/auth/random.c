/*
 * Random bytes from a refilled block (random.h). Each byte is handed out once and zeroed
 * in the block as it goes; requests larger than the block go to OpenSSL directly. pgward
 * runs one thread and never forks after start, so the block is never shared.
 */
#include "pgward/random.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define BLOCK 1024

static unsigned char block[BLOCK];
static size_t used = BLOCK; /* bytes of <block> already handed out */

int pgw_random_bytes(void *out, size_t n)
{
	unsigned char *o = out;

	if (n > BLOCK / 4)
		return RAND_bytes(o, (int)n) == 1 ? 0 : -1;
	if (BLOCK - used < n) {
		if (RAND_bytes(block, BLOCK) != 1)
			return -1;
		used = 0;
	}
	memcpy(o, block + used, n);
	OPENSSL_cleanse(block + used, n);
	used += n;
	return 0;
}
