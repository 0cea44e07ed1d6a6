/*
 * test_etsi014.c — the shared ETSI GS QKD 014 client's pure parts
 * (lib/etsi014.c): the Key container (clause 6.3), the Error body
 * (clause 6.5) and the request URL (clause 5.1).
 *
 * A container with exactly one key gives its key_ID and key; anything
 * else — no "keys" array, more than one key, a key_ID that is not a
 * UUID, bad or empty base64 — is refused with the output wiped.  The
 * n-key parser takes exactly n keys in the container's order, all with
 * distinct key_IDs; any fault wipes every output key.
 */
#include "harness.h"

#include "encoding.h"
#include "etsi014.h"

#define ID_TEXT "4f2b3c1a-9d8e-4a7b-8c6d-5e4f3a2b1c0d"
#define KEY16 "AAECAwQFBgcICQoLDA0ODw=="
#define KEY32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static const uint8_t id_bin[UUID_LEN] = {
	0x4f, 0x2b, 0x3c, 0x1a, 0x9d, 0x8e, 0x4a, 0x7b,
	0x8c, 0x6d, 0x5e, 0x4f, 0x3a, 0x2b, 0x1c, 0x0d,
};

static int
parse(const char *json, struct etsi014_key *k)
{
	char why[128];

	return etsi014_parse_keys(json, strlen(json), k, why, sizeof(why));
}

TEST(container_clause_6_3_example)
{
	/* ETSI GS QKD 014 clause 6.3 example container. */
	static const char ex[] =
	    "{\"keys\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\","
	    "\"key\":\"wHHVxRwDJs3/bXd38GHP3oe4svTuRpZS0yCC7x4Ly+s=\"}]}";
	struct etsi014_key k;
	char why[128], hex[65];

	ASSERT_INT_EQ(
	    etsi014_parse_keys(ex, sizeof(ex) - 1, &k, why, sizeof(why)), 0);
	ASSERT_INT_EQ(k.key_len, 32);
	hex_encode(hex, k.id, 16);
	ASSERT_STR_EQ(hex, "bc4904197d60487fadc14ddcc177c139");
	hex_encode(hex, k.key, 32);
	ASSERT_STR_EQ(hex,
		      "c071d5c51c0326cdff6d7777f061cfde87b8b2f4ee469652d320"
		      "82ef1e0bcbeb");
}

TEST(container_16_and_32_octets)
{
	struct etsi014_key k;
	uint8_t want[32];

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)i;
	ASSERT_INT_EQ(parse("{\"keys\":[{\"key_ID\":\"" ID_TEXT
			    "\",\"key\":\"" KEY16 "\"}]}",
			    &k),
		      0);
	ASSERT_INT_EQ(k.key_len, 16);
	ASSERT_MEM_EQ(k.id, id_bin, UUID_LEN);
	ASSERT_MEM_EQ(k.key, want, 16);
	/* Upper-case UUID, member order swapped, extension members. */
	ASSERT_INT_EQ(
	    parse("{\"keys\":[{\"key\":\"" KEY32 "\",\"key_ID\":"
		  "\"4F2B3C1A-9D8E-4A7B-8C6D-5E4F3A2B1C0D\","
		  "\"key_extension\":{}}],\"key_container_extension\":"
		  "null}",
		  &k),
	    0);
	ASSERT_INT_EQ(k.key_len, 32);
	ASSERT_MEM_EQ(k.id, id_bin, UUID_LEN);
	ASSERT_MEM_EQ(k.key, want, 32);
}

