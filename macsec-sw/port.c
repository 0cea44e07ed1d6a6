/*
 * port.c — the two ports of the SecY (802.1AE 10.1, Figure 10-1).
 *
 * The Uncontrolled Port is an Ethernet interface opened with AF_PACKET
 * sockets and served in batches: through memory-mapped receive and
 * transmit rings, each on a socket of its own (ring.c), where the kernel
 * copies a received frame into the ring in the sender's context and
 * takes ours from the transmit ring, or with recvmmsg()/sendmmsg() on one
 * socket.  The Controlled
 * Port is a TAP device without a packet-information header.  With offloads
 * off, the kernel hands us complete frames with checksums done; with them
 * on, every frame comes and goes behind a virtio-net header and reads may
 * bring TCP super-frames with checksums left to us (offload.c).
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <net/if.h>
#include <poll.h>
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

/*
 * The receive ring holds what arrives while the receive thread waits for
 * a core: a TCP sender's whole window (some MiB) at full rate, or frames
 * are lost (InPktsOverrun) and the flow backs off.  Sized in octets.
 */
#define RX_RING_OCTETS (8U << 20)
#define RX_RING_FRAMES_MIN 1024U
/* Frames queued for sending: a few 64 KiB super-frames' worth. */
#define TX_RING_FRAMES 256
/* Room beyond the MTU and the Ethernet header: two VLAN tags. */
#define WIRE_TAGS_LEN 8

static int
ring_map(int fd, const struct pring_geom *g, uint8_t **map, size_t *len)
{
	*len = g->block_size * g->block_nr;
	*map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED) {
		*map = NULL;
		return -1;
	}
	return 0;
}

/*
 * Maps a receive ring on the still unbound socket, so that no frame ever
 * waits in its plain queue.  Slots hold the longest frame the interface's
 * MTU lets through (a longer one arrives cut short and is dropped as one
 * longer than PORT_FRAME_MAX is without rings).
 */
static int
wire_rx_ring(struct wire *w)
{
	struct pring_geom g;
	struct tpacket_req req;
	long page = sysconf(_SC_PAGESIZE);
	size_t rx_max = w->mtu + ETH_HDR_LEN + WIRE_TAGS_LEN;
	unsigned frames = RX_RING_OCTETS / (unsigned)rx_max;
	int v = TPACKET_V2;

	if (frames < RX_RING_FRAMES_MIN)
		frames = RX_RING_FRAMES_MIN;
	if (page <= 0 || rx_max > PORT_FRAME_MAX ||
	    pring_geometry(rx_max, frames, (size_t)page, &g) == -1)
		return -1;
	if (setsockopt(w->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) == -1)
		return -1;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = (unsigned)g.block_size;
	req.tp_block_nr = g.block_nr;
	req.tp_frame_size = (unsigned)g.frame_size;
	req.tp_frame_nr = g.frame_nr;
	if (setsockopt(w->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) ==
		-1 ||
	    ring_map(w->fd, &g, &w->map, &w->map_len) == -1)
		return -1;
	pring_init(&w->rx, w->map, &g);
	return 0;
}

/*
 * Sends go through a socket of their own with a transmit ring (slots of
 * what the SecY may send, secy_set_max_frame: MTU and header), bound to
 * the interface with protocol 0 so that it receives nothing; the receive
 * thread's wait on the other socket is then not visited each time a sent
 * frame's buffer is freed.
 *
 * Each frame in a slot follows a virtio-net header (PACKET_VNET_HDR)
 * whose hdr_len is the whole frame: the kernel then copies the frame
 * into the socket buffer instead of lending it the slot's pages, which a
 * veth (or any device that forwards into another stack) would otherwise
 * copy once more, into freshly allocated pages (skb_copy_ubufs).
 */
