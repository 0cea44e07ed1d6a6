/*
 * kme_keys.c — key objects: IDs (UUIDv7) and bytes drawn from the
 * OpenSSL RNG, wiped when freed.
 */
#include "kme.h"

#include "secmem.h"
#include "util.h"

#include <limits.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct kme_key *
kme_keys_new(size_t n)
{
	return calloc(n ? n : 1, sizeof(struct kme_key));
}

void
kme_keys_free(struct kme_key *keys, size_t n)
{
	if (keys == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		secmem_free(keys[i].bytes);
	free(keys);
}

struct kme_key *
kme_keys_new_random(size_t n, size_t len)
{
	struct kme_key *keys = kme_keys_new(n);
	uint8_t(*ids)[UUID_LEN] = NULL, *bytes = NULL;
	bool ok = false;

	if (keys == NULL || n == 0)
		return keys;
	if (len == 0 || n > INT_MAX / len)
		goto out;
	/* One RNG call for the IDs and one for the bytes of all n keys. */
	ids = calloc(n, UUID_LEN);
	bytes = malloc(n * len);
	if (ids == NULL || bytes == NULL || uuid_generate_v7_n(ids, n) == -1 ||
	    RAND_bytes(bytes, (int)(n * len)) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		keys[i].bytes = malloc(len);
		if (keys[i].bytes == NULL)
			goto out;
		keys[i].len = len;
		memcpy(keys[i].id, ids[i], UUID_LEN);
		memcpy(keys[i].bytes, bytes + i * len, len);
	}
	ok = true;
out:
	free(ids);
	if (bytes != NULL)
		secmem_free(bytes);
	if (!ok) {
		kme_keys_free(keys, n);
		return NULL;
	}
	return keys;
}
