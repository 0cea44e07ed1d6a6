/*
 * skip_api.c — the SKIP resources (draft-cisco-skip-02 section 4), each a
 * handler in a route table, translated to ETSI 014 where a key is involved:
 *
 *   GET /key?remoteSystemID=B       -> 014 enc_keys, slave  = B
 *   GET /key/{keyId}?remoteSystemID=A -> 014 dec_keys, master = A
 *
 * keyId is the 014 key_ID UUID's 16 octets as 32 lowercase hex digits.
 */
#include "skip.h"

#include "encoding.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*skip_handler_fn)(struct skip_api *api,
				const struct skip_req *req, const char *peer,
				struct skip_reply *rep);

void
skip_reply_clear(struct skip_reply *rep)
{
	if (rep->body != NULL)
		secmem_free(rep->body);
	memset(rep, 0, sizeof(*rep));
}

/* Takes ownership of a cJSON-printed string. */
static void
skip_reply_json(struct skip_reply *rep, int status, cJSON *obj)
{
	char *s = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	skip_reply_clear(rep);
	rep->status = status;
	if (s == NULL) {
		rep->status = 500;
		s = strdup("{\"message\":\"out of memory\"}");
	}
	if (s != NULL) {
		/* Copy into malloc'd memory we free ourselves (cJSON hooks aside). */
		rep->len = strlen(s);
		rep->body = malloc(rep->len + 1);
		if (rep->body != NULL)
			memcpy(rep->body, s, rep->len + 1);
		else
			rep->len = 0;
		free(s);
	}
}

void
skip_api_error(struct skip_reply *rep, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	/* No error body in the draft; {"message"} as ETSI 014 Table 13. */
	if (o != NULL)
		cJSON_AddStringToObject(o, "message", msg);
	skip_reply_json(rep, status, o);
	if (status == 405)
		rep->allow_get = true;
}

static void
skip_serve_capabilities(struct skip_api *api, const struct skip_req *req,
			const char *peer, struct skip_reply *rep)
{
	const struct skip_conf *c = api->conf;
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();

	(void)req;
	(void)peer;
	if (o == NULL || arr == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(arr);
		skip_api_error(rep, 500, "out of memory");
		return;
	}
	/* draft 4.1: all five fields are required. */
	cJSON_AddBoolToObject(o, "entropy", 1);
	cJSON_AddBoolToObject(o, "key", 1);
	cJSON_AddStringToObject(o, "algorithm", c->algorithm);
	cJSON_AddStringToObject(o, "localSystemID", c->local_system_id);
	for (size_t i = 0; i < c->n_remote_ids; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(c->remote_ids[i]));
	cJSON_AddItemToObject(o, "remoteSystemID", arr);
	skip_reply_json(rep, 200, o);
}

/*
 * Maps a failed 014 call onto the SKIP status, passing the KME's words on.
 * draft-cisco-skip-02 4.2 lists 200, 400 and 500 for Get key: a request
 * the key provider cannot serve (KME busy, out of keys, unreachable) is
 * 500 with the cause in the message, or 503 when the operator configured
 * kme_unavailable_status = 503 for clients that retry on it.
 */
static void
skip_kme_failure(struct skip_reply *rep, const struct etsi014_result *r,
		 bool by_id, const char *remote, int unavailable)
{
	char msg[SKIP_MSG_MAX + 128];
	int status = 500;

	switch (r->outcome) {
	case ETSI014_REFUSED:
		if (r->http_status == 400) {
			status = 400;
			snprintf(msg, sizeof(msg), "KME: %s", r->msg);
		} else if (r->http_status == 401 && by_id) {
			/* Clause 5.3: 401 when we are not the slave named for it. */
			status = 400;
			snprintf(msg, sizeof(msg),
				 "key not available for "
				 "remoteSystemID '%s' (KME: 401 %s)",
				 remote, r->msg);
		} else if (r->http_status == 401) {
			snprintf(msg, sizeof(msg),
				 "KME refused this key provider's "
				 "SAE credentials (401 %s)",
				 r->msg);
		} else if (r->http_status == 503) {
			status = unavailable;
			snprintf(msg, sizeof(msg),
				 "KME cannot serve keys now "
				 "(503 %s)",
				 r->msg);
		} else {
			snprintf(msg, sizeof(msg), "KME answered HTTP %ld: %s",
				 r->http_status, r->msg);
		}
		break;
	case ETSI014_UNREACHABLE:
		status = unavailable;
		snprintf(msg, sizeof(msg), "KME unreachable (%s, %u attempts)",
			 r->msg, r->attempts);
		break;
	case ETSI014_BAD_ANSWER:
		snprintf(msg, sizeof(msg), "unusable answer from the KME: %s",
			 r->msg);
		break;
	default:
		snprintf(msg, sizeof(msg), "internal error: %s", r->msg);
		break;
	}
	skip_api_error(rep, status, msg);
}

