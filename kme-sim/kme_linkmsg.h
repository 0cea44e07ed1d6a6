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
	KME_LINKMSG_RELAY_PAD, /* either side: link key for one relay hop */
	KME_LINKMSG_RELAY, /* either side: a relayed key, or its cancel */
};

/* Trusted-node relay (kme_relaymsg.c, kme-sim(8) "TRUSTED-NODE RELAY"). */
#define KME_RELAY_MAC_LEN 32 /* HMAC-SHA-256 key and tag */
#define KME_RELAY_PAD_MAX (1024 * 1024) /* octets of link key per hop */

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
	/* The physics faults set at the authority (admin), so that both
	 * ends of the link report the same QBER, rate and state. */
	bool has_faults;
	struct qkd_faults faults;
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

/* relay_pad: the pad (from the pool authority) or bits to take (to it). */
struct kme_relaypad {
	uint8_t pad_id[UUID_LEN];
	uint64_t bits;
	uint8_t *pad; /* len octets (heap, wiped), or NULL */
	size_t len;
};

struct kme_relaymsg {
	bool cancel; /* undo: the keys must not be fetched */
	uint8_t pad_id[UUID_LEN];
	char path[KME_RELAY_MAX_PATH][KME_ID_MAX + 1]; /* origin .. dest */
	size_t npath;
	size_t hop; /* 1..npath-1: path[hop] receives from path[hop-1] */
	char master[KME_ID_MAX + 1];
	char slaves[KME_MAX_SLAVES + 1][KME_ID_MAX + 1]; /* at the dest */
	size_t nslaves;
	uint32_t size; /* bits per key */
	uint8_t ids[KME_MAX_KEYS][UUID_LEN];
	size_t n;
	uint8_t *ct; /* n * size / 8 octets: keys XOR pad (heap, wiped) */
	size_t ct_len;
	uint8_t mac[KME_RELAY_MAC_LEN];
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
		struct kme_relaypad pad;
		struct kme_relaymsg relay;
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

/* kme_relaymsg.c: the relay messages' fields (cJSON object msg). */
int kme_relaymsg_pad_parse(const struct kme_linkmsg_ctx *ctx,
			   const struct cJSON *msg, struct kme_relaypad *out,
			   char *why, size_t cap);
int kme_relaymsg_parse(const struct kme_linkmsg_ctx *ctx,
		       const struct cJSON *msg, struct kme_relaymsg *r,
		       char *why, size_t cap);
/* The tag of r under a KME_RELAY_MAC_LEN-octet key; 0 or -1. */
int kme_relaymsg_mac(const struct kme_relaymsg *r, const uint8_t *key,
		     uint8_t out[KME_RELAY_MAC_LEN]);
/* Whether r->mac is its tag under key (constant time). */
bool kme_relaymsg_mac_ok(const struct kme_relaymsg *r, const uint8_t *key);
/* The message as the sender POSTs it; NULL on no memory. */
struct cJSON *kme_relaymsg_json(const struct kme_relaymsg *r);
/* relay_pad with the pad (pad != NULL) or asking for bits. */
struct cJSON *kme_relaymsg_pad_json(const uint8_t pad_id[UUID_LEN],
				    const uint8_t *pad, size_t len,
				    uint64_t bits);
void kme_relaymsg_clear(struct kme_relaymsg *r);
void kme_relaypad_clear(struct kme_relaypad *p);

#endif
