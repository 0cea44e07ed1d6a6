/*
 * secy_kernel.c — the Linux kernel MACsec backend of the SecY seam.
 *
 * libnl (libnl-3, libnl-genl-3, libnl-route-3) carries every request:
 * rtnetlink for the macsec link (create, adopt, policy, encoding SA,
 * up, delete) and the "macsec" generic netlink family for SCs and SAs.
 * Each request waits for the kernel's answer; a refusal is logged with
 * the kernel's reason and returned as -1, and the KaY then leaves the
 * port unsecured (mka_cp.c), which on this SecY means closed: the netdev
 * protects and validates strictly from its creation on.
 */
#include "secy_kernel.h"

#include "encoding.h"
#include "log.h"
#include "mka_suite.h"
#include "secy_nl.h"
#include "util.h"

#include <linux/if_macsec.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macsec.h>
#include <stdlib.h>
#include <string.h>

#define KERNEL_MAX_RXSC 16

struct secy_kernel {
	char name[IF_NAMESIZE];
	struct nl_sock *rt; /* NETLINK_ROUTE */
	struct nl_sock *gn; /* NETLINK_GENERIC, family "macsec" */
	int family;
	struct rtnl_link *link; /* the netdev as last read */
	uint32_t ifindex;
	uint64_t cs;
	bool owned; /* created by us: deleted at the end */
	/* Receive SCs we created, to leave an adopted netdev closed. */
	uint8_t rxsc[KERNEL_MAX_RXSC][8];
	size_t n_rxsc;
};

static void
kerr(const struct secy_kernel *k, const char *what, int err)
{
	log_warnx("%s: kernel MACsec refused %s: %s", k->name, what,
		  nl_geterror(err));
}

/* A generic netlink request of the macsec family; NULL if no memory. */
static struct nl_msg *
gmsg(const struct secy_kernel *k, uint8_t cmd, int flags)
{
	struct nl_msg *m = nlmsg_alloc();

	if (m != NULL && genlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, k->family, 0,
				     flags, cmd, MACSEC_GENL_VERSION) == NULL) {
		nlmsg_free(m);
		m = NULL;
	}
	return m;
}

/*
 * Sends m (built: what its builder returned), waits for the kernel's
 * answer, wipes and frees m.  Returns 0 or the negative libnl error
 * (logged unless quiet is that error).
 */
static int
gsend(struct secy_kernel *k, struct nl_msg *m, int built, const char *what,
      int quiet)
{
	/* A message the builder refused holds an AN, PN or SAK the
	 * kernel would refuse too (secy_nl.c). */
	int err = m == NULL ? -NLE_NOMEM : built == -1 ? -NLE_INVAL : 0;

	if (err == 0 && (err = nl_send_auto(k->gn, m)) >= 0)
		err = nl_wait_for_ack(k->gn);
	secy_nl_wipe(m);
	nlmsg_free(m);
	if (err < 0 && err != quiet)
		kerr(k, what, err);
	return err < 0 ? err : 0;
}

/* Sends a change of the link (policy, encoding SA, up). */
static int
link_change(struct secy_kernel *k, struct rtnl_link *changes, const char *what)
{
	int err = rtnl_link_change(k->rt, k->link, changes, 0);

	if (err < 0) {
		kerr(k, what, err);
		return -1;
	}
	return 0;
}

static int
k_set_policy(void *arg, const struct mka_secy_policy *pol)
{
	struct secy_kernel *k = arg;
	const struct mka_suite *s = mka_suite_by_id(pol->cs);
	struct rtnl_link *ch;
	const char *why;
	int rc = -1;

	/* A plain policy names no suite worth checking: nothing is keyed. */
	if (pol->protect && (s == NULL || s->id != k->cs)) {
		log_warnx("%s: kernel MACsec: the netdev was created for "
			  "cipher suite %s, not %s (the kernel cannot change "
			  "a SecY's suite)",
			  k->name, mka_suite_by_id(k->cs)->name,
			  s != NULL ? s->name : "?");
		return -1;
	}
	if ((ch = rtnl_link_macsec_alloc()) == NULL)
		return -1;
	if (secy_nl_policy(ch, pol, &why) == -1)
		log_warnx("%s: kernel MACsec: %s", k->name, why);
	else
		rc = link_change(k, ch, "the SecY policy");
	rtnl_link_put(ch);
	return rc;
}

