/*
 * kme_store_vfs.c — SQLite's default VFS with one change: a WAL frame is
 * written with one system call instead of two.
 *
 * SQLite writes each WAL frame as its 24-octet header, then the page right
 * after it (walWriteOneFrame), two pwrite()s.  Every fetch and every
 * reservation commits at least one frame, so on the request path these
 * writes are a good part of the store's system calls.  Here a 24-octet
 * write to a WAL file is held back; when the next call is the write that
 * continues it, both go out in one write from a buffer of header and page.
 * Any other call on the file writes the held header first, so every read,
 * sync, size and lock sees the file SQLite wrote, and a commit returns only
 * after its last page (and so every held header) is in the file.
 *
 * The joined buffer holds a copy of a page, which may hold key bytes: it is
 * wiped after every write and freed wiped.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"
#include "secmem.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* WAL_FRAME_HDRSIZE of SQLite's WAL format (wal.c, "WAL FILE FORMAT"). */
#define KME_VFS_FRAME_HDR 24

struct kme_vfs_file {
	sqlite3_file base; /* pMethods: kme_vfs_io */
	bool wal;
	sqlite3_int64 held_off; /* where the held header goes; -1: none */
	unsigned char held[KME_VFS_FRAME_HDR];
	unsigned char *frame; /* header + page, wiped after each write */
	size_t frame_cap;
	sqlite3_file *real; /* the default VFS's file, right after this */
};

static sqlite3_vfs kme_vfs;
const char *kme_store_vfs; /* kme_store_vfs_register()'s result */

#define REAL(f) (((struct kme_vfs_file *)(f))->real)

/* Writes a held frame header; SQLite's error code of that write. */
static int
kme_vfs_flush(sqlite3_file *f)
{
	struct kme_vfs_file *k = (struct kme_vfs_file *)f;
	sqlite3_int64 off = k->held_off;

	if (off < 0)
		return SQLITE_OK;
	k->held_off = -1;
	return k->real->pMethods->xWrite(k->real, k->held, KME_VFS_FRAME_HDR,
					 off);
}

static int
kme_vfs_close(sqlite3_file *f)
{
	struct kme_vfs_file *k = (struct kme_vfs_file *)f;
	int rc = kme_vfs_flush(f), rc2;

	rc2 = k->real->pMethods->xClose(k->real);
	secmem_free(k->frame);
	k->frame = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
kme_vfs_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	int rc = kme_vfs_flush(f);

	return rc != SQLITE_OK ? rc
			       : REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int
kme_vfs_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	struct kme_vfs_file *k = (struct kme_vfs_file *)f;
	size_t need = KME_VFS_FRAME_HDR + (size_t)n;
	int rc;

	if (k->held_off >= 0 && off == k->held_off + KME_VFS_FRAME_HDR &&
	    n > 0) {
		if (need > k->frame_cap) {
			unsigned char *nf = malloc(need);

			if (nf != NULL) {
				secmem_free(k->frame);
				k->frame = nf;
				k->frame_cap = need;
			}
		}
		if (need <= k->frame_cap) {
			memcpy(k->frame, k->held, KME_VFS_FRAME_HDR);
			memcpy(k->frame + KME_VFS_FRAME_HDR, buf, (size_t)n);
			rc = k->real->pMethods->xWrite(k->real, k->frame,
						       (int)need, k->held_off);
			secmem_wipe(k->frame, need);
			k->held_off = -1;
			return rc;
		}
	}
	rc = kme_vfs_flush(f);
	if (rc != SQLITE_OK)
		return rc;
	if (k->wal && n == KME_VFS_FRAME_HDR) {
		memcpy(k->held, buf, KME_VFS_FRAME_HDR);
		k->held_off = off;
		return SQLITE_OK;
	}
	return k->real->pMethods->xWrite(k->real, buf, n, off);
}

static int
kme_vfs_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int rc = kme_vfs_flush(f);

	return rc != SQLITE_OK ? rc
			       : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