/* {"keyId": 32 hex, "key": hex} into a buffer wiped when freed. */
static void
skip_reply_key(struct skip_reply *rep, const struct etsi014_key *k)
{
	static const char pre[] = "{\"keyId\":\"", mid[] = "\",\"key\":\"",
			  post[] = "\"}";
	size_t len = sizeof(pre) - 1 + 32 + sizeof(mid) - 1 + 2 * k->key_len +
		     sizeof(post) - 1;
	char *b = malloc(len + 1), *p = b;

	skip_reply_clear(rep);
	if (b == NULL) {
		skip_api_error(rep, 500, "out of memory");
		return;
	}
	memcpy(p, pre, sizeof(pre) - 1);
	p += sizeof(pre) - 1;
	hex_encode(p, k->id, 16);
	p += 32;
	memcpy(p, mid, sizeof(mid) - 1);
	p += sizeof(mid) - 1;
	hex_encode(p, k->key, k->key_len);
	p += 2 * k->key_len;
	memcpy(p, post, sizeof(post));
	rep->status = 200;
	rep->body = b;
	rep->len = len;
}

static bool
skip_check_remote(struct skip_api *api, const struct skip_req *req,
		  struct skip_reply *rep)
{
	char msg[SKIP_ID_MAX + 96];

	if (skip_remote_allowed((const char(*)[SKIP_ID_MAX + 1])
				    api->conf->remote_ids,
				api->conf->n_remote_ids, req->remote))
		return true;
	snprintf(msg, sizeof(msg),
		 "unknown remoteSystemID '%s' (see "
		 "/capabilities)",
		 req->remote);
	skip_api_error(rep, 400, msg);
	return false;
}

int
skip_api_kme_fetch(void *arg, const char *remote, unsigned bits,
		   unsigned number, struct etsi014_key *out,
		   struct etsi014_result *res)
{
	struct skip_api *api = arg;
	int rc = etsi014_get_keys(api->kme, remote, bits, number, out, res);

	skip_metrics_kme(api->metrics, res);
	if (rc == 0)
		atomic_fetch_add(&api->metrics->kme_keys, number);
	return rc;
}

static void
skip_serve_key_new(struct skip_api *api, const struct skip_req *req,
		   const char *peer, struct skip_reply *rep)
{
	struct etsi014_key k;
	struct skip_pool_info pi;
	const struct etsi014_result *r = &pi.kme;
	char idhex[33], src[48];

	if (!skip_check_remote(api, req, rep))
		return;
	if (api->pool == NULL) {
		skip_api_error(rep, 500, "internal error: no key source");
		return;
	}
	if (skip_pool_take(api->pool, req->remote, req->size_bits, &k, &pi) ==
	    -1) {
		log_info("key for %s by '%s': KME failed: %s", req->remote,
			 peer, r->msg);
		skip_kme_failure(rep, r, false, req->remote,
				 (int)api->conf->kme_unavailable_status);
		return;
	}
	hex_encode(idhex, k.id, 16);
	/* The audit line of every key handed out, pooled or not. */
	if (pi.pooled)
		snprintf(src, sizeof(src), "pool");
	else if (pi.batch > 1)
		snprintf(src, sizeof(src), "KME %.2f ms, batch of %u",
			 r->latency_us / 1000.0, pi.batch);
	else
		snprintf(src, sizeof(src), "KME %.2f ms",
			 r->latency_us / 1000.0);
	LOG_EV(LOG_LVL_INFO, "key_new",
	       LOG_FIELDS(LOG_S("key_id", idhex), LOG_N("bits", req->size_bits),
			  LOG_S("remote", req->remote), LOG_S("peer", peer),
			  LOG_N("kme_us", pi.pooled ? 0 : r->latency_us),
			  LOG_S("source", pi.pooled ? "pool" : "kme")),
	       "new key %s (%u bits) for %s by '%s' (%s)", idhex,
	       req->size_bits, req->remote, peer, src);
	skip_reply_key(rep, &k);
	secmem_wipe(&k, sizeof(k));
}

