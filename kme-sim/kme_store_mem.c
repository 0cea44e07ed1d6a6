/*
 * kme_store_mem.c — SQLite's allocator, set once per process before
 * SQLite's first use, so that the buffers that held key bytes are wiped
 * when SQLite frees them.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"
#include "secmem.h"

#include <malloc.h>
#include <sqlite3.h>
#include <stdlib.h>

/*
 * SQLite's heap: key bytes pass through its registers (the record an
 * INSERT builds, the blob a SELECT copies out), which it frees on every
 * sqlite3_reset().  Those go through secmem_free.  Lookaside slots are
 * reused without a free, so there is no lookaside.
 */
static void *
kme_store_mem_malloc(int n)
{
	return malloc((size_t)n);
}

static void
kme_store_mem_free(void *p)
{
	secmem_free(p);
}

static void *
kme_store_mem_realloc(void *p, int n)
{
	return secmem_realloc(p, (size_t)n);
}

static int
kme_store_mem_size(void *p)
{
	return (int)malloc_usable_size(p);
}

static int
kme_store_mem_roundup(int n)
{
	return (n + 7) & ~7;
}

static int
kme_store_mem_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void
kme_store_mem_shutdown(void *arg)
{
	(void)arg;
}

void
kme_store_init_sqlite(void)
{
	static const sqlite3_mem_methods mem = {
		kme_store_mem_malloc,	kme_store_mem_free,
		kme_store_mem_realloc,	kme_store_mem_size,
		kme_store_mem_roundup,	kme_store_mem_init,
		kme_store_mem_shutdown, NULL
	};

	/* Only before SQLite's first use in this process. */
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK ||
	    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK)
		log_warnx("store: SQLite was in use before its allocator could "
			  "be set: its buffers are freed without being wiped");
	/* After the allocator: looking the default VFS up starts SQLite. */
	kme_store_vfs = kme_store_vfs_register();
}
