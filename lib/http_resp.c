/*
 * http_resp.c — incremental HTTP/1.1 response parsing (RFC 9112).
 *
 * Lines (status line, fields, chunk sizes, trailers) are taken in place
 * when a read holds them whole and gathered in line[] otherwise; body
 * octets go straight to the secmem body.  A field is interpreted only
 * when the next line shows it is not continued by an obs-fold.
 */
#include "http_resp.h"

#include "encoding.h"
#include "secmem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK_LINE_MAX 256 /* chunk size and extensions */

enum {
	ST_STATUS,
	ST_FIELD,
	ST_BODY_LEN, /* Content-Length octets left */
	ST_BODY_CLOSE, /* up to the end of the connection */
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_CR,
	ST_CHUNK_LF,
	ST_TRAILER,
	ST_DONE,
	ST_BAD,
	ST_TOO_LARGE,
};

void
http_resp_init(struct http_resp *p, size_t body_max)
{
	p->status = 0;
	p->keep_alive = false;
	p->body = NULL;
	p->len = p->cap = 0;
	p->why = NULL;
	p->body_max = body_max;
	p->state = ST_STATUS;
	p->minor = 1;
	p->head_used = 0;
	p->left = p->cl = 0;
	p->has_cl = p->has_te = p->conn_close = p->conn_keep_alive = false;
	p->field_open = false;
	p->line_len = p->field_len = 0;
}

void
http_resp_clear(struct http_resp *p)
{
	secmem_free(p->body);
	p->body = NULL;
	p->len = p->cap = 0;
}

static enum http_resp_rc
bad(struct http_resp *p, const char *why)
{
	p->state = ST_BAD;
	p->why = why;
	return HTTP_RESP_BAD;
}

static enum http_resp_rc
too_large(struct http_resp *p)
{
	p->state = ST_TOO_LARGE;
	p->why = "body too large";
	return HTTP_RESP_TOO_LARGE;
}

static bool
is_tchar(unsigned char c)
{
	/* RFC 9110 5.6.2 token characters */
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims OWS from both ends of s[0..*n). */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && is_ows(s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && is_ows(s[*n - 1]))
		(*n)--;
	return s;
}

/*
 * Calls fn on each element of a comma-separated list (RFC 9110 5.6.1),
 * trimmed; empty elements are skipped as the RFC asks of recipients.
 */
static int
each_element(struct http_resp *p, const char *v, size_t n,
	     int (*fn)(struct http_resp *, const char *, size_t))
{
	while (n > 0) {
		const char *comma = memchr(v, ',', n);
		size_t len = comma != NULL ? (size_t)(comma - v) : n;
		size_t elen = len;
		const char *e = trim(v, &elen);

		if (elen > 0 && fn(p, e, elen) == -1)
			return -1;
		if (comma == NULL)
			break;
		v += len + 1;
		n -= len + 1;
	}
	return 0;
}

static bool
token_is(const char *e, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(e, word, n) == 0;
}

/* RFC 9110 8.6: 1*DIGIT; every value given must be the same. */
static int
content_length(struct http_resp *p, const char *e, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (e[i] < '0' || e[i] > '9' || v > (UINT64_MAX - 9) / 10) {
			bad(p, "malformed Content-Length");
			return -1;
		}
		v = v * 10 + (uint64_t)(e[i] - '0');
	}
	if (p->has_cl && p->cl != v) {
		bad(p, "conflicting Content-Length values");
		return -1;
	}
	p->has_cl = true;
	p->cl = v;
	return 0;
}

/*
 * RFC 9112 6.1: chunked must be the final coding and applied once.  No
 * other coding is decoded here, so "chunked" is the only list accepted.
 */
static int
transfer_coding(struct http_resp *p, const char *e, size_t n)
{
	if (p->has_te || !token_is(e, n, "chunked")) {
		bad(p, "unsupported Transfer-Encoding");
		return -1;
	}
	p->has_te = true;
	return 0;
}

