/*
 * fuzz_http_resp.c — the clients' HTTP/1.1 response parser
 * (lib/http_resp.c): whatever answers a client's request controls these
 * bytes.
 *
 * The first input octet picks body_max and the size of the pieces the
 * rest is fed in.  The answer must not depend on how the bytes were cut:
 * fed whole and fed piecewise, the outcome, status and body must agree,
 * and a body never passes body_max.
 */
#include "http_resp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds in[0..n) step octets at a time (all at once when step is 0). */
static enum http_resp_rc
run(struct http_resp *p, const char *in, size_t n, size_t step)
{
	enum http_resp_rc rc = HTTP_RESP_MORE;
	size_t off = 0, used;

	while (rc == HTTP_RESP_MORE && off < n) {
		size_t k = step == 0 || n - off < step ? n - off : step;

		rc = http_resp_feed(p, in + off, k, &used);
		if (used > k || (rc == HTTP_RESP_MORE && used != k))
			abort();
		off += used;
	}
	if (rc == HTTP_RESP_MORE)
		rc = http_resp_eof(p);
	if (p->len > p->body_max || (p->len > 0 && p->body[p->len] != '\0') ||
	    (rc == HTTP_RESP_DONE && (p->status < 200 || p->status > 599)))
		abort();
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_resp whole, cut;
	enum http_resp_rc a, b;
	size_t max, step;
	char *in, out[64];

	if (size == 0)
		return 0;
	max = (size_t)(data[0] & 0x0f) * 16;
	step = (size_t)(data[0] >> 4);
	data++;
	size--;
	/* Exact-size copies so ASan sees any read past the input. */
	if ((in = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(in, data, size);
	http_resp_init(&whole, max);
	http_resp_init(&cut, max);
	a = run(&whole, in, size, 0);
	b = run(&cut, in, size, step);
	if (a != b ||
	    (a == HTTP_RESP_DONE &&
	     (whole.status != cut.status || whole.len != cut.len ||
	      whole.keep_alive != cut.keep_alive ||
	      (whole.len > 0 && memcmp(whole.body, cut.body, whole.len) != 0))))
		abort();
	http_resp_clear(&whole);
	http_resp_clear(&cut);
	if (http_resp_parse(in, size, out, sizeof(out)) >= 0 &&
	    strlen(out) >= sizeof(out))
		abort();
	free(in);
	return 0;
}
