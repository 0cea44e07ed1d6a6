/*
 * fuzz_skip_kme.c — skip-proxy's parsers of its KME's ETSI 014 answers
 * (skip-proxy/skip_kme.c): the Key container of a 200 and the Error body
 * of a 4xx/5xx, whose message is passed on to routers and logs.
 *
 * Input: the first octet picks the parser (even: Key container, odd:
 * Error body); the rest is the HTTP body.  A container that parses holds
 * one key of 1..SKIP_KEY_MAX octets; a refusal says why; an error message
 * is NUL-terminated, fits, and has no control characters.
 */
#include "../skip-proxy/skip.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skip_kme_key key;
	char msg[SKIP_MSG_MAX];

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		char why[128] = "";

		if (skip_kme_parse_keys((const char *)data + 1, size - 1, &key,
					why, sizeof(why)) == 0) {
			if (key.key_len == 0 || key.key_len > SKIP_KEY_MAX)
				abort();
		} else if (why[0] == '\0' || key.key_len != 0) {
			abort();
		}
		return 0;
	}
	memset(msg, 'x', sizeof(msg));
	skip_kme_parse_error((const char *)data + 1, size - 1, msg, sizeof(msg));
	if (memchr(msg, '\0', sizeof(msg)) == NULL || msg[0] == '\0')
		abort();
	for (size_t i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			abort();
	return 0;
}