static int
connection_option(struct http_resp *p, const char *e, size_t n)
{
	if (token_is(e, n, "close"))
		p->conn_close = true;
	else if (token_is(e, n, "keep-alive"))
		p->conn_keep_alive = true;
	return 0;
}

/* Interprets the field held in field[], its obs-folds joined. */
static int
field_commit(struct http_resp *p)
{
	const char *f = p->field, *colon;
	size_t n = p->field_len, vlen;
	const char *v;

	if (!p->field_open)
		return 0;
	p->field_open = false;
	colon = memchr(f, ':', n);
	v = colon + 1;
	vlen = n - (size_t)(v - f);
	v = trim(v, &vlen);
	if (token_is(f, (size_t)(colon - f), "content-length")) {
		if (vlen == 0) {
			bad(p, "malformed Content-Length");
			return -1;
		}
		return each_element(p, v, vlen, content_length);
	}
	if (token_is(f, (size_t)(colon - f), "transfer-encoding")) {
		if (vlen == 0) {
			bad(p, "unsupported Transfer-Encoding");
			return -1;
		}
		return each_element(p, v, vlen, transfer_coding);
	}
	if (token_is(f, (size_t)(colon - f), "connection"))
		return each_element(p, v, vlen, connection_option);
	return 0;
}

/* "HTTP/1.x SP 3DIGIT [SP reason]" (RFC 9112 4); the name is case-
 * sensitive. */
static int
status_line(struct http_resp *p, const char *s, size_t n)
{
	int status = 0;

	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' ||
	    s[7] > '9' || s[8] != ' ' || (n > 12 && s[12] != ' ')) {
		bad(p, "malformed status line");
		return -1;
	}
	for (int i = 9; i < 12; i++) {
		if (s[i] < '0' || s[i] > '9') {
			bad(p, "malformed status line");
			return -1;
		}
		status = status * 10 + (s[i] - '0');
	}
	if (status < 100 || status > 599) {
		bad(p, "malformed status line");
		return -1;
	}
	/* No protocol switch was asked for. */
	if (status == 101) {
		bad(p, "unexpected 101 Switching Protocols");
		return -1;
	}
	p->status = status;
	p->minor = s[7] - '0';
	p->has_cl = p->has_te = p->conn_close = p->conn_keep_alive = false;
	p->cl = 0;
	p->field_len = 0;
	p->field_open = false;
	p->state = ST_FIELD;
	return 0;
}

/* The empty line after the fields: how long is the body (RFC 9112 6.3)? */
static enum http_resp_rc
head_end(struct http_resp *p)
{
	if (p->status < 200) {
		p->state = ST_STATUS; /* interim: the answer follows */
		return HTTP_RESP_MORE;
	}
	if (p->has_te && p->minor == 0)
		return bad(p, "Transfer-Encoding in an HTTP/1.0 answer");
	if (p->has_te && p->has_cl)
		return bad(p, "both Content-Length and Transfer-Encoding");
	p->keep_alive = !p->conn_close && (p->minor > 0 || p->conn_keep_alive);
	if (p->status == 204 || p->status == 304) {
		p->state = ST_DONE;
		return HTTP_RESP_DONE;
	}
	if (p->has_te) {
		p->state = ST_CHUNK_SIZE;
		return HTTP_RESP_MORE;
	}
	if (p->has_cl) {
		if (p->cl > p->body_max)
			return too_large(p);
		p->left = p->cl;
		p->state = p->cl > 0 ? ST_BODY_LEN : ST_DONE;
		return p->cl > 0 ? HTTP_RESP_MORE : HTTP_RESP_DONE;
	}
	p->keep_alive = false;
	p->state = ST_BODY_CLOSE;
	return HTTP_RESP_MORE;
}

