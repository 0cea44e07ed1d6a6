/*
 * kme_relay_int.h — what the files of the trusted-node relay share
 * (kme_relay.c: routes and the origin of a relay; kme_relay_hop.c: one
 * hop over a KME link, its link key and the link messages).  The rest of
 * kme-sim uses kme.h.
 */
#ifndef QKDLAB_KME_RELAY_INT_H
#define QKDLAB_KME_RELAY_INT_H

#include "kme.h"
#include "kme_linkmsg.h"

#define KME_RELAY_PADS 256 /* pads received and not yet used, per KME */
#define KME_RELAY_PAD_TTL_MS 60000 /* an unused pad is dropped after */

struct kme_relay_pad_slot {
	bool used;
	const struct kme_peer *peer;
	uint8_t id[UUID_LEN];
	uint8_t *pad; /* heap, wiped */
	size_t len;
	uint64_t t_ms; /* mono: when received */
};

/* A link of another KME that a relay failed on, avoided until until_ms. */
struct kme_relay_down {
	char a[KME_ID_MAX + 1], b[KME_ID_MAX + 1];
	uint64_t until_ms;
	char why[KME_ERR_MAX];
};

struct kme_relay {
	pthread_mutex_t lock;
	struct kme_relay_pad_slot pads[KME_RELAY_PADS];
	struct kme_relay_down down[KME_MAX_NET_LINKS];
	size_t ndown;
};

/*
 * Carries r (hop: the index of p in r->path) with the n * size / 8
 * octets of plain over the link to p: link key from the pair's pool as a
 * one-time pad, HMAC-SHA-256 under its last 32 octets.  A cancel goes
 * without either.  -1 with "relay hop X->Y: ..." in why (the hop that
 * failed, here or further on).
 */
int kme_relay_hop_send(struct kme *k, struct kme_peer *p,
		       struct kme_relaymsg *r, const uint8_t *plain, char *why,
		       size_t cap);

/* "relay hop from->to: w" into why (cap octets). */
void kme_relay_hop_why(char *why, size_t cap, const char *from, const char *to,
		       const char *w);
/* Whether the link to p can carry a hop now (usable, not starved, its
 * QKD not halted); if not, "link down: ..." or "no key material: ...". */
bool kme_relay_link_ok(struct kme *k, struct kme_peer *p, char *why,
		       size_t cap);

/* The link server's handlers of relay_pad and relay (kme_link_server.c). */
enum MHD_Result kme_relay_on_pad(struct kme *k, struct kme_peer *p,
				 struct MHD_Connection *conn,
				 struct kme_relaypad *m);
enum MHD_Result kme_relay_on_relay(struct kme *k, struct kme_peer *p,
				   struct MHD_Connection *conn,
				   struct kme_relaymsg *r);

#endif
