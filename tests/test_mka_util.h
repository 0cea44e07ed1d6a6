/*
 * test_mka_util.h — helpers shared by the mka-agent unit tests and the
 * MKPDU benchmark: loading the published vectors in tests/vectors/ (JSON),
 * reading hex fields, and the C MKPDU fixtures.
 */
#ifndef QKDLAB_TEST_MKA_UTIL_H
#define QKDLAB_TEST_MKA_UTIL_H

#include "mka_pdu.h"

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

/*
 * A key server's MKPDU to the PAE group address: Basic Parameter Set
 * (MKA version 3, priority 16, MN mn, the 16-octet CKN ckn) and one live
 * peer.
 */
void tv_mkpdu_base(struct mkpdu *p, const uint8_t ckn[16], uint32_t mn);
/*
 * Adds SAK Use (the latest key, KN 1, received) and a Distributed SAK
 * (AN 1, KN 1) of suite cs (0: the default suite) wrapped in wrap_len
 * octets of 0x77.
 */
void tv_mkpdu_with_sak(struct mkpdu *p, uint64_t cs, size_t wrap_len);

/*
 * Every parameter set (Basic with a 5-octet CKN, two live peers, one
 * potential peer, SAK Use, Distributed SAK of suite cs wrapped in
 * wrap_len octets, Distributed CAK, KMD, Announcement, XPN).
 */
void tv_mkpdu_full(struct mkpdu *p, size_t wrap_len, uint64_t cs);

#endif
