/*
 * kme_linkmsg.c — parser and validator of the KME-link messages a KME
 * receives (see kme_linkmsg.h).  Parsing and validation are one pass over
 * the cJSON tree, field by field, so that a refusal carries the message
 * of the first failing check, as the link server has always answered.
 */
#include "kme_linkmsg.h"

#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/*
 * A pool size from the peer: a JSON number that is a whole count of bits
 * a double holds exactly (<= 2^53).  Converting anything larger, negative
 * or not finite to uint64_t would be undefined (C11 6.3.1.4).
 */
int
kme_linkmsg_bits(const cJSON *n, uint64_t *out)
{
	double v;

	if (!cJSON_IsNumber(n))
		return -1;
	v = n->valuedouble;
	if (!(v >= 0.0 && v <= 9007199254740992.0) || v != (double)(uint64_t)v)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

void
kme_linkmsg_list_add(char *list, size_t cap, const char *id)
{
	size_t off = strlen(list);

	if (off < cap)
		snprintf(list + off, cap - off, "%s%.64s", off > 0 ? " " : "",
			 id);
}

/* The master must be an SAE of the calling KME, the slaves ours. */
static int
kme_linkmsg_parties(const struct kme_linkmsg_ctx *ctx, const cJSON *msg,
		    struct kme_linkmsg_parties *out, struct kme_linkmsg *m,
		    char *why, size_t cap)
{
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(msg, "master");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(msg, "slaves"), *it;
	const struct kme_peer_cfg *pc = ctx->peer;

	if (!cJSON_IsString(ms) ||
	    kme_cfg_peer_of_sae(ctx->cfg, ms->valuestring) != pc) {
		/* Each KME knows its peers' SAEs from its own configuration
		 * only: name both sides, so that a drift shows. */
		char list[KME_ERR_MAX] = "";

		for (size_t i = 0; i < pc->nsaes; i++)
			kme_linkmsg_list_add(list, sizeof(list), pc->saes[i]);
		snprintf(why, cap,
			 "master %.64s is not an SAE of KME %s in the "
			 "configuration of KME %s ([peer %s] saes = %s)",
			 cJSON_IsString(ms) ? ms->valuestring : "(none)",
			 pc->id, ctx->cfg->kme_id, pc->id, list);
		m->log_refusal = true;
		return -1;
	}
	/* A configured SAE ID: it fits. */
	snprintf(out->master, sizeof(out->master), "%s", ms->valuestring);
	out->nslaves = 0;
	if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) < 1 ||
	    cJSON_GetArraySize(s) > KME_MAX_SLAVES + 1) {
		snprintf(why, cap, "slaves must be a list of 1..%d SAE IDs",
			 KME_MAX_SLAVES + 1);
		return -1;
	}
	cJSON_ArrayForEach(it, s)
	{
		if (!cJSON_IsString(it) ||
		    !kme_cfg_is_local_sae(ctx->cfg, it->valuestring)) {
			snprintf(why, cap,
				 "slave %.64s is not served by KME %s",
				 cJSON_IsString(it) ? it->valuestring : "?",
				 ctx->cfg->kme_id);
			return -1;
		}
		snprintf(out->slaves[out->nslaves++], KME_ID_MAX + 1, "%s",
			 it->valuestring);
	}
	return 0;
}

/* delivered: absent, or a list of at most KME_LINKMSG_DELIVERED_MAX key IDs. */
static int
kme_linkmsg_delivered(const cJSON *arr, struct kme_linkmsg_sync *out)
{
	const cJSON *it;

	out->ndelivered = 0;
	if (arr == NULL)
		return 0;
	if (!cJSON_IsArray(arr) ||
	    cJSON_GetArraySize(arr) > KME_LINKMSG_DELIVERED_MAX)
		return -1;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) ||
		    uuid_parse(out->delivered[out->ndelivered],
			       it->valuestring) == -1)
			return -1;
		out->ndelivered++;
	}
	return 0;
}

void
kme_linkmsg_saes(const cJSON *arr, struct kme_linkmsg_saes *out)
{
	const cJSON *it;

	out->has = false;
	out->n = 0;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > KME_MAX_SAES)
		return;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it)) {
			out->n = 0;
			return;
		}
		/* Cut to KME_ID_MAX + 1 octets: still no configured ID. */
		snprintf(out->ids[out->n++], sizeof(out->ids[0]), "%s",
			 it->valuestring);
	}
	out->has = true;
}

/* faults: absent (older peers, constant-rate links), or the admin's
 * physics faults within the ranges kme_admin.c accepts. */
