/*
 * http_resp.h — parser for the one HTTP/1.1 response the SKIP client
 * reads per request (status line, headers, identity or chunked body).
 *
 * A pure function over bytes, so it is unit-tested and fuzzed on its own:
 * the bytes come from whatever answers on skip_address with the PSK.
 */
#ifndef QKDLAB_HTTP_RESP_H
#define QKDLAB_HTTP_RESP_H

#include <stddef.h>

/*
 * Parses resp[0..len).  The body, de-chunked if need be, is copied to out
 * and NUL-terminated; a body that does not fit in cap-1 octets is an error.
 * Returns the status code (100..599), or -1 for a malformed response.
 */
int http_resp_parse(const char *resp, size_t len, char *out, size_t cap);

#endif
