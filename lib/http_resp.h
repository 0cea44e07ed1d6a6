/*
 * http_resp.h — the one HTTP/1.1 response parser (RFC 9112) of the
 * project's clients: lib/https_client (ETSI 014, KME link) and the SKIP
 * clients (mka-agent, qkdlab-key).
 *
 * Incremental: bytes are fed as they arrive, in pieces of any size.
 * Status line, header fields, then a body framed by Content-Length, the
 * chunked coding, or the end of the connection; interim (1xx) answers are
 * skipped.  Lenient where RFC 9112 lets a recipient be (a bare LF ends a
 * line, obs-fold, OWS, names in any case, repeated equal Content-Length
 * values); strict where framing could be forged (conflicting
 * Content-Length, Content-Length with Transfer-Encoding, any coding other
 * than chunked, whitespace before a field's colon).  Every size is
 * bounded: the head by HTTP_RESP_HEAD_MAX, the body by body_max.  The
 * body grows through secmem and is wiped when cleared: it carries keys.
 */
#ifndef QKDLAB_HTTP_RESP_H
#define QKDLAB_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_RESP_HEAD_MAX 16384 /* status lines, fields and trailers */
#define HTTP_RESP_LINE_MAX 4096 /* one line, obs-folds joined */

enum http_resp_rc {
	HTTP_RESP_MORE = 0, /* feed more (or http_resp_eof) */
	HTTP_RESP_DONE = 1, /* a whole answer */
	HTTP_RESP_BAD = -1, /* malformed: why says how */
	HTTP_RESP_TOO_LARGE = -2, /* the body passed body_max */
};

struct http_resp {
	/* Results, once HTTP_RESP_DONE. */
	int status; /* 200..599 (interim answers are skipped) */
	bool keep_alive; /* the connection may carry another request */
	char *body; /* NUL-terminated (NULL when empty); secmem */
	size_t len, cap;
	const char *why; /* a static string, after HTTP_RESP_BAD */

	/* Parser state. */
	size_t body_max;
	int state;
	int minor; /* HTTP/1.minor of the current answer */
	size_t head_used;
	uint64_t left; /* octets of the current body or chunk */
	uint64_t cl; /* Content-Length, when has_cl */
	bool has_cl, has_te, conn_close, conn_keep_alive;
	bool field_open; /* field[] holds a field that may be folded */
	size_t line_len, field_len;
	char line[HTTP_RESP_LINE_MAX];
	char field[HTTP_RESP_LINE_MAX];
};

/* Ready for one answer whose body may be up to body_max octets. */
void http_resp_init(struct http_resp *p, size_t body_max);
/*
 * Feeds n octets; *used says how many were taken (fewer than n only at
 * HTTP_RESP_DONE: what follows belongs to no answer asked for).  Once
 * DONE, BAD or TOO_LARGE, further calls return the same.
 */
enum http_resp_rc http_resp_feed(struct http_resp *p, const char *data,
				 size_t n, size_t *used);
/* The peer closed the connection: ends a body that runs to the close. */
enum http_resp_rc http_resp_eof(struct http_resp *p);
/* Wipes and frees the body; p may be initialised again. */
void http_resp_clear(struct http_resp *p);

/*
 * One whole answer, read up to the end of the connection, in resp[0..len).
 * The body is copied to out and NUL-terminated; a body that does not fit
 * in cap-1 octets is an error.  Returns the status code (200..599), or -1.
 */
int http_resp_parse(const char *resp, size_t len, char *out, size_t cap);

#endif
