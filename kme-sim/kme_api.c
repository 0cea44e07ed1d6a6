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

struct kme_api_ctx {
	struct kme *k;
	struct MHD_Connection *conn;
	struct kme_http_req *req;
	const char *method;
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
	kme_http_error(c->conn, status, status == 401 ? KME_API_401 : message);
	return status;
}

static unsigned
kme_api_reply_json(struct kme_api_ctx *c, cJSON *root)
{
	char *s = root ? cJSON_PrintUnformatted(root) : NULL;

	cJSON_Delete(root);
	if (s == NULL)
		return kme_api_reply(c, 503, "out of memory");
	kme_http_json(c->conn, 200, s);
	return 200;
}

/* A 200 with a body from kme_http_key_text (NULL: out of memory). */
static unsigned
kme_api_reply_text(struct kme_api_ctx *c, char *body)
{
	if (body == NULL)
		return kme_api_reply(c, 503, "out of memory");
	kme_http_json(c->conn, 200, body);
	return 200;
}

/*
 * The query's parameters; 0, or the status of the refusal sent.  A cap
 * on their number bounds the work; beyond it the request gets 400.
 */
static unsigned
kme_api_args(struct kme_api_ctx *c, struct kme_kv *kv, size_t *n)
{
	if (kme_http_args(c->conn, kv, KME_API_MAX_ARGS, n) == -1)
		return kme_api_reply(c, 400,
				     "a query parameter holds a NUL "
				     "character (%00)");
	if (*n > KME_API_MAX_ARGS || c->req->args_cut)
		return kme_api_reply(c, 400, "too many query parameters");
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

	if ((rc = kme_api_master_side(c, &p)) != 0)
		return rc == 401 ? kme_api_reply(c, 401, NULL) : rc;
	if ((rc = kme_api_args(c, kv, &nargs)) != 0)
		return rc;
	if (strcmp(c->method, "GET") == 0) {
		if (c->req->len > 0)
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
		if (kme_req_enc_body(c->req->body, c->req->len, &req, err,
				     sizeof(err)) == -1)
			return kme_api_reply(c, 400, err);
	}
	if (kme_req_enc_validate(&req, &c->k->limits, err, sizeof(err)) == -1)
		return kme_api_reply(c, 400, err);
	kme_api_unknown(c, "Key request", req.unknown, req.unknown_first);
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
	if ((relay ? kme_relay_get_keys(c->k, c->caller, slaves,
					req.nslaves + 1, req.number, req.size,
					&keys, err, sizeof(err))
		   : kme_link_get_keys(c->k, p, c->caller, slaves,
				       req.nslaves + 1, req.number, req.size,
				       &keys, err, sizeof(err))) == -1) {
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
		if (c->req->len > 0 ||
		    kme_req_dec_query(kv, nargs, req, err, sizeof(err)) == -1) {
			status = kme_api_reply(
			    c, 400,
			    c->req->len > 0
				? "dec_keys GET takes no body; use POST"
				: err);
			goto out;
		}
	} else if (nargs > 0 ||
		   kme_req_dec_body(c->req->body, c->req->len,
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
		if (c->req->too_large)
			return kme_api_reply(c, 400, "request body too large");
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

static enum MHD_Result
kme_api_handler(void *cls, struct MHD_Connection *conn, const char *url,
		const char *method, const char *version, const char *upload,
		size_t *upload_size, void **con_cls)
{
	struct kme_api_ctx c = { .k = cls, .conn = conn, .method = method };
	enum kme_op op;
	unsigned status;

	(void)version;
	if (!kme_http_gather(conn, con_cls, upload, upload_size, KME_MAX_BODY))
		return MHD_YES;
	c.req = *con_cls;
	/* Defence in depth: the handshake already required a certificate. */
	if (tls_front_conn_peer(c.k->api_tf, conn, c.caller, sizeof(c.caller)) <
		0 ||
	    c.caller[0] == '\0') {
		kme_http_error(conn, 401, KME_API_401);
		kme_metrics_request(&c.k->metrics, KME_OP_OTHER, 401, 0);
		return MHD_YES;
	}
	status = kme_api_route(&c, url, &op);
	kme_metrics_request(&c.k->metrics, op, status,
			    mono_us() - c.req->t0_us);
	if (status == 401)
		log_info("401 for SAE '%s' on %s %s", c.caller, method, url);
	return MHD_YES;
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
	/* The connection pool holds one head (the front bounds it to 16 KiB)
	 * and is zeroed on every request: no larger than it needs to be. */
	k->api_mhd =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
				 MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL,
			     0, NULL, NULL, kme_api_handler, k,
			     MHD_OPTION_THREAD_POOL_SIZE, k->cfg.threads,
			     MHD_OPTION_NOTIFY_COMPLETED, kme_http_completed,
			     NULL, MHD_OPTION_URI_LOG_CALLBACK, kme_http_uri_cb,
			     (void *)(uintptr_t)KME_API_MAX_ARGS,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			     (size_t)32 * 1024, MHD_OPTION_CONNECTION_LIMIT,
			     (unsigned)k->cfg.max_conns, MHD_OPTION_END);
	if (k->api_mhd == NULL) {
		log_err("api: cannot start the HTTP layer");
		goto out;
	}
	tc.ssl_ctx = ctx;
	tc.mhd = k->api_mhd;
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
	if (k->api_mhd != NULL)
		MHD_stop_daemon(k->api_mhd);
	k->api_mhd = NULL;
}
