/*
 * secy_ctl_client.h — struct mka_secy_ops over macsec-sw's control socket
 * (macsec-sw(8): one request line "verb key=value ...", one answer line
 * "ok ..." or "err ...").  SAKs cross the socket in hex; the request
 * buffers are wiped after use and never logged.
 */
#ifndef QKDLAB_SECY_CTL_CLIENT_H
#define QKDLAB_SECY_CTL_CLIENT_H

#include "mka_secy.h"

struct secy_ctl;

extern const struct mka_secy_ops secy_ctl_ops;

/* Connects lazily; NULL only on allocation failure or a bad path. */
struct secy_ctl *secy_ctl_new(const char *path);
void secy_ctl_free(struct secy_ctl *c);

#endif
