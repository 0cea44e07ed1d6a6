/*
 * mka_qkd.c — the QKD binding between the KaY and a key service.
 */
#include "mka_qkd.h"
#include "mka_timers.h"

#include "log.h"
#include "mka_crypto.h"
#include "secmem.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define RECENT_MAX 16

/* A CA this module created, and for which peer. */
struct qkd_ca {
	bool used;
	struct mka_participant *p;
	unsigned rank; /* creation order: newer is higher */
	char peer[MKA_SAE_MAX + 1];
	uint64_t created, last_live;
	bool had_live; /* its peer has been live once */
};

/* A lookup already made for (SAE ID, CKN): not repeated soon. */
struct recent {
	char sae[MKA_SAE_MAX + 1];
	uint8_t ckn[MKA_CKN_MAX];
	size_t ckn_len;
	uint64_t at;
};

struct mka_qkd {
	struct mka_qkd_conf conf;
	struct mka_kay *kay;
	bool initiator;
	struct qkd_ca cas[MKA_QKD_MAX_CAS];
	struct recent recent[RECENT_MAX];
	unsigned recent_i;
	uint64_t bucket_at; /* start of the current second */
	unsigned bucket_n; /* lookups in it */
	uint64_t next_announce;
	uint64_t retry_at; /* initiator: after a key service error */
	uint64_t qkd_live_at; /* last time a QKD CA had a live peer */
	bool stale; /* a QKD CA ended unrenewed: fallback at once */
	unsigned next_rank;
	struct mka_participant *fallback;
	uint64_t now;
	struct mka_qkd_counters c;
};

static bool
allowed(const struct mka_qkd *q, const char *sae)
{
	for (size_t i = 0; i < q->conf.n_allowed; i++)
		if (strcmp(q->conf.allowed[i], sae) == 0)
			return true;
	return false;
}