static void
rxsc_note(struct secy_kernel *k, const uint8_t sci[8], bool add)
{
	for (size_t i = 0; i < k->n_rxsc; i++) {
		if (memcmp(k->rxsc[i], sci, 8) == 0) {
			if (!add)
				memcpy(k->rxsc[i], k->rxsc[--k->n_rxsc], 8);
			return;
		}
	}
	if (add && k->n_rxsc < KERNEL_MAX_RXSC)
		memcpy(k->rxsc[k->n_rxsc++], sci, 8);
}

static int
rxsc_request(struct secy_kernel *k, uint8_t cmd, const uint8_t sci[8],
	     const char *what, int quiet)
{
	struct nl_msg *m = gmsg(k, cmd, 0);

	return gsend(k, m, m == NULL ? -1 : secy_nl_rxsc(m, k->ifindex, sci),
		     what, quiet);
}

static int
k_create_rxsc(void *arg, const uint8_t sci[8])
{
	struct secy_kernel *k = arg;

	/* An SC left by an earlier agent: the KaY deletes and retries. */
	if (rxsc_request(k, MACSEC_CMD_ADD_RXSC, sci, "a receive SC",
			 -NLE_EXIST) < 0)
		return -1;
	rxsc_note(k, sci, true);
	return 0;
}

static int
k_delete_rxsc(void *arg, const uint8_t sci[8])
{
	struct secy_kernel *k = arg;

	/* The kernel deletes the SC's SAs with it, active or not. */
	rxsc_note(k, sci, false);
	return rxsc_request(k, MACSEC_CMD_DEL_RXSC, sci,
			    "to delete a receive SC", 0) < 0
		   ? -1
		   : 0;
}

static int
sa_state(struct secy_kernel *k, uint8_t cmd, const uint8_t *sci, uint8_t an,
	 int active, const char *what, int quiet)
{
	struct nl_msg *m = gmsg(k, cmd, 0);

	return gsend(
	    k, m,
	    m == NULL ? -1 : secy_nl_sa_state(m, k->ifindex, sci, an, active),
	    what, quiet);
}

/*
 * The kernel refuses to delete an active SA (EBUSY): deactivate it
 * first.  An SA that is not there counts as deleted.
 */
static int
sa_delete(struct secy_kernel *k, const uint8_t *sci, uint8_t an)
{
	uint8_t upd = sci == NULL ? MACSEC_CMD_UPD_TXSA : MACSEC_CMD_UPD_RXSA;
	uint8_t del = sci == NULL ? MACSEC_CMD_DEL_TXSA : MACSEC_CMD_DEL_RXSA;
	int err;

	err = sa_state(k, upd, sci, an, 0, "to deactivate an SA",
		       -NLE_OBJ_NOTFOUND);
	if (err == -NLE_OBJ_NOTFOUND)
		return 0;
	if (err < 0)
		return -1;
	return sa_state(k, del, sci, an, SECY_NL_KEEP, "to delete an SA", 0) < 0
		   ? -1
		   : 0;
}

static int
sa_add(struct secy_kernel *k, const uint8_t *sci, const struct mka_sa *sa,
       int quiet)
{
	uint8_t cmd = sci == NULL ? MACSEC_CMD_ADD_TXSA : MACSEC_CMD_ADD_RXSA;
	struct nl_msg *m = gmsg(k, cmd, 0);

	return gsend(k, m, m == NULL ? -1 : secy_nl_sa(m, k->ifindex, sci, sa),
		     sci == NULL ? "a transmit SA" : "a receive SA", quiet);
}

