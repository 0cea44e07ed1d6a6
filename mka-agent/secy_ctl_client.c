/*
 * secy_ctl_client.c — the macsec-sw control socket backend of the SecY seam.
 *
 * One persistent SOCK_STREAM connection; a failed exchange closes it and
 * the next request reconnects (macsec-sw may restart under us: the KaY
 * learns of each new connection through the instance op).
 */
#include "secy_ctl_client.h"

#include "encoding.h"
#include "log.h"
#include "mka_suite.h"
#include "mka_wire.h"
#include "secmem.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_TIMEOUT_MS 2000
#define CTL_LINE 512

struct secy_ctl {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	unsigned conns; /* connections made: the instance */
	char rbuf[CTL_LINE];
	size_t rlen;
};

struct secy_ctl *
secy_ctl_new(const char *path)
{
	struct secy_ctl *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (str_copy(c->path, sizeof(c->path), path) == -1) {
		free(c);
		return NULL;
	}
	c->fd = -1;
	return c;
}

static void
ctl_close(struct secy_ctl *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->rlen = 0;
}

void
secy_ctl_free(struct secy_ctl *c)
{
	if (c == NULL)
		return;
	ctl_close(c);
	free(c);
}

static int
ctl_connect(struct secy_ctl *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (c->fd != -1)
		return 0;
	memcpy(sun.sun_path, c->path, sizeof(c->path));
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("secy: %s", c->path);
		ctl_close(c);
		return -1;
	}
	/*
	 * A connection ends only on an error or a timeout (macsec-sw gone):
	 * the SecY on a new one may be another, holding no SA.
	 */
	c->conns++;
	return 0;
}

