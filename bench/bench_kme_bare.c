/*
 * bench_kme_bare.c — the references of bench/bench_kme: a bare HTTPS
 * responder answering every request with one constant ETSI 014 Key
 * container, behind lib/tls_front with the SSL_CTX of
 * tls_server_ctx_new (kme-sim's certificates, client CA and cipher).
 * By default the front hands the plaintext to libmicrohttpd over its
 * socketpair (flags and thread pool as kme-sim used them): the yardstick
 * of kme-sim's performance goals.  With --direct the same answers come
 * from the front's request mode as kme-sim's 014 port uses it (no
 * libmicrohttpd, handlers on the event loops, a worker pool for what
 * would wait, bodies kept): what kme-sim adds on its own path is then the
 * 014 logic, the KME link and the SQLite store.
 *
 * With --store FILE it is the store floor: before the same constant
 * answer, each request does the least durable store work one key delivery
 * needs, in an SQLite database set up as kme-sim's store is (WAL,
 * synchronous=NORMAL, exclusive locking, secure_delete, 4 KiB pages,
 * kme-sim's wiping allocator and one-write WAL frames), under one lock the
 * libmicrohttpd threads share.  The request path picks the role:
 *
 *   .../enc_keys (master's KME): keys recorded ahead in table ready are
 *     taken FLOOR_BATCH at a time in one transaction that deletes them
 *     (kme_store_ready_claim) and handed out from memory, one per request;
 *     a transaction inserts FLOOR_BATCH new ones whenever fewer than
 *     FLOOR_STOCK are left (prefetch_keys' default).
 *   .../dec_keys (slave's KME): each request reads the next waiting key
 *     of table rkey and updates its row in place, bytes to NULL and the
 *     time of the fetch set (the audit row of the delivery), inside a
 *     write transaction kept open across requests, and stores one record
 *     in kme-sim's fetch journal (FILE-fetches, mapped shared; the code of
 *     kme_store_journal.c), which commits every KME_JOURNAL_FETCHES
 *     fetches (kme_store_fetch).  Every FLOOR_BATCH fetches, one
 *     transaction, after that COMMIT, inserts FLOOR_BATCH new rows (as a
 *     reservation over the KME link does) and deletes the oldest
 *     FLOOR_BATCH audit rows past FLOOR_AUDIT_KEEP, so a long run does not
 *     grow the file.
 *
 * No KME link, no 014 parsing (the key ID of a dec_keys request is not
 * read; the next waiting key is taken), no expiry sweep, no index on the
 * expiry.  Checkpoints are SQLite's automatic PASSIVE one at 4,000 frames
 * (kme-sim's threshold), run in the COMMIT that passes it, on the
 * request's thread and under the lock (kme-sim syncs the WAL on a thread
 * of its own first).
 *
 *   bench_kme_bare [--direct] [--store FILE] CERT KEY CLIENT_CA PORT THREADS
 * Runs until SIGTERM/SIGINT.  FILE is emptied at the start.
 */
#include "kme_store_int.h"
#include "log.h"
#include "secmem.h"
#include "tls_front.h"
#include "util.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static const char body[] =
    "{\"keys\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\","
    "\"key\":\"wHHVxRwDJs3/bXd38GHP3oe4svTuRpZS0yCC7x4Ly+s=\"}]}";

/* Rows per claim, per refill and per trim of audit rows (kme-sim: 64). */
#define FLOOR_BATCH 64
/* Rows kept ahead of demand at either end (prefetch_keys' default). */
#define FLOOR_STOCK 1024
/* Audit rows kept at the slave's end; older ones are deleted. */
#define FLOOR_AUDIT_KEEP 4096
#define FLOOR_KEY_LEN 32
#define FLOOR_ID_LEN 16
#define FLOOR_TTL_S 3600
#define FLOOR_MASTER "SAE_A"
#define FLOOR_SLAVE "SAE_B"

