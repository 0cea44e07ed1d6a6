/*
 * kme.h — kme-sim private interfaces, grouped by file.
 *
 * kme-sim is an ETSI GS QKD 014 V1.1.1 key server.  Pairs of kme-sim
 * processes share key material over a mutually authenticated "KME link"
 * that stands in for the QKD link; see kme-sim(8) for the model.
 */
#ifndef QKDLAB_KME_H
#define QKDLAB_KME_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "encoding.h"
#include "qkd_model.h"

#define KME_ID_MAX 64 /* KME and SAE IDs: 1..64 octets */
#define KME_MAX_SAES 64 /* per KME, local or per peer */
#define KME_MAX_PEERS 16
#define KME_MAX_SLAVES 16 /* hard cap of max_SAE_ID_count */
#define KME_MAX_KEYS 1024 /* hard cap of max_key_per_request */
#define KME_MAX_KEY_BITS 65536 /* hard cap of max_key_size */
#define KME_MAX_BODY (256 * 1024)
#define KME_ERR_MAX 256
#define KME_QUOTE_MAX 80 /* input quoted in a message (str_quote) */
#define KME_QUOTE_IN 40 /* ... at most this many octets of it */
#define KME_MAX_REMOTES 16 /* [remote] sections */
#define KME_MAX_NET_LINKS 128 /* pairs in network */
#define KME_RELAY_MAX_PATH 8 /* KMEs on a relay path, both ends included */
#define KME_RELAY_MAX_ROUTES 4 /* route lines per [remote] */

/* --------------------------------------------------------------- kme_conf.c */

struct kme_addr {
	char host[256];
	uint16_t port;
};

struct kme_peer_cfg {
	char id[KME_ID_MAX + 1];
	struct kme_addr addr; /* its KME-link listener */
	char saes[KME_MAX_SAES][KME_ID_MAX + 1];
	size_t nsaes;
	uint64_t key_rate; /* secret-key rate, bits/s */
	uint64_t max_key_count; /* in keys of key_size bits */
	/* link_model = decoy-bb84: the pool grows at qkd's secret key rate
	 * instead of key_rate (qkd_model.h). */
	bool model;
	const struct qkd_preset *preset; /* link_preset; gys if unset */
	struct qkd_params qkd; /* the preset, then the keys set */
	uint32_t qkd_set; /* bit i: kme_cfg_qkd_keys[i] given */
	double qber_abort;
};

/*
 * A KME reached through trusted nodes (kme-sim.conf(5), [remote]): its
 * SAEs, and the intermediate KMEs of each configured route, in order.
 */
struct kme_remote_cfg {
	char id[KME_ID_MAX + 1];
	char saes[KME_MAX_SAES][KME_ID_MAX + 1];
	size_t nsaes;
	char routes[KME_RELAY_MAX_ROUTES][KME_RELAY_MAX_PATH - 2]
		   [KME_ID_MAX + 1];
	size_t route_len[KME_RELAY_MAX_ROUTES];
	size_t nroutes;
};

/* The [peer] keys of the link model, in struct qkd_params order. */
struct kme_cfg_qkd_key {
	const char *key;
	size_t off; /* in struct qkd_params */
};
extern const struct kme_cfg_qkd_key kme_cfg_qkd_keys[];
extern const size_t kme_cfg_nqkd_keys;

#define KME_ADMIN_ALLOW_MAX 8

