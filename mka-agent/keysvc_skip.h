/*
 * keysvc_skip.h — the SKIP key service (draft-cisco-skip) behind struct
 * mka_keysvc_ops, as a router talks to its site's skip-proxy: HTTP/1.1
 * GET over TLS 1.3 with an external PSK and TLS_AES_256_GCM_SHA384 (the
 * draft's requirement).  lib/https_client speaks certificates only, so
 * this is a small OpenSSL client of its own (lib/skip_client.c).
 *
 *   GET /key?remoteSystemID=<peer>&size=<bits>      new key (initiator)
 *   GET /key/<hex keyId>?remoteSystemID=<peer>      key by ID (responder)
 *   -> {"keyId":"<hex>","key":"<hex>"}
 */
#ifndef QKDLAB_KEYSVC_SKIP_H
#define QKDLAB_KEYSVC_SKIP_H

#include "mka_qkd.h"

struct keysvc_skip;

extern const struct mka_keysvc_ops keysvc_skip_ops;

/* host:port of the proxy; psk is copied (and wiped on free). */
struct keysvc_skip *keysvc_skip_new(const char *host, const char *port,
				    const char *identity, const uint8_t *psk,
				    size_t psk_len);
void keysvc_skip_free(struct keysvc_skip *k);

#endif
