/*
 * skip.h — skip-proxy private interfaces.
 *
 * skip-proxy is a SKIP key provider (draft-cisco-skip-02) for one site: it
 * serves SKIP to routers over TLS-PSK (or certificates) and translates each
 * key request into an ETSI GS QKD 014 call to the site's KME, as the SAE
 * whose certificate it holds.
 */
#ifndef QKDLAB_SKIP_H
#define QKDLAB_SKIP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "etsi014_client.h"

#define SKIP_ID_MAX 255 /* longest system ID we accept (octets) */
#define SKIP_MAX_REMOTES 64 /* remote_system_id entries in the config */
#define SKIP_KEYID_MAX 32 /* keyId octets we parse (any even hex length) */
#define SKIP_KEY_MAX_BITS 8192 /* hard ceiling for key_size_max */
#define SKIP_KEY_MAX (SKIP_KEY_MAX_BITS / 8)
_Static_assert(SKIP_KEY_MAX <= ETSI014_KEY_MAX, "014 keys hold SKIP keys");
#define SKIP_ENTROPY_MAX_BITS 65536
#define SKIP_MSG_MAX 256 /* error message passed to the client */
#define SKIP_KME_POOL 16 /* kept-alive connections to the KME */
#define SKIP_KME_BODY_MAX (64 * 1024) /* longest KME answer */
#define SKIP_TARGET_MAX 4096 /* longest request-target we parse */
#define SKIP_PSK_ID_MAX 127 /* Cisco XR: psk id 1..127 characters */
#define SKIP_PSK_MIN 16
#define SKIP_PSK_MAX 128
#define SKIP_POOL_MAX 1024 /* most keys pooled per remote (key_pool) */
#define SKIP_POOL_REMOTES 64 /* remote SAE IDs with a pool at once */

/* ---- skip_conf.c: the configuration file ---- */

enum skip_tls_mode {
	SKIP_TLS_PSK = 0,
	SKIP_TLS_CERT
};

struct skip_conf {
	/* router side */
	char listen_addr[64];
	uint16_t port;
	enum skip_tls_mode tls_mode;
	char psk_file[1024];
	char cert_file[1024];
	char key_file[1024];
	char client_ca_file[1024];
	char tls12_ciphers[512];
	char tls13_ciphersuites[256];
	unsigned threads;
	unsigned max_connections;
	unsigned max_connections_per_source, tls_threads;
	uint64_t idle_timeout_ms;
	uint64_t handshake_timeout_ms, request_timeout_ms;

	/* SKIP semantics */
	char local_system_id[SKIP_ID_MAX + 1];
	char remote_ids[SKIP_MAX_REMOTES][SKIP_ID_MAX + 1];
	size_t n_remote_ids;
	char algorithm[128];
	unsigned key_size_default;
	unsigned key_size_max;
	unsigned entropy_default;
	unsigned entropy_max;

	/* KME side (ETSI 014) */
	char kme_url[1024];
	char kme_ca_file[1024];
	char kme_cert_file[1024];
	char kme_key_file[1024];
	bool kme_verify_host;
	uint64_t kme_timeout_ms;
	uint64_t kme_connect_timeout_ms;
	unsigned kme_retries;
	uint64_t kme_retry_delay_ms;
	/* Key requests the KME cannot serve: 500 (the draft's) or 503. */
	unsigned kme_unavailable_status;
	/* keys fetched ahead per remote (skip_pool.c); 0 = off */
	unsigned key_pool;
	uint64_t key_pool_max_age_ms;

	/* request records for grading clients (skip_record.c); "" = off */
	char record_file[1024];

	/* metrics: plain HTTP, off unless metrics_port is set */
	char metrics_addr[64];
	uint16_t metrics_port;
};

void skip_conf_defaults(struct skip_conf *c);
/* Parses and validates a file; logs every problem, returns 0 or -1. */
int skip_conf_load(struct skip_conf *c, const char *path);
int skip_conf_load_buf(struct skip_conf *c, const char *buf, size_t len,
		       const char *name);
/*
 * The KME client's settings from c: its certificate, CA, timeouts and
 * retries, SKIP_KME_POOL connections, and answers long enough for a batch
 * of key_pool keys.
 */
void skip_conf_kme_client(const struct skip_conf *c,
			  struct https_client_cfg *kc);
/* Checks the whole (required keys, consistent limits); fills mode defaults. */
int skip_conf_validate(struct skip_conf *c);

/* ---- skip_psk.c: "identity:hex" PSK file ---- */

struct skip_psk_set;

/* Refuses a file group/other may access; NULL on any error (logged). */
struct skip_psk_set *skip_psk_load(const char *path);
struct skip_psk_set *skip_psk_parse(const char *buf, size_t len,
				    const char *name);
