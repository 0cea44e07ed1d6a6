/*
 * kme_store.c — the KME's durable state in SQLite (WAL).
 *
 * pool:   secret bits available per peer (the authority side holds the
 *         truth; see kme_link.c).
 * rkey:   keys delivered to a master and waiting for their slave(s).
 * rslave: one row per (key, slave); fetched = 1 once that slave has it.
 * fetch_log: key IDs handed to slaves, for audits (no key bytes).
 * ready:  prefetched keys of the authority (kme_link.c, prefetch_keys).
 *
 * Every change is one transaction, so a process killed at any point
 * leaves either the state before or the state after it.  WAL with
 * synchronous=NORMAL survives the process being killed (the OS keeps the
 * written pages), not a power cut; kme-sim.8 says so.
 */
#include "kme.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KME_STORE_STMTS 24

struct kme_store {
	sqlite3 *db;
	pthread_mutex_t lock;	/* one connection, used by many threads */
	/* Prepared once, reset after each use (under lock). */
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[KME_STORE_STMTS];
	size_t ncache;
};

static const char kme_store_schema[] =
	"PRAGMA locking_mode=EXCLUSIVE;"
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"PRAGMA foreign_keys=ON;"
	/* Deleted keys are overwritten in the database file. */
	"PRAGMA secure_delete=ON;"
	"CREATE TABLE IF NOT EXISTS pool("
	"  peer TEXT PRIMARY KEY, bits INTEGER NOT NULL CHECK(bits >= 0))"
	"  WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS rkey("
	"  key_id BLOB PRIMARY KEY, master TEXT NOT NULL, peer TEXT NOT NULL,"
	"  key BLOB NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS rslave("
	"  key_id BLOB NOT NULL REFERENCES rkey(key_id) ON DELETE CASCADE,"
	"  slave TEXT NOT NULL, fetched INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(key_id, slave)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS rkey_expires ON rkey(expires);"
	/* IDs (never bytes) of keys handed to slaves: an audit trail that
	 * survives a reply lost in a crash; pruned after key_ttl. */
	"CREATE TABLE IF NOT EXISTS fetch_log("
	"  key_id BLOB NOT NULL, slave TEXT NOT NULL, at INTEGER NOT NULL,"
	"  PRIMARY KEY(key_id, slave)) WITHOUT ROWID;"
	/* Authority only (prefetch_keys): keys already recorded at the peer
	 * for one (master, slave) pair, not yet given to the master. */
	"CREATE TABLE IF NOT EXISTS ready("
	"  key_id BLOB PRIMARY KEY, master TEXT NOT NULL, slave TEXT NOT NULL,"
	"  peer TEXT NOT NULL, key BLOB NOT NULL, created INTEGER NOT NULL)"
	"  WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS ready_pair ON ready(master, slave, created);";

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

	if (keys == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		keys[i].len = len;
		keys[i].bytes = malloc(len);
		if (keys[i].bytes == NULL || uuid_generate_v4(keys[i].id) < 0 ||
		    RAND_bytes(keys[i].bytes, (int)len) != 1) {
			kme_keys_free(keys, n);
			return NULL;
		}
	}
	return keys;
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

