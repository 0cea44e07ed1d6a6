/*
 * fuzz_etsi014.c — the shared ETSI GS QKD 014 parsers (lib/etsi014.c)
 * over what a KME may answer: the Key container of a 200, whose key
 * becomes a CAK (mka-agent) or a SKIP key (skip-proxy), and the Error
 * body of a 4xx/5xx, whose message is passed on to routers and logs;
 * and the URL rule over an SAE ID.
 *
 * Input: the first octet picks the parser (bit 0 clear: Key container,
 * set: Error body; bit 1 set: also the rest as an SAE ID in a URL); bits
 * 2..3 + 1 are the number of keys the container must hold (1..4); the
 * rest is the body.  Checked beyond "no memory error":
 *  - an accepted container holds that many keys, each of
 *    1..ETSI014_KEY_MAX octets with nothing past key_len, with distinct
 *    key_IDs; a refusal says why and leaves every output key all zero;
 *  - an error message is NUL-terminated, non-empty, fits, and has no
 *    control characters;
 *  - a URL built is the base, the path, and the SAE ID with every octet
 *    outside RFC 3986's unreserved set as %XX, which decodes back to it.
 */
#include "etsi014.h"
#include "secmem.h"

#include <stdlib.h>
#include <string.h>

#define BASE "https://kme:8443"
#define PATH "/api/v1/keys/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_KEYS_MAX 4

static void
check_keys(const char *p, size_t len, size_t n)
{
	static const struct etsi014_key zero[FUZZ_KEYS_MAX];
	struct etsi014_key k[FUZZ_KEYS_MAX];
	char why[128] = "";

	memset(k, 0xa5, sizeof(k));
	if (etsi014_parse_keys_n(p, len, k, n, why, sizeof(why)) == 0) {
		for (size_t j = 0; j < n; j++) {
			if (k[j].key_len == 0 || k[j].key_len > ETSI014_KEY_MAX)
				abort();
			for (size_t i = k[j].key_len; i < sizeof(k[j].key); i++)
				if (k[j].key[i] != 0)
					abort();
			for (size_t i = 0; i < j; i++)
				if (memcmp(k[i].id, k[j].id, UUID_LEN) == 0)
					abort();
		}
	} else if (why[0] == '\0' || memcmp(k, zero, n * sizeof(*k)) != 0) {
		abort();
	}
	/* Past n: never written. */
	for (size_t j = n; j < FUZZ_KEYS_MAX; j++)
		if (k[j].key_len != (size_t)0xa5a5a5a5a5a5a5a5ull)
			abort();
	secmem_wipe(k, sizeof(k));
}

static void
check_error(const char *p, size_t n)
{
	char msg[ETSI014_MSG_MAX];

	memset(msg, 'x', sizeof(msg));
	etsi014_parse_error(p, n, msg, sizeof(msg));
	if (memchr(msg, '\0', sizeof(msg)) == NULL || msg[0] == '\0')
		abort();
	for (size_t i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			abort();
}

static int
unhex(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

static void
check_url(const char *p, size_t n)
{
	char sae[512], url[2048], back[512];
	const char *s, *e;
	size_t o = 0;

	if (n >= sizeof(sae))
		n = sizeof(sae) - 1;
	memcpy(sae, p, n);
	sae[n] = '\0';
	if (etsi014_url(url, sizeof(url), BASE "/", sae, "enc_keys",
			"number=1") == -1) {
		if (url[0] != '\0' || (sae[0] != '\0' && strlen(sae) < 600))
			abort();
		return;
	}
	if (strncmp(url, BASE PATH, strlen(BASE PATH)) != 0)
		abort();
	s = url + strlen(BASE PATH);
	e = strstr(s, "/enc_keys?number=1");
	if (e == NULL || strcmp(e, "/enc_keys?number=1") != 0)
		abort();
	for (; s < e; s++) {
		if (*s == '%') {
			int hi = unhex(s[1]), lo = hi < 0 ? -1 : unhex(s[2]);
			if (lo < 0)
				abort();
			back[o++] = (char)(hi * 16 + lo);
			s += 2;
		} else if (strchr(
			       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			       "0123456789-._~",
			       *s) != NULL) {
			back[o++] = *s;
		} else {
			abort();
		}
	}
	back[o] = '\0';
	if (strcmp(back, sae) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0)
		check_keys(p, size - 1, 1 + ((data[0] >> 2) & 3));
	else
		check_error(p, size - 1);
	if (data[0] & 2)
		check_url(p, size - 1);
	return 0;
}
