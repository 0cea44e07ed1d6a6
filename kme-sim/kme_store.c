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
 */
#include "kme.h"

#include "log.h"
#include "secmem.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KME_STORE_STMTS 24
/* Rows per transaction where a long list need not be all or none. */
#define KME_STORE_SLICE 64

struct kme_store {
	sqlite3 *db;
	pthread_mutex_t lock;	/* one connection, used by many threads */
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
	int64_t scrub_len;	/* octets of zeros that fill a page's cell */
};

/* Connection settings, run at every open. */
static const char kme_store_pragmas[] =
	"PRAGMA locking_mode=EXCLUSIVE;"
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	/* Deleted keys are overwritten in the database file. */
	"PRAGMA secure_delete=ON;"
	"PRAGMA wal_autocheckpoint=10000;";

/*
 * Schema version 2 (PRAGMA user_version).  The tables are laid out so that
 * the two hot transactions write one B-tree page each: a dec_keys fetch
 * updates one rkey row in place (key bytes to NULL, fetched_at set; no
 * indexed column changes), and a prefetched enc_keys deletes ready rows
 * found and deleted through the primary key alone.  Every page a
 * transaction dirties costs WAL writes while the store is locked, and
 * system calls are what costs most here (docs/BENCHMARKS.md, kme-sim).
 */
#define KME_STORE_VERSION 2
static const char kme_store_schema[] =
	"CREATE TABLE IF NOT EXISTS pool("
	"  peer TEXT PRIMARY KEY, bits INTEGER NOT NULL CHECK(bits >= 0))"
	"  WITHOUT ROWID;"
	/* One row per (key, slave): a multicast key has one per slave, each
	 * with its own copy of the bytes, wiped when that slave fetches it.
	 * A fetched row stays, without the bytes, as the audit record of
	 * the delivery until expires + key_ttl (kme_store_expire). */
	"CREATE TABLE IF NOT EXISTS rkey("
	"  key_id BLOB NOT NULL, slave TEXT NOT NULL, master TEXT NOT NULL,"
	"  peer TEXT NOT NULL, key BLOB, expires INTEGER NOT NULL,"
	"  fetched_at INTEGER, PRIMARY KEY(key_id, slave)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS rkey_expires ON rkey(expires);"
	/* IDs (never bytes) of keys handed to slaves, for audits: a reply
	 * lost in a crash is explained by its row here. */
	"CREATE VIEW IF NOT EXISTS fetch_log(key_id, slave, at) AS"
	"  SELECT key_id, slave, fetched_at FROM rkey WHERE fetched_at IS NOT NULL;"
	/* Authority only (prefetch_keys): keys already recorded at the peer
	 * for one (master, slave) pair, not yet given to the master, in
	 * the order they are handed out. */
	"CREATE TABLE IF NOT EXISTS ready("
	"  master TEXT NOT NULL, slave TEXT NOT NULL, created INTEGER NOT NULL,"
	"  key_id BLOB NOT NULL, peer TEXT NOT NULL, key BLOB NOT NULL,"
	"  PRIMARY KEY(master, slave, created, key_id)) WITHOUT ROWID;"
	/* Always empty: a row of zeros passes through (kme_store_scrub_locked). */
	"CREATE TABLE IF NOT EXISTS scratch(pad BLOB);";

/*
 * Version 1 (the first release): rkey with one row per key, rslave with
 * one per (key, slave), a fetch_log table and ready keyed by key_id.  Its
 * rows are carried over in the same transaction that creates version 2;
 * an audit record whose key is gone keeps its key ID, slave and time.
 */