/* Reads one line (without the newline) into out; -1 on timeout/EOF. */
static int
ctl_read_line(struct secy_ctl *c, char *out, size_t cap)
{
	char *nl;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;

	while ((nl = memchr(c->rbuf, '\n', c->rlen)) == NULL) {
		if (c->rlen == sizeof(c->rbuf) ||
		    poll(&pfd, 1, CTL_TIMEOUT_MS) != 1)
			return -1;
		n = read(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
		if (n <= 0)
			return -1;
		c->rlen += (size_t)n;
	}
	*nl = '\0';
	str_copy(out, cap, c->rbuf);
	c->rlen -= (size_t)(nl + 1 - c->rbuf);
	memmove(c->rbuf, nl + 1, c->rlen);
	return 0;
}

/* Sends one request; the answer (after "ok") lands in resp. */
static int
request(struct secy_ctl *c, char *resp, size_t cap, const char *fmt, ...)
{
	char line[CTL_LINE], ans[CTL_LINE];
	va_list ap;
	int n, rc = -1;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		goto out;
	line[n++] = '\n';
	for (int attempt = 0; attempt < 2 && rc == -1; attempt++) {
		if (ctl_connect(c) == -1)
			break;
		if (write(c->fd, line, (size_t)n) != n ||
		    ctl_read_line(c, ans, sizeof(ans)) == -1) {
			ctl_close(c); /* retry once on a fresh connection */
			continue;
		}
		if (strncmp(ans, "ok", 2) != 0) {
			/* The verb only: the request may hold a key. */
			log_warnx("secy: %.*s: %s", (int)strcspn(line, " \n"),
				  line, ans);
			break;
		}
		if (resp != NULL)
			str_copy(resp, cap, ans);
		rc = 0;
	}
out:
	secmem_wipe(line, sizeof(line));
	return rc;
}

static void
sci_hex(char out[17], const uint8_t sci[8])
{
	hex_encode(out, sci, 8);
}

static int
ctl_set_policy(void *arg, const struct mka_secy_policy *pol)
{
	static const char *const validate[] = { "disabled", "check", "strict" };
	static const unsigned offsets[] = { 0, 0, 30, 50 };
	const struct mka_suite *s = mka_suite_by_id(pol->cs);

	if (s == NULL)
		return -1;
	return request(arg, NULL, 0,
		       "set-policy cipher=%s protect=%s validate=%s "
		       "replay-protect=%s replay-window=%" PRIu32
		       " encrypt=%s offset=%u",
		       s->name, pol->protect ? "on" : "off",
		       validate[pol->validate % 3],
		       pol->replay_protect ? "on" : "off", pol->replay_window,
		       pol->conf_offset == MKA_CO_INTEGRITY_ONLY ? "off" : "on",
		       offsets[pol->conf_offset & 3]);
}

static int
ctl_create_rxsc(void *arg, const uint8_t sci[8])
{
	char s[17];

	sci_hex(s, sci);
	return request(arg, NULL, 0, "create-rxsc sci=%s", s);
}

static int
ctl_delete_rxsc(void *arg, const uint8_t sci[8])
{
	char s[17];

	sci_hex(s, sci);
	return request(arg, NULL, 0, "delete-rxsc sci=%s", s);
}

/* " pn=.. key=.. [ssci=.. salt=..]" for install-rxsa / install-txsa. */
static void
sa_args(char *out, size_t cap, const struct mka_sa *sa)
{
	char key[2 * 32 + 1], salt[25];

	hex_encode(key, sa->key, sa->key_len);
	if (sa->xpn) {
		hex_encode(salt, sa->salt, sizeof(sa->salt));
		snprintf(out, cap,
			 "an=%u pn=%" PRIu64 " key=%s ssci=%08" PRIx32
			 " salt=%s",
			 sa->an, sa->pn, key, sa->ssci, salt);
	} else {
		snprintf(out, cap, "an=%u pn=%" PRIu64 " key=%s", sa->an,
			 sa->pn, key);
	}
	secmem_wipe(key, sizeof(key));
}

static int
ctl_install_rxsa(void *arg, const uint8_t sci[8], const struct mka_sa *sa)
{
	char s[17], args[256];
	int rc;

	sci_hex(s, sci);
	sa_args(args, sizeof(args), sa);
	rc = request(arg, NULL, 0, "install-rxsa sci=%s %s", s, args);
	secmem_wipe(args, sizeof(args));
	return rc;
}

static int
ctl_enable_rxsa(void *arg, const uint8_t sci[8], uint8_t an)
{
	char s[17];

	sci_hex(s, sci);
	return request(arg, NULL, 0, "enable-rxsa sci=%s an=%u", s, an);
}

static int
ctl_delete_rxsa(void *arg, const uint8_t sci[8], uint8_t an)
{
	char s[17];

	sci_hex(s, sci);
	return request(arg, NULL, 0, "remove-rxsa sci=%s an=%u", s, an);
}

static int
ctl_install_txsa(void *arg, const struct mka_sa *sa)
{
	char args[256];
	int rc;

	sa_args(args, sizeof(args), sa);
	rc = request(arg, NULL, 0, "install-txsa %s", args);
	secmem_wipe(args, sizeof(args));
	return rc;
}

static int
ctl_enable_txsa(void *arg, uint8_t an)
{
	return request(arg, NULL, 0, "enable-txsa an=%u", an);
}

static int
ctl_delete_txsa(void *arg, uint8_t an)
{
	return request(arg, NULL, 0, "remove-txsa an=%u", an);
}

/* Finds " key=<decimal>" in an answer. */
static int
answer_u64(const char *ans, const char *key, uint64_t *v)
{
	char pat[32];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	if ((p = strstr(ans, pat)) == NULL)
		return -1;
	errno = 0;
	*v = strtoull(p + strlen(pat), NULL, 10);
	return errno == 0 ? 0 : -1;
}

static int
ctl_get_txsa_pn(void *arg, uint8_t an, uint64_t *next_pn)
{
	char ans[CTL_LINE];

	if (request(arg, ans, sizeof(ans), "get-txsa-pn an=%u", an) == -1)
		return -1;
	return answer_u64(ans, "pn", next_pn);
}

static int
ctl_get_rxsa_pn(void *arg, const uint8_t sci[8], uint8_t an, uint64_t *next_pn)
{
	char s[17], ans[CTL_LINE];

	sci_hex(s, sci);
	if (request(arg, ans, sizeof(ans), "get-rxsa-pn sci=%s an=%u", s, an) ==
	    -1)
		return -1;
	return answer_u64(ans, "next-pn", next_pn);
}

static unsigned
ctl_instance(void *arg)
{
	const struct secy_ctl *c = arg;

	return c->conns;
}

const struct mka_secy_ops secy_ctl_ops = {
	.set_policy = ctl_set_policy,
	.create_rxsc = ctl_create_rxsc,
	.delete_rxsc = ctl_delete_rxsc,
	.install_rxsa = ctl_install_rxsa,
	.enable_rxsa = ctl_enable_rxsa,
	.delete_rxsa = ctl_delete_rxsa,
	.install_txsa = ctl_install_txsa,
	.enable_txsa = ctl_enable_txsa,
	.delete_txsa = ctl_delete_txsa,
	.get_txsa_pn = ctl_get_txsa_pn,
	.get_rxsa_pn = ctl_get_rxsa_pn,
	.instance = ctl_instance,
};
