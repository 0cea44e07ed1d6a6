/*
 * fuzz_mkpdu.c — libFuzzer target for the MKPDU and EAPOL-Announcement
 * decoders (mka-agent/mka_pdu.c).
 *
 * Any input must be decoded or refused without a memory error; whatever
 * decodes and validates must re-encode, and the re-encoded frame must
 * decode to the same sets (the codec is its own inverse on valid input).
 *
 * `make FUZZER=1 CC=clang fuzz-bins` builds it for libFuzzer (fuzz/run,
 * dictionary fuzz/mkpdu.dict); `make check` replays fuzz/corpus/mkpdu/
 * through it, and tests/test_mka_fuzz.c adds a fixed-seed stream of
 * mutations of that corpus, under ASan/UBSan.
 */
#include "mka_pdu.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ick[16] = { 0x42 };
	static struct mkpdu pdu, again;
	struct mka_announce ann;
	uint8_t out[2048], sa[6], type;
	const char *why = NULL;
	size_t len;

	(void)mka_eapol_type(data, size, &type);
	(void)mka_announce_decode(data, size, sa, &ann, &why);
	if (mka_pdu_decode(data, size, &pdu, &why) == -1)
		return 0;
	(void)mka_pdu_icv_ok(&pdu, data, ick, sizeof(ick));
	if (mka_pdu_validate(&pdu, &why) == -1)
		return 0;
	if (mka_pdu_encode(&pdu, ick, sizeof(ick), out, sizeof(out), &len) ==
	    -1)
		return 0; /* e.g. unknown sets made it too long */
	if (mka_pdu_decode(out, len, &again, &why) == -1 ||
	    memcmp(&pdu.basic, &again.basic, sizeof(pdu.basic)) != 0 ||
	    pdu.has != again.has ||
	    memcmp(&pdu.sak_use, &again.sak_use, sizeof(pdu.sak_use)) != 0 ||
	    memcmp(&pdu.kmd, &again.kmd, sizeof(pdu.kmd)) != 0 ||
	    memcmp(&pdu.xpn, &again.xpn, sizeof(pdu.xpn)) != 0 ||
	    !mka_pdu_icv_ok(&again, out, ick, sizeof(ick)))
		abort();
	return 0;
}
