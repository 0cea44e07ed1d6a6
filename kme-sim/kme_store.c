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
 * written pages), not a power cut; kme-sim.8 says so.  dec_keys fetches
 * are the exception that keeps the rule: they share one transaction,
 * committed every KME_JOURNAL_FETCHES fetches and before any other
 * operation, and each is recorded in the fetch journal before it is
 * answered, with the same guarantee (kme_store_journal.c).
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
#include <sys/stat.h>

static pthread_once_t kme_store_once = PTHREAD_ONCE_INIT;

/*
 * The first read of the file, with one clear message for each way an
 * existing file can be unusable: not a database, or held by another
 * process (locking_mode=EXCLUSIVE: another kme-sim keeps it locked for as
 * long as it runs).
 */
static int
kme_store_readable(sqlite3 *db, const char *path)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1,
				&s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	sqlite3_finalize(s);
	switch (rc & 0xff) {
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOTADB:
		log_err("store: %s is not an SQLite database; move it away, or "
			"set database to another path",
			path);
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		log_err(
		    "store: %s is locked by another process, most likely "
		    "another kme-sim with the same database; stop it, or give "
		    "each kme-sim its own database",
		    path);
		break;
	default:
		log_err("store: cannot read database %s: %s", path,
			sqlite3_errmsg(db));
	}
	return -1;
}

int
kme_store_check(const char *path)
{
	sqlite3 *db = NULL;
	struct stat sb;
	int rc;

	pthread_once(&kme_store_once, kme_store_init_sqlite);
	if (kme_store_check_files(path) == -1 ||
	    kme_store_journal_check(path) == -1)
		return -1;
	/* Nothing there yet, or an empty file: kme-sim makes the schema. */
	if (stat(path, &sb) == -1 || sb.st_size == 0)
		return 0;
	/* Read-write (never create): a WAL database whose -wal file is gone
	 * cannot be read read-only; SQLite removes the -wal again on close. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		log_err("store: cannot open database %s: %s", path,
			db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	/* As kme_store_open reads it, so that no -shm file is made. */
	rc = sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE", NULL, NULL,
			  NULL) == SQLITE_OK
		 ? kme_store_readable(db, path)
		 : -1;
	sqlite3_close(db);
	return rc;
}

struct kme_store *
kme_store_open(const char *path)
{
	struct kme_store *st;

	pthread_once(&kme_store_once, kme_store_init_sqlite);
	if (kme_store_check_files(path) == -1)
		return NULL;
	if (kme_store_create_private(path) == -1 ||
	    kme_store_check_files(path) == -1)
		return NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	pthread_mutex_init(&st->lock, NULL);
	st->ckpt_wal_fd = -1;
	/* NOMUTEX: every use of the connection is under st->lock already. */
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    kme_store_vfs) != SQLITE_OK) {
		log_err("store: cannot open database %s: %s", path,
			st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto err;
	}
	sqlite3_busy_timeout(st->db, 5000);
	/* Exclusive before the first read, so that WAL needs no -shm. */
	if (kme_store_exec(st, "PRAGMA locking_mode=EXCLUSIVE") == -1 ||
	    kme_store_readable(st->db, path) == -1 ||
	    kme_store_setup(st, path) == -1 ||
	    kme_store_journal_open(st, path) == -1)
		goto err;
	st->reserved =
	    kme_store_query_int(st, "SELECT count(DISTINCT key_id) "
				    "FROM rkey WHERE key IS NOT NULL");
	if (st->reserved == -1)
		goto err;
	st->swept_until = INT64_MIN;
	/* A table row of one blob this long fills a page without overflow. */
	st->scrub_len = kme_store_query_int(st, "PRAGMA page_size") - 100;
	if (st->scrub_len <= 0 || kme_store_ckpt_start(st, path) == -1)
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
	/* The open fetch transaction commits (closing would roll it back;
	 * the journal would still hold its fetches). */
	if (st->db != NULL) {
		(void)kme_store_lock(st);
		pthread_mutex_unlock(&st->lock);
	}
	kme_store_ckpt_stop(st);
	for (size_t i = 0; i < st->ncache; i++)
		sqlite3_finalize(st->cache[i].stmt);
	sqlite3_close(st->db);
	kme_store_journal_close(st);
	pthread_mutex_destroy(&st->lock);
	free(st);
}
