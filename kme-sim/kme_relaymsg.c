/*
 * kme_relaymsg.c — the two KME-link messages of the trusted-node relay
 * (kme-sim(8), "TRUSTED-NODE RELAY"), parsed and validated for
 * kme_linkmsg_parse(), written for the sender, and the MAC both ends
 * compute over a relay:
 *
 *   relay_pad  link key for one hop: from the pool authority the pad
 *              itself {"pad_id","pad"}, to it a request {"pad_id","bits"}
 *   relay      {"pad_id","path","hop","master","slaves","size",
 *               "key_IDs","ct","mac"}: ct = keys XOR pad, mac =
 *              HMAC-SHA-256 keyed by the pad's last 32 octets; or
 *              {"cancel":true,...} without pad_id, ct and mac
 */
#include "kme_linkmsg.h"

#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
kme_relaymsg_uuid(const cJSON *j, uint8_t out[UUID_LEN])
{
	return cJSON_IsString(j) && uuid_parse(out, j->valuestring) == 0 ? 0
									 : -1;
}

/* Decodes base64 of exactly want octets (any length 1..max if want is
 * 0) into a heap block; NULL otherwise. */
static uint8_t *
kme_relaymsg_b64(const cJSON *j, size_t want, size_t max, size_t *len)
{
	size_t cap;
	uint8_t *out;
	int got;

	if (!cJSON_IsString(j))
		return NULL;
	/* Padded base64: at most 3 octets per 4 characters. */
	cap = strlen(j->valuestring) / 4 * 3;
	if (cap > max + 2)
		return NULL;
	cap += 3;
	out = malloc(cap);
	if (out == NULL)
		return NULL;
	got = base64_decode(out, cap, j->valuestring, strlen(j->valuestring));
	if (got <= 0 || (want > 0 && (size_t)got != want) ||
	    (size_t)got > max) {
		secmem_free(out);
		return NULL;
	}
	*len = (size_t)got;
	return out;
}

int
kme_relaymsg_pad_parse(const struct kme_linkmsg_ctx *ctx, const cJSON *msg,
		       struct kme_relaypad *out, char *why, size_t cap)
{
	const cJSON *jb = cJSON_GetObjectItemCaseSensitive(msg, "bits");

	if (kme_relaymsg_uuid(cJSON_GetObjectItemCaseSensitive(msg, "pad_id"),
			      out->pad_id) == -1) {
		snprintf(why, cap, "relay_pad needs a pad_id (a UUID)");
		return -1;
	}
	if (ctx->authority) {
		/* We hold the pool: the caller asks for bits of it. */
		if (kme_linkmsg_bits(jb, &out->bits) == -1 || out->bits == 0 ||
		    out->bits % 8 != 0 ||
		    out->bits > (uint64_t)KME_RELAY_PAD_MAX * 8) {
			snprintf(why, cap,
				 "relay_pad to the pool authority needs bits "
				 "(8..%d, a multiple of 8)",
				 KME_RELAY_PAD_MAX * 8);
			return -1;
		}
		return 0;
	}
	out->pad =
	    kme_relaymsg_b64(cJSON_GetObjectItemCaseSensitive(msg, "pad"), 0,
			     KME_RELAY_PAD_MAX, &out->len);
	if (out->pad == NULL) {
		snprintf(why, cap,
			 "relay_pad from the pool authority needs pad (base64, "
			 "1..%d octets)",
			 KME_RELAY_PAD_MAX);
		return -1;
	}
	out->bits = (uint64_t)out->len * 8;
	return 0;
}

/* A list of 1..max IDs into out; -1 if anything else. */
static int
kme_relaymsg_ids(const cJSON *arr, char (*out)[KME_ID_MAX + 1], size_t max,
		 size_t *n)
{
	const cJSON *it;

	*n = 0;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
	    (size_t)cJSON_GetArraySize(arr) > max)
		return -1;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || !kme_cfg_valid_id(it->valuestring))
			return -1;
		snprintf(out[(*n)++], KME_ID_MAX + 1, "%s", it->valuestring);
	}
	return 0;
}

