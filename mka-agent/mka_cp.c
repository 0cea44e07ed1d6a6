/*
 * mka_cp.c — the Controlled Port state machine, 802.1X-2020 12.3 and
 * Figure 12-2, and the SA installations it makes through the SecY ops.
 *
 * One enter function per state holds that state's entry actions; one step
 * function holds every transition; mka_cp_run() repeats the step until
 * nothing fires.  The inputs (connect, newSAK, allReceiving,
 * serverTransmitting, electedSelf) come from the principal participant.
 */
#include "mka_kay_i.h"

#include "buf.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <string.h>

#define CP_MAX_STEPS 32 /* a figure has no cycle this long */

static const char *const cp_names[CP_N_STATES] = {
	[CP_INIT] = "INIT",	      [CP_CHANGE] = "CHANGE",
	[CP_ALLOWED] = "ALLOWED",     [CP_AUTHENTICATED] = "AUTHENTICATED",
	[CP_SECURED] = "SECURED",     [CP_RECEIVE] = "RECEIVE",
	[CP_RECEIVING] = "RECEIVING", [CP_READY] = "READY",
	[CP_TRANSMIT] = "TRANSMIT",   [CP_TRANSMITTING] = "TRANSMITTING",
	[CP_ABANDON] = "ABANDON",     [CP_RETIRE] = "RETIRE",
};

const char *
mka_cp_state_name(enum mka_cp_state s)
{
	return s < CP_N_STATES ? cp_names[s] : "?";
}

/* Our SCI and those of the live peers: the members for SSCI (10.7.13). */
static size_t
member_scis(const struct mka_participant *p, uint8_t *scis)
{
	size_t n = 0;

	memcpy(scis, p->kay->sci, MKA_SCI_LEN);
	n++;
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		if (p->peers[i].used && p->peers[i].live)
			memcpy(scis + MKA_SCI_LEN * n++, p->peers[i].sci,
			       MKA_SCI_LEN);
	}
	return n;
}

static struct mka_rxsc *
rxsc_find(struct mka_kay *kay, const uint8_t sci[8])
{
	for (size_t i = 0; i < MKA_MAX_PEERS; i++)
		if (kay->rxsc[i].used && memcmp(kay->rxsc[i].sci, sci, 8) == 0)
			return &kay->rxsc[i];
	return NULL;
}

static int
rxsc_ensure(struct mka_kay *kay, const uint8_t sci[8])
{
	const struct mka_secy_ops *ops = kay->conf.secy;

	if (rxsc_find(kay, sci) != NULL)
		return 0;
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		if (kay->rxsc[i].used)
			continue;
		/*
		 * A SecY that outlived an earlier agent may still hold this
		 * SC: remove it (and its stale SAs) and create it afresh.
		 */
		if (ops->create_rxsc(kay->conf.secy_arg, sci) == -1 &&
		    (ops->delete_rxsc(kay->conf.secy_arg, sci) == -1 ||
		     ops->create_rxsc(kay->conf.secy_arg, sci) == -1))
			return -1;
		kay->rxsc[i].used = true;
		memcpy(kay->rxsc[i].sci, sci, 8);
		return 0;
	}
	return -1;
}

static int
set_policy(struct mka_kay *kay, bool protect, uint64_t cs)
{
	struct mka_secy_policy pol = {
		.cs = cs,
		.conf_offset = kay->conf.conf_offset,
		.protect = protect,
		.replay_protect = kay->conf.replay_protect,
		.replay_window = kay->conf.replay_window,
		.validate = protect ? MKA_VALIDATE_STRICT : MKA_VALIDATE_CHECK,
	};
	const struct mka_suite *s = mka_suite_by_id(cs);

	if (s != NULL && s->xpn)
		pol.conf_offset = kay->conf.conf_offset > MKA_CO_0
				      ? MKA_CO_0
				      : kay->conf.conf_offset;
	if (kay->conf.secy->set_policy(kay->conf.secy_arg, &pol) == -1) {
		mka_kay_error(kay, "SecY refused the policy");
		return -1;
	}
	kay->cp.policy_cs = cs;
	kay->cp.policy_protect = protect;
	return 0;
}

