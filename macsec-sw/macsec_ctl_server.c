/*
 * macsec_ctl_server.c — the control socket: a Unix SOCK_STREAM socket, mode 0600, one
 * request line "verb key=value ..." and one response, "ok [key=value ...]"
 * or "err <message>".  `show` and `stats` answer "ok", then text lines,
 * then a line holding a single ".".  macsec-sw(8) is the reference.
 *
 * Requests carry SAKs in hex: lines are wiped once served, and keys are
 * never logged.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "encoding.h"
#include "log.h"
#include "macsec_sw.h"
#include "secmem.h"
#include "unixsock.h"
#include "util.h"

#define CTL_MAX_ARGS 16

struct ctl_req {
	const char *verb;
	size_t n;
	const char *key[CTL_MAX_ARGS];
	const char *val[CTL_MAX_ARGS];
};

struct ctl_client {
	int fd;
	size_t len;
	char buf[CTL_LINE_MAX];
};

struct ctl {
	int lfd;
	char path[CONF_PATH_MAX];
	struct secy *secy;
	const char *name;
	struct ctl_client cl[CTL_MAX_CLIENTS];
};

static const char *
req_get(const struct ctl_req *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return NULL;
}

/* Required/optional argument parsers: each writes "err ..." on failure. */
static int
arg_sci(const struct ctl_req *r, FILE *fp, uint64_t *sci)
{
	const char *v = req_get(r, "sci");

	if (v == NULL || sci_parse(v, sci) == -1) {
		fprintf(fp, "err sci= must be 16 hex digits\n");
		return -1;
	}
	return 0;
}

static int
arg_an(const struct ctl_req *r, FILE *fp, unsigned *an)
{
	const char *v = req_get(r, "an");
	uint64_t n;

	if (v == NULL || cfg_parse_u64(v, 0, MACSEC_AN_COUNT - 1, &n) == -1) {
		fprintf(fp, "err an= must be 0-3\n");
		return -1;
	}
	*an = (unsigned)n;
	return 0;
}

/* The key material of install-rxsa / install-txsa. */
struct sa_args {
	uint64_t pn;
	uint8_t key[MACSEC_KEY_MAX];
	size_t key_len;
	uint32_t ssci;
	bool has_salt;
	uint8_t salt[MACSEC_SALT_LEN];
};

static int
arg_sa(const struct ctl_req *r, FILE *fp, struct sa_args *a)
{
	const char *pn = req_get(r, "pn"), *key = req_get(r, "key");
	const char *ssci = req_get(r, "ssci"), *salt = req_get(r, "salt");
	uint8_t b[MACSEC_SSCI_LEN];
	int n;

	memset(a, 0, sizeof(*a));
	if (pn == NULL || cfg_parse_u64(pn, 1, UINT64_MAX, &a->pn) == -1) {
		fprintf(fp, "err pn= must be a decimal number >= 1\n");
		return -1;
	}
	if (key == NULL ||
	    (n = hex_decode(a->key, sizeof(a->key), key, strlen(key))) == -1 ||
	    n == 0) {
		fprintf(fp, "err key= must be 16 or 32 octets in hex\n");
		return -1;
	}
	a->key_len = (size_t)n;
	if (ssci != NULL) {
		if (strlen(ssci) != 2 * MACSEC_SSCI_LEN ||
		    hex_decode(b, sizeof(b), ssci, strlen(ssci)) !=
			MACSEC_SSCI_LEN) {
			fprintf(fp, "err ssci= must be 8 hex digits\n");
			return -1;
		}
		a->ssci = load_be32(b);
	}
	if (salt != NULL) {
		if (strlen(salt) != 2 * MACSEC_SALT_LEN ||
		    hex_decode(a->salt, sizeof(a->salt), salt, strlen(salt)) !=
			MACSEC_SALT_LEN) {
			fprintf(fp, "err salt= must be 24 hex digits\n");
			return -1;
		}
		a->has_salt = true;
	}
	if ((ssci == NULL) != (salt == NULL)) {
		fprintf(fp, "err ssci= and salt= go together\n");
		return -1;
	}
	return 0;
}