struct kme_store *
kme_store_open(const char *path)
{
	struct kme_store *st;

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
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		log_warnx("store: cannot open database %s: %s", path,
			  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto err;
	}
	sqlite3_busy_timeout(st->db, 5000);
	if (kme_store_exec(st, kme_store_schema) < 0)
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
	sqlite3_stmt *k = NULL, *sl = NULL;
	int rc = -1;

	k = kme_store_prep(st, "INSERT INTO rkey(key_id, master, peer, key, expires) "
			   "VALUES(?, ?, ?, ?, ?)");
	sl = kme_store_prep(st, "INSERT INTO rslave(key_id, slave) VALUES(?, ?)");
	if (k == NULL || sl == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(k);
		sqlite3_bind_blob(k, 1, keys[i].id, UUID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(k, 2, master, -1, SQLITE_STATIC);
		sqlite3_bind_text(k, 3, peer, -1, SQLITE_STATIC);
		sqlite3_bind_blob(k, 4, keys[i].bytes, (int)keys[i].len, SQLITE_STATIC);
		sqlite3_bind_int64(k, 5, expires);
		if (kme_store_step_done(st, k) < 0)
			goto out;
		for (size_t j = 0; j < nslaves; j++) {
			sqlite3_reset(sl);
			sqlite3_bind_blob(sl, 1, keys[i].id, UUID_LEN, SQLITE_STATIC);
			sqlite3_bind_text(sl, 2, slaves[j], -1, SQLITE_STATIC);
			if (kme_store_step_done(st, sl) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	kme_store_release(st, k);
	kme_store_release(st, sl);
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
					  expires) < 0)
			goto rollback;
	}
	if (kme_store_run(st, "COMMIT") < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	kme_store_run(st, "ROLLBACK");
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/*
 * Within the fetch transaction: looks one key up for (master, slave) and
 * marks it fetched.  The key itself is copied to out.
 */
static enum kme_fetch_rc
kme_store_fetch_one(struct kme_store *st, sqlite3_stmt *q, sqlite3_stmt *mark,
		    const char *master, const char *slave,
		    const uint8_t id[UUID_LEN], struct kme_key *out)
{
	enum kme_fetch_rc rc = KME_FETCH_NOT_FOUND;
	int fetched = -1, r;

	sqlite3_reset(q);
	sqlite3_bind_blob(q, 1, id, UUID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, slave, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, wall_s());	/* expired, not yet swept */
	r = sqlite3_step(q);
	if (r == SQLITE_DONE)
		return KME_FETCH_NOT_FOUND;
	if (r != SQLITE_ROW) {
		log_warnx("store: fetch: %s", sqlite3_errmsg(st->db));
		return KME_FETCH_ERROR;
	}
	/* A key of another master is, for this request, not on this KME. */
	if (strcmp((const char *)sqlite3_column_text(q, 0), master) != 0)
		return KME_FETCH_NOT_FOUND;
	if (sqlite3_column_type(q, 2) != SQLITE_NULL)
		fetched = sqlite3_column_int(q, 2);
	if (fetched < 0)	/* 5.3: not a slave named for this key */
		return KME_FETCH_UNAUTHORIZED;
	if (fetched > 0)
		return KME_FETCH_NOT_FOUND;
	out->len = (size_t)sqlite3_column_bytes(q, 1);
	out->bytes = malloc(out->len ? out->len : 1);
	if (out->bytes == NULL)
		return KME_FETCH_ERROR;
	memcpy(out->bytes, sqlite3_column_blob(q, 1), out->len);
	memcpy(out->id, id, UUID_LEN);
	sqlite3_reset(mark);
	sqlite3_bind_blob(mark, 1, id, UUID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(mark, 2, slave, -1, SQLITE_STATIC);
	if (kme_store_step_done(st, mark) < 0)
		return KME_FETCH_ERROR;
	rc = KME_FETCH_OK;
	return rc;
}

enum kme_fetch_rc
kme_store_fetch(struct kme_store *st, const char *master, const char *slave,
		const uint8_t (*ids)[UUID_LEN], size_t n, struct kme_key *out)
{
	sqlite3_stmt *q = NULL, *mark = NULL, *gc = NULL, *logs = NULL;
	enum kme_fetch_rc rc = KME_FETCH_ERROR, worst = KME_FETCH_OK;

	pthread_mutex_lock(&st->lock);
	q = kme_store_prep(st, "SELECT k.master, k.key, s.fetched FROM rkey k "
			   "LEFT JOIN rslave s ON s.key_id = k.key_id AND s.slave = ?2 "
			   "WHERE k.key_id = ?1 AND k.expires > ?3");
	mark = kme_store_prep(st, "UPDATE rslave SET fetched = 1 "
			      "WHERE key_id = ?1 AND slave = ?2");
	logs = kme_store_prep(st, "INSERT OR REPLACE INTO fetch_log(key_id, slave, at) "
			      "VALUES(?, ?, ?)");
	/* The key leaves the store once every slave has it. */
	gc = kme_store_prep(st, "DELETE FROM rkey WHERE key_id = ?1 AND NOT EXISTS "
			    "(SELECT 1 FROM rslave WHERE key_id = ?1 AND fetched = 0)");
	if (q == NULL || mark == NULL || gc == NULL || logs == NULL)
		goto out;
	if (kme_store_run(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		enum kme_fetch_rc r = kme_store_fetch_one(st, q, mark, master,
							  slave, ids[i], &out[i]);
		if (r == KME_FETCH_ERROR) {
			worst = r;
			break;
		}
		/* 401 wins over 400: a party to none of them learns nothing. */
		if (r == KME_FETCH_UNAUTHORIZED ||
		    (r == KME_FETCH_NOT_FOUND && worst == KME_FETCH_OK))
			worst = r;
		if (r == KME_FETCH_OK) {
			sqlite3_reset(logs);
			sqlite3_bind_blob(logs, 1, ids[i], UUID_LEN, SQLITE_STATIC);
			sqlite3_bind_text(logs, 2, slave, -1, SQLITE_STATIC);
			sqlite3_bind_int64(logs, 3, wall_s());
			if (kme_store_step_done(st, logs) < 0) {
				worst = KME_FETCH_ERROR;
				break;
			}
			sqlite3_reset(gc);
			sqlite3_bind_blob(gc, 1, ids[i], UUID_LEN, SQLITE_STATIC);
			if (kme_store_step_done(st, gc) < 0) {
				worst = KME_FETCH_ERROR;
				break;
			}
		}
	}
	if (worst != KME_FETCH_OK || kme_store_run(st, "COMMIT") < 0) {
		kme_store_run(st, "ROLLBACK");
		rc = worst == KME_FETCH_OK ? KME_FETCH_ERROR : worst;
		goto out;
	}
	rc = KME_FETCH_OK;
out:
	kme_store_release(st, q);
	kme_store_release(st, mark);
	kme_store_release(st, gc);
	kme_store_release(st, logs);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int64_t
kme_store_expire(struct kme_store *st, int64_t now, int64_t log_keep_s)
{
	sqlite3_stmt *s, *l;
	int64_t n = -1;

	pthread_mutex_lock(&st->lock);
	s = kme_store_prep(st, "DELETE FROM rkey WHERE expires <= ?");
	l = kme_store_prep(st, "DELETE FROM fetch_log WHERE at <= ?");
	if (s == NULL || l == NULL)
		goto out;
	sqlite3_bind_int64(s, 1, now);
	if (kme_store_step_done(st, s) == 0)
		n = sqlite3_changes(st->db);
	sqlite3_bind_int64(l, 1, now - log_keep_s);
	kme_store_step_done(st, l);
out:
	kme_store_release(st, s);
	kme_store_release(st, l);
	pthread_mutex_unlock(&st->lock);
	return n;
}

int64_t
kme_store_reserved_count(struct kme_store *st)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	pthread_mutex_lock(&st->lock);
	s = kme_store_prep(st, "SELECT count(*) FROM rkey");
	if (s != NULL && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	kme_store_release(st, s);
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
	size_t got = 0;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	q = kme_store_prep(st, "SELECT key_id, key FROM ready WHERE master = ? "
			   "AND slave = ? AND created >= ? ORDER BY created LIMIT ?");
	d = kme_store_prep(st, "DELETE FROM ready WHERE key_id = ?");
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
		got++;
	}
	sqlite3_reset(q);
	for (size_t i = 0; got == n && i < n; i++) {
		sqlite3_reset(d);
		sqlite3_bind_blob(d, 1, out[i].id, UUID_LEN, SQLITE_STATIC);
		if (kme_store_step_done(st, d) < 0)
			got = 0;
	}
	/* All or none: the master gets them only once they are gone here. */
	if (got != n || kme_store_run(st, "COMMIT") < 0) {
		kme_store_run(st, "ROLLBACK");
		rc = got != n ? 1 : -1;
		goto out;
	}
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

int
kme_store_extend(struct kme_store *st, const uint8_t (*ids)[UUID_LEN], size_t n,
		 int64_t expires)
{
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
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
	pthread_mutex_unlock(&st->lock);
	return rc;
}