static void
sa_fill(struct mka_sa *sa, const struct mka_key *k, uint32_t ssci)
{
	memset(sa, 0, sizeof(*sa));
	sa->an = k->an;
	sa->pn = 1;
	sa->key = k->sak;
	sa->key_len = k->sak_len;
	memcpy(sa->ki, k->ks_mi, MKA_MI_LEN);
	store_be32(sa->ki + MKA_MI_LEN, k->kn);
	sa->xpn = k->suite->xpn;
	sa->ssci = ssci;
	memcpy(sa->salt, k->salt, sizeof(sa->salt));
}

/*
 * The lowest PN to accept from sci under k in a SecY that replaced the
 * one that knew: the LPN the peer last reported for k in SAK Use (9.8.4;
 * this agent reports its transmit SA's next PN there, fill_sak_use), so
 * no frame it sent before that MKPDU is accepted again; 1 if none.
 */
static uint64_t
peer_lpn(const struct mka_participant *p, const uint8_t sci[8],
	 const struct mka_key *k)
{
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		const struct mka_peer *e = &p->peers[i];

		if (e->used && e->live && e->has_su && e->su.in_use &&
		    memcmp(e->sci, sci, MKA_SCI_LEN) == 0 &&
		    e->su.lkn == k->kn &&
		    memcmp(e->su.lki_mi, k->ks_mi, MKA_MI_LEN) == 0 &&
		    (e->su.llpn != 0 || e->llpn_msb != 0))
			return (uint64_t)e->llpn_msb << 32 | e->su.llpn;
	}
	return 1;
}

/*
 * Receive SAs of k for every live peer, enabled (restore: each from the
 * peer's last reported LPN, not from 1).
 */
static int
install_rx(struct mka_kay *kay, struct mka_participant *p, struct mka_key *k,
	   bool restore)
{
	const struct mka_secy_ops *ops = kay->conf.secy;
	void *arg = kay->conf.secy_arg;
	uint8_t scis[(MKA_MAX_PEERS + 1) * MKA_SCI_LEN];
	size_t n = member_scis(p, scis);
	uint32_t ssci = 0;
	struct mka_sa sa;

	k->n_rx = 0;
	for (size_t i = 1; i < n; i++) {
		const uint8_t *sci = scis + MKA_SCI_LEN * i;

		if (k->suite->xpn)
			mka_xpn_ssci(scis, n, sci, &ssci);
		sa_fill(&sa, k, ssci);
		if (restore)
			sa.pn = peer_lpn(p, sci, k);
		if (rxsc_ensure(kay, sci) == -1 ||
		    ops->install_rxsa(arg, sci, &sa) == -1 ||
		    ops->enable_rxsa(arg, sci, k->an) == -1)
			return -1;
		memcpy(k->rx_sci[k->n_rx++], sci, MKA_SCI_LEN);
	}
	return 0;
}

/*
 * Receive SAs for every live peer, enabled, then the transmit SA (not
 * yet the encoding SA): 802.1AE 10.7 wants receive ready before transmit.
 */
static int
install_key(struct mka_kay *kay, struct mka_participant *p, struct mka_key *k)
{
	const struct mka_secy_ops *ops = kay->conf.secy;
	void *arg = kay->conf.secy_arg;
	uint8_t scis[(MKA_MAX_PEERS + 1) * MKA_SCI_LEN];
	size_t n = member_scis(p, scis);
	uint32_t ssci = 0;
	struct mka_sa sa;

	if ((kay->cp.policy_cs != k->suite->id || !kay->cp.policy_protect) &&
	    set_policy(kay, true, k->suite->id) == -1)
		return -1;
	if (install_rx(kay, p, k, false) == -1)
		goto err;
	if (k->suite->xpn)
		mka_xpn_ssci(scis, n, kay->sci, &ssci);
	sa_fill(&sa, k, ssci);
	/*
	 * As for receive SCs (rxsc_ensure): a SecY that outlived an earlier
	 * agent (kill -9, restart) may still hold a transmit SA on this AN,
	 * which it refuses to overwrite.  Only our own key may be there.
	 */
	if (ops->install_txsa(arg, &sa) == -1 &&
	    (ops->delete_txsa(arg, sa.an) == -1 ||
	     ops->install_txsa(arg, &sa) == -1))
		goto err;
	k->installed = true;
	kay->c.sak_installed++;
	mka_kay_log_sak(kay, p, k);
	return 0;
err:
	kay->c.secy_errors++;
	mka_kay_error(kay, "SecY refused an SA");
	return -1;
}