static int
reply(struct secy *secy, FILE *fp, int rc)
{
	if (rc == -1)
		fprintf(fp, "err %s\n", secy_error(secy));
	else
		fprintf(fp, "ok\n");
	return rc;
}

/*
 * The arguments a verb's row in verbs[] asks for, parsed in this order
 * before the verb runs; the first bad one is the answer.
 */
enum {
	ARG_SCI = 1,
	ARG_AN = 2,
	ARG_SA = 4
};

struct ctl_args {
	uint64_t sci;
	unsigned an;
	struct sa_args sa;
};

static int
args_parse(const struct ctl_req *r, unsigned need, FILE *fp, struct ctl_args *a)
{
	if ((need & ARG_SCI) && arg_sci(r, fp, &a->sci) == -1)
		return -1;
	if ((need & ARG_AN) && arg_an(r, fp, &a->an) == -1)
		return -1;
	if ((need & ARG_SA) && arg_sa(r, fp, &a->sa) == -1)
		return -1;
	return 0;
}

/* The SC and SA changes: the SecY's answer is the whole reply. */
enum ctl_change {
	CHG_NONE,
	CHG_CREATE_RXSC,
	CHG_DELETE_RXSC,
	CHG_INSTALL_RXSA,
	CHG_INSTALL_TXSA,
	CHG_ENABLE_RXSA,
	CHG_DISABLE_RXSA,
	CHG_REMOVE_RXSA,
	CHG_ENABLE_TXSA,
	CHG_REMOVE_TXSA,
};

static int
change(struct secy *secy, enum ctl_change c, const struct ctl_args *a)
{
	const struct sa_args *sa = &a->sa;
	const uint8_t *salt = sa->has_salt ? sa->salt : NULL;

	switch (c) {
	case CHG_CREATE_RXSC:
		return secy_rxsc_create(secy, a->sci);
	case CHG_DELETE_RXSC:
		return secy_rxsc_delete(secy, a->sci);
	case CHG_INSTALL_RXSA:
		return secy_rxsa_install(secy, a->sci, a->an, sa->pn, sa->key,
					 sa->key_len, sa->ssci, salt);
	case CHG_INSTALL_TXSA:
		return secy_txsa_install(secy, a->an, sa->pn, sa->key,
					 sa->key_len, sa->ssci, salt);
	case CHG_ENABLE_RXSA:
	case CHG_DISABLE_RXSA:
		return secy_rxsa_enable(secy, a->sci, a->an,
					c == CHG_ENABLE_RXSA);
	case CHG_REMOVE_RXSA:
		return secy_rxsa_remove(secy, a->sci, a->an);
	case CHG_ENABLE_TXSA:
		return secy_txsa_enable(secy, a->an);
	case CHG_REMOVE_TXSA:
		return secy_txsa_remove(secy, a->an);
	case CHG_NONE:
		break;
	}
	return -1;
}

static int
do_get_txsa_pn(struct secy *secy, const struct ctl_req *r,
	       const struct ctl_args *a, FILE *fp)
{
	uint64_t pn;
	bool exhausted;

	(void)r;
	if (secy_txsa_get_pn(secy, a->an, &pn, &exhausted) == -1)
		return reply(secy, fp, -1);
	fprintf(fp, "ok an=%u pn=%" PRIu64 " exhausted=%s\n", a->an, pn,
		exhausted ? "yes" : "no");
	return 0;
}

static int
do_get_rxsa_pn(struct secy *secy, const struct ctl_req *r,
	       const struct ctl_args *a, FILE *fp)
{
	uint64_t lowest, next;

	(void)r;
	if (secy_rxsa_get_pn(secy, a->sci, a->an, &lowest, &next) == -1)
		return reply(secy, fp, -1);
	fprintf(fp, "ok an=%u pn=%" PRIu64 " next-pn=%" PRIu64 "\n", a->an,
		lowest, next);
	return 0;
}

