/*
 * http_hdr.h — header field values the daemons' HTTP servers check
 * before they accept a request body.
 */
#ifndef QKDLAB_HTTP_HDR_H
#define QKDLAB_HTTP_HDR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True for a Content-Length (RFC 9110 8.6: 1*DIGIT) of at most max.  A
 * list ("5, 5"), a sign or white space is refused; so is any value over
 * max, however many digits it has (no overflow).
 */
bool http_content_length_ok(const char *s, size_t max);

#endif