kme_vfs_sync(sqlite3_file *f, int flags)
{
	int rc = kme_vfs_flush(f);

	return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
kme_vfs_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	int rc = kme_vfs_flush(f);

	return rc != SQLITE_OK ? rc
			       : REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
kme_vfs_lock(sqlite3_file *f, int lock)
{
	int rc = kme_vfs_flush(f);

	return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
kme_vfs_unlock(sqlite3_file *f, int lock)
{
	int rc = kme_vfs_flush(f);

	return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
kme_vfs_check_lock(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
kme_vfs_file_control(sqlite3_file *f, int op, void *arg)
{
	int rc = kme_vfs_flush(f);

	return rc != SQLITE_OK
		   ? rc
		   : REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
kme_vfs_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
kme_vfs_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
kme_vfs_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
		void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
kme_vfs_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void
kme_vfs_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
kme_vfs_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
kme_vfs_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	int rc = kme_vfs_flush(f);

	return rc != SQLITE_OK ? rc
			       : REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int
kme_vfs_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods kme_vfs_io = {
	3,
	kme_vfs_close,
	kme_vfs_read,
	kme_vfs_write,
	kme_vfs_truncate,
	kme_vfs_sync,
	kme_vfs_file_size,
	kme_vfs_lock,
	kme_vfs_unlock,
	kme_vfs_check_lock,
	kme_vfs_file_control,
	kme_vfs_sector_size,
	kme_vfs_device,
	kme_vfs_shm_map,
	kme_vfs_shm_lock,
	kme_vfs_shm_barrier,
	kme_vfs_shm_unmap,
	kme_vfs_fetch,
	kme_vfs_unfetch,
};

static int
kme_vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
	     int *out_flags)
{
	sqlite3_vfs *real_vfs = vfs->pAppData;
	struct kme_vfs_file *k = (struct kme_vfs_file *)f;
	int rc;

	memset(k, 0, sizeof(*k));
	k->held_off = -1;
	k->real = (sqlite3_file *)(k + 1);
	k->wal = (flags & SQLITE_OPEN_WAL) != 0;
	rc = real_vfs->xOpen(real_vfs, name, k->real, flags, out_flags);
	/* SQLite calls xClose exactly when pMethods is set, even on error. */
	k->base.pMethods = k->real->pMethods != NULL ? &kme_vfs_io : NULL;
	/* The methods above call all of the default file's, version 3. */
	if (k->real->pMethods != NULL && k->real->pMethods->iVersion < 3) {
		k->real->pMethods->xClose(k->real);
		k->base.pMethods = NULL;
		return SQLITE_CANTOPEN;
	}
	return rc;
}

#define VFS(v) ((sqlite3_vfs *)(v)->pAppData)

static int
kme_vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	return VFS(v)->xDelete(VFS(v), name, sync_dir);
}

static int
kme_vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	return VFS(v)->xAccess(VFS(v), name, flags, out);
}

static int
kme_vfs_full_path(sqlite3_vfs *v, const char *name, int n, char *out)
{
	return VFS(v)->xFullPathname(VFS(v), name, n, out);
}

static void *
kme_vfs_dlopen(sqlite3_vfs *v, const char *name)
{
	return VFS(v)->xDlOpen(VFS(v), name);
}

static void
kme_vfs_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	VFS(v)->xDlError(VFS(v), n, msg);
}

static void (*kme_vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	return VFS(v)->xDlSym(VFS(v), h, sym);
}

static void
kme_vfs_dlclose(sqlite3_vfs *v, void *h)
{
	VFS(v)->xDlClose(VFS(v), h);
}

static int
kme_vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
	return VFS(v)->xRandomness(VFS(v), n, out);
}

static int
kme_vfs_sleep(sqlite3_vfs *v, int us)
{
	return VFS(v)->xSleep(VFS(v), us);
}

static int
kme_vfs_time(sqlite3_vfs *v, double *out)
{
	return VFS(v)->xCurrentTime(VFS(v), out);
}

static int
kme_vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
	return VFS(v)->xGetLastError(VFS(v), n, out);
}

static int
kme_vfs_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	return VFS(v)->xCurrentTimeInt64(VFS(v), out);
}

const char *
kme_store_vfs_register(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);

	if (real == NULL || real->iVersion < 2 ||
	    real->xCurrentTimeInt64 == NULL) {
		log_warnx("store: SQLite's default VFS is not one this KME "
			  "can wrap; WAL frames take two writes each");
		return NULL;
	}
	kme_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct kme_vfs_file) + real->szOsFile,
		.mxPathname = real->mxPathname,
		.zName = "qkdlab-kme",
		.pAppData = real,
		.xOpen = kme_vfs_open,
		.xDelete = kme_vfs_delete,
		.xAccess = kme_vfs_access,
		.xFullPathname = kme_vfs_full_path,
		.xDlOpen = kme_vfs_dlopen,
		.xDlError = kme_vfs_dlerror,
		.xDlSym = kme_vfs_dlsym,
		.xDlClose = kme_vfs_dlclose,
		.xRandomness = kme_vfs_randomness,
		.xSleep = kme_vfs_sleep,
		.xCurrentTime = kme_vfs_time,
		.xGetLastError = kme_vfs_last_error,
		.xCurrentTimeInt64 = kme_vfs_time64,
	};
	if (sqlite3_vfs_register(&kme_vfs, 0) != SQLITE_OK) {
		log_warnx("store: cannot register SQLite VFS %s; WAL frames "
			  "take two writes each",
			  kme_vfs.zName);
		return NULL;
	}
	return kme_vfs.zName;
}
