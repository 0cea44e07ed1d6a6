/*
 * kme_api.c — the ETSI GS QKD 014 V1.1.1 REST interface for SAEs.
 *
 * HTTPS with mutual TLS through lib/tls_front: a client without a
 * certificate from the SAE CA fails the handshake; the SAE ID is the
 * subject CN of its certificate.  Routes (Table 2):
 *   GET        /api/v1/keys/{slave_SAE_ID}/status
 *   GET, POST  /api/v1/keys/{slave_SAE_ID}/enc_keys
 *   GET, POST  /api/v1/keys/{master_SAE_ID}/dec_keys
 * Replies: 200 with the data model, 400/401/503 with the Error data
 * format {"message": ...} (clause 5, status codes; Table 14).
 */
#include "kme.h"

#include "log.h"
#include "tls_front.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define KME_API_PREFIX "/api/v1/keys/"
#define KME_API_MAX_ARGS 8
/* Decoded path: the prefix, an SAE ID and a route, with room to spare. */
#define KME_API_PATH_MAX 1024

struct kme_api_ctx {
	struct kme *k;
	struct tls_front_resp *resp;
	const char *method;
	const char *body; /* the request's body; NULL if it has none */
	size_t body_len;
	bool too_large; /* a body over KME_MAX_BODY */
	char *query; /* a copy of the raw query, split in place; or NULL */
	size_t query_len;
	bool on_loop; /* on the front's event loop: must not wait */
	bool defer; /* a route that would wait asks for a worker */
	char caller[TLS_PEER_ID_MAX]; /* SAE ID from the certificate */
	char sae[KME_ID_MAX + 1]; /* SAE ID from the URL */
};

typedef unsigned (*kme_api_fn)(struct kme_api_ctx *c);

/* Every 401 says the same: the client learns nothing about which SAEs
 * this KME serves beyond that its own certificate is not one of them. */
#define KME_API_401 \
	"unauthorized: the SAE ID of the client certificate is " \
	"not served by this KME"

static unsigned
kme_api_reply(struct kme_api_ctx *c, unsigned status, const char *message)
{
	return kme_http_resp_error(c->resp, status,
				   status == 401 ? KME_API_401 : message);
}

static unsigned
kme_api_reply_json(struct kme_api_ctx *c, cJSON *root)
{
	char *s = root ? cJSON_PrintUnformatted(root) : NULL;

	cJSON_Delete(root);
	if (s == NULL)
		return kme_api_reply(c, 503, "out of memory");
	return kme_http_resp_json(c->resp, 200, s);
}

/* A 200 with a body from kme_http_key_text (NULL: out of memory). */
static unsigned
kme_api_reply_text(struct kme_api_ctx *c, char *body)
{
	if (body == NULL)
		return kme_api_reply(c, 503, "out of memory");
	return kme_http_resp_json(c->resp, 200, body);
}

/*
 * The query's parameters, %-decoded; 0, or the status of the refusal
 * sent.  A cap on their number bounds the work; beyond it the request
 * gets 400.
 */
static unsigned
kme_api_args(struct kme_api_ctx *c, struct kme_kv *kv, size_t *n)
{
	size_t count = 1;

	*n = 0;
	if (c->query == NULL)
		return 0;
	for (size_t i = 0; i < c->query_len; i++)
		count += c->query[i] == '&';
	if (count > KME_API_MAX_ARGS)
		return kme_api_reply(c, 400, "too many query parameters");
	if (kme_req_split_query(c->query, kv, KME_API_MAX_ARGS, n) == -1)
		return kme_api_reply(c, 400,
				     "a query parameter holds a bad %-escape "
				     "or a NUL character (%00)");
	return 0;
}

/* Members a table does not define are ignored (Table 10, 12), and counted. */
static void
kme_api_unknown(struct kme_api_ctx *c, const char *what, unsigned n,
		const char *first)
{
	if (n == 0)
		return;
	atomic_fetch_add(&c->k->metrics.json_unknown, n);
	log_debug("%s from %s: ignored %u member(s) it does not define, the "
		  "first \"%s\"",
		  what, c->caller, n, first);
}

