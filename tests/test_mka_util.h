/*
 * test_mka_util.h — helpers shared by the mka-agent unit tests: loading
 * the published vectors in tests/vectors/ (JSON) and reading hex fields.
 */
#ifndef QKDLAB_TEST_MKA_UTIL_H
#define QKDLAB_TEST_MKA_UTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Parses tests/vectors/<name> (under $QKDLAB_SRC, else the cwd); aborts. */
cJSON *tv_load(const char *name);
/* The string member key of obj; aborts if absent. */
const char *tv_str(const cJSON *obj, const char *key);
/* Decodes the hex string member key (heap, caller frees); aborts. */
uint8_t *tv_hex(const cJSON *obj, const char *key, size_t *len);
/* Follows a path of object members, e.g. tv_get(root, "a", "b", NULL). */
const cJSON *tv_get(const cJSON *obj, ...);

#endif
