/*
 * test_macsec_ring.c — unit tests for the packet-ring slots of macsec-sw
 * (ring.c), linked against the real object.
 *
 * The far side of the seam, the kernel, is played here on plain memory the
 * way Documentation/networking/packet_mmap.rst describes it for
 * TPACKET_V2: it fills receive slots in order and marks them
 * TP_STATUS_USER, expects them back as TP_STATUS_KERNEL, and sends the
 * transmit slots marked TP_STATUS_SEND_REQUEST from the frame at
 * TPACKET2_HDRLEN - sizeof(struct sockaddr_ll) into the slot.  The
 * geometry is checked against the kernel itself: a fresh packet socket
 * (never bound, so no frame reaches it) must accept it for both rings.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#include "../macsec-sw/macsec_sw.h"
#include "util.h"

#define PAGE 4096
#define FRAME_MAX 100

static struct tpacket2_hdr *
hdr(const struct pring *r, unsigned i)
{
	return (struct tpacket2_hdr *)(void *)(r->base +
					       pring_slot_offset(&r->geom, i));
}

/* The kernel puts a received frame of len octets into slot i. */
static void
kernel_fill(struct pring *r, unsigned i, uint8_t tag, size_t len,
	    size_t wire_len, unsigned char pkttype)
{
	struct tpacket2_hdr *h = hdr(r, i);
	struct sockaddr_ll *sll =
	    (struct sockaddr_ll *)(void *)((uint8_t *)h +
					   TPACKET_ALIGN(sizeof(*h)));

	h->tp_mac = 66; /* netoff 80 less a 14-octet Ethernet header */
	h->tp_net = 80;
	h->tp_snaplen = (uint32_t)len;
	h->tp_len = (uint32_t)wire_len;
	memset((uint8_t *)h + h->tp_mac, tag, len);
	sll->sll_pkttype = pkttype;
	h->tp_status = TP_STATUS_USER;
}

static uint8_t *
ring_new(struct pring *r, unsigned min_frames)
{
	struct pring_geom g;
	uint8_t *mem;

	ASSERT_INT_EQ(pring_geometry(FRAME_MAX, min_frames, PAGE, &g), 0);
	mem = calloc(g.block_nr, g.block_size);
	ASSERT_TRUE(mem != NULL);
	pring_init(r, mem, &g);
	return mem;
}

TEST(geometry_fits_blocks_and_pages)
{
	static const struct {
		size_t frame_max;
		unsigned min;
	} cases[] = {
		{ 1500 + 14 + 8, 5190 }, /* an Ethernet MTU, 8 MiB */
		{ 9216 + 32 + 14, 1024 }, /* jumbo */
		{ 70000, 16 }, /* one slot is larger than a 64 KiB block */
		{ 64, 1 },
	};
	struct pring_geom g;
	size_t i, last;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		ASSERT_INT_EQ(pring_geometry(cases[i].frame_max, cases[i].min,
					     PAGE, &g),
			      0);
		ASSERT_TRUE(g.block_size % PAGE == 0);
		ASSERT_TRUE(g.frame_size % TPACKET_ALIGNMENT == 0);
		/* a received frame fits behind the header at netoff */
		ASSERT_TRUE(g.frame_size >=
			    TPACKET_ALIGN(TPACKET2_HDRLEN + 16) +
				cases[i].frame_max);
		ASSERT_TRUE(g.per_block * g.frame_size <= g.block_size);
		ASSERT_TRUE(g.per_block >= 1);
		ASSERT_TRUE(g.frame_nr >= cases[i].min);
		ASSERT_INT_EQ(g.frame_nr, g.per_block * g.block_nr);
		/* the last slot ends inside the mapping */
		last = pring_slot_offset(&g, g.frame_nr - 1) + g.frame_size;
		ASSERT_TRUE(last <= g.block_size * g.block_nr);
	}
	/* 1500 + 22 octets: 16-aligned 1616-octet slots, 40 a block */
	ASSERT_INT_EQ(pring_geometry(1522, 5190, PAGE, &g), 0);
	ASSERT_INT_EQ(g.frame_size, 1616);
	ASSERT_INT_EQ(g.per_block, 40);
	ASSERT_INT_EQ(g.frame_nr, 5200);
	ASSERT_INT_EQ(pring_slot_offset(&g, 40), 65536);
	ASSERT_INT_EQ(pring_slot_offset(&g, 41), 65536 + 1616);
	ASSERT_INT_EQ(pring_geometry(1522, 0, PAGE, &g), -1);
	ASSERT_INT_EQ(pring_geometry(1522, 16, 0, &g), -1);
	ASSERT_INT_EQ(pring_geometry(1522, PRING_FRAMES_MAX + 1, PAGE, &g), -1);
}

