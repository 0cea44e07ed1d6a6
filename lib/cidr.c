/*
 * cidr.c — address prefixes and membership (cidr.h).
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* Whether the first len bits of a and b agree. */
static bool
cidr_bits_eq(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned whole = len / 8, rest = len % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int
cidr_parse(const char *s, struct cidr *c)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/'), *p;
	struct cidr out = { 0 };
	unsigned len = 0, max;
	size_t hl;

	if (slash == NULL || (hl = (size_t)(slash - s)) == 0 ||
	    hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, out.addr) == 1) {
		out.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out.addr) == 1) {
		out.family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	/* One to three decimal digits, no sign, no leading zero. */
	p = slash + 1;
	if (*p < '1' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9' && len <= max; p++)
		len = len * 10 + (unsigned)(*p - '0');
	if (*p != '\0' || len > max)
		return -1;
	out.len = len;
	/* Host bits set: most likely a typo for another network. */
	{
		uint8_t masked[16] = { 0 };

		memcpy(masked, out.addr, len / 8);
		if (len % 8 != 0)
			masked[len / 8] = out.addr[len / 8] &
					  (uint8_t)(0xff << (8 - len % 8));
		if (memcmp(masked, out.addr, max / 8) != 0)
			return -1;
	}
	*c = out;
	return 0;
}

bool
cidr_contains(const struct cidr *c, const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0,	0,
					      0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return c->family == AF_INET && cidr_bits_eq(a, c->addr, c->len);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (c->family == AF_INET6)
		return cidr_bits_eq(a, c->addr, c->len);
	return memcmp(a, v4mapped, sizeof(v4mapped)) == 0 &&
	       cidr_bits_eq(a + 12, c->addr, c->len);
}
