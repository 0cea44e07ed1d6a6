/*
 * kme_store_stmt.c — running SQL on the store's one connection: the
 * cache of prepared statements (prepared once, reset after each use,
 * bound key bytes dropped) and the small helpers every operation uses.
 * Callers hold st->lock.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"

#include <sqlite3.h>
#include <string.h>

int
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

/* -1 on error; else the value of a one-integer query. */
int64_t
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

sqlite3_stmt *
kme_store_prep(struct kme_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	/* Callers pass string literals: the same text is mostly the same
	 * pointer, found without comparing SQL that shares long prefixes. */
	for (size_t i = 0; i < st->ncache; i++) {
		if (st->cache[i].sql == sql)
			return st->cache[i].stmt;
	}
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
void
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
	sqlite3_finalize(s); /* the cache was full */
}

/* BEGIN, COMMIT, ROLLBACK through the statement cache. */
int
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
int
kme_store_step_done(struct kme_store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE) {
		log_warnx("store: %s", sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

/* 1 if a query bound by the caller returns a row, 0 if not, -1 on error. */
int
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
