/*
 * util.h — small helpers every daemon needs: comparison, time, files,
 * socket addresses.
 * Wiping and freeing secrets is lib/secmem.h.
 */
#ifndef QKDLAB_UTIL_H
#define QKDLAB_UTIL_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Constant-time equality for keys, ICVs and tokens. */
bool ct_equal(const void *a, const void *b, size_t len);

/* Monotonic clock. */
uint64_t mono_ms(void);
uint64_t mono_us(void);
/* Wall clock, seconds since the epoch. */
int64_t wall_s(void);

/*
 * Reads a whole regular file of at most max octets into a NUL-terminated
 * heap buffer.  Logs and returns -1 on error.
 */
int file_read_all(const char *path, size_t max, char **buf, size_t *len);
/*
 * For files holding secrets: refuses (logs, returns -1) a file that is not
 * a regular file or that group or others may read or write.
 */
int file_check_private(const char *path);
/* Writes data to path atomically (temp file + rename) with the given mode. */
int file_write_atomic(const char *path, const void *data, size_t len,
		      unsigned mode);

/* snprintf into a fixed buffer; -1 if truncated. */
int str_copy(char *dst, size_t cap, const char *src);

/*
 * The socket address of host, an IPv4 or IPv6 literal (never a name), and
 * port; *len its length (len may be NULL).  -1 if host is no IP literal.
 */
int sockaddr_from_ip(const char *host, uint16_t port,
		     struct sockaddr_storage *ss, socklen_t *len);

#endif
