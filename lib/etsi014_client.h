/*
 * etsi014_client.h — ETSI GS QKD 014 "Get key" (clause 5.2) and "Get key
 * with key IDs" (clause 5.3), over lib/https_client: number keys by
 * enc_keys, one by key_ID.
 *
 * Both calls consume a key at the KME, so they are retried only when the
 * request was never sent (https_client.h).  Used by mka-agent (the
 * etsi014 CAK source) and skip-proxy (its KME).
 */
#ifndef QKDLAB_ETSI014_CLIENT_H
#define QKDLAB_ETSI014_CLIENT_H

#include "etsi014.h"
#include "https_client.h"

enum etsi014_outcome {
	ETSI014_OK = 0,
	ETSI014_REFUSED, /* the KME answered with an error status */
	ETSI014_UNREACHABLE, /* no answer: connect/TLS/timeout */
	ETSI014_BAD_ANSWER, /* an answer we cannot use */
	ETSI014_LOCAL, /* local failure (memory, URL) */
};

struct etsi014_result {
	enum etsi014_outcome outcome;
	long http_status;
	char msg[ETSI014_MSG_MAX]; /* the KME's message or our diagnosis */
	unsigned attempts;
	uint64_t latency_us; /* all attempts together */
};

struct etsi014_client;

/* url: "https://host:port" of the KME (a trailing '/' is dropped). */
struct etsi014_client *etsi014_client_new(const char *url,
					  const struct https_client_cfg *cfg);
void etsi014_client_free(struct etsi014_client *c);

/*
 * enc_keys for slave: number (>= 1) keys of bits each into out[0..number-1],
 * in the KME's order.  All of out is wiped unless 0.
 */
int etsi014_get_keys(struct etsi014_client *c, const char *slave, unsigned bits,
		     unsigned number, struct etsi014_key *out,
		     struct etsi014_result *res);
/* etsi014_get_keys() for one key. */
int etsi014_get_key(struct etsi014_client *c, const char *slave, unsigned bits,
		    struct etsi014_key *out, struct etsi014_result *res);
/* dec_keys for master: the key with id.  out is wiped unless 0. */
int etsi014_get_key_with_id(struct etsi014_client *c, const char *master,
			    const uint8_t id[UUID_LEN], struct etsi014_key *out,
			    struct etsi014_result *res);

#endif
