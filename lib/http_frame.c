/*
 * http_frame.c — HTTP/1.1 request framing check (RFC 9112).
 *
 * Heads are parsed once complete (parse, then validate); bodies are
 * followed byte by byte so that a chunk size is judged as soon as its
 * digits arrive.  Every refusal names its clause.
 */
#include "http_frame.h"

#include "encoding.h"
#include "http_hdr.h"
#include "secmem.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	S_HEAD,
	S_CL_BODY,
	S_CHUNK_SIZE,
	S_CHUNK_SIZE_LF, /* CR seen after the size line */
	S_CHUNK_DATA,
	S_CHUNK_CR, /* CRLF after chunk data */
	S_CHUNK_LF,
	S_TRAILER,
	S_BAD,
};

#define CHUNK_LINE_MAX 1024 /* a chunk-size line with its extensions */

void
http_frame_init(struct http_frame *f, unsigned max_head, uint64_t max_body)
{
	memset(f, 0, sizeof(*f));
	f->max_head = max_head;
	f->max_body = max_body;
	f->state = S_HEAD;
}

void
http_frame_clear(struct http_frame *f)
{
	secmem_free(f->head);
	f->head = NULL;
	f->head_len = f->head_cap = 0;
	secmem_free(f->data);
	f->data = NULL;
	f->data_len = f->data_cap = 0;
}

int
http_frame_take_body(struct http_frame *f, char **data, size_t *len)
{
	bool failed = f->keep_failed;

	*data = failed ? NULL : f->data;
	*len = failed ? 0 : f->data_len;
	if (failed)
		secmem_free(f->data);
	f->data = NULL;
	f->data_len = f->data_cap = 0;
	f->keep_failed = false;
	return failed ? -1 : 0;
}

/* Body data for http_frame_take_body(); the bound is max_body's. */
static void
keep_data(struct http_frame *f, const uint8_t *p, size_t n)
{
	if (!f->keep || f->keep_failed || n == 0)
		return;
	if (secmem_reserve(&f->data, &f->data_cap, f->data_len + n + 1) == -1) {
		f->keep_failed = true;
		return;
	}
	memcpy(f->data + f->data_len, p, n);
	f->data_len += n;
	f->data[f->data_len] = '\0';
}

int64_t
http_frame_content_length(const struct http_frame *f)
{
	return f->state == S_CL_BODY ? (int64_t)f->left : -1;
}

bool
http_frame_in_head(const struct http_frame *f)
{
	return f->state == S_HEAD && f->head_len > 0;
}

bool
http_frame_in_body(const struct http_frame *f)
{
	return f->state != S_HEAD; /* a refused body never ends */
}

const uint8_t *
http_frame_head(const struct http_frame *f, size_t *len)
{
	*len = f->head_len;
	return (const uint8_t *)f->head;
}

void
http_frame_head_done(struct http_frame *f)
{
	if (f->head != NULL)
		secmem_wipe(f->head, f->head_len);
	f->head_len = 0;
	/* What is kept from here on is this head's body alone. */
	if (f->data != NULL)
		secmem_wipe(f->data, f->data_len);
	f->data_len = 0;
	f->keep_failed = false;
}

static enum http_frame_ev
bad(struct http_frame *f, int status, const char *why)
{
	f->state = S_BAD;
	f->status = status;
	f->why = why;
	return HTTP_FRAME_BAD;
}