void
mka_cp_drop_key(struct mka_kay *kay, struct mka_key *k)
{
	const struct mka_secy_ops *ops = kay->conf.secy;
	void *arg = kay->conf.secy_arg;

	if (k->installed) {
		for (size_t i = 0; i < k->n_rx; i++)
			if (rxsc_find(kay, k->rx_sci[i]) != NULL)
				ops->delete_rxsa(arg, k->rx_sci[i], k->an);
		if (!k->tx_lost)
			ops->delete_txsa(arg, k->an);
	}
	secmem_wipe(k, sizeof(*k));
}

/*
 * The SecY was replaced under us (macsec-sw restarted): the new one
 * has its default policy and no SC or SA, while the CP goes on as if the
 * keys in use were installed.  Put back what may be put back:
 *  - the policy;
 *  - the receive SCs, and the receive SAs of the latest key, each from
 *    the lowest PN its transmitter last reported (peer_lpn);
 *  - the transmit SA of the latest key if it was never enabled: it has
 *    sent nothing, so PN 1 is still unused.
 * Not an enabled transmit SA: its next PN died with the old SecY (the
 * last one read is stale by every frame sent since), and a PN used twice
 * with one SAK repeats a GCM nonce, which 802.1AE forbids (10.6.2; a SAK
 * is never used past PN exhaustion, 802.1X-2020 9.8).  Such a key is
 * marked tx_lost and treated as exhausted: a key server distributes a
 * fresh SAK at once (pn_exhausted), a member that is not reports an
 * exhausted LPN in SAK Use so that its key server does (fill_sak_use),
 * and the port is not reported secured until the new SAK is in use.  The
 * old key's SAs are not restored: it is retiring anyway.
 */
void
mka_cp_secy_lost(struct mka_kay *kay)
{
	struct mka_participant *p = kay->principal;
	const struct mka_secy_ops *ops = kay->conf.secy;
	struct mka_key *k;
	uint8_t scis[(MKA_MAX_PEERS + 1) * MKA_SCI_LEN];
	uint32_t ssci = 0;
	struct mka_sa sa;

	kay->c.secy_errors++;
	mka_kay_error(kay, "SecY replaced: its SCs and SAs are gone");
	memset(kay->rxsc, 0, sizeof(kay->rxsc));
	if (kay->cp.policy_cs != 0)
		set_policy(kay, kay->cp.policy_protect, kay->cp.policy_cs);
	if (p == NULL)
		return;
	if (p->okey.valid) {
		p->okey.installed = false;
		p->orx = p->otx = false;
	}
	k = &p->lkey;
	if (!k->valid || !k->installed)
		return;
	if (install_rx(kay, p, k, true) == -1) {
		mka_kay_error(kay, "SecY refused a receive SA (restore)");
		p->lrx = kay->cp.using_receive_sas = false;
	}
	if (k->tx_enabled) {
		k->tx_lost = true;
		p->tx_now = true; /* SAK Use says so at once */
		log_warnx("%s: SecY replaced: receive SAs restored, a new SAK "
			  "for transmit (its PN is unknown)",
			  kay->conf.name);
		return;
	}
	if (k->suite->xpn)
		mka_xpn_ssci(scis, member_scis(p, scis), kay->sci, &ssci);
	sa_fill(&sa, k, ssci);
	if (ops->install_txsa(kay->conf.secy_arg, &sa) == -1 &&
	    (ops->delete_txsa(kay->conf.secy_arg, sa.an) == -1 ||
	     ops->install_txsa(kay->conf.secy_arg, &sa) == -1))
		mka_kay_error(kay, "SecY refused the transmit SA (restore)");
	log_warnx("%s: SecY replaced: SAs of the latest key restored",
		  kay->conf.name);
}

void
mka_cp_drop_peer(struct mka_kay *kay, const uint8_t sci[8])
{
	struct mka_rxsc *sc = rxsc_find(kay, sci);

	if (sc == NULL)
		return;
	/* Deleting the SC takes its SAs with it (802.1AE 10.7.11). */
	kay->conf.secy->delete_rxsc(kay->conf.secy_arg, sci);
	sc->used = false;
}

