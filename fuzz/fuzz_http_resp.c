/*
 * fuzz_http_resp.c — the SKIP client's HTTP/1.1 response parser
 * (mka-agent/http_resp.c): whatever answers on skip_address with the PSK
 * controls these bytes.
 */
#include "http_resp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exact-size copies so ASan sees any read past the input. */
	char *in = malloc(size ? size : 1), out[64];

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	if (http_resp_parse(in, size, out, sizeof(out)) >= 0 &&
	    strlen(out) >= sizeof(out))
		abort();
	free(in);
	return 0;
}
