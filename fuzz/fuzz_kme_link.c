/*
 * fuzz_kme_link.c — kme-sim's KME-link messages as the receiving KME
 * parses and validates them (kme_linkmsg_parse(), kme-sim/kme_linkmsg.c):
 * sync (pool figures, delivered key IDs, the sender's SAEs), reserve (a
 * batch of keys to record for our slaves), alloc (keys to take from
 * our pool), ping (the other side reaches us), and the trusted-node
 * relay's relay_pad (link key for a hop) and relay (a relayed key).
 *
 * Input: the first octet picks the path (mod 4: sync, reserve, alloc, an
 * unknown one, which is ping with 0x08, relay_pad with 0x10 and relay
 * with 0x30) and, with 0x04, the wrong role in the pair (relay_pad:
 * the role that asks for bits rather than sends the pad); the rest is
 * the POSTed body.  We are KME_B with SAE_B and SAE_B2; the caller is
 * KME_A (SAE_A, SAE_A2); KME_C (SAE_C) is another peer.  Checked beyond
 * "no memory error": an accepted message is the one the path names, came
 * to the right role, names a master of the caller and 1..17 of our SAEs,
 * and has counts and numbers within the bounds kme_linkmsg.h states; it
 * also survives re-encoding as kme_link.c's sender writes it.  A refusal
 * has a message and leaves nothing allocated.
 */
#include "../kme-sim/kme_linkmsg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kme_cfg cfg;
static const struct kme_limits lim = {
	.key_size = 256,
	.min_key_size = 64,
	.max_key_size = 1024,
	.max_key_per_request = 128,
	.max_sae_id_count = 4,
};
static const char *const paths[] = {
	"/link/v1/sync",  "/link/v1/reserve", "/link/v1/alloc",
	"/link/v1/sync2", "/link/v1/ping",    "/link/v1/relay_pad",
	"/link/v1/relay",
};

static void
setup(void)
{
	snprintf(cfg.kme_id, sizeof(cfg.kme_id), "KME_B");
	snprintf(cfg.saes[0], sizeof(cfg.saes[0]), "SAE_B");
	snprintf(cfg.saes[1], sizeof(cfg.saes[1]), "SAE_B2");
	cfg.nsaes = 2;
	snprintf(cfg.peers[0].id, sizeof(cfg.peers[0].id), "KME_A");
	snprintf(cfg.peers[0].saes[0], sizeof(cfg.peers[0].saes[0]), "SAE_A");
	snprintf(cfg.peers[0].saes[1], sizeof(cfg.peers[0].saes[1]), "SAE_A2");
	cfg.peers[0].nsaes = 2;
	snprintf(cfg.peers[1].id, sizeof(cfg.peers[1].id), "KME_C");
	snprintf(cfg.peers[1].saes[0], sizeof(cfg.peers[1].saes[0]), "SAE_C");
	cfg.peers[1].nsaes = 1;
	cfg.npeers = 2;
}

static void
check_parties(const struct kme_linkmsg_parties *pt)
{
	if (memchr(pt->master, '\0', sizeof(pt->master)) == NULL ||
	    kme_cfg_peer_of_sae(&cfg, pt->master) != &cfg.peers[0] ||
	    pt->nslaves < 1 || pt->nslaves > KME_MAX_SLAVES + 1)
		abort();
	for (size_t i = 0; i < pt->nslaves; i++)
		if (memchr(pt->slaves[i], '\0', sizeof(pt->slaves[i])) ==
			NULL ||
		    !kme_cfg_is_local_sae(&cfg, pt->slaves[i]))
			abort();
}

static void
check_sync(const struct kme_linkmsg_sync *s)
{
	if (s->pool_bits > s->max_bits || s->max_bits > (UINT64_C(1) << 53) ||
	    s->ndelivered > KME_LINKMSG_DELIVERED_MAX ||
	    s->saes.n > KME_MAX_SAES || (!s->saes.has && s->saes.n != 0))
		abort();
	for (size_t i = 0; i < s->saes.n; i++)
		if (memchr(s->saes.ids[i], '\0', sizeof(s->saes.ids[i])) ==
		    NULL)
			abort();
}