static const char floor_setup[] = KME_STORE_PRAGMAS
    "PRAGMA wal_autocheckpoint=4000;"
    "CREATE TABLE IF NOT EXISTS ready("
    "  master TEXT NOT NULL, slave TEXT NOT NULL, key_id BLOB NOT NULL,"
    "  key BLOB NOT NULL, PRIMARY KEY(master, slave, key_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rkey("
    "  key_id BLOB NOT NULL, slave TEXT NOT NULL, master TEXT NOT NULL,"
    "  key BLOB, expires INTEGER NOT NULL, fetched_at INTEGER,"
    "  PRIMARY KEY(key_id, slave)) WITHOUT ROWID;"
    "DELETE FROM ready;"
    "DELETE FROM rkey;";

enum floor_stmt {
	F_BEGIN,
	F_COMMIT,
	F_ROLLBACK,
	F_READY_ADD,
	F_READY_CLAIM,
	F_READY_DEL,
	F_RKEY_ADD,
	F_RKEY_TRIM,
	F_RKEY_ROW,
	F_RKEY_MARK,
	F_NSTMT
};

static const char *const floor_sql[F_NSTMT] = {
	[F_BEGIN] = "BEGIN IMMEDIATE",
	[F_COMMIT] = "COMMIT",
	[F_ROLLBACK] = "ROLLBACK",
	[F_READY_ADD] = "INSERT INTO ready(master, slave, key_id, key) "
			"VALUES('" FLOOR_MASTER "', '" FLOOR_SLAVE "', ?1, ?2)",
	[F_READY_CLAIM] =
	    "SELECT key_id, key FROM ready WHERE master = '" FLOOR_MASTER
	    "' AND slave = '" FLOOR_SLAVE "' ORDER BY key_id LIMIT ?1",
	[F_READY_DEL] = "DELETE FROM ready WHERE master = '" FLOOR_MASTER
			"' AND slave = '" FLOOR_SLAVE "' AND key_id >= ?1 AND "
			"key_id <= ?2",
	[F_RKEY_ADD] =
	    "INSERT INTO rkey(key_id, slave, master, key, expires) "
	    "VALUES(?1, '" FLOOR_SLAVE "', '" FLOOR_MASTER "', ?2, ?3)",
	[F_RKEY_TRIM] = "DELETE FROM rkey WHERE key_id >= ?1 AND key_id < ?2",
	[F_RKEY_ROW] = "SELECT master, key FROM rkey WHERE key_id = ?1 AND "
		       "slave = '" FLOOR_SLAVE "' AND expires > ?2",
	[F_RKEY_MARK] = "UPDATE rkey SET key = NULL, fetched_at = ?2 WHERE "
			"key_id = ?1 AND slave = '" FLOOR_SLAVE "'",
};

/*
 * Key IDs: the start time in ms, then a counter of the table's rows, both
 * big-endian, so that IDs grow with time as kme-sim's UUIDv7 do and a
 * table's rows are one range of its primary key in the order made.
 */
struct floor {
	sqlite3 *db;
	pthread_mutex_t lock; /* one connection, many threads */
	sqlite3_stmt *s[F_NSTMT];
	uint64_t id_base;
	/* master's end: counter of the next ready row to make; rows left */
	uint64_t ready_next;
	int64_t ready_rows;
	uint8_t claim[FLOOR_BATCH][FLOOR_KEY_LEN]; /* taken, not handed out */
	size_t claim_n, claim_head;
	/* slave's end: rkey counters [trim, fetch) audit rows, [fetch, end)
	 * waiting keys */
	uint64_t rkey_trim, rkey_fetch, rkey_end;
	/* kme-sim's fetch journal and its settle, on db (kme_store_int.h) */
	struct kme_store *jr;
};

static void
floor_id(const struct floor *f, uint64_t n, uint8_t id[FLOOR_ID_LEN])
{
	for (int i = 0; i < 8; i++) {
		id[i] = (uint8_t)(f->id_base >> (56 - 8 * i));
		id[8 + i] = (uint8_t)(n >> (56 - 8 * i));
	}
}