static enum http_resp_rc
field_line(struct http_resp *p, const char *s, size_t n)
{
	const char *colon;

	if (n == 0) {
		if (field_commit(p) == -1)
			return HTTP_RESP_BAD;
		return head_end(p);
	}
	if (is_ows(s[0])) {
		/* RFC 9112 5.2: obs-fold, replaced by SP in a response.
		 * Before the first field it is refused (2.2). */
		if (p->field_len == 0)
			return bad(p, "whitespace before the first field");
		if (!p->field_open)
			return HTTP_RESP_MORE; /* continues a field not read */
		s = trim(s, &n);
		if (p->field_len + 1 + n > sizeof(p->field))
			return bad(p, "field too long");
		p->field[p->field_len++] = ' ';
		memcpy(p->field + p->field_len, s, n);
		p->field_len += n;
		return HTTP_RESP_MORE;
	}
	if (field_commit(p) == -1)
		return HTTP_RESP_BAD;
	colon = memchr(s, ':', n);
	if (colon == NULL || colon == s)
		return bad(p, "malformed field");
	for (const char *c = s; c < colon; c++)
		if (!is_tchar((unsigned char)*c))
			return bad(p, "malformed field name");
	/* Kept for obs-fold; only the framing fields are interpreted. */
	memcpy(p->field, s, n);
	p->field_len = n;
	p->field_open = token_is(s, (size_t)(colon - s), "content-length") ||
			token_is(s, (size_t)(colon - s), "transfer-encoding") ||
			token_is(s, (size_t)(colon - s), "connection");
	return HTTP_RESP_MORE;
}

/* chunk-size [ BWS ";" chunk-ext ] (RFC 9112 7.1, 7.1.1) */
static enum http_resp_rc
chunk_size_line(struct http_resp *p, const char *s, size_t n)
{
	uint64_t sz = 0;
	size_t i = 0;
	int v;

	for (; i < n && (v = hex_char_value((unsigned char)s[i])) != -1; i++) {
		if (sz > (UINT64_MAX >> 4))
			return too_large(p);
		sz = sz * 16 + (uint64_t)v;
		if (sz > p->body_max - p->len)
			return too_large(p);
	}
	if (i == 0)
		return bad(p, "malformed chunk size");
	/* BWS only before a ";" that starts an extension */
	if (i < n) {
		while (i < n && is_ows(s[i]))
			i++;
		if (i == n || s[i] != ';')
			return bad(p, "malformed chunk size");
	}
	if (sz == 0) {
		p->state = ST_TRAILER;
		return HTTP_RESP_MORE;
	}
	p->left = sz;
	p->state = ST_CHUNK_DATA;
	return HTTP_RESP_MORE;
}

static enum http_resp_rc
line_done(struct http_resp *p, const char *s, size_t n)
{
	/* A bare LF ends a line too (RFC 9112 2.2); a bare CR is refused. */
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\r', n) != NULL || memchr(s, '\0', n) != NULL)
		return bad(p, "bare CR or NUL in the head");
	switch (p->state) {
	case ST_STATUS:
		return status_line(p, s, n) == -1 ? HTTP_RESP_BAD
						  : HTTP_RESP_MORE;
	case ST_FIELD:
		return field_line(p, s, n);
	case ST_CHUNK_SIZE:
		return chunk_size_line(p, s, n);
	default: /* ST_TRAILER: trailer fields are not needed */
		if (n > 0)
			return HTTP_RESP_MORE;
		p->state = ST_DONE;
		return HTTP_RESP_DONE;
	}
}

static enum http_resp_rc
body_append(struct http_resp *p, const char *s, size_t n)
{
	if (n > p->body_max - p->len)
		return too_large(p);
	/* Not realloc(): it would free a moved block unwiped. */
	if (secmem_reserve(&p->body, &p->cap, p->len + n + 1) == -1)
		return bad(p, "out of memory");
	memcpy(p->body + p->len, s, n);
	p->len += n;
	p->body[p->len] = '\0';
	return HTTP_RESP_MORE;
}

