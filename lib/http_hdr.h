/*
 * http_hdr.h — header field values the daemons' HTTP servers check
 * before they accept a request body.
 */
#ifndef QKDLAB_HTTP_HDR_H
#define QKDLAB_HTTP_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 9110 5.6.2 tchar: an octet of a token (method, field name). */
bool http_tchar(unsigned char c);
/*
 * True for a Content-Length (RFC 9110 8.6: 1*DIGIT) of at most max.  A
 * list ("5, 5"), a sign or white space is refused; so is any value over
 * max, however many digits it has (no overflow).
 */
bool http_content_length_ok(const char *s, size_t max);
/*
 * The value of the Content-Length element s[0..len) (1*DIGIT): 0 and *out
 * if it is at most max; 1 if it is larger (every digit still checked, no
 * overflow); -1 if it is empty or holds anything but digits.
 */
int http_content_length_parse(const char *s, size_t len, uint64_t max,
			      uint64_t *out);

#endif
