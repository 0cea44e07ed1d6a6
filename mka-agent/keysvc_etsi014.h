/*
 * keysvc_etsi014.h — the ETSI GS QKD 014 key service behind struct
 * mka_keysvc_ops: "Get key" (enc_keys, initiator, slave = the peer's SAE
 * ID) and "Get key with key IDs" (dec_keys, responder, master = the KMD
 * SAE ID), over lib/etsi014_client with a client certificate.  Key IDs
 * are UUIDs; on the MKA wire they are the UUID's 16 octets (docs/DESIGN.md).
 */
#ifndef QKDLAB_KEYSVC_ETSI014_H
#define QKDLAB_KEYSVC_ETSI014_H

#include "etsi014_client.h"
#include "mka_qkd.h"

/* ops_arg: a client from keysvc_etsi014_new(). */
extern const struct mka_keysvc_ops keysvc_etsi014_ops;

/*
 * The KME's client with mka-agent's settings.  url: "https://host:port"
 * of the KME; files: PEM.  Free it with etsi014_client_free().
 */
struct etsi014_client *keysvc_etsi014_new(const char *url, const char *cert,
					  const char *key, const char *ca);

#endif
