/*
 * http_hdr.c — header field value checks.
 */
#include "http_hdr.h"

bool
http_content_length_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		size_t d = (size_t)(*s - '0');

		if (*s < '0' || *s > '9' || n > max / 10)
			return false;
		n *= 10;
		if (d > max - n)
			return false;
		n += d;
	}
	return true;
}