static int
wire_tx_ring(struct wire *w, bool bypass)
{
	struct pring_geom g;
	struct tpacket_req req;
	struct sockaddr_ll sll;
	long page = sysconf(_SC_PAGESIZE);
	int v = TPACKET_V2, one = 1;

	if (page <= 0 || pring_geometry(w->mtu + ETH_HDR_LEN, TX_RING_FRAMES,
					(size_t)page, &g) == -1)
		return -1;
	if ((w->tx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(w->tx_fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) ==
	    -1)
		return -1;
	/* A frame the device refuses frees its slot instead of stopping
	 * the ring. */
	if (setsockopt(w->tx_fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) ==
	    -1)
		return -1;
	w->tx_vnet = setsockopt(w->tx_fd, SOL_PACKET, PACKET_VNET_HDR, &one,
				sizeof(one)) == 0;
	req.tp_block_size = (unsigned)g.block_size;
	req.tp_block_nr = g.block_nr;
	req.tp_frame_size = (unsigned)g.frame_size;
	req.tp_frame_nr = g.frame_nr;
	if (setsockopt(w->tx_fd, SOL_PACKET, PACKET_TX_RING, &req,
		       sizeof(req)) == -1 ||
	    ring_map(w->tx_fd, &g, &w->tx_map, &w->tx_map_len) == -1)
		return -1;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0;
	sll.sll_ifindex = w->ifindex;
	if (bind(w->tx_fd, (struct sockaddr *)&sll, sizeof(sll)) == -1)
		return -1;
	/* Straight to the driver's queue, past the qdisc and past packet
	 * taps: tcpdump on the interface no longer sees what we send. */
	if (bypass && setsockopt(w->tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS,
				 &one, sizeof(one)) == -1)
		log_debug("%s: PACKET_QDISC_BYPASS unsupported", w->name);
	pring_init(&w->tx, w->tx_map, &g);
	return 0;
}

int
wire_open(struct wire *w, const char *ifname, bool bypass, bool rings)
{
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	struct ifreq ifr;
	int one = 1, rcvbuf = 4 << 20;

	memset(w, 0, sizeof(*w));
	w->fd = w->tx_fd = -1;
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
	/* Protocol 0: nothing reaches the socket before bind(). */
	if ((w->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("AF_PACKET socket (needs CAP_NET_RAW)");
		goto err;
	}
	if (rings && (wire_rx_ring(w) == -1 || wire_tx_ring(w, bypass) == -1)) {
		log_info("%s: no packet rings (%s): plain receive and send",
			 ifname, strerror(errno));
		wire_close(w);
		return wire_open(w, ifname, bypass, false);
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
	if (w->map != NULL)
		return 0;
	w->tx_fd = w->fd;
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
	if (w->map != NULL)
		munmap(w->map, w->map_len);
	if (w->tx_map != NULL)
		munmap(w->tx_map, w->tx_map_len);
	w->map = w->tx_map = NULL;
	if (w->tx_fd != -1 && w->tx_fd != w->fd)
		close(w->tx_fd);
	if (w->fd != -1)
		close(w->fd);
	w->fd = w->tx_fd = -1;
}

/* The kernel reports a pending socket error (ENETDOWN after a link flap)
 * through poll(); with a ring no receive call clears it, so read it. */
static int
wire_clear_error(struct wire *w)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	if (err == ENETDOWN)
		log_warnx("%s went down", w->name);
	else if (err != 0)
		log_debug("%s: %s", w->name, strerror(err));
	return 0;
}

static int
wire_recv_ring(struct wire *w, struct port_batch *b)
{
	struct pring_rx f;

	b->n = 0;
	while (b->n < PORT_BATCH && pring_rx_next(&w->rx, &f) == 1) {
		/* As below: our own sends, frames cut short. */
		if (f.outgoing || f.truncated)
			continue;
		b->at[b->n] = f.frame;
		b->len[b->n++] = f.len;
	}
	if (b->n == 0 && w->rx.held == 0)
		return wire_clear_error(w);
	return 0;
}

void
wire_recv_done(struct wire *w)
{
	if (w->map != NULL)
		pring_rx_release(&w->rx);
}

int
wire_recv(struct wire *w, struct port_batch *b)
{
	struct mmsghdr msg[PORT_BATCH];
	struct iovec iov[PORT_BATCH];
	struct sockaddr_ll from[PORT_BATCH];
	size_t i;
	int n;

	if (w->map != NULL)
		return wire_recv_ring(w, b);
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
		b->at[b->n] = b->frame[i];
		b->len[b->n++] = msg[i].msg_len;
	}
	return 0;
}

uint64_t
wire_drops(struct wire *w)
{
	struct tpacket_stats_v3 st; /* begins as struct tpacket_stats */
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
		n = sendmmsg(w->tx_fd, msg + done, (unsigned)(b->n - done), 0);
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
wire_tx_flush(struct wire *w)
{
	if (w->tx.queued == 0)
		return 0;
	w->tx.queued = 0;
	return wire_tx_send(w);
}

int
wire_tx_send(struct wire *w)
{
	/* The kernel sends every slot marked, in ring order, whichever
	 * thread asks; no waiting for completions. */
	while (send(w->tx_fd, NULL, 0, MSG_DONTWAIT) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == ENOBUFS)
			return 0; /* sent as far as the device took them */
		log_debug("send on %s: %s", w->name, strerror(errno));
		return -1;
	}
	return 0;
}

/* The frame's place in the slot: behind the virtio-net header, if any. */
static uint8_t *
tx_frame(struct wire *w, uint8_t *slot, size_t *cap)
{
	w->tx_at = slot;
	if (!w->tx_vnet)
		return slot;
	*cap -= VNET_HDR_LEN;
	return slot + VNET_HDR_LEN;
}

uint8_t *
wire_tx_slot(struct wire *w, size_t *cap)
{
	struct pollfd pfd;
	uint8_t *p;
	int tries;

	if ((p = pring_tx_slot(&w->tx, cap)) != NULL)
		return tx_frame(w, p, cap);
	/*
	 * Full: the head slot's frame is still on its way.  Send what is
	 * queued and wait for a slot; a full ring pushes back on the TAP's
	 * senders as a full socket buffer would.
	 */
	if (wire_tx_flush(w) == -1)
		return NULL;
	for (tries = 0; tries < 100; tries++) {
		if ((p = pring_tx_slot(&w->tx, cap)) != NULL)
			return tx_frame(w, p, cap);
		pfd.fd = w->tx_fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 10) == -1 && errno != EINTR)
			return NULL;
	}
	log_debug("%s: transmit ring stays full", w->name);
	return NULL;
}

void
wire_tx_put(struct wire *w, size_t len)
{
	struct virtio_net_hdr h;

	if (!w->tx_vnet) {
		pring_tx_put(&w->tx, len);
		return;
	}
	/* No offloads; all of it is header, copied (see wire_tx_ring()). */
	memset(&h, 0, sizeof(h));
	h.hdr_len = (uint16_t)len;
	memcpy(w->tx_at, &h, VNET_HDR_LEN);
	pring_tx_put(&w->tx, VNET_HDR_LEN + len);
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
