/*
 * test_kme_store.c — kme-sim's SQLite store (kme-sim/kme_store*.c) on a
 * temporary database: pool arithmetic, reserve-and-take in one
 * transaction, once-only fetch per slave, all-or-nothing, 401 versus 400,
 * expiry, state surviving a reopen, private store files, the audit rows
 * fetches leave, the carry-over of a schema version 1 database, and the
 * fetch journal (fetches of a process killed before their COMMIT are
 * written at the next open).
 */
#include "harness.h"

#include "../kme-sim/kme.h"
#include "../kme-sim/kme_store_int.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dbpath[64];

/* A database's file and the ones SQLite keeps beside it. */
static void
unlink_db(const char *path)
{
	char p[128];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-fetches", path);
	unlink(p);
}

/* dbpath names this process's database, which does not exist yet. */
static void
fresh_path(void)
{
	snprintf(dbpath, sizeof(dbpath), "/tmp/test_kme_store.%d.db",
		 (int)getpid());
	unlink(dbpath);
}

static struct kme_store *
fresh(void)
{
	fresh_path();
	return kme_store_open(dbpath);
}

static void
cleanup_db(struct kme_store *st)
{
	kme_store_free(st);
	unlink_db(dbpath);
}

static char slaves1[1][KME_ID_MAX + 1] = { "SAE_B" };
static char slaves2[2][KME_ID_MAX + 1] = { "SAE_B", "SAE_B2" };

TEST(pool_arithmetic)
{
	struct kme_store *st = fresh();
	uint64_t bits = 99;

	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_pool_get(st, "KME_B", &bits), 0);
	ASSERT_U64_EQ(bits, 0);
	ASSERT_INT_EQ(kme_store_pool_add(st, "KME_B", 1000, 1500, &bits), 0);
	ASSERT_U64_EQ(bits, 1000);
	ASSERT_INT_EQ(kme_store_pool_add(st, "KME_B", 1000, 1500, &bits), 0);
	ASSERT_U64_EQ(bits, 1500); /* capped */
	ASSERT_INT_EQ(kme_store_pool_take(st, "KME_B", 1501), 1);
	ASSERT_INT_EQ(kme_store_pool_take(st, "KME_B", 500), 0);
	ASSERT_INT_EQ(kme_store_pool_get(st, "KME_B", &bits), 0);
	ASSERT_U64_EQ(bits, 1000);
	ASSERT_INT_EQ(kme_store_pool_take(st, "KME_C", 1), 1); /* no pool yet */
	cleanup_db(st);
}

TEST(reserve_fetch_once)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(2, 32),
		       *out = kme_keys_new(2);
	uint8_t ids[2][UUID_LEN];
	uint64_t bits;

	kme_store_pool_set(st, "KME_A", 1000);
	/* Not enough pool: nothing is recorded. */
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 1024, "SAE_A", slaves1, 1,
					keys, 2, wall_s() + 60),
		      1);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 0);
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 512, "SAE_A", slaves1, 1,
					keys, 2, wall_s() + 60),
		      0);
	kme_store_pool_get(st, "KME_A", &bits);
	ASSERT_U64_EQ(bits, 488);
	memcpy(ids[0], keys[0].id, UUID_LEN);
	memcpy(ids[1], keys[1].id, UUID_LEN);
	/* Wrong master: as if unknown. */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_X", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])ids, 2, out),
		      KME_FETCH_NOT_FOUND);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	/* Not a slave of it. */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_C",
				      (const uint8_t(*)[UUID_LEN])ids, 2, out),
		      KME_FETCH_UNAUTHORIZED);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])ids, 2, out),
		      KME_FETCH_OK);
	ASSERT_INT_EQ(out[1].len, 32);
	ASSERT_MEM_EQ(out[1].bytes, keys[1].bytes, 32);
	ASSERT_MEM_EQ(out[0].id, keys[0].id, UUID_LEN);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])ids, 1, out),
		      KME_FETCH_NOT_FOUND);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 0);
	kme_keys_free(out, 2);
	kme_keys_free(keys, 2);
	cleanup_db(st);
}

TEST(all_or_nothing_and_multicast)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(1, 16),
		       *out = kme_keys_new(2);
	uint8_t ids[2][UUID_LEN];

	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves2, 2,
					keys, 1, wall_s() + 60),
		      0);
	memcpy(ids[0], keys[0].id, UUID_LEN);
	memset(ids[1], 0x42, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])ids, 2, out),
		      KME_FETCH_NOT_FOUND);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	/* The failed request consumed nothing. */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])ids, 1, out),
		      KME_FETCH_OK);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	ASSERT_INT_EQ(kme_store_reserved_count(st),
		      1); /* SAE_B2 still to fetch */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])ids, 1, out),
		      KME_FETCH_NOT_FOUND);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B2",
				      (const uint8_t(*)[UUID_LEN])ids, 1, out),
		      KME_FETCH_OK);
	ASSERT_MEM_EQ(out[0].bytes, keys[0].bytes, 16);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 0);
	kme_keys_free(out, 2);
	kme_keys_free(keys, 1);
	cleanup_db(st);
}

TEST(expiry_and_reopen)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(2, 16),
		       *out = kme_keys_new(1);
	uint8_t id[1][UUID_LEN];
	uint64_t bits;

	kme_store_pool_set(st, "KME_B", 777);
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1,
					keys, 1, wall_s() - 1),
		      0);
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1,
					keys + 1, 1, wall_s() + 60),
		      0);
	memcpy(id[0], keys[0].id, UUID_LEN);
	/* Expired but not yet swept: already not served. */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_NOT_FOUND);
	ASSERT_INT_EQ(kme_store_expire(st, wall_s(), 60), 1);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);
	kme_store_free(st);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	kme_store_pool_get(st, "KME_B", &bits);
	ASSERT_U64_EQ(bits, 777);
	memcpy(id[0], keys[1].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_OK);
	kme_keys_free(out, 1);
	kme_keys_free(keys, 2);
	cleanup_db(st);
}

