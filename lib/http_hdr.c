/*
 * http_hdr.c — header field value checks.
 */
#include "http_hdr.h"

#include <string.h>

bool
http_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int
http_content_length_parse(const char *s, size_t len, uint64_t max,
			  uint64_t *out)
{
	uint64_t n = 0;
	bool over = false;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (over || n > max / 10 || d > max - n * 10)
			over = true;
		else
			n = n * 10 + d;
	}
	if (over)
		return 1;
	*out = n;
	return 0;
}

bool
http_content_length_ok(const char *s, size_t max)
{
	uint64_t n;

	return http_content_length_parse(s, strlen(s), max, &n) == 0;
}
