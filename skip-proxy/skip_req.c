/*
 * skip_req.c — SKIP request-target parsing: method + "/path?query" into a
 * struct skip_req, with the status the draft gives for each failure.
 *
 * A pure function of its inputs (no daemon state), so it is unit-tested and
 * fuzzed (fuzz/fuzz_skip_req.c).  We parse the raw target ourselves instead
 * of taking libmicrohttpd's decoded arguments so that duplicates, unknown
 * parameters and bad escapes are all seen and refused.
 */
#include "skip.h"

#include "encoding.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SKIP_MAX_PARAMS 2

/* draft-cisco-skip-02 Table 2: the only resources, all GET. */
struct skip_route_def {
	enum skip_route route;
	const char *path; /* exact path; prefix when has_id */
	bool has_id; /* "/key/{keyId}" */
	const char *params[SKIP_MAX_PARAMS];
};

static const struct skip_route_def skip_routes[] = {
	{ SKIP_R_CAPABILITIES, "/capabilities", false, { NULL, NULL } },
	{ SKIP_R_KEY_NEW, "/key", false, { "remoteSystemID", "size" } },
	{ SKIP_R_KEY_GET, "/key/", true, { "remoteSystemID", NULL } },
	{ SKIP_R_ENTROPY, "/entropy", false, { "minentropy", NULL } },
};

static const char *const skip_route_names[SKIP_R_COUNT] = {
	[SKIP_R_NONE] = "other",      [SKIP_R_CAPABILITIES] = "capabilities",
	[SKIP_R_KEY_NEW] = "key",     [SKIP_R_KEY_GET] = "key_by_id",
	[SKIP_R_ENTROPY] = "entropy",
};

const char *
skip_route_name(enum skip_route r)
{
	return (unsigned)r < SKIP_R_COUNT ? skip_route_names[r] : "other";
}