/*
 * The store writes each WAL frame with one call (kme_store_vfs.c).  A
 * process that dies without closing the store leaves its WAL behind; plain
 * SQLite (default VFS, another process) recovers every committed frame from
 * it, checking each frame's checksum, and the file is made of whole frames
 * (SQLite's WAL format: a 32-octet header, then 24-octet frame headers each
 * followed by a page).
 */
TEST(wal_frames_recovered_by_plain_sqlite)
{
	struct kme_key *keys = kme_keys_new_random(3, 32);
	char wal[96];
	struct stat sb;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int status = -1, page;
	pid_t pid;

	ASSERT_TRUE(keys != NULL);
	fresh_path();
	pid = fork();
	if (pid == 0) {
		struct kme_store *st = kme_store_open(dbpath);
		struct kme_key *out = kme_keys_new(1);
		uint8_t id[1][UUID_LEN];

		memcpy(id[0], keys[1].id, UUID_LEN);
		if (st == NULL || out == NULL ||
		    kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1, keys,
				      3, wall_s() + 60) != 0 ||
		    kme_store_fetch(st, "SAE_A", "SAE_B",
				    (const uint8_t(*)[UUID_LEN])id, 1,
				    out) != KME_FETCH_OK ||
		    kme_store_pool_set(st, "KME_A", 1) != 0)
			_exit(1);
		/* The pool write committed the fetch first; no close: no
		 * checkpoint, the WAL stays. */
		_exit(0);
	}
	ASSERT_TRUE(pid > 0);
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_INT_EQ(status, 0);
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	ASSERT_INT_EQ(stat(wal, &sb), 0);
	ASSERT_INT_EQ(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL),
		      SQLITE_OK);
	ASSERT_INT_EQ(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL),
		      SQLITE_OK);
	ASSERT_INT_EQ(sqlite3_step(q), SQLITE_ROW);
	page = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	ASSERT_TRUE(sb.st_size > 32 && (sb.st_size - 32) % (24 + page) == 0);
	/* Three keys recorded, the second one fetched: bytes gone, time set. */
	ASSERT_INT_EQ(
	    sqlite3_prepare_v2(db,
			       "SELECT count(*), sum(key IS NULL), "
			       "sum(fetched_at IS NOT NULL), "
			       "sum(key_id = ?1 AND key IS NULL) FROM rkey",
			       -1, &q, NULL),
	    SQLITE_OK);
	sqlite3_bind_blob(q, 1, keys[1].id, UUID_LEN, SQLITE_STATIC);
	ASSERT_INT_EQ(sqlite3_step(q), SQLITE_ROW);
	ASSERT_INT_EQ(sqlite3_column_int(q, 0), 3);
	ASSERT_INT_EQ(sqlite3_column_int(q, 1), 1);
	ASSERT_INT_EQ(sqlite3_column_int(q, 2), 1);
	ASSERT_INT_EQ(sqlite3_column_int(q, 3), 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	kme_keys_free(keys, 3);
	cleanup_db(NULL);
}

/* The pool bits of peer in the database at path (plain SQLite); 0 if none. */
static int
pool_bits_of(const char *path, const char *peer)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
		SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT bits FROM pool WHERE peer = ?1", -1,
			       &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, peer, -1, SQLITE_STATIC);
		v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0)
						  : 0;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/*
 * Checkpoints run on the store's own thread, not in the COMMIT that passes
 * the threshold: a child commits more single-page transactions than one
 * checkpoint's worth, waits for the thread's first checkpoint, commits
 * once more and dies without closing.  The database file alone (a copy,
 * read by plain SQLite without the WAL) holds a value the loop committed
 * and not the one after it; with its WAL, it holds the last of each.
 */