/* Common checks for status and enc_keys: caller local, slave remote. */
static unsigned
kme_api_master_side(struct kme_api_ctx *c, struct kme_peer **pp)
{
	const struct kme_peer_cfg *pc;
	char msg[KME_ERR_MAX];

	if (!kme_cfg_is_local_sae(&c->k->cfg, c->caller))
		return 401;
	pc = kme_cfg_peer_of_sae(&c->k->cfg, c->sae);
	/* A slave at a KME without a direct link: *pp stays NULL, the keys
	 * go through trusted nodes (kme_relay.c). */
	if (pc == NULL && kme_relay_remote_of_sae(&c->k->cfg, c->sae) != NULL)
		return 0;
	if (pc == NULL) {
		if (kme_cfg_is_local_sae(&c->k->cfg, c->sae))
			snprintf(
			    msg, sizeof(msg),
			    "slave SAE ID '%s' is served by KME "
			    "%s itself; keys are shared only with SAEs of a "
			    "peer KME",
			    c->sae, c->k->cfg.kme_id);
		else
			snprintf(msg, sizeof(msg),
				 "slave SAE ID '%s' is not known to "
				 "KME %s",
				 c->sae, c->k->cfg.kme_id);
		return kme_api_reply(c, 400, msg);
	}
	*pp = kme_peer_by_id(c->k, pc->id);
	return 0;
}

static unsigned
kme_api_status(struct kme_api_ctx *c)
{
	const struct kme_cfg *cfg = &c->k->cfg;
	struct kme_peer *p = NULL;
	char why[KME_ERR_MAX];
	uint64_t bits, max, stored;
	unsigned rc;
	cJSON *o, *ext;

	if (strcmp(c->method, "GET") != 0)
		return kme_api_reply(c, 400, "status takes GET");
	if ((rc = kme_api_master_side(c, &p)) != 0)
		return rc == 401 ? kme_api_reply(c, 401, NULL) : rc;
	/* A remote slave: the figures of the first hop of its route. */
	if (p == NULL && (p = kme_relay_first_hop(c->k, c->sae)) == NULL)
		return kme_api_reply(c, 503,
				     "no route to the KME of the slave");
	pthread_mutex_lock(&p->lock);
	bits = p->pool_bits;
	max = p->max_bits;
	pthread_mutex_unlock(&p->lock);
	/* Prefetched keys for this pair are available too; none is while
	 * the link is down (enc_keys would get 503). */
	stored = bits / cfg->key_size +
		 (uint64_t)kme_link_ready_count(c->k, p, c->caller, c->sae);
	if (!kme_link_usable(c->k, p, why, sizeof(why)))
		stored = 0;
	o = cJSON_CreateObject();
	if (o == NULL)
		return kme_api_reply(c, 503, "out of memory");
	/* Table 9, every field filled with what this KME really does. */
	cJSON_AddStringToObject(o, "source_KME_ID", cfg->kme_id);
	cJSON_AddStringToObject(o, "target_KME_ID",
				kme_cfg_peer_of_sae(cfg, c->sae) == NULL
				    ? kme_relay_remote_of_sae(cfg, c->sae)->id
				    : p->cfg->id);
	cJSON_AddStringToObject(o, "master_SAE_ID", c->caller);
	cJSON_AddStringToObject(o, "slave_SAE_ID", c->sae);
	cJSON_AddNumberToObject(o, "key_size", cfg->key_size);
	cJSON_AddNumberToObject(o, "stored_key_count", (double)stored);
	cJSON_AddNumberToObject(o, "max_key_count",
				(double)(max / cfg->key_size));
	cJSON_AddNumberToObject(o, "max_key_per_request",
				cfg->max_key_per_request);
	cJSON_AddNumberToObject(o, "max_key_size", cfg->max_key_size);
	cJSON_AddNumberToObject(o, "min_key_size", cfg->min_key_size);
	cJSON_AddNumberToObject(o, "max_SAE_ID_count", cfg->max_sae_id_count);
	/* Table 9 status_extension: the QKD link's physics (kme-sim(8)). */
	pthread_mutex_lock(&p->lock);
	ext = kme_link_model_json(c->k, p);
	pthread_mutex_unlock(&p->lock);
	if (ext != NULL) {
		cJSON *se = cJSON_AddObjectToObject(o, "status_extension");

		if (se == NULL)
			cJSON_Delete(ext);
		else
			cJSON_AddItemToObject(se, "qkdlab_link", ext);
	}
	return kme_api_reply_json(c, o);
}