static int
k_install_rxsa(void *arg, const uint8_t sci[8], const struct mka_sa *sa)
{
	struct secy_kernel *k = arg;
	int err = sa_add(k, sci, sa, -NLE_BUSY);

	/* Installing replaces (as in macsec-sw): the AN's old SA goes. */
	if (err == -NLE_BUSY && sa_delete(k, sci, sa->an) == 0)
		err = sa_add(k, sci, sa, 0);
	return err < 0 ? -1 : 0;
}

static int
k_enable_rxsa(void *arg, const uint8_t sci[8], uint8_t an)
{
	return sa_state(arg, MACSEC_CMD_UPD_RXSA, sci, an, 1,
			"to enable a receive SA", 0) < 0
		   ? -1
		   : 0;
}

static int
k_delete_rxsa(void *arg, const uint8_t sci[8], uint8_t an)
{
	return sa_delete(arg, sci, an);
}

static int
k_install_txsa(void *arg, const struct mka_sa *sa)
{
	/* An SA on that AN makes the kernel answer EBUSY: the KaY deletes
	 * it (only its own key may be there) and installs again. */
	return sa_add(arg, NULL, sa, -NLE_BUSY) < 0 ? -1 : 0;
}

static int
k_enable_txsa(void *arg, uint8_t an)
{
	struct secy_kernel *k = arg;
	struct rtnl_link *ch;
	int rc = -1;

	/* Active first, then encoding: no frame meets an inactive SA. */
	if (sa_state(k, MACSEC_CMD_UPD_TXSA, NULL, an, 1,
		     "to enable the transmit SA", 0) < 0)
		return -1;
	if ((ch = rtnl_link_macsec_alloc()) == NULL)
		return -1;
	if (rtnl_link_macsec_set_encoding_sa(ch, an) == 0)
		rc = link_change(k, ch, "the encoding SA");
	rtnl_link_put(ch);
	return rc;
}

static int
k_delete_txsa(void *arg, uint8_t an)
{
	return sa_delete(arg, NULL, an);
}

struct pn_query {
	uint32_t ifindex;
	const uint8_t *sci;
	uint8_t an;
	uint64_t pn;
	int found; /* 1 found, -1 malformed */
};

static int
pn_cb(struct nl_msg *m, void *arg)
{
	struct pn_query *q = arg;
	int rc;

	if (q->found == 0) {
		rc = secy_nl_dump_pn(nlmsg_hdr(m), q->ifindex, q->sci, q->an,
				     &q->pn);
		q->found = rc;
	}
	return NL_OK;
}

/* The next PN of an SA, from a GET_TXSC dump of every macsec SecY. */
static int
get_pn(struct secy_kernel *k, const uint8_t *sci, uint8_t an, uint64_t *pn)
{
	struct pn_query q = { .ifindex = k->ifindex, .sci = sci, .an = an };
	struct nl_msg *m = gmsg(k, MACSEC_CMD_GET_TXSC, NLM_F_DUMP);
	struct nl_cb *cb;
	int err;

	if (m == NULL)
		return -1;
	err = nl_send_auto(k->gn, m);
	nlmsg_free(m);
	if (err < 0 || (cb = nl_cb_alloc(NL_CB_DEFAULT)) == NULL) {
		kerr(k, "a PN query", err < 0 ? err : -NLE_NOMEM);
		return -1;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, pn_cb, &q);
	err = nl_recvmsgs(k->gn, cb);
	nl_cb_put(cb);
	if (err < 0) {
		kerr(k, "a PN query", err);
		return -1;
	}
	if (q.found != 1) {
		log_warnx("%s: kernel MACsec: %s SA %u %s", k->name,
			  sci == NULL ? "transmit" : "receive", an,
			  q.found == 0 ? "not found" : "dump malformed");
		return -1;
	}
	*pn = q.pn;
	return 0;
}

