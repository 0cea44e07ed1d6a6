/*
 * kme_store_journal.c — the fetch journal: dec_keys deliveries recorded
 * in a small file beside the database (<database>-fetches), so that a
 * delivery need not commit an SQLite transaction of its own.
 *
 * kme_store_fetch marks its keys fetched inside a write transaction that
 * stays open across fetches and stores one record per key here before it
 * returns (and so before the answer goes out).  Every KME_JOURNAL_FETCHES
 * fetches, and before any other store operation (kme_store_lock), the
 * transaction commits and the journal starts a new epoch, which voids its
 * records.  When the store opens, the records of the current epoch are
 * applied to the database again (the UPDATE is idempotent): a fetch
 * answered before a kill -9 is never answered again.
 *
 * Durability: the file is mapped MAP_SHARED, and a store into the mapping
 * is in the kernel's page cache at once, so it survives the process being
 * killed exactly as a COMMIT with synchronous=NORMAL does (its WAL frame
 * is written, not synced).  There is no msync per record: the journal
 * gives the store's guarantee and no more; neither survives a power cut.
 *
 * The file holds key IDs, slave SAE IDs and times, never key bytes; it is
 * private (0600) like the database all the same.
 *
 * Layout, in host byte order (the file never leaves this host): a header
 * of KME_JOURNAL_REC octets, then KME_JOURNAL_RECS records.  A record is
 * complete if its epoch is the header's, its index is its slot and its
 * checksum matches; the first one that is not (a torn write of a killed
 * process, or a record of an earlier epoch) ends the journal.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KME_JOURNAL_REC 128
#define KME_JOURNAL_SIZE ((size_t)KME_JOURNAL_REC * (1 + KME_JOURNAL_RECS))
#define KME_JOURNAL_VERSION 1

static const char kme_journal_magic[8] = "qkdlabFJ";

struct kme_journal_hdr {
	char magic[8];
	uint32_t version;
	uint32_t rec_size; /* KME_JOURNAL_REC */
	uint32_t nrec; /* KME_JOURNAL_RECS */
	uint32_t pad;
	uint64_t epoch; /* one aligned store moves it on */
};

struct kme_journal_rec {
	uint64_t epoch;
	uint32_t index; /* its slot */
	uint32_t slave_len;
	int64_t fetched_at;
	uint8_t key_id[UUID_LEN];
	char slave[KME_ID_MAX];
	uint8_t pad[16];
	uint64_t sum; /* kme_journal_sum of the octets before it */
};

_Static_assert(sizeof(struct kme_journal_rec) == KME_JOURNAL_REC,
	       "a journal record is KME_JOURNAL_REC octets");
_Static_assert(sizeof(struct kme_journal_hdr) <= KME_JOURNAL_REC,
	       "the journal header fits its slot");

