/*
 * http_frame.h — HTTP/1.1 request framing check (RFC 9112) on a plaintext
 * byte stream, in front of an HTTP server that is more lenient.
 *
 * The checker follows the stream request by request: it holds each request
 * head until it is complete, validates it (request line, header field
 * syntax, Host, Content-Length, Transfer-Encoding), and then lets the head
 * and the body through; it follows bodies (Content-Length or chunked) only
 * to know where the next head starts, and refuses chunk sizes and lengths
 * over a bound as soon as they are read.  Anything RFC 9112 says a server
 * must or may reject ends the stream with a status to answer and close
 * with (section 6.3: after a framing error the connection cannot be reused).
 */
#ifndef QKDLAB_HTTP_FRAME_H
#define QKDLAB_HTTP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_frame_ev {
	HTTP_FRAME_MORE, /* all input consumed */
	HTTP_FRAME_HEAD, /* a head is complete: pass http_frame_head() on */
	HTTP_FRAME_PASS, /* consumed bytes are body: pass them on as they are */
	HTTP_FRAME_BAD, /* refuse: status and reason set, stream over */
};

struct http_frame {
	unsigned max_head; /* bytes of one head (request line + fields) */
	uint64_t max_body; /* bytes of one body (decoded length) */

	int state;
	char *head; /* held head bytes (may be plaintext secrets) */
	size_t head_len, head_cap;
	uint64_t left; /* of a Content-Length body or a chunk */
	uint64_t body; /* decoded body bytes so far */
	unsigned line; /* bytes in the current chunk-size/trailer line */
	unsigned ndigits;
	bool ext; /* in a chunk extension */
	unsigned long long heads; /* complete heads so far */
	/* With keep set, the body's data (chunk framing removed) collects
	 * here, bounded by max_body, for http_frame_take_body(). */
	bool keep;
	bool keep_failed; /* no memory for the body: it is not whole */
	char *data;
	size_t data_len, data_cap;

	int status; /* when HTTP_FRAME_BAD */
	const char *why;
};

void http_frame_init(struct http_frame *f, unsigned max_head,
		     uint64_t max_body);
/* Wipes and frees what the checker holds. */
void http_frame_clear(struct http_frame *f);
/*
 * Feeds n bytes; sets *used to how many were consumed and returns what
 * they were.  HTTP_FRAME_MORE: head bytes, held (nothing to pass on yet).
 * HTTP_FRAME_HEAD: the held head is complete and valid; pass it on
 * (http_frame_head()), then call http_frame_head_done().
 * HTTP_FRAME_PASS: the *used bytes are body bytes to pass on.
 * HTTP_FRAME_BAD: f->status and f->why say why; feed no more.
 */
enum http_frame_ev http_frame_feed(struct http_frame *f, const uint8_t *p,
				   size_t n, size_t *used);
const uint8_t *http_frame_head(const struct http_frame *f, size_t *len);
void http_frame_head_done(struct http_frame *f);
/*
 * With f->keep: hands over the data of the body that just ended (a
 * NUL-terminated copy, wiped when freed: secmem_free) and its length;
 * NULL and 0 for a request without one.  -1 if there was no memory to
 * keep it whole.
 */
int http_frame_take_body(struct http_frame *f, char **data, size_t *len);
/* Right after HTTP_FRAME_HEAD: the Content-Length of the body to come;
 * -1 for a chunked body or none. */
int64_t http_frame_content_length(const struct http_frame *f);
/* True while part of a request head has arrived but not all of it. */
bool http_frame_in_head(const struct http_frame *f);
/*
 * True between a head with a body and that body's end, and after a
 * refusal (the body passed before it did not end a request).
 */
bool http_frame_in_body(const struct http_frame *f);

#endif