static const char kme_store_migrate_v1[] =
	"ALTER TABLE rkey RENAME TO rkey_v1;"
	"ALTER TABLE fetch_log RENAME TO fetch_log_v1;"
	"ALTER TABLE ready RENAME TO ready_v1;"
	"DROP INDEX IF EXISTS rkey_expires;"
	"DROP INDEX IF EXISTS ready_pair;"
	"%s"
	"INSERT INTO rkey(key_id, slave, master, peer, key, expires, fetched_at)"
	"  SELECT k.key_id, s.slave, k.master, k.peer,"
	"    CASE WHEN s.fetched THEN NULL ELSE k.key END, k.expires,"
	"    CASE WHEN s.fetched THEN coalesce(l.at, 0) END"
	"  FROM rkey_v1 k JOIN rslave s ON s.key_id = k.key_id"
	"  LEFT JOIN fetch_log_v1 l ON l.key_id = k.key_id AND l.slave = s.slave;"
	"INSERT OR IGNORE INTO rkey(key_id, slave, master, peer, key, expires,"
	"  fetched_at) SELECT key_id, slave, '', '', NULL, at, at FROM fetch_log_v1;"
	"INSERT INTO ready(master, slave, created, key_id, peer, key)"
	"  SELECT master, slave, created, key_id, peer, key FROM ready_v1;"
	"DROP TABLE rslave;"
	"DROP TABLE rkey_v1;"
	"DROP TABLE fetch_log_v1;"
	"DROP TABLE ready_v1;";

struct kme_key *
kme_keys_new(size_t n)
{
	return calloc(n ? n : 1, sizeof(struct kme_key));
}

void
kme_keys_free(struct kme_key *keys, size_t n)
{
	if (keys == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		secure_free(keys[i].bytes, keys[i].len);
	free(keys);
}

struct kme_key *
kme_keys_new_random(size_t n, size_t len)
{
	struct kme_key *keys = kme_keys_new(n);
	uint8_t (*ids)[UUID_LEN] = NULL, *bytes = NULL;
	bool ok = false;

	if (keys == NULL || n == 0)
		return keys;
	if (len == 0 || n > INT_MAX / len)
		goto out;
	/* One RNG call for the IDs and one for the bytes of all n keys. */
	ids = calloc(n, UUID_LEN);
	bytes = malloc(n * len);
	if (ids == NULL || bytes == NULL || uuid_generate_v7_n(ids, n) < 0 ||
	    RAND_bytes(bytes, (int)(n * len)) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		keys[i].bytes = malloc(len);
		if (keys[i].bytes == NULL)
			goto out;
		keys[i].len = len;
		memcpy(keys[i].id, ids[i], UUID_LEN);
		memcpy(keys[i].bytes, bytes + i * len, len);
	}
	ok = true;
out:
	free(ids);
	if (bytes != NULL)
		secure_free(bytes, n * len);
	if (!ok) {
		kme_keys_free(keys, n);
		return NULL;
	}
	return keys;
}

/*
 * SQLite's heap: key bytes pass through its registers (the record an
 * INSERT builds, the blob a SELECT copies out), which it frees on every
 * sqlite3_reset().  Those go through secmem_free.  Lookaside slots are
 * reused without a free, so there is no lookaside.
 */
static void *
kme_store_mem_malloc(int n)
{
	return malloc((size_t)n);
}

static void
kme_store_mem_free(void *p)
{
	secmem_free(p);
}

static void *
kme_store_mem_realloc(void *p, int n)
{
	return secmem_realloc(p, (size_t)n);
}

static int
kme_store_mem_size(void *p)
{
	return (int)malloc_usable_size(p);
}

static int
kme_store_mem_roundup(int n)
{
	return (n + 7) & ~7;
}

static int
kme_store_mem_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void
kme_store_mem_shutdown(void *arg)
{
	(void)arg;
}

static void
kme_store_init_sqlite(void)
{
	static const sqlite3_mem_methods mem = {
		kme_store_mem_malloc, kme_store_mem_free, kme_store_mem_realloc,
		kme_store_mem_size, kme_store_mem_roundup, kme_store_mem_init,
		kme_store_mem_shutdown, NULL
	};

	/* Only before SQLite's first use in this process. */
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK ||
	    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK)
		log_warnx("store: SQLite was in use before its allocator could "
			  "be set: its buffers are freed without being wiped");
}

