/*
 * kme_linkmsg.h — the KME-link messages a KME receives from its peer
 * (kme-sim(8), "KME LINK"), parsed and validated by a pure function: a
 * POSTed JSON body becomes a typed message with bounded arrays, or a
 * refusal with the message of the 400 the link server answers.  The
 * configuration, our role in the pair and the limits are inputs, not
 * daemon state, so that the parser can be unit tested and fuzzed
 * (fuzz/fuzz_kme_link.c); kme_link.c acts only on what it accepts.
 */
#ifndef QKDLAB_KME_LINKMSG_H
#define QKDLAB_KME_LINKMSG_H

#include "kme.h"

#define KME_LINKMSG_BATCH_MAX 64 /* reserve items per message */
#define KME_LINKMSG_DELIVERED_MAX 8192 /* key IDs per sync */

enum kme_linkmsg_type {
	KME_LINKMSG_SYNC, /* authority: pool figures, delivered keys, SAEs */
	KME_LINKMSG_RESERVE, /* authority: record these keys for our slaves */
	KME_LINKMSG_ALLOC, /* other side: take, record and send keys */
	KME_LINKMSG_PING, /* other side: it can reach us (an empty object) */
};

/* The receiving KME. */
struct kme_linkmsg_ctx {
	const struct kme_cfg *cfg; /* ours */
	const struct kme_peer_cfg *peer; /* the caller (its TLS CN) */
	bool authority; /* we hold the pair's pool */
	const struct kme_limits *lim;
};

/* A master served by the calling KME and slaves served by us. */
struct kme_linkmsg_parties {
	char master[KME_ID_MAX + 1];
	char slaves[KME_MAX_SLAVES + 1][KME_ID_MAX + 1];
	size_t nslaves; /* 1..KME_MAX_SLAVES + 1 */
};

/*
 * A KME's own SAEs, as syncs and their replies carry them: kept when the
 * list has at most KME_MAX_SAES strings, ignored otherwise (as from peers
 * that send none).  Each keeps one octet more than an ID may have, so
 * that a longer string stays unequal to every configured SAE ID.
 */
struct kme_linkmsg_saes {
	bool has;
	char ids[KME_MAX_SAES][KME_ID_MAX + 2];
	size_t n;
};

struct kme_linkmsg_sync {
	uint64_t pool_bits, max_bits; /* pool_bits <= max_bits <= 2^53 */
	uint8_t delivered[KME_LINKMSG_DELIVERED_MAX][UUID_LEN];
	size_t ndelivered;
	struct kme_linkmsg_saes saes;
};

struct kme_linkmsg_resv {
	struct kme_linkmsg_parties parties;
	struct kme_key *keys; /* n keys of key_len octets (heap) */
	size_t n; /* 1..KME_MAX_KEYS */
	size_t key_len; /* octets: min..max_key_size / 8 */
};

struct kme_linkmsg_alloc {
	struct kme_linkmsg_parties parties;
	uint32_t number; /* 1..max_key_per_request */
	uint32_t size; /* bits: min..max_key_size, octets */
};

struct kme_linkmsg {
	enum kme_linkmsg_type type;
	/* On a refusal: worth a log line (a master the two configurations
	 * disagree on, kme-sim(8)). */
	bool log_refusal;
	union {
		struct kme_linkmsg_sync sync;
		struct {
			struct kme_linkmsg_resv items[KME_LINKMSG_BATCH_MAX];
			size_t nitems; /* 1..KME_LINKMSG_BATCH_MAX */
		} reserve;
		struct kme_linkmsg_alloc alloc;
	} u;
};

/*
 * Parses and validates the body of a POST to path ("/link/v1/sync", ...)
 * from ctx->peer.  Returns 0 with m filled in, or -1 with the message of
 * the 400 in why (nothing is left to free then).  Refusals come in the
 * order of the checks: JSON object, known message, our role in the pair,
 * then the message's fields in order.
 */
int kme_linkmsg_parse(const char *path, const char *body, size_t len,
		      const struct kme_linkmsg_ctx *ctx, struct kme_linkmsg *m,
		      char *why, size_t cap);
/* Wipes and frees the keys of an accepted reserve; NULL-safe. */
void kme_linkmsg_clear(struct kme_linkmsg *m);

struct cJSON;
/* A pool figure in bits: an integer 0..2^53 (also in alloc replies). */
int kme_linkmsg_bits(const struct cJSON *n, uint64_t *out);
/* Appends " id" (the first 64 octets) to a space-separated list, if it fits. */
void kme_linkmsg_list_add(char *list, size_t cap, const char *id);
/* The "saes" of a sync or of its reply (arr may be NULL). */
void kme_linkmsg_saes(const struct cJSON *arr, struct kme_linkmsg_saes *out);

#endif
