/*
 * test_mka_tshark.c — MKPDUs from our encoder, dissected by an
 * independent implementation: tshark (Wireshark 4.0 on Debian 12).
 *
 * Writes one pcap with an MKPDU per shape (every parameter set, all SAK
 * wrap forms, the QKD binding's KMD and 16-octet CKN, ICV Indicator, an
 * EAPOL-Announcement), runs tshark on it and asserts that no frame is
 * marked malformed or carries an expert warning/error, and that the fields
 * tshark shows are the ones we encoded.  SAE IDs have a length that is a
 * multiple of 4 (docs/DESIGN.md: tshark 4.0 mis-skips KMD padding otherwise).
 */
#include "harness.h"
#include "test_mka_util.h"

#include "mka_crypto.h"
#include "mka_pdu.h"
#include "util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <unistd.h>

#define N_FRAMES 8

static const uint8_t ick[16] = { 0x11, 0x22 };
static const uint8_t ckn_uuid[16] = {
	0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4,
	0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00,
};

static void
pcap_u32(FILE *f, uint32_t v)
{
	fwrite(&v, 4, 1, f); /* pcap files are in the writer's order */
}

static void
pcap_write(FILE *f, const uint8_t *frame, size_t len, uint32_t sec)
{
	pcap_u32(f, sec);
	pcap_u32(f, 0);
	pcap_u32(f, (uint32_t)len);
	pcap_u32(f, (uint32_t)len);
	fwrite(frame, 1, len, f);
}

static FILE *
pcap_open(const char *path)
{
	static const uint16_t hdr16[2] = { 2, 4 };
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return NULL;
	pcap_u32(f, 0xa1b2c3d4);
	fwrite(hdr16, 2, 2, f);
	pcap_u32(f, 0);
	pcap_u32(f, 0);
	pcap_u32(f, 65535);
	pcap_u32(f, 1); /* LINKTYPE_ETHERNET */
	return f;
}

static int
build_frames(const char *path)
{
	FILE *f = pcap_open(path);
	uint8_t out[1600];
	struct mkpdu p;
	size_t len;
	int n = 0;

	if (f == NULL)
		return -1;

	/* 1: Basic + Potential Peer List (the first hello after a peer). */
	tv_mkpdu_base(&p, ckn_uuid, 1);
	p.potential = p.live;
	p.has = MKA_HAS(MKA_PS_POTENTIAL_PEERS);
	if (mka_pdu_encode(&p, ick, 16, out, sizeof(out), &len) == 0)
		pcap_write(f, out, len, (uint32_t)++n);
	/* 2: GCM-AES-128, the 28-octet Distributed SAK. */
	tv_mkpdu_base(&p, ckn_uuid, 2);
	tv_mkpdu_with_sak(&p, 0, 24);
	if (mka_pdu_encode(&p, ick, 16, out, sizeof(out), &len) == 0)
		pcap_write(f, out, len, (uint32_t)++n);
	/* 3: GCM-AES-256, 52 octets. */
	tv_mkpdu_base(&p, ckn_uuid, 3);
	tv_mkpdu_with_sak(&p, MKA_CS_GCM_AES_256, 40);
	if (mka_pdu_encode(&p, ick, 16, out, sizeof(out), &len) == 0)
		pcap_write(f, out, len, (uint32_t)++n);
	/* 4: GCM-AES-XPN-128 (36 octets) + XPN set + KS SSCI in the list. */
	tv_mkpdu_base(&p, ckn_uuid, 4);
	tv_mkpdu_with_sak(&p, MKA_CS_GCM_AES_XPN_128, 24);
	p.live.octet2 = 2;
	p.has |= MKA_HAS(MKA_PS_XPN);
	p.xpn.llpn_msb = 1;
	if (mka_pdu_encode(&p, ick, 16, out, sizeof(out), &len) == 0)
		pcap_write(f, out, len, (uint32_t)++n);
	/* 5: the QKD binding: KMD = initiator SAE ID, CKN = key ID. */
	tv_mkpdu_base(&p, ckn_uuid, 5);
	p.has = MKA_HAS(MKA_PS_KMD);
	p.kmd.len = 8;
	memcpy(p.kmd.v, "SAE_A_01", 8);
	if (mka_pdu_encode(&p, ick, 16, out, sizeof(out), &len) == 0)
		pcap_write(f, out, len, (uint32_t)++n);
	/* 6: Distributed CAK + Announcement (cipher suites TLV). */
	tv_mkpdu_base(&p, ckn_uuid, 6);
	p.has = MKA_HAS(MKA_PS_LIVE_PEERS) | MKA_HAS(MKA_PS_DIST_CAK) |
		MKA_HAS(MKA_PS_ANNOUNCE);
	p.dist_cak.wrapped_len = 24;
	memset(p.dist_cak.wrapped, 0x66, 24);
	p.dist_cak.ckn_len = 4;
	memcpy(p.dist_cak.ckn, "grp1", 4);
	p.announce.n_suites = 1;
	p.announce.suites[0] = (struct mka_ann_suite){ 2, MKA_CS_GCM_AES_128 };
	if (mka_pdu_encode(&p, ick, 16, out, sizeof(out), &len) == 0)
		pcap_write(f, out, len, (uint32_t)++n);
	/* 7: ICV Indicator. */
	tv_mkpdu_base(&p, ckn_uuid, 7);
	p.has = MKA_HAS(MKA_PS_LIVE_PEERS) | MKA_HAS(MKA_PS_ICV_IND);
	if (mka_pdu_encode(&p, ick, 16, out, sizeof(out), &len) == 0)
		pcap_write(f, out, len, (uint32_t)++n);
	/* 8: EAPOL-Announcement with the responder's KMD TLV. */
	{
		struct mka_announce a = { .has_kmd = true };

		a.kmd.len = 8;
		memcpy(a.kmd.v, "SAE_B_02", 8);
		if (mka_announce_encode(p.da, p.sa, &a, out, sizeof(out),
					&len) == 0)
			pcap_write(f, out, len, (uint32_t)++n);
	}
	fclose(f);
	return n;
}

