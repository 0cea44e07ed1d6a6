/*
 * offload.c — the TAP's offloads: TCP segmentation of the super-frames a
 * TAP with a virtio-net header hands us, checksum completion, and the
 * receive-side coalescing of validated TCP segments of one flow into one
 * super-frame.
 *
 * None of this is 802.1AE: the SecY below sees only frames that fit the
 * Controlled Port's MTU (10.7.4: the MAC service data unit is what a frame
 * carries), one at a time, and validates every received frame on its own
 * before it reaches the coalescer.  No I/O happens here.
 *
 * Checksums are the Internet checksum (RFC 1071).  The one's-complement sum
 * does not depend on byte order (RFC 1071 2.(B)), so words are summed in
 * host order and the result stored back the same way.
 */
#include <netinet/in.h>
#include <linux/virtio_net.h>
#include <string.h>

#include "macsec_sw.h"
#include "util.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define IPV4_HDR_MIN 20
#define IPV6_HDR_LEN 40
#define TCP_HDR_MIN 20

/* TCP flags (RFC 9293 3.1, RFC 3168 6.1). */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10
#define TCPF_URG 0x20
#define TCPF_ECE 0x40
#define TCPF_CWR 0x80

/* Two 64-bit lanes (GCC/Clang vector extension: SSE2 on x86-64). */
typedef uint64_t csum_v2 __attribute__((vector_size(16)));

static uint64_t
csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	const csum_v2 lo32 = { 0xffffffffU, 0xffffffffU };
	csum_v2 a0 = { 0, 0 }, a1 = a0, a2 = a0, a3 = a0, x, y;
	uint32_t w0;
	uint16_t h;
	uint8_t last[2];

	/*
	 * 32-bit words, each widened into a 64-bit lane of one of four
	 * independent sums: no carry is lost below 2^32 words, and the
	 * additions do not wait on each other.  Masks and shifts widen
	 * them (no shuffles).  Then the tail; only the last chunk summed
	 * may have an odd length.
	 */
	for (; len >= 32; p += 32, len -= 32) {
		memcpy(&x, p, 16);
		memcpy(&y, p + 16, 16);
		a0 += x & lo32;
		a1 += x >> 32;
		a2 += y & lo32;
		a3 += y >> 32;
	}
	a0 += a1 + a2 + a3;
	sum += a0[0] + a0[1];
	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w0, p, 4);
		sum += w0;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		sum += h;
		p += 2;
		len -= 2;
	}
	if (len == 1) {
		last[0] = p[0];
		last[1] = 0;
		memcpy(&h, last, 2);
		sum += h;
	}
	return sum;
}

static uint16_t
csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * Stores the complemented checksum as computed: 0x0000 stays 0x0000.  The
 * folded sum of data that is not all zero is never +0, so its complement
 * is never 0xffff, and receivers that check for that (RFC 1624 3) treat
 * 0xffff in TCP or IPv4 as wrong; sending 0 as 0xffff is UDP's rule
 * alone (RFC 768).
 */
static void
csum_store(uint8_t *p, uint64_t sum)
{
	uint16_t c = (uint16_t)~csum_fold(sum);

	memcpy(p, &c, 2);
}

/* The TCP pseudo-header sum (RFC 9293 3.1; RFC 8200 8.1 for IPv6). */
static uint64_t
csum_pseudo(const uint8_t *l3, bool v6, size_t l4_len)
{
	uint8_t tail[4];
	uint64_t sum;

	sum = v6 ? csum_add(0, l3 + 8, 32) : csum_add(0, l3 + 12, 8);
	tail[0] = 0;
	tail[1] = IPPROTO_TCP;
	store_be16(tail + 2, (uint16_t)l4_len);
	return csum_add(sum, tail, 4);
}

static void
ipv4_set_csum(uint8_t *ip, size_t ihl)
{
	ip[10] = ip[11] = 0;
	csum_store(ip + 10, csum_add(0, ip, ihl));
}

/* The network header of an untagged or single-tagged frame; 0 if none. */
static size_t
l3_offset(const uint8_t *frame, size_t len, uint16_t *ethertype)
{
	size_t off = ETH_ADDRS_LEN;

	if (len < ETH_HDR_LEN)
		return 0;
	*ethertype = load_be16(frame + off);
	if (*ethertype == 0x8100 || *ethertype == 0x88a8) {
		off += 4;
		if (len < off + 2)
			return 0;
		*ethertype = load_be16(frame + off);
	}
	return off + 2;
}