struct kme_cfg {
	char kme_id[KME_ID_MAX + 1];
	struct kme_addr listen, link_listen, admin_listen;
	bool has_admin;
	/* Clients besides loopback the admin listener serves (admin_allow). */
	struct cidr admin_allow[KME_ADMIN_ALLOW_MAX];
	size_t nadmin_allow;
	char cert[1024], key[1024], sae_ca[1024];
	char link_cert[1024], link_key[1024], link_ca[1024];
	char database[1024];
	char saes[KME_MAX_SAES][KME_ID_MAX + 1]; /* local SAEs */
	size_t nsaes;
	uint32_t key_size, min_key_size, max_key_size;
	uint32_t max_key_per_request, max_sae_id_count;
	uint64_t key_rate, max_key_count; /* defaults for peers */
	uint64_t key_ttl_ms, link_timeout_ms, sync_interval_ms;
	uint32_t prefetch_keys; /* per (master, slave) pair; 0: off */
	unsigned threads;
	/* The ETSI 014 port's TLS front (lib/tls_front.h). */
	uint32_t max_conns, max_conns_per_source, tls_threads;
	uint64_t handshake_timeout_ms, request_timeout_ms;
	struct kme_peer_cfg peers[KME_MAX_PEERS];
	size_t npeers;
	/* Trusted-node relay (kme_relay_conf.c): every QKD link of the
	 * network as a pair of KME IDs, and the KMEs reached through it. */
	char net[KME_MAX_NET_LINKS][2][KME_ID_MAX + 1];
	size_t nnet;
	struct kme_remote_cfg remotes[KME_MAX_REMOTES];
	size_t nremotes;
	uint64_t relay_hold_ms; /* a remote link that failed is avoided */
};

/* Defaults, then the file; validates the whole.  Logs what is wrong. */
int kme_cfg_load(struct kme_cfg *cfg, const char *path);
/* The same from a buffer (name: for messages). */
int kme_cfg_load_buf(struct kme_cfg *cfg, const char *buf, size_t len,
		     const char *name);
/* "host:port" or "[v6]:port". */
int kme_cfg_parse_addr(const char *s, struct kme_addr *out);
bool kme_cfg_valid_id(const char *s);
bool kme_cfg_is_local_sae(const struct kme_cfg *cfg, const char *sae);
/* The peer serving a remote SAE, or NULL. */
const struct kme_peer_cfg *kme_cfg_peer_of_sae(const struct kme_cfg *cfg,
					       const char *sae);
int kme_cfg_peer_index(const struct kme_cfg *cfg, const char *kme_id);

/* -------------------------------------------------------------- kme_req.c */
/*
 * Pure parsers and validators of ETSI 014 requests (no daemon state), so
 * that they can be unit tested and fuzzed.  On failure they return -1 and
 * write the 400 message for the client into err, where any input quoted
 * is escaped and bounded (str_quote).  Strings, JSON and query values
 * alike, must be well-formed UTF-8 without NUL.  JSON members the tables
 * do not define are ignored and counted (unknown, unknown_first).
 */

struct kme_kv {
	const char *key;
	const char *value;
};

struct kme_limits {
	uint32_t key_size, min_key_size, max_key_size;
	uint32_t max_key_per_request, max_sae_id_count;
};

struct kme_enc_req {
	uint32_t number; /* after validation: defaults filled in */
	uint32_t size;
	bool has_number, has_size;
	char slaves[KME_MAX_SLAVES][KME_ID_MAX + 1]; /* additional ones */
	size_t nslaves;
	char ext_unsupported[KME_ID_MAX + 1]; /* first unsupported name */
	bool ext_mandatory_bad;
	unsigned unknown; /* members ignored (not in Table 10) */
	char unknown_first[KME_QUOTE_MAX]; /* the first, quoted */
};

struct kme_dec_req {
	uint8_t ids[KME_MAX_KEYS][UUID_LEN];
	size_t nids;
	unsigned unknown; /* members ignored (not in Table 12) */
	char unknown_first[KME_QUOTE_MAX]; /* the first, quoted */
};

/* enc_keys GET: only number and size (clause 5.2, URI parameters). */
int kme_req_enc_query(const struct kme_kv *kv, size_t n, struct kme_enc_req *r,
		      char *err, size_t cap);
/* enc_keys POST: Key request (Table 10). */
int kme_req_enc_body(const char *body, size_t len, struct kme_enc_req *r,
		     char *err, size_t cap);
