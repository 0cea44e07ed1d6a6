/*
 * fuzz_http_req.c — the request-head splitter the TLS front hands its
 * handlers (lib/http_req.c).
 *
 * The input is parsed twice: as it is (any bytes, any length), and as
 * the front sees it, after lib/http_frame.c accepted it as a head.  The
 * second must succeed, or refuse only for more than HTTP_REQ_FIELDS
 * fields (the front answers 431): any other head the framing check lets
 * through and the splitter refused would be a request left unserved.  On
 * success every part lies inside the buffer, the method is a token, the
 * target holds no control or space, the query is the target's tail, and
 * persistence follows RFC 9112 9.3.
 */
#include "../lib/http_frame.h"
#include "../lib/http_req.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct http_req *r, const char *buf, size_t len)
{
	size_t tlen;
	char out[64];

	if (r->method == NULL || r->method[0] == '\0' || r->target == NULL ||
	    r->method < buf || r->target < buf || r->target >= buf + len)
		abort();
	tlen = strlen(r->target);
	if (r->path_len > tlen || tlen == 0)
		abort();
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)r->target[i] <= 0x20 ||
		    (unsigned char)r->target[i] == 0x7f)
			abort();
	if (r->query != NULL && (r->query != r->target + r->path_len + 1 ||
				 r->target[r->path_len] != '?' ||
				 r->query_len != tlen - r->path_len - 1))
		abort();
	if (r->query == NULL && r->path_len != tlen)
		abort();
	if (r->minor < 0 || r->minor > 9 || r->nfields > HTTP_REQ_FIELDS)
		abort();
	for (size_t i = 0; i < r->nfields; i++) {
		const struct http_field *f = &r->fields[i];

		if (f->name[0] == '\0' || strlen(f->value) != f->value_len ||
		    f->value < buf || f->value + f->value_len > buf + len)
			abort();
		if (f->value_len > 0 &&
		    (f->value[0] == ' ' || f->value[f->value_len - 1] == ' '))
			abort();
	}
	if (r->minor >= 1 && r->keep_alive &&
	    http_req_field(r, "Connection") != NULL &&
	    strcasecmp(http_req_field(r, "Connection"), "close") == 0)
		abort();
	if (r->head != (strcmp(r->method, "HEAD") == 0))
		abort();
	/* Bounded whatever the query: a short output, absent names. */
	for (const char *n = "a\0x\0remoteSystemID\0"; *n; n += strlen(n) + 1) {
		int v = http_req_query_arg(r, n, out, sizeof(out));

		if (v < -2 || v >= (int)sizeof(out) ||
		    (v >= 0 && strlen(out) != (size_t)v))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_frame f;
	struct http_req r;
	char *buf = malloc(size + 1);
	size_t used, hlen;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (http_req_parse(&r, buf, size) == 0)
		check(&r, buf, size);
	http_frame_init(&f, 4096, 1 << 20);
	if (http_frame_feed(&f, data, size, &used) == HTTP_FRAME_HEAD) {
		const uint8_t *h = http_frame_head(&f, &hlen);

		int rc;

		memcpy(buf, h, hlen);
		rc = http_req_parse(&r, buf, hlen);
		if (rc == -1)
			abort(); /* accepted by the framing check */
		if (rc == 0)
			check(&r, buf, hlen);
		else if (rc != -2 || r.nfields != HTTP_REQ_FIELDS)
			abort(); /* the front answers 431 */
	}
	http_frame_clear(&f);
	free(buf);
	return 0;
}