struct mka_qkd *
mka_qkd_new(const struct mka_qkd_conf *conf)
{
	struct mka_qkd *q;

	if (conf->own_sae[0] == '\0' || conf->n_allowed == 0 ||
	    (conf->cak_len != 16 && conf->cak_len != 32) || conf->ops == NULL) {
		log_warnx("qkd: own SAE ID, allowed peers, a 128- or 256-bit "
			  "CAK and a key service are required");
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->conf = *conf;
	mka_timers_qkd(&q->conf);
	q->next_rank = 1;
	/* docs/DESIGN.md: auto = the side whose SAE ID sorts lower initiates. */
	if (conf->role == MKA_ROLE_AUTO)
		q->initiator = strcmp(conf->own_sae, conf->allowed[0]) < 0;
	else
		q->initiator = conf->role == MKA_ROLE_INITIATOR;
	return q;
}

void
mka_qkd_free(struct mka_qkd *q)
{
	/* The conf holds the fallback CAK. */
	secmem_free(q);
}

bool
mka_qkd_is_initiator(const struct mka_qkd *q)
{
	return q->initiator;
}

const char *
mka_qkd_peer_of(const struct mka_qkd *q, const struct mka_participant *p)
{
	for (size_t i = 0; p != NULL && i < MKA_QKD_MAX_CAS; i++)
		if (q->cas[i].used && q->cas[i].p == p)
			return q->cas[i].peer;
	return NULL;
}

void
mka_qkd_get_counters(const struct mka_qkd *q, struct mka_qkd_counters *c)
{
	*c = q->c;
	c->fallback_active = q->fallback != NULL;
}

/* The newest CA with peer, or NULL. */
static struct qkd_ca *
ca_newest(struct mka_qkd *q, const char *peer)
{
	struct qkd_ca *best = NULL;

	for (size_t i = 0; i < MKA_QKD_MAX_CAS; i++) {
		struct qkd_ca *ca = &q->cas[i];

		if (ca->used && strcmp(ca->peer, peer) == 0 &&
		    (best == NULL || ca->rank > best->rank))
			best = ca;
	}
	return best;
}

/*
 * Some CA with peer answers its announcement: one whose peer is live (an
 * announcement, which anybody can send, does not end it), or a young one
 * whose peer has never been live (the peer is still fetching the key:
 * the grace of dead_ms, so a flood of announcements takes one key per
 * dead_ms, not one each).  A CA whose peer was live and no longer is has
 * lost it -- a restarted responder, whose key for that CA its KME has
 * consumed, announces itself -- so it gets a new key now, not dead_ms
 * after the old peer fell silent.
 */
static bool
peer_served(struct mka_qkd *q, const char *peer)
{
	for (size_t i = 0; i < MKA_QKD_MAX_CAS; i++) {
		const struct qkd_ca *ca = &q->cas[i];

		if (!ca->used || strcmp(ca->peer, peer) != 0)
			continue;
		if (mka_participant_live_peers(ca->p) > 0 ||
		    (!ca->had_live && q->now < ca->created + q->conf.dead_ms))
			return true;
	}
	return false;
}

static void
ca_drop(struct mka_qkd *q, struct qkd_ca *ca)
{
	mka_kay_remove_ca(q->kay, ca->p);
	memset(ca, 0, sizeof(*ca));
}

/*
 * A new CA with peer.  CAs of that peer without a live member go (a
 * restart); a live one stays until the new one is in use (rollover).
 */
static struct qkd_ca *
ca_add(struct mka_qkd *q, const char *peer, const uint8_t *cak,
       const uint8_t *ckn, size_t ckn_len, bool with_kmd)
{
	struct qkd_ca *ca = NULL;
	struct mka_participant *p;

	for (size_t i = 0; i < MKA_QKD_MAX_CAS; i++) {
		struct qkd_ca *o = &q->cas[i];

		if (o->used && strcmp(o->peer, peer) == 0 &&
		    mka_participant_live_peers(o->p) == 0)
			ca_drop(q, o);
	}
	for (size_t i = 0; i < MKA_QKD_MAX_CAS && ca == NULL; i++)
		if (!q->cas[i].used)
			ca = &q->cas[i];
	if (ca == NULL)
		return NULL;
	p = mka_kay_add_ca(q->kay, cak, q->conf.cak_len, ckn, ckn_len,
			   with_kmd ? (const uint8_t *)q->conf.own_sae : NULL,
			   with_kmd ? strlen(q->conf.own_sae) : 0, q->now);
	if (p == NULL)
		return NULL;
	ca->used = true;
	ca->p = p;
	ca->rank = q->next_rank++;
	mka_participant_set_rank(p, ca->rank);
	str_copy(ca->peer, sizeof(ca->peer), peer);
	ca->created = ca->last_live = q->now;
	return ca;
}

/* Initiator: a fresh key for peer and a CA on it. */
static void
new_ca(struct mka_qkd *q, const char *peer)
{
	uint8_t id[32], cak[MKA_KEY_MAX];
	size_t id_len = 0;

	if (q->now < q->retry_at)
		return;
	q->c.keys_requested++;
	if (q->conf.ops->new_key(q->conf.ops_arg, peer, q->conf.cak_len, id,
				 &id_len, cak) == -1 ||
	    id_len < 1 || id_len > 32) {
		q->c.key_errors++;
		q->retry_at = q->now + 5000;
		mka_kay_error(q->kay, "key service: no new key");
		goto out;
	}
	q->c.keys_fetched++;
	if (ca_add(q, peer, cak, id, id_len, true) != NULL)
		log_info("qkd: new CA with %s (key from the key service)",
			 peer);
out:
	secmem_wipe(cak, sizeof(cak));
}

/* Initiator: an allowed responder announced itself. */
static void
on_announce(void *arg, const uint8_t sa[6], const struct mka_announce *ann)
{
	struct mka_qkd *q = arg;
	char peer[MKA_SAE_MAX + 1];

	(void)sa;
	if (!q->initiator || !ann->has_kmd)
		return;
	memcpy(peer, ann->kmd.v, ann->kmd.len);
	peer[ann->kmd.len] = '\0';
	if (strlen(peer) != ann->kmd.len || !allowed(q, peer)) {
		q->c.peers_refused++;
		return;
	}
	if (!peer_served(q, peer))
		new_ca(q, peer);
}

/* One lookup per (SAE ID, CKN) per dead_ms; a few per second overall. */
static bool
lookup_allowed(struct mka_qkd *q, const char *sae, const uint8_t *ckn,
	       size_t ckn_len)
{
	struct recent *r;

	for (size_t i = 0; i < RECENT_MAX; i++) {
		r = &q->recent[i];
		if (r->at != 0 && q->now < r->at + q->conf.dead_ms &&
		    r->ckn_len == ckn_len &&
		    memcmp(r->ckn, ckn, ckn_len) == 0 &&
		    strcmp(r->sae, sae) == 0)
			return false;
	}
	if (q->now >= q->bucket_at + 1000) {
		q->bucket_at = q->now;
		q->bucket_n = 0;
	}
	if (q->bucket_n >= q->conf.lookups_per_s)
		return false;
	q->bucket_n++;
	r = &q->recent[q->recent_i];
	q->recent_i = (q->recent_i + 1) % RECENT_MAX;
	str_copy(r->sae, sizeof(r->sae), sae);
	memcpy(r->ckn, ckn, ckn_len);
	r->ckn_len = ckn_len;
	r->at = q->now;
	return true;
}

/* Responder: an MKPDU for a CA we do not know. */
static void
on_unknown_ckn(void *arg, const struct mkpdu *pdu, const uint8_t *frame,
	       size_t len)
{
	struct mka_qkd *q = arg;
	uint8_t cak[MKA_KEY_MAX], ick[MKA_KEY_MAX], ckn[MKA_CKN_MAX];
	char peer[MKA_SAE_MAX + 1];
	size_t ckn_len = pdu->basic.ckn_len;
	bool ok;

	if (q->initiator || !(pdu->has & MKA_HAS(MKA_PS_KMD)))
		return;
	memcpy(peer, pdu->kmd.v, pdu->kmd.len);
	peer[pdu->kmd.len] = '\0';
	if (strlen(peer) != pdu->kmd.len || !allowed(q, peer)) {
		q->c.peers_refused++;
		return;
	}
	memcpy(ckn, pdu->basic.ckn, ckn_len);
	if (!lookup_allowed(q, peer, ckn, ckn_len)) {
		q->c.lookups_limited++;
		return;
	}
	q->c.keys_requested++;
	if (q->conf.ops->get_key(q->conf.ops_arg, peer, ckn, ckn_len,
				 q->conf.cak_len, cak) == -1) {
		q->c.key_errors++;
		mka_kay_error(q->kay, "key service: key ID unknown");
		goto out;
	}
	q->c.keys_fetched++;
	/* The ICV with this key, before the key is used for anything. */
	ok = mka_derive_ick(cak, q->conf.cak_len, ckn, ckn_len, ick) == 0 &&
	     mka_pdu_icv_ok(pdu, frame, ick, q->conf.cak_len);
	if (!ok) {
		q->c.keys_rejected_icv++;
		mka_kay_error(q->kay, "QKD key does not verify the MKPDU ICV");
		goto out;
	}
	if (ca_add(q, peer, cak, ckn, ckn_len, false) == NULL)
		goto out;
	log_info("qkd: joined the CA of %s", peer);
	secmem_wipe(cak, sizeof(cak));
	secmem_wipe(ick, sizeof(ick));
	/* The frame that proved the key is now a member's MKPDU. */
	mka_kay_rx(q->kay, frame, len, q->now);
	return;
out:
	secmem_wipe(cak, sizeof(cak));
	secmem_wipe(ick, sizeof(ick));
}

void
mka_qkd_hook(struct mka_qkd *q, struct mka_kay_conf *kc)
{
	kc->announce = on_announce;
	kc->unknown_ckn = on_unknown_ckn;
	kc->hook_arg = q;
}

void
mka_qkd_attach(struct mka_qkd *q, struct mka_kay *kay)
{
	q->kay = kay;
}

/* Rollover done: CAs older than the one in use with that peer go. */
static void
retire_old(struct mka_qkd *q)
{
	for (size_t i = 0; i < MKA_QKD_MAX_CAS; i++) {
		struct qkd_ca *ca = &q->cas[i];

		if (!ca->used || !mka_participant_in_use(ca->p))
			continue;
		for (size_t j = 0; j < MKA_QKD_MAX_CAS; j++) {
			struct qkd_ca *o = &q->cas[j];

			if (o->used && o->rank < ca->rank &&
			    strcmp(o->peer, ca->peer) == 0) {
				log_info("qkd: CA with %s replaced, old CA "
					 "ended",
					 o->peer);
				ca_drop(q, o);
				q->c.rollovers++;
			}
		}
		q->stale = false;
		if (q->fallback != NULL) {
			log_info("qkd: QKD CA in use, fallback CA ended");
			mka_kay_remove_ca(q->kay, q->fallback);
			q->fallback = NULL;
		}
	}
}

static void
fallback_check(struct mka_qkd *q)
{
	if (!q->conf.has_fallback || q->fallback != NULL ||
	    (!q->stale && q->now < q->qkd_live_at + q->conf.fallback_after_ms))
		return;
	q->fallback =
	    mka_kay_add_ca(q->kay, q->conf.fb_cak, q->conf.fb_cak_len,
			   q->conf.fb_ckn, q->conf.fb_ckn_len, NULL, 0, q->now);
	if (q->fallback != NULL) {
		mka_participant_set_rank(q->fallback, 0);
		q->c.fallbacks++;
		log_warnx("qkd: no QKD CA for %u ms, fallback CA started",
			  (unsigned)q->conf.fallback_after_ms);
	}
}

void
mka_qkd_set_now(struct mka_qkd *q, uint64_t now)
{
	q->now = now;
}

void
mka_qkd_tick(struct mka_qkd *q, uint64_t now)
{
	bool live = false;

	q->now = now;
	if (q->qkd_live_at == 0)
		q->qkd_live_at = now;
	for (size_t i = 0; i < MKA_QKD_MAX_CAS; i++) {
		struct qkd_ca *ca = &q->cas[i];

		if (!ca->used)
			continue;
		if (mka_participant_live_peers(ca->p) > 0) {
			ca->last_live = q->qkd_live_at = now;
			ca->had_live = live = true;
		} else if (now >= ca->last_live + q->conf.dead_ms) {
			/* Its peer is gone (or never came): a new key next. */
			log_info("qkd: CA with %s has no live peer, ending it",
				 ca->peer);
			ca_drop(q, ca);
		}
	}
	/* Initiator: a fresh CAK every cak_lifetime (docs/DESIGN.md, "CAK rollover"). */
	for (size_t i = 0; q->initiator && q->conf.cak_lifetime_ms != 0 &&
			   i < MKA_QKD_MAX_CAS;
	     i++) {
		struct qkd_ca *ca = &q->cas[i];

		if (ca->used && ca == ca_newest(q, ca->peer) &&
		    mka_participant_in_use(ca->p) &&
		    now >= ca->created + q->conf.cak_lifetime_ms) {
			log_info("qkd: CAK lifetime over, new CA with %s",
				 ca->peer);
			new_ca(q, ca->peer);
		}
	}
	/*
	 * With a fallback CA configured, a CAK is not used on indefinitely:
	 * the newest CA with a peer ends fallback_after past its lifetime
	 * when no fresh key has replaced it (the key service failed), and
	 * the fallback CA takes over at once.  Both sides apply it from
	 * their own creation time, so they leave within a tick or two.
	 */
	for (size_t i = 0; q->conf.has_fallback &&
			   q->conf.cak_lifetime_ms != 0 && i < MKA_QKD_MAX_CAS;
	     i++) {
		struct qkd_ca *ca = &q->cas[i];

		if (ca->used && ca == ca_newest(q, ca->peer) &&
		    now >= ca->created + q->conf.cak_lifetime_ms +
			       q->conf.fallback_after_ms) {
			log_warnx("qkd: CA with %s %u ms past its lifetime "
				  "and no fresh key: ending it",
				  ca->peer,
				  (unsigned)q->conf.fallback_after_ms);
			ca_drop(q, ca);
			q->stale = true;
		}
	}
	retire_old(q);
	fallback_check(q);
	/* Responder: announce until part of a live CA (docs/DESIGN.md, "EAPOL-Announcements"). */
	if (!q->initiator && !live && now >= q->next_announce) {
		struct mka_announce ann = { .has_kmd = true };

		ann.kmd.len = strlen(q->conf.own_sae);
		memcpy(ann.kmd.v, q->conf.own_sae, ann.kmd.len);
		if (mka_kay_send_announce(q->kay, &ann) == 0)
			q->c.announcements_sent++;
		q->next_announce = now + q->conf.announce_ms;
	}
}
