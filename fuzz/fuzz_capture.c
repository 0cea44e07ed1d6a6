/*
 * fuzz_capture.c — libFuzzer target for qkdlab-mkagrade's capture reader
 * (conform/capture.c): any input is read frame by frame or refused, and
 * every frame it hands out lies inside the input.
 *
 * `make FUZZER=1 CC=clang fuzz-bins` builds it for libFuzzer; `make
 * check` replays fuzz/corpus/capture/ through it under ASan/UBSan.
 */
#include "capture.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capture_frame f;
	struct capture *c;
	char err[256];
	unsigned sum = 0;

	c = capture_open_buf(data, size, err, sizeof(err));
	if (c == NULL)
		return 0;
	while (capture_next(c, &f, err, sizeof(err)) == 1) {
		/* Touch every octet: ASan sees a frame reaching outside. */
		for (size_t i = 0; i < f.len; i++)
			sum += f.data[i];
	}
	capture_free(c);
	return (int)(sum & 0); /* libFuzzer wants 0 */
}