static int
kme_linkmsg_faults(const cJSON *f, struct kme_linkmsg_sync *out, char *why,
		   size_t cap)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(f, "eve_fraction");
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(f, "added_loss_db");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(f, "cut");

	out->has_faults = false;
	if (f == NULL)
		return 0;
	if (!cJSON_IsObject(f) || !cJSON_IsNumber(e) || !cJSON_IsNumber(l) ||
	    !cJSON_IsBool(c) || !(e->valuedouble >= 0 && e->valuedouble <= 1) ||
	    !(l->valuedouble >= 0 && l->valuedouble <= 100)) {
		snprintf(why, cap,
			 "sync faults need eve_fraction (0..1), added_loss_db "
			 "(0..100) and cut (true or false)");
		return -1;
	}
	out->faults.eve_fraction = e->valuedouble;
	out->faults.added_loss_db = l->valuedouble;
	out->faults.cut = cJSON_IsTrue(c);
	out->has_faults = true;
	return 0;
}

static int
kme_linkmsg_sync(const struct kme_linkmsg_ctx *ctx, const cJSON *msg,
		 struct kme_linkmsg *m, char *why, size_t cap)
{
	struct kme_linkmsg_sync *out = &m->u.sync;

	if (ctx->authority) {
		snprintf(why, cap,
			 "sync goes from the pool authority (the "
			 "lower KME ID) only");
		return -1;
	}
	if (kme_linkmsg_bits(cJSON_GetObjectItemCaseSensitive(msg, "pool_bits"),
			     &out->pool_bits) == -1 ||
	    kme_linkmsg_bits(cJSON_GetObjectItemCaseSensitive(msg, "max_bits"),
			     &out->max_bits) == -1 ||
	    out->pool_bits > out->max_bits) {
		snprintf(why, cap,
			 "sync needs pool_bits and max_bits (integers, "
			 "0 <= pool_bits <= max_bits <= 2^53)");
		return -1;
	}
	if (kme_linkmsg_delivered(
		cJSON_GetObjectItemCaseSensitive(msg, "delivered"), out) ==
	    -1) {
		snprintf(why, cap, "delivered must be a list of key IDs");
		return -1;
	}
	kme_linkmsg_saes(cJSON_GetObjectItemCaseSensitive(msg, "saes"),
			 &out->saes);
	return kme_linkmsg_faults(
	    cJSON_GetObjectItemCaseSensitive(msg, "faults"), out, why, cap);
}

/* One batch item: parties checked, then 1..KME_MAX_KEYS keys of one length. */
static int
kme_linkmsg_resv(const struct kme_linkmsg_ctx *ctx, const cJSON *it,
		 struct kme_linkmsg_resv *out, struct kme_linkmsg *m, char *why,
		 size_t cap)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(it, "keys"), *k0;
	uint8_t tmp[KME_MAX_KEY_BITS / 8 + 3];
	size_t n;
	int got;

	if (kme_linkmsg_parties(ctx, it, &out->parties, m, why, cap) == -1)
		return -1;
	n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
	k0 = n > 0
		 ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 0),
						    "key")
		 : NULL;
	if (n < 1 || n > KME_MAX_KEYS || !cJSON_IsString(k0)) {
		snprintf(why, cap, "reserve needs 1..%d keys per item",
			 KME_MAX_KEYS);
		return -1;
	}
	/* The first key sets the length all of the item's keys must have. */
	got = base64_decode(tmp, sizeof(tmp), k0->valuestring,
			    strlen(k0->valuestring));
	secmem_wipe(tmp, sizeof(tmp));
	if (got <= 0) {
		snprintf(why, cap, "bad key encoding");
		return -1;
	}
	/* Only sizes this KME serves: a slave must never get a key its own
	 * enc_keys could not have made. */
	if ((uint64_t)got * 8 < ctx->lim->min_key_size ||
	    (uint64_t)got * 8 > ctx->lim->max_key_size) {
		snprintf(why, cap, "key size %d bits is outside %u..%u",
			 got * 8, ctx->lim->min_key_size,
			 ctx->lim->max_key_size);
		return -1;
	}
	out->keys = kme_http_parse_keys(arr, n, (size_t)got);
	if (out->keys == NULL) {
		snprintf(why, cap, "malformed keys");
		return -1;
	}
	out->n = n;
	out->key_len = (size_t)got;
	return 0;
}

static int
kme_linkmsg_reserve(const struct kme_linkmsg_ctx *ctx, const cJSON *msg,
		    struct kme_linkmsg *m, char *why, size_t cap)
{
	const cJSON *batch = cJSON_GetObjectItemCaseSensitive(msg, "batch"),
		    *it;