/* Entry actions, one per state of Figure 12-2. */

static void
enter_init(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	(void)now;
	if (p != NULL) {
		mka_cp_drop_key(kay, &p->lkey);
		mka_cp_drop_key(kay, &p->okey);
		p->lrx = p->ltx = p->orx = p->otx = false;
	}
	kay->cp.new_sak = false;
	kay->cp.using_receive_sas = kay->cp.using_transmit_sa = false;
}

static void
enter_change(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	/* The Controlled Port stops: no SA survives a change of connect. */
	enter_init(kay, p, now);
	kay->cp.connect = mka_kay_connect(kay);
}

static void
enter_allowed(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	(void)p;
	(void)now;
	set_policy(kay, false, kay->cp.policy_cs);
}

static void
enter_authenticated(struct mka_kay *kay, struct mka_participant *p,
		    uint64_t now)
{
	/* Authenticated, MACsec not used (the KS said so): plain frames. */
	enter_allowed(kay, p, now);
}

static void
enter_secured(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	(void)p;
	(void)now;
	/* Protect from here on: until a SAK is in use, nothing passes. */
	if (!kay->cp.policy_protect)
		set_policy(kay, true,
			   kay->cp.policy_cs != 0 ? kay->cp.policy_cs
						  : kay->conf.suites[0]);
}

static void
enter_receive(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	kay->cp.new_sak = false;
	/* oki = lki, lki = distributedKI (12.3) */
	if (p->lkey.valid) {
		mka_cp_drop_key(kay, &p->okey);
		p->okey = p->lkey;
		p->orx = p->lrx;
		p->otx = p->ltx;
	}
	p->lkey = p->dkey;
	secmem_wipe(&p->dkey, sizeof(p->dkey));
	p->lrx = p->ltx = false;
	kay->cp.using_transmit_sa = false;
	kay->cp.using_receive_sas = install_key(kay, p, &p->lkey) == 0;
	p->lrx = kay->cp.using_receive_sas;
	kay->cp.transmit_when = now + kay->conf.life_ms;
	p->tx_now = true;
}

static void
enter_receiving(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	(void)kay;
	(void)p;
	(void)now;
}

static void
enter_ready(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	(void)kay;
	(void)p;
	(void)now;
}

static void
enter_transmit(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	(void)now;
	if (kay->conf.secy->enable_txsa(kay->conf.secy_arg, p->lkey.an) == -1) {
		kay->c.secy_errors++;
		mka_kay_error(kay, "SecY refused to enable the transmit SA");
		return;
	}
	p->lkey.tx_enabled = true;
	p->ltx = true;
	p->otx = false;
	kay->cp.using_transmit_sa = true;
	p->tx_now = true;
}

static void
enter_transmitting(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	/* Keep the old receive SAs a while for frames still in flight. */
	kay->cp.retire_when = p->okey.valid ? now + kay->conf.retire_ms : now;
}

static void
enter_retire(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	(void)now;
	mka_cp_drop_key(kay, &p->okey);
	p->orx = p->otx = false;
	p->tx_now = true;
}

static void
enter_abandon(struct mka_kay *kay, struct mka_participant *p, uint64_t now)
{
	(void)now;
	mka_cp_drop_key(kay, &p->lkey);
	p->lrx = p->ltx = false;
	kay->cp.using_receive_sas = kay->cp.using_transmit_sa = false;
}

typedef void (*cp_enter_fn)(struct mka_kay *, struct mka_participant *,
			    uint64_t);

static const cp_enter_fn cp_enter_fns[CP_N_STATES] = {
	[CP_INIT] = enter_init,
	[CP_CHANGE] = enter_change,
	[CP_ALLOWED] = enter_allowed,
	[CP_AUTHENTICATED] = enter_authenticated,
	[CP_SECURED] = enter_secured,
	[CP_RECEIVE] = enter_receive,
	[CP_RECEIVING] = enter_receiving,
	[CP_READY] = enter_ready,
	[CP_TRANSMIT] = enter_transmit,
	[CP_TRANSMITTING] = enter_transmitting,
	[CP_ABANDON] = enter_abandon,
	[CP_RETIRE] = enter_retire,
};