static void
check_reserve(const struct kme_linkmsg *m)
{
	if (m->u.reserve.nitems < 1 ||
	    m->u.reserve.nitems > KME_LINKMSG_BATCH_MAX)
		abort();
	for (size_t i = 0; i < m->u.reserve.nitems; i++) {
		const struct kme_linkmsg_resv *r = &m->u.reserve.items[i];

		check_parties(&r->parties);
		if (r->n < 1 || r->n > KME_MAX_KEYS || r->keys == NULL ||
		    r->key_len * 8 < lim.min_key_size ||
		    r->key_len * 8 > lim.max_key_size)
			abort();
		for (size_t j = 0; j < r->n; j++)
			if (r->keys[j].len != r->key_len ||
			    r->keys[j].bytes == NULL)
				abort();
	}
}

static void
check_alloc(const struct kme_linkmsg_alloc *a)
{
	check_parties(&a->parties);
	if (a->number < 1 || a->number > lim.max_key_per_request ||
	    a->size < lim.min_key_size || a->size > lim.max_key_size ||
	    a->size % 8 != 0)
		abort();
}

/* A relay came from KME_A to us, KME_B, within the bounds of kme_linkmsg.h. */
static void
check_relay(const struct kme_relaymsg *r)
{
	if (r->npath < 2 || r->npath > KME_RELAY_MAX_PATH || r->hop < 1 ||
	    r->hop >= r->npath || strcmp(r->path[r->hop], "KME_B") != 0 ||
	    strcmp(r->path[r->hop - 1], "KME_A") != 0 || r->n < 1 ||
	    r->n > lim.max_key_per_request || r->size < lim.min_key_size ||
	    r->size > lim.max_key_size || r->size % 8 != 0 || r->nslaves < 1 ||
	    r->nslaves > KME_MAX_SLAVES + 1)
		abort();
	if (!r->cancel && (r->ct == NULL || r->ct_len != r->n * r->size / 8))
		abort();
	for (size_t i = 0; r->hop == r->npath - 1 && i < r->nslaves; i++)
		if (!kme_cfg_is_local_sae(&cfg, r->slaves[i]))
			abort();
}

static void
check_pad(const struct kme_relaypad *p, bool authority)
{
	if (p->bits == 0 || p->bits % 8 != 0 ||
	    p->bits > (uint64_t)KME_RELAY_PAD_MAX * 8 ||
	    (p->pad == NULL) != authority ||
	    (p->pad != NULL && p->len * 8 != p->bits))
		abort();
}

static cJSON *
ids_json(const char (*ids)[KME_ID_MAX + 1], size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
	return arr;
}

static void
add_parties(cJSON *o, const struct kme_linkmsg_parties *pt)
{
	cJSON_AddStringToObject(o, "master", pt->master);
	cJSON_AddItemToObject(o, "slaves", ids_json(pt->slaves, pt->nslaves));
}

/* The message as kme_link.c's sender writes it (the fields it reads). */
static cJSON *
encode(const struct kme_linkmsg *m)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char id[UUID_STR_LEN + 1];

	switch (m->type) {
	case KME_LINKMSG_SYNC:
		cJSON_AddNumberToObject(o, "pool_bits",
					(double)m->u.sync.pool_bits);
		cJSON_AddNumberToObject(o, "max_bits",
					(double)m->u.sync.max_bits);
		arr = m->u.sync.saes.has ? cJSON_AddArrayToObject(o, "saes")
					 : NULL;
		for (size_t i = 0; arr != NULL && i < m->u.sync.saes.n; i++)
			cJSON_AddItemToArray(
			    arr, cJSON_CreateString(m->u.sync.saes.ids[i]));
		if (m->u.sync.ndelivered > 0) {
			arr = cJSON_AddArrayToObject(o, "delivered");
			for (size_t i = 0; i < m->u.sync.ndelivered; i++) {
				uuid_format(id, m->u.sync.delivered[i]);
				cJSON_AddItemToArray(arr,
						     cJSON_CreateString(id));
			}
		}
		break;
	case KME_LINKMSG_RESERVE:
		arr = cJSON_AddArrayToObject(o, "batch");
		for (size_t i = 0; i < m->u.reserve.nitems; i++) {
			const struct kme_linkmsg_resv *r =
			    &m->u.reserve.items[i];
			cJSON *it = kme_http_key_container(r->keys, r->n);

			add_parties(it, &r->parties);
			cJSON_AddItemToArray(arr, it);
		}
		break;
	case KME_LINKMSG_ALLOC:
		add_parties(o, &m->u.alloc.parties);
		cJSON_AddNumberToObject(o, "number", m->u.alloc.number);
		cJSON_AddNumberToObject(o, "size", m->u.alloc.size);
		break;
	case KME_LINKMSG_PING:
		break;
	case KME_LINKMSG_RELAY_PAD:
		cJSON_Delete(o);
		return kme_relaymsg_pad_json(m->u.pad.pad_id, m->u.pad.pad,
					     m->u.pad.len, m->u.pad.bits);
	case KME_LINKMSG_RELAY:
		cJSON_Delete(o);
		return kme_relaymsg_json(&m->u.relay);
	}
	return o;
}

