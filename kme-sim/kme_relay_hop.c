/*
 * kme_relay_hop.c — one hop of the trusted-node relay (kme-sim(8),
 * "TRUSTED-NODE RELAY"), sender S to receiver R over their KME link:
 *
 *   1. relay_pad: link key of the S-R pool for this hop.  The pool
 *      authority of the pair takes the bits and draws the pad; it sends
 *      it (S is the authority) or answers with it (R is).  Like every key
 *      of the simulated QKD link, it crosses inside the link's TLS.
 *   2. relay: the keys XOR the pad's first n * size / 8 octets, and an
 *      HMAC-SHA-256 tag under its last 32 octets.  R verifies the tag,
 *      decrypts, and records the keys (R is the destination) or sends
 *      them on over its own link (R is a trusted node) before it answers.
 *
 * A pad is used once: R forgets it when the relay arrives, S when it is
 * sent.  Failures name the hop: "relay hop S->R: ...".
 */
#include "kme.h"
#include "kme_link_int.h"
#include "kme_relay_int.h"

#include "log.h"
#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
kme_relay_hop_why(char *why, size_t cap, const char *from, const char *to,
		  const char *w)
{
	int n = snprintf(why, cap, "relay hop %s->%s: %s", from, to, w);

	if (n >= 0 && (size_t)n >= cap)
		log_debug("relay: the message below is cut to %zu bytes",
			  cap - 1);
}