void
vnet_hdr_plain(uint8_t vh[VNET_HDR_LEN], bool csum_valid)
{
	struct virtio_net_hdr h;

	memset(&h, 0, sizeof(h));
	if (csum_valid)
		h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	memcpy(vh, &h, VNET_HDR_LEN);
}

int
gso_begin(struct gso_iter *g, const uint8_t vh[VNET_HDR_LEN],
	  const uint8_t *frame, size_t len)
{
	struct virtio_net_hdr h;
	uint16_t et;
	size_t thl;

	memcpy(&h, vh, sizeof(h));
	memset(g, 0, sizeof(*g));
	g->frame = frame;
	g->len = len;
	g->type = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		/* The checksum field lies within the frame. */
		if ((size_t)h.csum_start + h.csum_offset + 2 > len)
			return -1;
		g->csum = true;
		g->csum_start = h.csum_start;
		g->csum_offset = h.csum_offset;
	}
	if (g->type == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	/* TUNSETOFFLOAD offered TSO for IPv4 and IPv6 only, no ECN. */
	if (g->type != VIRTIO_NET_HDR_GSO_TCPV4 &&
	    g->type != VIRTIO_NET_HDR_GSO_TCPV6)
		return -1;
	if ((h.gso_type & VIRTIO_NET_HDR_GSO_ECN) || !g->csum ||
	    h.gso_size == 0)
		return -1;
	g->v6 = g->type == VIRTIO_NET_HDR_GSO_TCPV6;
	if ((g->l3 = l3_offset(frame, len, &et)) == 0 ||
	    et != (g->v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4))
		return -1;
	g->l4 = h.csum_start;
	if (g->l4 < g->l3 + (g->v6 ? IPV6_HDR_LEN : IPV4_HDR_MIN) ||
	    g->l4 + TCP_HDR_MIN > len)
		return -1;
	if (!g->v6 && (frame[g->l3] & 0x0f) * 4U != g->l4 - g->l3)
		return -1;
	thl = (frame[g->l4 + 12] >> 4) * 4U;
	if (thl < TCP_HDR_MIN || g->l4 + thl > len)
		return -1;
	g->hlen = g->l4 + thl;
	g->mss = h.gso_size;
	g->off = g->hlen;
	return 0;
}

/* The payload length of the next TSO segment: an MSS, or what is left. */
static size_t
gso_seg_len(const struct gso_iter *g)
{
	return g->len - g->off < g->mss ? g->len - g->off : g->mss;
}

int
gso_next_parts(struct gso_iter *g, uint8_t *out, size_t cap, size_t *out_len,
	       const uint8_t **payload, size_t *payload_len)
{
	size_t plen, l4_len;
	uint32_t seq;
	uint8_t *tcp, flags;
	uint64_t sum;

	if (g->type == VIRTIO_NET_HDR_GSO_NONE) {
		if (g->done || g->len > cap)
			return 0;
		memcpy(out, g->frame, g->len);
		/* RFC 1071: the field holds the pseudo-header sum; fold in
		 * everything from csum_start. */
		if (g->csum)
			csum_store(out + g->csum_start + g->csum_offset,
				   csum_add(0, g->frame + g->csum_start,
					    g->len - g->csum_start));
		*out_len = g->len;
		*payload = NULL;
		*payload_len = 0;
		g->done = true;
		return 1;
	}
	if (g->off >= g->len && g->idx > 0)
		return 0;
	plen = gso_seg_len(g);
	if (g->hlen > cap)
		return 0;
	memcpy(out, g->frame, g->hlen);
	l4_len = g->hlen - g->l4 + plen;
	if (g->v6) {
		store_be16(out + g->l3 + 4,
			   (uint16_t)(g->hlen - g->l3 - IPV6_HDR_LEN + plen));
	} else {
		store_be16(out + g->l3 + 2, (uint16_t)(g->hlen - g->l3 + plen));
		store_be16(
		    out + g->l3 + 4,
		    (uint16_t)(load_be16(g->frame + g->l3 + 4) + g->idx));
		ipv4_set_csum(out + g->l3, g->l4 - g->l3);
	}
	tcp = out + g->l4;
	seq = load_be32(g->frame + g->l4 + 4) + (uint32_t)(g->off - g->hlen);
	store_be32(tcp + 4, seq);
	/* What the kernel's own segmentation does: FIN and PSH on the last
	 * segment only, CWR on the first only. */
	flags = tcp[13];
	if (g->off + plen < g->len)
		flags &= (uint8_t) ~(TCPF_FIN | TCPF_PSH);
	if (g->idx > 0)
		flags &= (uint8_t)~TCPF_CWR;
	tcp[13] = flags;
	/* The TCP header is a multiple of 4 octets long (RFC 9293 3.1), so
	 * the payload's words line up the same summed on their own. */
	tcp[16] = tcp[17] = 0;
	sum = csum_add(csum_pseudo(out + g->l3, g->v6, l4_len), tcp,
		       g->hlen - g->l4);
	csum_store(tcp + 16, csum_add(sum, g->frame + g->off, plen));
	*out_len = g->hlen;
	*payload = g->frame + g->off;
	*payload_len = plen;
	g->off += plen;
	g->idx++;
	return 1;
}

