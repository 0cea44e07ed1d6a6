/*
 * etsi014.h — the pure parts of an ETSI GS QKD 014 client: the Key
 * container (clause 6.3), the Error body (clause 6.5) and the request
 * URL (clause 5.1).
 *
 * No I/O and no library state: unit-tested in tests/test_etsi014.c and
 * fuzzed by fuzz/fuzz_etsi014.c.  The HTTPS side is etsi014_client.h.
 */
#ifndef QKDLAB_ETSI014_H
#define QKDLAB_ETSI014_H

#include "encoding.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETSI014_KEY_MAX 1024 /* octets: 8192 bits, the most we ask for */
#define ETSI014_MSG_MAX 256 /* a KME's error message, or our diagnosis */

struct etsi014_key {
	uint8_t id[UUID_LEN]; /* the key_ID UUID's octets */
	uint8_t key[ETSI014_KEY_MAX];
	size_t key_len; /* 1..ETSI014_KEY_MAX */
};

/*
 * A Key container holding exactly n keys (n >= 1, the number asked for);
 * any other count is a KME fault, and taking some of more keys would
 * leave the others unwiped.  Each key_ID must be a UUID, distinct within
 * the container, each key base64 of 1..ETSI014_KEY_MAX octets.  Returns
 * 0 with out[0..n-1] filled in the container's order, or -1 with why set
 * and all of out wiped.  Every key text in the parsed tree is wiped before
 * it is freed; json itself is the caller's to wipe.
 */
int etsi014_parse_keys_n(const char *json, size_t len, struct etsi014_key *out,
			 size_t n, char *why, size_t whycap);
/* etsi014_parse_keys_n() for one key (number 1, or one key_ID). */
int etsi014_parse_keys(const char *json, size_t len, struct etsi014_key *out,
		       char *why, size_t whycap);

/*
 * The "message" of an Error body, printable (control characters become
 * '?') and cut to cap-1 octets, or a description of a body without one.
 * msg is always a non-empty NUL-terminated string (cap > 1).
 */
void etsi014_parse_error(const char *json, size_t len, char *msg, size_t cap);

/*
 * {base}/api/v1/keys/{sae}/{method}[?{query}] into out (clause 5.1).
 * base is "https://host[:port]"; trailing '/' are dropped.  sae (not
 * empty) is percent-encoded outside RFC 3986's unreserved characters.
 * query may be NULL.  0, or -1 (empty SAE ID, not https, too long).
 */
int etsi014_url(char *out, size_t cap, const char *base, const char *sae,
		const char *method, const char *query);

#endif
