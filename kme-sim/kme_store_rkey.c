/*
 * kme_store_rkey.c — reserved keys (table rkey): recorded for their
 * slaves, handed to each slave once, expired when key_ttl is over, and
 * the audit rows of fetched keys.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"
#include "util.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Rows per transaction where a long list need not be all or none. */
#define KME_STORE_SLICE 64

static int
kme_store_insert_keys(struct kme_store *st, const char *peer,
		      const char *master, char (*slaves)[KME_ID_MAX + 1],
		      size_t nslaves, const struct kme_key *keys, size_t n,
		      int64_t expires)
{
	sqlite3_stmt *k = NULL;
	int rc = -1;

	k = kme_store_prep(st,
			   "INSERT INTO rkey(key_id, slave, master, peer, key, "
			   "expires) VALUES(?, ?, ?, ?, ?, ?)");
	if (k == NULL || nslaves == 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < nslaves; j++) {
			sqlite3_reset(k);
			sqlite3_bind_blob(k, 1, keys[i].id, UUID_LEN,
					  SQLITE_STATIC);
			sqlite3_bind_text(k, 2, slaves[j], -1, SQLITE_STATIC);
			sqlite3_bind_text(k, 3, master, -1, SQLITE_STATIC);
			sqlite3_bind_text(k, 4, peer, -1, SQLITE_STATIC);
			sqlite3_bind_blob(k, 5, keys[i].bytes, (int)keys[i].len,
					  SQLITE_STATIC);
			sqlite3_bind_int64(k, 6, expires);
			if (kme_store_step_done(st, k) == -1)
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

	if (kme_store_lock(st) == -1 ||
	    kme_store_run(st, "BEGIN IMMEDIATE") == -1)
		goto out;
	if (take_bits > 0) {
		t = kme_store_take_locked(st, peer, take_bits);
		if (t != 0) {
			rc = t;
			goto rollback;
		}
	}
	if (kme_store_insert_keys(st, peer, master, slaves, nslaves, keys, n,
				  expires) == -1)
		goto rollback;
	if (kme_store_run(st, "COMMIT") == -1)
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

	if (kme_store_lock(st) == -1 ||
	    kme_store_run(st, "BEGIN IMMEDIATE") == -1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (kme_store_insert_keys(st, peer, items[i].master,
					  items[i].slaves, items[i].nslaves,
					  items[i].keys, items[i].n,
					  expires) == -1) {
			/* A key ID recorded already (a replay) or twice in
			 * the batch: the peer's error, not the store's. */
			if (sqlite3_extended_errcode(st->db) ==
			    SQLITE_CONSTRAINT_PRIMARYKEY)
				rc = 1;
			goto rollback;
		}
	}
	if (kme_store_run(st, "COMMIT") == -1)
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

/* The statements of a fetch. */
struct kme_store_fetch_q {
	/* this key for this slave, and does another slave still wait for
	 * it (the key leaves the count of waiting keys with the last) */
	sqlite3_stmt *row;
	sqlite3_stmt *party; /* is the master a party to this key at all */
	sqlite3_stmt *mark; /* the slave has it: bytes gone, time noted */
};

/*
 * Looks one key up for (master, slave) without changing anything; the
 * key itself is copied to out; *last says whether no other slave waits
 * for it.  ids[0..i) are the request's earlier IDs: one named twice is
 * gone the second time.
 */
static enum kme_fetch_rc
kme_store_fetch_find(struct kme_store *st, struct kme_store_fetch_q *q,
		     const char *master, const char *slave,
		     const uint8_t (*ids)[UUID_LEN], size_t i, int64_t now,
		     struct kme_key *out, bool *last)
{
	const uint8_t *id = ids[i];
	int r, other;

	for (size_t j = 0; j < i; j++) {
		if (memcmp(ids[j], id, UUID_LEN) == 0)
			return KME_FETCH_NOT_FOUND;
	}
	sqlite3_reset(q->row);
	sqlite3_bind_blob(q->row, 1, id, UUID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q->row, 2, slave, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->row, 3, now); /* expired, not yet swept */
	r = sqlite3_step(q->row);
	if (r == SQLITE_DONE) {
		/* 5.3: a key of this master, waiting, but not for this slave. */
		sqlite3_reset(q->party);
		sqlite3_bind_blob(q->party, 1, id, UUID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(q->party, 2, now);
		sqlite3_bind_text(q->party, 3, master, -1, SQLITE_STATIC);
		other = kme_store_exists(st, q->party);
		if (other == -1)
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
	*last = sqlite3_column_int(q->row, 2) == 0;
	sqlite3_reset(q->row);
	return KME_FETCH_OK;
}

/* Within the fetch transaction: the key's row loses its bytes and notes
 * the time (written in place: the audit row of the delivery). */
static int
kme_store_fetch_mark(struct kme_store *st, struct kme_store_fetch_q *q,
		     const char *slave, const uint8_t id[UUID_LEN], int64_t now)
{
	sqlite3_reset(q->mark);
	sqlite3_bind_blob(q->mark, 1, id, UUID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q->mark, 2, slave, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->mark, 3, now);
	return kme_store_step_done(st, q->mark);
}

/*
 * Parse, then validate, then act: every key is looked up before any is
 * marked, so a request that fails writes nothing and leaves the fetches
 * of the open transaction as they were.  A request the journal can hold
 * marks its keys in the transaction kept open across fetches and records
 * each key in the journal before returning (kme_store_journal.c);
 * KME_JOURNAL_FETCHES fetches on, the transaction commits.  A larger one
 * commits on its own, the store settled first.
 */
enum kme_fetch_rc
kme_store_fetch(struct kme_store *st, const char *master, const char *slave,
		const uint8_t (*ids)[UUID_LEN], size_t n, struct kme_key *out)
{
	struct kme_store_fetch_q q = { NULL, NULL, NULL };
	enum kme_fetch_rc rc = KME_FETCH_ERROR, worst = KME_FETCH_OK;
	int64_t now = wall_s(), done = 0;
	bool journal = n <= KME_JOURNAL_RECS && strlen(slave) <= KME_ID_MAX;

	pthread_mutex_lock(&st->lock);
	/* Never a key while an earlier fetch is not recorded in the
	 * database or the journal. */
	if ((st->jr_broken || !journal || st->jr_used + n > KME_JOURNAL_RECS) &&
	    kme_store_settle(st) == -1)
		goto out;
	q.row = kme_store_prep(
	    st, "SELECT master, key, EXISTS(SELECT 1 FROM rkey AS o WHERE "
		"o.key_id = ?1 AND o.slave <> ?2 AND o.key IS NOT NULL) "
		"FROM rkey WHERE key_id = ?1 AND slave = ?2 AND expires > ?3");
	q.party =
	    kme_store_prep(st,
			   "SELECT 1 FROM rkey WHERE key_id = ?1 AND "
			   "expires > ?2 AND master = ?3 AND key IS NOT NULL "
			   "LIMIT 1");
	q.mark = kme_store_prep(st, KME_STORE_MARK_SQL);
	if (q.row == NULL || q.party == NULL || q.mark == NULL)
		goto out;
	if (!st->fetch_txn) {
		if (kme_store_run(st, "BEGIN IMMEDIATE") == -1)
			goto out;
		st->fetch_txn = true;
	}
	for (size_t i = 0; i < n; i++) {
		bool last = false;
		enum kme_fetch_rc r = kme_store_fetch_find(
		    st, &q, master, slave, ids, i, now, &out[i], &last);

		if (r == KME_FETCH_ERROR) {
			worst = r;
			break;
		}
		/* 401 wins over 400: a party to none of them learns nothing. */
		if (r == KME_FETCH_UNAUTHORIZED ||
		    (r == KME_FETCH_NOT_FOUND && worst == KME_FETCH_OK))
			worst = r;
		/* The key leaves the count once every slave has it. */
		done += r == KME_FETCH_OK && last;
	}
	if (worst == KME_FETCH_ERROR) {
		/* SQLite may have rolled the transaction back itself. */
		(void)kme_store_journal_recover(st);
		goto out;
	}
	if (worst != KME_FETCH_OK) {
		rc = worst; /* nothing written; the transaction stays open */
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (kme_store_fetch_mark(st, &q, slave, ids[i], now) == -1) {
			/* Keys of this request are marked, not recorded: the
			 * transaction goes, the journal's fetches return. */
			(void)kme_store_journal_recover(st);
			goto out;
		}
	}
	if (journal) {
		for (size_t i = 0; i < n; i++)
			kme_store_journal_add(st, slave, ids[i], now);
		st->jr_fetches++;
	} else {
		st->fetch_txn = false;
		if (kme_store_run(st, "COMMIT") == -1) {
			if (!sqlite3_get_autocommit(st->db))
				kme_store_run(st, "ROLLBACK");
			goto out;
		}
	}
	st->reserved -= done;
	st->scrub = true;
	rc = KME_FETCH_OK;
	/* These keys are recorded: they are answered whatever this COMMIT
	 * does (a failure makes the next fetches wait for a settle). */
	if (st->jr_fetches >= KME_JOURNAL_FETCHES)
		(void)kme_store_settle(st);
out:
	kme_store_release(st, q.row);
	kme_store_release(st, q.party);
	kme_store_release(st, q.mark);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/*
 * SQLite builds each row it inserts in one buffer per database (pTmpSpace,
 * btree.c), which only the next insert overwrites.  A fetch rewrites the
 * key's row without its bytes: that shorter row leaves the tail of the key
 * behind, as a taken or deleted row leaves the whole of the last one
 * inserted.  A row of zeros as long as a page, inserted and deleted again
 * in the caller's transaction, overwrites all of it (docs/SECURITY.md).
 */
static int
kme_store_scrub_locked(struct kme_store *st)
{
	sqlite3_stmt *ins, *del;
	int rc = -1;

	ins =
	    kme_store_prep(st, "INSERT INTO scratch(pad) VALUES(zeroblob(?))");
	del = kme_store_prep(st, "DELETE FROM scratch");
	if (ins == NULL || del == NULL)
		goto out;
	sqlite3_bind_int64(ins, 1, st->scrub_len);
	if (kme_store_step_done(st, ins) == 0 &&
	    kme_store_step_done(st, del) == 0)
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
	sqlite3_stmt *c = NULL, *s = NULL, *l = NULL;
	int64_t n = -1, from, expired;

	if (kme_store_lock(st) == -1)
		goto out;
	if (now < st->swept_until)
		st->swept_until = INT64_MIN;
	from = st->swept_until;
	c = kme_store_prep(
	    st, "SELECT count(DISTINCT key_id) FROM rkey WHERE "
		"expires > ?1 AND expires <= ?2 AND key IS NOT NULL");
	s = kme_store_prep(st, "DELETE FROM rkey WHERE expires > ?1 AND "
			       "expires <= ?2 AND key IS NOT NULL");
	l = kme_store_prep(st, "DELETE FROM rkey WHERE expires <= ?");
	if (c == NULL || s == NULL || l == NULL ||
	    kme_store_run(st, "BEGIN IMMEDIATE") == -1)
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
	if (kme_store_step_done(st, s) == -1 ||
	    kme_store_step_done(st, l) == -1 ||
	    ((st->scrub || expired > 0) && kme_store_scrub_locked(st) == -1) ||
	    kme_store_run(st, "COMMIT") == -1) {
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

/* One transaction of kme_store_extend; under st->lock. */
static int
kme_store_extend_locked(struct kme_store *st, const uint8_t (*ids)[UUID_LEN],
			size_t n, int64_t expires)
{
	sqlite3_stmt *s;
	int rc = -1;

	/* Only rows still holding their key: a fetched row is an audit
	 * record, kept key_ttl past the expiry it had when fetched, and
	 * rewriting it (and its expires index entry) would only move that.
	 * Most delivered keys are fetched before the next sync. */
	s = kme_store_prep(st, "UPDATE rkey SET expires = ?1 WHERE key_id = ?2 "
			       "AND key IS NOT NULL AND expires < ?1");
	if (s == NULL || kme_store_run(st, "BEGIN IMMEDIATE") == -1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, expires);
		sqlite3_bind_blob(s, 2, ids[i], UUID_LEN, SQLITE_STATIC);
		if (kme_store_step_done(st, s) == -1) {
			kme_store_run(st, "ROLLBACK");
			goto out;
		}
	}
	rc = kme_store_run(st, "COMMIT");
	if (rc == -1)
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

		rc = kme_store_lock(st) == -1
			 ? -1
			 : kme_store_extend_locked(st, ids + i, m, expires);
		pthread_mutex_unlock(&st->lock);
		if (rc == -1)
			return -1;
	}
	return 0;
}