/* Limits and defaults; fills number/size. */
int kme_req_enc_validate(struct kme_enc_req *r, const struct kme_limits *lim,
			 char *err, size_t cap);
/* dec_keys GET: exactly one key_ID. */
int kme_req_dec_query(const struct kme_kv *kv, size_t n, struct kme_dec_req *r,
		      char *err, size_t cap);
/*
 * dec_keys POST: Key IDs (Table 12).  A master_SAE_ID member of a key_IDs
 * entry (not in Table 12, but sent by some clients) must equal master,
 * the master SAE ID of the request's URL.
 */
int kme_req_dec_body(const char *body, size_t len, uint32_t max_ids,
		     const char *master, struct kme_dec_req *r, char *err,
		     size_t cap);
/*
 * Splits a raw query string ("a=1&b=%41") into at most cap pairs, decoding
 * %xx and '+' in place in buf; -1 on malformed escapes or too many pairs.
 */
int kme_req_split_query(char *buf, struct kme_kv *kv, size_t cap, size_t *n);

/* ------------------------------------------- kme_store*.c, kme_keys.c */

struct kme_key {
	uint8_t id[UUID_LEN];
	size_t len; /* octets */
	uint8_t *bytes; /* heap, wiped by kme_keys_free */
};

/* Allocates n keys of len octets each with random IDs and bytes. */
struct kme_key *kme_keys_new_random(size_t n, size_t len);
struct kme_key *kme_keys_new(size_t n);
void kme_keys_free(struct kme_key *keys, size_t n);

enum kme_fetch_rc {
	KME_FETCH_OK = 0,
	KME_FETCH_NOT_FOUND = 1,
	KME_FETCH_UNAUTHORIZED = 2,
	KME_FETCH_ERROR = -1,
};

struct kme_store;

/*
 * Opens (creating it 0600 if absent) the database; refuses one whose
 * file, -wal or -shm is accessible by group or others.
 */
struct kme_store *kme_store_open(const char *path);
/* -1 (logged, with the fix) if a store file exists and is not private. */
int kme_store_check_files(const char *path);
/*
 * For -n: kme_store_check_files, then, without changing anything, that an
 * existing database can be read: -1 (logged, one message each) if it is
 * a directory, not an SQLite database, or locked by another kme-sim.
 */
int kme_store_check(const char *path);
void kme_store_free(struct kme_store *st);
/* Current pool size for a peer, in bits (0 if none yet). */
int kme_store_pool_get(struct kme_store *st, const char *peer, uint64_t *bits);
int kme_store_pool_set(struct kme_store *st, const char *peer, uint64_t bits);
/* Adds up to max (never lowers a pool above max); returns the new size. */
int kme_store_pool_add(struct kme_store *st, const char *peer, uint64_t add,
		       uint64_t max, uint64_t *now_bits);
/*
 * Reserves keys for slaves in one transaction: if take_bits > 0 they are
 * first taken from the peer's pool (returns 1, changing nothing, when the
 * pool holds fewer).  Returns 0 once committed.
 */
int kme_store_reserve(struct kme_store *st, const char *peer,
		      uint64_t take_bits, const char *master,
		      char (*slaves)[KME_ID_MAX + 1], size_t nslaves,
		      const struct kme_key *keys, size_t n, int64_t expires);
/* Takes bits from the pool without reserving (the master side). */
int kme_store_pool_take(struct kme_store *st, const char *peer, uint64_t bits);

/* One master's keys for its slaves, in a batch recorded at once. */
struct kme_store_resv {
	const char *master;
	char (*slaves)[KME_ID_MAX + 1];
	size_t nslaves;
	const struct kme_key *keys;
	size_t n;
};

/*
 * Records every item in one transaction (all or none); 1, recording
 * nothing, if a key ID is already recorded for a slave or repeats.
 */
int kme_store_reserve_batch(struct kme_store *st, const char *peer,
			    const struct kme_store_resv *items, size_t n,
			    int64_t expires);
/*
 * Hands reserved keys to a slave, once: all IDs or none.  The key leaves
 * the store when its last slave has fetched it.  out gets n keys.
 */