/* Wipes every key; NULL-safe. */
void skip_psk_free(struct skip_psk_set *set);
size_t skip_psk_count(const struct skip_psk_set *set);
/* Copies the key for identity into out; returns its length or -1. */
int skip_psk_lookup(const struct skip_psk_set *set, const char *identity,
		    size_t id_len, uint8_t *out, size_t cap);

/* ---- skip_tls.c: the router-side SSL_CTX ---- */

/* PSK mode: TLS 1.3 external PSK and TLS 1.2 (DHE-)PSK suites. */
SSL_CTX *skip_tls_psk_ctx_new(const struct skip_conf *c,
			      const struct skip_psk_set *psks);
/* Certificate mode: server certificate; client certificate required. */
SSL_CTX *skip_tls_cert_ctx_new(const struct skip_conf *c);
/* tls_peer_id_fn for both modes: PSK identity or client certificate CN. */
int skip_tls_peer_id(SSL *ssl, char *out, size_t cap, void *arg);
/* tls_explain_fn: which PSK identity failed, and the likely reason. */
const char *skip_tls_explain(SSL *ssl, void *arg);
/*
 * The front's settings from c around ctx: identity, limits, timeouts,
 * workers and event loops.  The caller sets name and handler.
 */
struct tls_front_cfg;
void skip_tls_front_cfg(const struct skip_conf *c, SSL_CTX *ctx,
			struct tls_front_cfg *tc);

/* ---- skip_req.c: request-target parsing (pure; fuzzed) ---- */

enum skip_route {
	SKIP_R_NONE = 0,
	SKIP_R_CAPABILITIES, /* GET /capabilities */
	SKIP_R_KEY_NEW, /* GET /key?remoteSystemID=&size= */
	SKIP_R_KEY_GET, /* GET /key/{keyId}?remoteSystemID= */
	SKIP_R_ENTROPY, /* GET /entropy?minentropy= */
	SKIP_R_COUNT
};

struct skip_limits {
	unsigned key_size_default;
	unsigned key_size_max;
	unsigned entropy_default;
	unsigned entropy_max;
};

struct skip_req {
	enum skip_route route;
	char remote[SKIP_ID_MAX + 1]; /* remoteSystemID, decoded */
	bool has_remote;
	unsigned size_bits; /* /key: requested or default */
	unsigned entropy_bits; /* /entropy: requested or default */
	uint8_t key_id[SKIP_KEYID_MAX];
	size_t key_id_len;
};

/* An HTTP status and a message for the JSON error body. */
struct skip_err {
	int status;
	char msg[SKIP_MSG_MAX];
};

/*
 * Parses method and raw request-target ("/key?remoteSystemID=B&size=256")
 * into req.  0 on success; -1 with err filled (404, 405 or 400).
 */
int skip_req_parse(const char *method, const char *target,
		   const struct skip_limits *lim, struct skip_req *req,
		   struct skip_err *err);
/* The route's name for logs and metrics ("key", "capabilities", ...). */
const char *skip_route_name(enum skip_route r);
/* True if id matches one of the POSIX glob patterns (draft 4.1). */
bool skip_remote_allowed(const char (*patterns)[SKIP_ID_MAX + 1], size_t n,
			 const char *id);
/*
 * A printable, bounded copy of untrusted input for messages and logs:
 * str_quote() (lib/encoding.h), so every octet that is not printable ASCII
 * becomes \xNN, quotes and backslashes are escaped, "..." marks a cut.
 */
void skip_printable(char *out, size_t cap, const char *in, size_t len);

/* ---- skip_metrics.c: counters and the metrics endpoint ---- */

#define SKIP_LAT_BUCKETS 12

struct skip_metrics {
	atomic_uint_fast64_t requests[SKIP_R_COUNT];
	atomic_uint_fast64_t responses_2xx;
	atomic_uint_fast64_t responses_4xx;
	atomic_uint_fast64_t responses_5xx;
	atomic_uint_fast64_t kme_calls;
	atomic_uint_fast64_t kme_errors;
	atomic_uint_fast64_t kme_unreachable;
	atomic_uint_fast64_t kme_retries;
	atomic_uint_fast64_t kme_latency_sum_us;
	atomic_uint_fast64_t kme_latency_bucket[SKIP_LAT_BUCKETS + 1];
	atomic_uint_fast64_t kme_keys; /* keys the KME handed over */
	atomic_uint_fast64_t pool_served; /* GET /key served from the pool */
	atomic_uint_fast64_t pool_discarded_age; /* reached key_pool_max_age */
	atomic_uint_fast64_t pool_discarded_full; /* a full pool's surplus */
	atomic_uint_fast64_t pool_depth; /* keys pooled now, all remotes */
};

extern const uint64_t skip_lat_bounds_us[SKIP_LAT_BUCKETS];

void skip_metrics_response(struct skip_metrics *m, int status);
void skip_metrics_kme(struct skip_metrics *m, const struct etsi014_result *r);
/* Prometheus text exposition into a fresh heap string. */
char *skip_metrics_render(struct skip_metrics *m, unsigned tls_conns);