TEST(checkpoint_off_the_commit)
{
	enum {
		TXNS = 6000
	};
	char copy[96], buf[65536];
	int status = -1, in, out, bits;
	ssize_t n;
	pid_t pid;

	fresh_path();
	pid = fork();
	if (pid == 0) {
		struct kme_store *st = kme_store_open(dbpath);
		uint64_t until;

		if (st == NULL)
			_exit(1);
		for (int i = 1; i <= TXNS; i++) {
			if (kme_store_pool_set(st, "KME_B", (uint64_t)i) != 0)
				_exit(2);
		}
		/* Bounded wait for the thread (slow under the sanitizers). */
		until = mono_ms() + 60000;
		while (kme_store_checkpoints(st) < 1 && mono_ms() < until)
			usleep(10000);
		if (kme_store_checkpoints(st) < 1)
			_exit(3);
		if (kme_store_pool_set(st, "KME_C", 4242) != 0)
			_exit(4);
		_exit(0); /* no close: no checkpoint at close */
	}
	ASSERT_TRUE(pid > 0);
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_INT_EQ(WEXITSTATUS(status), 0);
	snprintf(copy, sizeof(copy), "%s.copy", dbpath);
	in = open(dbpath, O_RDONLY);
	out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_TRUE(in != -1 && out != -1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ASSERT_INT_EQ(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	/* Checkpointed while the child went on committing: a state of the
	 * loop past the threshold (4,000 frames, a few of them the schema). */
	bits = pool_bits_of(copy, "KME_B");
	ASSERT_TRUE(bits >= TXNS / 2 && bits <= TXNS);
	ASSERT_INT_EQ(pool_bits_of(copy, "KME_C"), 0);
	ASSERT_INT_EQ(pool_bits_of(dbpath, "KME_B"), TXNS);
	ASSERT_INT_EQ(pool_bits_of(dbpath, "KME_C"), 4242);
	unlink_db(copy);
	cleanup_db(NULL);
}

TEST(ready_take_all_or_none)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(3, 32),
		       *out = kme_keys_new(3);
	uint8_t id[1][UUID_LEN];
	int64_t now = wall_s();

	ASSERT_INT_EQ(kme_store_ready_add(st, "KME_B", "SAE_A", "SAE_B", keys,
					  2, now - 100),
		      0);
	ASSERT_INT_EQ(kme_store_ready_add(st, "KME_B", "SAE_A", "SAE_B",
					  keys + 2, 1, now),
		      0);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 3);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", now - 10), 1);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_C", 0), 0);
	/* Too few fresh enough: nothing taken. */
	ASSERT_INT_EQ(
	    kme_store_ready_take(st, "SAE_A", "SAE_B", now - 10, out, 2), 1);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 3);
	kme_keys_free(out, 3);
	out = kme_keys_new(3);
	ASSERT_INT_EQ(kme_store_ready_take(st, "SAE_A", "SAE_B", 0, out, 2), 0);
	/* The two oldest, in either order, with their bytes. */
	{
		int i0 = memcmp(out[0].id, keys[0].id, UUID_LEN) == 0 ? 0 : 1;
		ASSERT_MEM_EQ(out[0].id, keys[i0].id, UUID_LEN);
		ASSERT_MEM_EQ(out[0].bytes, keys[i0].bytes, 32);
		ASSERT_MEM_EQ(out[1].id, keys[1 - i0].id, UUID_LEN);
		ASSERT_MEM_EQ(out[1].bytes, keys[1 - i0].bytes, 32);
	}
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 1);
	ASSERT_INT_EQ(kme_store_ready_purge(st, "KME_B", now + 1), 1);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 0);
	/* Slave side: delivery extends the expiry of a recorded key. */
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1,
					keys, 1, now - 1),
		      0);
	memcpy(id[0], keys[0].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_extend(st, (const uint8_t(*)[UUID_LEN])id, 1,
				       now + 60),
		      0);
	ASSERT_INT_EQ(kme_store_expire(st, now, 60), 0);
	kme_keys_free(out, 3);
	out = kme_keys_new(1);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_OK);
	kme_keys_free(out, 1);
	kme_keys_free(keys, 3);
	cleanup_db(st);
}

/* A replayed or repeated key ID is refused as such, and records nothing. */
TEST(reserve_batch_refuses_repeated_ids)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(2, 16),
		       *out = kme_keys_new(1);
	struct kme_store_resv item = { "SAE_A", slaves1, 1, keys, 1 };
	struct kme_store_resv twice[2] = { { "SAE_A", slaves1, 1, keys + 1, 1 },
					   { "SAE_A", slaves1, 1, keys + 1,
					     1 } };
	uint8_t id[1][UUID_LEN];

	ASSERT_INT_EQ(
	    kme_store_reserve_batch(st, "KME_A", &item, 1, wall_s() + 60), 0);
	ASSERT_INT_EQ(
	    kme_store_reserve_batch(st, "KME_A", &item, 1, wall_s() + 60), 1);
	ASSERT_INT_EQ(
	    kme_store_reserve_batch(st, "KME_A", twice, 2, wall_s() + 60), 1);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);
	memcpy(id[0], keys[1].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_NOT_FOUND);
	memcpy(id[0], keys[0].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_OK);
	ASSERT_MEM_EQ(out[0].bytes, keys[0].bytes, 16);
	kme_keys_free(out, 1);
	kme_keys_free(keys, 2);
	cleanup_db(st);
}

/* Keys prefetched in one second share their created value. */
TEST(ready_take_same_second)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(5, 32), *a = kme_keys_new(1),
		       *b = kme_keys_new(2);
	int64_t now = wall_s();
	int seen[5] = { 0 };

	ASSERT_INT_EQ(kme_store_ready_add(st, "KME_B", "SAE_A", "SAE_B", keys,
					  5, now),
		      0);
	ASSERT_INT_EQ(kme_store_ready_take(st, "SAE_A", "SAE_B", 0, a, 1), 0);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 4);
	ASSERT_INT_EQ(kme_store_ready_take(st, "SAE_A", "SAE_B", 0, b, 2), 0);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 2);
	/* Three different keys of the five, each with its own bytes. */
	for (int i = 0; i < 5; i++) {
		struct kme_key *got[3] = { &a[0], &b[0], &b[1] };

		for (int j = 0; j < 3; j++) {
			if (memcmp(got[j]->id, keys[i].id, UUID_LEN) == 0) {
				ASSERT_MEM_EQ(got[j]->bytes, keys[i].bytes, 32);
				seen[i]++;
			}
		}
	}
	ASSERT_INT_EQ(seen[0] + seen[1] + seen[2] + seen[3] + seen[4], 3);
	for (int i = 0; i < 5; i++)
		ASSERT_TRUE(seen[i] <= 1);
	kme_keys_free(a, 1);
	kme_keys_free(b, 2);
	kme_keys_free(keys, 5);
	cleanup_db(st);
}

/* Runs SQL on the closed store file; the store must not be open. */
static int
db_exec(const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(dbpath, &db) == SQLITE_OK &&
			 sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
		     ? 0
		     : -1;

	sqlite3_close(db);
	return rc;
}