enum kme_fetch_rc kme_store_fetch(struct kme_store *st, const char *master,
				  const char *slave,
				  const uint8_t (*ids)[UUID_LEN], size_t n,
				  struct kme_key *out);
/*
 * Deletes reserved keys whose time is up; returns how many (or -1).  Also
 * prunes fetch_log entries older than log_keep_s, and once keys have been
 * fetched, taken or expired, overwrites SQLite's last-row buffer.
 */
int64_t kme_store_expire(struct kme_store *st, int64_t now, int64_t log_keep_s);
/*
 * Prefetched keys (authority side, prefetch_keys): ready_take hands out n
 * keys created at or after min_created for (master, slave), deleting them
 * in the same transaction; 1 (nothing taken) if fewer are ready.
 */
int kme_store_ready_add(struct kme_store *st, const char *peer,
			const char *master, const char *slave,
			const struct kme_key *keys, size_t n, int64_t created);
int64_t kme_store_ready_count(struct kme_store *st, const char *master,
			      const char *slave, int64_t min_created);
int kme_store_ready_take(struct kme_store *st, const char *master,
			 const char *slave, int64_t min_created,
			 struct kme_key *out, size_t n);
/*
 * The same for between min and max keys (got: how many); created, if not
 * NULL, gets each key's created time.  The keys are deleted from the
 * store in the transaction that takes them.
 */
int kme_store_ready_claim(struct kme_store *st, const char *master,
			  const char *slave, int64_t min_created, size_t min,
			  size_t max, struct kme_key *out, int64_t *created,
			  size_t *got);
/* Deletes a peer's ready keys created before the given time. */
int64_t kme_store_ready_purge(struct kme_store *st, const char *peer,
			      int64_t before);
/* Slave side: prefetched keys were delivered; key_ttl starts now for
 * those not fetched yet. */
int kme_store_extend(struct kme_store *st, const uint8_t (*ids)[UUID_LEN],
		     size_t n, int64_t expires);
int64_t kme_store_reserved_count(struct kme_store *st);
/* WAL checkpoints run by the store's checkpoint thread so far. */
int64_t kme_store_checkpoints(struct kme_store *st);

/* ---------------------------------------------------------- kme_metrics.c */

enum kme_op {
	KME_OP_STATUS,
	KME_OP_ENC,
	KME_OP_DEC,
	KME_OP_OTHER,
	KME_OP_N
};
#define KME_LAT_BUCKETS 12

struct kme_metrics {
	atomic_uint_fast64_t req[KME_OP_N][4]; /* 200, 400, 401, 503 */
	atomic_uint_fast64_t lat_bucket[KME_OP_N][KME_LAT_BUCKETS + 1];
	atomic_uint_fast64_t lat_sum_us[KME_OP_N];
	atomic_uint_fast64_t keys_enc, keys_dec, keys_expired, keys_prefetched;
	atomic_uint_fast64_t link_calls_ok, link_calls_failed;
	atomic_uint_fast64_t json_unknown; /* JSON members ignored */
	/* Trusted-node relay: keys sent as origin, forwarded, delivered
	 * here as destination; relays that failed here or beyond. */
	atomic_uint_fast64_t relay_sent, relay_forwarded, relay_delivered;
	atomic_uint_fast64_t relay_failed;
};

void kme_metrics_request(struct kme_metrics *m, enum kme_op op, unsigned status,
			 uint64_t us);
struct kme;
/* Prometheus text exposition format 0.0.4; heap string. */
char *kme_metrics_render(struct kme *k);

/* ---------------------------------------------------------- kme_http.c */

/* Per-request state kept in MHD's con_cls. */
struct kme_http_req {
	char *body; /* wiped when freed: link messages hold keys */
	size_t len, cap;
	bool too_large;
};

/*
 * Common part of every access handler: allocates the state on the first
 * call, gathers the body on the following ones.  Returns true when the
 * request is complete and a response may be queued (at once, with
 * too_large set, when the declared Content-Length exceeds max).
 */