/* Runs a statement to its end, then resets it and drops its bindings. */
static int
floor_done(struct floor *f, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		log_warnx("store floor: %s", sqlite3_errmsg(f->db));
		return -1;
	}
	return 0;
}

static void
floor_rollback(struct floor *f)
{
	(void)floor_done(f, f->s[F_ROLLBACK]);
}

/* Under lock, inside a transaction: FLOOR_BATCH new keys, random bytes. */
static int
floor_add(struct floor *f, sqlite3_stmt *s, uint64_t *next, int64_t expires)
{
	uint8_t keys[FLOOR_BATCH][FLOOR_KEY_LEN], id[FLOOR_ID_LEN];
	int rc = -1;

	/* One RNG call per batch, as kme-sim makes its keys. */
	if (RAND_bytes(&keys[0][0], (int)sizeof(keys)) != 1) {
		log_warnx("store floor: no random bytes");
		return -1;
	}
	for (size_t i = 0; i < FLOOR_BATCH; i++) {
		floor_id(f, (*next)++, id);
		sqlite3_bind_blob(s, 1, id, FLOOR_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, keys[i], FLOOR_KEY_LEN, SQLITE_STATIC);
		if (expires != 0)
			sqlite3_bind_int64(s, 3, expires);
		if (floor_done(f, s) == -1)
			goto out;
	}
	rc = 0;
out:
	secmem_wipe(keys, sizeof(keys));
	return rc;
}

/* Under lock: a transaction of its own, the open fetches committed
 * first (kme_store_lock). */
static int
floor_begin(struct floor *f)
{
	if (kme_store_settle(f->jr) == -1)
		return -1;
	return floor_done(f, f->s[F_BEGIN]);
}

/* Under lock: the master's refill, one transaction. */
static int
floor_ready_refill(struct floor *f)
{
	uint64_t next = f->ready_next;

	if (floor_begin(f) == -1)
		return -1;
	if (floor_add(f, f->s[F_READY_ADD], &next, 0) == -1 ||
	    floor_done(f, f->s[F_COMMIT]) == -1) {
		floor_rollback(f);
		return -1;
	}
	f->ready_next = next;
	f->ready_rows += FLOOR_BATCH;
	return 0;
}