/* Keeps a pad received for a relay from p; -1 if every slot is busy. */
static int
kme_relay_pad_put(struct kme *k, const struct kme_peer *p,
		  const uint8_t id[UUID_LEN], uint8_t *pad, size_t len)
{
	struct kme_relay *rl = k->relay;
	uint64_t now = mono_ms();
	int rc = -1;

	pthread_mutex_lock(&rl->lock);
	for (size_t i = 0; i < KME_RELAY_PADS; i++) {
		struct kme_relay_pad_slot *s = &rl->pads[i];

		if (s->used && now - s->t_ms > KME_RELAY_PAD_TTL_MS) {
			secmem_wipe(s->pad, s->len);
			free(s->pad);
			s->used = false;
		}
		if (!s->used && rc == -1) {
			*s = (struct kme_relay_pad_slot){
				.used = true,
				.peer = p,
				.pad = pad,
				.len = len,
				.t_ms = now,
			};
			memcpy(s->id, id, UUID_LEN);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

/* Takes the pad p sent under id (the caller wipes and frees it). */
static uint8_t *
kme_relay_pad_take(struct kme *k, const struct kme_peer *p,
		   const uint8_t id[UUID_LEN], size_t *len)
{
	struct kme_relay *rl = k->relay;
	uint8_t *pad = NULL;

	pthread_mutex_lock(&rl->lock);
	for (size_t i = 0; i < KME_RELAY_PADS && pad == NULL; i++) {
		struct kme_relay_pad_slot *s = &rl->pads[i];

		if (s->used && s->peer == p &&
		    memcmp(s->id, id, UUID_LEN) == 0) {
			pad = s->pad;
			*len = s->len;
			s->used = false;
			s->pad = NULL;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return pad;
}

static void
kme_relay_pad_free(uint8_t *pad, size_t len)
{
	if (pad != NULL) {
		secmem_wipe(pad, len);
		free(pad);
	}
}

/*
 * Whether the link to p can carry a relay hop now: usable, not starved,
 * its QKD not halted (a relay avoids such a link while a route around it
 * exists).  why gets the cause.
 */
bool
kme_relay_link_ok(struct kme *k, struct kme_peer *p, char *why, size_t cap)
{
	char w[KME_ERR_MAX];
	bool starved, halted;

	if (!kme_link_usable(k, p, w, sizeof(w))) {
		snprintf(why, cap, "link down: %s", w);
		return false;
	}
	pthread_mutex_lock(&p->lock);
	starved = p->f_starve;
	halted = kme_link_model_halted(k, p, w, sizeof(w));
	pthread_mutex_unlock(&p->lock);
	if (starved) {
		snprintf(why, cap,
			 "no key material: pool starved (fault "
			 "injected)");
		return false;
	}
	if (halted) {
		snprintf(why, cap, "no key material: %s", w);
		return false;
	}
	return true;
}

/* Authority: len octets of pad from the pool of the link to p. */
static uint8_t *
kme_relay_pad_draw(struct kme_peer *p, size_t len, char *why, size_t cap)
{
	uint64_t have;
	uint8_t *pad;

	if (kme_link_pool_take(p, (uint64_t)len * 8, &have) == -1) {
		snprintf(why, cap,
			 "no key material: %llu bits needed, %llu in the pool",
			 (unsigned long long)len * 8, (unsigned long long)have);
		return NULL;
	}
	pad = malloc(len);
	if (pad == NULL || RAND_bytes(pad, (int)len) != 1) {
		free(pad);
		kme_link_pool_give(p, (uint64_t)len * 8);
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&p->lock);
	p->relay_pad_bits += (uint64_t)len * 8;
	pthread_mutex_unlock(&p->lock);
	return pad;
}

/* Sender: a pad of len octets shared with p under a new id. */
static uint8_t *
kme_relay_pad_get(struct kme *k, struct kme_peer *p, size_t len,
		  uint8_t id[UUID_LEN], char *why, size_t cap)
{
	char w[KME_ERR_MAX];
	uint8_t *pad = NULL;
	cJSON *msg = NULL, *reply = NULL;
	uint64_t bits;
	size_t got = 0;

	if (uuid_generate_v4(id) == -1) {
		snprintf(why, cap, "no random UUID");
		return NULL;
	}
	if (p->authority) {
		pad = kme_relay_pad_draw(p, len, why, cap);
		if (pad == NULL)
			return NULL;
		msg = kme_relaymsg_pad_json(id, pad, len, 0);
	} else {
		msg = kme_relaymsg_pad_json(id, NULL, 0, (uint64_t)len * 8);
	}
	reply =
	    msg ? kme_link_call(k, p, "relay_pad", msg, w, sizeof(w)) : NULL;
	if (reply == NULL) {
		/* Sent pad bits are spent: the peer may have kept them. */
		snprintf(why, cap, "%s", msg ? w : "out of memory");
		kme_relay_pad_free(pad, len);
		pad = NULL;
		goto out;
	}
	kme_link_touch(p);
	if (!p->authority) {
		const cJSON *jp =
		    cJSON_GetObjectItemCaseSensitive(reply, "pad");
		int n = -1;

		pad = malloc(len + 3);
		if (pad != NULL && cJSON_IsString(jp))
			n = base64_decode(pad, len + 3, jp->valuestring,
					  strlen(jp->valuestring));
		if (n == -1 || (size_t)n != len) {
			kme_relay_pad_free(pad, len + 3);
			pad = NULL;
			snprintf(why, cap, "KME %s sent a malformed pad",
				 p->cfg->id);
			goto out;
		}
		got = len;
		pthread_mutex_lock(&p->lock);
		p->relay_pad_bits += (uint64_t)got * 8;
		if (kme_linkmsg_bits(
			cJSON_GetObjectItemCaseSensitive(reply, "pool_bits"),
			&bits) == 0)
			p->pool_bits = bits;
		pthread_mutex_unlock(&p->lock);
	}
out:
	cJSON_Delete(msg);
	cJSON_Delete(reply);
	return pad;
}

/* The peer's message from a kme_link_call failure, if it names a hop. */
static const char *
kme_relay_inner(const char *why)
{
	return strstr(why, "relay hop ");
}

int
kme_relay_hop_send(struct kme *k, struct kme_peer *p, struct kme_relaymsg *r,
		   const uint8_t *plain, char *why, size_t cap)
{
	const char *from = r->path[r->hop - 1], *to = r->path[r->hop];
	char w[KME_ERR_MAX];
	uint8_t *pad = NULL, *ct = NULL, *ct_in = r->ct; /* the caller's */
	size_t len = r->ct_len + KME_RELAY_MAC_LEN;
	cJSON *msg = NULL, *reply = NULL;
	int rc = -1;

	if (!r->cancel) {
		if (!kme_relay_link_ok(k, p, w, sizeof(w)))
			goto fail;
		pad = kme_relay_pad_get(k, p, len, r->pad_id, w, sizeof(w));
		if (pad == NULL)
			goto fail;
		ct = malloc(r->ct_len ? r->ct_len : 1);
		if (ct == NULL) {
			snprintf(w, sizeof(w), "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < r->ct_len; i++)
			ct[i] = plain[i] ^ pad[i];
		r->ct = ct;
		if (kme_relaymsg_mac(r, pad + r->ct_len, r->mac) == -1) {
			snprintf(w, sizeof(w), "no HMAC");
			goto fail;
		}
	}
	msg = kme_relaymsg_json(r);
	reply = msg ? kme_link_call(k, p, "relay", msg, w, sizeof(w)) : NULL;
	if (reply == NULL) {
		if (msg == NULL)
			snprintf(w, sizeof(w), "out of memory");
		goto fail;
	}
	kme_link_touch(p);
	rc = 0;
	goto out;
fail:
	if (kme_relay_inner(w) != NULL)
		snprintf(why, cap, "%s", kme_relay_inner(w));
	else
		kme_relay_hop_why(why, cap, from, to, w);
out:
	if (msg != NULL) /* it held the ciphertext only, but wipe anyway */
		cJSON_Delete(msg);
	cJSON_Delete(reply);
	kme_relay_pad_free(pad, len);
	kme_relay_pad_free(ct, r->ct_len);
	r->ct = ct_in;
	return rc;
}

static enum MHD_Result
kme_relay_reply(struct MHD_Connection *conn, cJSON *reply)
{
	char *s = reply ? cJSON_PrintUnformatted(reply) : NULL;

	cJSON_Delete(reply);
	return kme_http_json(conn, 200, s);
}

enum MHD_Result
kme_relay_on_pad(struct kme *k, struct kme_peer *p, struct MHD_Connection *conn,
		 struct kme_relaypad *m)
{
	char why[KME_ERR_MAX], w[KME_ERR_MAX];
	uint8_t *pad;
	size_t len;
	cJSON *reply;

	if (m->pad != NULL) {
		/* From the authority: its pad, kept until the relay comes. */
		pad = m->pad;
		len = m->len;
		if (kme_relay_pad_put(k, p, m->pad_id, pad, len) == -1)
			return kme_http_error(conn, 503,
					      "too many relays in flight");
		m->pad = NULL;
		pthread_mutex_lock(&p->lock);
		p->relay_pad_bits += (uint64_t)len * 8;
		pthread_mutex_unlock(&p->lock);
		kme_link_touch(p);
		return kme_relay_reply(conn, cJSON_CreateObject());
	}
	len = (size_t)(m->bits / 8);
	if (!kme_relay_link_ok(k, p, w, sizeof(w)) ||
	    (pad = kme_relay_pad_draw(p, len, w, sizeof(w))) == NULL) {
		kme_relay_hop_why(why, sizeof(why), p->cfg->id, k->cfg.kme_id,
				  w);
		return kme_http_error(conn, 503, why);
	}
	reply = kme_relaymsg_pad_json(m->pad_id, pad, len, 0);
	if (reply == NULL ||
	    kme_relay_pad_put(k, p, m->pad_id, pad, len) == -1) {
		cJSON_Delete(reply);
		kme_relay_pad_free(pad, len);
		return kme_http_error(conn, 503, "too many relays in flight");
	}
	pthread_mutex_lock(&p->lock);
	cJSON_AddNumberToObject(reply, "pool_bits", (double)p->pool_bits);
	pthread_mutex_unlock(&p->lock);
	kme_link_touch(p);
	return kme_relay_reply(conn, reply);
}

/* Destination: the keys become fetchable by the slaves here, or are
 * fetched away for good (cancel). */
static int
kme_relay_record(struct kme *k, struct kme_relaymsg *r, const uint8_t *plain,
		 char *why, size_t cap)
{
	size_t klen = r->size / 8;
	struct kme_key *keys = kme_keys_new(r->n);
	int rc = -1, st;

	if (keys == NULL) {
		snprintf(why, cap, "out of memory");
		return -1;
	}
	if (r->cancel) {
		for (size_t i = 0; i < r->nslaves; i++) {
			kme_store_fetch(k->store, r->master, r->slaves[i],
					(const uint8_t(*)[UUID_LEN])r->ids,
					r->n, keys);
			kme_keys_free(keys, r->n);
			keys = kme_keys_new(r->n);
			if (keys == NULL)
				return 0;
		}
		log_info("relay: %zu key(s) from KME %s for %s cancelled", r->n,
			 r->path[0], r->master);
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		keys[i].bytes = malloc(klen);
		if (keys[i].bytes == NULL) {
			snprintf(why, cap, "out of memory");
			goto out;
		}
		keys[i].len = klen;
		memcpy(keys[i].id, r->ids[i], UUID_LEN);
		memcpy(keys[i].bytes, plain + i * klen, klen);
	}
	st = kme_store_reserve(k->store, r->path[0], 0, r->master, r->slaves,
			       r->nslaves, keys, r->n, kme_link_expiry(k));
	if (st != 0) {
		snprintf(why, cap, "%s",
			 st == 1 ? "a key_ID is already recorded"
				 : "key store error");
		goto out;
	}
	atomic_fetch_add(&k->metrics.relay_delivered, r->n);
	log_debug("relay: %zu key(s) from KME %s for %s recorded", r->n,
		  r->path[0], r->master);
	rc = 0;
out:
	kme_keys_free(keys, r->n);
	return rc;
}

/* The master must be an SAE of the origin, where this KME knows it. */
static bool
kme_relay_master_ok(const struct kme *k, const struct kme_relaymsg *r)
{
	const struct kme_peer_cfg *pc = kme_cfg_peer_of_sae(&k->cfg, r->master);
	const struct kme_remote_cfg *rc =
	    kme_relay_remote_of_sae(&k->cfg, r->master);

	if (kme_cfg_is_local_sae(&k->cfg, r->master))
		return false;
	if (pc != NULL)
		return strcmp(pc->id, r->path[0]) == 0;
	if (rc != NULL)
		return strcmp(rc->id, r->path[0]) == 0;
	return true;
}

enum MHD_Result
kme_relay_on_relay(struct kme *k, struct kme_peer *p,
		   struct MHD_Connection *conn, struct kme_relaymsg *r)
{
	char why[KME_ERR_MAX], w[KME_ERR_MAX];
	bool last = r->hop == r->npath - 1;
	uint8_t *pad = NULL, *plain = NULL;
	size_t len = 0;
	unsigned status = 503;
	int ok = -1;

	if (!r->cancel) {
		pad = kme_relay_pad_take(k, p, r->pad_id, &len);
		if (pad == NULL || len != r->ct_len + KME_RELAY_MAC_LEN) {
			snprintf(w, sizeof(w),
				 "pad unknown, used or of "
				 "another length");
			status = 400;
			goto fail;
		}
		if (!kme_relaymsg_mac_ok(r, pad + r->ct_len)) {
			snprintf(w, sizeof(w), "MAC does not verify");
			log_warnx("relay: a relay from KME %s failed its MAC",
				  p->cfg->id);
			status = 400;
			goto fail;
		}
		plain = malloc(r->ct_len ? r->ct_len : 1);
		if (plain == NULL) {
			snprintf(w, sizeof(w), "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < r->ct_len; i++)
			plain[i] = r->ct[i] ^ pad[i];
	}
	if (last) {
		if (!kme_relay_master_ok(k, r)) {
			snprintf(w, sizeof(w),
				 "master %s is not an SAE of KME %s in the "
				 "configuration of KME %s",
				 r->master, r->path[0], k->cfg.kme_id);
			status = 400;
			goto fail;
		}
		if (kme_relay_record(k, r, plain, w, sizeof(w)) == -1)
			goto fail;
	} else {
		struct kme_peer *q = kme_peer_by_id(k, r->path[r->hop + 1]);

		r->hop++;
		if (q == NULL) {
			snprintf(why, sizeof(why),
				 "relay hop %s->%s: KME %s is not a peer of "
				 "KME %s",
				 k->cfg.kme_id, r->path[r->hop],
				 r->path[r->hop], k->cfg.kme_id);
			goto out;
		}
		if (kme_relay_hop_send(k, q, r, plain, why, sizeof(why)) ==
		    -1) {
			if (!r->cancel)
				log_info("relay: %s", why);
			goto out;
		}
		if (!r->cancel)
			atomic_fetch_add(&k->metrics.relay_forwarded, r->n);
	}
	ok = 0;
	goto out;
fail:
	kme_relay_hop_why(why, sizeof(why), p->cfg->id, k->cfg.kme_id, w);
out:
	kme_relay_pad_free(pad, len);
	kme_relay_pad_free(plain, r->ct_len);
	if (ok == -1) {
		atomic_fetch_add(&k->metrics.relay_failed, 1);
		return kme_http_error(conn, status, why);
	}
	return kme_relay_reply(conn, cJSON_CreateObject());
}
