/*
 * test_macsec_offload.c — unit tests for macsec-sw's TCP segmentation and
 * checksum completion (offload.c), linked against the real object.
 *
 * The truth is the Internet checksum computed here plainly, octet pair by
 * octet pair in network order (RFC 1071 4.1), over the TCP pseudo-header
 * (RFC 9293 3.1; RFC 8200 8.1) and the segment as written: a segment is
 * good when that sum, its checksum field included, folds to 0xffff.  A
 * correct checksum is never 0xffff (RFC 1624 3: the complement of a sum
 * of data that is not all zero), so each test also steers one segment's
 * data until its checksum is 0x0000 and checks that it goes out as such.
 */
#include <linux/virtio_net.h>

#include "harness.h"

#include "../macsec-sw/macsec_sw.h"

#define MSS 100
#define PAYLOAD (3 * MSS + 57) /* a short last segment */
#define TCP_HLEN 32 /* with the timestamps option */
#define SEG_MAX 2048

static uint8_t frame[ETH_HDR_LEN + 40 + TCP_HLEN + PAYLOAD];

static uint32_t
ref_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n % 2)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t
ref_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The pseudo-header sum of the TCP segment at ip + l4 of tcp_len octets. */
static uint32_t
ref_pseudo(const uint8_t *ip, bool v6, size_t tcp_len)
{
	uint8_t tail[8] = { 0 };

	if (v6) {
		tail[2] = (uint8_t)(tcp_len >> 8);
		tail[3] = (uint8_t)tcp_len;
		tail[7] = 6;
		return ref_add(ref_add(0, ip + 8, 32), tail, 8);
	}
	tail[1] = 6;
	tail[2] = (uint8_t)(tcp_len >> 8);
	tail[3] = (uint8_t)tcp_len;
	return ref_add(ref_add(0, ip + 12, 8), tail, 4);
}

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* One's-complement addition of v to the 16-bit word at p. */
static void
add16(uint8_t *p, uint16_t v)
{
	uint16_t w = ref_fold((uint32_t)be16(p) + v);

	p[0] = (uint8_t)(w >> 8);
	p[1] = (uint8_t)w;
}

/* An Ethernet + IPv4 (or IPv6) + TCP super-frame as a TAP hands it over:
 * ACK|PSH, the TCP checksum field holding the pseudo-header sum. */
static size_t
build(bool v6)
{
	size_t l4 = ETH_HDR_LEN + (v6 ? 40 : 20), len = l4 + TCP_HLEN + PAYLOAD;
	uint8_t *ip = frame + ETH_HDR_LEN, *tcp = frame + l4;
	uint16_t ps;
	size_t i;

	memset(frame, 0, sizeof(frame));
	memcpy(frame, "\x02\x00\x00\x00\x00\x0b\x02\x00\x00\x00\x00\x0a", 12);
	frame[12] = v6 ? 0x86 : 0x08;
	frame[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)((TCP_HLEN + PAYLOAD) >> 8);
		ip[5] = (uint8_t)(TCP_HLEN + PAYLOAD);
		ip[6] = 6;
		ip[7] = 64;
		memcpy(ip + 8, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01",
		       16);
		memcpy(ip + 24, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02",
		       16);
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + TCP_HLEN + PAYLOAD) >> 8);
		ip[3] = (uint8_t)(20 + TCP_HLEN + PAYLOAD);
		ip[4] = 0x12;
		ip[5] = 0x34;
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, "\xc0\x00\x02\x01\xc0\x00\x02\x02", 8);
	}
	memcpy(tcp, "\xa0\x00\x13\x89\xb1\x00\x00\x9a\x00\x00\x10\x01", 12);
	tcp[12] = (TCP_HLEN / 4) << 4;
	tcp[13] = 0x18; /* ACK, PSH */
	tcp[14] = 0x01;
	tcp[15] = 0xf5;
	memcpy(tcp + 20, "\x01\x01\x08\x0a\x00\x00\x00\x07\x00\x00\x00\x03",
	       12);
	for (i = 0; i < PAYLOAD; i++)
		tcp[TCP_HLEN + i] = (uint8_t)(i * 7 + 3);
	ps = ref_fold(ref_pseudo(ip, v6, TCP_HLEN + PAYLOAD));
	tcp[16] = (uint8_t)(ps >> 8);
	tcp[17] = (uint8_t)ps;
	return len;
}

static void
vnet(uint8_t vh[VNET_HDR_LEN], bool v6, bool gso, size_t l4)
{
	struct virtio_net_hdr h;

	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = (uint16_t)l4;
	h.csum_offset = 16;
	if (gso) {
		h.gso_type =
		    v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		h.gso_size = MSS;
		h.hdr_len = (uint16_t)(l4 + TCP_HLEN);
	}
	memcpy(vh, &h, VNET_HDR_LEN);
}

/*
 * Segments the super-frame and checks every segment against the reference
 * sums and against the super-frame (sequence numbers, lengths, IPv4 ID,
 * PSH on the last only, payload octets).  Returns segment want's TCP
 * checksum field and (IPv4) segment 0's header checksum field.
 */