/* path: 2..KME_RELAY_MAX_PATH distinct KMEs, we at hop, the caller before. */
static int
kme_relaymsg_path(const struct kme_linkmsg_ctx *ctx, const cJSON *msg,
		  struct kme_relaymsg *r, char *why, size_t cap)
{
	const cJSON *jh = cJSON_GetObjectItemCaseSensitive(msg, "hop");

	if (kme_relaymsg_ids(cJSON_GetObjectItemCaseSensitive(msg, "path"),
			     r->path, KME_RELAY_MAX_PATH, &r->npath) == -1 ||
	    r->npath < 2) {
		snprintf(why, cap, "relay needs a path of 2..%d KME IDs",
			 KME_RELAY_MAX_PATH);
		return -1;
	}
	for (size_t i = 0; i < r->npath; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(r->path[i], r->path[j]) == 0) {
				snprintf(why, cap,
					 "relay path passes KME %s twice",
					 r->path[i]);
				return -1;
			}
		}
	}
	if (!cJSON_IsNumber(jh) || jh->valuedouble < 1 ||
	    jh->valuedouble > (double)(r->npath - 1) ||
	    jh->valuedouble != (double)(size_t)jh->valuedouble) {
		snprintf(why, cap, "relay hop must be 1..%zu", r->npath - 1);
		return -1;
	}
	r->hop = (size_t)jh->valuedouble;
	if (strcmp(r->path[r->hop], ctx->cfg->kme_id) != 0 ||
	    strcmp(r->path[r->hop - 1], ctx->peer->id) != 0) {
		snprintf(why, cap,
			 "relay hop %zu of its path is %s->%s, not %s->%s",
			 r->hop, r->path[r->hop - 1], r->path[r->hop],
			 ctx->peer->id, ctx->cfg->kme_id);
		return -1;
	}
	return 0;
}

/* master, slaves (ours at the destination), size and key IDs. */
static int
kme_relaymsg_keys(const struct kme_linkmsg_ctx *ctx, const cJSON *msg,
		  struct kme_relaymsg *r, char *why, size_t cap)
{
	const cJSON *jm = cJSON_GetObjectItemCaseSensitive(msg, "master");
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(msg, "size");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(msg, "key_IDs");
	const cJSON *it;

	if (!cJSON_IsString(jm) || !kme_cfg_valid_id(jm->valuestring)) {
		snprintf(why, cap, "relay needs a master SAE ID");
		return -1;
	}
	snprintf(r->master, sizeof(r->master), "%s", jm->valuestring);
	if (kme_relaymsg_ids(cJSON_GetObjectItemCaseSensitive(msg, "slaves"),
			     r->slaves, KME_MAX_SLAVES + 1,
			     &r->nslaves) == -1) {
		snprintf(why, cap, "relay needs slaves: 1..%d SAE IDs",
			 KME_MAX_SLAVES + 1);
		return -1;
	}
	if (r->hop == r->npath - 1) {
		for (size_t i = 0; i < r->nslaves; i++) {
			if (!kme_cfg_is_local_sae(ctx->cfg, r->slaves[i])) {
				snprintf(why, cap,
					 "slave %s is not served by KME %s",
					 r->slaves[i], ctx->cfg->kme_id);
				return -1;
			}
		}
	}
	if (!cJSON_IsNumber(js) || js->valuedouble < ctx->lim->min_key_size ||
	    js->valuedouble > ctx->lim->max_key_size ||
	    js->valuedouble != (double)(uint32_t)js->valuedouble ||
	    (uint32_t)js->valuedouble % 8 != 0) {
		snprintf(why, cap, "relay size must be %u..%u bits, octets",
			 ctx->lim->min_key_size, ctx->lim->max_key_size);
		return -1;
	}
	r->size = (uint32_t)js->valuedouble;
	r->n = 0;
	if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) < 1 ||
	    (uint32_t)cJSON_GetArraySize(ids) > ctx->lim->max_key_per_request) {
		snprintf(why, cap, "relay needs key_IDs: 1..%u UUIDs",
			 ctx->lim->max_key_per_request);
		return -1;
	}
	cJSON_ArrayForEach(it, ids)
	{
		if (kme_relaymsg_uuid(it, r->ids[r->n]) == -1) {
			snprintf(why, cap, "relay key_IDs must be UUIDs");
			return -1;
		}
		r->n++;
	}
	return 0;
}