static bool
same_parties(const struct kme_linkmsg_parties *a,
	     const struct kme_linkmsg_parties *b)
{
	if (strcmp(a->master, b->master) != 0 || a->nslaves != b->nslaves)
		return false;
	for (size_t i = 0; i < a->nslaves; i++)
		if (strcmp(a->slaves[i], b->slaves[i]) != 0)
			return false;
	return true;
}

/*
 * cJSON 1.7.15 prints a number with 15 significant digits when that reads
 * back within its tolerance, so pool figures of 10^15 bits or more arrive
 * rounded.  Configured pools stay far below (max_key_count * key_size <=
 * 10^8 * 65536 bits), so only smaller ones must come back exactly.
 */
#define EXACT_MAX UINT64_C(1000000000000000)

static bool
same_relay(const struct kme_relaymsg *r, const struct kme_relaymsg *q)
{
	if (r->cancel != q->cancel || r->npath != q->npath ||
	    r->hop != q->hop || strcmp(r->master, q->master) != 0 ||
	    r->nslaves != q->nslaves || r->size != q->size || r->n != q->n ||
	    memcmp(r->ids, q->ids, r->n * UUID_LEN) != 0)
		return false;
	for (size_t i = 0; i < r->npath; i++)
		if (strcmp(r->path[i], q->path[i]) != 0)
			return false;
	for (size_t i = 0; i < r->nslaves; i++)
		if (strcmp(r->slaves[i], q->slaves[i]) != 0)
			return false;
	return r->cancel || (memcmp(r->pad_id, q->pad_id, UUID_LEN) == 0 &&
			     r->ct_len == q->ct_len &&
			     memcmp(r->ct, q->ct, r->ct_len) == 0 &&
			     memcmp(r->mac, q->mac, KME_RELAY_MAC_LEN) == 0);
}

