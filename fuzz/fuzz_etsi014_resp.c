/*
 * fuzz_etsi014_resp.c — mka-agent's parser of its KME's ETSI 014 Key
 * container (keysvc_etsi014_parse_container(), mka-agent/keysvc_etsi014.c),
 * whose key becomes a CAK.
 *
 * Input: the first octet picks the CAK length (even: 16 octets, odd: 32,
 * the two mka-agent.conf(5) allows); the rest is the 200 body.  Checked
 * beyond "no memory error":
 *  - nothing is written past key_len octets of the key buffer;
 *  - a refused container leaves the key wiped and the ID zeroed;
 *  - skip-proxy parses the same answer (skip_kme_parse_keys(), also 014
 *    Table 11 over cJSON) to the same verdict: an accepted container gives
 *    it the same key ID and the same key_len key octets, and a container
 *    it accepts with a key of key_len octets is accepted here.
 */
#include "../mka-agent/keysvc_etsi014.h"
#include "../skip-proxy/skip.h"

#include "secmem.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define CANARY 0xa5
#define SLACK 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t id[UUID_LEN], key[32 + SLACK];
	struct skip_kme_key other;
	char why[128];
	size_t key_len;
	int rc, orc;

	if (size == 0)
		return 0;
	key_len = (data[0] & 1) ? 32 : 16;
	memset(key, CANARY, sizeof(key));
	memset(id, CANARY, sizeof(id));
	rc = keysvc_etsi014_parse_container((const char *)data + 1, size - 1,
					    id, key, key_len);
	for (size_t i = key_len; i < sizeof(key); i++)
		if (key[i] != CANARY)
			abort();
	if (rc != 0) {
		if (rc != -1)
			abort();
		for (size_t i = 0; i < key_len; i++)
			if (key[i] != 0)
				abort();
		for (size_t i = 0; i < UUID_LEN; i++)
			if (id[i] != 0)
				abort();
	}
	orc = skip_kme_parse_keys((const char *)data + 1, size - 1, &other,
				  why, sizeof(why));
	if (rc == 0 &&
	    (orc != 0 || other.key_len != key_len ||
	     memcmp(other.id, id, UUID_LEN) != 0 ||
	     memcmp(other.key, key, key_len) != 0))
		abort();
	if (rc != 0 && orc == 0 && other.key_len == key_len)
		abort();
	secmem_wipe(&other, sizeof(other));
	secmem_wipe(key, sizeof(key));
	return 0;
}