TEST(bad_containers_refused_and_wiped)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{}",
		"{\"keys\":[]}",
		"{\"keys\":{}}",
		"{\"keys\":{\"k\":{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16
		"\"}}}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"},"
		"{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT
		"\",\"key\":\"AAECAwQFBgcICQoLDA0ODw\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT
		"\",\"key\":\"AAECAwQFBgcICQoLDA0OD*==\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"AAA\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":16}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\"}]}",
		"{\"keys\":[{\"key\":\"" KEY16 "\"}]}",
		"{\"keys\":[{\"key_ID\":\"4f2b3c1a9d8e4a7b8c6d5e4f3a2b1c0d\",\"key\":\"" KEY16
		"\"}]}",
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "0\",\"key\":\"" KEY16
		"\"}]}",
		"{\"keys\":[{\"KEY_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16
		"\"}]}",
	};
	static const struct etsi014_key zero;
	struct etsi014_key k;
	char why[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(&k, 0xa5, sizeof(k));
		why[0] = '\0';
		if (etsi014_parse_keys(bad[i], strlen(bad[i]), &k, why,
				       sizeof(why)) != -1)
			TH_FAIL("accepted container #%zu", i);
		ASSERT_MEM_EQ(&k, &zero, sizeof(k));
		ASSERT_TRUE(why[0] != '\0');
	}
}

/*
 * Two keys: the clause 6.3 example's key (its bytes as in the test above)
 * and the 32 octets 0..31 under ID_TEXT.
 */
#define TWO_KEYS \
	"{\"keys\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\"," \
	"\"key\":\"wHHVxRwDJs3/bXd38GHP3oe4svTuRpZS0yCC7x4Ly+s=\"}," \
	"{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY32 "\"}]}"

TEST(container_n_keys_in_order)
{
	struct etsi014_key k[3];
	char why[128], hex[65];
	uint8_t want[32];

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)i;
	ASSERT_INT_EQ(etsi014_parse_keys_n(TWO_KEYS, strlen(TWO_KEYS), k, 2,
					   why, sizeof(why)),
		      0);
	hex_encode(hex, k[0].id, 16);
	ASSERT_STR_EQ(hex, "bc4904197d60487fadc14ddcc177c139");
	hex_encode(hex, k[0].key, 32);
	ASSERT_STR_EQ(hex,
		      "c071d5c51c0326cdff6d7777f061cfde87b8b2f4ee469652d320"
		      "82ef1e0bcbeb");
	ASSERT_MEM_EQ(k[1].id, id_bin, UUID_LEN);
	ASSERT_INT_EQ(k[1].key_len, 32);
	ASSERT_MEM_EQ(k[1].key, want, 32);
}

TEST(container_n_keys_refused_and_all_wiped)
{
	static const struct etsi014_key zero[3];
	static const char *const bad[] = {
		/* the same key_ID twice */
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"},"
		"{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY32 "\"}]}",
		/* the second key is not base64 */
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"},"
		"{\"key_ID\":\"550e8400-e29b-41d4-a716-446655440000\","
		"\"key\":\"AAA\"}]}",
		/* one key where two were asked for */
		"{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16
		"\"}]}",
	};
	struct etsi014_key k[3];
	char why[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(k, 0xa5, sizeof(k));
		why[0] = '\0';
		if (etsi014_parse_keys_n(bad[i], strlen(bad[i]), k, 2, why,
					 sizeof(why)) != -1)
			TH_FAIL("accepted container #%zu", i);
		ASSERT_MEM_EQ(k, zero, 2 * sizeof(*k));
		ASSERT_TRUE(why[0] != '\0');
	}
	/* Two keys are neither one nor three. */
	memset(k, 0xa5, sizeof(k));
	ASSERT_INT_EQ(etsi014_parse_keys_n(TWO_KEYS, strlen(TWO_KEYS), k, 3,
					   why, sizeof(why)),
		      -1);
	ASSERT_MEM_EQ(k, zero, sizeof(k));
	ASSERT_STR_EQ(why, "KME returned 2 keys, expected 3");
	ASSERT_INT_EQ(parse(TWO_KEYS, k), -1);
	ASSERT_MEM_EQ(k, zero, sizeof(*k));
	ASSERT_INT_EQ(etsi014_parse_keys_n(TWO_KEYS, strlen(TWO_KEYS), k, 0,
					   why, sizeof(why)),
		      -1);
}

