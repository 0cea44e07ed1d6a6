/*
 * kme_store.c — the KME's durable state in SQLite (WAL).
 *
 * pool:   secret bits available per peer (the authority side holds the
 *         truth; see kme_link.c).
 * rkey:   keys delivered to a master and waiting for their slave(s).
 * rslave: one row per (key, slave); fetched = 1 once that slave has it.
 * fetch_log: key IDs handed to slaves, for audits (no key bytes).
 * ready:  prefetched keys of the authority (kme_link.c, prefetch_keys).
 * scratch: always empty (kme_store_scrub_locked).
 *
 * Every change is one transaction, so a process killed at any point
 * leaves either the state before or the state after it.  WAL with
 * synchronous=NORMAL survives the process being killed (the OS keeps the
 * written pages), not a power cut; kme-sim.8 says so.
 *
 * This file opens and closes the store; the other parts are in the
 * kme_store_*.c files named in kme_store_int.h.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"
#include "util.h"

#include <sqlite3.h>
#include <stdlib.h>

struct kme_store *
kme_store_open(const char *path)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct kme_store *st;

	pthread_once(&once, kme_store_init_sqlite);
	if (kme_store_check_files(path) < 0) {
		log_warnx("store: refusing database %s: key material must be "
			  "private to kme-sim (mode 0600)", path);
		return NULL;
	}
	if (kme_store_create_private(path) < 0 || kme_store_check_files(path) < 0)
		return NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	pthread_mutex_init(&st->lock, NULL);
	/* NOMUTEX: every use of the connection is under st->lock already. */
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_warnx("store: cannot open database %s: %s", path,
			  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto err;
	}
	sqlite3_busy_timeout(st->db, 5000);
	if (kme_store_setup(st, path) < 0)
		goto err;
	st->reserved = kme_store_query_int(st, "SELECT count(DISTINCT key_id) "
					   "FROM rkey WHERE key IS NOT NULL");
	if (st->reserved < 0)
		goto err;
	st->swept_until = INT64_MIN;
	/* A table row of one blob this long fills a page without overflow. */
	st->scrub_len = kme_store_query_int(st, "PRAGMA page_size") - 100;
	if (st->scrub_len <= 0)
		goto err;
	return st;
err:
	kme_store_free(st);
	return NULL;
}

void
kme_store_free(struct kme_store *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->ncache; i++)
		sqlite3_finalize(st->cache[i].stmt);
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}