bool kme_http_gather(struct MHD_Connection *conn, void **con_cls,
		     const char *upload, size_t *upload_size, size_t max);
void kme_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			enum MHD_RequestTerminationCode toe);
/* Takes json_heap (cJSON-printed); it is wiped once the reply is sent. */
enum MHD_Result kme_http_json(struct MHD_Connection *conn, unsigned status,
			      char *json_heap);
enum MHD_Result kme_http_error(struct MHD_Connection *conn, unsigned status,
			       const char *message);
enum MHD_Result kme_http_empty(struct MHD_Connection *conn, unsigned status);
struct tls_front_resp;
/* The same for the TLS front's request mode; they return status (503
 * when json is NULL: no memory). */
unsigned kme_http_resp_json(struct tls_front_resp *resp, unsigned status,
			    char *json_heap);
unsigned kme_http_resp_error(struct tls_front_resp *resp, unsigned status,
			     const char *message);
struct cJSON;
/* {"keys":[{"key_ID":..,"key":..}]} (Table 11); NULL on no memory. */
struct cJSON *kme_http_key_container(const struct kme_key *keys, size_t n);
/*
 * The same container as the text cJSON_PrintUnformatted makes of it,
 * written straight into one buffer for kme_http_json; NULL on no memory.
 */
char *kme_http_key_text(const struct kme_key *keys, size_t n);
/* Exactly want keys of len octets from a "keys" array; NULL otherwise. */
struct kme_key *kme_http_parse_keys(const struct cJSON *arr, size_t want,
				    size_t len);

/* ------------------------------------------------------------ kme_link*.c */

struct kme_link_client;
struct kme_link_resv;
struct kme_link_claim;

/* Run-time state of one peer (index matches cfg.peers). */
struct kme_peer {
	const struct kme_peer_cfg *cfg;
	bool authority; /* we hold this pair's pool */
	pthread_mutex_t lock;
	uint64_t pool_bits; /* truth if authority, else mirror */
	uint64_t max_bits;
	uint64_t last_contact_ms; /* mono; 0 = never */
	uint64_t ping_ms; /* mono: the peer's last ping; 0 = none */
	bool call_failed; /* our last call did not reach the peer */
	char call_why[KME_ERR_MAX]; /* ... and why */
	double carry_bits; /* generation remainder */
	/* faults (kme_admin.c) */
	bool f_down, f_starve;
	uint32_t f_delay_ms;
	struct qkd_faults qf; /* physical faults of the link model */
	struct qkd_state qs; /* the model for cfg->qkd and qf */
	struct kme_link_client *client;
	/* reservations waiting to go to the peer in one message */
	pthread_mutex_t rq_lock;
	pthread_cond_t rq_cond;
	struct kme_link_resv *rq_head;
	bool rq_busy;
	/* prefetched keys given to masters, to tell the peer (under lock) */
	uint8_t (*delivered)[UUID_LEN];
	size_t ndelivered;
	uint64_t ready_keys; /* prefetched, counted against the max */
	uint64_t relay_pad_bits; /* link key spent on relay hops to it */
	/* prefetched keys taken from the store ahead of requests (under lock) */
	struct kme_link_claim *claims;
	bool saes_differ; /* its SAEs vs [peer] saes (logged once) */
};

struct kme {
	struct kme_cfg cfg;
	struct kme_store *store;
	struct kme_peer peers[KME_MAX_PEERS];
	struct kme_metrics metrics;
	struct kme_limits limits;
	struct MHD_Daemon *link_mhd, *admin_mhd;
	struct tls_front *api_tf, *link_tf;
	pthread_t ticker;
	bool ticker_started;
	atomic_bool stopping;
	struct kme_relay *relay; /* kme_relay.c */
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
};

