/*
 * kme_store_ckpt.c — WAL checkpoints on a thread of their own.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that passes the
 * threshold: that request, and every other one waiting for the store's
 * lock, waits for the WAL to be synced (tens of milliseconds with
 * thousands of frames in it), every frame to be copied into the
 * database, and the database to be synced.  Here the COMMIT only notes
 * the WAL's length (the WAL hook); a checkpointer thread first syncs the
 * WAL without the lock (appends go on meanwhile), then takes the lock for
 * the copy, whose own WAL sync finds little left to write.
 *
 * Durability is unchanged: SQLite still syncs the WAL before it writes a
 * database page and the database before the WAL may restart (the
 * checkpoint itself is SQLite's).  Should the thread fall far behind, a
 * COMMIT that finds the WAL past KME_CKPT_INLINE frames checkpoints
 * inline, as SQLite would, so the WAL stays bounded.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Frames (pages) in the WAL that start a checkpoint. */
#define KME_CKPT_FRAMES 4000
/* Frames past which a COMMIT checkpoints inline (the thread lags). */
#define KME_CKPT_INLINE (8 * KME_CKPT_FRAMES)

/* Under st->lock: called by SQLite after each COMMIT. */
static int
kme_ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct kme_store *st = arg;

	(void)name;
	if (frames >= KME_CKPT_INLINE) {
		/* PASSIVE: never waits; the connection is ours alone. */
		(void)sqlite3_wal_checkpoint_v2(
		    db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (frames >= KME_CKPT_FRAMES && !st->ckpt_due) {
		st->ckpt_due = true;
		pthread_cond_signal(&st->ckpt_cond);
	}
	return SQLITE_OK;
}

static void
kme_ckpt_once(struct kme_store *st)
{
	uint64_t t0 = mono_us(), t1;
	int frames = -1, copied = -1, rc;

	/* SQLite makes the WAL at the store's first write; without this
	 * descriptor the checkpoint still runs, syncing under the lock. */
	if (st->ckpt_wal_fd == -1)
		st->ckpt_wal_fd = open(st->ckpt_wal, O_RDONLY | O_CLOEXEC);
	/* Most of the WAL's dirty pages reach the disk here, unlocked. */
	if (st->ckpt_wal_fd != -1 && fdatasync(st->ckpt_wal_fd) == -1)
		log_warnx("store: sync of the WAL before a checkpoint: %s",
			  strerror(errno));
	t1 = mono_us();
	/* Settled first: no checkpoint runs inside the open fetch
	 * transaction of this connection. */
	rc = kme_store_lock(st) == -1
		 ? SQLITE_ERROR
		 : sqlite3_wal_checkpoint_v2(st->db, NULL,
					     SQLITE_CHECKPOINT_PASSIVE, &frames,
					     &copied);
	if (rc != SQLITE_OK)
		log_warnx("store: checkpoint: %s", sqlite3_errmsg(st->db));
	pthread_mutex_unlock(&st->lock);
	log_debug("store: checkpoint of %d frames (%d copied): WAL synced "
		  "in %llu us, copied under the lock in %llu us",
		  frames, copied, (unsigned long long)(t1 - t0),
		  (unsigned long long)(mono_us() - t1));
}

static void *
kme_ckpt_main(void *arg)
{
	struct kme_store *st = arg;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (!st->ckpt_due && !st->ckpt_stop)
			pthread_cond_wait(&st->ckpt_cond, &st->lock);
		if (st->ckpt_stop)
			break;
		pthread_mutex_unlock(&st->lock);
		kme_ckpt_once(st);
		pthread_mutex_lock(&st->lock);
		st->ckpt_due = false;
		st->ckpt_done++;
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

int
kme_store_ckpt_start(struct kme_store *st, const char *path)
{
	if (snprintf(st->ckpt_wal, sizeof(st->ckpt_wal), "%s-wal", path) >=
	    (int)sizeof(st->ckpt_wal)) {
		log_err("store: database path too long");
		return -1;
	}
	if (pthread_cond_init(&st->ckpt_cond, NULL) != 0)
		return -1;
	st->ckpt_cond_ok = true;
	if (pthread_create(&st->ckpt_thr, NULL, kme_ckpt_main, st) != 0) {
		log_err("store: cannot start the checkpoint thread");
		return -1;
	}
	st->ckpt_running = true;
	pthread_mutex_lock(&st->lock);
	/* Replaces wal_autocheckpoint's hook: no checkpoint in a COMMIT. */
	sqlite3_wal_hook(st->db, kme_ckpt_hook, st);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

void
kme_store_ckpt_stop(struct kme_store *st)
{
	if (st->ckpt_running) {
		pthread_mutex_lock(&st->lock);
		sqlite3_wal_hook(st->db, NULL, NULL);
		st->ckpt_stop = true;
		pthread_cond_signal(&st->ckpt_cond);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->ckpt_thr, NULL);
		st->ckpt_running = false;
	}
	if (st->ckpt_wal_fd != -1)
		close(st->ckpt_wal_fd);
	st->ckpt_wal_fd = -1;
	if (st->ckpt_cond_ok)
		pthread_cond_destroy(&st->ckpt_cond);
	st->ckpt_cond_ok = false;
}

int64_t
kme_store_checkpoints(struct kme_store *st)
{
	int64_t n;

	pthread_mutex_lock(&st->lock);
	n = st->ckpt_done;
	pthread_mutex_unlock(&st->lock);
	return n;
}