/* The first integer a query returns, -1 if none. */
static long long
db_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;

	if (sqlite3_open(dbpath, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/*
 * A fetch wipes the key's bytes at once and leaves a row of IDs behind
 * (the fetch_log view) until expires + log_keep; an unfetched key goes at
 * its expiry, counted as expired, also when the sweep runs late.
 */
TEST(fetch_audit_and_retention)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(2, 16),
		       *out = kme_keys_new(1);
	uint8_t id[1][UUID_LEN];
	int64_t now = wall_s();

	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1,
					keys, 2, now + 60),
		      0);
	memcpy(id[0], keys[0].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_OK);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);
	ASSERT_INT_EQ(kme_store_expire(st, now, 100), 0);
	/* Both keys past their expiry: the unfetched one goes, the audit row
	 * of the fetched one stays for log_keep. */
	ASSERT_INT_EQ(kme_store_expire(st, now + 61, 100), 1);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 0);
	kme_store_free(st);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM fetch_log"), 1);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM rkey WHERE key IS NOT NULL"),
		      0);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM rkey"), 1);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_expire(st, now + 60 + 99, 100), 0);
	ASSERT_INT_EQ(kme_store_expire(st, now + 60 + 100, 100), 0);
	kme_store_free(st);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM fetch_log"), 0);
	st = kme_store_open(dbpath);
	kme_keys_free(out, 1);
	kme_keys_free(keys, 2);
	cleanup_db(st);
}

/*
 * A delivery (kme_store_extend) starts key_ttl for keys still waiting for
 * their slave, never shortens one, and leaves a fetched key's audit row
 * with the expiry it had when fetched.
 */
TEST(extend_waiting_keys_only)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(3, 16),
		       *out = kme_keys_new(1);
	uint8_t id[3][UUID_LEN];
	int64_t now = wall_s();

	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1,
					keys, 3, now + 10),
		      0);
	for (int i = 0; i < 3; i++)
		memcpy(id[i], keys[i].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_OK);
	/* keys[2] is given a later expiry first, which the delivery keeps. */
	ASSERT_INT_EQ(kme_store_extend(st, (const uint8_t(*)[UUID_LEN])id + 2,
				       1, now + 90),
		      0);
	ASSERT_INT_EQ(kme_store_extend(st, (const uint8_t(*)[UUID_LEN])id, 3,
				       now + 60),
		      0);
	kme_store_free(st);
	ASSERT_INT_EQ(
	    db_int("SELECT count(*) FROM rkey WHERE expires = "
		   "(SELECT max(expires) FROM rkey) AND key IS NOT NULL"),
	    1);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM rkey WHERE key IS NULL"), 1);
	ASSERT_INT_EQ(db_int("SELECT max(expires) - min(expires) FROM rkey"),
		      80);
	ASSERT_INT_EQ(db_int("SELECT sum(expires) FROM rkey") - 3 * now,
		      10 + 60 + 90);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	/* The fetched key's audit row goes log_keep after its own expiry. */
	ASSERT_INT_EQ(kme_store_expire(st, now + 10 + 5, 5), 0);
	kme_store_free(st);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM fetch_log"), 0);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM rkey WHERE key IS NOT NULL"),
		      2);
	st = kme_store_open(dbpath);
	kme_keys_free(out, 1);
	kme_keys_free(keys, 3);
	cleanup_db(st);
}

/* The first release's tables, as it created them. */
static const char schema_v1[] =
    "CREATE TABLE pool(peer TEXT PRIMARY KEY, bits INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE rkey(key_id BLOB PRIMARY KEY, master TEXT NOT NULL, peer TEXT NOT NULL,"
    "  key BLOB NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE rslave(key_id BLOB NOT NULL REFERENCES rkey(key_id) ON DELETE CASCADE,"
    "  slave TEXT NOT NULL, fetched INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(key_id, slave)) WITHOUT ROWID;"
    "CREATE INDEX rkey_expires ON rkey(expires);"
    "CREATE TABLE fetch_log(key_id BLOB NOT NULL, slave TEXT NOT NULL, at INTEGER NOT NULL,"
    "  PRIMARY KEY(key_id, slave)) WITHOUT ROWID;"
    "CREATE TABLE ready(key_id BLOB PRIMARY KEY, master TEXT NOT NULL, slave TEXT NOT NULL,"
    "  peer TEXT NOT NULL, key BLOB NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX ready_pair ON ready(master, slave, created);"
    "INSERT INTO pool VALUES('KME_B', 4242);"
    /* key 11..: waiting for SAE_B; key 22..: multicast, SAE_B has it */
    "INSERT INTO rkey VALUES(x'11111111111111111111111111111111', 'SAE_A', 'KME_A',"
    "  x'0102030405060708090a0b0c0d0e0f10', 4000000000);"
    "INSERT INTO rslave VALUES(x'11111111111111111111111111111111', 'SAE_B', 0);"
    "INSERT INTO rkey VALUES(x'22222222222222222222222222222222', 'SAE_A', 'KME_A',"
    "  x'a1a2a3a4a5a6a7a8a9aaabacadaeafb0', 4000000000);"
    "INSERT INTO rslave VALUES(x'22222222222222222222222222222222', 'SAE_B', 1);"
    "INSERT INTO rslave VALUES(x'22222222222222222222222222222222', 'SAE_B2', 0);"
    "INSERT INTO fetch_log VALUES(x'22222222222222222222222222222222', 'SAE_B', 1700000000);"
    /* a key long gone, only its audit row left */
    "INSERT INTO fetch_log VALUES(x'33333333333333333333333333333333', 'SAE_B', 1700000001);"
    "INSERT INTO ready VALUES(x'44444444444444444444444444444444', 'SAE_A', 'SAE_B',"
    "  'KME_B', x'00112233445566778899aabbccddeeff', 1700000002);";