int kme_link_start(struct kme *k);
void kme_link_stop(struct kme *k);
/*
 * Whether the link to a peer works both ways now (metrics, admin); fills
 * why.  kme_link_usable: whether our own calls to the peer work, which is
 * what our masters' requests need (for a 503).
 */
bool kme_link_up(struct kme *k, struct kme_peer *p, char *why, size_t cap);
bool kme_link_usable(struct kme *k, struct kme_peer *p, char *why, size_t cap);
/*
 * Master side of enc_keys: obtains n keys of bits each for master and
 * slaves (all at peer p), recorded at the peer before returning.  Returns
 * 0, or -1 with a 503 message in why.  Without may_wait, only keys
 * prefetched for the pair are taken: -2, with nothing changed, when the
 * request needs the KME link.
 */
int kme_link_get_keys(struct kme *k, struct kme_peer *p, const char *master,
		      char (*slaves)[KME_ID_MAX + 1], size_t nslaves,
		      uint32_t n, uint32_t bits, bool may_wait,
		      struct kme_key **out, char *why, size_t cap);
/* Prefetched keys ready for (master, slave) at peer p (0 if off). */
int64_t kme_link_ready_count(struct kme *k, struct kme_peer *p,
			     const char *master, const char *slave);
/* Background: pool generation, sync heartbeats, expiry. */
void *kme_link_ticker(void *arg);
struct kme_peer *kme_peer_by_id(struct kme *k, const char *id);

/* ------------------------------------------------------ kme_link_model.c */

/* Re-evaluates p->qs from the configuration and p->qf; p->lock held. */
void kme_link_model_update(struct kme_peer *p);
/* The rate the pool grows at, bits/s; p->lock held. */
double kme_link_model_rate(const struct kme_peer *p);
/*
 * Whether the model has halted key production on the link to p; if so
 * the cause, for a 503 message, in why.  p->lock held.
 */
bool kme_link_model_halted(const struct kme *k, const struct kme_peer *p,
			   char *why, size_t cap);
struct cJSON;
/* The link's physics as a JSON object (status extension, admin); NULL
 * for a constant-rate link.  p->lock held. */
struct cJSON *kme_link_model_json(const struct kme *k,
				  const struct kme_peer *p);

/* ---------------------------------------------------- kme_relay*.c */

/* The configuration's [remote] sections and network key (kme_conf.c
 * hands them over); whole-config checks after every line is read. */
struct cfg_pos;
int kme_relay_cfg_line(struct kme_cfg *c, const char *id, const char *key,
		       const char *v, const struct cfg_pos *pos);
int kme_relay_cfg_network(struct kme_cfg *c, const char *v,
			  const struct cfg_pos *pos);
int kme_relay_cfg_validate(struct kme_cfg *c, const char *path);
/* The [remote] serving an SAE, or NULL. */
const struct kme_remote_cfg *kme_relay_remote_of_sae(const struct kme_cfg *c,
						     const char *sae);

int kme_relay_start(struct kme *k);
void kme_relay_stop(struct kme *k);
/*
 * enc_keys through trusted nodes: n keys of bits each, made here and
 * carried to the KME of every slave (some may be direct peers), each
 * recorded there before this returns 0.  -1 with a 503 message in why;
 * then no slave can fetch them.
 */
int kme_relay_get_keys(struct kme *k, const char *master,
		       char (*slaves)[KME_ID_MAX + 1], size_t nslaves,
		       uint32_t n, uint32_t bits, struct kme_key **out,
		       char *why, size_t cap);
/* Status towards a remote SAE: the pool of the first hop of its route. */
struct kme_peer *kme_relay_first_hop(struct kme *k, const char *sae);
struct metrics_buf;
void kme_relay_metrics(struct metrics_buf *mb, struct kme *k);

/* --------------------------------------------------------------- kme_api.c */

int kme_api_start(struct kme *k);
void kme_api_stop(struct kme *k);

/* ------------------------------------------------------------- kme_admin.c */

int kme_admin_start(struct kme *k);
void kme_admin_stop(struct kme *k);

#endif
