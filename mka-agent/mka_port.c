/*
 * mka_port.c — AF_PACKET I/O for EAPOL frames.
 */
#include "mka_port.h"

#include "log.h"
#include "mka_wire.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int
mka_port_open(struct mka_port *p, const char *ifname, const uint8_t group[6])
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct packet_mreq mr = { .mr_type = PACKET_MR_MULTICAST };
	struct ifreq ifr = { 0 };

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	if (str_copy(p->name, sizeof(p->name), ifname) == -1 ||
	    str_copy(ifr.ifr_name, sizeof(ifr.ifr_name), ifname) == -1) {
		log_warnx("%s: interface name too long", ifname);
		return -1;
	}
	if ((p->ifindex = (int)if_nametoindex(ifname)) == 0) {
		log_warn("%s", ifname);
		return -1;
	}
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       htons(MKA_ETHERTYPE_EAPOL));
	if (p->fd == -1) {
		log_warn("%s: AF_PACKET socket", ifname);
		return -1;
	}
	if (ioctl(p->fd, SIOCGIFHWADDR, &ifr) == -1) {
		log_warn("%s: SIOCGIFHWADDR", ifname);
		goto err;
	}
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	sll.sll_protocol = htons(MKA_ETHERTYPE_EAPOL);
	sll.sll_ifindex = p->ifindex;
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) == -1) {
		log_warn("%s: bind", ifname);
		goto err;
	}
	if (group[0] & 1) {
		mr.mr_ifindex = p->ifindex;
		mr.mr_alen = 6;
		memcpy(mr.mr_address, group, 6);
		if (setsockopt(p->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
			       sizeof(mr)) == -1) {
			log_warn("%s: PACKET_ADD_MEMBERSHIP", ifname);
			goto err;
		}
	}
	return 0;
err:
	mka_port_close(p);
	return -1;
}

void
mka_port_close(struct mka_port *p)
{
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
}

ssize_t
mka_port_recv(struct mka_port *p, uint8_t *buf, size_t cap)
{
	struct sockaddr_ll from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	for (;;) {
		n = recvfrom(p->fd, buf, cap, 0, (struct sockaddr *)&from, &fl);
		if (n == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK ||
				       errno == EINTR
				   ? 0
				   : -1;
		/* Our own transmissions come back as PACKET_OUTGOING. */
		if (from.sll_pkttype != PACKET_OUTGOING)
			return n;
	}
}

int
mka_port_send(void *arg, const uint8_t *frame, size_t len)
{
	struct mka_port *p = arg;

	if (send(p->fd, frame, len, 0) != (ssize_t)len) {
		log_warn("%s: send", p->name);
		return -1;
	}
	return 0;
}
