/*
 * kme_link_int.h — what the files of the KME link share among themselves
 * (kme_link.c: peer state and lifecycle; kme_link_client.c: the HTTPS
 * client; kme_link_pool.c: pool arithmetic; kme_link_keys.c: reserve and
 * alloc for masters; kme_link_server.c: the link's HTTP handlers;
 * kme_link_ticker.c: syncs, prefetch and expiry).  Not for the rest of
 * kme-sim, which uses kme.h.
 */
#ifndef QKDLAB_KME_LINK_INT_H
#define QKDLAB_KME_LINK_INT_H

#include "kme.h"

#include <cjson/cJSON.h>

/* The largest link message body either side accepts. */
#define KME_LINK_MAX_RESP (4 * 1024 * 1024)

struct kme_linkmsg_saes;

/* ------------------------------------------------------------ kme_link.c */

void kme_link_sleep_ms(uint32_t ms);
/* A JSON array of the IDs; NULL on no memory. */
cJSON *kme_link_ids_json(char (*ids)[KME_ID_MAX + 1], size_t n);
/* The peer answered or called: the link is up now. */
void kme_link_touch(struct kme_peer *p);
/* Prefetched keys created before this are not handed out. */
int64_t kme_link_ready_min_created(struct kme *k);
/* When a key recorded now expires (key_ttl). */
int64_t kme_link_expiry(struct kme *k);
/* Compares the SAEs a peer says it serves with [peer] saes; logs once. */
void kme_link_check_saes(struct kme *k, struct kme_peer *p,
			 const struct kme_linkmsg_saes *s);

/* ----------------------------------------------------- kme_link_client.c */

struct kme_link_client *kme_link_client_new(const struct kme_cfg *cfg,
					    const struct kme_peer_cfg *pc);
void kme_link_client_free(struct kme_link_client *lc);
/*
 * POSTs a JSON object to the peer's /link/v1/<op>.  Returns the parsed
 * 200 reply, or NULL with a reason in why (the peer's own message when it
 * sent one).
 */
cJSON *kme_link_call(struct kme *k, struct kme_peer *p, const char *op,
		     cJSON *body, char *why, size_t cap);

/* ------------------------------------------------------- kme_link_pool.c */

/* Takes need bits if the pool holds them (-1 otherwise); have: before. */
int kme_link_pool_take(struct kme_peer *p, uint64_t need, uint64_t *have);
/* Gives bits back (up to the pool's maximum). */
void kme_link_pool_give(struct kme_peer *p, uint64_t bits);
uint64_t kme_link_pool_grow(struct kme *k, struct kme_peer *p, uint64_t dt_ms,
			    bool starve);
/* Keys a (master, slave) pair may hold prefetched: at most prefetch_keys
 * and one share of max_key_count among every use of the pool. */
uint64_t kme_link_prefetch_share(const struct kme *k, const struct kme_peer *p);

/* ------------------------------------------------------- kme_link_keys.c */

/* A reservation waiting for the next batch to the peer. */
struct kme_link_resv {
	struct kme_store_resv item; /* as the peer records it */
	bool done;
	int rc;
	char why[KME_ERR_MAX];
	struct kme_link_resv *next;
};

/*
 * Prefetched keys held in memory per (master, slave) pair, already gone
 * from the store: claims_clear wipes them (and frees the claims with
 * release, when no request runs); claims_count counts a pair's keys
 * created at or after min_created.
 */
void kme_link_claims_clear(struct kme_peer *p, bool release);
uint64_t kme_link_claims_count(struct kme_peer *p, const char *master,
			       const char *slave, int64_t min_created);

/* Has the peer record the keys of me (group commit); 0 or -1 (me->why). */
int kme_link_reserve(struct kme *k, struct kme_peer *p,
		     struct kme_link_resv *me);

/* ----------------------------------------------------- kme_link_server.c */

enum MHD_Result kme_link_handler(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload,
				 size_t *upload_size, void **con_cls);

#endif