static int
k_get_txsa_pn(void *arg, uint8_t an, uint64_t *next_pn)
{
	return get_pn(arg, NULL, an, next_pn);
}

static int
k_get_rxsa_pn(void *arg, const uint8_t sci[8], uint8_t an, uint64_t *next_pn)
{
	return get_pn(arg, sci, an, next_pn);
}

const struct mka_secy_ops secy_kernel_ops = {
	.set_policy = k_set_policy,
	.create_rxsc = k_create_rxsc,
	.delete_rxsc = k_delete_rxsc,
	.install_rxsa = k_install_rxsa,
	.enable_rxsa = k_enable_rxsa,
	.delete_rxsa = k_delete_rxsa,
	.install_txsa = k_install_txsa,
	.enable_txsa = k_enable_txsa,
	.delete_txsa = k_delete_txsa,
	.get_txsa_pn = k_get_txsa_pn,
	.get_rxsa_pn = k_get_rxsa_pn,
	/*
	 * No instance op: the SecY is the netdev this backend made or
	 * adopted, which does not restart under the agent as macsec-sw can;
	 * one deleted by hand makes every later request fail, logged.
	 */
};

/* Reads the netdev back (ifindex, type, lower, SCI, suite). */
static int
link_read(struct secy_kernel *k)
{
	if (k->link != NULL)
		rtnl_link_put(k->link);
	k->link = NULL;
	if (rtnl_link_get_kernel(k->rt, 0, k->name, &k->link) < 0)
		return -1;
	k->ifindex = (uint32_t)rtnl_link_get_ifindex(k->link);
	return 0;
}

/* An existing netdev of our name: ours to use only if it matches. */
static int
adopt(struct secy_kernel *k, const struct secy_kernel_conf *c, int lower)
{
	const char *type = rtnl_link_get_type(k->link);
	uint64_t sci = 0, cs = 0;
	char want[17], have[17];

	if (type == NULL || strcmp(type, "macsec") != 0) {
		log_warnx("%s: exists and is not a macsec link (%s)", k->name,
			  type != NULL ? type : "no type");
		return -1;
	}
	if (rtnl_link_get_link(k->link) != lower) {
		log_warnx("%s: is a macsec link on another interface than %s",
			  k->name, c->lower);
		return -1;
	}
	rtnl_link_macsec_get_sci(k->link, &sci);
	if (memcmp(&sci, c->sci, 8) != 0) {
		hex_encode(want, c->sci, 8);
		hex_encode(have, (const uint8_t *)&sci, 8);
		log_warnx("%s: its SCI is %s, the agent's is %s (port_id and "
			  "the MAC of %s)",
			  k->name, have, want, c->lower);
		return -1;
	}
	if (rtnl_link_macsec_get_cipher_suite(k->link, &cs) < 0 ||
	    mka_suite_by_id(cs) == NULL || mka_suite_by_id(cs)->id != k->cs) {
		log_warnx("%s: its cipher suite is not the configured %s",
			  k->name, mka_suite_by_id(k->cs)->name);
		return -1;
	}
	log_info("%s: adopting the existing macsec link", k->name);
	return 0;
}