/* FNV-1a, 64 bits: catches a torn record; nothing here is secret. */
static uint64_t
kme_journal_sum(const struct kme_journal_rec *r)
{
	const uint8_t *p = (const uint8_t *)r;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < offsetof(struct kme_journal_rec, sum); i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct kme_journal_hdr *
kme_journal_hdr(struct kme_store *st)
{
	return st->jr_map;
}

static struct kme_journal_rec *
kme_journal_rec(struct kme_store *st, size_t i)
{
	return (struct kme_journal_rec *)((uint8_t *)st->jr_map +
					  KME_JOURNAL_REC * (i + 1));
}

/* Records 0..n-1 are complete: n. */
static size_t
kme_journal_count(struct kme_store *st)
{
	uint64_t epoch = kme_journal_hdr(st)->epoch;
	size_t n = 0;

	while (n < KME_JOURNAL_RECS) {
		const struct kme_journal_rec *r = kme_journal_rec(st, n);

		if (r->epoch != epoch || r->index != n ||
		    r->slave_len > KME_ID_MAX || r->sum != kme_journal_sum(r))
			break;
		n++;
	}
	return n;
}

/* The records so far are in the database: void them. */
static void
kme_journal_next_epoch(struct kme_store *st)
{
	kme_journal_hdr(st)->epoch++;
	st->jr_used = 0;
	st->jr_fetches = 0;
}

void
kme_store_journal_add(struct kme_store *st, const char *slave,
		      const uint8_t id[UUID_LEN], int64_t at)
{
	struct kme_journal_rec r;

	memset(&r, 0, sizeof(r));
	r.epoch = kme_journal_hdr(st)->epoch;
	r.index = (uint32_t)st->jr_used;
	r.slave_len = (uint32_t)strnlen(slave, KME_ID_MAX);
	r.fetched_at = at;
	memcpy(r.key_id, id, UUID_LEN);
	memcpy(r.slave, slave, r.slave_len);
	r.sum = kme_journal_sum(&r);
	memcpy(kme_journal_rec(st, st->jr_used++), &r, sizeof(r));
}

/*
 * Under st->lock, no transaction open: the complete records applied in
 * one transaction; how many, or -1 (rolled back, logged).
 */
static int64_t
kme_journal_apply(struct kme_store *st)
{
	size_t n = kme_journal_count(st);
	sqlite3_stmt *s;
	char slave[KME_ID_MAX + 1];
	int64_t rc = -1;

	if (n == 0)
		return 0;
	s = kme_store_prep(st, KME_STORE_MARK_SQL);
	if (s == NULL || kme_store_run(st, "BEGIN IMMEDIATE") == -1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct kme_journal_rec *r = kme_journal_rec(st, i);

		memcpy(slave, r->slave, r->slave_len);
		slave[r->slave_len] = '\0';
		sqlite3_reset(s);
		sqlite3_bind_blob(s, 1, r->key_id, UUID_LEN, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, slave, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 3, r->fetched_at);
		if (kme_store_step_done(st, s) == -1) {
			kme_store_run(st, "ROLLBACK");
			goto out;
		}
	}
	if (kme_store_run(st, "COMMIT") == -1) {
		if (!sqlite3_get_autocommit(st->db))
			kme_store_run(st, "ROLLBACK");
		goto out;
	}
	rc = (int64_t)n;
out:
	kme_store_release(st, s);
	return rc;
}

/*
 * Under st->lock, after a failed COMMIT or statement of the fetch
 * transaction: whatever SQLite left of it is rolled back and the
 * journal's records, which hold every fetch it had, are written again.
 */
int
kme_store_journal_recover(struct kme_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		kme_store_run(st, "ROLLBACK");
	st->fetch_txn = false;
	if (kme_journal_apply(st) == -1) {
		if (!st->jr_broken)
			log_err("store: %zu fetch(es) are recorded in the "
				"journal only, the database refuses them; "
				"dec_keys fails until they are written",
				st->jr_used);
		st->jr_broken = true;
		return -1;
	}
	if (st->jr_broken)
		log_info("store: the journal's fetches are in the database; "
			 "dec_keys is served again");
	st->jr_broken = false;
	kme_journal_next_epoch(st);
	return 0;
}

int
kme_store_settle(struct kme_store *st)
{
	if (!st->fetch_txn && !st->jr_broken)
		return 0;
	if (st->fetch_txn && kme_store_run(st, "COMMIT") == 0) {
		st->fetch_txn = false;
		kme_journal_next_epoch(st);
		return 0;
	}
	return kme_store_journal_recover(st);
}

int
kme_store_lock(struct kme_store *st)
{
	pthread_mutex_lock(&st->lock);
	return kme_store_settle(st);
}

/* path's journal name into p (4096 octets); -1 (logged) if too long. */
static int
kme_journal_path(char *p, size_t cap, const char *path)
{
	if (snprintf(p, cap, "%s-fetches", path) >= (int)cap) {
		log_err("store: database path too long: %s", path);
		return -1;
	}
	return 0;
}

/* The header's fields, as this kme-sim writes them; -1 (logged) if not. */
static int
kme_journal_hdr_ok(const struct kme_journal_hdr *h, const char *p)
{
	if (memcmp(h->magic, kme_journal_magic, sizeof(h->magic)) == 0 &&
	    h->version == KME_JOURNAL_VERSION &&
	    h->rec_size == KME_JOURNAL_REC && h->nrec == KME_JOURNAL_RECS)
		return 0;
	log_err("store: %s is not a fetch journal of this kme-sim (another "
		"format or version); not starting, since it may record "
		"fetches the database lacks; if it is not kme-sim's, move it "
		"away",
		p);
	return -1;
}

static bool
kme_journal_all_zero(const uint8_t *m, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (m[i] != 0)
			return false;
	}
	return true;
}