int
kme_relaymsg_parse(const struct kme_linkmsg_ctx *ctx, const cJSON *msg,
		   struct kme_relaymsg *r, char *why, size_t cap)
{
	size_t len = 0;
	uint8_t *mac;

	if (kme_relaymsg_path(ctx, msg, r, why, cap) == -1 ||
	    kme_relaymsg_keys(ctx, msg, r, why, cap) == -1)
		return -1;
	r->cancel =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "cancel"));
	if (r->cancel)
		return 0;
	if (kme_relaymsg_uuid(cJSON_GetObjectItemCaseSensitive(msg, "pad_id"),
			      r->pad_id) == -1) {
		snprintf(why, cap, "relay needs a pad_id (a UUID)");
		return -1;
	}
	r->ct_len = r->n * (r->size / 8);
	if (r->ct_len > KME_RELAY_PAD_MAX - KME_RELAY_MAC_LEN) {
		snprintf(why, cap, "relay of %zu octets is over %d", r->ct_len,
			 KME_RELAY_PAD_MAX - KME_RELAY_MAC_LEN);
		return -1;
	}
	r->ct = kme_relaymsg_b64(cJSON_GetObjectItemCaseSensitive(msg, "ct"),
				 r->ct_len, r->ct_len, &len);
	if (r->ct == NULL) {
		snprintf(why, cap,
			 "relay ct must be base64 of %zu octets (key_IDs "
			 "times size)",
			 r->ct_len);
		return -1;
	}
	mac = kme_relaymsg_b64(cJSON_GetObjectItemCaseSensitive(msg, "mac"),
			       KME_RELAY_MAC_LEN, KME_RELAY_MAC_LEN, &len);
	if (mac == NULL) {
		snprintf(why, cap, "relay mac must be base64 of %d octets",
			 KME_RELAY_MAC_LEN);
		return -1;
	}
	memcpy(r->mac, mac, KME_RELAY_MAC_LEN);
	free(mac);
	return 0;
}

/* Appends a string and a separator no ID or key-ID text holds. */
static void
kme_relaymsg_put(EVP_MAC_CTX *h, const char *s)
{
	EVP_MAC_update(h, (const unsigned char *)s, strlen(s));
	EVP_MAC_update(h, (const unsigned char *)"\n", 1);
}

/*
 * HMAC-SHA-256 (RFC 2104) over every field the receiver acts on, in a
 * fixed order: version, pad_id, path, hop, master, slaves, size, key IDs,
 * then the ciphertext.  IDs cannot hold the separator ('\n').
 */
int
kme_relaymsg_mac(const struct kme_relaymsg *r, const uint8_t *key,
		 uint8_t out[KME_RELAY_MAC_LEN])
{
	char id[UUID_STR_LEN + 1], num[32], digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest,
						 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *h = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	size_t len = 0;
	int rc = -1;

	if (h == NULL || EVP_MAC_init(h, key, KME_RELAY_MAC_LEN, params) != 1)
		goto out;
	kme_relaymsg_put(h, "qkdlab-relay-v1");
	uuid_format(id, r->pad_id);
	kme_relaymsg_put(h, id);
	for (size_t i = 0; i < r->npath; i++)
		kme_relaymsg_put(h, r->path[i]);
	snprintf(num, sizeof(num), "hop=%zu", r->hop);
	kme_relaymsg_put(h, num);
	kme_relaymsg_put(h, r->master);
	for (size_t i = 0; i < r->nslaves; i++)
		kme_relaymsg_put(h, r->slaves[i]);
	snprintf(num, sizeof(num), "size=%u", r->size);
	kme_relaymsg_put(h, num);
	for (size_t i = 0; i < r->n; i++) {
		uuid_format(id, r->ids[i]);
		kme_relaymsg_put(h, id);
	}
	EVP_MAC_update(h, r->ct, r->ct_len);
	rc = EVP_MAC_final(h, out, &len, KME_RELAY_MAC_LEN) == 1 &&
		     len == KME_RELAY_MAC_LEN
		 ? 0
		 : -1;
out:
	EVP_MAC_CTX_free(h);
	EVP_MAC_free(mac);
	return rc;
}

