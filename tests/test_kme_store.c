/*
 * test_kme_store.c — kme-sim's SQLite store (kme-sim/kme_store.c) on a
 * temporary database: pool arithmetic, reserve-and-take in one
 * transaction, once-only fetch per slave, all-or-nothing, 401 versus 400,
 * expiry, state surviving a reopen, and private store files.
 */
#include "harness.h"

#include "../kme-sim/kme.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dbpath[64];

static struct kme_store *
fresh(void)
{
	snprintf(dbpath, sizeof(dbpath), "/tmp/test_kme_store.%d.db", (int)getpid());
	unlink(dbpath);
	return kme_store_open(dbpath);
}

static void
cleanup_db(struct kme_store *st)
{
	char p[96];

	kme_store_free(st);
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
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
	ASSERT_U64_EQ(bits, 1500);	/* capped */
	ASSERT_INT_EQ(kme_store_pool_take(st, "KME_B", 1501), 1);
	ASSERT_INT_EQ(kme_store_pool_take(st, "KME_B", 500), 0);
	ASSERT_INT_EQ(kme_store_pool_get(st, "KME_B", &bits), 0);
	ASSERT_U64_EQ(bits, 1000);
	ASSERT_INT_EQ(kme_store_pool_take(st, "KME_C", 1), 1);	/* no pool yet */
	cleanup_db(st);
}

TEST(reserve_fetch_once)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(2, 32), *out = kme_keys_new(2);
	uint8_t ids[2][UUID_LEN];
	uint64_t bits;

	kme_store_pool_set(st, "KME_A", 1000);
	/* Not enough pool: nothing is recorded. */
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 1024, "SAE_A", slaves1, 1, keys, 2,
					wall_s() + 60), 1);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 0);
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 512, "SAE_A", slaves1, 1, keys, 2,
					wall_s() + 60), 0);
	kme_store_pool_get(st, "KME_A", &bits);
	ASSERT_U64_EQ(bits, 488);
	memcpy(ids[0], keys[0].id, UUID_LEN);
	memcpy(ids[1], keys[1].id, UUID_LEN);
	/* Wrong master: as if unknown. */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_X", "SAE_B", (const uint8_t (*)[UUID_LEN])ids, 2, out), KME_FETCH_NOT_FOUND);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	/* Not a slave of it. */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_C", (const uint8_t (*)[UUID_LEN])ids, 2, out), KME_FETCH_UNAUTHORIZED);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B", (const uint8_t (*)[UUID_LEN])ids, 2, out), KME_FETCH_OK);
	ASSERT_INT_EQ(out[1].len, 32);
	ASSERT_MEM_EQ(out[1].bytes, keys[1].bytes, 32);
	ASSERT_MEM_EQ(out[0].id, keys[0].id, UUID_LEN);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B", (const uint8_t (*)[UUID_LEN])ids, 1, out), KME_FETCH_NOT_FOUND);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 0);
	kme_keys_free(out, 2);
	kme_keys_free(keys, 2);
	cleanup_db(st);
}

TEST(all_or_nothing_and_multicast)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(1, 16), *out = kme_keys_new(2);
	uint8_t ids[2][UUID_LEN];

	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves2, 2, keys, 1,
					wall_s() + 60), 0);
	memcpy(ids[0], keys[0].id, UUID_LEN);
	memset(ids[1], 0x42, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B", (const uint8_t (*)[UUID_LEN])ids, 2, out), KME_FETCH_NOT_FOUND);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	/* The failed request consumed nothing. */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B", (const uint8_t (*)[UUID_LEN])ids, 1, out), KME_FETCH_OK);
	kme_keys_free(out, 2);
	out = kme_keys_new(2);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);	/* SAE_B2 still to fetch */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B", (const uint8_t (*)[UUID_LEN])ids, 1, out), KME_FETCH_NOT_FOUND);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B2", (const uint8_t (*)[UUID_LEN])ids, 1, out), KME_FETCH_OK);
	ASSERT_MEM_EQ(out[0].bytes, keys[0].bytes, 16);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 0);
	kme_keys_free(out, 2);
	kme_keys_free(keys, 1);
	cleanup_db(st);
}