static int
do_set_policy(struct secy *secy, const struct ctl_req *r,
	      const struct ctl_args *a, FILE *fp)
{
	struct secy_policy pol;
	char err[160];
	size_t i;

	(void)a;
	secy_get_policy(secy, &pol);
	for (i = 0; i < r->n; i++) {
		if (conf_policy_kv(&pol, r->key[i], r->val[i], err,
				   sizeof(err)) != 0) {
			fprintf(fp, "err %s\n", err);
			return -1;
		}
	}
	return reply(secy, fp, secy_set_policy(secy, &pol));
}

static int
do_get_sci(struct secy *secy, const struct ctl_req *r, const struct ctl_args *a,
	   FILE *fp)
{
	char s[2 * MACSEC_SCI_LEN + 1];

	(void)r;
	(void)a;
	sci_format(s, secy_tx_sci(secy));
	fprintf(fp, "ok sci=%s\n", s);
	return 0;
}

static const struct {
	const char *verb;
	const char *keys; /* accepted keys, space separated */
	unsigned args; /* ARG_*: parsed before the verb runs */
	enum ctl_change chg;
	/* The verbs that are no change (stats and show are neither). */
	int (*fn)(struct secy *, const struct ctl_req *,
		  const struct ctl_args *, FILE *);
} verbs[] = {
	{ "create-rxsc", "sci", ARG_SCI, CHG_CREATE_RXSC, NULL },
	{ "delete-rxsc", "sci", ARG_SCI, CHG_DELETE_RXSC, NULL },
	{ "install-rxsa", "sci an pn key ssci salt", ARG_SCI | ARG_AN | ARG_SA,
	  CHG_INSTALL_RXSA, NULL },
	{ "install-txsa", "an pn key ssci salt", ARG_AN | ARG_SA,
	  CHG_INSTALL_TXSA, NULL },
	{ "enable-rxsa", "sci an", ARG_SCI | ARG_AN, CHG_ENABLE_RXSA, NULL },
	{ "disable-rxsa", "sci an", ARG_SCI | ARG_AN, CHG_DISABLE_RXSA, NULL },
	{ "remove-rxsa", "sci an", ARG_SCI | ARG_AN, CHG_REMOVE_RXSA, NULL },
	{ "enable-txsa", "an", ARG_AN, CHG_ENABLE_TXSA, NULL },
	{ "remove-txsa", "an", ARG_AN, CHG_REMOVE_TXSA, NULL },
	{ "get-txsa-pn", "an", ARG_AN, CHG_NONE, do_get_txsa_pn },
	{ "get-rxsa-pn", "sci an", ARG_SCI | ARG_AN, CHG_NONE, do_get_rxsa_pn },
	{ "set-policy",
	  "cipher protect validate replay-protect replay-window "
	  "offset encrypt include-sci es",
	  0, CHG_NONE, do_set_policy },
	{ "get-sci", "", 0, CHG_NONE, do_get_sci },
	{ "stats", "", 0, CHG_NONE, NULL },
	{ "show", "", 0, CHG_NONE, NULL },
	{ "show-json", "", 0, CHG_NONE, NULL },
};

