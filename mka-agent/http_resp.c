/*
 * http_resp.c — strict HTTP/1.1 response parsing for the SKIP client.
 *
 * Only what skip-proxy (or any SKIP key provider) may send is accepted:
 * "HTTP/1.x NNN" status line, CRLF header lines, then either a body that
 * runs to the end of the connection or RFC 9112 7.1 chunked coding.  Every
 * length is checked against what is left before any copy.
 */
#include "http_resp.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define CHUNK_SIZE_DIGITS_MAX 8 /* bodies here are a few hundred octets */

/* Returns a pointer past "\r\n" at or after p, or NULL before end. */
static const char *
line_end(const char *p, const char *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

static int
status_line(const char *p, const char *eol)
{
	int status = 0;

	/* "HTTP/1.0 200" or "HTTP/1.1 200", then SP reason or nothing. */
	if (eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		status = status * 10 + (p[i] - '0');
	}
	if (eol - p > 12 && p[12] != ' ')
		return -1;
	return status >= 100 && status <= 599 ? status : -1;
}

static bool
header_is_chunked(const char *p, const char *eol)
{
	static const char name[] = "transfer-encoding:";
	size_t n = sizeof(name) - 1;

	if ((size_t)(eol - p) < n || strncasecmp(p, name, n) != 0)
		return false;
	for (p += n; p < eol && (*p == ' ' || *p == '\t'); p++)
		;
	return (size_t)(eol - p) >= 7 && strncasecmp(p, "chunked", 7) == 0;
}

/* Copies a chunked body; -1 on any malformed or oversized chunk. */
static int
dechunk(const char *p, const char *end, char *out, size_t cap)
{
	size_t o = 0;

	for (;;) {
		const char *eol = line_end(p, end);
		size_t sz = 0, digits = 0;

		if (eol == NULL)
			return -1;
		/* chunk-size = 1*HEXDIG, then optional ";ext" up to CRLF */
		for (; p < eol && isxdigit((unsigned char)*p); p++, digits++) {
			int v = isdigit((unsigned char)*p)
				    ? *p - '0'
				    : (tolower((unsigned char)*p) - 'a' + 10);
			sz = sz * 16 + (size_t)v;
		}
		if (digits == 0 || digits > CHUNK_SIZE_DIGITS_MAX ||
		    (p < eol && *p != ';'))
			return -1;
		p = eol + 2;
		if (sz == 0)
			break; /* trailers, if any, are not needed */
		if ((size_t)(end - p) < sz + 2 || sz >= cap - o ||
		    p[sz] != '\r' || p[sz + 1] != '\n')
			return -1;
		memcpy(out + o, p, sz);
		o += sz;
		p += sz + 2;
	}
	out[o] = '\0';
	return 0;
}

int
http_resp_parse(const char *resp, size_t len, char *out, size_t cap)
{
	const char *end = resp + len, *p, *eol;
	bool chunked = false;
	int status;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	if ((eol = line_end(resp, end)) == NULL ||
	    (status = status_line(resp, eol)) == -1)
		return -1;
	/* Header lines up to the empty line. */
	for (p = eol + 2;; p = eol + 2) {
		if ((eol = line_end(p, end)) == NULL)
			return -1;
		if (eol == p)
			break;
		chunked |= header_is_chunked(p, eol);
	}
	p = eol + 2;
	if (chunked)
		return dechunk(p, end, out, cap) == 0 ? status : -1;
	if ((size_t)(end - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return status;
}
