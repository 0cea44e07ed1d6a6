/*
 * fuzz_http_frame.c — the TLS front's RFC 9112 request framing check
 * (lib/http_frame.c).
 *
 * The input is a plaintext request stream.  It is fed twice: in one piece
 * and one octet at a time.  Both must pass on the same bytes (heads and
 * bodies concatenated) and end with the same verdict; every head passed on
 * ends with an empty line and holds no NUL; a refusal carries a status
 * from the set the front answers with and a reason.  The bodies kept for
 * a request-mode handler (f.keep) must be the same both ways too, each
 * within the body bound, NUL-terminated, and none for a head without one.
 */
#include "../lib/http_frame.h"
#include "../lib/secmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BODY (1 << 20)

struct out {
	uint8_t *p;
	size_t n;
	uint8_t *bodies; /* each kept body: its length (8 octets), its data */
	size_t nb, capb;
	int status;
	unsigned long long heads;
};

static void
put(struct out *o, const uint8_t *p, size_t n)
{
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

/* The body that just ended, as a request-mode handler would get it. */
static void
take(struct http_frame *f, struct out *o, bool expect_none)
{
	char *d;
	size_t len;
	uint64_t l;

	if (http_frame_take_body(f, &d, &len) == -1)
		return; /* no memory: nothing to compare */
	if ((d == NULL) != (len == 0) || len > MAX_BODY ||
	    (d != NULL && d[len] != '\0') || (expect_none && d != NULL))
		abort();
	if (o->nb + 8 + len > o->capb) {
		o->capb = (o->nb + 8 + len) * 2;
		o->bodies = realloc(o->bodies, o->capb);
		if (o->bodies == NULL)
			abort();
	}
	l = len;
	memcpy(o->bodies + o->nb, &l, 8);
	if (len > 0)
		memcpy(o->bodies + o->nb + 8, d, len);
	o->nb += 8 + len;
	secmem_free(d);
}

static void
run(const uint8_t *data, size_t size, size_t step, struct out *o)
{
	struct http_frame f;
	size_t off = 0;

	http_frame_init(&f, 4096, MAX_BODY);
	f.keep = true;
	o->p = malloc(size + 1);
	o->n = 0;
	o->bodies = NULL;
	o->nb = o->capb = 0;
	o->status = 0;
	if (o->p == NULL)
		abort();
	while (off < size) {
		size_t n = size - off < step ? size - off : step, used, hlen;
		const uint8_t *h;
		enum http_frame_ev ev =
		    http_frame_feed(&f, data + off, n, &used);

		if (used > n || (used == 0 && ev != HTTP_FRAME_BAD))
			abort();
		if (ev == HTTP_FRAME_HEAD) {
			h = http_frame_head(&f, &hlen);
			if (hlen < 2 || h[hlen - 1] != '\n' ||
			    memchr(h, '\0', hlen) != NULL ||
			    (h[hlen - 2] != '\n' &&
			     (hlen < 3 || h[hlen - 2] != '\r' ||
			      h[hlen - 3] != '\n')))
				abort();
			put(o, h, hlen);
			http_frame_head_done(&f);
			if (!http_frame_in_body(&f))
				take(&f, o, true);
		} else if (ev == HTTP_FRAME_PASS) {
			put(o, data + off, used);
			if (!http_frame_in_body(&f))
				take(&f, o, false);
		} else if (ev == HTTP_FRAME_BAD) {
			if (f.why == NULL ||
			    (f.status != 400 && f.status != 413 &&
			     f.status != 414 && f.status != 431 &&
			     f.status != 501 && f.status != 503 &&
			     f.status != 505))
				abort();
			o->status = f.status;
			break;
		}
		off += used;
	}
	o->heads = f.heads;
	http_frame_clear(&f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out a, b;

	run(data, size, size ? size : 1, &a);
	run(data, size, 1, &b);
	/* Where a refusal comes, the held head differs; before it, nothing. */
	if (a.status != b.status || a.heads != b.heads || a.n != b.n ||
	    memcmp(a.p, b.p, a.n) != 0 || a.nb != b.nb ||
	    (a.nb > 0 && memcmp(a.bodies, b.bodies, a.nb) != 0))
		abort();
	free(a.p);
	free(b.p);
	free(a.bodies);
	free(b.bodies);
	return 0;
}