	m->u.reserve.nitems = 0;
	if (ctx->authority) {
		snprintf(why, cap,
			 "reserve goes to the pool authority's peer "
			 "only");
		return -1;
	}
	if (!cJSON_IsArray(batch) || cJSON_GetArraySize(batch) < 1 ||
	    cJSON_GetArraySize(batch) > KME_LINKMSG_BATCH_MAX) {
		snprintf(why, cap, "reserve needs a batch of 1..%d items",
			 KME_LINKMSG_BATCH_MAX);
		return -1;
	}
	cJSON_ArrayForEach(it, batch)
	{
		struct kme_linkmsg_resv *r =
		    &m->u.reserve.items[m->u.reserve.nitems];

		if (kme_linkmsg_resv(ctx, it, r, m, why, cap) == -1)
			return -1;
		m->u.reserve.nitems++;
	}
	return 0;
}

static int
kme_linkmsg_alloc(const struct kme_linkmsg_ctx *ctx, const cJSON *msg,
		  struct kme_linkmsg *m, char *why, size_t cap)
{
	const cJSON *jn = cJSON_GetObjectItemCaseSensitive(msg, "number");
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(msg, "size");
	struct kme_linkmsg_alloc *out = &m->u.alloc;

	if (!ctx->authority) {
		snprintf(why, cap,
			 "alloc goes to the pool authority (the lower "
			 "KME ID) only");
		return -1;
	}
	if (kme_linkmsg_parties(ctx, msg, &out->parties, m, why, cap) == -1)
		return -1;
	/* Range first: only then is the conversion to uint32_t defined. */
	if (!cJSON_IsNumber(jn) || !cJSON_IsNumber(js) || jn->valuedouble < 1 ||
	    jn->valuedouble > ctx->lim->max_key_per_request ||
	    js->valuedouble < ctx->lim->min_key_size ||
	    js->valuedouble > ctx->lim->max_key_size ||
	    /* whole numbers only: 1.5 keys must not become 1 */
	    jn->valuedouble != (double)(uint32_t)jn->valuedouble ||
	    js->valuedouble != (double)(uint32_t)js->valuedouble ||
	    (uint32_t)js->valuedouble % 8 != 0) {
		snprintf(why, cap, "alloc number or size out of range");
		return -1;
	}
	out->number = (uint32_t)jn->valuedouble;
	out->size = (uint32_t)js->valuedouble;
	return 0;
}

int
kme_linkmsg_parse(const char *path, const char *body, size_t len,
		  const struct kme_linkmsg_ctx *ctx, struct kme_linkmsg *m,
		  char *why, size_t cap)
{
	cJSON *msg = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	int rc = -1;

	memset(m, 0, offsetof(struct kme_linkmsg, u));
	if (!cJSON_IsObject(msg)) {
		snprintf(why, cap, "link message is not a JSON object");
		goto out;
	}
	if (strcmp(path, "/link/v1/sync") == 0) {
		m->type = KME_LINKMSG_SYNC;
		rc = kme_linkmsg_sync(ctx, msg, m, why, cap);
	} else if (strcmp(path, "/link/v1/reserve") == 0) {
		m->type = KME_LINKMSG_RESERVE;
		rc = kme_linkmsg_reserve(ctx, msg, m, why, cap);
	} else if (strcmp(path, "/link/v1/alloc") == 0) {
		m->type = KME_LINKMSG_ALLOC;
		rc = kme_linkmsg_alloc(ctx, msg, m, why, cap);
	} else if (strcmp(path, "/link/v1/ping") == 0) {
		m->type = KME_LINKMSG_PING;
		rc = 0;
		if (!ctx->authority) {
			snprintf(why, cap,
				 "ping goes to the pool authority (the "
				 "lower KME ID) only");
			rc = -1;
		}
	} else if (strcmp(path, "/link/v1/relay_pad") == 0) {
		m->type = KME_LINKMSG_RELAY_PAD;
		memset(&m->u.pad, 0, sizeof(m->u.pad));
		rc = kme_relaymsg_pad_parse(ctx, msg, &m->u.pad, why, cap);
	} else if (strcmp(path, "/link/v1/relay") == 0) {
		m->type = KME_LINKMSG_RELAY;
		m->u.relay.ct = NULL;
		rc = kme_relaymsg_parse(ctx, msg, &m->u.relay, why, cap);
	} else {
		snprintf(why, cap, "unknown link message");
	}
out:
	cJSON_Delete(msg);
	if (rc == -1)
		kme_linkmsg_clear(m);
	return rc;
}

void
kme_linkmsg_clear(struct kme_linkmsg *m)
{
	if (m != NULL && m->type == KME_LINKMSG_RELAY_PAD)
		kme_relaypad_clear(&m->u.pad);
	if (m != NULL && m->type == KME_LINKMSG_RELAY)
		kme_relaymsg_clear(&m->u.relay);
	if (m == NULL || m->type != KME_LINKMSG_RESERVE)
		return;
	for (size_t i = 0; i < m->u.reserve.nitems; i++) {
		kme_keys_free(m->u.reserve.items[i].keys,
			      m->u.reserve.items[i].n);
		m->u.reserve.items[i].keys = NULL;
	}
	m->u.reserve.nitems = 0;
}
