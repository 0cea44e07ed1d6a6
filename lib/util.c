/*
 * util.c — constant-time comparison, clocks and file helpers.
 */
#include "util.h"

#include "log.h"
#include "secmem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool
ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
mono_ms(void)
{
	return mono_us() / 1000u;
}

int64_t
wall_s(void)
{
	return (int64_t)time(NULL);
}

int
file_read_all(const char *path, size_t max, char **bufp, size_t *lenp)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		log_err("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_err("%s is not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > max) {
		log_err("%s is larger than %zu bytes", path, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		log_warn("%s", path);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("read %s", path);
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rc = 0;
out:
	secmem_free(buf);
	close(fd);
	return rc;
}

int
file_check_private(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		log_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("%s is not a regular file", path);
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		log_err("%s holds secrets but is accessible by group or others "
			"(mode %04o); run: chmod 600 %s",
			path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

int
file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[4096];
	size_t off = 0;
	int fd, rc = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd == -1) {
		log_warn("cannot create %s", tmp);
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("write %s", tmp);
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1 || fchmod(fd, mode) == -1) {
		log_warn("%s", tmp);
		goto out;
	}
	if (rename(tmp, path) == -1) {
		log_warn("rename %s", path);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	if (rc == -1)
		unlink(tmp);
	return rc;
}

int
str_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap) {
		if (cap > 0)
			dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int
sockaddr_from_ip(const char *host, uint16_t port, struct sockaddr_storage *ss,
		 socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	socklen_t l;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		l = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		l = sizeof(*s6);
	} else {
		return -1;
	}
	if (len != NULL)
		*len = l;
	return 0;
}