TEST(expiry_and_reopen)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(2, 16), *out = kme_keys_new(1);
	uint8_t id[1][UUID_LEN];
	uint64_t bits;

	kme_store_pool_set(st, "KME_B", 777);
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1, keys, 1,
					wall_s() - 1), 0);
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1, keys + 1, 1,
					wall_s() + 60), 0);
	memcpy(id[0], keys[0].id, UUID_LEN);
	/* Expired but not yet swept: already not served. */
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B", (const uint8_t (*)[UUID_LEN])id, 1, out), KME_FETCH_NOT_FOUND);
	ASSERT_INT_EQ(kme_store_expire(st, wall_s(), 60), 1);
	ASSERT_INT_EQ(kme_store_reserved_count(st), 1);
	kme_store_free(st);
	st = kme_store_open(dbpath);
	ASSERT_TRUE(st != NULL);
	kme_store_pool_get(st, "KME_B", &bits);
	ASSERT_U64_EQ(bits, 777);
	memcpy(id[0], keys[1].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B", (const uint8_t (*)[UUID_LEN])id, 1, out), KME_FETCH_OK);
	kme_keys_free(out, 1);
	kme_keys_free(keys, 2);
	cleanup_db(st);
}

TEST(ready_take_all_or_none)
{
	struct kme_store *st = fresh();
	struct kme_key *keys = kme_keys_new_random(3, 32), *out = kme_keys_new(3);
	uint8_t id[1][UUID_LEN];
	int64_t now = wall_s();

	ASSERT_INT_EQ(kme_store_ready_add(st, "KME_B", "SAE_A", "SAE_B", keys, 2, now - 100), 0);
	ASSERT_INT_EQ(kme_store_ready_add(st, "KME_B", "SAE_A", "SAE_B", keys + 2, 1, now), 0);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", 0), 3);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_B", now - 10), 1);
	ASSERT_INT_EQ(kme_store_ready_count(st, "SAE_A", "SAE_C", 0), 0);
	/* Too few fresh enough: nothing taken. */
	ASSERT_INT_EQ(kme_store_ready_take(st, "SAE_A", "SAE_B", now - 10, out, 2), 1);
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
	ASSERT_INT_EQ(kme_store_reserve(st, "KME_A", 0, "SAE_A", slaves1, 1, keys, 1, now - 1), 0);
	memcpy(id[0], keys[0].id, UUID_LEN);
	ASSERT_INT_EQ(kme_store_extend(st, (const uint8_t (*)[UUID_LEN])id, 1, now + 60), 0);
	ASSERT_INT_EQ(kme_store_expire(st, now, 60), 0);
	kme_keys_free(out, 3);
	out = kme_keys_new(1);
	ASSERT_INT_EQ(kme_store_fetch(st, "SAE_A", "SAE_B", (const uint8_t (*)[UUID_LEN])id, 1, out), KME_FETCH_OK);
	kme_keys_free(out, 1);
	kme_keys_free(keys, 3);
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
	char wal[96], shm[96];
	int fd;

	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	snprintf(shm, sizeof(shm), "%s-shm", dbpath);
	ASSERT_TRUE(st != NULL);
	ASSERT_INT_EQ(kme_store_pool_set(st, "KME_B", 1), 0);
	ASSERT_INT_EQ(file_mode(dbpath), 0600);
	ASSERT_INT_EQ(file_mode(wal), 0600);	/* exists while open (WAL) */
	ASSERT_TRUE(access(shm, F_OK) < 0 || file_mode(shm) == 0600);
	kme_store_free(st);
	ASSERT_INT_EQ(kme_store_check_files(dbpath), 0);
	/* An existing store readable by others is refused, and not opened. */
	ASSERT_INT_EQ(chmod(dbpath, 0644), 0);
	ASSERT_INT_EQ(kme_store_check_files(dbpath), -1);
	ASSERT_TRUE(kme_store_open(dbpath) == NULL);
	ASSERT_INT_EQ(file_mode(dbpath), 0644);	/* left for the operator */
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

TEST_MAIN(TEST_CASE(pool_arithmetic), TEST_CASE(ready_take_all_or_none), TEST_CASE(reserve_fetch_once),
	  TEST_CASE(all_or_nothing_and_multicast), TEST_CASE(expiry_and_reopen),
	  TEST_CASE(files_private))
