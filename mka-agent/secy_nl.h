/*
 * secy_nl.h — the netlink messages of Linux's MACsec SecY
 * (drivers/net/macsec.c; uapi linux/if_macsec.h), built and read with
 * libnl: the "macsec" generic netlink family for SCs and SAs, and the
 * macsec link's IFLA_MACSEC_* attributes for the SecY-wide policy.
 *
 * Pure: nothing here opens a socket, so the unit tests check every
 * attribute without a kernel (secy_kernel.c sends what these build).
 */
#ifndef QKDLAB_SECY_NL_H
#define QKDLAB_SECY_NL_H

#include "mka_secy.h"

#include <netlink/msg.h>
#include <netlink/route/link.h>
#include <stdint.h>

/* "Not given" for secy_nl_sa_state's active. */
#define SECY_NL_KEEP -1

/*
 * Appends the attributes of an ADD_RXSC / DEL_RXSC request (the generic
 * netlink header is the caller's): the SecY's ifindex and the SC's SCI,
 * active.  0 or -1 (message full).
 */
int secy_nl_rxsc(struct nl_msg *m, uint32_t ifindex, const uint8_t sci[8]);

/*
 * ADD_TXSA (sci NULL) or ADD_RXSA: AN, next/lowest PN (32 bits, or 64
 * with XPN, the length the kernel requires for each), SAK, Key
 * Identifier, inactive; XPN adds the SSCI and the salt.  The SAK lands in
 * the message: the caller wipes it (secy_nl_wipe).
 */
int secy_nl_sa(struct nl_msg *m, uint32_t ifindex, const uint8_t *sci,
	       const struct mka_sa *sa);

/* UPD_/DEL_ TXSA or RXSA: AN and, unless SECY_NL_KEEP, active (0/1). */
int secy_nl_sa_state(struct nl_msg *m, uint32_t ifindex, const uint8_t *sci,
		     uint8_t an, int active);

/*
 * Reads the next PN of one SA from one message of a GET_TXSC dump: the
 * transmit SA an (sci NULL) or the receive SA an of SC sci, on the SecY
 * ifindex.  1 found, 0 not in this message, -1 malformed.
 */
int secy_nl_dump_pn(struct nlmsghdr *h, uint32_t ifindex, const uint8_t *sci,
		    uint8_t an, uint64_t *pn);

/*
 * Sets the SecY-wide policy on a "macsec" link object (for a change or
 * a creation request): protectFrames, confidentiality, validateFrames,
 * replayProtect and replayWindow.  -1 for what Linux's SecY cannot do (a
 * confidentiality offset of 30 or 50, 802.1AE 10.7.24), with why in err.
 */
int secy_nl_policy(struct rtnl_link *l, const struct mka_secy_policy *pol,
		   const char **err);

/* Zeroes a message's bytes (it may hold a SAK) before nlmsg_free. */
void secy_nl_wipe(struct nl_msg *m);

#endif
