/*
 * bench_mka_codec.c — the MKPDU receive and transmit paths in memory.
 *
 * A key server's MKPDU (Basic, Live Peer List, SAK Use, Distributed SAK
 * for GCM-AES-256, Announcement; 256-bit CAK) is encoded (with its ICV),
 * then decoded, validated and ICV-checked, for a fixed time each.  The
 * reference is OpenSSL's AES-256-CMAC alone over the same octets: the
 * ratio says how much the codec adds to the one cryptographic operation
 * it cannot avoid.  Prints one JSON object per line.
 */
#include "mka_crypto.h"
#include "mka_pdu.h"
#include "test_mka_util.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define RUN_US 400000u

/* The fixture of the tshark test, with an Announcement added. */
static void
sample_pdu(struct mkpdu *p)
{
	static const uint8_t ckn[16] = { 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
					 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
					 0x55, 0x55, 0x55, 0x55 };

	tv_mkpdu_base(p, ckn, 7);
	tv_mkpdu_with_sak(p, MKA_CS_GCM_AES_256, 40);
	p->sak_use.ltx = true;
	p->announce.n_suites = 1;
	p->announce.suites[0] = (struct mka_ann_suite){ 2, MKA_CS_GCM_AES_256 };
	p->has |= MKA_HAS(MKA_PS_ANNOUNCE);
}

static void
emit(const char *name, double v, const char *unit, double ref)
{
	printf("{\"name\": \"%s\", \"value\": %.0f, \"unit\": \"%s\", "
	       "\"reference\": %.0f, \"ratio\": %.3f}\n",
	       name, v, unit, ref, ref > 0 ? v / ref : 0.0);
}

int
main(void)
{
	static struct mkpdu pdu, out;
	uint8_t ick[32] = { 9 }, frame[1600], mac[16];
	const char *why;
	size_t len;
	uint64_t t0, n;
	double enc, dec, cmac;

	sample_pdu(&pdu);
	if (mka_pdu_encode(&pdu, ick, 32, frame, sizeof(frame), &len) == -1)
		return 1;
	for (n = 0, t0 = mono_us(); mono_us() - t0 < RUN_US; n++)
		mka_pdu_encode(&pdu, ick, 32, frame, sizeof(frame), &len);
	enc = (double)n * 1e6 / (double)(mono_us() - t0);
	for (n = 0, t0 = mono_us(); mono_us() - t0 < RUN_US; n++) {
		if (mka_pdu_decode(frame, len, &out, &why) == -1 ||
		    mka_pdu_validate(&out, &why) == -1 ||
		    !mka_pdu_icv_ok(&out, frame, ick, 32))
			return 1;
	}
	dec = (double)n * 1e6 / (double)(mono_us() - t0);
	for (n = 0, t0 = mono_us(); mono_us() - t0 < RUN_US; n++)
		mka_cmac(ick, 32, frame, out.icv_off, mac);
	cmac = (double)n * 1e6 / (double)(mono_us() - t0);
	emit("mka_mkpdu_encode", enc, "MKPDU/s", cmac);
	emit("mka_mkpdu_receive", dec, "MKPDU/s", cmac);
	return 0;
}