/* ---- skip_pool.c: keys fetched ahead, per remote SAE ID ---- */

/* The KME seam: enc_keys for remote, number keys of bits into out. */
typedef int (*skip_pool_fetch_fn)(void *arg, const char *remote, unsigned bits,
				  unsigned number, struct etsi014_key *out,
				  struct etsi014_result *res);
/* A monotonic clock in microseconds (tests drive it). */
typedef uint64_t (*skip_pool_clock_fn)(void *arg);

struct skip_pool_cfg {
	unsigned cap; /* key_pool: most keys pooled per remote; 0 = off */
	uint64_t max_age_us; /* key_pool_max_age: never handed out older */
	unsigned bits; /* key_size_default: the one size pooled */
	skip_pool_fetch_fn fetch;
	skip_pool_clock_fn now_us; /* NULL: mono_us() */
	void *arg; /* for fetch and now_us */
	struct skip_metrics *metrics; /* pool counters; may be NULL */
};

/* How one key was found, for the audit log line and the metrics. */
struct skip_pool_info {
	bool pooled; /* from the pool: no KME call */
	unsigned kme_calls; /* 0, 1, or 2 (a refused batch, then one key) */
	unsigned batch; /* keys the last KME call asked for */
	struct etsi014_result kme; /* the last KME call, if any */
};

struct skip_pool;

/* NULL on bad cfg or no memory. */
struct skip_pool *skip_pool_new(const struct skip_pool_cfg *cfg);
/* Wipes every pooled key (logs how many, IDs at debug level); NULL-safe. */
void skip_pool_free(struct skip_pool *p);
/*
 * One new key of bits for remote into out: from the pool if it holds one
 * younger than max_age, else from one KME call (a batch sized by demand
 * when bits is the pooled size).  0, or -1 with out wiped and info->kme
 * the failed call's result.
 */
int skip_pool_take(struct skip_pool *p, const char *remote, unsigned bits,
		   struct etsi014_key *out, struct skip_pool_info *info);
/* Keys pooled for remote, or for all remotes when remote is NULL. */
size_t skip_pool_depth(struct skip_pool *p, const char *remote);

/* ---- skip_api.c: the SKIP resources ---- */

struct skip_record;

struct skip_api {
	const struct skip_conf *conf;
	struct skip_record *rec; /* NULL unless record = PATH */
	struct etsi014_client *kme; /* the KME (ETSI 014) */
	struct skip_metrics *metrics;
	struct skip_pool *pool; /* new keys (GET /key); NULL: none served */
};

/* skip_pool_fetch_fn over api->kme (arg: the skip_api), with metrics. */
int skip_api_kme_fetch(void *arg, const char *remote, unsigned bits,
		       unsigned number, struct etsi014_key *out,
		       struct etsi014_result *res);

/* A response body; wiped when freed because it may carry a key. */
struct skip_reply {
	int status;
	char *body; /* NUL-terminated JSON */
	size_t len;
	bool allow_get; /* add "Allow: GET" (405) */
};

/* Serves one parsed request; fills rep (always, even on error). */
void skip_api_serve(struct skip_api *api, const struct skip_req *req,
		    const char *peer, struct skip_reply *rep);
/* The small JSON error body {"message": "..."}. */
void skip_api_error(struct skip_reply *rep, int status, const char *msg);
void skip_reply_clear(struct skip_reply *rep);

/* ---- skip_record.c: request records (record = PATH) ---- */

/* What one request was and got; strings may be NULL (not known). */
struct skip_record_entry {
	const char *method, *target, *identity, *tls_version, *tls_suite;
	const struct skip_req *req; /* NULL if it did not parse */
	const struct skip_reply *rep;
};

/* Opens (appends to, creates 0600) the record file; NULL on error (logged). */
struct skip_record *skip_record_open(const char *path, const char *provider);
void skip_record_close(struct skip_record *rec);
/* One JSON line: never a key or PSK byte (skip-proxy.conf(5), record). */
void skip_record_request(struct skip_record *rec,
			 const struct skip_record_entry *e);

/* ---- skip_http.c: the TLS front's request handler, the metrics page ---- */

struct skip_http;
struct tls_front;
struct tls_front_cfg;
struct MHD_Daemon;

struct skip_http *skip_http_new(struct skip_api *api);
/* Sets the front's request mode: the SKIP handler. */
void skip_http_front_cfg(struct skip_http *h, struct tls_front_cfg *tc);
void skip_http_set_front(struct skip_http *h, struct tls_front *tf);
void skip_http_free(struct skip_http *h);
/* The metrics listener (plain HTTP, own socket); NULL if off or failed. */
struct MHD_Daemon *skip_metrics_start(const char *addr, uint16_t port,
				      struct skip_metrics *m,
				      struct skip_http *h);

#endif