static bool
ieq(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

/* One list element of a field value, OWS trimmed; false when none left. */
static bool
next_elem(const char **p, const char *end, const char **e, size_t *elen)
{
	const char *s = *p, *t;

	while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
		s++;
	if (s >= end)
		return false;
	t = s;
	while (t < end && *t != ',')
		t++;
	*p = t;
	while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
		t--;
	*e = s;
	*elen = (size_t)(t - s);
	return true;
}

struct head_info {
	int minor;
	unsigned hosts;
	bool has_cl, has_te, chunked;
	uint64_t cl;
};

/* Content-Length (RFC 9112 6.3 item 5): every value the same, digits only. */
static enum http_frame_ev
head_cl(struct http_frame *f, struct head_info *hi, const char *v, size_t vlen)
{
	const char *p = v, *end = v + vlen, *e;
	size_t elen;
	bool any = false;

	while (next_elem(&p, end, &e, &elen)) {
		uint64_t n = 0;
		int r;

		if (elen == 0)
			return bad(f, 400,
				   "empty Content-Length (RFC 9112 6.3)");
		r = http_content_length_parse(e, elen, UINT64_MAX, &n);
		if (r == -1)
			return bad(f, 400,
				   "Content-Length is not a number "
				   "(RFC 9112 6.3)");
		/* Past 2^64 - 1 it is over max_body all the same. */
		if (r == 1)
			n = UINT64_MAX;
		if (hi->has_cl && n != hi->cl)
			return bad(f, 400,
				   "different Content-Length values "
				   "(RFC 9112 6.3)");
		hi->has_cl = true;
		hi->cl = n;
		any = true;
	}
	if (!any)
		return bad(f, 400, "empty Content-Length (RFC 9112 6.3)");
	return HTTP_FRAME_MORE;
}

/* Transfer-Encoding (RFC 9112 6.1, 7): exactly one coding, chunked. */
static enum http_frame_ev
head_te(struct http_frame *f, struct head_info *hi, const char *v, size_t vlen)
{
	const char *p = v, *end = v + vlen, *e;
	size_t elen;

	while (next_elem(&p, end, &e, &elen)) {
		if (!ieq(e, elen, "chunked"))
			return bad(f, 501,
				   "transfer coding not implemented; only "
				   "chunked (RFC 9112 6.1)");
		if (hi->chunked)
			return bad(f, 400,
				   "chunked applied twice (RFC 9112 6.1)");
		hi->chunked = true;
	}
	if (!hi->chunked)
		return bad(f, 400, "empty Transfer-Encoding (RFC 9112 6.1)");
	hi->has_te = true;
	return HTTP_FRAME_MORE;
}

/* RFC 9112 3: method SP request-target SP HTTP-version. */
static enum http_frame_ev
head_request_line(struct http_frame *f, struct head_info *hi, const char *l,
		  size_t len)
{
	const char *sp1 = memchr(l, ' ', len), *sp2, *ver;
	size_t vlen;

	if (sp1 == NULL || sp1 == l)
		return bad(f, 400, "malformed request line (RFC 9112 3)");
	for (const char *p = l; p < sp1; p++)
		if (!http_tchar((unsigned char)*p))
			return bad(f, 400, "malformed method (RFC 9112 3.1)");
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - l));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return bad(f, 400, "malformed request line (RFC 9112 3)");
	for (const char *p = sp1 + 1; p < sp2; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x21 || c == 0x7f)
			return bad(f, 400,
				   "control character or space in the "
				   "request target (RFC 9112 3.2)");
	}
	ver = sp2 + 1;
	vlen = len - (size_t)(ver - l);
	if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' ||
	    ver[5] > '9' || ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
		return bad(f, 400, "malformed HTTP version (RFC 9112 2.3)");
	if (ver[5] != '1')
		return bad(f, 505, "HTTP version not supported");
	hi->minor = ver[7] - '0';
	return HTTP_FRAME_MORE;
}

/* RFC 9112 5: field-name ":" OWS field-value OWS. */
static enum http_frame_ev
head_field(struct http_frame *f, struct head_info *hi, const char *l,
	   size_t len)
{
	const char *colon = memchr(l, ':', len), *v, *end = l + len;
	enum http_frame_ev ev;
	size_t nlen;

	if (*l == ' ' || *l == '\t')
		return bad(f, 400, "obsolete line folding (RFC 9112 5.2)");
	if (colon == NULL || colon == l)
		return bad(f, 400, "header field without a name (RFC 9112 5)");
	nlen = (size_t)(colon - l);
	for (size_t i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)l[i];
		if (c == ' ' || c == '\t')
			return bad(f, 400,
				   "whitespace before the colon of a "
				   "header field (RFC 9112 5.1)");
		if (!http_tchar(c))
			return bad(f, 400,
				   "invalid header field name (RFC 9110 5.1)");
	}
	for (v = colon + 1; v < end; v++) {
		unsigned char c = (unsigned char)*v;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return bad(f, 400,
				   "control character in a header field "
				   "value (RFC 9110 5.5)");
	}
	v = colon + 1;
	if (ieq(l, nlen, "Host")) {
		hi->hosts++;
		return HTTP_FRAME_MORE;
	}
	if (ieq(l, nlen, "Content-Length")) {
		ev = head_cl(f, hi, v, (size_t)(end - v));
		return ev;
	}
	if (ieq(l, nlen, "Transfer-Encoding")) {
		if (hi->has_te)
			return bad(f, 400, "Transfer-Encoding given twice");
		return head_te(f, hi, v, (size_t)(end - v));
	}
	return HTTP_FRAME_MORE;
}

