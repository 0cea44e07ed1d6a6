/*
 * cidr.h — IP address prefixes ("203.0.113.64/28", "2001:db8::/32") and
 * whether a socket address lies inside one: the allow-lists of listeners
 * that have no authentication of their own.
 */
#ifndef QKDLAB_CIDR_H
#define QKDLAB_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; bits past len are zero */
	unsigned len; /* prefix length */
};

/*
 * Parses "address/len" (numeric IPv4 or IPv6, len 1..32 or 1..128; no
 * /0, which would allow everyone).  The address's host bits must be zero.
 * 0, or -1 with c untouched.
 */
int cidr_parse(const char *s, struct cidr *c);
/* Whether sa (AF_INET or AF_INET6; v4-mapped IPv6 counts as IPv4) is in c. */
bool cidr_contains(const struct cidr *c, const struct sockaddr *sa);

#endif