/* Every state change goes through here: log OLD -> NEW, run the entry. */
static void
cp_set_state(struct mka_kay *kay, enum mka_cp_state to, uint64_t now)
{
	log_debug("%s: CP %s -> %s", kay->conf.name,
		  mka_cp_state_name(kay->cp.state), mka_cp_state_name(to));
	if ((to == CP_TRANSMITTING || to == CP_CHANGE) && kay->cp.state != to)
		log_info("%s: controlled port %s", kay->conf.name,
			 to == CP_TRANSMITTING ? "secured" : "changing");
	kay->cp.state = to;
	cp_enter_fns[to](kay, kay->principal, now);
}

/* The transitions of Figure 12-2; true if one fired. */
static bool
cp_step(struct mka_kay *kay, uint64_t now)
{
	struct mka_participant *p = kay->principal;
	enum mka_connect connect = mka_kay_connect(kay);
	bool secure = connect == MKA_CONNECT_SECURE;
	enum mka_cp_state s = kay->cp.state, to = s;

	/* No principal participant: the port is not enabled (12.3). */
	if (p == NULL) {
		if (s == CP_INIT)
			return false;
		cp_set_state(kay, CP_INIT, now);
		return true;
	}
	switch (s) {
	case CP_INIT:
		to = CP_CHANGE;
		break;
	case CP_CHANGE:
		if (connect == MKA_CONNECT_UNAUTHENTICATED)
			to = CP_ALLOWED;
		else if (connect == MKA_CONNECT_AUTHENTICATED)
			to = CP_AUTHENTICATED;
		else if (secure)
			to = CP_SECURED;
		break;
	case CP_ALLOWED:
		if (connect != MKA_CONNECT_UNAUTHENTICATED)
			to = CP_CHANGE;
		break;
	case CP_AUTHENTICATED:
		if (connect != MKA_CONNECT_AUTHENTICATED)
			to = CP_CHANGE;
		break;
	case CP_SECURED:
	case CP_RETIRE:
		if (!secure)
			to = CP_CHANGE;
		else if (kay->cp.new_sak)
			to = CP_RECEIVE;
		break;
	case CP_RECEIVE:
		if (!secure)
			to = CP_ABANDON;
		else if (kay->cp.using_receive_sas)
			to = CP_RECEIVING;
		break;
	case CP_RECEIVING:
		if (kay->cp.new_sak || !secure)
			to = CP_ABANDON;
		else if (!p->elected_self)
			to = CP_READY;
		else if (mka_kay_all_receiving(p) ||
			 now >= kay->cp.transmit_when)
			to = CP_TRANSMIT;
		break;
	case CP_READY:
		if (kay->cp.new_sak || !secure)
			to = CP_ABANDON;
		else if (mka_kay_server_transmitting(p))
			to = CP_TRANSMIT;
		break;
	case CP_TRANSMIT:
		if (!secure)
			to = CP_ABANDON;
		else if (kay->cp.using_transmit_sa)
			to = CP_TRANSMITTING;
		break;
	case CP_TRANSMITTING:
		if (!secure || kay->cp.new_sak || now >= kay->cp.retire_when)
			to = CP_RETIRE;
		break;
	case CP_ABANDON:
		if (!secure)
			to = CP_CHANGE;
		else if (kay->cp.new_sak)
			to = CP_RECEIVE;
		break;
	case CP_N_STATES:
		break;
	}
	if (to == s)
		return false;
	cp_set_state(kay, to, now);
	return true;
}

void
mka_cp_init(struct mka_kay *kay)
{
	memset(&kay->cp, 0, sizeof(kay->cp));
	kay->cp.state = CP_INIT;
}

void
mka_cp_run(struct mka_kay *kay, uint64_t now)
{
	for (int i = 0; i < CP_MAX_STEPS && cp_step(kay, now); i++)
		;
}

uint64_t
mka_cp_next_event(const struct mka_kay *kay)
{
	if (kay->cp.state == CP_RECEIVING)
		return kay->cp.transmit_when;
	if (kay->cp.state == CP_TRANSMITTING)
		return kay->cp.retire_when;
	return UINT64_MAX;
}