bool
kme_relaymsg_mac_ok(const struct kme_relaymsg *r, const uint8_t *key)
{
	uint8_t want[KME_RELAY_MAC_LEN];
	bool ok;

	ok = kme_relaymsg_mac(r, key, want) == 0 &&
	     CRYPTO_memcmp(want, r->mac, KME_RELAY_MAC_LEN) == 0;
	secmem_wipe(want, sizeof(want));
	return ok;
}

static cJSON *
kme_relaymsg_list(const char (*ids)[KME_ID_MAX + 1], size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
	return arr;
}

/* Base64 of len octets as a cJSON string; the text is wiped. */
static bool
kme_relaymsg_add_b64(cJSON *o, const char *name, const uint8_t *p, size_t len)
{
	size_t tlen = base64_encoded_len(len) + 1;
	char *t = malloc(tlen);
	bool ok;

	if (t == NULL)
		return false;
	base64_encode(t, p, len);
	ok = cJSON_AddStringToObject(o, name, t) != NULL;
	secmem_wipe(t, tlen);
	free(t);
	return ok;
}

cJSON *
kme_relaymsg_json(const struct kme_relaymsg *r)
{
	char id[UUID_STR_LEN + 1];
	cJSON *o = cJSON_CreateObject(), *ids;
	bool ok = o != NULL;

	ok = ok && cJSON_AddItemToObject(o, "path",
					 kme_relaymsg_list(r->path, r->npath));
	ok = ok && cJSON_AddNumberToObject(o, "hop", (double)r->hop);
	ok = ok && cJSON_AddStringToObject(o, "master", r->master);
	ok = ok && cJSON_AddItemToObject(
		       o, "slaves", kme_relaymsg_list(r->slaves, r->nslaves));
	ok = ok && cJSON_AddNumberToObject(o, "size", r->size);
	ids = ok ? cJSON_AddArrayToObject(o, "key_IDs") : NULL;
	for (size_t i = 0; ids != NULL && i < r->n; i++) {
		uuid_format(id, r->ids[i]);
		cJSON_AddItemToArray(ids, cJSON_CreateString(id));
	}
	ok = ok && ids != NULL;
	if (ok && r->cancel) {
		ok = cJSON_AddTrueToObject(o, "cancel") != NULL;
	} else if (ok) {
		uuid_format(id, r->pad_id);
		ok = cJSON_AddStringToObject(o, "pad_id", id) != NULL &&
		     kme_relaymsg_add_b64(o, "ct", r->ct, r->ct_len) &&
		     kme_relaymsg_add_b64(o, "mac", r->mac, KME_RELAY_MAC_LEN);
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *
kme_relaymsg_pad_json(const uint8_t pad_id[UUID_LEN], const uint8_t *pad,
		      size_t len, uint64_t bits)
{
	char id[UUID_STR_LEN + 1];
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	uuid_format(id, pad_id);
	ok = ok && cJSON_AddStringToObject(o, "pad_id", id) != NULL;
	if (ok && pad != NULL)
		ok = kme_relaymsg_add_b64(o, "pad", pad, len);
	else if (ok)
		ok = cJSON_AddNumberToObject(o, "bits", (double)bits) != NULL;
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void
kme_relaymsg_clear(struct kme_relaymsg *r)
{
	if (r->ct != NULL) {
		secmem_wipe(r->ct, r->ct_len);
		free(r->ct);
		r->ct = NULL;
	}
	secmem_wipe(r->mac, sizeof(r->mac));
}

void
kme_relaypad_clear(struct kme_relaypad *p)
{
	if (p->pad != NULL) {
		secmem_wipe(p->pad, p->len);
		free(p->pad);
		p->pad = NULL;
	}
}
