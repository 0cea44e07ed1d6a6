/*
 * secy_kernel.h — struct mka_secy_ops over Linux's own MACsec SecY
 * (drivers/net/macsec.c): a "macsec" netdev on the port, its SCs and SAs
 * driven over generic netlink, its policy over rtnetlink, both through
 * libnl (secy_nl.c builds the messages).
 *
 * The netdev is the Controlled Port: it is created (or an existing one
 * adopted) closed — protectFrames on, validateFrames strict, no SA — so
 * nothing passes it until the KaY has installed and enabled a key.
 */
#ifndef QKDLAB_SECY_KERNEL_H
#define QKDLAB_SECY_KERNEL_H

#include "mka_secy.h"

struct secy_kernel;

struct secy_kernel_conf {
	const char *netdev; /* the macsec netdev's name */
	const char *lower; /* the port (uncontrolled) it sits on */
	uint8_t sci[8]; /* the KaY's SCI: the SecY's */
	/*
	 * The policy to start closed with; its cipher suite is the one
	 * the netdev is created with (the kernel cannot change a SecY's
	 * suite once created, so a port has exactly one).
	 */
	struct mka_secy_policy initial;
};

extern const struct mka_secy_ops secy_kernel_ops;

/*
 * Creates the netdev (or adopts one of that name: a macsec link on the
 * same port with the same SCI and suite), closed and up.  NULL, with the
 * kernel's reason logged, if that cannot be done.
 */
struct secy_kernel *secy_kernel_new(const struct secy_kernel_conf *c);
/*
 * A created netdev is deleted; an adopted one is left closed (its SAs
 * and SCs removed, protectFrames on, validateFrames strict).
 */
void secy_kernel_free(struct secy_kernel *k);

#endif