TEST(carries_over_schema_v1)
{
	struct kme_store *st = fresh();
	struct kme_key *out = kme_keys_new(1);
	uint8_t id[1][UUID_LEN];
	uint64_t bits = 0;

	kme_store_free(st);
	unlink(dbpath);
	ASSERT_INT_EQ(db_exec(schema_v1), 0);
	ASSERT_INT_EQ(chmod(dbpath, 0600), 0);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 2);
	ASSERT_INT_EQ(kme_store_pool_get(st, "KME_B", &bits), 0);
	ASSERT_U64_EQ(bits, 4242);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 1);
	memset(id[0], 0x11, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_OK);
	ASSERT_INT_EQ(out[0].bytes[0], 0x01);
	kme_keys_free(out, 1);
	out = kme_keys_new(1);
	memset(id[0], 0x22, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_NOT_FOUND);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B2",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_OK);
	ASSERT_INT_EQ(out[0].bytes[0], 0xa1);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 0);
	kme_store_free(st);
	ASSERT_INT_EQ(db_int("PRAGMA user_version"), 2);
	ASSERT_INT_EQ(
	    db_int("SELECT count(*) FROM sqlite_master WHERE name LIKE '%v1' "
		   "OR name = 'rslave'"),
	    0);
	/* Every audit record survived: the old two and the two fetches. */
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM fetch_log"), 4);
	ASSERT_INT_EQ(db_int("SELECT at FROM fetch_log WHERE key_id = "
			     "x'33333333333333333333333333333333'"),
		      1700000001);
	/* A store written by a newer kme-sim is refused and left alone. */
	ASSERT_INT_EQ(db_exec("PRAGMA user_version = 99"), 0);
	ASSERT_TRUE(kme_store_open(dbpath) == NULL);
	ASSERT_INT_EQ(db_int("PRAGMA user_version"), 99);
	st = kme_store_open("/nonexistent-dir/x.db");
	kme_keys_free(out, 1);
	cleanup_db(st);
}

static unsigned
file_mode(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 01000;
}

/* Key material never lands in a file group or others can read. */
TEST(files_private)
{
	mode_t old = umask(022);
	struct kme_store *st = fresh();
	char wal[96], shm[96], jr[96];
	int fd;

	snprintf(jr, sizeof(jr), "%s-fetches", dbpath);
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	snprintf(shm, sizeof(shm), "%s-shm", dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_pool_set(st, "KME_B", 1), 0);
	ASSERT_INT_EQ(file_mode(dbpath), 0600);
	ASSERT_INT_EQ(file_mode(wal), 0600); /* exists while open (WAL) */
	ASSERT_TRUE(access(shm, F_OK) < 0 || file_mode(shm) == 0600);
	ASSERT_INT_EQ(file_mode(jr), 0600); /* the fetch journal */
	kme_store_free(st);
	ASSERT_INT_EQ(file_mode(jr), 0600); /* stays after close */
	ASSERT_INT_EQ(kme_store_check_files(dbpath), 0);
	/* An existing store readable by others is refused, and not opened. */
	ASSERT_INT_EQ(chmod(dbpath, 0644), 0);
	ASSERT_INT_EQ(kme_store_check_files(dbpath), -1);
	ASSERT_TRUE(kme_store_open(dbpath) == NULL);
	ASSERT_INT_EQ(file_mode(dbpath), 0644); /* left for the operator */
	ASSERT_INT_EQ(chmod(dbpath, 0600), 0);
	/* So is a leftover -shm (or -wal) that others can reach. */
	fd = open(shm, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	ASSERT_INT_EQ(chmod(shm, 0640), 0);
	ASSERT_TRUE(kme_store_open(dbpath) == NULL);
	ASSERT_INT_EQ(unlink(shm), 0);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	umask(old);
	cleanup_db(st);
}

/*
 * A claim takes between min and max of the oldest ready keys, and they are
 * gone from the store once it returns: reopened, the store never offers
 * one of them again (a crash after a claim loses keys, never repeats one).
 */
TEST(ready_claim_bounds_and_durable)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(5, 32),
		       *out = kme_keys_new(8), *rest = kme_keys_new(8);
	int64_t now = wall_s(), created[8] = { 0 };
	size_t got = 99;

	ASSERT_INT_EQ(kme_store_ready_add(st, "KME_B", "SAE_A", "SAE_B", keys,
					  2, now - 5),
		      0);
	ASSERT_INT_EQ(kme_store_ready_add(st, "KME_B", "SAE_A", "SAE_B",
					  keys + 2, 3, now),
		      0);
	/* More asked for at least than there are: nothing taken. */
	ASSERT_INT_EQ(kme_store_ready_claim(st, "SAE_A", "SAE_B", 0, 6, 8, out,
					    created, &got),
		      1);
	ASSERT_U64_EQ(got, 0);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 5);
	/* At most max, the oldest first, with their created times. */
	ASSERT_INT_EQ(kme_store_ready_claim(st, "SAE_A", "SAE_B", 0, 1, 3, out,
					    created, &got),
		      0);
	ASSERT_U64_EQ(got, 3);
	ASSERT_TRUE(created[0] == now - 5 && created[1] == now - 5 &&
		    created[2] == now);
	for (size_t i = 0; i < got; i++) {
		size_t j = 0;

		while (j < 5 && memcmp(out[i].id, keys[j].id, UUID_LEN) != 0)
			j++;
		ASSERT_TRUE(j < 5);
		ASSERT_MEM_EQ(out[i].bytes, keys[j].bytes, 32);
	}
	/* Durable: a reopened store holds the two others only. */
	kme_store_free(st);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 2);
	ASSERT_INT_EQ(kme_store_ready_claim(st, "SAE_A", "SAE_B", 0, 1, 8, rest,
					    NULL, &got),
		      0);
	ASSERT_U64_EQ(got, 2);
	for (size_t i = 0; i < 2; i++) {
		for (size_t j = 0; j < 3; j++)
			ASSERT_TRUE(memcmp(rest[i].id, out[j].id, UUID_LEN) !=
				    0);
	}
	/* Empty now: a claim of at least one takes nothing. */
	ASSERT_INT_EQ(kme_store_ready_claim(st, "SAE_A", "SAE_B", 0, 1, 8, rest,
					    NULL, &got),
		      1);
	kme_keys_free(out, 8);
	kme_keys_free(rest, 8);
	kme_keys_free(keys, 5);
	cleanup_db(st);
}

