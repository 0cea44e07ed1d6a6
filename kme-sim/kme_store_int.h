/*
 * kme_store_int.h — what the files of the key store share (kme_store.c:
 * open and close; kme_store_mem.c: SQLite's allocator; kme_store_files.c:
 * file modes; kme_store_schema.c: schema and upgrade; kme_store_stmt.c:
 * the statement cache; kme_store_pool.c, kme_store_rkey.c,
 * kme_store_ready.c: the operations of kme.h; kme_store_journal.c: the
 * fetch journal).  Not for the rest of kme-sim.
 *
 * Invariant: outside kme_store_fetch, no fetch is uncommitted while
 * st->lock is held.  kme_store_fetch leaves its write transaction open
 * (its fetches are in the journal); every other operation that uses the
 * connection takes the lock with kme_store_lock, which commits that
 * transaction first.  Only the counters' readers (reserved, checkpoints)
 * and the checkpoint thread's start, wait and stop, which run no SQL,
 * take st->lock plainly.
 */
#ifndef QKDLAB_KME_STORE_INT_H
#define QKDLAB_KME_STORE_INT_H

#include "kme.h"

#include <pthread.h>
#include <sqlite3.h>

#define KME_STORE_STMTS 24

/*
 * Connection settings, run at every open (also by bench_kme's store
 * floor, which must match them).  secure_delete: deleted keys are
 * overwritten in the database file.
 */
#define KME_STORE_PRAGMAS \
	"PRAGMA locking_mode=EXCLUSIVE;" \
	"PRAGMA journal_mode=WAL;" \
	"PRAGMA synchronous=NORMAL;" \
	"PRAGMA secure_delete=ON;"

/* The UPDATE that marks a key fetched (kme_store_fetch), also used to
 * apply the journal's records again. */
#define KME_STORE_MARK_SQL \
	"UPDATE rkey SET key = NULL, fetched_at = ?3 " \
	"WHERE key_id = ?1 AND slave = ?2"

/* Records (keys) the fetch journal holds; a request for more keys
 * commits on its own. */
#define KME_JOURNAL_RECS 256
/* Fetches left uncommitted, at most, before the journal starts over. */
#define KME_JOURNAL_FETCHES 64

struct kme_store {
	sqlite3 *db;
	pthread_mutex_t lock; /* one connection, used by many threads */
	/* Prepared once, reset after each use (under lock). */
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[KME_STORE_STMTS];
	size_t ncache;
	/* Keys still waiting for a slave (kme_store_reserved_count), kept
	 * here so that the metrics need not scan the audit rows. */
	int64_t reserved;
	/* Unfetched keys that expired up to here are gone (kme_store_expire). */
	int64_t swept_until;
	/* A key's row lost its bytes since the last kme_store_scrub_locked. */
	bool scrub;
	int64_t scrub_len; /* octets of zeros that fill a page's cell */

	/* kme_store_journal.c, under lock.  fetch_txn: kme_store_fetch's
	 * transaction is open, holding jr_fetches fetches (jr_used keys,
	 * each with its record in the journal).  jr_broken: neither a
	 * COMMIT nor writing the journal's records again succeeded; no
	 * fetch is served until a settle does. */
	void *jr_map; /* the journal file, mapped shared */
	size_t jr_used;
	unsigned jr_fetches;
	bool fetch_txn, jr_broken;

	/* kme_store_ckpt.c; the flags under lock. */
	pthread_t ckpt_thr;
	pthread_cond_t ckpt_cond;
	bool ckpt_cond_ok, ckpt_running;
	bool ckpt_due, ckpt_stop;
	int64_t ckpt_done; /* checkpoints the thread ran */
	int ckpt_wal_fd; /* the WAL, synced before a checkpoint; or -1 */
	char ckpt_wal[4096]; /* its path */
};

/* kme_store_mem.c: SQLite's allocator; only before SQLite's first use. */
void kme_store_init_sqlite(void);

/*
 * kme_store_vfs.c: the default VFS writing each WAL frame with one system
 * call; its name, or NULL (logged) when it cannot be registered.  The
 * store opens its database through kme_store_vfs (NULL: the default).
 */
const char *kme_store_vfs_register(void);
extern const char *kme_store_vfs;

/* kme_store_files.c: creates a store file 0600 if it is absent. */
int kme_store_create_private(const char *path);

/*
 * kme_store_journal.c.  journal_open maps <path>-fetches (creating it),
 * writes the records of its current epoch to the database and starts a
 * new epoch; -1 (logged) for a file of another size or format.
 * journal_add records one fetched key (jr_used slots must be free).
 */
int kme_store_journal_open(struct kme_store *st, const char *path);
void kme_store_journal_close(struct kme_store *st);
int kme_store_journal_check(const char *path);
void kme_store_journal_add(struct kme_store *st, const char *slave,
			   const uint8_t id[UUID_LEN], int64_t at);
/*
 * Under st->lock: commits the fetch transaction, if open, and starts a
 * new epoch; if the COMMIT fails, kme_store_journal_recover.  -1 if the
 * journal's fetches could not be written (jr_broken set).
 */
int kme_store_settle(struct kme_store *st);
/* Rolls back what is left of the fetch transaction and writes the
 * journal's records again in one transaction; -1 as above. */
int kme_store_journal_recover(struct kme_store *st);
/* pthread_mutex_lock(&st->lock), then kme_store_settle: the lock is held
 * whatever the result. */
int kme_store_lock(struct kme_store *st);

/* kme_store_schema.c: connection settings, then the schema brought to
 * the current version (refusing a newer one). */
int kme_store_setup(struct kme_store *st, const char *path);

/* kme_store_stmt.c; all with st->lock held. */
int kme_store_exec(struct kme_store *st, const char *sql);
/* -1 on error; else the value of a one-integer query. */
int64_t kme_store_query_int(struct kme_store *st, const char *sql);
/* A cached prepared statement, or NULL (logged). */
sqlite3_stmt *kme_store_prep(struct kme_store *st, const char *sql);
/* Ends a use of a cached statement; bound key bytes are dropped. */
void kme_store_release(struct kme_store *st, sqlite3_stmt *s);
/* BEGIN, COMMIT, ROLLBACK through the statement cache. */
int kme_store_run(struct kme_store *st, const char *sql);
/* Runs a statement that returns no rows; -1 on error. */
int kme_store_step_done(struct kme_store *st, sqlite3_stmt *s);
/* 1 if a query bound by the caller returns a row, 0 if not, -1 on error. */
int kme_store_exists(struct kme_store *st, sqlite3_stmt *s);

/*
 * kme_store_ckpt.c: WAL checkpoints on their own thread, started once the
 * connection is set up; stop before the connection closes (safe when
 * start failed or never ran).
 */
int kme_store_ckpt_start(struct kme_store *st, const char *path);
void kme_store_ckpt_stop(struct kme_store *st);

/* kme_store_pool.c: inside a transaction, 1 if the pool is short. */
int kme_store_take_locked(struct kme_store *st, const char *peer,
			  uint64_t bits);

#endif
