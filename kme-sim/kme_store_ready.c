/*
 * kme_store_ready.c — prefetched keys of the pool authority (table ready,
 * prefetch_keys): recorded at the peer already, not yet given to a master.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"
#include "secmem.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

int
kme_store_ready_add(struct kme_store *st, const char *peer, const char *master,
		    const char *slave, const struct kme_key *keys, size_t n,
		    int64_t created)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (kme_store_lock(st) == -1)
		goto out;
	s = kme_store_prep(
	    st, "INSERT INTO ready(key_id, master, slave, peer, key, "
		"created) VALUES(?, ?, ?, ?, ?, ?)");
	if (s == NULL || kme_store_run(st, "BEGIN IMMEDIATE") == -1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_bind_blob(s, 1, keys[i].id, UUID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, master, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, slave, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, peer, -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 5, keys[i].bytes, (int)keys[i].len,
				  SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, created);
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
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int64_t
kme_store_ready_count(struct kme_store *st, const char *master,
		      const char *slave, int64_t min_created)
{
	sqlite3_stmt *s = NULL;
	int64_t n = -1;

	if (kme_store_lock(st) == 0)
		s = kme_store_prep(st,
				   "SELECT count(*) FROM ready WHERE "
				   "master = ? AND slave = ? AND created >= ?");
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

/*
 * Takes between min and max of the oldest ready keys of a pair in one
 * transaction, which deletes them before any leaves this function; 1
 * (nothing taken) if fewer than min are ready.
 */
int
kme_store_ready_claim(struct kme_store *st, const char *master,
		      const char *slave, int64_t min_created, size_t min,
		      size_t max, struct kme_key *out, int64_t *created,
		      size_t *got_out)
{
	sqlite3_stmt *q = NULL, *d = NULL;
	int64_t last_created = 0;
	size_t got = 0;
	int rc = -1;

	*got_out = 0;
	if (max == 0 || min > max)
		return -1;
	if (kme_store_lock(st) == -1)
		goto out;
	/* Oldest first, in primary key order: the rows taken are one range
	 * of the key, deleted by the next statement without an index. */
	q = kme_store_prep(st, "SELECT key_id, key, created FROM ready WHERE "
			       "master = ?1 AND slave = ?2 AND created >= ?3 "
			       "ORDER BY created, key_id LIMIT ?4");
	/* Row values, so that both ends bound the primary key search:
	 * keys prefetched in one second share their created value. */
	d = kme_store_prep(st,
			   "DELETE FROM ready WHERE master = ?1 AND slave = ?2 "
			   "AND (created, key_id) >= (?3, x'') AND "
			   "(created, key_id) <= (?4, ?5)");
	if (q == NULL || d == NULL ||
	    kme_store_run(st, "BEGIN IMMEDIATE") == -1)
		goto out;
	sqlite3_bind_text(q, 1, master, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, slave, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, min_created);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)max);
	while (got < max && sqlite3_step(q) == SQLITE_ROW) {
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
		if (created != NULL)
			created[got] = last_created;
		got++;
	}
	sqlite3_reset(q);
	if (got >= min && got > 0) {
		sqlite3_bind_text(d, 1, master, -1, SQLITE_STATIC);
		sqlite3_bind_text(d, 2, slave, -1, SQLITE_STATIC);
		sqlite3_bind_int64(d, 3, min_created);
		sqlite3_bind_int64(d, 4, last_created);
		sqlite3_bind_blob(d, 5, out[got - 1].id, UUID_LEN,
				  SQLITE_STATIC);
		if (kme_store_step_done(st, d) == -1 ||
		    (size_t)sqlite3_changes(st->db) != got) {
			kme_store_run(st, "ROLLBACK");
			goto out;
		}
	}
	/* All or none: the keys leave only once they are gone here. */
	if (got < min || got == 0 || kme_store_run(st, "COMMIT") == -1) {
		kme_store_run(st, "ROLLBACK");
		rc = got < min || got == 0 ? 1 : -1;
		goto out;
	}
	st->scrub = true;
	*got_out = got;
	rc = 0;
out:
	if (rc != 0) {
		for (size_t i = 0; i < got; i++) {
			secmem_free(out[i].bytes);
			out[i].bytes = NULL;
		}
	}
	kme_store_release(st, q);
	kme_store_release(st, d);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
kme_store_ready_take(struct kme_store *st, const char *master,
		     const char *slave, int64_t min_created,
		     struct kme_key *out, size_t n)
{
	size_t got;

	return kme_store_ready_claim(st, master, slave, min_created, n, n, out,
				     NULL, &got);
}

int64_t
kme_store_ready_purge(struct kme_store *st, const char *peer, int64_t before)
{
	sqlite3_stmt *s = NULL;
	int64_t n = -1;

	if (kme_store_lock(st) == 0)
		s = kme_store_prep(
		    st, "DELETE FROM ready WHERE peer = ? AND created < ?");
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