/*
 * The fetch journal (kme_store_journal.c): <database>-fetches, a header of
 * 128 octets, then records of 128 octets, record i at 128 * (i + 1).
 * Fetches are committed every 64 fetches and before any other operation;
 * until then each is only in the journal, written again at the next open.
 */
#define JR_REC 128

static void
journal_path(char *p, size_t cap)
{
	snprintf(p, cap, "%s-fetches", dbpath);
}

/* The state of a key's row for SAE_B, read by plain SQLite: 0 waiting,
 * 1 fetched (bytes gone, time set), -1 no such row. */
static int
key_state(const uint8_t id[UUID_LEN])
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int v = -2;

	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL) ==
		SQLITE_OK &&
	    sqlite3_prepare_v2(db,
			       "SELECT key IS NULL AND fetched_at IS NOT NULL "
			       "FROM rkey WHERE key_id = ?1 AND slave = 'SAE_B'",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_blob(q, 1, id, UUID_LEN, SQLITE_STATIC);
		v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0)
						  : -1;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/* A store at dbpath with n keys of 16 octets for SAE_B, closed again. */
static struct kme_key *
journal_setup(size_t n)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(n, 16);

	if (st == NULL || keys == NULL ||
	    kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1, keys, n,
			      wall_s() + 600) != 0) {
		kme_keys_free(keys, n);
		keys = NULL;
	}
	kme_store_free(st);
	return keys;
}

/* Fetches keys[from..to), one request each; 0 if all were served. */
static int
fetch_each(struct kme_store *st, const struct kme_key *keys, size_t from,
	   size_t to)
{
	for (size_t i = from; i < to; i++) {
		struct kme_key *out = kme_keys_new(1);
		uint8_t id[1][UUID_LEN];
		enum kme_fetch_rc r;

		memcpy(id[0], keys[i].id, UUID_LEN);
		r = kme_store_fetch(st, "SAE_A", "SAE_B",
				    (const uint8_t(*)[UUID_LEN])id, 1, out);
		kme_keys_free(out, 1);
		if (r != KME_FETCH_OK)
			return -1;
	}
	return 0;
}

/*
 * In a child: opens the store, fetches keys[from..to) one request each,
 * then is killed with SIGKILL, the store not closed.  0 if so.
 */
static int
crash_after_fetches(const struct kme_key *keys, size_t from, size_t to)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct kme_store *st = kme_store_open(dbpath);

		if (st == NULL || fetch_each(st, keys, from, to) != 0)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
}

/*
 * Fetches answered by a process killed before their COMMIT: the database
 * alone does not have them, the journal does; the next open writes them
 * (audit row: bytes gone, time set) and never answers them again.
 */
TEST(journal_fetch_survives_kill)
{
	struct kme_key *keys = journal_setup(4), *out = kme_keys_new(1);
	struct kme_store *st;
	uint8_t id[1][UUID_LEN];

	ASSERT_TRUE(keys != NULL);
	ASSERT_INT_EQ(crash_after_fetches(keys, 0, 3), 0);
	/* Not committed: only the journal has them. */
	for (int i = 0; i < 4; i++)
		ASSERT_INT_EQ(key_state(keys[i].id), 0);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);
	for (int i = 0; i < 3; i++) {
		memcpy(id[0], keys[i].id, UUID_LEN);
		ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
					      (const uint8_t(*)[UUID_LEN])id, 1,
					      out),
			      KME_FETCH_NOT_FOUND);
	}
	memcpy(id[0], keys[3].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B",
				      (const uint8_t(*)[UUID_LEN])id, 1, out),
		      KME_FETCH_OK);
	ASSERT_MEM_EQ(out[0].bytes, keys[3].bytes, 16);
	kme_store_free(st);
	for (int i = 0; i < 4; i++)
		ASSERT_INT_EQ(key_state(keys[i].id), 1);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM fetch_log WHERE at > 0"), 4);
	kme_keys_free(out, 1);
	kme_keys_free(keys, 4);
	cleanup_db(NULL);
}

/*
 * The 64th fetch commits the 64 (the database has them without the
 * journal); one fetch fewer commits nothing.
 */
TEST(journal_commits_every_64_fetches)
{
	struct kme_key *keys = journal_setup(64 + 63);
	size_t fetched = 0;

	ASSERT_TRUE(keys != NULL);
	ASSERT_INT_EQ(crash_after_fetches(keys, 0, 64 + 63), 0);
	for (size_t i = 0; i < 64 + 63; i++)
		fetched += key_state(keys[i].id) == 1;
	ASSERT_U64_EQ(fetched, 64);
	ASSERT_INT_EQ(key_state(keys[63].id), 1);
	ASSERT_INT_EQ(key_state(keys[64].id), 0);
	kme_keys_free(keys, 64 + 63);
	cleanup_db(NULL);
}