static void
skip_serve_key_get(struct skip_api *api, const struct skip_req *req,
		   const char *peer, struct skip_reply *rep)
{
	struct etsi014_key k;
	struct etsi014_result r;
	char idhex[2 * SKIP_KEYID_MAX + 1];

	if (!skip_check_remote(api, req, rep))
		return;
	hex_encode(idhex, req->key_id, req->key_id_len);
	/* Our keyIds are 014 UUIDs: no other length can name a key here. */
	if (req->key_id_len != 16) {
		skip_api_error(rep, 400,
			       "key not found: this key provider's "
			       "keyIds are 32 hex digits (128 bits)");
		return;
	}
	if (etsi014_get_key_with_id(api->kme, req->remote, req->key_id, &k,
				    &r) == -1) {
		skip_metrics_kme(api->metrics, &r);
		log_info("key %s from %s by '%s': KME failed: %s", idhex,
			 req->remote, peer, r.msg);
		skip_kme_failure(rep, &r, true, req->remote,
				 (int)api->conf->kme_unavailable_status);
		return;
	}
	skip_metrics_kme(api->metrics, &r);
	LOG_EV(LOG_LVL_INFO, "key_get",
	       LOG_FIELDS(LOG_S("key_id", idhex), LOG_N("bits", k.key_len * 8),
			  LOG_S("remote", req->remote), LOG_S("peer", peer),
			  LOG_N("kme_us", r.latency_us)),
	       "key %s (%zu bits) from %s fetched by '%s' (KME %.2f ms)", idhex,
	       k.key_len * 8, req->remote, peer, r.latency_us / 1000.0);
	skip_reply_key(rep, &k);
	secmem_wipe(&k, sizeof(k));
}

static void
skip_serve_entropy(struct skip_api *api, const struct skip_req *req,
		   const char *peer, struct skip_reply *rep)
{
	size_t n = req->entropy_bits / 8, cap = 2 * n + 64;
	uint8_t *rnd = malloc(n);
	char *hex = malloc(2 * n + 1), *body = malloc(cap);

	(void)api;
	(void)peer;
	/* draft Table 9: 503 when the RNG cannot deliver. */
	if (rnd == NULL || hex == NULL || body == NULL ||
	    RAND_bytes(rnd, (int)n) != 1) {
		skip_api_error(rep, 503,
			       "the random number generator cannot "
			       "deliver that much entropy now");
		goto out;
	}
	hex_encode_upper(hex, rnd, n); /* as the draft's 4.3 example */
	skip_reply_clear(rep);
	rep->status = 200;
	rep->len = (size_t)snprintf(body, cap,
				    "{\"randomStr\":\"%s\","
				    "\"minentropy\":%u}",
				    hex, req->entropy_bits);
	rep->body = body;
	body = NULL;
out:
	secmem_free(rnd);
	secmem_free(hex);
	secmem_free(body);
}

static const skip_handler_fn skip_handlers[SKIP_R_COUNT] = {
	[SKIP_R_CAPABILITIES] = skip_serve_capabilities,
	[SKIP_R_KEY_NEW] = skip_serve_key_new,
	[SKIP_R_KEY_GET] = skip_serve_key_get,
	[SKIP_R_ENTROPY] = skip_serve_entropy,
};

void
skip_api_serve(struct skip_api *api, const struct skip_req *req,
	       const char *peer, struct skip_reply *rep)
{
	memset(rep, 0, sizeof(*rep));
	if ((unsigned)req->route >= SKIP_R_COUNT ||
	    skip_handlers[req->route] == NULL) {
		skip_api_error(rep, 404, "no such resource");
		return;
	}
	skip_handlers[req->route](api, req, peer, rep);
}