static bool
key_allowed(const char *keys, const char *key)
{
	size_t n = strlen(key);
	const char *p = keys;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == keys || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

/* Splits "verb k=v k=v" in place; -1 with a message on a bad shape. */
static int
req_parse(char *line, struct ctl_req *r, FILE *fp)
{
	char *save = NULL, *tok, *eq;
	size_t i;

	memset(r, 0, sizeof(*r));
	if ((r->verb = strtok_r(line, " \t\r", &save)) == NULL) {
		fprintf(fp, "err empty request\n");
		return -1;
	}
	while ((tok = strtok_r(NULL, " \t\r", &save)) != NULL) {
		if ((eq = strchr(tok, '=')) == NULL || eq == tok) {
			fprintf(fp, "err arguments are key=value\n");
			return -1;
		}
		if (r->n == CTL_MAX_ARGS) {
			fprintf(fp, "err too many arguments\n");
			return -1;
		}
		*eq = '\0';
		for (i = 0; i < r->n; i++) {
			if (strcmp(r->key[i], tok) == 0) {
				fprintf(fp, "err %s= given twice\n", tok);
				return -1;
			}
		}
		r->key[r->n] = tok;
		r->val[r->n++] = eq + 1;
	}
	return 0;
}

/* A request's argument, or "" (never used for key=). */
static const char *
req_arg(const struct ctl_req *r, const char *key)
{
	const char *v = req_get(r, key);

	return v != NULL ? v : "";
}

/* SA and SC changes as structured events: names and numbers, no key. */
static void
ctl_log_change(const struct ctl_req *r, const char *name)
{
	if (strncmp(r->verb, "install-", 8) != 0 &&
	    strncmp(r->verb, "enable-", 7) != 0 &&
	    strncmp(r->verb, "disable-", 8) != 0 &&
	    strncmp(r->verb, "remove-", 7) != 0 &&
	    strncmp(r->verb, "create-", 7) != 0 &&
	    strncmp(r->verb, "delete-", 7) != 0)
		return;
	static const char *const keys[] = { "sci", "an", "pn" };
	struct log_field f[1 + ARRAY_LEN(keys)] = { LOG_S("port", name) };
	size_t n = 1;

	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (req_arg(r, keys[i])[0] != '\0')
			f[n++] = LOG_S(keys[i], req_arg(r, keys[i]));
	log_event(LOG_LVL_INFO, r->verb, f, n, "%s: %s%s%s%s%s", name, r->verb,
		  req_arg(r, "sci")[0] != '\0' ? " sci " : "",
		  req_arg(r, "sci"), req_arg(r, "an")[0] != '\0' ? " an " : "",
		  req_arg(r, "an"));
}

int
ctl_exec(struct secy *secy, const char *name, char *line, FILE *fp)
{
	int rc;

	struct ctl_req r;
	size_t v, i;

	if (req_parse(line, &r, fp) == -1)
		return -1;
	for (v = 0; v < ARRAY_LEN(verbs); v++)
		if (strcmp(verbs[v].verb, r.verb) == 0)
			break;
	if (v == ARRAY_LEN(verbs)) {
		fprintf(fp, "err unknown request '%.40s'\n", r.verb);
		return -1;
	}
	for (i = 0; i < r.n; i++) {
		if (!key_allowed(verbs[v].keys, r.key[i])) {
			fprintf(fp, "err %s does not take %.40s=\n", r.verb,
				r.key[i]);
			return -1;
		}
	}
	if (verbs[v].fn != NULL || verbs[v].chg != CHG_NONE) {
		struct ctl_args a = { 0 };

		if (args_parse(&r, verbs[v].args, fp, &a) == -1)
			rc = -1;
		else if (verbs[v].fn != NULL)
			rc = verbs[v].fn(secy, &r, &a, fp);
		else
			rc = reply(secy, fp, change(secy, verbs[v].chg, &a));
		secmem_wipe(&a, sizeof(a));
		if (rc == 0)
			ctl_log_change(&r, name);
		return rc;
	}
	fprintf(fp, "ok\n");
	if (strcmp(r.verb, "show") == 0) {
		show_secy(secy, name, fp);
	} else if (strcmp(r.verb, "show-json") == 0) {
		char *s = export_json(secy, name);

		fprintf(fp, "%s\n", s != NULL ? s : "null");
		free(s);
	} else
		show_stats(secy, fp);
	fprintf(fp, ".\n");
	return 0;
}

struct ctl *
ctl_new(const char *path, struct secy *secy, const char *name)
{
	struct ctl *ctl;
	size_t i;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return NULL;
	ctl->lfd = -1;
	ctl->secy = secy;
	ctl->name = name;
	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		ctl->cl[i].fd = -1;
	if (str_copy(ctl->path, sizeof(ctl->path), path) == -1) {
		log_warnx("control socket path too long: %s", path);
		goto err;
	}
	/* born 0600: keys travel on this socket */
	if ((ctl->lfd = unixsock_listen(path, 0600, 8, "macsec-sw")) == -1)
		goto err;
	return ctl;
err:
	ctl->path[0] = '\0'; /* not ours to unlink */
	ctl_free(ctl);
	return NULL;
}

static void
client_close(struct ctl_client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	secmem_wipe(c->buf, sizeof(c->buf));
	c->len = 0;
}

void
ctl_free(struct ctl *ctl)
{
	size_t i;

	if (ctl == NULL)
		return;
	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		client_close(&ctl->cl[i]);
	if (ctl->lfd != -1)
		close(ctl->lfd);
	if (ctl->path[0] != '\0')
		unlink(ctl->path);
	free(ctl);
}

size_t
ctl_pollfds(struct ctl *ctl, struct pollfd *pfd, size_t max)
{
	size_t i, n = 0;

	if (max < 1 + CTL_MAX_CLIENTS)
		return 0;
	pfd[n].fd = ctl->lfd;
	pfd[n++].events = POLLIN;
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		pfd[n].fd = ctl->cl[i].fd; /* -1 is ignored by poll() */
		pfd[n++].events = POLLIN;
	}
	return n;
}

