/*
 * fuzz_offload.c — macsec-sw's TAP offloads (offload.c): the virtio-net
 * header and TCP super-frame segmentation, and the coalescing of received
 * frames.
 *
 * First octet, bit 0: 0 = the next 10 octets are a virtio-net header and
 * the rest the frame a TAP read brought; 1 = the rest is a sequence of
 * frames, each behind a 2-octet big-endian length, for the coalescer.
 * Properties checked beyond "no crash": segments never exceed the header
 * plus gso_size, and their payloads add up to the super-frame's; what the
 * coalescer builds, segmented again by gso_next(), gives back exactly the
 * payload octets of the frames it took.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../macsec-sw/macsec_sw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_SEG_MAX (9216 + ETH_HDR_LEN)

static uint8_t fz_seg[FZ_SEG_MAX];
static uint8_t fz_gro[VNET_HDR_LEN + GSO_FRAME_MAX];

/* Segments a super-frame; returns the payload octets, or -1 if refused. */
static long
fz_segment(const uint8_t *vh, const uint8_t *frame, size_t len, uint8_t *cat,
	   size_t catcap)
{
	struct gso_iter it;
	size_t slen, total = 0;

	if (gso_begin(&it, vh, frame, len) == -1)
		return -1;
	while (gso_next(&it, fz_seg, sizeof(fz_seg), &slen) == 1) {
		if (it.type == 0) {
			if (slen != len)
				abort();
			return (long)len;
		}
		if (slen < it.hlen || slen - it.hlen > it.mss)
			abort();
		if (cat != NULL && total + slen - it.hlen <= catcap)
			memcpy(cat + total, fz_seg + it.hlen, slen - it.hlen);
		total += slen - it.hlen;
	}
	if (it.type != 0 && it.hlen + it.mss <= sizeof(fz_seg) &&
	    total != len - it.hlen)
		abort();
	return (long)total;
}

static void
fz_gro_check(struct gro *g, const uint8_t *want, size_t want_len, unsigned nseg)
{
	static uint8_t cat[GSO_FRAME_MAX];
	size_t n = gro_finish(g);
	long got;

	if (n == 0 || n > sizeof(fz_gro))
		abort();
	got = fz_segment(fz_gro, fz_gro + VNET_HDR_LEN, n - VNET_HDR_LEN,
			 nseg > 1 ? cat : NULL, sizeof(cat));
	if (got == -1)
		abort();
	if (nseg > 1 &&
	    ((size_t)got != want_len || memcmp(cat, want, want_len) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t payload[GSO_FRAME_MAX];
	struct gro g;
	size_t plen = 0, flen, before, added;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		if (size >= 1 + VNET_HDR_LEN)
			(void)fz_segment(data + 1, data + 1 + VNET_HDR_LEN,
					 size - 1 - VNET_HDR_LEN, NULL, 0);
		return 0;
	}
	gro_init(&g, fz_gro, sizeof(fz_gro));
	for (data++, size--; size >= 2; data += flen, size -= flen) {
		flen = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (flen > size)
			flen = size;
		before = g.len;
		if (gro_add(&g, data, flen) == -1) {
			if (g.nseg > 0)
				fz_gro_check(&g, payload, plen, g.nseg);
			plen = 0;
			before = 0;
			if (gro_add(&g, data, flen) == -1)
				continue;
		}
		/* The payload octets taken, read from the input frame itself
		 * (every frame taken has the first one's header length). */
		added = before == 0 ? g.len - g.head.hlen : g.len - before;
		if (g.head.hlen + added > flen)
			abort();
		memcpy(payload + plen, data + g.head.hlen, added);
		plen += added;
	}
	if (g.nseg > 0)
		fz_gro_check(&g, payload, plen, g.nseg);
	return 0;
}