static unsigned
kme_api_enc_keys(struct kme_api_ctx *c)
{
	struct kme_enc_req req;
	struct kme_kv kv[KME_API_MAX_ARGS];
	char err[KME_ERR_MAX], slaves[KME_MAX_SLAVES + 1][KME_ID_MAX + 1];
	char q[KME_QUOTE_MAX];
	struct kme_key *keys = NULL;
	struct kme_peer *p = NULL;
	size_t nargs;
	unsigned rc;
	char *body;
	bool relay;
	int got;

	if ((rc = kme_api_master_side(c, &p)) != 0)
		return rc == 401 ? kme_api_reply(c, 401, NULL) : rc;
	if ((rc = kme_api_args(c, kv, &nargs)) != 0)
		return rc;
	if (strcmp(c->method, "GET") == 0) {
		if (c->body_len > 0)
			return kme_api_reply(
			    c, 400, "enc_keys GET takes no body; use POST");
		if (kme_req_enc_query(kv, nargs, &req, err, sizeof(err)) == -1)
			return kme_api_reply(c, 400, err);
	} else {
		if (nargs > 0)
			return kme_api_reply(
			    c, 400,
			    "enc_keys POST takes no query "
			    "parameters; put them in the body");
		if (kme_req_enc_body(c->body, c->body_len, &req, err,
				     sizeof(err)) == -1)
			return kme_api_reply(c, 400, err);
	}
	if (kme_req_enc_validate(&req, &c->k->limits, err, sizeof(err)) == -1)
		return kme_api_reply(c, 400, err);
	/* The named slave first, then the additional ones (Annex B). */
	snprintf(slaves[0], sizeof(slaves[0]), "%s", c->sae);
	relay = p == NULL;
	for (size_t i = 0; i < req.nslaves; i++) {
		const struct kme_peer_cfg *pc =
		    kme_cfg_peer_of_sae(&c->k->cfg, req.slaves[i]);
		bool remote =
		    kme_relay_remote_of_sae(&c->k->cfg, req.slaves[i]) != NULL;

		if (strcmp(req.slaves[i], c->sae) == 0 ||
		    strcmp(req.slaves[i], c->caller) == 0) {
			snprintf(err, sizeof(err),
				 "additional_slave_SAE_IDs must not "
				 "repeat the slave or name the master (%s)",
				 str_quote(q, sizeof(q), req.slaves[i],
					   strlen(req.slaves[i]),
					   KME_QUOTE_IN));
			return kme_api_reply(c, 400, err);
		}
		/* Slaves at several KMEs or beyond a peer: a relay. */
		if ((pc != NULL || remote) && (p == NULL || pc != p->cfg) &&
		    (c->k->cfg.nremotes > 0 || c->k->cfg.nnet > 0)) {
			relay = true;
		} else if (p == NULL || pc != p->cfg) {
			snprintf(err, sizeof(err),
				 "additional slave SAE ID \"%s\" is %s; "
				 "all slaves must be served by KME %s",
				 str_quote(q, sizeof(q), req.slaves[i],
					   strlen(req.slaves[i]), KME_QUOTE_IN),
				 pc ? "served by another KME"
				    : "not known to this KME",
				 p ? p->cfg->id : "(none)");
			return kme_api_reply(c, 400, err);
		}
		snprintf(slaves[i + 1], sizeof(slaves[i + 1]), "%s",
			 req.slaves[i]);
	}
	/* A relay, or keys not prefetched, wait for other KMEs: not on the
	 * front's event loop, where every other connection would wait too. */
	if (relay && c->on_loop) {
		c->defer = true;
		return 0; /* nothing changed, nothing counted */
	}
	got = relay ? kme_relay_get_keys(c->k, c->caller, slaves,
					 req.nslaves + 1, req.number, req.size,
					 &keys, err, sizeof(err))
		    : kme_link_get_keys(c->k, p, c->caller, slaves,
					req.nslaves + 1, req.number, req.size,
					!c->on_loop, &keys, err, sizeof(err));
	if (got == -2) {
		c->defer = true;
		return 0;
	}
	/* Counted once: not on the loop's call of a request it defers. */
	kme_api_unknown(c, "Key request", req.unknown, req.unknown_first);
	if (got != 0) {
		log_info("enc_keys for %s -> %s refused: %s", c->caller, c->sae,
			 err);
		return kme_api_reply(c, 503, err);
	}
	body = kme_http_key_text(keys, req.number);
	kme_keys_free(keys, req.number);
	atomic_fetch_add(&c->k->metrics.keys_enc, req.number);
	log_debug("enc_keys: %u key(s) of %u bits for %s -> %s", req.number,
		  req.size, c->caller, c->sae);
	return kme_api_reply_text(c, body);
}

