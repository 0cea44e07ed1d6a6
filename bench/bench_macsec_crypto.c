/*
 * bench_macsec_crypto.c — macsec-sw's crypto path in memory: one frame is
 * protected by a transmitting SecY (secy_protect) and validated by a
 * receiving one (secy_validate_frame), no I/O.  Prints one line per
 * suite and frame size: "<suite> <octets> <frames per second>", the
 * median of argv[1] runs (default 5, at most 9) of 0.4 s.  bench/bench_macsec turns that into JSON next
 * to `openssl speed -evp` figures taken in the same run.
 *
 * Where cipher.c picks the VAES engine, each suite and size has a second
 * line, "<suite>/openssl <octets> <frames per second>", with the OpenSSL
 * engine forced; its runs alternate with the default engine's, so that
 * load from other work falls on both alike.
 *
 * "-n FRAMES OCTETS [openssl]" instead protects and validates exactly
 * FRAMES frames of GCM-AES-128 and prints nothing: a fixed amount of work
 * for an instruction count (valgrind --tool=callgrind) to divide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../macsec-sw/macsec_sw.h"
#include "log.h"
#include "util.h"

#define RUNS_MAX 9
#define RUN_US 400000

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
one_run(enum macsec_cs cs, size_t size, uint64_t frames)
{
	static uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	static const uint8_t salt[12] = { 1, 2, 3 };
	uint8_t frame[2048], wire[2048], out[2048];
	uint64_t sci = sci_from_mac(mac_a, 1), n = 0, t0, t1;
	struct secy *tx = secy_new(mac_a, sci);
	struct secy *rx = secy_new(mac_b, sci_from_mac(mac_b, 1));
	struct secy_policy pol;
	size_t klen = cipher_suite_key_len(cs), wl, ol;

	secy_get_policy(tx, &pol);
	pol.cs = cs;
	if (secy_set_policy(tx, &pol) == -1 ||
	    secy_set_policy(rx, &pol) == -1 ||
	    secy_txsa_install(tx, 0, 1, key, klen, 1, salt) == -1 ||
	    secy_txsa_enable(tx, 0) == -1 || secy_rxsc_create(rx, sci) == -1 ||
	    secy_rxsa_install(rx, sci, 0, 1, key, klen, 1, salt) == -1 ||
	    secy_rxsa_enable(rx, sci, 0, true) == -1)
		fatalx("bench setup failed");
	memset(frame, 0x5a, sizeof(frame));
	memcpy(frame, mac_b, 6);
	memcpy(frame + 6, mac_a, 6);
	t0 = mono_us();
	do {
		int i;

		for (i = 0; i < 256 && (frames == 0 || n < frames); i++, n++) {
			if (secy_protect(tx, frame, size, wire, sizeof(wire),
					 &wl) == -1 ||
			    secy_validate_frame(rx, wire, wl, out, sizeof(out),
						&ol) != SECY_RX_DELIVER)
				fatalx("bench frame dropped");
		}
		t1 = mono_us();
	} while (frames == 0 ? t1 - t0 < RUN_US : n < frames);
	secy_free(tx);
	secy_free(rx);
	return (double)n * 1e6 / (double)(t1 - t0);
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 512, 1500 };
	enum macsec_cs cs;
	double r[RUNS_MAX], ro[RUNS_MAX];
	size_t s;
	bool both;
	int i, runs = argc > 1 ? atoi(argv[1]) : 5;

	if (runs < 1 || runs > RUNS_MAX)
		runs = 5;
	log_init("bench_macsec_crypto", LOG_DEST_STDERR, LOG_FMT_TEXT,
		 LOG_LVL_WARN);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "-n") == 0) {
		long long frames = atoll(argv[2]), size = atoll(argv[3]);

		if (frames < 1 || size < 14 || size > 1500 ||
		    (argc == 5 && strcmp(argv[4], "openssl") != 0))
			fatalx("usage: bench_macsec_crypto -n FRAMES OCTETS"
			       " [openssl]");
		if (argc == 5)
			(void)cipher_engine_set(CIPHER_ENGINE_OPENSSL);
		(void)one_run(MACSEC_CS_GCM_AES_128, (size_t)size,
			      (uint64_t)frames);
		return 0;
	}
	both = cipher_engine_active() != CIPHER_ENGINE_OPENSSL;
	for (cs = MACSEC_CS_GCM_AES_128; cs <= MACSEC_CS_GCM_AES_XPN_256;
	     cs++) {
		for (s = 0; s < ARRAY_LEN(sizes); s++) {
			for (i = 0; i < runs; i++) {
				r[i] = one_run(cs, sizes[s], 0);
				if (!both)
					continue;
				(void)cipher_engine_set(CIPHER_ENGINE_OPENSSL);
				ro[i] = one_run(cs, sizes[s], 0);
				(void)cipher_engine_set(CIPHER_ENGINE_AUTO);
			}
			qsort(r, (size_t)runs, sizeof(r[0]), cmp_double);
			printf("%s %zu %.0f\n", cipher_suite_name(cs), sizes[s],
			       r[runs / 2]);
			if (both) {
				qsort(ro, (size_t)runs, sizeof(ro[0]),
				      cmp_double);
				printf("%s/openssl %zu %.0f\n",
				       cipher_suite_name(cs), sizes[s],
				       ro[runs / 2]);
			}
			fflush(stdout);
		}
	}
	return 0;
}