/* Takes one line (or what there is of it) from data; *used grows. */
static enum http_resp_rc
feed_line(struct http_resp *p, const char *data, size_t n, size_t *used)
{
	size_t max =
	    p->state == ST_CHUNK_SIZE ? CHUNK_LINE_MAX : sizeof(p->line);
	const char *lf = memchr(data, '\n', n);
	size_t take = lf != NULL ? (size_t)(lf - data) + 1 : n;
	bool head = p->state == ST_STATUS || p->state == ST_FIELD ||
		    p->state == ST_TRAILER;

	/* the line's octets, without its LF, must fit in max */
	if (p->line_len + take - (lf != NULL) > max ||
	    (head && take > HTTP_RESP_HEAD_MAX - p->head_used))
		return bad(p, head ? "head too long" : "chunk line too long");
	if (head)
		p->head_used += take;
	*used += take;
	if (lf == NULL) {
		memcpy(p->line + p->line_len, data, take);
		p->line_len += take;
		return HTTP_RESP_MORE;
	}
	if (p->line_len == 0)
		return line_done(p, data, take - 1);
	memcpy(p->line + p->line_len, data, take - 1);
	n = p->line_len + take - 1;
	p->line_len = 0;
	return line_done(p, p->line, n);
}

enum http_resp_rc
http_resp_feed(struct http_resp *p, const char *data, size_t n, size_t *used)
{
	enum http_resp_rc rc = HTTP_RESP_MORE;
	size_t k;

	*used = 0;
	while (rc == HTTP_RESP_MORE && *used < n) {
		const char *d = data + *used;
		size_t left = n - *used;

		switch (p->state) {
		case ST_BODY_LEN:
		case ST_CHUNK_DATA:
			k = left < p->left ? left : (size_t)p->left;
			rc = body_append(p, d, k);
			*used += k;
			p->left -= k;
			if (p->left == 0 && rc == HTTP_RESP_MORE) {
				if (p->state == ST_CHUNK_DATA) {
					p->state = ST_CHUNK_CR;
				} else {
					p->state = ST_DONE;
					rc = HTTP_RESP_DONE;
				}
			}
			break;
		case ST_BODY_CLOSE:
			rc = body_append(p, d, left);
			*used += left;
			break;
		case ST_CHUNK_CR:
		case ST_CHUNK_LF:
			/* chunk-data is followed by CRLF exactly */
			if (*d != (p->state == ST_CHUNK_CR ? '\r' : '\n'))
				return bad(p,
					   "chunk data not followed by CRLF");
			(*used)++;
			p->state = p->state == ST_CHUNK_CR ? ST_CHUNK_LF
							   : ST_CHUNK_SIZE;
			break;
		case ST_DONE:
			return HTTP_RESP_DONE;
		case ST_BAD:
			return HTTP_RESP_BAD;
		case ST_TOO_LARGE:
			return HTTP_RESP_TOO_LARGE;
		default:
			rc = feed_line(p, d, left, used);
			break;
		}
	}
	if (p->state == ST_DONE)
		return HTTP_RESP_DONE;
	return rc;
}

enum http_resp_rc
http_resp_eof(struct http_resp *p)
{
	switch (p->state) {
	case ST_BODY_CLOSE:
		p->state = ST_DONE;
		return HTTP_RESP_DONE;
	case ST_DONE:
		return HTTP_RESP_DONE;
	case ST_BAD:
		return HTTP_RESP_BAD;
	case ST_TOO_LARGE:
		return HTTP_RESP_TOO_LARGE;
	case ST_STATUS:
		if (p->head_used == 0 && p->line_len == 0)
			return bad(p, "connection closed without an answer");
		/* fall through */
	default:
		return bad(p, "connection closed before the answer's end");
	}
}

int
http_resp_parse(const char *resp, size_t len, char *out, size_t cap)
{
	struct http_resp *p;
	enum http_resp_rc rc;
	size_t used;
	int status = -1;

	if (cap == 0 || (p = malloc(sizeof(*p))) == NULL)
		return -1;
	out[0] = '\0';
	http_resp_init(p, cap - 1);
	rc = http_resp_feed(p, resp, len, &used);
	if (rc == HTTP_RESP_MORE)
		rc = http_resp_eof(p);
	if (rc == HTTP_RESP_DONE) {
		if (p->len > 0)
			memcpy(out, p->body, p->len + 1);
		status = p->status;
	}
	http_resp_clear(p);
	free(p);
	return status;
}