static void
segment_and_check(bool v6, size_t len, unsigned want, uint16_t *tcp_csum,
		  uint16_t *ip_csum)
{
	uint8_t vh[VNET_HDR_LEN], seg[SEG_MAX];
	size_t l4 = ETH_HDR_LEN + (v6 ? 40 : 20), hlen = l4 + TCP_HLEN;
	size_t slen, plen, off = 0;
	struct gso_iter it;
	unsigned idx = 0;

	vnet(vh, v6, true, l4);
	ASSERT_INT_EQ(gso_begin(&it, vh, frame, len), 0);
	while (gso_next(&it, seg, sizeof(seg), &slen) == 1) {
		const uint8_t *ip = seg + ETH_HDR_LEN, *tcp = seg + l4;

		plen = PAYLOAD - off < MSS ? PAYLOAD - off : MSS;
		ASSERT_INT_EQ(slen, hlen + plen);
		ASSERT_MEM_EQ(seg + hlen, frame + hlen + off, plen);
		ASSERT_U64_EQ(be32(tcp + 4), be32(frame + l4 + 4) + off);
		ASSERT_INT_EQ(tcp[13], off + plen < PAYLOAD ? 0x10 : 0x18);
		if (v6) {
			ASSERT_INT_EQ(be16(ip + 4), TCP_HLEN + plen);
		} else {
			ASSERT_INT_EQ(be16(ip + 2), 20 + TCP_HLEN + plen);
			ASSERT_INT_EQ(be16(ip + 4), 0x1234 + idx);
			ASSERT_INT_EQ(ref_fold(ref_add(0, ip, 20)), 0xffff);
			ASSERT_TRUE(be16(ip + 10) != 0xffff);
			if (idx == 0)
				*ip_csum = be16(ip + 10);
		}
		ASSERT_INT_EQ(
		    ref_fold(ref_add(ref_pseudo(ip, v6, TCP_HLEN + plen), tcp,
				     TCP_HLEN + plen)),
		    0xffff);
		ASSERT_TRUE(be16(tcp + 16) != 0xffff);
		if (idx == want)
			*tcp_csum = be16(tcp + 16);
		off += plen;
		idx++;
	}
	ASSERT_INT_EQ(off, PAYLOAD);
	ASSERT_INT_EQ(idx, (PAYLOAD + MSS - 1) / MSS);
}

static void
tso_zero_checksums(bool v6)
{
	size_t l4 = ETH_HDR_LEN + (v6 ? 40 : 20), len = build(v6);
	uint16_t c = 0, ipc = 0;
	unsigned k;

	/* Every segment, the short last one included, in turn: adding its
	 * checksum to one of its payload words makes its sum -0, its
	 * checksum 0x0000. */
	for (k = 0; k < (PAYLOAD + MSS - 1) / MSS; k++) {
		len = build(v6);
		segment_and_check(v6, len, k, &c, &ipc);
		add16(frame + l4 + TCP_HLEN + k * MSS + 2, c);
		segment_and_check(v6, len, k, &c, &ipc);
		ASSERT_INT_EQ(c, 0x0000);
	}
	if (!v6) {
		/* The same for segment 0's IPv4 header, through its ID. */
		len = build(v6);
		segment_and_check(v6, len, 0, &c, &ipc);
		add16(frame + ETH_HDR_LEN + 4, ipc);
		{
			uint8_t vh[VNET_HDR_LEN], seg[SEG_MAX];
			struct gso_iter it;
			size_t slen;

			vnet(vh, false, true, l4);
			ASSERT_INT_EQ(gso_begin(&it, vh, frame, len), 0);
			ASSERT_INT_EQ(gso_next(&it, seg, sizeof(seg), &slen),
				      1);
			ASSERT_INT_EQ(
			    ref_fold(ref_add(0, seg + ETH_HDR_LEN, 20)),
			    0xffff);
			ASSERT_INT_EQ(be16(seg + ETH_HDR_LEN + 10), 0x0000);
		}
	}
}

TEST(tso_ipv4_checksums_per_segment_and_zero)
{
	tso_zero_checksums(false);
}

TEST(tso_ipv6_checksums_per_segment_and_zero)
{
	tso_zero_checksums(true);
}

/* A frame the kernel left with CHECKSUM_PARTIAL and no segmentation: the
 * field holds the pseudo-header sum; completing it folds in the rest. */
TEST(partial_checksum_completed_and_zero)
{
	uint8_t vh[VNET_HDR_LEN], out[SEG_MAX + 512];
	size_t l4 = ETH_HDR_LEN + 20, len = build(false), olen;
	struct gso_iter it;
	uint16_t c;
	int round;

	for (round = 0; round < 2; round++) {
		vnet(vh, false, false, l4);
		ASSERT_INT_EQ(gso_begin(&it, vh, frame, len), 0);
		ASSERT_INT_EQ(gso_next(&it, out, sizeof(out), &olen), 1);
		ASSERT_INT_EQ(olen, len);
		ASSERT_MEM_EQ(out, frame, l4 + 16);
		ASSERT_MEM_EQ(out + l4 + 18, frame + l4 + 18, len - l4 - 18);
		ASSERT_INT_EQ(ref_fold(ref_add(ref_pseudo(out + ETH_HDR_LEN,
							  false, len - l4),
					       out + l4, len - l4)),
			      0xffff);
		c = be16(out + l4 + 16);
		ASSERT_TRUE(c != 0xffff);
		ASSERT_INT_EQ(gso_next(&it, out, sizeof(out), &olen), 0);
		if (round == 1)
			ASSERT_INT_EQ(c, 0x0000);
		add16(frame + l4 + TCP_HLEN + 2, c);
	}
}

TEST_MAIN(TEST_CASE(tso_ipv4_checksums_per_segment_and_zero),
	  TEST_CASE(tso_ipv6_checksums_per_segment_and_zero),
	  TEST_CASE(partial_checksum_completed_and_zero))