/* The kernel's own checks (packet_set_ring) accept the geometry. */
TEST(geometry_accepted_by_the_kernel)
{
	static const size_t sizes[] = { 1522, 9262, 70000 };
	struct pring_geom g;
	struct tpacket_req req;
	int fd, v = TPACKET_V2;
	size_t i;

	for (i = 0; i < ARRAY_LEN(sizes); i++) {
		/* Protocol 0 and never bound: no frame reaches it. */
		fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		if (fd == -1)
			TH_FAIL("AF_PACKET socket (needs CAP_NET_RAW): %s",
				strerror(errno));
		ASSERT_INT_EQ(setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v,
					 sizeof(v)),
			      0);
		ASSERT_INT_EQ(pring_geometry(sizes[i], 64, PAGE, &g), 0);
		req.tp_block_size = (unsigned)g.block_size;
		req.tp_block_nr = g.block_nr;
		req.tp_frame_size = (unsigned)g.frame_size;
		req.tp_frame_nr = g.frame_nr;
		ASSERT_INT_EQ(setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req,
					 sizeof(req)),
			      0);
		ASSERT_INT_EQ(setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req,
					 sizeof(req)),
			      0);
		close(fd);
	}
}

TEST(rx_takes_in_order_and_gives_back_only_what_it_took)
{
	struct pring r;
	struct pring_rx f;
	uint8_t *mem = ring_new(&r, 8);
	unsigned i;

	ASSERT_INT_EQ(pring_rx_next(&r, &f), 0); /* empty ring */
	kernel_fill(&r, 0, 0xa0, 60, 60, PACKET_HOST);
	kernel_fill(&r, 1, 0xa1, 61, 61, PACKET_HOST);
	kernel_fill(&r, 2, 0xa2, 62, 62, PACKET_MULTICAST);
	for (i = 0; i < 3; i++) {
		ASSERT_INT_EQ(pring_rx_next(&r, &f), 1);
		ASSERT_TRUE(f.frame == (const uint8_t *)hdr(&r, i) + 66);
		ASSERT_INT_EQ(f.len, 60 + i);
		ASSERT_INT_EQ(f.frame[0], 0xa0 + i);
		ASSERT_INT_EQ(f.frame[f.len - 1], 0xa0 + i);
		ASSERT_TRUE(!f.truncated && !f.outgoing);
	}
	ASSERT_INT_EQ(pring_rx_next(&r, &f), 0);
	ASSERT_INT_EQ(r.held, 3);
	/* The kernel goes on filling while we hold the first three. */
	kernel_fill(&r, 3, 0xa3, 63, 63, PACKET_HOST);
	pring_rx_release(&r);
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(hdr(&r, i)->tp_status, TP_STATUS_KERNEL);
	ASSERT_INT_EQ(hdr(&r, 3)->tp_status, TP_STATUS_USER);
	ASSERT_INT_EQ(pring_rx_next(&r, &f), 1);
	ASSERT_INT_EQ(f.frame[0], 0xa3);
	pring_rx_release(&r);
	ASSERT_INT_EQ(hdr(&r, 3)->tp_status, TP_STATUS_KERNEL);
	ASSERT_INT_EQ(r.held, 0);
	free(mem);
}

