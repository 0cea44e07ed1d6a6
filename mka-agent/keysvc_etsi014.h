/*
 * keysvc_etsi014.h — the ETSI GS QKD 014 key service behind struct
 * mka_keysvc_ops: "Get key" (enc_keys, initiator, slave = the peer's SAE
 * ID) and "Get key with key IDs" (dec_keys, responder, master = the KMD
 * SAE ID), over HTTPS with a client certificate (libcurl).  Key IDs are
 * UUIDs; on the MKA wire they are the UUID's 16 octets (DESIGN.md).
 */
#ifndef QKDLAB_KEYSVC_ETSI014_H
#define QKDLAB_KEYSVC_ETSI014_H

#include "mka_qkd.h"

struct keysvc_etsi014;

extern const struct mka_keysvc_ops keysvc_etsi014_ops;

/* url: "https://host:port" of the KME; files: PEM. */
struct keysvc_etsi014 *keysvc_etsi014_new(const char *url, const char *cert,
					  const char *key, const char *ca);
void keysvc_etsi014_free(struct keysvc_etsi014 *k);

#endif