/* Runs tshark with the given arguments; output lines in *out. */
static int
tshark(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *p;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	return pclose(p) == 0 ? 0 : -1;
}

static char pcap_path[64];

TEST(tshark_dissects_without_errors)
{
	static char out[1 << 16];

	ASSERT_INT_EQ(build_frames(pcap_path), N_FRAMES);
	/* One line per frame: number, malformed mark, expert severities. */
	ASSERT_INT_EQ(tshark(out, sizeof(out),
			     "tshark -n -r %s -T fields -E separator='|' "
			     "-e frame.number -e _ws.malformed "
			     "-e _ws.expert.severity -e eapol.type "
			     "2>/dev/null",
			     pcap_path),
		      0);
	for (int i = 1; i <= N_FRAMES; i++) {
		char want[32];

		/* "N||" at a line start: no malformed mark, no expert item. */
		snprintf(want, sizeof(want), "%s%d||", i == 1 ? "" : "\n", i);
		if (i == 1 ? strncmp(out, want, strlen(want)) != 0
			   : strstr(out, want) == NULL)
			TH_FAIL("frame %d marked by tshark:\n%s", i, out);
	}
	/* The announcement is seen as EAPOL type 6. */
	ASSERT_TRUE(strstr(out, "\n8|||6\n") != NULL);
}

TEST(tshark_shows_the_fields_we_encoded)
{
	static char out[1 << 16];

	ASSERT_INT_EQ(
	    tshark(out, sizeof(out),
		   "tshark -n -r %s -T fields -E separator='|' "
		   "-e frame.number -e mka.cak_name -e mka.kmd "
		   "-e mka.actor_mn -e mka.key_number "
		   "-e mka.macsec_cipher_suite -e mka.key_server_ssci "
		   "-e mka.distributed_an -e mka.icv 2>/dev/null",
		   pcap_path),
	    0);
	/* The binding frame: CKN = the UUID's octets, KMD = "SAE_A_01". */
	ASSERT_TRUE(strstr(out, "\n5|550e8400e29b41d4a716446655440000|"
				"5341455f415f3031|00000005|") != NULL);
	/* The 28-octet form: KN 1, no suite on the wire, AN 1. */
	ASSERT_TRUE(strstr(out, "\n2|550e8400e29b41d4a716446655440000||"
				"00000002|00000001||0x00|1|") != NULL);
	/* Suites (decimal 0x0080c20001000002 / ...03), KS SSCI LSB 2. */
	ASSERT_TRUE(strstr(out, "|36242102291529730|0x00|1|") != NULL);
	ASSERT_TRUE(strstr(out, "|36242102291529731|0x02|1|") != NULL);
	/* The Distributed CAK's CKN "grp1" next to the Basic CKN. */
	ASSERT_TRUE(strstr(out, ",67727031|") != NULL);
}

/*
 * The check has teeth: a 7-octet KMD (legal, padded by us as 802.1X says)
 * trips tshark 4.0's padding bug, and the same query reports it.
 */
TEST(tshark_check_detects_a_marked_frame)
{
	static char out[4096];
	uint8_t frame[256];
	struct mkpdu p;
	size_t len;
	FILE *f;

	tv_mkpdu_base(&p, ckn_uuid, 1);
	p.has = MKA_HAS(MKA_PS_KMD) | MKA_HAS(MKA_PS_LIVE_PEERS);
	p.kmd.len = 7;
	memcpy(p.kmd.v, "SAE_A_1", 7);
	ASSERT_INT_EQ(mka_pdu_encode(&p, ick, 16, frame, sizeof(frame), &len),
		      0);
	ASSERT_TRUE((f = pcap_open(pcap_path)) != NULL);
	pcap_write(f, frame, len, 1);
	fclose(f);
	ASSERT_INT_EQ(tshark(out, sizeof(out),
			     "tshark -n -r %s -T fields -E separator='|' "
			     "-e frame.number -e _ws.malformed "
			     "-e _ws.expert.severity 2>/dev/null",
			     pcap_path),
		      0);
	ASSERT_TRUE(strncmp(out, "1||\n", 4) != 0);
}

int
main(void)
{
	static const struct th_case cases[] = {
		TEST_CASE(tshark_dissects_without_errors),
		TEST_CASE(tshark_shows_the_fields_we_encoded),
		TEST_CASE(tshark_check_detects_a_marked_frame),
	};
	int fd, rc;

	str_copy(pcap_path, sizeof(pcap_path), "/tmp/qkdlab-mka-XXXXXX");
	if ((fd = mkstemp(pcap_path)) == -1)
		return 1;
	close(fd);
	rc = th_run(cases, ARRAY_LEN(cases));
	unlink(pcap_path);
	return rc;
}
