/*
 * kme_store_pool.c — the persisted pool figure of each peer (table pool).
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"

#include <sqlite3.h>

int
kme_store_pool_get(struct kme_store *st, const char *peer, uint64_t *bits)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (kme_store_lock(st) == -1)
		goto out;
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
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (kme_store_lock(st) == -1)
		goto out;
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

	if (kme_store_lock(st) == -1)
		goto out;
	/* One statement, so it cannot undo a concurrent take. */
	s = kme_store_prep(
	    st, "INSERT INTO pool(peer, bits) VALUES(?1, min(?2, ?3)) "
		"ON CONFLICT(peer) DO UPDATE SET bits = "
		"max(bits, min(bits + ?2, ?3))");
	g = kme_store_prep(st, "SELECT bits FROM pool WHERE peer = ?");
	if (s == NULL || g == NULL)
		goto out;
	sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)add);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	if (kme_store_step_done(st, s) == -1)
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
int
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

	rc = kme_store_lock(st) == -1 ? -1
				      : kme_store_take_locked(st, peer, bits);
	pthread_mutex_unlock(&st->lock);
	return rc;
}