int
gso_next(struct gso_iter *g, uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *payload;
	size_t hlen, plen;

	/* Refused before the iterator moves: it stays at the segment. */
	if (g->type != VIRTIO_NET_HDR_GSO_NONE && g->off < g->len &&
	    g->hlen + gso_seg_len(g) > cap)
		return 0;
	if (gso_next_parts(g, out, cap, &hlen, &payload, &plen) != 1)
		return 0;
	if (plen > 0)
		memcpy(out + hlen, payload, plen);
	*out_len = hlen + plen;
	return 1;
}

/*
 * A TCP segment the coalescer may take: IPv4 without options or fragments
 * or IPv6 without extension headers, ACK set, no flags but PSH beside it,
 * some payload, and both checksums verified here (the merged super-frame
 * reaches the stack with CHECKSUM_PARTIAL, which the stack trusts).
 */
static bool
gro_parse(const uint8_t *f, size_t len, struct gro_seg *s)
{
	uint16_t et;
	size_t ipl, thl;

	if ((s->l3 = l3_offset(f, len, &et)) != ETH_HDR_LEN)
		return false;
	if (et == ETHERTYPE_IPV4) {
		s->v6 = false;
		if (len < s->l3 + IPV4_HDR_MIN || f[s->l3] != 0x45 ||
		    f[s->l3 + 9] != IPPROTO_TCP ||
		    (load_be16(f + s->l3 + 6) & 0x3fff) != 0)
			return false;
		ipl = load_be16(f + s->l3 + 2);
		if (ipl < IPV4_HDR_MIN + TCP_HDR_MIN || s->l3 + ipl > len ||
		    csum_fold(csum_add(0, f + s->l3, IPV4_HDR_MIN)) != 0xffff)
			return false;
		s->l4 = s->l3 + IPV4_HDR_MIN;
	} else if (et == ETHERTYPE_IPV6) {
		s->v6 = true;
		if (len < s->l3 + IPV6_HDR_LEN || (f[s->l3] >> 4) != 6 ||
		    f[s->l3 + 6] != IPPROTO_TCP)
			return false;
		ipl = IPV6_HDR_LEN + load_be16(f + s->l3 + 4);
		if (ipl < IPV6_HDR_LEN + TCP_HDR_MIN || s->l3 + ipl > len)
			return false;
		s->l4 = s->l3 + IPV6_HDR_LEN;
	} else {
		return false;
	}
	s->end = s->l3 + ipl; /* drops any Ethernet padding */
	thl = (f[s->l4 + 12] >> 4) * 4U;
	if (thl < TCP_HDR_MIN || s->l4 + thl >= s->end)
		return false;
	s->hlen = s->l4 + thl;
	s->flags = f[s->l4 + 13];
	if (!(s->flags & TCPF_ACK) ||
	    (s->flags & (uint8_t) ~(TCPF_ACK | TCPF_PSH)) != 0)
		return false;
	s->seq = load_be32(f + s->l4 + 4);
	s->plen = s->end - s->hlen;
	return csum_fold(csum_add(csum_pseudo(f + s->l3, s->v6, s->end - s->l4),
				  f + s->l4, s->end - s->l4)) == 0xffff;
}

void
gro_init(struct gro *g, uint8_t *buf, size_t cap)
{
	memset(g, 0, sizeof(*g));
	g->buf = buf;
	g->cap = cap;
}

/* Same flow, same headers but for the IP length, ID and checksum and the
 * TCP sequence number, checksum and PSH. */
