/*
 * secy_nl.c — netlink attributes of Linux's MACsec SecY, see secy_nl.h.
 *
 * Byte orders follow the kernel's types: an SCI is an sci_t (__be64, its
 * eight octets in wire order) and an SSCI an ssci_t (__be32), so both go
 * into the attribute as the octets 802.1AE puts on the wire; a PN is a
 * host-order u32, or u64 on an XPN SecY.
 */
#include "secy_nl.h"

#include "buf.h"
#include "mka_wire.h"
#include "secmem.h"

#include <linux/if_macsec.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/route/link/macsec.h>
#include <string.h>

int
secy_nl_rxsc(struct nl_msg *m, uint32_t ifindex, const uint8_t sci[8])
{
	struct nlattr *nest;

	if (nla_put_u32(m, MACSEC_ATTR_IFINDEX, ifindex) < 0 ||
	    (nest = nla_nest_start(m, MACSEC_ATTR_RXSC_CONFIG)) == NULL ||
	    nla_put(m, MACSEC_RXSC_ATTR_SCI, 8, sci) < 0 ||
	    nla_put_u8(m, MACSEC_RXSC_ATTR_ACTIVE, 1) < 0)
		return -1;
	nla_nest_end(m, nest);
	return 0;
}

/* IFINDEX, and the RXSC_CONFIG naming the SC when sci is given. */
static int
put_owner(struct nl_msg *m, uint32_t ifindex, const uint8_t *sci)
{
	struct nlattr *nest;

	if (nla_put_u32(m, MACSEC_ATTR_IFINDEX, ifindex) < 0)
		return -1;
	if (sci == NULL)
		return 0;
	if ((nest = nla_nest_start(m, MACSEC_ATTR_RXSC_CONFIG)) == NULL ||
	    nla_put(m, MACSEC_RXSC_ATTR_SCI, 8, sci) < 0)
		return -1;
	nla_nest_end(m, nest);
	return 0;
}

int
secy_nl_sa(struct nl_msg *m, uint32_t ifindex, const uint8_t *sci,
	   const struct mka_sa *sa)
{
	struct nlattr *nest;
	uint8_t ssci[4];
	int rc;

	if (sa->an > 3 || sa->pn == 0 || (!sa->xpn && sa->pn > UINT32_MAX) ||
	    put_owner(m, ifindex, sci) == -1 ||
	    (nest = nla_nest_start(m, MACSEC_ATTR_SA_CONFIG)) == NULL)
		return -1;
	rc = nla_put_u8(m, MACSEC_SA_ATTR_AN, sa->an);
	if (rc == 0 && sa->xpn)
		rc = nla_put_u64(m, MACSEC_SA_ATTR_PN, sa->pn);
	else if (rc == 0)
		rc = nla_put_u32(m, MACSEC_SA_ATTR_PN, (uint32_t)sa->pn);
	if (rc == 0)
		rc = nla_put(m, MACSEC_SA_ATTR_KEY, (int)sa->key_len, sa->key);
	if (rc == 0)
		rc = nla_put(m, MACSEC_SA_ATTR_KEYID, MACSEC_KEYID_LEN, sa->ki);
	if (rc == 0)
		rc = nla_put_u8(m, MACSEC_SA_ATTR_ACTIVE, 0);
	if (rc == 0 && sa->xpn) {
		store_be32(ssci, sa->ssci);
		rc = nla_put(m, MACSEC_SA_ATTR_SSCI, sizeof(ssci), ssci);
		if (rc == 0)
			rc = nla_put(m, MACSEC_SA_ATTR_SALT, MACSEC_SALT_LEN,
				     sa->salt);
	}
	if (rc < 0)
		return -1;
	nla_nest_end(m, nest);
	return 0;
}

int
secy_nl_sa_state(struct nl_msg *m, uint32_t ifindex, const uint8_t *sci,
		 uint8_t an, int active)
{
	struct nlattr *nest;

	if (an > 3 || put_owner(m, ifindex, sci) == -1 ||
	    (nest = nla_nest_start(m, MACSEC_ATTR_SA_CONFIG)) == NULL ||
	    nla_put_u8(m, MACSEC_SA_ATTR_AN, an) < 0 ||
	    (active != SECY_NL_KEEP &&
	     nla_put_u8(m, MACSEC_SA_ATTR_ACTIVE, active ? 1 : 0) < 0))
		return -1;
	nla_nest_end(m, nest);
	return 0;
}

