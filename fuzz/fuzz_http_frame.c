/*
 * fuzz_http_frame.c — the TLS front's RFC 9112 request framing check
 * (lib/http_frame.c).
 *
 * The input is a plaintext request stream.  It is fed twice: in one piece
 * and one octet at a time.  Both must pass on the same bytes (heads and
 * bodies concatenated) and end with the same verdict; every head passed on
 * ends with an empty line and holds no NUL; a refusal carries a status
 * from the set the front answers with and a reason.
 */
#include "../lib/http_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	uint8_t *p;
	size_t n;
	int status;
	unsigned long long heads;
};

static void
put(struct out *o, const uint8_t *p, size_t n)
{
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

static void
run(const uint8_t *data, size_t size, size_t step, struct out *o)
{
	struct http_frame f;
	size_t off = 0;

	http_frame_init(&f, 4096, 1 << 20);
	o->p = malloc(size + 1);
	o->n = 0;
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
		} else if (ev == HTTP_FRAME_PASS) {
			put(o, data + off, used);
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
	    memcmp(a.p, b.p, a.n) != 0)
		abort();
	free(a.p);
	free(b.p);
	return 0;
}
