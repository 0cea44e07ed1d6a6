/*
 * port.c — the two ports of the SecY (802.1AE 10.1, Figure 10-1).
 *
 * The Uncontrolled Port is an Ethernet interface opened with an AF_PACKET
 * socket and served in batches with recvmmsg()/sendmmsg().  The Controlled
 * Port is a TAP device without a packet-information header.  With offloads
 * off, the kernel hands us complete frames with checksums done; with them
 * on, every frame comes and goes behind a virtio-net header and reads may
 * bring TCP super-frames with checksums left to us (offload.c).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macsec_sw.h"
#include "util.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

static int
if_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s, rc;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = ioctl(s, req, ifr);
	close(s);
	return rc;
}

int
wire_open(struct wire *w, const char *ifname, bool bypass)
{
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	struct ifreq ifr;
	int one = 1, rcvbuf = 4 << 20;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	memset(&ifr, 0, sizeof(ifr));
	if (str_copy(ifr.ifr_name, sizeof(ifr.ifr_name), ifname) == -1 ||
	    str_copy(w->name, sizeof(w->name), ifname) == -1) {
		log_warnx("interface name too long: %s", ifname);
		goto err;
	}
	if ((w->ifindex = (int)if_nametoindex(ifname)) == 0) {
		log_warn("interface %s", ifname);
		goto err;
	}
	if (if_ioctl(SIOCGIFHWADDR, &ifr) == -1) {
		log_warn("%s: cannot read the MAC address", ifname);
		goto err;
	}
	memcpy(w->mac, ifr.ifr_hwaddr.sa_data, ETH_ADDR_LEN);
	if (if_ioctl(SIOCGIFMTU, &ifr) == -1) {
		log_warn("%s: cannot read the MTU", ifname);
		goto err;
	}
	w->mtu = (unsigned)ifr.ifr_mtu;
	if ((w->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC,
			    htons(ETH_P_ALL))) == -1) {
		log_warn("AF_PACKET socket (needs CAP_NET_RAW)");
		goto err;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = w->ifindex;
	if (bind(w->fd, (struct sockaddr *)&sll, sizeof(sll)) == -1) {
		log_warn("bind AF_PACKET to %s", ifname);
		goto err;
	}
	/* Frames for the TAP's address, group addresses: take them all. */
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = w->ifindex;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(w->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
		       sizeof(mr)) == -1) {
		log_warn("%s: promiscuous mode", ifname);
		goto err;
	}
	/* Our own transmissions are not received frames (Linux >= 4.20). */
	if (setsockopt(w->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		       sizeof(one)) == -1)
		log_debug("%s: PACKET_IGNORE_OUTGOING unsupported", ifname);
	(void)setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Straight to the driver's queue, past the qdisc and past packet
	 * taps: tcpdump on the interface no longer sees what we send. */
	if (bypass && setsockopt(w->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
				 sizeof(one)) == -1)
		log_debug("%s: PACKET_QDISC_BYPASS unsupported", ifname);
	return 0;
err:
	wire_close(w);
	return -1;
}

void
wire_close(struct wire *w)
{
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
}