static bool
same(const struct kme_linkmsg *a, const struct kme_linkmsg *b)
{
	const struct kme_linkmsg_sync *s = &a->u.sync, *t = &b->u.sync;

	if (a->type != b->type)
		return false;
	switch (a->type) {
	case KME_LINKMSG_SYNC:
		if ((s->max_bits < EXACT_MAX && (s->pool_bits != t->pool_bits ||
						 s->max_bits != t->max_bits)) ||
		    s->saes.has != t->saes.has || s->saes.n != t->saes.n ||
		    s->ndelivered != t->ndelivered ||
		    memcmp(s->delivered, t->delivered,
			   s->ndelivered * UUID_LEN))
			return false;
		for (size_t i = 0; i < s->saes.n; i++)
			if (strcmp(s->saes.ids[i], t->saes.ids[i]) != 0)
				return false;
		return true;
	case KME_LINKMSG_RESERVE:
		if (a->u.reserve.nitems != b->u.reserve.nitems)
			return false;
		for (size_t i = 0; i < a->u.reserve.nitems; i++) {
			const struct kme_linkmsg_resv *r =
			    &a->u.reserve.items[i];
			const struct kme_linkmsg_resv *q =
			    &b->u.reserve.items[i];

			if (!same_parties(&r->parties, &q->parties) ||
			    r->n != q->n || r->key_len != q->key_len)
				return false;
			for (size_t j = 0; j < r->n; j++)
				if (memcmp(r->keys[j].id, q->keys[j].id,
					   UUID_LEN) ||
				    memcmp(r->keys[j].bytes, q->keys[j].bytes,
					   r->key_len))
					return false;
		}
		return true;
	case KME_LINKMSG_ALLOC:
		return same_parties(&a->u.alloc.parties, &b->u.alloc.parties) &&
		       a->u.alloc.number == b->u.alloc.number &&
		       a->u.alloc.size == b->u.alloc.size;
	case KME_LINKMSG_PING:
		return true;
	case KME_LINKMSG_RELAY_PAD:
		return memcmp(a->u.pad.pad_id, b->u.pad.pad_id, UUID_LEN) ==
			   0 &&
		       a->u.pad.bits == b->u.pad.bits &&
		       a->u.pad.len == b->u.pad.len &&
		       (a->u.pad.pad == NULL ||
			memcmp(a->u.pad.pad, b->u.pad.pad, a->u.pad.len) == 0);
	case KME_LINKMSG_RELAY:
		return same_relay(&a->u.relay, &b->u.relay);
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kme_linkmsg m, m2;
	struct kme_linkmsg_ctx ctx;
	char why[KME_ERR_MAX], *json;
	unsigned t;
	int rc;

	if (size < 1)
		return 0;
	if (cfg.nsaes == 0)
		setup();
	t = data[0] % 4;
	if (t == 3 && (data[0] & 0x08) != 0)
		t = 4;
	else if (t == 3 && (data[0] & 0x10) != 0)
		t = 5 + ((data[0] & 0x20) != 0); /* relay_pad, relay */
	ctx.cfg = &cfg;
	ctx.peer = &cfg.peers[0];
	ctx.lim = &lim;
	/* The right role: sync and reserve go to the authority's peer,
	 * alloc and ping to the authority. */
	ctx.authority = (t == 2 || t == 4) != ((data[0] & 0x04) != 0);
	memset(why, 'x', sizeof(why));
	rc = kme_linkmsg_parse(paths[t], (const char *)data + 1, size - 1, &ctx,
			       &m, why, sizeof(why));
	if (rc != 0) {
		if (rc != -1 || memchr(why, '\0', sizeof(why)) == NULL ||
		    why[0] == '\0' ||
		    (m.type == KME_LINKMSG_RESERVE && m.u.reserve.nitems != 0))
			abort();
		return 0;
	}
	if (t >= 5) {
		/* Either end of a link sends relay_pad and relay. */
		if (m.type !=
		    (t == 5 ? KME_LINKMSG_RELAY_PAD : KME_LINKMSG_RELAY))
			abort();
	} else if (t == 3 ||
		   (unsigned)m.type != (t == 4 ? KME_LINKMSG_PING : t) ||
		   (data[0] & 0x04) != 0) {
		abort();
	}
	switch (m.type) {
	case KME_LINKMSG_SYNC:
		check_sync(&m.u.sync);
		break;
	case KME_LINKMSG_RESERVE:
		check_reserve(&m);
		break;
	case KME_LINKMSG_ALLOC:
		check_alloc(&m.u.alloc);
		break;
	case KME_LINKMSG_PING:
		break;
	case KME_LINKMSG_RELAY_PAD:
		check_pad(&m.u.pad, ctx.authority);
		break;
	case KME_LINKMSG_RELAY:
		check_relay(&m.u.relay);
		break;
	}
	/* What we accepted, written again as our sender would, is accepted
	 * again as the same message. */
	{
		cJSON *o = encode(&m);

		json = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
	}
	if (json != NULL) {
		if (kme_linkmsg_parse(paths[t], json, strlen(json), &ctx, &m2,
				      why, sizeof(why)) != 0 ||
		    !same(&m, &m2))
			abort();
		kme_linkmsg_clear(&m2);
		cJSON_free(json);
	}
	kme_linkmsg_clear(&m);
	return 0;
}
