/*
 * http_req.c — in-place split of an HTTP/1.1 request head (RFC 9112).
 *
 * Parse: the request line (RFC 9112 3), then one field line at a time
 * (RFC 9112 5); validate: token method, a target without controls or
 * spaces, version HTTP/1.x, field names of tchar; then derive the
 * connection's persistence from the version and Connection (RFC 9112
 * 9.3).
 */
#include "http_req.h"

#include "encoding.h"
#include "http_hdr.h"

#include <string.h>
#include <strings.h>

/* The line at p, without its CRLF or LF; NULL if none ends before end. */
static char *
req_line(char *p, char *end, size_t *len, char **next)
{
	char *nl = memchr(p, '\n', (size_t)(end - p));

	if (nl == NULL)
		return NULL;
	*next = nl + 1;
	*len = (size_t)(nl - p);
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	/* RFC 9112 2.2: a bare CR is not a line ending here. */
	if (memchr(p, '\r', *len) != NULL)
		return NULL;
	return p;
}

/* RFC 9112 3: method SP request-target SP HTTP-version. */
static int
req_request_line(struct http_req *r, char *l, size_t len)
{
	char *sp1 = memchr(l, ' ', len), *sp2, *ver, *q;
	size_t vlen;

	if (sp1 == NULL || sp1 == l)
		return -1;
	for (char *p = l; p < sp1; p++)
		if (!http_tchar((unsigned char)*p))
			return -1;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - l));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return -1;
	for (char *p = sp1 + 1; p < sp2; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p == 0x7f)
			return -1;
	ver = sp2 + 1;
	vlen = len - (size_t)(ver - l);
	if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || ver[7] < '0' ||
	    ver[7] > '9')
		return -1;
	r->minor = ver[7] - '0';
	*sp1 = '\0';
	*sp2 = '\0';
	r->method = l;
	r->target = sp1 + 1;
	q = memchr(r->target, '?', (size_t)(sp2 - r->target));
	r->path_len = q ? (size_t)(q - r->target) : (size_t)(sp2 - r->target);
	if (q != NULL) {
		r->query = q + 1;
		r->query_len = (size_t)(sp2 - q - 1);
	}
	r->head = strcmp(r->method, "HEAD") == 0;
	return 0;
}

/* RFC 9112 5: field-name ":" OWS field-value OWS. */
static int
req_field(struct http_req *r, char *l, size_t len)
{
	char *colon = memchr(l, ':', len), *v, *end = l + len;

	if (r->nfields == HTTP_REQ_FIELDS)
		return -2;
	if (colon == NULL || colon == l)
		return -1;
	for (char *p = l; p < colon; p++)
		if (!http_tchar((unsigned char)*p))
			return -1; /* also obs-fold and space before ':' */
	for (v = colon + 1; v < end; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') ||
		    (unsigned char)*v == 0x7f)
			return -1;
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*colon = '\0';
	*end = '\0'; /* over OWS, CR or LF: inside the head */
	r->fields[r->nfields].name = l;
	r->fields[r->nfields].value = v;
	r->fields[r->nfields].value_len = (size_t)(end - v);
	r->nfields++;
	return 0;
}

/* Whether a Connection field lists option (RFC 9110 7.6.1). */
static bool
req_conn_has(const struct http_req *r, const char *option)
{
	size_t olen = strlen(option);

	for (size_t i = 0; i < r->nfields; i++) {
		const char *p = r->fields[i].value;

		if (strcasecmp(r->fields[i].name, "Connection") != 0)
			continue;
		while (*p != '\0') {
			const char *e;
			size_t n;

			while (*p == ' ' || *p == '\t' || *p == ',')
				p++;
			e = p;
			while (*e != '\0' && *e != ',')
				e++;
			n = (size_t)(e - p);
			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			if (n == olen && strncasecmp(p, option, n) == 0)
				return true;
			p = e;
		}
	}
	return false;
}

int
http_req_parse(struct http_req *r, char *head, size_t len)
{
	char *p = head, *end = head + len, *l, *next;
	size_t llen;
	bool first = true;
	int rc;

	memset(r, 0, sizeof(*r));
	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	for (;;) {
		l = req_line(p, end, &llen, &next);
		if (l == NULL || memchr(l, '\0', llen) != NULL)
			return -1;
		if (llen == 0)
			break; /* the empty line that ends the head */
		rc = first ? req_request_line(r, l, llen)
			   : req_field(r, l, llen);
		if (rc < 0)
			return rc;
		first = false;
		p = next;
	}
	if (first)
		return -1;
	/* RFC 9112 9.3: close wins; 1.1 persists; 1.0 only on keep-alive. */
	if (req_conn_has(r, "close"))
		r->keep_alive = false;
	else
		r->keep_alive = r->minor >= 1 || req_conn_has(r, "keep-alive");
	return 0;
}

const char *
http_req_field(const struct http_req *r, const char *name)
{
	for (size_t i = 0; i < r->nfields; i++)
		if (strcasecmp(r->fields[i].name, name) == 0)
			return r->fields[i].value;
	return NULL;
}

int
http_req_query_arg(const struct http_req *r, const char *name, char *out,
		   size_t cap)
{
	const char *p = r->query, *end;
	char arg[256]; /* an argument's decoded name */

	if (r->query == NULL)
		return -1;
	end = r->query + r->query_len;
	/* RFC 3986 3.4 with form conventions: name[=value] joined by '&'. */
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		const char *ke = eq ? eq : e;
		int alen = pct_decode(arg, sizeof(arg), p, (size_t)(ke - p));

		/* Decoding only shrinks: -1 on a name that fit is a bad escape. */
		if (alen == -1 && (size_t)(ke - p) < sizeof(arg))
			return -2;
		if (alen >= 0 && strcmp(arg, name) == 0) {
			int v = eq ? pct_decode(out, cap, eq + 1,
						(size_t)(e - eq - 1))
				   : pct_decode(out, cap, "", 0);

			return v < 0 ? -2 : v;
		}
		p = amp ? amp + 1 : end;
	}
	return -1;
}