TEST(length_bounds_the_input)
{
	static const char json[] =
	    "{\"keys\":[{\"key_ID\":\"" ID_TEXT "\",\"key\":\"" KEY16 "\"}]}";
	struct etsi014_key k;
	char why[128];

	/* The body is not NUL-terminated: the length alone ends it. */
	ASSERT_INT_EQ(etsi014_parse_keys(json, sizeof(json) - 2, &k, why,
					 sizeof(why)),
		      -1);
	ASSERT_INT_EQ(etsi014_parse_keys(json, sizeof(json) - 1, &k, why,
					 sizeof(why)),
		      0);
}

TEST(error_body)
{
	char msg[64];

	etsi014_parse_error(
	    "{\"message\":\"one or more keys specified are not found on KME\"}",
	    61, msg, sizeof(msg));
	ASSERT_STR_EQ(msg, "one or more keys specified are not found on KME");
	etsi014_parse_error("{\"message\":\"a\\nb\"}", 18, msg, sizeof(msg));
	ASSERT_STR_EQ(msg, "a?b");
	etsi014_parse_error("", 0, msg, sizeof(msg));
	ASSERT_STR_EQ(msg, "no error message");
	etsi014_parse_error(NULL, 0, msg, sizeof(msg));
	ASSERT_STR_EQ(msg, "no error message");
	etsi014_parse_error("<html>", 6, msg, sizeof(msg));
	ASSERT_STR_EQ(msg, "error body without a message");
	etsi014_parse_error(
	    "{\"message\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
	    94, msg, 8);
	ASSERT_STR_EQ(msg, "xxxxxxx");
}

TEST(url_rules)
{
	char url[96];

	ASSERT_INT_EQ(etsi014_url(url, sizeof(url), "https://kme-a:8443//",
				  "SAE_B", "enc_keys", "number=1&size=256"),
		      0);
	ASSERT_STR_EQ(url, "https://kme-a:8443/api/v1/keys/SAE_B/enc_keys?"
			   "number=1&size=256");
	ASSERT_INT_EQ(etsi014_url(url, sizeof(url), "https://[::1]:8443",
				  "a.b-c_d~", "status", NULL),
		      0);
	ASSERT_STR_EQ(url, "https://[::1]:8443/api/v1/keys/a.b-c_d~/status");
	/* Everything outside RFC 3986's unreserved set is %XX. */
	ASSERT_INT_EQ(etsi014_url(url, sizeof(url), "https://k", "a b/%\xff",
				  "dec_keys", "key_ID=x"),
		      0);
	ASSERT_STR_EQ(url,
		      "https://k/api/v1/keys/a%20b%2F%25%FF/dec_keys?key_ID=x");
	ASSERT_INT_EQ(
	    etsi014_url(url, sizeof(url), "http://k", "A", "status", NULL), -1);
	ASSERT_STR_EQ(url, "");
	ASSERT_INT_EQ(
	    etsi014_url(url, sizeof(url), "https://k", "", "status", NULL), -1);
	/* "https://k/api/v1/keys/A/status" is 30 octets: 31 with its NUL. */
	ASSERT_INT_EQ(etsi014_url(url, 31, "https://k", "A", "status", NULL),
		      0);
	ASSERT_INT_EQ(etsi014_url(url, 30, "https://k", "A", "status", NULL),
		      -1);
	ASSERT_INT_EQ(etsi014_url(url, 10, "https://kme", "A", "status", NULL),
		      -1);
}

TEST_MAIN(TEST_CASE(container_clause_6_3_example),
	  TEST_CASE(container_16_and_32_octets),
	  TEST_CASE(bad_containers_refused_and_wiped),
	  TEST_CASE(container_n_keys_in_order),
	  TEST_CASE(container_n_keys_refused_and_all_wiped),
	  TEST_CASE(length_bounds_the_input), TEST_CASE(error_body),
	  TEST_CASE(url_rules))