/* Under lock: the oldest FLOOR_BATCH ready keys, deleted before use. */
static int
floor_ready_claim(struct floor *f)
{
	sqlite3_stmt *q = f->s[F_READY_CLAIM], *d = f->s[F_READY_DEL];
	uint8_t first[FLOOR_ID_LEN], last[FLOOR_ID_LEN];
	size_t got = 0;

	if (floor_begin(f) == -1)
		return -1;
	sqlite3_bind_int(q, 1, FLOOR_BATCH);
	while (got < FLOOR_BATCH && sqlite3_step(q) == SQLITE_ROW) {
		if (sqlite3_column_bytes(q, 0) != FLOOR_ID_LEN ||
		    sqlite3_column_bytes(q, 1) != FLOOR_KEY_LEN)
			break;
		memcpy(got == 0 ? first : last, sqlite3_column_blob(q, 0),
		       FLOOR_ID_LEN);
		memcpy(f->claim[got++], sqlite3_column_blob(q, 1),
		       FLOOR_KEY_LEN);
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (got == 1)
		memcpy(last, first, FLOOR_ID_LEN);
	if (got > 0) {
		sqlite3_bind_blob(d, 1, first, FLOOR_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(d, 2, last, FLOOR_ID_LEN, SQLITE_STATIC);
	}
	if (got == 0 || floor_done(f, d) == -1 ||
	    (size_t)sqlite3_changes(f->db) != got ||
	    floor_done(f, f->s[F_COMMIT]) == -1) {
		floor_rollback(f);
		secmem_wipe(f->claim, sizeof(f->claim));
		log_warnx("store floor: no ready keys taken");
		return -1;
	}
	f->claim_n = got;
	f->claim_head = 0;
	f->ready_rows -= (int64_t)got;
	return 0;
}

/* enc_keys: one key to the master; 0 or -1. */
static int
floor_enc(struct floor *f)
{
	uint8_t key[FLOOR_KEY_LEN];
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->claim_n == 0) {
		if (f->ready_rows <= FLOOR_STOCK - FLOOR_BATCH)
			rc = floor_ready_refill(f);
		if (rc == 0)
			rc = floor_ready_claim(f);
	}
	if (rc == 0) {
		memcpy(key, f->claim[f->claim_head], FLOOR_KEY_LEN);
		secmem_wipe(f->claim[f->claim_head], FLOOR_KEY_LEN);
		f->claim_head++;
		f->claim_n--;
	}
	pthread_mutex_unlock(&f->lock);
	/* The answer is the constant body: the key goes nowhere. */
	secmem_wipe(key, sizeof(key));
	return rc;
}

/*
 * Under lock: FLOOR_BATCH new waiting keys and, past FLOOR_AUDIT_KEEP,
 * the oldest FLOOR_BATCH audit rows gone, in one transaction.
 */
static int
floor_rkey_refill(struct floor *f, int64_t now)
{
	uint8_t from[FLOOR_ID_LEN], to[FLOOR_ID_LEN];
	uint64_t next = f->rkey_end;
	bool trim = f->rkey_fetch - f->rkey_trim > FLOOR_AUDIT_KEEP;

	if (floor_begin(f) == -1)
		return -1;
	if (trim) {
		floor_id(f, f->rkey_trim, from);
		floor_id(f, f->rkey_trim + FLOOR_BATCH, to);
		sqlite3_bind_blob(f->s[F_RKEY_TRIM], 1, from, FLOOR_ID_LEN,
				  SQLITE_STATIC);
		sqlite3_bind_blob(f->s[F_RKEY_TRIM], 2, to, FLOOR_ID_LEN,
				  SQLITE_STATIC);
	}
	if ((trim && floor_done(f, f->s[F_RKEY_TRIM]) == -1) ||
	    floor_add(f, f->s[F_RKEY_ADD], &next, now + FLOOR_TTL_S) == -1 ||
	    floor_done(f, f->s[F_COMMIT]) == -1) {
		floor_rollback(f);
		return -1;
	}
	if (trim)
		f->rkey_trim += FLOOR_BATCH;
	f->rkey_end = next;
	return 0;
}

/* Under lock: the next waiting key to the slave, its audit row written
 * in the open transaction and its record in the journal. */
static int
floor_rkey_fetch(struct floor *f, int64_t now, uint8_t key[FLOOR_KEY_LEN])
{
	sqlite3_stmt *q = f->s[F_RKEY_ROW], *m = f->s[F_RKEY_MARK];
	uint8_t id[FLOOR_ID_LEN];
	int ok;

	floor_id(f, f->rkey_fetch, id);
	if (!f->jr->fetch_txn) {
		if (floor_done(f, f->s[F_BEGIN]) == -1)
			return -1;
		f->jr->fetch_txn = true;
	}
	sqlite3_bind_blob(q, 1, id, FLOOR_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	ok = sqlite3_step(q) == SQLITE_ROW &&
	     strcmp((const char *)sqlite3_column_text(q, 0), FLOOR_MASTER) ==
		 0 &&
	     sqlite3_column_bytes(q, 1) == FLOOR_KEY_LEN;
	if (ok)
		memcpy(key, sqlite3_column_blob(q, 1), FLOOR_KEY_LEN);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (ok) {
		sqlite3_bind_blob(m, 1, id, FLOOR_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(m, 2, now);
	}
	if (!ok || floor_done(f, m) == -1) {
		(void)kme_store_journal_recover(f->jr);
		log_warnx("store floor: waiting key not fetched");
		return -1;
	}
	kme_store_journal_add(f->jr, FLOOR_SLAVE, id, now);
	f->jr->jr_fetches++;
	f->rkey_fetch++;
	if (f->jr->jr_fetches >= KME_JOURNAL_FETCHES)
		(void)kme_store_settle(f->jr);
	return 0;
}

/* dec_keys: one key to the slave; 0 or -1. */
static int
floor_dec(struct floor *f)
{
	uint8_t key[FLOOR_KEY_LEN];
	int64_t now = wall_s();
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->rkey_end - f->rkey_fetch <= FLOOR_STOCK - FLOOR_BATCH)
		rc = floor_rkey_refill(f, now);
	if (rc == 0)
		rc = floor_rkey_fetch(f, now, key);
	pthread_mutex_unlock(&f->lock);
	secmem_wipe(key, sizeof(key));
	return rc;
}

static void
floor_free(struct floor *f)
{
	if (f == NULL)
		return;
	if (f->jr != NULL) {
		if (f->jr->jr_map != NULL)
			(void)kme_store_settle(f->jr);
		for (size_t i = 0; i < f->jr->ncache; i++)
			sqlite3_finalize(f->jr->cache[i].stmt);
		kme_store_journal_close(f->jr);
		free(f->jr);
	}
	for (size_t i = 0; i < F_NSTMT; i++)
		sqlite3_finalize(f->s[i]);
	sqlite3_close(f->db);
	pthread_mutex_destroy(&f->lock);
	secmem_wipe(f->claim, sizeof(f->claim));
	free(f);
}

static struct floor *
floor_open(const char *path)
{
	struct floor *f;
	struct timeval tv;
	char *msg = NULL;
	int fd;

	/* kme-sim's allocator (wiping frees) and one-write WAL frames. */
	kme_store_init_sqlite();
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("store floor: %s", path);
		return NULL;
	}
	close(fd);
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	gettimeofday(&tv, NULL);
	f->id_base = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	if (sqlite3_open_v2(path, &f->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    kme_store_vfs) != SQLITE_OK ||
	    sqlite3_exec(f->db, floor_setup, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("store floor: %s: %s", path,
			  msg ? msg
			      : (f->db ? sqlite3_errmsg(f->db) : "no memory"));
		sqlite3_free(msg);
		goto err;
	}
	for (size_t i = 0; i < F_NSTMT; i++) {
		if (sqlite3_prepare_v3(f->db, floor_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &f->s[i],
				       NULL) != SQLITE_OK) {
			log_warnx("store floor: %s: %s", floor_sql[i],
				  sqlite3_errmsg(f->db));
			goto err;
		}
	}
	f->jr = calloc(1, sizeof(*f->jr));
	if (f->jr == NULL)
		goto err;
	f->jr->db = f->db;
	if (kme_store_journal_open(f->jr, path) == -1)
		goto err;
	/* Both ends stocked before the first request. */
	while (f->ready_rows < FLOOR_STOCK) {
		if (floor_ready_refill(f) == -1)
			goto err;
	}
	while (f->rkey_end < FLOOR_STOCK) {
		if (floor_rkey_refill(f, wall_s()) == -1)
			goto err;
	}
	return f;
err:
	floor_free(f);
	return NULL;
}

/*
 * The answer to path[0..len): the constant container, after the floor's
 * work for the role the path names when there is a floor.
 */
static const char *
answer(struct floor *f, const char *path, size_t len, unsigned *status)
{
	static const char fail[] = "{\"message\":\"store floor failed\"}";
	static const char unknown[] = "{\"message\":\"no such resource\"}";
	const char *tail = memrchr(path, '/', len);
	size_t n = tail != NULL ? len - (size_t)(tail - path) : 0;

	*status = 200;
	if (f == NULL)
		return body;
	if (n != 9 || (memcmp(tail, "/enc_keys", 9) != 0 &&
		       memcmp(tail, "/dec_keys", 9) != 0)) {
		*status = 404;
		return unknown;
	}
	if ((tail[1] == 'e' ? floor_enc(f) : floor_dec(f)) == -1) {
		*status = 503;
		return fail;
	}
	return body;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload,
	size_t *upload_size, void **con_cls)
{
	static int started;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status;
	const char *out;

	(void)method;
	(void)version;
	(void)upload;
	if (*con_cls == NULL) { /* answer on a later call: keep-alive */
		*con_cls = &started;
		return MHD_YES;
	}
	*upload_size = 0;
	out = answer(cls, url, strlen(url), &status);
	r = MHD_create_response_from_buffer(strlen(out), (void *)(uintptr_t)out,
					    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* tls_front_handler_fn: the same answers without libmicrohttpd (--direct). */
static void
handler_direct(const struct tls_front_req *req, struct tls_front_resp *resp,
	       void *arg)
{
	unsigned status;
	const char *out =
	    answer(arg, req->http->target, req->http->path_len, &status);

	resp->status = (int)status;
	resp->content_type = "application/json";
	resp->len = strlen(out);
	resp->body = malloc(resp->len);
	if (resp->body == NULL) {
		resp->status = 500;
		resp->len = 0;
		return;
	}
	memcpy(resp->body, out, resp->len);
}

int
main(int argc, char **argv)
{
	struct tls_front_cfg tc = { 0 };
	struct floor *store = NULL;
	struct MHD_Daemon *mhd;
	struct tls_front *tf;
	SSL_CTX *ctx;
	sigset_t sigs;
	bool direct = false;
	int sig;

	log_init("bench_kme_bare", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_WARN);
	if (argc > 1 && strcmp(argv[1], "--direct") == 0) {
		direct = true;
		argv++;
		argc--;
	}
	if (argc == 8 && strcmp(argv[1], "--store") == 0) {
		store = floor_open(argv[2]);
		if (store == NULL)
			return 1;
		argv += 2;
		argc -= 2;
	}
	if (argc != 6) {
		fprintf(
		    stderr,
		    "usage: %s [--direct] [--store FILE] CERT KEY CLIENT_CA PORT "
		    "THREADS\n",
		    argv[0]);
		return 2;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	ctx = tls_server_ctx_new(argv[1], argv[2], argv[3]);
	if (ctx == NULL)
		return 1;
	mhd = direct ? NULL
		     : MHD_start_daemon(
			   MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
			       MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL,
			   0, NULL, NULL, handler, store,
			   MHD_OPTION_THREAD_POOL_SIZE, (unsigned)atoi(argv[5]),
			   MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
	tc.ssl_ctx = ctx;
	tc.mhd = mhd;
	if (direct) {
		tc.handler = handler_direct;
		tc.handler_arg = store;
		/* As kme-sim's 014 port: answered on the loop, a worker pool
		 * for what would wait (nothing here), bodies kept. */
		tc.workers = (unsigned)atoi(argv[5]);
		tc.loop_first = true;
		tc.keep_body = true;
	}
	tc.peer_id = tls_peer_subject_cn;
	tc.name = "bare";
	/* The load comes from one address, up to 1,000 connections at once. */
	tc.max_conns = 4096;
	tc.max_per_source = 4096;
	tc.handshake_timeout_ms = 60000;
	tf = tls_front_new(&tc);
	if ((mhd == NULL && !direct) || tf == NULL ||
	    tls_front_listen(tf, "127.0.0.1", (uint16_t)atoi(argv[4])) < 0 ||
	    tls_front_start(tf) < 0)
		return 1;
	sigwait(&sigs, &sig);
	tls_front_free(tf);
	if (mhd != NULL)
		MHD_stop_daemon(mhd);
	SSL_CTX_free(ctx);
	floor_free(store);
	return 0;
}
