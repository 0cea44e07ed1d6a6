/*
 * ring.c — the slots of a packet socket's memory-mapped rings
 * (PACKET_RX_RING / PACKET_TX_RING, TPACKET_V2; Linux
 * Documentation/networking/packet_mmap.rst).
 *
 * Each slot starts with a struct tpacket2_hdr whose tp_status says who
 * owns it: on receive the kernel fills slots in order and hands each over
 * with TP_STATUS_USER, and we give it back with TP_STATUS_KERNEL; on
 * transmit we fill a slot that reads TP_STATUS_AVAILABLE, mark it
 * TP_STATUS_SEND_REQUEST, and the kernel makes it available again once
 * the frame has left (its pages are the frame's buffer until then).  The
 * status word is the only thing both sides write, so it is read with
 * acquire and written with release ordering.  No system calls here.
 */
#include <linux/if_packet.h>
#include <string.h>

#include "macsec_sw.h"

/* Where a transmitted frame starts in its slot without PACKET_TX_HAS_OFF:
 * the header, less the address the receive side would put after it. */
#define TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

static uint32_t
status_load(const struct tpacket2_hdr *h)
{
	return __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
}

static void
status_store(struct tpacket2_hdr *h, uint32_t st)
{
	__atomic_store_n(&h->tp_status, st, __ATOMIC_RELEASE);
}

int
pring_geometry(size_t frame_max, unsigned min_frames, size_t page,
	       struct pring_geom *g)
{
	size_t per_block, blocks;

	if (page == 0 || min_frames == 0 || frame_max == 0)
		return -1;
	/* Receive places the MAC header so that the network header is
	 * aligned (netoff); transmit starts earlier.  Room for the larger. */
	g->frame_size =
	    TPACKET_ALIGN(TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + frame_max);
	g->block_size = PRING_BLOCK;
	if (g->block_size < g->frame_size)
		g->block_size = (g->frame_size + page - 1) / page * page;
	if (g->block_size % page != 0)
		return -1;
	per_block = g->block_size / g->frame_size;
	blocks = (min_frames + per_block - 1) / per_block;
	if (blocks * per_block > PRING_FRAMES_MAX)
		return -1;
	g->block_nr = (unsigned)blocks;
	g->frame_nr = (unsigned)(blocks * per_block);
	g->per_block = (unsigned)per_block;
	return 0;
}

void
pring_init(struct pring *r, uint8_t *base, const struct pring_geom *g)
{
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->geom = *g;
}

size_t
pring_slot_offset(const struct pring_geom *g, unsigned i)
{
	/* Slots never straddle the end of a block. */
	return (size_t)(i / g->per_block) * g->block_size +
	       (size_t)(i % g->per_block) * g->frame_size;
}

static struct tpacket2_hdr *
slot_at(const struct pring *r, unsigned i)
{
	return (struct tpacket2_hdr *)(void *)(r->base +
					       pring_slot_offset(&r->geom, i));
}

static unsigned
next(const struct pring *r, unsigned i)
{
	return i + 1 == r->geom.frame_nr ? 0 : i + 1;
}

int
pring_rx_next(struct pring *r, struct pring_rx *f)
{
	struct tpacket2_hdr *h;
	const struct sockaddr_ll *sll;

	if (r->held == r->geom.frame_nr)
		return 0; /* all ours already: give some back first */
	h = slot_at(r, r->head);
	if (!(status_load(h) & TP_STATUS_USER))
		return 0;
	sll = (const struct sockaddr_ll *)(const void *)((const uint8_t *)h +
							 TPACKET_ALIGN(
							     sizeof(*h)));
	f->frame = (const uint8_t *)h + h->tp_mac;
	f->len = h->tp_snaplen;
	/* The slot cut the frame short, or the MAC header lies outside. */
	f->truncated = h->tp_snaplen < h->tp_len ||
		       (size_t)h->tp_mac + h->tp_snaplen > r->geom.frame_size;
	f->outgoing = sll->sll_pkttype == PACKET_OUTGOING;
	r->head = next(r, r->head);
	r->held++;
	return 1;
}

void
pring_rx_release(struct pring *r)
{
	for (; r->held > 0; r->held--) {
		status_store(slot_at(r, r->tail), TP_STATUS_KERNEL);
		r->tail = next(r, r->tail);
	}
}

uint8_t *
pring_tx_slot(struct pring *r, size_t *cap)
{
	struct tpacket2_hdr *h = slot_at(r, r->head);
	uint32_t st = status_load(h);

	/* WRONG_FORMAT: the kernel refused the frame last there (without
	 * PACKET_LOSS); the slot is ours again either way. */
	if (st != TP_STATUS_AVAILABLE && st != TP_STATUS_WRONG_FORMAT)
		return NULL;
	*cap = r->geom.frame_size - TX_DATA_OFF;
	return (uint8_t *)h + TX_DATA_OFF;
}

void
pring_tx_put(struct pring *r, size_t len)
{
	struct tpacket2_hdr *h = slot_at(r, r->head);

	h->tp_len = (uint32_t)len;
	h->tp_snaplen = (uint32_t)len;
	status_store(h, TP_STATUS_SEND_REQUEST);
	r->head = next(r, r->head);
	r->queued++;
}
