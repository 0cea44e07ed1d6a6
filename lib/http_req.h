/*
 * http_req.h — an HTTP/1.1 request head (RFC 9112) split into the parts
 * an application handler reads: method, request-target (path and query),
 * version, the connection's persistence and the header fields.
 *
 * The parser works in place on a head that ends with its empty line: it
 * ends the method, the target and each field name and value with a NUL
 * (over the SP, ':' and CR/LF that follow them), so every part is a C
 * string pointing into the caller's buffer, which must outlive the
 * request.  It checks what it relies on (RFC 9112 3, 5) on its own, so
 * it is safe on any input, and it is bounded: at most HTTP_REQ_FIELDS
 * field lines.  The TLS front calls it on heads lib/http_frame.c has
 * already accepted.
 */
#ifndef QKDLAB_HTTP_REQ_H
#define QKDLAB_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_REQ_FIELDS 100 /* field lines one head may hold */

struct http_field {
	const char *name; /* as sent; compare case-insensitively */
	const char *value; /* OWS trimmed (RFC 9112 5) */
	size_t value_len;
};

struct http_req {
	const char *method; /* token, case-sensitive (RFC 9110 9.1) */
	const char *target; /* request-target as sent, query included */
	size_t path_len; /* target[0..path_len) is the path */
	const char *query; /* after '?', or NULL; raw (not decoded) */
	size_t query_len;
	int minor; /* HTTP/1.minor */
	bool keep_alive; /* RFC 9112 9.3: the connection may persist */
	bool head; /* method HEAD: the answer carries no body */
	struct http_field fields[HTTP_REQ_FIELDS];
	size_t nfields;
};

/*
 * Parses head[0..len) (request line, field lines, empty line) in place.
 * 0; -2 if it holds more than HTTP_REQ_FIELDS fields (RFC 6585 5: 431);
 * -1 on anything else that is not a well-formed HTTP/1.x request head.
 */
int http_req_parse(struct http_req *r, char *head, size_t len);
/* The value of the first field named name (case-insensitive), or NULL. */
const char *http_req_field(const struct http_req *r, const char *name);
/*
 * The first query argument called name (compared after decoding), decoded
 * (RFC 3986 2.1 %XX, '+' as a space) into out with a NUL: its length; -1
 * if absent; -2 if some argument's name or this value does not decode
 * (a bad escape, a NUL) or the value does not fit cap.
 */
int http_req_query_arg(const struct http_req *r, const char *name, char *out,
		       size_t cap);

#endif