static void skip_err_set(struct skip_err *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
skip_err_set(struct skip_err *err, int status, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void
skip_printable(char *out, size_t cap, const char *in, size_t len)
{
	/* Escaped (\xNN), so that what was sent can be told from the message,
	 * and bounded: at most a quarter of the room, as each octet may take
	 * four. */
	str_quote(out, cap, in, len, cap > 8 ? (cap - 4) / 4 : 1);
}

/* Strict decimal: digits only, at most 9 of them. */
static int
skip_parse_uint(const char *s, unsigned *out)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* An ID: 1..SKIP_ID_MAX octets of UTF-8 (RFC 3629), no control character. */
static bool
skip_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SKIP_ID_MAX || !utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

static const struct skip_route_def *
skip_route_find(const char *path, size_t len)
{
	for (size_t i = 0; i < sizeof(skip_routes) / sizeof(*skip_routes);
	     i++) {
		const struct skip_route_def *d = &skip_routes[i];
		size_t pl = strlen(d->path);

		if (!d->has_id) {
			if (len == pl && memcmp(path, d->path, len) == 0)
				return d;
		} else if (len >= pl && memcmp(path, d->path, pl) == 0 &&
			   memchr(path + pl, '/', len - pl) == NULL) {
			return d;
		}
	}
	return NULL;
}

/* The keyId path segment: even-length hex of either case (draft 4.2). */
static int
skip_parse_key_id(const char *seg, size_t len, struct skip_req *req,
		  struct skip_err *err)
{
	char q[80];
	int n;

	if (len == 0) {
		skip_err_set(err, 400, "missing keyId in /key/{keyId}");
		return -1;
	}
	n = len <= 2 * SKIP_KEYID_MAX
		? hex_decode(req->key_id, sizeof(req->key_id), seg, len)
		: -1;
	if (n <= 0) {
		skip_printable(q, sizeof(q), seg, len);
		skip_err_set(err, 400,
			     "malformed keyId '%s': expected an even "
			     "number of hex digits (at most %d)",
			     q, 2 * SKIP_KEYID_MAX);
		return -1;
	}
	req->key_id_len = (size_t)n;
	return 0;
}

struct skip_param {
	const char *name;
	char value[SKIP_ID_MAX + 1];
	bool seen;
};

/* Splits the query into the route's allowed parameters. */
static int
skip_parse_query(const struct skip_route_def *d, const char *q, size_t qlen,
		 struct skip_param *params, struct skip_err *err)
{
	char name[64], quoted[80];
	size_t off = 0;

	while (off < qlen) {
		const char *seg = q + off, *amp = memchr(seg, '&', qlen - off);
		size_t slen = amp ? (size_t)(amp - seg) : qlen - off;
		const char *eq = memchr(seg, '=', slen);
		size_t nlen = eq ? (size_t)(eq - seg) : slen;
		struct skip_param *p = NULL;

		off += slen + (amp != NULL);
		if (slen == 0)
			continue;
		if (pct_decode(name, sizeof(name), seg, nlen) == -1) {
			skip_printable(quoted, sizeof(quoted), seg, nlen);
			skip_err_set(err, 400, "bad query parameter name '%s'",
				     quoted);
			return -1;
		}
		/* Parameter names are case-sensitive as the draft writes them. */
		for (size_t i = 0; i < SKIP_MAX_PARAMS && d->params[i]; i++)
			if (strcmp(name, d->params[i]) == 0)
				p = &params[i];
		skip_printable(quoted, sizeof(quoted), name, strlen(name));
		if (p == NULL) {
			skip_err_set(err, 400,
				     "unknown query parameter '%s' for %s",
				     quoted, d->path);
			return -1;
		}
		if (p->seen) {
			skip_err_set(err, 400,
				     "query parameter '%s' given twice",
				     quoted);
			return -1;
		}
		p->seen = true;
		if (eq == NULL || pct_decode(p->value, sizeof(p->value), eq + 1,
					     slen - nlen - 1) == -1) {
			skip_err_set(err, 400,
				     "query parameter '%s' has a missing, "
				     "malformed or too long value",
				     quoted);
			return -1;
		}
	}
	return 0;
}

static int
skip_check_remote(const struct skip_param *p, struct skip_req *req,
		  struct skip_err *err)
{
	if (!p->seen) {
		skip_err_set(err, 400, "remoteSystemID is required");
		return -1;
	}
	if (!skip_id_valid(p->value)) {
		skip_err_set(err, 400,
			     "remoteSystemID must be 1..%d printable "
			     "characters of UTF-8",
			     SKIP_ID_MAX);
		return -1;
	}
	memcpy(req->remote, p->value, sizeof(req->remote));
	req->has_remote = true;
	return 0;
}

/* Sizes in bits (draft 4.2): multiples of 8, 128 minimum, configured max. */
static int
skip_check_size(const struct skip_param *p, const struct skip_limits *lim,
		struct skip_req *req, struct skip_err *err)
{
	char q[40];
	unsigned v;

	req->size_bits = lim->key_size_default;
	if (!p->seen)
		return 0;
	skip_printable(q, sizeof(q), p->value, strlen(p->value));
	if (skip_parse_uint(p->value, &v) == -1 || v % 8 != 0 || v < 128 ||
	    v > lim->key_size_max) {
		skip_err_set(err, 400,
			     "bad size '%s': a multiple of 8 from 128 "
			     "to %u bits",
			     q, lim->key_size_max);
		return -1;
	}
	req->size_bits = v;
	return 0;
}

static int
skip_check_entropy(const struct skip_param *p, const struct skip_limits *lim,
		   struct skip_req *req, struct skip_err *err)
{
	char q[40];
	unsigned v;

	req->entropy_bits = lim->entropy_default;
	if (!p->seen)
		return 0;
	skip_printable(q, sizeof(q), p->value, strlen(p->value));
	if (skip_parse_uint(p->value, &v) == -1 || v % 8 != 0 || v < 8 ||
	    v > lim->entropy_max) {
		skip_err_set(err, 400,
			     "bad minentropy '%s': a multiple of 8 from "
			     "8 to %u bits",
			     q, lim->entropy_max);
		return -1;
	}
	req->entropy_bits = v;
	return 0;
}

int
skip_req_parse(const char *method, const char *target,
	       const struct skip_limits *lim, struct skip_req *req,
	       struct skip_err *err)
{
	struct skip_param params[SKIP_MAX_PARAMS];
	const struct skip_route_def *d;
	const char *qm;
	size_t tlen, plen;

	memset(req, 0, sizeof(*req));
	memset(params, 0, sizeof(params));
	tlen = strnlen(target, SKIP_TARGET_MAX + 1);
	if (tlen > SKIP_TARGET_MAX) {
		skip_err_set(err, 400,
			     "request target longer than %d characters",
			     SKIP_TARGET_MAX);
		return -1;
	}
	qm = memchr(target, '?', tlen);
	plen = qm ? (size_t)(qm - target) : tlen;

	/* draft Table 3: 404 for any other path, then 405 for any other method. */
	d = skip_route_find(target, plen);
	if (d == NULL) {
		skip_err_set(err, 404,
			     "no such resource; SKIP serves /capabilities, "
			     "/key, /key/{keyId} and /entropy");
		return -1;
	}
	req->route = d->route;
	if (strcmp(method, "GET") != 0) {
		skip_err_set(err, 405, "only GET is supported");
		return -1;
	}
	if (d->has_id &&
	    skip_parse_key_id(target + strlen(d->path), plen - strlen(d->path),
			      req, err) == -1)
		return -1;
	if (qm != NULL &&
	    skip_parse_query(d, qm + 1, tlen - plen - 1, params, err) == -1)
		return -1;

	switch (d->route) {
	case SKIP_R_KEY_NEW:
		if (skip_check_remote(&params[0], req, err) == -1 ||
		    skip_check_size(&params[1], lim, req, err) == -1)
			return -1;
		break;
	case SKIP_R_KEY_GET:
		if (skip_check_remote(&params[0], req, err) == -1)
			return -1;
		break;
	case SKIP_R_ENTROPY:
		if (skip_check_entropy(&params[0], lim, req, err) == -1)
			return -1;
		break;
	default:
		break;
	}
	return 0;
}

bool
skip_remote_allowed(const char (*patterns)[SKIP_ID_MAX + 1], size_t n,
		    const char *id)
{
	/* draft 4.1: entries may be POSIX globs: * ? [list] [!list]. */
	for (size_t i = 0; i < n; i++)
		if (fnmatch(patterns[i], id, 0) == 0)
			return true;
	return false;
}
