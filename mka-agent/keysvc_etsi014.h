/*
 * keysvc_etsi014.h — the ETSI GS QKD 014 key service behind struct
 * mka_keysvc_ops: "Get key" (enc_keys, initiator, slave = the peer's SAE
 * ID) and "Get key with key IDs" (dec_keys, responder, master = the KMD
 * SAE ID), over HTTPS with a client certificate (libcurl).  Key IDs are
 * UUIDs; on the MKA wire they are the UUID's 16 octets (DESIGN.md).
 */
#ifndef QKDLAB_KEYSVC_ETSI014_H
#define QKDLAB_KEYSVC_ETSI014_H

#include "encoding.h"
#include "mka_qkd.h"

struct keysvc_etsi014;

extern const struct mka_keysvc_ops keysvc_etsi014_ops;

/* url: "https://host:port" of the KME; files: PEM. */
struct keysvc_etsi014 *keysvc_etsi014_new(const char *url, const char *cert,
					  const char *key, const char *ca);
void keysvc_etsi014_free(struct keysvc_etsi014 *k);

/*
 * The key of a Key container (014 Table 11) holding exactly one key: its
 * key_ID (a UUID) into id, its base64 key into key, which must decode to
 * exactly key_len (> 0) octets.  No daemon state: fuzzed by
 * fuzz/fuzz_etsi014_resp.c.  Returns 0, or -1 with key wiped and id
 * zeroed.  The key text in the parsed tree is wiped before it is freed;
 * p itself is the caller's to wipe.
 */
int keysvc_etsi014_parse_container(const char *p, size_t len,
				   uint8_t id[UUID_LEN], uint8_t *key,
				   size_t key_len);

#endif
