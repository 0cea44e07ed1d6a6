/*
 * secmem.h — wiping secrets, and the libraries' heap blocks wiped when
 * they are freed.
 *
 * The one wipe-and-free API: secmem_wipe() for memory the caller keeps,
 * secmem_free() for a heap block (the whole block is wiped, whatever part
 * of it was used).
 * Key bytes pass through memory the daemons never own: OpenSSL's TLS
 * records, cJSON's strings, SQLite's registers.  Each of those libraries lets its allocator be replaced; the
 * replacements here are malloc() with a free() that wipes the whole block
 * first and a realloc() that wipes a block it moves.
 * libmicrohttpd has no such hook: its response bodies are handed over with
 * a free callback instead (docs/SECURITY.md).
 */
#ifndef QKDLAB_SECMEM_H
#define QKDLAB_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

/* Wipes len octets the compiler may not optimise away (explicit_bzero). */
void secmem_wipe(void *p, size_t len);
/* Wipes malloc_usable_size(p) octets, then frees; NULL-safe. */
void secmem_free(void *p);
/* realloc() that wipes a block it moves, and never shrinks one. */
void *secmem_realloc(void *p, size_t n);
/*
 * Room for need octets in a growing buffer (capacity doubled) through
 * secmem_realloc: 0, or -1 when out of memory (*buf left as it was).
 */
int secmem_reserve(char **buf, size_t *cap, size_t need);
/*
 * Library code leaves key bytes in the stack below the frames that called
 * it (kme-sim's link thread after a 400-key alloc: a few keys, written by
 * code outside the project).  Where a request ends, this overwrites the
 * SECMEM_STACK_WIPE octets below the caller's frame.
 */
#define SECMEM_STACK_WIPE (32 * 1024)
void secmem_wipe_stack(void);
/*
 * Installs secmem_free/secmem_realloc in OpenSSL and cJSON.  OpenSSL
 * accepts it only before its first allocation: call it first in main().
 * Logs and returns -1 when OpenSSL refuses.
 */
int secmem_init(void);
/*
 * Zeroed pages for secrets a daemon keeps for a while (pooled keys): kept
 * out of swap (mlock) and core dumps (MADV_DONTDUMP).  When the locked-
 * memory limit (RLIMIT_MEMLOCK) refuses the lock, the block is still
 * returned and *locked is false (the caller logs it once).  NULL when out
 * of memory.  secmem_locked_free() wipes all n octets, then unmaps.
 */
void *secmem_locked_alloc(size_t n, bool *locked);
void secmem_locked_free(void *p, size_t n);

#endif