static bool
gro_same(const struct gro *g, const uint8_t *f, const struct gro_seg *s)
{
	const uint8_t *p = g->buf + VNET_HDR_LEN;
	const struct gro_seg *h = &g->head;

	if (s->v6 != h->v6 || s->hlen != h->hlen ||
	    memcmp(p, f, ETH_HDR_LEN) != 0)
		return false;
	if (s->v6) {
		/* version, class, flow label; next header, hop limit, addresses */
		if (memcmp(p + h->l3, f + s->l3, 4) != 0 ||
		    memcmp(p + h->l3 + 6, f + s->l3 + 6, 34) != 0)
			return false;
	} else {
		/* version, IHL, DSCP/ECN; DF; TTL, protocol; addresses */
		if (memcmp(p + h->l3, f + s->l3, 2) != 0 ||
		    memcmp(p + h->l3 + 6, f + s->l3 + 6, 4) != 0 ||
		    memcmp(p + h->l3 + 12, f + s->l3 + 12, 8) != 0)
			return false;
	}
	/* ports; acknowledgement, data offset, window; urgent pointer and
	 * options (timestamps included, as the kernel's GRO requires) */
	return memcmp(p + h->l4, f + s->l4, 4) == 0 &&
	       memcmp(p + h->l4 + 8, f + s->l4 + 8, 5) == 0 &&
	       memcmp(p + h->l4 + 14, f + s->l4 + 14, 2) == 0 &&
	       memcmp(p + h->l4 + 18, f + s->l4 + 18, s->hlen - s->l4 - 18) ==
		   0;
}

int
gro_add(struct gro *g, const uint8_t *f, size_t len)
{
	struct gro_seg s;
	uint8_t *p = g->buf + VNET_HDR_LEN;

	if (!gro_parse(f, len, &s))
		return -1;
	if (g->nseg == 0) {
		if (VNET_HDR_LEN + s.end > g->cap)
			return -1;
		memcpy(p, f, s.end);
		g->head = s;
		g->len = s.end;
		g->next_seq = s.seq + (uint32_t)s.plen;
		g->nseg = 1;
		g->closed = (s.flags & TCPF_PSH) != 0;
		return 0;
	}
	/* Every segment but the last carries exactly the first's payload. */
	if (g->closed || s.seq != g->next_seq || s.plen > g->head.plen ||
	    g->len + s.plen - g->head.l3 > 65535 ||
	    VNET_HDR_LEN + g->len + s.plen > g->cap || !gro_same(g, f, &s))
		return -1;
	memcpy(p + g->len, f + s.hlen, s.plen);
	g->len += s.plen;
	g->next_seq += (uint32_t)s.plen;
	g->nseg++;
	if (s.flags & TCPF_PSH) {
		p[g->head.l4 + 13] |= TCPF_PSH;
		g->closed = true;
	}
	if (s.plen < g->head.plen)
		g->closed = true;
	return 0;
}

size_t
gro_finish(struct gro *g)
{
	struct virtio_net_hdr h;
	uint8_t *p = g->buf + VNET_HDR_LEN;
	const struct gro_seg *s = &g->head;
	size_t len = g->len;

	if (g->nseg == 0)
		return 0;
	memset(&h, 0, sizeof(h));
	if (g->nseg == 1) {
		/* Unchanged, its checksums verified by gro_parse(). */
		h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	} else {
		if (s->v6) {
			store_be16(p + s->l3 + 4,
				   (uint16_t)(len - s->l3 - IPV6_HDR_LEN));
		} else {
			store_be16(p + s->l3 + 2, (uint16_t)(len - s->l3));
			ipv4_set_csum(p + s->l3, IPV4_HDR_MIN);
		}
		/* CHECKSUM_PARTIAL: the field holds the folded, not
		 * complemented, pseudo-header sum. */
		{
			uint16_t c = csum_fold(
			    csum_pseudo(p + s->l3, s->v6, len - s->l4));

			memcpy(p + s->l4 + 16, &c, 2);
		}
		h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.csum_start = (uint16_t)s->l4;
		h.csum_offset = 16;
		h.gso_type =
		    s->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		h.gso_size = (uint16_t)s->plen;
		h.hdr_len = (uint16_t)s->hlen;
	}
	memcpy(g->buf, &h, VNET_HDR_LEN);
	g->nseg = 0;
	g->len = 0;
	g->closed = false;
	return VNET_HDR_LEN + len;
}