static void
ctl_accept(struct ctl *ctl)
{
	struct timeval tmo = { .tv_sec = 1, .tv_usec = 0 };
	size_t i;
	int fd;

	if ((fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control accept");
		return;
	}
	/* A client that stops reading must not stall the data path long. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (ctl->cl[i].fd == -1) {
			ctl->cl[i].fd = fd;
			ctl->cl[i].len = 0;
			return;
		}
	}
	log_warnx("control socket: more than %d clients, refusing one",
		  CTL_MAX_CLIENTS);
	close(fd);
}

/* Writes the whole response; the peer is local, so a blocking write. */
static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Serves every complete line in the client's buffer. */
static int
client_serve(struct ctl *ctl, struct ctl_client *c)
{
	char *nl, *resp = NULL;
	size_t rlen = 0, used;
	FILE *fp;
	int rc = 0;

	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		*nl = '\0';
		used = (size_t)(nl - c->buf) + 1;
		if ((fp = open_memstream(&resp, &rlen)) == NULL)
			return -1;
		if (memchr(c->buf, '\0', used - 1) != NULL)
			fprintf(fp, "err NUL in request\n");
		else
			ctl_exec(ctl->secy, ctl->name, c->buf, fp);
		fclose(fp);
		if (write_all(c->fd, resp, rlen) == -1)
			rc = -1;
		free(resp);
		resp = NULL;
		secmem_wipe(c->buf, used);
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		secmem_wipe(c->buf + c->len, used); /* the moved-from tail */
		if (rc == -1)
			break;
	}
	return rc;
}

static void
client_read(struct ctl *ctl, struct ctl_client *c)
{
	ssize_t n;

	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n <= 0) {
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	if (client_serve(ctl, c) == -1) {
		client_close(c);
		return;
	}
	if (c->len == sizeof(c->buf)) {
		write_all(c->fd, "err request line too long\n", 26);
		client_close(c);
	}
}

void
ctl_dispatch(struct ctl *ctl, const struct pollfd *pfd, size_t n)
{
	size_t i;

	if (n < 1 + CTL_MAX_CLIENTS)
		return;
	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		if (ctl->cl[i].fd != -1 && pfd[1 + i].fd == ctl->cl[i].fd &&
		    (pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
			client_read(ctl, &ctl->cl[i]);
	if (pfd[0].revents & POLLIN)
		ctl_accept(ctl);
}
