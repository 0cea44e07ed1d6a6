/*
 * test_mka_fuzz.c — runs the MKPDU fuzz target (fuzz/fuzz_mkpdu.c)
 * without libFuzzer: every corpus file, then a fixed-seed stream of
 * mutations of them (bit flips, octet stores at length fields,
 * truncations).  Under `make check` this runs with ASan and UBSan, and the
 * target aborts if a valid MKPDU does not survive re-encoding.
 */
#include "harness.h"

#include "mka_pdu.h"
#include "util.h"

#include <dirent.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 256
#define MUTATIONS 20000

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS], n_seeds;

static uint32_t
xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

TEST(corpus_replays_and_decodes)
{
	const char *src = getenv("QKDLAB_SRC");
	char dir[512], path[1024];
	struct dirent *de;
	size_t valid = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/fuzz/corpus/mkpdu",
		 src != NULL ? src : ".");
	ASSERT_TRUE((d = opendir(dir)) != NULL);
	while ((de = readdir(d)) != NULL && n_seeds < MAX_SEEDS) {
		char *buf;
		size_t len;
		struct mkpdu p;
		const char *why;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (file_read_all(path, 4096, &buf, &len) == -1)
			continue;
		LLVMFuzzerTestOneInput((uint8_t *)buf, len);
		if (mka_pdu_decode((uint8_t *)buf, len, &p, &why) == 0)
			valid++;
		seeds[n_seeds] = (uint8_t *)buf;
		seed_len[n_seeds++] = len;
	}
	closedir(d);
	/* 9 example MKPDUs, an EAPOL-Announcement and libFuzzer finds. */
	ASSERT_TRUE(n_seeds >= 10);
	ASSERT_TRUE(valid >= 9);
}

TEST(mutations_never_crash)
{
	uint32_t rng = 0x2545f491;
	uint8_t buf[2048];

	ASSERT_TRUE(n_seeds > 0);
	for (int i = 0; i < MUTATIONS; i++) {
		size_t s = xorshift(&rng) % n_seeds, len = seed_len[s];
		int edits = 1 + (int)(xorshift(&rng) % 4);

		memcpy(buf, seeds[s], len);
		while (edits-- > 0) {
			size_t at = xorshift(&rng) % len;

			switch (xorshift(&rng) % 4) {
			case 0:
				buf[at] ^=
				    (uint8_t)(1u << (xorshift(&rng) % 8));
				break;
			case 1:
				buf[at] = (uint8_t)xorshift(&rng);
				break;
			case 2: /* a set header: type or length octets */
				buf[at] = (uint8_t[]){
					0, 1, 4, 0x0f, 0xff, 0x10, 0x28
				}[xorshift(&rng) % 7];
				break;
			default:
				len = at + 1;
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	for (size_t i = 0; i < n_seeds; i++)
		free(seeds[i]);
}

TEST_MAIN(TEST_CASE(corpus_replays_and_decodes),
	  TEST_CASE(mutations_never_crash))