static unsigned
kme_api_dec_keys(struct kme_api_ctx *c)
{
	struct kme_dec_req *req;
	struct kme_kv kv[KME_API_MAX_ARGS];
	struct kme_key *keys = NULL;
	char err[KME_ERR_MAX];
	enum kme_fetch_rc fr;
	unsigned status;
	size_t nargs;

	if (!kme_cfg_is_local_sae(&c->k->cfg, c->caller))
		return kme_api_reply(c, 401, NULL);
	req = malloc(sizeof(*req)); /* large: 16 KiB of IDs */
	if (req == NULL)
		return kme_api_reply(c, 503, "out of memory");
	/* The parsers fill ids[0..nids); the rest need not be cleared. */
	req->nids = 0;
	req->unknown = 0;
	req->unknown_first[0] = '\0';
	if ((status = kme_api_args(c, kv, &nargs)) != 0)
		goto out;
	if (strcmp(c->method, "GET") == 0) {
		if (c->body_len > 0 ||
		    kme_req_dec_query(kv, nargs, req, err, sizeof(err)) == -1) {
			status = kme_api_reply(
			    c, 400,
			    c->body_len > 0
				? "dec_keys GET takes no body; use POST"
				: err);
			goto out;
		}
	} else if (nargs > 0 ||
		   kme_req_dec_body(c->body, c->body_len,
				    c->k->cfg.max_key_per_request, c->sae, req,
				    err, sizeof(err)) == -1) {
		status = kme_api_reply(c, 400,
				       nargs > 0 ? "dec_keys POST takes no "
						   "query parameters"
						 : err);
		goto out;
	}
	kme_api_unknown(c, "Key IDs", req->unknown, req->unknown_first);
	keys = kme_keys_new(req->nids);
	if (keys == NULL) {
		status = kme_api_reply(c, 503, "out of memory");
		goto out;
	}
	fr = kme_store_fetch(c->k->store, c->sae, c->caller,
			     (const uint8_t(*)[UUID_LEN])req->ids, req->nids,
			     keys);
	switch (fr) {
	case KME_FETCH_OK:
		status =
		    kme_api_reply_text(c, kme_http_key_text(keys, req->nids));
		atomic_fetch_add(&c->k->metrics.keys_dec, req->nids);
		log_debug("dec_keys: %zu key(s) of %s for %s", req->nids,
			  c->sae, c->caller);
		break;
	case KME_FETCH_UNAUTHORIZED:
		log_info(
		    "dec_keys: %s asked for key(s) of %s it is not a slave of",
		    c->caller, c->sae);
		/* FALLTHROUGH */
	case KME_FETCH_NOT_FOUND:
		/* Clause 5.3, the mandated message; the same for a key that
		 * exists for another slave, so that an SAE cannot learn which
		 * key IDs exist. */
		status = kme_api_reply(c, 400,
				       "one or more keys specified are not "
				       "found on KME");
		break;
	default:
		status = kme_api_reply(c, 503, "key store error");
	}
out:
	kme_keys_free(keys, req->nids);
	free(req);
	return status;
}

static const struct {
	const char *suffix;
	enum kme_op op;
	kme_api_fn fn;
	bool post;
} kme_api_routes[] = {
	{ "/status", KME_OP_STATUS, kme_api_status, false },
	{ "/enc_keys", KME_OP_ENC, kme_api_enc_keys, true },
	{ "/dec_keys", KME_OP_DEC, kme_api_dec_keys, true },
};

static unsigned
kme_api_route(struct kme_api_ctx *c, const char *url, enum kme_op *op)
{
	const char *id = url + strlen(KME_API_PREFIX), *slash;
	size_t idlen;

	*op = KME_OP_OTHER;
	if (strncmp(url, KME_API_PREFIX, strlen(KME_API_PREFIX)) != 0 ||
	    (slash = strchr(id, '/')) == NULL)
		return kme_api_reply(c, 400,
				     "unknown path; use /api/v1/keys/"
				     "{SAE_ID}/status|enc_keys|dec_keys");
	idlen = (size_t)(slash - id);
	for (size_t i = 0; i < ARRAY_LEN(kme_api_routes); i++) {
		if (strcmp(slash, kme_api_routes[i].suffix) != 0)
			continue;
		*op = kme_api_routes[i].op;
		if (strcmp(c->method, "GET") != 0 &&
		    !(kme_api_routes[i].post && strcmp(c->method, "POST") == 0))
			return kme_api_reply(c, 400,
					     kme_api_routes[i].post
						 ? "method must be GET or POST"
						 : "method must be GET");
		if (c->too_large) {
			/* The rest of such a client's stream is not read. */
			c->resp->close = true;
			return kme_api_reply(c, 400, "request body too large");
		}
		if (idlen == 0 || idlen > KME_ID_MAX)
			return kme_api_reply(c, 400,
					     "SAE ID in the path must have "
					     "1..64 characters");
		memcpy(c->sae, id, idlen);
		c->sae[idlen] = '\0';
		if (!kme_cfg_valid_id(c->sae)) {
			/* Known SAE IDs use a restricted alphabet; this is none. */
			char msg[KME_ERR_MAX], q[KME_QUOTE_MAX];
			snprintf(msg, sizeof(msg),
				 "SAE ID \"%s\" is not known to KME %s",
				 str_quote(q, sizeof(q), c->sae, strlen(c->sae),
					   KME_QUOTE_IN),
				 c->k->cfg.kme_id);
			return kme_api_reply(c, 400, msg);
		}
		return kme_api_routes[i].fn(c);
	}
	return kme_api_reply(c, 400,
			     "unknown method; use status, enc_keys or "
			     "dec_keys");
}