/* The whole head is held; the caller checked it holds no NUL. */
static enum http_frame_ev
head_check(struct http_frame *f)
{
	const char *p = (const char *)f->head, *end = p + f->head_len;
	struct head_info hi = { 0 };
	bool first = true;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p);
		enum http_frame_ev ev;

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (memchr(p, '\r', len) != NULL)
			return bad(
			    f, 400,
			    "bare CR in the request head (RFC 9112 2.2)");
		if (len == 0)
			break; /* the empty line that ends the head */
		ev = first ? head_request_line(f, &hi, p, len)
			   : head_field(f, &hi, p, len);
		if (ev == HTTP_FRAME_BAD)
			return ev;
		first = false;
		p = nl + 1;
	}
	/* RFC 9112 3.2: a 1.1 request without Host, or with two, gets 400. */
	if (hi.minor >= 1 && hi.hosts == 0)
		return bad(f, 400,
			   "HTTP/1.1 request without Host (RFC 9112 3.2)");
	if (hi.hosts > 1)
		return bad(f, 400, "more than one Host (RFC 9112 3.2)");
	if (hi.has_te && hi.minor == 0)
		return bad(f, 400,
			   "Transfer-Encoding in an HTTP/1.0 request "
			   "(RFC 9112 6.1)");
	/* RFC 9112 6.1: a server MAY reject both; smuggling lives there. */
	if (hi.has_te && hi.has_cl)
		return bad(f, 400,
			   "both Content-Length and Transfer-Encoding "
			   "(RFC 9112 6.1)");
	if (hi.has_cl && hi.cl > f->max_body)
		return bad(f, 413, "request body too large");
	f->body = 0;
	f->left = 0;
	if (hi.has_te) {
		f->state = S_CHUNK_SIZE;
		f->ndigits = 0;
		f->line = 0;
		f->ext = false;
	} else if (hi.has_cl && hi.cl > 0) {
		f->state = S_CL_BODY;
		f->left = hi.cl;
	} else {
		f->state = S_HEAD;
	}
	f->heads++;
	return HTTP_FRAME_HEAD;
}

static enum http_frame_ev
feed_head(struct http_frame *f, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0;

	/* RFC 9112 2.2: empty lines before a request line are ignored. */
	while (f->head_len == 0 && i < n && (p[i] == '\r' || p[i] == '\n'))
		i++;
	for (; i < n; i++) {
		uint8_t c = p[i];

		if (c == '\0') {
			*used = i + 1;
			return bad(f, 400, "NUL in the request head");
		}
		if (f->head_len >= f->max_head) {
			*used = i + 1;
			if (memchr(f->head, '\n', f->head_len) == NULL)
				return bad(f, 414, "request line too long");
			return bad(f, 431, "request head too large");
		}
		if (f->head_len == f->head_cap) {
			size_t ncap = f->head_cap ? f->head_cap * 2 : 1024;

			if (ncap > f->max_head)
				ncap = f->max_head;
			if (secmem_reserve(&f->head, &f->head_cap, ncap) ==
			    -1) {
				*used = i;
				return bad(f, 503, "out of memory");
			}
		}
		f->head[f->head_len++] = (char)c;
		if (c == '\n' && f->head_len >= 2 &&
		    (f->head[f->head_len - 2] == '\n' ||
		     (f->head_len >= 3 && f->head[f->head_len - 2] == '\r' &&
		      f->head[f->head_len - 3] == '\n'))) {
			*used = i + 1;
			return head_check(f);
		}
	}
	*used = n;
	return HTTP_FRAME_MORE;
}

