/*
 * test_mka_etsi014.c — mka-agent's parser of the KME's ETSI GS QKD 014
 * Key container (keysvc_etsi014_parse_container()).
 *
 * A container with one key of the CAK's length (16 or 32 octets) gives
 * its key_ID and key; anything else — another length, a key_ID that is
 * not a UUID, no "keys" array, more than one key, bad base64 — is refused
 * with the key buffer wiped and nothing written past key_len.
 */
#include "harness.h"

#include "keysvc_etsi014.h"

#define ID_TEXT "4f2b3c1a-9d8e-4a7b-8c6d-5e4f3a2b1c0d"
#define KEY16 "AAECAwQFBgcICQoLDA0ODw=="
#define KEY32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static const uint8_t id_bin[UUID_LEN] = {
	0x4f, 0x2b, 0x3c, 0x1a, 0x9d, 0x8e, 0x4a, 0x7b,
	0x8c, 0x6d, 0x5e, 0x4f, 0x3a, 0x2b, 0x1c, 0x0d,
};

static int
parse(const char *json, uint8_t id[UUID_LEN], uint8_t *key, size_t key_len)
{
	return keysvc_etsi014_parse_container(json, strlen(json), id, key,
					      key_len);
}

TEST(container_16_and_32_octets)
{
	uint8_t id[UUID_LEN], key[32], want[32];

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)i;
	ASSERT_INT_EQ(parse("{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\""
			    KEY16 "\"}]}", id, key, 16), 0);
	ASSERT_MEM_EQ(id, id_bin, UUID_LEN);
	ASSERT_MEM_EQ(key, want, 16);
	/* Upper-case UUID, member order swapped, an extension member. */
	ASSERT_INT_EQ(parse("{\"keys\":[{\"key\":\"" KEY32 "\",\"key_ID\":"
			    "\"4F2B3C1A-9D8E-4A7B-8C6D-5E4F3A2B1C0D\","
			    "\"key_extension\":{}}],\"key_container_extension\":"
			    "null}", id, key, 32), 0);
	ASSERT_MEM_EQ(id, id_bin, UUID_LEN);
	ASSERT_MEM_EQ(key, want, 32);
}

TEST(bad_containers_refused_and_wiped)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"keys\":[]}",
		"{\"keys\":{\"k\":{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"}}}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"},"
		"{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY32 "\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"AAECAwQFBgcICQoLDA0O\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"AAECAwQFBgcICQoLDA0ODw\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"AAECAwQFBgcICQoLDA0OD*==\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":16}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\"}]}",
		"{\"keys\":[{\"key_ID\":\"4f2b3c1a9d8e4a7b8c6d5e4f3a2b1c0d\",\"key\":\"" KEY16 "\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "0\",\"key\":\"" KEY16 "\"}]}",
		"{\"keys\":[{\"KEY_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"}]}",
	};
	uint8_t id[UUID_LEN], key[16 + 8], zero[16] = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(key, 0xa5, sizeof(key));
		if (parse(bad[i], id, key, 16) != -1)
			TH_FAIL("accepted container #%zu", i);
		ASSERT_MEM_EQ(key, zero, 16);
		ASSERT_MEM_EQ(id, zero, UUID_LEN);
		for (size_t j = 16; j < sizeof(key); j++)
			ASSERT_INT_EQ(key[j], 0xa5);
	}
}

TEST(length_bounds_the_input)
{
	static const char json[] = "{\"keys\":[{\"key_ID\":\"" ID_TEXT
				   "\",\"key\":\"" KEY16 "\"}]}";
	uint8_t id[UUID_LEN], key[16];

	/* The body is not NUL-terminated: the length alone ends it. */
	ASSERT_INT_EQ(keysvc_etsi014_parse_container(json, sizeof(json) - 2,
						     id, key, sizeof(key)), -1);
	ASSERT_INT_EQ(keysvc_etsi014_parse_container(json, sizeof(json) - 1,
						     id, key, sizeof(key)), 0);
	ASSERT_INT_EQ(keysvc_etsi014_parse_container(json, sizeof(json) - 1,
						     id, key, 0), -1);
}

TEST_MAIN(TEST_CASE(container_16_and_32_octets),
	  TEST_CASE(bad_containers_refused_and_wiped),
	  TEST_CASE(length_bounds_the_input))
