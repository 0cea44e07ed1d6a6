/*
 * fuzz_file.h — hands a fuzz input to a parser that only reads files.
 *
 * The input goes into one anonymous memory file (memfd, mode 0600, so the
 * "secrets must be private" checks pass and the parser itself is what is
 * exercised); the parser opens it again through /proc/self/fd/N.
 */
#ifndef QKDLAB_FUZZ_FILE_H
#define QKDLAB_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Returns a path holding exactly data[0..size), or aborts. */
const char *fuzz_file(const uint8_t *data, size_t size);

#endif