/* A request for more keys than the journal holds (256) commits on its own. */
TEST(journal_large_request_commits)
{
	enum {
		N = 300
	};
	struct kme_key *keys = journal_setup(N), *out = kme_keys_new(N);
	uint8_t(*ids)[UUID_LEN] = calloc(N, UUID_LEN);
	int status = 0;
	size_t fetched = 0;
	pid_t pid;

	ASSERT_TRUE(keys != NULL && out != NULL && ids != NULL);
	for (size_t i = 0; i < N; i++)
		memcpy(ids[i], keys[i].id, UUID_LEN);
	pid = fork();
	if (pid == 0) {
		struct kme_store *st = kme_store_open(dbpath);

		/* One fetch pending in the journal first, then the large one. */
		if (st == NULL || fetch_each(st, keys, 0, 1) != 0 ||
		    kme_store_fetch(st, "SAE_A", "SAE_B",
				    (const uint8_t(*)[UUID_LEN])ids + 1, N - 1,
				    out) != KME_FETCH_OK)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (size_t i = 0; i < N; i++)
		fetched += key_state(keys[i].id) == 1;
	ASSERT_U64_EQ(fetched, N);
	free(ids);
	kme_keys_free(out, N);
	kme_keys_free(keys, N);
	cleanup_db(NULL);
}

/* Flips one octet of the journal at off. */
static int
journal_flip(long off)
{
	char p[128];
	uint8_t b;
	int fd, rc = -1;

	journal_path(p, sizeof(p));
	fd = open(p, O_RDWR);
	if (fd >= 0 && pread(fd, &b, 1, off) == 1) {
		b ^= 0x5a;
		rc = pwrite(fd, &b, 1, off) == 1 ? 0 : -1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * A torn record (here: one octet of the second record's slave changed
 * after a kill) ends the journal: the first fetch is written, the second
 * and the third, complete as it is, are not.
 */
TEST(journal_torn_record_ends_it)
{
	struct kme_key *keys = journal_setup(3);
	struct kme_store *st;

	ASSERT_TRUE(keys != NULL);
	ASSERT_INT_EQ(crash_after_fetches(keys, 0, 3), 0);
	ASSERT_INT_EQ(journal_flip(2 * JR_REC + 50), 0);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 2);
	kme_store_free(st);
	ASSERT_INT_EQ(key_state(keys[0].id), 1);
	ASSERT_INT_EQ(key_state(keys[1].id), 0);
	ASSERT_INT_EQ(key_state(keys[2].id), 0);
	kme_keys_free(keys, 3);
	cleanup_db(NULL);
}

/* Copies file a to b. */
static int
copy_file(const char *a, const char *b)
{
	char buf[65536];
	int in = open(a, O_RDONLY),
	    out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc = 0;
	ssize_t n;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		rc |= write(out, buf, (size_t)n) == n ? 0 : -1;
	rc |= in < 0 || out < 0 ? -1 : 0;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/*
 * Writing the journal's records again changes nothing: the journal of a
 * killed process, copied aside and put back after its fetches were
 * written and the store used, leaves the same rows and times.
 */
TEST(journal_replay_idempotent)
{
	struct kme_key *keys = journal_setup(3);
	struct kme_store *st;
	char p[128], saved[160];
	long long sum_at, fetched;

	ASSERT_TRUE(keys != NULL);
	ASSERT_INT_EQ(crash_after_fetches(keys, 0, 2), 0);
	journal_path(p, sizeof(p));
	snprintf(saved, sizeof(saved), "%s.saved", p);
	ASSERT_INT_EQ(copy_file(p, saved), 0);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);
	kme_store_free(st);
	sum_at = db_int("SELECT sum(fetched_at) FROM rkey");
	fetched = db_int("SELECT count(*) FROM rkey WHERE key IS NULL");
	ASSERT_INT_EQ(fetched, 2);
	ASSERT_INT_EQ(copy_file(saved, p), 0);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);
	kme_store_free(st);
	ASSERT_INT_EQ(db_int("SELECT sum(fetched_at) FROM rkey"), sum_at);
	ASSERT_INT_EQ(db_int("SELECT count(*) FROM rkey WHERE key IS NULL"),
		      fetched);
	ASSERT_INT_EQ(key_state(keys[2].id), 0);
	unlink(saved);
	kme_keys_free(keys, 3);
	cleanup_db(NULL);
}

/*
 * A request with a key that is not there writes nothing, neither to the
 * database nor to the journal, and leaves the pending fetch before it as
 * it was: after a kill, the first key is fetched, the second is not.
 */
TEST(journal_failed_request_writes_nothing)
{
	struct kme_key *keys = journal_setup(2);
	struct kme_store *st;
	int status = 0;
	pid_t pid;

	ASSERT_TRUE(keys != NULL);
	pid = fork();
	if (pid == 0) {
		struct kme_store *cst = kme_store_open(dbpath);
		struct kme_key *out = kme_keys_new(2);
		uint8_t ids[2][UUID_LEN];

		memcpy(ids[0], keys[1].id, UUID_LEN);
		memset(ids[1], 0x42, UUID_LEN);
		if (cst == NULL || fetch_each(cst, keys, 0, 1) != 0 ||
		    kme_store_fetch(cst, "SAE_A", "SAE_B",
				    (const uint8_t(*)[UUID_LEN])ids, 2,
				    out) != KME_FETCH_NOT_FOUND)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);
	kme_store_free(st);
	ASSERT_INT_EQ(key_state(keys[0].id), 1);
	ASSERT_INT_EQ(key_state(keys[1].id), 0);
	kme_keys_free(keys, 2);
	cleanup_db(NULL);
}

/*
 * A journal this kme-sim did not write (another magic, another size) is
 * refused, by kme-sim -n's check too, and left as it is; one others can
 * read is refused like the database.
 */
TEST(journal_foreign_refused)
{
	struct kme_key *keys = journal_setup(1);
	char p[128];
	struct stat sb;
	int fd;

	ASSERT_TRUE(keys != NULL);
	journal_path(p, sizeof(p));
	ASSERT_INT_EQ(kme_store_check(dbpath), 0);
	ASSERT_INT_EQ(journal_flip(0), 0); /* the magic */
	ASSERT_INT_EQ(kme_store_check(dbpath), -1);
	ASSERT_TRUE(kme_store_open(dbpath) == NULL);
	ASSERT_INT_EQ(journal_flip(0), 0);
	ASSERT_INT_EQ(kme_store_check(dbpath), 0);
	ASSERT_INT_EQ(stat(p, &sb), 0);
	fd = open(p, O_WRONLY | O_APPEND);
	ASSERT_TRUE(fd >= 0);
	ASSERT_INT_EQ(write(fd, "x", 1), 1);
	close(fd);
	ASSERT_TRUE(kme_store_open(dbpath) == NULL);
	ASSERT_INT_EQ(truncate(p, sb.st_size), 0);
	ASSERT_INT_EQ(chmod(p, 0640), 0);
	ASSERT_INT_EQ(kme_store_check_files(dbpath), -1);
	ASSERT_TRUE(kme_store_open(dbpath) == NULL);
	ASSERT_INT_EQ(chmod(p, 0600), 0);
	kme_store_free(kme_store_open(dbpath));
	ASSERT_INT_EQ(key_state(keys[0].id), 0);
	kme_keys_free(keys, 1);
	cleanup_db(NULL);
}

/*
 * A disk that refuses writes (the far side of SQLite's VFS: the default
 * VFS with the WAL's writes failing while disk_fails is set).
 */
static sqlite3_vfs faulty_vfs, *real_vfs;
static const sqlite3_io_methods *real_wal_io;
static sqlite3_io_methods faulty_wal_io;
static int disk_fails;

static int
faulty_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	if (disk_fails)
		return SQLITE_IOERR_WRITE;
	return real_wal_io->xWrite(f, b, n, off);
}