TEST(rx_wraps_and_flags_truncated_and_outgoing)
{
	struct pring r;
	struct pring_rx f;
	uint8_t *mem = ring_new(&r, 8);
	unsigned n, i, last;

	n = r.geom.frame_nr;
	last = n - 1;
	/* Walk to the last slot. */
	for (i = 0; i < last; i++) {
		kernel_fill(&r, i, 1, 60, 60, PACKET_HOST);
		ASSERT_INT_EQ(pring_rx_next(&r, &f), 1);
		pring_rx_release(&r);
	}
	kernel_fill(&r, last, 0xb0, FRAME_MAX, FRAME_MAX + 40, PACKET_HOST);
	kernel_fill(&r, 0, 0xb1, 60, 60, PACKET_OUTGOING);
	kernel_fill(&r, 1, 0xb2, 60, 60, PACKET_HOST);
	ASSERT_INT_EQ(pring_rx_next(&r, &f), 1);
	ASSERT_TRUE(f.truncated); /* the slot cut it short */
	ASSERT_INT_EQ(pring_rx_next(&r, &f), 1); /* slot 0: wrapped */
	ASSERT_INT_EQ(f.frame[0], 0xb1);
	ASSERT_TRUE(f.outgoing && !f.truncated);
	ASSERT_INT_EQ(pring_rx_next(&r, &f), 1);
	ASSERT_INT_EQ(f.frame[0], 0xb2);
	pring_rx_release(&r);
	ASSERT_INT_EQ(hdr(&r, last)->tp_status, TP_STATUS_KERNEL);
	ASSERT_INT_EQ(hdr(&r, 0)->tp_status, TP_STATUS_KERNEL);
	ASSERT_INT_EQ(hdr(&r, 1)->tp_status, TP_STATUS_KERNEL);
	/* Every slot full and taken: nothing more until some go back. */
	for (i = 0; i < n; i++)
		kernel_fill(&r, (2 + i) % n, 2, 60, 60, PACKET_HOST);
	for (i = 0; i < n; i++)
		ASSERT_INT_EQ(pring_rx_next(&r, &f), 1);
	ASSERT_INT_EQ(r.held, n);
	ASSERT_INT_EQ(pring_rx_next(&r, &f), 0);
	pring_rx_release(&r);
	for (i = 0; i < n; i++)
		ASSERT_INT_EQ(hdr(&r, i)->tp_status, TP_STATUS_KERNEL);
	free(mem);
}

TEST(tx_fills_in_order_and_waits_for_the_kernel)
{
	struct pring r;
	uint8_t *mem = ring_new(&r, 8), *p;
	size_t cap, off = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
	unsigned n, i;

	n = r.geom.frame_nr;
	for (i = 0; i < n; i++) {
		p = pring_tx_slot(&r, &cap);
		ASSERT_TRUE(p == (uint8_t *)hdr(&r, i) + off);
		ASSERT_INT_EQ(cap, r.geom.frame_size - off);
		memset(p, (int)i, 64);
		pring_tx_put(&r, 64 + i % 3);
		ASSERT_INT_EQ(hdr(&r, i)->tp_status, TP_STATUS_SEND_REQUEST);
		ASSERT_INT_EQ(hdr(&r, i)->tp_len, 64 + i % 3);
	}
	ASSERT_INT_EQ(r.queued, n);
	/* Full: the head is slot 0 again, still queued. */
	ASSERT_TRUE(pring_tx_slot(&r, &cap) == NULL);
	hdr(&r, 0)->tp_status = TP_STATUS_SENDING;
	ASSERT_TRUE(pring_tx_slot(&r, &cap) == NULL);
	/* The kernel is done with slot 0; it refused slot 1. */
	hdr(&r, 0)->tp_status = TP_STATUS_AVAILABLE;
	hdr(&r, 1)->tp_status = TP_STATUS_WRONG_FORMAT;
	p = pring_tx_slot(&r, &cap);
	ASSERT_TRUE(p == (uint8_t *)hdr(&r, 0) + off);
	pring_tx_put(&r, 60);
	p = pring_tx_slot(&r, &cap);
	ASSERT_TRUE(p == (uint8_t *)hdr(&r, 1) + off);
	pring_tx_put(&r, 60);
	ASSERT_TRUE(pring_tx_slot(&r, &cap) == NULL); /* slot 2 */
	free(mem);
}

TEST_MAIN(TEST_CASE(geometry_fits_blocks_and_pages),
	  TEST_CASE(geometry_accepted_by_the_kernel),
	  TEST_CASE(rx_takes_in_order_and_gives_back_only_what_it_took),
	  TEST_CASE(rx_wraps_and_flags_truncated_and_outgoing),
	  TEST_CASE(tx_fills_in_order_and_waits_for_the_kernel))
