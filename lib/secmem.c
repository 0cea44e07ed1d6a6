/*
 * secmem.c — wiping allocator hooks for OpenSSL and cJSON.
 *
 * Cost: one memset of each freed block (explicit_bzero).  The blocks these libraries free
 * while a key passes through them (a 16 KiB download buffer, a TLS record
 * buffer, a JSON string) were written in full anyway.
 */
#include "secmem.h"

#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * explicit_bzero() is glibc's memset (vector stores) behind a compiler
 * barrier: the same guarantee as OPENSSL_cleanse, whose x86-64 loop stores
 * eight octets at a time and took most of the wiping time of the TLS record
 * buffers freed on every request.
 */
void
secmem_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		explicit_bzero(p, len);
}

void
secmem_free(void *p)
{
	if (p == NULL)
		return;
	secmem_wipe(p, malloc_usable_size(p));
	free(p);
}

void *
secmem_realloc(void *p, size_t n)
{
	size_t have;
	void *np;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		secmem_free(p);
		return NULL;
	}
	/* Never shrink: realloc() would free the tail unwiped. */
	have = malloc_usable_size(p);
	if (n <= have)
		return p;
	np = malloc(n);
	if (np == NULL)
		return NULL;
	memcpy(np, p, have);
	secmem_free(p);
	return np;
}

int
secmem_reserve(char **buf, size_t *cap, size_t need)
{
	size_t ncap = *cap > 0 ? *cap : 256;
	char *nb;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	nb = secmem_realloc(*buf, ncap);
	if (nb == NULL)
		return -1;
	*buf = nb;
	*cap = ncap;
	return 0;
}

void __attribute__((noinline)) secmem_wipe_stack(void)
{
	unsigned char pad[SECMEM_STACK_WIPE];

	secmem_wipe(pad, sizeof(pad));
}

static void *
secmem_ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void *
secmem_ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return secmem_realloc(p, n);
}

static void
secmem_ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	secmem_free(p);
}

int
secmem_init(void)
{
	cJSON_Hooks hooks = { malloc, secmem_free };

	/* With its own free(), cJSON never calls realloc(). */
	cJSON_InitHooks(&hooks);
	if (CRYPTO_set_mem_functions(secmem_ossl_malloc, secmem_ossl_realloc,
				     secmem_ossl_free) != 1) {
		log_warnx("OpenSSL allocated memory before its allocator could "
			  "be set: its buffers are freed without being wiped");
		return -1;
	}
	return 0;
}

void *
secmem_locked_alloc(size_t n, bool *locked)
{
	void *p;

	*locked = false;
	if (n == 0)
		return NULL;
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Advice only: a kernel without it still gets a working block. */
	(void)madvise(p, n, MADV_DONTDUMP);
	*locked = mlock(p, n) == 0;
	return p;
}

void
secmem_locked_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	secmem_wipe(p, n);
	munlock(p, n);
	munmap(p, n);
}