static int
faulty_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags,
	    int *out)
{
	int rc = real_vfs->xOpen(real_vfs, name, f, flags, out);

	(void)v;
	if (rc == SQLITE_OK && f->pMethods != NULL &&
	    (flags & SQLITE_OPEN_WAL)) {
		real_wal_io = f->pMethods;
		faulty_wal_io = *real_wal_io;
		faulty_wal_io.xWrite = faulty_write;
		f->pMethods = &faulty_wal_io;
	}
	return rc;
}

/*
 * A COMMIT of the fetch transaction that fails (and the journal's records
 * written again failing too): the fetch whose records are stored is
 * answered; the next ones, and every other store operation, fail until
 * the disk takes writes again, then every fetch is in the database.
 */
TEST(journal_commit_failure_fails_fetches)
{
	struct kme_key *keys = journal_setup(66);
	const char *vfs = kme_store_vfs;
	struct kme_store *st;
	size_t fetched = 0;

	ASSERT_TRUE(keys != NULL);
	real_vfs = sqlite3_vfs_find(NULL);
	ASSERT_TRUE(real_vfs != NULL);
	faulty_vfs = *real_vfs;
	faulty_vfs.zName = "test-faulty-disk";
	faulty_vfs.xOpen = faulty_open;
	ASSERT_INT_EQ(sqlite3_vfs_register(&faulty_vfs, 0), SQLITE_OK);
	kme_store_vfs = faulty_vfs.zName;
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(fetch_each(st, keys, 0, 1), 0);
	disk_fails = 1;
	/* The 64th fetch commits, which fails: its records are stored, so
	 * it is answered. */
	ASSERT_INT_EQ(fetch_each(st, keys, 1, 64), 0);
	ASSERT_INT_EQ(fetch_each(st, keys, 64, 65), -1);
	ASSERT_INT_EQ(kme_store_pool_set(st, "KME_B", 1), -1);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 66 - 64);
	disk_fails = 0;
	ASSERT_INT_EQ(fetch_each(st, keys, 64, 65), 0);
	ASSERT_INT_EQ(fetch_each(st, keys, 0, 1), -1); /* gone, once */
	kme_store_free(st);
	kme_store_vfs = vfs;
	sqlite3_vfs_unregister(&faulty_vfs);
	for (size_t i = 0; i < 66; i++)
		fetched += key_state(keys[i].id) == 1;
	ASSERT_U64_EQ(fetched, 65);
	ASSERT_INT_EQ(key_state(keys[65].id), 0);
	kme_keys_free(keys, 66);
	cleanup_db(NULL);
}

TEST_MAIN(TEST_CASE(pool_arithmetic), TEST_CASE(ready_take_all_or_none),
	  TEST_CASE(reserve_fetch_once),
	  TEST_CASE(all_or_nothing_and_multicast), TEST_CASE(expiry_and_reopen),
	  TEST_CASE(files_private), TEST_CASE(ready_take_same_second),
	  TEST_CASE(fetch_audit_and_retention),
	  TEST_CASE(extend_waiting_keys_only),
	  TEST_CASE(carries_over_schema_v1),
	  TEST_CASE(reserve_batch_refuses_repeated_ids),
	  TEST_CASE(ready_claim_bounds_and_durable),
	  TEST_CASE(wal_frames_recovered_by_plain_sqlite),
	  TEST_CASE(checkpoint_off_the_commit),
	  TEST_CASE(journal_fetch_survives_kill),
	  TEST_CASE(journal_commits_every_64_fetches),
	  TEST_CASE(journal_large_request_commits),
	  TEST_CASE(journal_torn_record_ends_it),
	  TEST_CASE(journal_replay_idempotent),
	  TEST_CASE(journal_failed_request_writes_nothing),
	  TEST_CASE(journal_foreign_refused),
	  TEST_CASE(journal_commit_failure_fails_fetches))
