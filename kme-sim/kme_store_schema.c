/*
 * kme_store_schema.c — the store's connection settings and schema, and
 * the upgrade of a database an earlier kme-sim wrote.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

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

/*
 * Brings the schema to KME_STORE_VERSION in one transaction: creates it in
 * a new database, carries a version 1 database's rows over, refuses one
 * written by a newer kme-sim (its rows are left as they are).
 */
static int
kme_store_upgrade(struct kme_store *st, const char *path)
{
	int64_t version = kme_store_query_int(st, "PRAGMA user_version");
	int64_t v1 =
	    kme_store_query_int(st, "SELECT count(*) FROM sqlite_master "
				    "WHERE type = 'table' AND name = 'rslave'");
	char *sql = NULL, set_version[40];
	int rc = -1;

	snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d",
		 KME_STORE_VERSION);
	if (version < 0 || v1 < 0)
		return -1;
	if (version > KME_STORE_VERSION) {
		log_err("store: %s has schema version %lld, written by a newer "
			"kme-sim (this one knows up to %d); not touching it",
			path, (long long)version, KME_STORE_VERSION);
		return -1;
	}
	if (version == KME_STORE_VERSION)
		return kme_store_exec(st, kme_store_schema);
	if (v1 > 0) {
		if (asprintf(&sql, kme_store_migrate_v1, kme_store_schema) ==
		    -1)
			return -1;
		log_info("store: %s: carrying keys over from schema version 1 "
			 "to %d",
			 path, KME_STORE_VERSION);
	}
	if (kme_store_exec(st, "BEGIN IMMEDIATE") == -1)
		goto out;
	if (kme_store_exec(st, sql ? sql : kme_store_schema) == -1 ||
	    kme_store_exec(st, set_version) == -1 ||
	    kme_store_exec(st, "COMMIT") == -1) {
		kme_store_exec(st, "ROLLBACK");
		goto out;
	}
	rc = 0;
out:
	free(sql);
	return rc;
}

int
kme_store_setup(struct kme_store *st, const char *path)
{
	if (kme_store_exec(st, KME_STORE_PRAGMAS) == -1 ||
	    kme_store_upgrade(st, path) == -1)
		return -1;
	return 0;
}