int
kme_store_journal_open(struct kme_store *st, const char *path)
{
	char p[4096];
	struct stat sb;
	void *m;
	int fd, err;
	int64_t n;

	if (kme_journal_path(p, sizeof(p), path) == -1 ||
	    kme_store_create_private(p) == -1 ||
	    kme_store_check_files(path) == -1)
		return -1;
	fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &sb) == -1) {
		log_err("store: %s: %s", p, strerror(errno));
		goto err;
	}
	if (sb.st_size != 0 && sb.st_size != (off_t)KME_JOURNAL_SIZE) {
		log_err("store: %s has %lld octets, not the %zu of a fetch "
			"journal of this kme-sim; not starting, since it may "
			"record fetches the database lacks; if it is not "
			"kme-sim's, move it away",
			p, (long long)sb.st_size, KME_JOURNAL_SIZE);
		goto err;
	}
	/* Blocks allocated now: a store into a mapped hole of a full file
	 * system would kill the process. */
	err = posix_fallocate(fd, 0, (off_t)KME_JOURNAL_SIZE);
	if (err != 0) {
		log_err("store: cannot allocate %s: %s", p, strerror(err));
		goto err;
	}
	m = mmap(NULL, KME_JOURNAL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (m == MAP_FAILED) {
		log_err("store: cannot map %s: %s", p, strerror(errno));
		goto err;
	}
	close(fd);
	st->jr_map = m;
	/* New, or created by a process killed before the header was
	 * written: all zeros holds no record. */
	if (kme_journal_all_zero(m, KME_JOURNAL_SIZE)) {
		struct kme_journal_hdr *h = m;

		memcpy(h->magic, kme_journal_magic, sizeof(h->magic));
		h->version = KME_JOURNAL_VERSION;
		h->rec_size = KME_JOURNAL_REC;
		h->nrec = KME_JOURNAL_RECS;
		h->epoch = 1;
	} else if (kme_journal_hdr_ok(m, p) == -1) {
		return -1;
	}
	n = kme_journal_apply(st);
	if (n == -1) {
		log_err("store: cannot write the fetches of %s to the database",
			p);
		return -1;
	}
	if (n > 0)
		log_info("store: %lld fetches replayed from the journal",
			 (long long)n);
	kme_journal_next_epoch(st);
	return 0;
err:
	if (fd != -1)
		close(fd);
	return -1;
}

void
kme_store_journal_close(struct kme_store *st)
{
	if (st->jr_map != NULL)
		munmap(st->jr_map, KME_JOURNAL_SIZE);
	st->jr_map = NULL;
}

int
kme_store_journal_check(const char *path)
{
	char p[4096];
	uint8_t *m = NULL;
	struct stat sb;
	int fd, rc = -1;

	if (kme_journal_path(p, sizeof(p), path) == -1)
		return -1;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 && errno == ENOENT)
		return 0; /* made at the next start */
	if (fd == -1 || fstat(fd, &sb) == -1) {
		log_err("store: %s: %s", p, strerror(errno));
		goto out;
	}
	if (sb.st_size == 0) {
		rc = 0;
		goto out;
	}
	m = malloc(KME_JOURNAL_SIZE);
	if (sb.st_size != (off_t)KME_JOURNAL_SIZE || m == NULL ||
	    pread(fd, m, KME_JOURNAL_SIZE, 0) != (ssize_t)KME_JOURNAL_SIZE) {
		log_err(
		    "store: %s is not a fetch journal of this kme-sim (%lld "
		    "octets); if it is not kme-sim's, move it away",
		    p, (long long)sb.st_size);
		goto out;
	}
	rc = kme_journal_all_zero(m, KME_JOURNAL_SIZE)
		 ? 0
		 : kme_journal_hdr_ok((const struct kme_journal_hdr *)m, p);
out:
	free(m);
	if (fd != -1)
		close(fd);
	return rc;
}