static int
kme_store_exec(struct kme_store *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("store: %s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * The store holds key bytes: the database and its -wal and -shm files
 * must be private, like a private key.  An existing one that group or
 * others can reach is refused, not repaired: its keys may have leaked.
 */
int
kme_store_check_files(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[4096];
	int rc = 0;

	for (size_t i = 0; i < ARRAY_LEN(suffix); i++) {
		if (snprintf(p, sizeof(p), "%s%s", path, suffix[i]) >= (int)sizeof(p)) {
			log_warnx("store: database path too long: %s", path);
			return -1;
		}
		if (access(p, F_OK) < 0 && errno == ENOENT)
			continue;
		if (file_check_private(p) < 0)
			rc = -1;
	}
	return rc;
}

/* A new database file is created 0600 whatever the umask; SQLite gives
 * its -wal and -shm files the mode of the database file. */
static int
kme_store_create_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		      0600);

	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		log_warn("store: cannot create database %s", path);
		return -1;
	}
	if (fchmod(fd, 0600) < 0) {
		log_warn("store: chmod 600 %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* -1 on error; else the value of a one-integer query. */
static int64_t
kme_store_query_int(struct kme_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		log_warnx("store: %s: %s", sql, sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	return v;
}

/*
 * Brings the schema to KME_STORE_VERSION in one transaction: creates it in
 * a new database, carries a version 1 database's rows over, refuses one
 * written by a newer kme-sim (its rows are left as they are).
 */
static int
kme_store_upgrade(struct kme_store *st, const char *path)
{
	int64_t version = kme_store_query_int(st, "PRAGMA user_version");
	int64_t v1 = kme_store_query_int(st, "SELECT count(*) FROM sqlite_master "
					 "WHERE type = 'table' AND name = 'rslave'");
	char *sql = NULL, set_version[40];
	int rc = -1;

	snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d",
		 KME_STORE_VERSION);
	if (version < 0 || v1 < 0)
		return -1;
	if (version > KME_STORE_VERSION) {
		log_warnx("store: %s has schema version %lld, written by a newer "
			  "kme-sim (this one knows up to %d); not touching it",
			  path, (long long)version, KME_STORE_VERSION);
		return -1;
	}
	if (version == KME_STORE_VERSION)
		return kme_store_exec(st, kme_store_schema);
	if (v1 > 0) {
		if (asprintf(&sql, kme_store_migrate_v1, kme_store_schema) < 0)
			return -1;
		log_info("store: %s: carrying keys over from schema version 1 "
			 "to %d", path, KME_STORE_VERSION);
	}
	if (kme_store_exec(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	if (kme_store_exec(st, sql ? sql : kme_store_schema) < 0 ||
	    kme_store_exec(st, set_version) < 0 ||
	    kme_store_exec(st, "COMMIT") < 0) {
		kme_store_exec(st, "ROLLBACK");
		goto out;
	}
	rc = 0;
out:
	free(sql);
	return rc;
}

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
	if (kme_store_exec(st, kme_store_pragmas) < 0 ||
	    kme_store_upgrade(st, path) < 0)
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

static sqlite3_stmt *
kme_store_prep(struct kme_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	for (size_t i = 0; i < st->ncache; i++) {
		if (strcmp(st->cache[i].sql, sql) == 0)
			return st->cache[i].stmt;
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
			       NULL) != SQLITE_OK) {
		log_warnx("store: %s: %s", sql, sqlite3_errmsg(st->db));
		return NULL;
	}
	if (st->ncache < KME_STORE_STMTS) {
		st->cache[st->ncache].sql = sql;
		st->cache[st->ncache++].stmt = s;
	}
	return s;
}

/* Ends a use of a cached statement; bound key bytes are dropped. */
static void
kme_store_release(struct kme_store *st, sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	for (size_t i = 0; i < st->ncache; i++) {
		if (st->cache[i].stmt == s)
			return;
	}
	sqlite3_finalize(s);	/* the cache was full */
}

/* BEGIN, COMMIT, ROLLBACK through the statement cache. */
static int
kme_store_run(struct kme_store *st, const char *sql)
{
	sqlite3_stmt *s = kme_store_prep(st, sql);
	int rc = -1;

	if (s == NULL)
		return -1;
	if (sqlite3_step(s) == SQLITE_DONE)
		rc = 0;
	else
		log_warnx("store: %s: %s", sql, sqlite3_errmsg(st->db));
	kme_store_release(st, s);
	return rc;
}

/* Runs a statement that returns no rows; -1 on error. */
static int
kme_store_step_done(struct kme_store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE) {
		log_warnx("store: %s", sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

int
kme_store_pool_get(struct kme_store *st, const char *peer, uint64_t *bits)
{
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	s = kme_store_prep(st, "SELECT bits FROM pool WHERE peer = ?");
	if (s == NULL)
		goto out;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	switch (sqlite3_step(s)) {
	case SQLITE_ROW:
		*bits = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
		break;
	case SQLITE_DONE:
		*bits = 0;
		rc = 0;
		break;
	default:
		log_warnx("store: pool: %s", sqlite3_errmsg(st->db));
	}
out:
	kme_store_release(st, s);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
kme_store_pool_set(struct kme_store *st, const char *peer, uint64_t bits)
{
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	s = kme_store_prep(st, "INSERT INTO pool(peer, bits) VALUES(?1, ?2) "
			   "ON CONFLICT(peer) DO UPDATE SET bits = ?2");
	if (s == NULL)
		goto out;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)bits);
	rc = kme_store_step_done(st, s);
out:
	kme_store_release(st, s);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
kme_store_pool_add(struct kme_store *st, const char *peer, uint64_t add,
		   uint64_t max, uint64_t *now_bits)
{
	sqlite3_stmt *s = NULL, *g = NULL;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	/* One statement, so it cannot undo a concurrent take. */
	s = kme_store_prep(st, "INSERT INTO pool(peer, bits) VALUES(?1, min(?2, ?3)) "
			   "ON CONFLICT(peer) DO UPDATE SET bits = "
			   "max(bits, min(bits + ?2, ?3))");
	g = kme_store_prep(st, "SELECT bits FROM pool WHERE peer = ?");
	if (s == NULL || g == NULL)
		goto out;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)add);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	if (kme_store_step_done(st, s) < 0)
		goto out;
	sqlite3_bind_text(g, 1, peer, -1, SQLITE_STATIC);
	if (sqlite3_step(g) != SQLITE_ROW)
		goto out;
	*now_bits = (uint64_t)sqlite3_column_int64(g, 0);
	rc = 0;
out:
	kme_store_release(st, s);
	kme_store_release(st, g);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* With st->lock held and inside a transaction: 1 if the pool is short. */
static int
kme_store_take_locked(struct kme_store *st, const char *peer, uint64_t bits)
{
	sqlite3_stmt *s;
	int rc = -1;

	s = kme_store_prep(st, "UPDATE pool SET bits = bits - ?2 "
			   "WHERE peer = ?1 AND bits >= ?2");
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)bits);
	if (kme_store_step_done(st, s) == 0)
		rc = sqlite3_changes(st->db) == 1 ? 0 : 1;
	kme_store_release(st, s);
	return rc;
}

int
kme_store_pool_take(struct kme_store *st, const char *peer, uint64_t bits)
{
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = kme_store_take_locked(st, peer, bits);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int
kme_store_insert_keys(struct kme_store *st, const char *peer,
		      const char *master, char (*slaves)[KME_ID_MAX + 1],
		      size_t nslaves, const struct kme_key *keys, size_t n,
		      int64_t expires)
{
	sqlite3_stmt *k = NULL;
	int rc = -1;

	k = kme_store_prep(st, "INSERT INTO rkey(key_id, slave, master, peer, key, "
			   "expires) VALUES(?, ?, ?, ?, ?, ?)");
	if (k == NULL || nslaves == 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < nslaves; j++) {
			sqlite3_reset(k);
			sqlite3_bind_blob(k, 1, keys[i].id, UUID_LEN, SQLITE_STATIC);
			sqlite3_bind_text(k, 2, slaves[j], -1, SQLITE_STATIC);
			sqlite3_bind_text(k, 3, master, -1, SQLITE_STATIC);
			sqlite3_bind_text(k, 4, peer, -1, SQLITE_STATIC);
			sqlite3_bind_blob(k, 5, keys[i].bytes, (int)keys[i].len,
					  SQLITE_STATIC);
			sqlite3_bind_int64(k, 6, expires);
			if (kme_store_step_done(st, k) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	kme_store_release(st, k);
	return rc;
}

int
kme_store_reserve(struct kme_store *st, const char *peer, uint64_t take_bits,
		  const char *master, char (*slaves)[KME_ID_MAX + 1],
		  size_t nslaves, const struct kme_key *keys, size_t n,
		  int64_t expires)
{
	int rc = -1, t;

	pthread_mutex_lock(&st->lock);
	if (kme_store_run(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	if (take_bits > 0) {
		t = kme_store_take_locked(st, peer, take_bits);
		if (t != 0) {
			rc = t;
			goto rollback;
		}
	}
	if (kme_store_insert_keys(st, peer, master, slaves, nslaves, keys, n,
				  expires) < 0)
		goto rollback;
	if (kme_store_run(st, "COMMIT") < 0)
		goto rollback;
	st->reserved += (int64_t)n;
	rc = 0;
	goto out;
rollback:
	kme_store_run(st, "ROLLBACK");
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
kme_store_reserve_batch(struct kme_store *st, const char *peer,
			const struct kme_store_resv *items, size_t n,
			int64_t expires)
{
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	if (kme_store_run(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (kme_store_insert_keys(st, peer, items[i].master, items[i].slaves,
					  items[i].nslaves, items[i].keys, items[i].n,
					  expires) < 0) {
			/* A key ID recorded already (a replay) or twice in
			 * the batch: the peer's error, not the store's. */
			if (sqlite3_extended_errcode(st->db) ==
			    SQLITE_CONSTRAINT_PRIMARYKEY)
				rc = 1;
			goto rollback;
		}
	}
	if (kme_store_run(st, "COMMIT") < 0)
		goto rollback;
	for (size_t i = 0; i < n; i++)
		st->reserved += (int64_t)items[i].n;
	rc = 0;
	goto out;
rollback:
	kme_store_run(st, "ROLLBACK");
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* The statements of one fetch transaction. */
struct kme_store_fetch_q {
	sqlite3_stmt *row;	/* this key for this slave */
	sqlite3_stmt *party;	/* is the master a party to this key at all */
	sqlite3_stmt *mark;	/* the slave has it: bytes gone, time noted */
	sqlite3_stmt *waiting;	/* does another slave still wait for it */
};

/* 1 if a query bound by the caller returns a row, 0 if not, -1 on error. */
static int
kme_store_exists(struct kme_store *st, sqlite3_stmt *s)
{
	int r = sqlite3_step(s);

	sqlite3_reset(s);
	if (r == SQLITE_ROW)
		return 1;
	if (r == SQLITE_DONE)
		return 0;
	log_warnx("store: %s", sqlite3_errmsg(st->db));
	return -1;
}

/*
 * Within the fetch transaction: looks one key up for (master, slave) and
 * marks it fetched, which writes that one row in place.  The key itself
 * is copied to out.
 */
static enum kme_fetch_rc
kme_store_fetch_one(struct kme_store *st, struct kme_store_fetch_q *q,
		    const char *master, const char *slave,
		    const uint8_t id[UUID_LEN], int64_t now, struct kme_key *out)
{
	int r, other;

	sqlite3_reset(q->row);
	sqlite3_bind_blob(q->row, 1, id, UUID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q->row, 2, slave, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->row, 3, now);	/* expired, not yet swept */
	r = sqlite3_step(q->row);
	if (r == SQLITE_DONE) {
		/* 5.3: a key of this master, waiting, but not for this slave. */
		sqlite3_reset(q->party);
		sqlite3_bind_blob(q->party, 1, id, UUID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(q->party, 2, now);
		sqlite3_bind_text(q->party, 3, master, -1, SQLITE_STATIC);
		other = kme_store_exists(st, q->party);
		if (other < 0)
			return KME_FETCH_ERROR;
		return other ? KME_FETCH_UNAUTHORIZED : KME_FETCH_NOT_FOUND;
	}
	if (r != SQLITE_ROW) {
		log_warnx("store: fetch: %s", sqlite3_errmsg(st->db));
		return KME_FETCH_ERROR;
	}
	/* A key of another master is, for this request, not on this KME;
	 * one this slave already has is gone. */
	if (strcmp((const char *)sqlite3_column_text(q->row, 0), master) != 0 ||
	    sqlite3_column_type(q->row, 1) == SQLITE_NULL)
		return KME_FETCH_NOT_FOUND;
	out->len = (size_t)sqlite3_column_bytes(q->row, 1);
	out->bytes = malloc(out->len ? out->len : 1);
	if (out->bytes == NULL)
		return KME_FETCH_ERROR;
	memcpy(out->bytes, sqlite3_column_blob(q->row, 1), out->len);
	memcpy(out->id, id, UUID_LEN);
	sqlite3_reset(q->row);
	sqlite3_reset(q->mark);
	sqlite3_bind_blob(q->mark, 1, id, UUID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q->mark, 2, slave, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->mark, 3, now);
	if (kme_store_step_done(st, q->mark) < 0)
		return KME_FETCH_ERROR;
	return KME_FETCH_OK;
}

enum kme_fetch_rc
kme_store_fetch(struct kme_store *st, const char *master, const char *slave,
		const uint8_t (*ids)[UUID_LEN], size_t n, struct kme_key *out)
{
	struct kme_store_fetch_q q;
	enum kme_fetch_rc rc = KME_FETCH_ERROR, worst = KME_FETCH_OK;
	int64_t now = wall_s(), done = 0;

	pthread_mutex_lock(&st->lock);
	q.row = kme_store_prep(st, "SELECT master, key FROM rkey WHERE key_id = ?1 "
			       "AND slave = ?2 AND expires > ?3");
	q.party = kme_store_prep(st, "SELECT 1 FROM rkey WHERE key_id = ?1 AND "
				 "expires > ?2 AND master = ?3 AND key IS NOT NULL "
				 "LIMIT 1");
	q.mark = kme_store_prep(st, "UPDATE rkey SET key = NULL, fetched_at = ?3 "
				"WHERE key_id = ?1 AND slave = ?2");
	q.waiting = kme_store_prep(st, "SELECT 1 FROM rkey WHERE key_id = ?1 AND "
				   "key IS NOT NULL LIMIT 1");
	if (q.row == NULL || q.party == NULL || q.mark == NULL || q.waiting == NULL)
		goto out;
	if (kme_store_run(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		enum kme_fetch_rc r = kme_store_fetch_one(st, &q, master, slave,
							  ids[i], now, &out[i]);
		int left;

		if (r == KME_FETCH_ERROR) {
			worst = r;
			break;
		}
		/* 401 wins over 400: a party to none of them learns nothing. */
		if (r == KME_FETCH_UNAUTHORIZED ||
		    (r == KME_FETCH_NOT_FOUND && worst == KME_FETCH_OK))
			worst = r;
		if (r != KME_FETCH_OK)
			continue;
		/* The key leaves the count once every slave has it. */
		sqlite3_bind_blob(q.waiting, 1, ids[i], UUID_LEN, SQLITE_STATIC);
		left = kme_store_exists(st, q.waiting);
		if (left < 0) {
			worst = KME_FETCH_ERROR;
			break;
		}
		done += left == 0;
	}
	if (worst != KME_FETCH_OK || kme_store_run(st, "COMMIT") < 0) {
		kme_store_run(st, "ROLLBACK");
		rc = worst == KME_FETCH_OK ? KME_FETCH_ERROR : worst;
		goto out;
	}
	st->reserved -= done;
	st->scrub = true;
	rc = KME_FETCH_OK;
out:
	kme_store_release(st, q.row);
	kme_store_release(st, q.party);
	kme_store_release(st, q.mark);
	kme_store_release(st, q.waiting);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/*
 * SQLite builds each row it inserts in one buffer per database (pTmpSpace,
 * btree.c), which only the next insert overwrites.  A fetch rewrites the
 * key's row without its bytes: that shorter row leaves the tail of the key
 * behind, as a taken or deleted row leaves the whole of the last one
 * inserted.  A row of zeros as long as a page, inserted and deleted again
 * in the caller's transaction, overwrites all of it (docs/SECURITY.md, S-20).
 */
static int
kme_store_scrub_locked(struct kme_store *st)
{
	sqlite3_stmt *ins, *del;
	int rc = -1;

	ins = kme_store_prep(st, "INSERT INTO scratch(pad) VALUES(zeroblob(?))");
	del = kme_store_prep(st, "DELETE FROM scratch");
	if (ins == NULL || del == NULL)
		goto out;
	sqlite3_bind_int64(ins, 1, st->scrub_len);
	if (kme_store_step_done(st, ins) == 0 && kme_store_step_done(st, del) == 0)
		rc = 0;
out:
	kme_store_release(st, ins);
	kme_store_release(st, del);
	return rc;
}

/*
 * Unfetched keys expire through the expires index, but only in the slice
 * since the last sweep: below it sit the audit rows of fetched keys (kept
 * until expires + log_keep_s), which a scan from the start would read
 * every second.  A clock set back restarts the sweep from the beginning.
 */
int64_t
kme_store_expire(struct kme_store *st, int64_t now, int64_t log_keep_s)
{
	sqlite3_stmt *c, *s, *l;
	int64_t n = -1, from, expired;

	pthread_mutex_lock(&st->lock);
	if (now < st->swept_until)
		st->swept_until = INT64_MIN;
	from = st->swept_until;
	c = kme_store_prep(st, "SELECT count(DISTINCT key_id) FROM rkey WHERE "
			   "expires > ?1 AND expires <= ?2 AND key IS NOT NULL");
	s = kme_store_prep(st, "DELETE FROM rkey WHERE expires > ?1 AND "
			   "expires <= ?2 AND key IS NOT NULL");
	l = kme_store_prep(st, "DELETE FROM rkey WHERE expires <= ?");
	if (c == NULL || s == NULL || l == NULL ||
	    kme_store_run(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	sqlite3_bind_int64(c, 1, from);
	sqlite3_bind_int64(c, 2, now);
	sqlite3_bind_int64(s, 1, from);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(l, 1, now - log_keep_s);
	if (sqlite3_step(c) != SQLITE_ROW) {
		log_warnx("store: expiry: %s", sqlite3_errmsg(st->db));
		kme_store_run(st, "ROLLBACK");
		goto out;
	}
	expired = sqlite3_column_int64(c, 0);
	sqlite3_reset(c);
	if (kme_store_step_done(st, s) < 0 || kme_store_step_done(st, l) < 0 ||
	    ((st->scrub || expired > 0) && kme_store_scrub_locked(st) < 0) ||
	    kme_store_run(st, "COMMIT") < 0) {
		kme_store_run(st, "ROLLBACK");
		goto out;
	}
	st->scrub = false;
	n = expired;
	st->reserved -= n;
	st->swept_until = now;
out:
	kme_store_release(st, c);
	kme_store_release(st, s);
	kme_store_release(st, l);
	pthread_mutex_unlock(&st->lock);
	return n;
}

int64_t
kme_store_reserved_count(struct kme_store *st)
{
	int64_t n;

	pthread_mutex_lock(&st->lock);
	n = st->reserved;
	pthread_mutex_unlock(&st->lock);
	return n;
}

int
kme_store_ready_add(struct kme_store *st, const char *peer, const char *master,
		    const char *slave, const struct kme_key *keys, size_t n,
		    int64_t created)
{
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	s = kme_store_prep(st, "INSERT INTO ready(key_id, master, slave, peer, key, "
			   "created) VALUES(?, ?, ?, ?, ?, ?)");
	if (s == NULL || kme_store_run(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_bind_blob(s, 1, keys[i].id, UUID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, master, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, slave, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, peer, -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 5, keys[i].bytes, (int)keys[i].len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, created);
		if (kme_store_step_done(st, s) < 0) {
			kme_store_run(st, "ROLLBACK");
			goto out;
		}
	}
	rc = kme_store_run(st, "COMMIT");
	if (rc < 0)
		kme_store_run(st, "ROLLBACK");
out:
	kme_store_release(st, s);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int64_t
kme_store_ready_count(struct kme_store *st, const char *master,
		      const char *slave, int64_t min_created)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	pthread_mutex_lock(&st->lock);
	s = kme_store_prep(st, "SELECT count(*) FROM ready WHERE master = ? "
			   "AND slave = ? AND created >= ?");
	if (s != NULL) {
		sqlite3_bind_text(s, 1, master, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, slave, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, min_created);
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
	}
	kme_store_release(st, s);
	pthread_mutex_unlock(&st->lock);
	return n;
}

int
kme_store_ready_take(struct kme_store *st, const char *master,
		     const char *slave, int64_t min_created, struct kme_key *out,
		     size_t n)
{
	sqlite3_stmt *q = NULL, *d = NULL;
	int64_t last_created = 0;
	size_t got = 0;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	/* Oldest first, in primary key order: the rows taken are one range
	 * of the key, deleted by the next statement without an index. */
	q = kme_store_prep(st, "SELECT key_id, key, created FROM ready WHERE "
			   "master = ?1 AND slave = ?2 AND created >= ?3 "
			   "ORDER BY created, key_id LIMIT ?4");
	/* Row values, so that both ends bound the primary key search:
	 * keys prefetched in one second share their created value. */
	d = kme_store_prep(st, "DELETE FROM ready WHERE master = ?1 AND slave = ?2 "
			   "AND (created, key_id) >= (?3, x'') AND "
			   "(created, key_id) <= (?4, ?5)");
	if (q == NULL || d == NULL || kme_store_run(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	sqlite3_bind_text(q, 1, master, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, slave, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, min_created);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)n);
	while (got < n && sqlite3_step(q) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(q, 1);

		if (sqlite3_column_bytes(q, 0) != UUID_LEN)
			break;
		out[got].bytes = malloc(len ? len : 1);
		if (out[got].bytes == NULL)
			break;
		out[got].len = len;
		memcpy(out[got].id, sqlite3_column_blob(q, 0), UUID_LEN);
		memcpy(out[got].bytes, sqlite3_column_blob(q, 1), len);
		last_created = sqlite3_column_int64(q, 2);
		got++;
	}
	sqlite3_reset(q);
	if (got == n) {
		sqlite3_bind_text(d, 1, master, -1, SQLITE_STATIC);
		sqlite3_bind_text(d, 2, slave, -1, SQLITE_STATIC);
		sqlite3_bind_int64(d, 3, min_created);
		sqlite3_bind_int64(d, 4, last_created);
		sqlite3_bind_blob(d, 5, out[n - 1].id, UUID_LEN, SQLITE_STATIC);
		if (kme_store_step_done(st, d) < 0 ||
		    (size_t)sqlite3_changes(st->db) != n) {
			kme_store_run(st, "ROLLBACK");
			goto out;
		}
	}
	/* All or none: the master gets them only once they are gone here. */
	if (got != n || kme_store_run(st, "COMMIT") < 0) {
		kme_store_run(st, "ROLLBACK");
		rc = got != n ? 1 : -1;
		goto out;
	}
	st->scrub = true;
	rc = 0;
out:
	kme_store_release(st, q);
	kme_store_release(st, d);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int64_t
kme_store_ready_purge(struct kme_store *st, const char *peer, int64_t before)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	pthread_mutex_lock(&st->lock);
	s = kme_store_prep(st, "DELETE FROM ready WHERE peer = ? AND created < ?");
	if (s != NULL) {
		sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, before);
		if (kme_store_step_done(st, s) == 0)
			n = sqlite3_changes(st->db);
	}
	kme_store_release(st, s);
	pthread_mutex_unlock(&st->lock);
	return n;
}

/* One transaction of kme_store_extend; under st->lock. */
static int
kme_store_extend_locked(struct kme_store *st, const uint8_t (*ids)[UUID_LEN],
			size_t n, int64_t expires)
{
	sqlite3_stmt *s;
	int rc = -1;

	s = kme_store_prep(st, "UPDATE rkey SET expires = max(expires, ?) "
			   "WHERE key_id = ?");
	if (s == NULL || kme_store_run(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, expires);
		sqlite3_bind_blob(s, 2, ids[i], UUID_LEN, SQLITE_STATIC);
		if (kme_store_step_done(st, s) < 0) {
			kme_store_run(st, "ROLLBACK");
			goto out;
		}
	}
	rc = kme_store_run(st, "COMMIT");
	if (rc < 0)
		kme_store_run(st, "ROLLBACK");
out:
	kme_store_release(st, s);
	return rc;
}

/*
 * Each key stands alone here, so a sync's list of delivered keys is
 * extended a slice at a time, the lock released in between: a dec_keys
 * waits for one slice, not for the whole list.
 */
int
kme_store_extend(struct kme_store *st, const uint8_t (*ids)[UUID_LEN], size_t n,
		 int64_t expires)
{
	for (size_t i = 0; i < n; i += KME_STORE_SLICE) {
		size_t m = n - i < KME_STORE_SLICE ? n - i : KME_STORE_SLICE;
		int rc;

		pthread_mutex_lock(&st->lock);
		rc = kme_store_extend_locked(st, ids + i, m, expires);
		pthread_mutex_unlock(&st->lock);
		if (rc < 0)
			return -1;
	}
	return 0;
}