/* tls_front_handler_fn: one ETSI 014 request. */
static void
kme_api_serve(const struct tls_front_req *fr, struct tls_front_resp *resp,
	      void *arg)
{
	const struct http_req *h = fr->http;
	struct kme_api_ctx c = {
		.k = arg,
		.resp = resp,
		.method = h->method,
		.body = fr->body,
		.body_len = fr->body_size,
		.too_large = fr->body_over || fr->body_size > KME_MAX_BODY,
		.on_loop = fr->on_loop,
	};
	uint64_t t0 = mono_us();
	char path[KME_API_PATH_MAX];
	enum kme_op op = KME_OP_OTHER;
	unsigned status;

	/* Defence in depth: the handshake already required a certificate. */
	if (fr->peer == NULL || fr->peer[0] == '\0' ||
	    str_copy(c.caller, sizeof(c.caller), fr->peer) == -1) {
		kme_api_reply(&c, 401, NULL);
		kme_metrics_request(&c.k->metrics, KME_OP_OTHER, 401, 0);
		return;
	}
	if (pct_decode_path(path, sizeof(path), h->target, h->path_len) == -1) {
		status = kme_api_reply(&c, 400,
				       "the path is too long, or holds a bad "
				       "%-escape or a NUL character (%00)");
	} else if (h->query != NULL &&
		   (c.query = malloc(h->query_len + 1)) == NULL) {
		status = kme_api_reply(&c, 503, "out of memory");
	} else {
		if (c.query != NULL) {
			memcpy(c.query, h->query, h->query_len);
			c.query[h->query_len] = '\0';
			c.query_len = h->query_len;
		}
		status = kme_api_route(&c, path, &op);
	}
	free(c.query);
	if (c.defer) {
		resp->defer = true;
		return;
	}
	kme_metrics_request(&c.k->metrics, op, status, mono_us() - t0);
	if (status == 401)
		log_info("401 for SAE '%s' on %s %s", c.caller, h->method,
			 path);
}

int
kme_api_start(struct kme *k)
{
	struct tls_front_cfg tc = { 0 };
	SSL_CTX *ctx;
	int rc = -1;

	ctx = tls_server_ctx_new(k->cfg.cert, k->cfg.key, k->cfg.sae_ca);
	if (ctx == NULL) {
		log_err("api: cannot set up TLS from cert/key/sae_ca");
		return -1;
	}
	tc.ssl_ctx = ctx;
	tc.handler = kme_api_serve;
	tc.handler_arg = k;
	/* Handlers run on the event loops; a request that would wait for
	 * the KME link or a relay goes to one of these workers. */
	tc.workers = k->cfg.threads;
	tc.loop_first = true;
	tc.keep_body = true;
	tc.handler_max_body = KME_MAX_BODY;
	tc.peer_id = tls_peer_subject_cn;
	tc.name = "014";
	tc.max_conns = k->cfg.max_conns;
	tc.max_per_source = k->cfg.max_conns_per_source;
	tc.threads = k->cfg.tls_threads;
	tc.handshake_timeout_ms = (unsigned)k->cfg.handshake_timeout_ms;
	tc.request_timeout_ms = (unsigned)k->cfg.request_timeout_ms;
	k->api_tf = tls_front_new(&tc);
	if (k->api_tf == NULL ||
	    tls_front_listen(k->api_tf, k->cfg.listen.host,
			     k->cfg.listen.port) == -1 ||
	    tls_front_start(k->api_tf) == -1)
		goto out;
	rc = 0;
out:
	SSL_CTX_free(ctx);
	return rc;
}

void
kme_api_stop(struct kme *k)
{
	tls_front_free(k->api_tf);
	k->api_tf = NULL;
}