/* The PN of the SA numbered an in a TXSA_LIST or an RXSC's SA_LIST. */
static int
sa_list_pn(struct nlattr *list, uint8_t an, uint64_t *pn)
{
	struct nlattr *sa, *tb[MACSEC_SA_ATTR_MAX + 1];
	int rem;

	nla_for_each_nested(sa, list, rem)
	{
		if (nla_parse_nested(tb, MACSEC_SA_ATTR_MAX, sa, NULL) < 0 ||
		    tb[MACSEC_SA_ATTR_AN] == NULL ||
		    nla_len(tb[MACSEC_SA_ATTR_AN]) < 1)
			return -1;
		if (nla_get_u8(tb[MACSEC_SA_ATTR_AN]) != an)
			continue;
		if (tb[MACSEC_SA_ATTR_PN] == NULL)
			return -1;
		switch (nla_len(tb[MACSEC_SA_ATTR_PN])) {
		case 4:
			*pn = nla_get_u32(tb[MACSEC_SA_ATTR_PN]);
			return 1;
		case 8:
			*pn = nla_get_u64(tb[MACSEC_SA_ATTR_PN]);
			return 1;
		default:
			return -1;
		}
	}
	return 0;
}

int
secy_nl_dump_pn(struct nlmsghdr *h, uint32_t ifindex, const uint8_t *sci,
		uint8_t an, uint64_t *pn)
{
	struct nlattr *tb[MACSEC_ATTR_MAX + 1], *sc;
	struct nlattr *sctb[MACSEC_RXSC_ATTR_MAX + 1];
	int rem;

	if (genlmsg_parse(h, 0, tb, MACSEC_ATTR_MAX, NULL) < 0 ||
	    tb[MACSEC_ATTR_IFINDEX] == NULL ||
	    nla_len(tb[MACSEC_ATTR_IFINDEX]) < 4)
		return -1;
	if (nla_get_u32(tb[MACSEC_ATTR_IFINDEX]) != ifindex)
		return 0;
	if (sci == NULL)
		return tb[MACSEC_ATTR_TXSA_LIST] == NULL
			   ? 0
			   : sa_list_pn(tb[MACSEC_ATTR_TXSA_LIST], an, pn);
	if (tb[MACSEC_ATTR_RXSC_LIST] == NULL)
		return 0;
	nla_for_each_nested(sc, tb[MACSEC_ATTR_RXSC_LIST], rem)
	{
		if (nla_parse_nested(sctb, MACSEC_RXSC_ATTR_MAX, sc, NULL) <
			0 ||
		    sctb[MACSEC_RXSC_ATTR_SCI] == NULL ||
		    nla_len(sctb[MACSEC_RXSC_ATTR_SCI]) != 8)
			return -1;
		if (memcmp(nla_data(sctb[MACSEC_RXSC_ATTR_SCI]), sci, 8) != 0)
			continue;
		return sctb[MACSEC_RXSC_ATTR_SA_LIST] == NULL
			   ? 0
			   : sa_list_pn(sctb[MACSEC_RXSC_ATTR_SA_LIST], an, pn);
	}
	return 0;
}

int
secy_nl_policy(struct rtnl_link *l, const struct mka_secy_policy *pol,
	       const char **err)
{
	static const enum macsec_validation_type validate[] = {
		[MKA_VALIDATE_DISABLED] = MACSEC_VALIDATE_DISABLED,
		[MKA_VALIDATE_CHECK] = MACSEC_VALIDATE_CHECK,
		[MKA_VALIDATE_STRICT] = MACSEC_VALIDATE_STRICT,
	};

	*err = NULL;
	if (pol->conf_offset == MKA_CO_30 || pol->conf_offset == MKA_CO_50) {
		*err = "Linux MACsec has no confidentiality offset (30 or 50)";
		return -1;
	}
	if ((unsigned)pol->validate > MKA_VALIDATE_STRICT) {
		*err = "unknown validateFrames";
		return -1;
	}
	/*
	 * The window is sent even with replay protection off: libnl puts
	 * both, and the kernel then keeps the window for a later "on".
	 */
	if (rtnl_link_macsec_set_protect(l, pol->protect) < 0 ||
	    rtnl_link_macsec_set_encrypt(l, pol->conf_offset !=
						MKA_CO_INTEGRITY_ONLY) < 0 ||
	    rtnl_link_macsec_set_validation_type(l, validate[pol->validate]) <
		0 ||
	    rtnl_link_macsec_set_replay_protect(l, pol->replay_protect) < 0 ||
	    rtnl_link_macsec_set_window(l, pol->replay_window) < 0) {
		*err = "libnl refused the policy";
		return -1;
	}
	return 0;
}

void
secy_nl_wipe(struct nl_msg *m)
{
	struct nlmsghdr *h;

	if (m == NULL)
		return;
	h = nlmsg_hdr(m);
	secmem_wipe(h, h->nlmsg_len);
}