/* One byte of chunk framing (RFC 9112 7.1); false with f->state S_BAD. */
static bool
feed_chunk_byte(struct http_frame *f, uint8_t c)
{
	int h;

	switch (f->state) {
	case S_CHUNK_SIZE:
		if (++f->line > CHUNK_LINE_MAX) {
			bad(f, 400, "chunk size line too long (RFC 9112 7.1)");
			return false;
		}
		if (c == '\r') {
			f->state = S_CHUNK_SIZE_LF;
			return true;
		}
		if (c != '\n' && !f->ext) {
			h = hex_char_value(c);
			if (h >= 0 && f->line == f->ndigits + 1) {
				f->ndigits++;
				f->left = f->left * 16 + (uint64_t)h;
				/* Judged per digit: 2^64-1 never gets far. */
				if (f->left > f->max_body - f->body) {
					bad(f, 413,
					    "chunk size over the body limit");
					return false;
				}
				return true;
			}
			if (f->ndigits == 0) {
				bad(f, 400,
				    "malformed chunk size (RFC 9112 7.1)");
				return false;
			}
			if (c != ';' && c != ' ' && c != '\t') {
				bad(f, 400,
				    "malformed chunk size (RFC 9112 7.1)");
				return false;
			}
			f->ext = true;
			return true;
		}
		if (c == '\n')
			goto size_done;
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			bad(f, 400, "control character in a chunk extension");
			return false;
		}
		return true;
	case S_CHUNK_SIZE_LF:
		if (c != '\n') {
			bad(f, 400,
			    "bare CR in a chunk size line (RFC 9112 2.2)");
			return false;
		}
	size_done:
		if (f->ndigits == 0) {
			bad(f, 400, "malformed chunk size (RFC 9112 7.1)");
			return false;
		}
		f->body += f->left;
		f->line = 0;
		f->state = f->left == 0 ? S_TRAILER : S_CHUNK_DATA;
		return true;
	case S_CHUNK_CR:
		if (c == '\r') {
			f->state = S_CHUNK_LF;
			return true;
		}
		if (c == '\n')
			goto data_done;
		bad(f, 400, "chunk data longer than its size (RFC 9112 7.1)");
		return false;
	case S_CHUNK_LF:
		if (c != '\n') {
			bad(f, 400,
			    "chunk data longer than its size (RFC 9112 7.1)");
			return false;
		}
	data_done:
		f->state = S_CHUNK_SIZE;
		f->ndigits = 0;
		f->line = 0;
		f->left = 0;
		f->ext = false;
		return true;
	case S_TRAILER:
		if (c == '\0') {
			bad(f, 400, "NUL in a trailer section");
			return false;
		}
		if (c == '\n') {
			if (f->line == 0)
				f->state = S_HEAD; /* the body ends here */
			f->line = 0;
			return true;
		}
		if (c != '\r')
			f->line++;
		/* Trailers count against the head bound. */
		if (++f->body > f->max_body || f->line > f->max_head) {
			bad(f, 431, "trailer section too large");
			return false;
		}
		return true;
	default:
		bad(f, 400, "internal framing state");
		return false;
	}
}

static enum http_frame_ev
feed_body(struct http_frame *f, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0;

	while (i < n && f->state != S_HEAD) {
		if (f->state == S_CL_BODY || f->state == S_CHUNK_DATA) {
			size_t take = n - i;

			if ((uint64_t)take > f->left)
				take = (size_t)f->left;
			keep_data(f, p + i, take);
			i += take;
			f->left -= take;
			if (f->left == 0)
				f->state =
				    f->state == S_CL_BODY ? S_HEAD : S_CHUNK_CR;
			continue;
		}
		if (!feed_chunk_byte(f, p[i])) {
			/* The body before the bad octet goes on first. */
			if (i > 0) {
				*used = i;
				return HTTP_FRAME_PASS;
			}
			*used = 1;
			return HTTP_FRAME_BAD;
		}
		i++;
	}
	*used = i;
	return HTTP_FRAME_PASS;
}

enum http_frame_ev
http_frame_feed(struct http_frame *f, const uint8_t *p, size_t n, size_t *used)
{
	*used = 0;
	if (f->state == S_BAD)
		return HTTP_FRAME_BAD;
	if (n == 0)
		return HTTP_FRAME_MORE;
	if (f->state == S_HEAD)
		return feed_head(f, p, n, used);
	return feed_body(f, p, n, used);
}
