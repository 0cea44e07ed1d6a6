/*
 * secmem.h — the libraries' heap blocks wiped when they are freed.
 *
 * Key bytes pass through memory the daemons never own: libcurl's request
 * and download buffers, OpenSSL's TLS records, cJSON's strings, SQLite's
 * registers.  Each of those libraries lets its allocator be replaced; the
 * replacements here are malloc() with a free() that wipes the whole block
 * first and a realloc() that wipes a block it moves.
 * libmicrohttpd has no such hook: its response bodies are handed over with
 * a free callback instead (docs/SECURITY.md, S-20).
 */
#ifndef QKDLAB_SECMEM_H
#define QKDLAB_SECMEM_H

#include <stddef.h>

/* Wipes malloc_usable_size(p) octets, then frees; NULL-safe. */
void secmem_free(void *p);
/* realloc() that wipes a block it moves, and never shrinks one. */
void *secmem_realloc(void *p, size_t n);
/*
 * Installs secmem_free/secmem_realloc in OpenSSL and cJSON.  OpenSSL
 * accepts it only before its first allocation: call it first in main().
 * Logs and returns -1 when OpenSSL refuses.
 */
int secmem_init(void);
/* curl_global_init() with the same allocator; -1 (logged) on failure. */
int secmem_curl_init(void);

#endif
