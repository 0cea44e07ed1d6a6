/*
 * mka_suite.c — cipher suite table and XPN SSCI/salt rules.
 */
#include "mka_suite.h"

#include "mka_wire.h"
#include "util.h"

#include <string.h>
#include <strings.h>

static const struct mka_suite suites[] = {
	{ MKA_CS_GCM_AES_128, "gcm-aes-128", 16, false, true },
	{ MKA_CS_GCM_AES_256, "gcm-aes-256", 32, false, true },
	{ MKA_CS_GCM_AES_XPN_128, "gcm-aes-xpn-128", 16, true, false },
	{ MKA_CS_GCM_AES_XPN_256, "gcm-aes-xpn-256", 32, true, false },
};

const struct mka_suite *
mka_suite_by_id(uint64_t id)
{
	if (id == 0)
		id = MKA_CS_GCM_AES_128;
	for (size_t i = 0; i < ARRAY_LEN(suites); i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

const struct mka_suite *
mka_suite_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(suites); i++)
		if (strcasecmp(suites[i].name, name) == 0)
			return &suites[i];
	return NULL;
}

void
mka_xpn_salt(const uint8_t ks_mi[12], uint32_t kn, uint8_t salt[12])
{
	memcpy(salt, ks_mi, 12);
	salt[0] ^= (uint8_t)(kn >> 8);
	salt[1] ^= (uint8_t)kn;
	salt[2] ^= (uint8_t)(kn >> 24);
	salt[3] ^= (uint8_t)(kn >> 16);
}

int
mka_xpn_ssci(const uint8_t *scis, size_t n, const uint8_t sci[8],
	     uint32_t *ssci)
{
	uint32_t greater = 0;
	bool found = false;

	/* Rank = 1 + the number of members with a greater SCI. */
	for (size_t i = 0; i < n; i++) {
		int c = memcmp(scis + 8 * i, sci, 8);

		if (c > 0)
			greater++;
		else if (c == 0)
			found = true;
	}
	if (!found)
		return -1;
	*ssci = greater + 1;
	return 0;
}