static int
create(struct secy_kernel *k, const struct secy_kernel_conf *c, int lower)
{
	struct rtnl_link *l = rtnl_link_macsec_alloc();
	uint64_t sci;
	const char *why;
	int err = -NLE_NOMEM;

	if (l == NULL)
		goto fail;
	memcpy(&sci, c->sci, 8);
	rtnl_link_set_name(l, k->name);
	rtnl_link_set_link(l, lower);
	rtnl_link_macsec_set_sci(l, sci);
	rtnl_link_macsec_set_cipher_suite(l, k->cs);
	rtnl_link_macsec_set_icv_len(l, 16);
	if (secy_nl_policy(l, &c->initial, &why) == -1) {
		log_warnx("%s: kernel MACsec: %s", k->name, why);
		rtnl_link_put(l);
		return -1;
	}
	err = rtnl_link_add(k->rt, l, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(l);
	if (err < 0)
		goto fail;
	k->owned = true;
	return 0;
fail:
	if (err == -NLE_OPNOTSUPP)
		log_warnx("%s: this kernel has no MACsec (module macsec not "
			  "loaded or not built): %s",
			  k->name, nl_geterror(err));
	else
		kerr(k, "to create the macsec link", err);
	return -1;
}

struct secy_kernel *
secy_kernel_new(const struct secy_kernel_conf *c)
{
	struct secy_kernel *k = calloc(1, sizeof(*k));
	const struct mka_suite *s = mka_suite_by_id(c->initial.cs);
	struct rtnl_link *up = NULL;
	int lower;

	if (k == NULL)
		return NULL;
	if (s == NULL || str_copy(k->name, sizeof(k->name), c->netdev) == -1) {
		log_warnx("%s: bad macsec netdev name or cipher suite",
			  c->netdev);
		free(k);
		return NULL;
	}
	k->cs = s->id;
	if ((lower = (int)if_nametoindex(c->lower)) == 0) {
		log_warn("%s", c->lower);
		goto err;
	}
	if ((k->rt = nl_socket_alloc()) == NULL ||
	    (k->gn = nl_socket_alloc()) == NULL ||
	    nl_connect(k->rt, NETLINK_ROUTE) < 0 || genl_connect(k->gn) < 0) {
		log_warnx("%s: cannot open netlink sockets", k->name);
		goto err;
	}
	if (link_read(k) == 0) {
		if (adopt(k, c, lower) == -1 ||
		    k_set_policy(k, &c->initial) == -1)
			goto err;
	} else if (create(k, c, lower) == -1 || link_read(k) == -1) {
		goto err;
	}
	/* The family exists once the module is in (it just was). */
	if ((k->family = genl_ctrl_resolve(k->gn, MACSEC_GENL_NAME)) < 0) {
		log_warnx("%s: no generic netlink family %s: %s", k->name,
			  MACSEC_GENL_NAME, nl_geterror(k->family));
		goto err;
	}
	if ((up = rtnl_link_alloc()) == NULL)
		goto err;
	rtnl_link_set_flags(up, IFF_UP);
	if (link_change(k, up, "to set the macsec link up") == -1)
		goto err;
	rtnl_link_put(up);
	log_info("%s: kernel MACsec SecY on %s, %s, closed until keyed",
		 k->name, c->lower, s->name);
	return k;
err:
	if (up != NULL)
		rtnl_link_put(up);
	secy_kernel_free(k);
	return NULL;
}

void
secy_kernel_free(struct secy_kernel *k)
{
	if (k == NULL)
		return;
	if (k->link != NULL && k->owned) {
		int err = rtnl_link_delete(k->rt, k->link);

		if (err < 0)
			kerr(k, "to delete the macsec link", err);
	} else if (k->link != NULL && k->family > 0) {
		/* Adopted: leave it closed, with nothing of ours in it. */
		struct rtnl_link *ch = rtnl_link_macsec_alloc();

		if (ch != NULL) {
			rtnl_link_macsec_set_protect(ch, 1);
			rtnl_link_macsec_set_validation_type(
			    ch, MACSEC_VALIDATE_STRICT);
			link_change(k, ch, "to close the SecY");
			rtnl_link_put(ch);
		}
		for (uint8_t an = 0; an < 4; an++)
			sa_delete(k, NULL, an);
		while (k->n_rxsc > 0)
			k_delete_rxsc(k, k->rxsc[k->n_rxsc - 1]);
	}
	if (k->link != NULL)
		rtnl_link_put(k->link);
	nl_socket_free(k->rt);
	nl_socket_free(k->gn);
	free(k);
}