int
wire_recv(struct wire *w, struct port_batch *b)
{
	struct mmsghdr msg[PORT_BATCH];
	struct iovec iov[PORT_BATCH];
	struct sockaddr_ll from[PORT_BATCH];
	size_t i;
	int n;

	memset(msg, 0, sizeof(msg));
	for (i = 0; i < PORT_BATCH; i++) {
		iov[i].iov_base = b->frame[i];
		iov[i].iov_len = PORT_FRAME_MAX;
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
		msg[i].msg_hdr.msg_name = &from[i];
		msg[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	b->n = 0;
	n = recvmmsg(w->fd, msg, PORT_BATCH, MSG_DONTWAIT, NULL);
	if (n == -1) {
		/* A link flap is reported once as ENETDOWN: carry on. */
		if (errno == ENETDOWN) {
			log_warnx("%s went down", w->name);
			return 0;
		}
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	}
	for (i = 0; i < (size_t)n; i++) {
		/* Kernels without PACKET_IGNORE_OUTGOING show us our sends. */
		if (from[i].sll_pkttype == PACKET_OUTGOING)
			continue;
		/* A truncated frame could only fail validation later. */
		if (msg[i].msg_hdr.msg_flags & MSG_TRUNC)
			continue;
		if (b->n != i)
			memmove(b->frame[b->n], b->frame[i], msg[i].msg_len);
		b->len[b->n++] = msg[i].msg_len;
	}
	return 0;
}

uint64_t
wire_drops(struct wire *w)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	/* Reading the statistics also resets them. */
	if (getsockopt(w->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == -1)
		return 0;
	return st.tp_drops;
}

size_t
wire_send(struct wire *w, const struct port_batch *b)
{
	struct mmsghdr msg[PORT_BATCH];
	struct iovec iov[PORT_BATCH];
	size_t i, done = 0;
	int n;

	memset(msg, 0, sizeof(msg));
	for (i = 0; i < b->n; i++) {
		iov[i].iov_base = (void *)(uintptr_t)b->frame[i];
		iov[i].iov_len = b->len[i];
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	/* Blocking sends: a full queue pushes back on the TAP's senders. */
	while (done < b->n) {
		n = sendmmsg(w->fd, msg + done, (unsigned)(b->n - done), 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_debug("sendmmsg: %s", strerror(errno));
			break;
		}
		done += (size_t)n;
	}
	return b->n - done;
}

int
tap_open(const char *name, const uint8_t *mac, unsigned mtu, bool vnet)
{
	struct ifreq ifr;
	/* TSO without ECN (gso_begin() refuses it): the kernel segments
	 * those itself. */
	unsigned long offl = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
	int fd, hdrsz = VNET_HDR_LEN;

	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)) ==
	    -1) {
		log_warn("/dev/net/tun");
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	if (str_copy(ifr.ifr_name, sizeof(ifr.ifr_name), name) == -1 ||
	    ioctl(fd, TUNSETIFF, &ifr) == -1) {
		log_warn("TAP %s", name);
		goto err;
	}
	if (vnet && (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) == -1 ||
		     ioctl(fd, TUNSETOFFLOAD, offl) == -1)) {
		log_warn("%s: TAP offloads", name);
		goto err;
	}
	if (mac != NULL) {
		ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		memcpy(ifr.ifr_hwaddr.sa_data, mac, ETH_ADDR_LEN);
		if (if_ioctl(SIOCSIFHWADDR, &ifr) == -1) {
			log_warn("%s: set MAC address", name);
			goto err;
		}
	}
	ifr.ifr_mtu = (int)mtu;
	if (if_ioctl(SIOCSIFMTU, &ifr) == -1) {
		log_warn("%s: set MTU %u", name, mtu);
		goto err;
	}
	if (if_ioctl(SIOCGIFFLAGS, &ifr) == -1) {
		log_warn("%s: get flags", name);
		goto err;
	}
	ifr.ifr_flags |= IFF_UP;
	if (if_ioctl(SIOCSIFFLAGS, &ifr) == -1) {
		log_warn("%s: set up", name);
		goto err;
	}
	return fd;
err:
	close(fd);
	return -1;
}

int
tap_recv(int fd, struct port_batch *b)
{
	ssize_t n;

	for (b->n = 0; b->n < PORT_BATCH; b->n++) {
		n = read(fd, b->frame[b->n], PORT_FRAME_MAX);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		b->len[b->n] = (size_t)n;
	}
	return 0;
}

ssize_t
tap_read(int fd, uint8_t *buf, size_t cap)
{
	ssize_t n;

	do {
		n = read(fd, buf, cap);
	} while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return 0;
	return n;
}

int
tap_send(int fd, const uint8_t *frame, size_t len)
{
	ssize_t n;

	do {
		n = write(fd, frame, len);
	} while (n == -1 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}
