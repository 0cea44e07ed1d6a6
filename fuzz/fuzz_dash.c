/*
 * fuzz_dash.c — qkdlab-dash's readers of what the lab's listeners answer
 * (qkdlab-dash/dash_fetch.c): the HTTP response splitter and the
 * Prometheus sample summer.  Whatever listens on a configured address
 * controls these bytes.
 */
#include "dash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exact-size copies (plus the NUL the callers guarantee). */
	char *in = malloc(size + 1);
	struct dash_reply r;

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	(void)dash_metric_sum(in, "kme_pool_keys");
	(void)dash_metric_sum(in, "m");
	if (dash_reply_parse(in, size, &r) == 0) {
		if (r.status < 100 || r.status > 999 || strlen(r.body) > size)
			abort();
		(void)dash_metric_sum(r.body, "skip_requests_total");
		dash_reply_free(&r);
		return 0;
	}
	free(in);
	return 0;
}
