/*
 * mka_kay.c — participants, peers, key server election and SAK
 * distribution (802.1X-2020 9.4-9.8, 9.16) for one port.
 *
 * Receive path: decode -> validate (11.11.2) -> find the CA by CKN ->
 * check the ICV -> only then touch peers and keys.  A frame that fails any
 * step changes nothing but a counter.
 */
#include "mka_kay_i.h"
#include "mka_timers.h"

#include "buf.h"
#include "encoding.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
mka_kay_error(struct mka_kay *kay, const char *what)
{
	/* Conditions repeat on every tick: log each one when it starts. */
	if (kay->last_error != what)
		log_warnx("%s: %s", kay->conf.name, what);
	kay->last_error = what;
}

const char *
mka_connect_name(enum mka_connect c)
{
	static const char *const names[] = { "pending", "unauthenticated",
					     "authenticated", "secure" };

	return c <= MKA_CONNECT_SECURE ? names[c] : "?";
}

static void
mi_hex(char out[25], const uint8_t mi[12])
{
	hex_encode(out, mi, MKA_MI_LEN);
}

/* Key log lines, docs/DESIGN.md: "CAK <ckn> <cak>", "SAK <ckn> <an> <kn> ...". */
static void
log_cak(struct mka_kay *kay, const struct mka_participant *p)
{
	char line[16 + 2 * MKA_CKN_MAX + 2 * MKA_KEY_MAX], ckn[65], cak[65];

	if (kay->conf.key_log == NULL)
		return;
	hex_encode(ckn, p->ckn, p->ckn_len);
	hex_encode(cak, p->cak, p->cak_len);
	snprintf(line, sizeof(line), "CAK %s %s", ckn, cak);
	kay->conf.key_log(kay->conf.key_log_arg, line);
	secmem_wipe(cak, sizeof(cak));
	secmem_wipe(line, sizeof(line));
}

void
mka_kay_log_sak(struct mka_kay *kay, const struct mka_participant *p,
		const struct mka_key *k)
{
	char line[512], ckn[65], sak[65], hex[25];
	uint8_t scis[(MKA_MAX_PEERS + 1) * MKA_SCI_LEN];
	size_t off, n = 0;

	if (kay->conf.key_log == NULL)
		return;
	hex_encode(ckn, p->ckn, p->ckn_len);
	hex_encode(sak, k->sak, k->sak_len);
	off = (size_t)snprintf(line, sizeof(line), "SAK %s %u %u %s", ckn,
			       k->an, k->kn, sak);
	if (k->suite->xpn) {
		/* The salt, then <sci>:<ssci> for each transmitting SC. */
		hex_encode(hex, k->salt, sizeof(k->salt));
		off += (size_t)snprintf(line + off, sizeof(line) - off, " %s",
					hex);
		memcpy(scis, kay->sci, MKA_SCI_LEN);
		n = 1;
		for (size_t i = 0; i < k->n_rx; i++)
			memcpy(scis + MKA_SCI_LEN * n++, k->rx_sci[i],
			       MKA_SCI_LEN);
		for (size_t i = 0; i < n && off < sizeof(line); i++) {
			uint32_t ssci = 0;
			char sci[17];

			mka_xpn_ssci(scis, n, scis + MKA_SCI_LEN * i, &ssci);
			hex_encode(sci, scis + MKA_SCI_LEN * i, MKA_SCI_LEN);
			off += (size_t)snprintf(line + off, sizeof(line) - off,
						" %s:%08x", sci, ssci);
		}
	}
	kay->conf.key_log(kay->conf.key_log_arg, line);
	secmem_wipe(sak, sizeof(sak));
	secmem_wipe(line, sizeof(line));
}

struct mka_kay *
mka_kay_new(const struct mka_kay_conf *conf, uint64_t now)
{
	struct mka_kay *kay = calloc(1, sizeof(*kay));

	if (kay == NULL)
		return NULL;
	kay->conf = *conf;
	if (kay->conf.n_suites == 0) {
		kay->conf.suites[0] = MKA_CS_GCM_AES_128;
		kay->conf.n_suites = 1;
	}
	if (kay->conf.mka_version == 0)
		kay->conf.mka_version = MKA_VERSION_2020;
	mka_timers_kay(&kay->conf);
	if (kay->conf.name == NULL)
		kay->conf.name = "port";
	memcpy(kay->sci, conf->mac, 6);
	store_be16(kay->sci + 6, conf->port_id != 0 ? conf->port_id : 1);
	kay->now = now;
	mka_cp_init(kay);
	return kay;
}

void
mka_kay_free(struct mka_kay *kay)
{
	if (kay == NULL)
		return;
	for (size_t i = 0; i < MKA_MAX_PARTICIPANTS; i++)
		if (kay->parts[i].used)
			mka_kay_remove_ca(kay, &kay->parts[i]);
	secmem_free(kay);
}

static int
new_mi(struct mka_participant *p)
{
	/* 96 random bits (9.4.1); MNs restart with a fresh MI. */
	if (RAND_bytes(p->mi, MKA_MI_LEN) != 1)
		return -1;
	p->mn = 0;
	memset(p->sent, 0, sizeof(p->sent));
	return 0;
}

struct mka_participant *
mka_kay_add_ca(struct mka_kay *kay, const uint8_t *cak, size_t cak_len,
	       const uint8_t *ckn, size_t ckn_len, const uint8_t *kmd,
	       size_t kmd_len, uint64_t now)
{
	struct mka_participant *p = NULL;

	if ((cak_len != 16 && cak_len != 32) || ckn_len < MKA_CKN_MIN ||
	    ckn_len > MKA_CKN_MAX || kmd_len > MKA_KMD_MAX ||
	    mka_kay_find_ca(kay, ckn, ckn_len) != NULL)
		return NULL;
	for (size_t i = 0; i < MKA_MAX_PARTICIPANTS && p == NULL; i++)
		if (!kay->parts[i].used)
			p = &kay->parts[i];
	if (p == NULL)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->kay = kay;
	memcpy(p->cak, cak, cak_len);
	p->cak_len = cak_len;
	memcpy(p->ckn, ckn, ckn_len);
	p->ckn_len = ckn_len;
	if (kmd_len > 0)
		memcpy(p->kmd, kmd, kmd_len);
	p->kmd_len = kmd_len;
	if (mka_derive_ick(cak, cak_len, ckn, ckn_len, p->ick) == -1 ||
	    mka_derive_kek(cak, cak_len, ckn, ckn_len, p->kek) == -1 ||
	    new_mi(p) == -1) {
		secmem_wipe(p, sizeof(*p));
		return NULL;
	}
	p->used = true;
	p->next_kn = 1;
	p->next_hello = now; /* announce ourselves at once */
	if (kay->principal == NULL)
		kay->principal = p;
	log_cak(kay, p);
	return p;
}

void
mka_kay_remove_ca(struct mka_kay *kay, struct mka_participant *p)
{
	if (p == NULL || !p->used)
		return;
	if (kay->principal == p) {
		mka_cp_drop_key(kay, &p->lkey);
		mka_cp_drop_key(kay, &p->okey);
		/* Leave the SecY as we found it: no SC, no SA. */
		for (size_t i = 0; i < MKA_MAX_PEERS; i++)
			if (kay->rxsc[i].used)
				mka_cp_drop_peer(kay, kay->rxsc[i].sci);
		kay->principal = NULL;
		mka_cp_run(kay, kay->now);
	}
	secmem_wipe(p, sizeof(*p));
}

void
mka_kay_set_principal(struct mka_kay *kay, struct mka_participant *p)
{
	kay->principal = p;
}

void
mka_participant_set_rank(struct mka_participant *p, unsigned rank)
{
	p->rank = rank;
}

bool
mka_participant_in_use(const struct mka_participant *p)
{
	return p == p->kay->principal && mka_participant_secured(p) &&
	       p->ks_known && memcmp(p->lkey.ks_mi, p->ks_mi, MKA_MI_LEN) == 0;
}

/*
 * Principal change (make before break): the new principal takes over the
 * keys in use -- SAs stay installed -- and its pending SAK enters the CP
 * as newSAK, so the CP installs it beside them and retires them only once
 * the new key is used in both directions.
 */
static void
switch_principal(struct mka_kay *kay, struct mka_participant *to)
{
	struct mka_participant *from = kay->principal;
	char mi[25];

	if (from != NULL) {
		mka_cp_drop_key(kay, &to->lkey);
		mka_cp_drop_key(kay, &to->okey);
		to->lkey = from->lkey;
		to->okey = from->okey;
		to->lrx = from->lrx;
		to->ltx = from->ltx;
		to->orx = from->orx;
		to->otx = from->otx;
		/* Moved, not deleted: wipe without touching the SecY. */
		secmem_wipe(&from->lkey, sizeof(from->lkey));
		secmem_wipe(&from->okey, sizeof(from->okey));
		from->lrx = from->ltx = from->orx = from->otx = false;
	}
	kay->principal = to;
	kay->cp.new_sak = to->dkey.valid;
	to->tx_now = true;
	mi_hex(mi, to->mi);
	log_info("%s: principal CA is now participant %s", kay->conf.name, mi);
}

static void
choose_principal(struct mka_kay *kay)
{
	struct mka_participant *pr = kay->principal;

	for (size_t i = 0; i < MKA_MAX_PARTICIPANTS; i++) {
		struct mka_participant *p = &kay->parts[i];

		if (!p->used || p == pr || !p->dkey.valid || !p->decided ||
		    !p->macsec_used || mka_participant_live_peers(p) == 0)
			continue;
		if (pr == NULL || p->rank > pr->rank ||
		    mka_participant_live_peers(pr) == 0) {
			switch_principal(kay, p);
			pr = p;
		}
	}
}

struct mka_participant *
mka_kay_principal(struct mka_kay *kay)
{
	return kay->principal;
}

struct mka_participant *
mka_kay_find_ca(struct mka_kay *kay, const uint8_t *ckn, size_t ckn_len)
{
	for (size_t i = 0; i < MKA_MAX_PARTICIPANTS; i++) {
		struct mka_participant *p = &kay->parts[i];

		/* Exact length too: a prefix is not the same CKN. */
		if (p->used && p->ckn_len == ckn_len &&
		    memcmp(p->ckn, ckn, ckn_len) == 0)
			return p;
	}
	return NULL;
}

size_t
mka_participant_live_peers(const struct mka_participant *p)
{
	size_t n = 0;

	for (size_t i = 0; i < MKA_MAX_PEERS; i++)
		n += p->peers[i].used && p->peers[i].live;
	return n;
}

const uint8_t *
mka_participant_mi(const struct mka_participant *p)
{
	return p->mi;
}

const uint8_t *
mka_participant_ckn(const struct mka_participant *p, size_t *len)
{
	*len = p->ckn_len;
	return p->ckn;
}

bool
mka_participant_secured(const struct mka_participant *p)
{
	return p->lkey.valid && p->lkey.tx_enabled && !p->lkey.tx_lost &&
	       p->lrx && mka_participant_live_peers(p) > 0;
}

static struct mka_peer *
peer_find(struct mka_participant *p, const uint8_t mi[12])
{
	for (size_t i = 0; i < MKA_MAX_PEERS; i++)
		if (p->peers[i].used &&
		    memcmp(p->peers[i].mi, mi, MKA_MI_LEN) == 0)
			return &p->peers[i];
	return NULL;
}

static struct mka_peer *
peer_live_by_sci(struct mka_participant *p, const uint8_t sci[8],
		 const struct mka_peer *except)
{
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		struct mka_peer *e = &p->peers[i];

		if (e != except && e->used && e->live &&
		    memcmp(e->sci, sci, MKA_SCI_LEN) == 0)
			return e;
	}
	return NULL;
}

static struct mka_peer *
peer_add(struct mka_participant *p, const uint8_t mi[12])
{
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		if (!p->peers[i].used) {
			memset(&p->peers[i], 0, sizeof(p->peers[i]));
			p->peers[i].used = true;
			memcpy(p->peers[i].mi, mi, MKA_MI_LEN);
			return &p->peers[i];
		}
	}
	return NULL;
}

static void
peers_changed(struct mka_participant *p)
{
	p->peers_changed = true;
	p->tx_now = true;
}

static void
peer_remove(struct mka_participant *p, struct mka_peer *e)
{
	char mi[25];

	mi_hex(mi, e->mi);
	log_info("%s: peer %s %s", p->kay->conf.name, mi,
		 e->live ? "no longer live" : "expired");
	if (e->live) {
		peers_changed(p);
		if (p == p->kay->principal)
			mka_cp_drop_peer(p->kay, e->sci);
	}
	memset(e, 0, sizeof(*e));
}

/* An MN we sent within the last MKA Life Time is "recent" (9.4.2). */
static bool
mn_recent(const struct mka_participant *p, uint32_t mn, uint64_t now)
{
	uint64_t life = p->kay->conf.life_ms;

	for (unsigned i = 0; i < MKA_MN_HISTORY; i++) {
		if (p->sent[i].mn == mn && p->sent[i].mn != 0 &&
		    p->sent[i].t + life >= now)
			return true;
	}
	return false;
}

/* Key server election (9.5): lowest priority, then lowest SCI. */
static bool
better_ks(uint8_t prio_a, const uint8_t *sci_a, uint8_t prio_b,
	  const uint8_t *sci_b)
{
	if (prio_a != prio_b)
		return prio_a < prio_b;
	return memcmp(sci_a, sci_b, MKA_SCI_LEN) < 0;
}

static void
elect(struct mka_participant *p)
{
	struct mka_kay *kay = p->kay;
	uint8_t prio = kay->conf.priority;
	const uint8_t *sci = kay->sci, *mi = p->mi;
	bool self = true, was_self = p->elected_self;
	uint8_t old_mi[MKA_MI_LEN];
	bool was_known = p->ks_known;

	memcpy(old_mi, p->ks_mi, MKA_MI_LEN);
	if (mka_participant_live_peers(p) == 0) {
		p->ks_known = p->elected_self = false;
		return;
	}
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		const struct mka_peer *e = &p->peers[i];

		if (!e->used || !e->live || !e->ks_flag)
			continue;
		if (better_ks(e->priority, e->sci, prio, sci)) {
			prio = e->priority;
			sci = e->sci;
			mi = e->mi;
			self = false;
		}
	}
	p->ks_known = true;
	p->elected_self = self;
	memcpy(p->ks_mi, mi, MKA_MI_LEN);
	memcpy(p->ks_sci, sci, MKA_SCI_LEN);
	if (!was_known || was_self != self ||
	    memcmp(old_mi, p->ks_mi, MKA_MI_LEN) != 0) {
		char h[17];

		hex_encode(h, p->ks_sci, MKA_SCI_LEN);
		LOG_EV(LOG_LVL_INFO, "key_server",
		       LOG_FIELDS(LOG_S("port", kay->conf.name),
				  LOG_S("ks_sci", h), LOG_N("self", self)),
		       "%s: key server is %s%s", kay->conf.name, h,
		       self ? " (this system)" : "");
		/* A new key server distributes its own SAK (chgdServer). */
		if (!self)
			p->decided = false;
		p->dist_active = false;
		p->peers_changed = true;
	}
}

static bool
suite_ok(const struct mka_kay *kay, uint64_t cs)
{
	const struct mka_suite *s = mka_suite_by_id(cs);

	for (size_t i = 0; s != NULL && i < kay->conf.n_suites; i++)
		if (kay->conf.suites[i] == s->id)
			return true;
	return false;
}

/* Cipher suite agreement: our first choice every live peer announced. */
static const struct mka_suite *
choose_suite(const struct mka_participant *p)
{
	const struct mka_kay *kay = p->kay;

	for (size_t s = 0; s < kay->conf.n_suites; s++) {
		uint64_t cs = kay->conf.suites[s];
		bool all = true;

		for (size_t i = 0; i < MKA_MAX_PEERS && all; i++) {
			const struct mka_peer *e = &p->peers[i];
			bool has = false;

			if (!e->used || !e->live)
				continue;
			/* No announcement: only the mandatory suite. */
			if (e->n_suites == 0)
				has = cs == MKA_CS_GCM_AES_128;
			for (size_t j = 0; j < e->n_suites; j++)
				has = has || e->suites[j] == cs;
			all = has;
		}
		if (all)
			return mka_suite_by_id(cs);
	}
	return NULL;
}

/* 9.8: MACsec is used if the KS desires it and every peer can. */
static bool
macsec_possible(const struct mka_participant *p)
{
	if (!p->kay->conf.macsec_desired ||
	    p->kay->conf.capability == MKA_CAP_NONE)
		return false;
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		const struct mka_peer *e = &p->peers[i];

		if (e->used && e->live && e->cap == MKA_CAP_NONE)
			return false;
	}
	return true;
}

/* KS: a fresh SAK from the KDF (9.8.1), handed to the CP as newSAK. */
static int
generate_sak(struct mka_participant *p)
{
	struct mka_kay *kay = p->kay;
	const struct mka_suite *s = choose_suite(p);
	uint8_t nonce[MKA_KEY_MAX], mis[(MKA_MAX_PEERS + 1) * MKA_MI_LEN];
	struct mka_key *k = &p->dkey;
	size_t n = 0;
	int rc = -1;

	if (s == NULL) {
		mka_kay_error(kay, "no cipher suite common to all peers");
		return -1;
	}
	/* MI list: the key server, then its live peers (local choice). */
	memcpy(mis, p->mi, MKA_MI_LEN);
	n++;
	for (size_t i = 0; i < MKA_MAX_PEERS; i++)
		if (p->peers[i].used && p->peers[i].live)
			memcpy(mis + MKA_MI_LEN * n++, p->peers[i].mi,
			       MKA_MI_LEN);
	secmem_wipe(k, sizeof(*k));
	if (RAND_bytes(nonce, (int)s->key_len) != 1 ||
	    mka_derive_sak(p->cak, p->cak_len, nonce, s->key_len, mis, n,
			   p->next_kn, k->sak, s->key_len) == -1)
		goto out;
	k->valid = true;
	k->sak_len = s->key_len;
	k->suite = s;
	k->kn = p->next_kn++;
	/*
	 * AN: the next after the latest key in use on this port (9.8.2) --
	 * the principal's, so a new CA's first SAK never takes the AN that
	 * the CA it replaces is still using.
	 */
	{
		const struct mka_participant *pr = kay->principal;
		const struct mka_key *cur =
		    pr != NULL && pr->lkey.valid ? &pr->lkey : &p->lkey;

		k->an = cur->valid ? (uint8_t)((cur->an + 1) & 3) : 0;
	}
	k->conf_offset = s->xpn && kay->conf.conf_offset > MKA_CO_0
			     ? MKA_CO_0
			     : kay->conf.conf_offset;
	memcpy(k->ks_mi, p->mi, MKA_MI_LEN);
	if (s->xpn)
		mka_xpn_salt(p->mi, k->kn, k->salt);
	p->decided = p->macsec_used = true;
	p->dist_active = true;
	p->peers_changed = false;
	p->tx_now = true;
	kay->cp.new_sak = p == kay->principal;
	kay->c.sak_generated++;
	LOG_EV(LOG_LVL_INFO, "sak_distributed",
	       LOG_FIELDS(LOG_S("port", kay->conf.name), LOG_N("kn", k->kn),
			  LOG_N("an", k->an), LOG_S("suite", s->name)),
	       "%s: distributing SAK KN %u AN %u (%s)", kay->conf.name, k->kn,
	       k->an, s->name);
	rc = 0;
out:
	secmem_wipe(nonce, sizeof(nonce));
	return rc;
}

static uint64_t
pn_threshold(const struct mka_kay *kay, const struct mka_key *k)
{
	if (kay->conf.pn_threshold != 0)
		return kay->conf.pn_threshold;
	return k->suite->xpn ? MKA_PN_THRESHOLD_64 : MKA_PN_THRESHOLD_32;
}

/* 9.8: any transmitter of the latest key nearing PN exhaustion. */
static bool
pn_exhausted(struct mka_participant *p)
{
	struct mka_kay *kay = p->kay;
	struct mka_key *k = &p->lkey;
	uint64_t pn = 0, limit;

	if (!k->valid || !k->tx_enabled || k->rekey_done)
		return false;
	/* Its transmit SA went with a replaced SecY: PN unknown. */
	if (k->tx_lost)
		return true;
	limit = pn_threshold(kay, k);
	if (kay->conf.secy->get_txsa_pn(kay->conf.secy_arg, k->an, &pn) == 0 &&
	    pn >= limit)
		return true;
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		const struct mka_peer *e = &p->peers[i];
		uint64_t lpn;

		if (!e->used || !e->live || !e->has_su || !e->su.in_use)
			continue;
		if (e->su.lkn == k->kn &&
		    memcmp(e->su.lki_mi, k->ks_mi, MKA_MI_LEN) == 0) {
			lpn = (uint64_t)e->llpn_msb << 32 | e->su.llpn;
			if (lpn >= limit)
				return true;
		}
		/*
		 * A peer may report the key in use as its Old Key (wpa_supplicant
		 * 2.10 moves it there once installed, 802.1X 11.11.1 Figure
		 * 11-10): its Old Lowest PN then carries the same exhaustion.
		 */
		if ((e->su.otx || e->su.orx) && e->su.okn == k->kn &&
		    memcmp(e->su.oki_mi, k->ks_mi, MKA_MI_LEN) == 0) {
			lpn = (uint64_t)e->olpn_msb << 32 | e->su.olpn;
			if (lpn >= limit)
				return true;
		}
	}
	return false;
}

/* The key server's decisions, made after every change and timer. */
static void
ks_decide(struct mka_participant *p)
{
	struct mka_kay *kay = p->kay;

	if (!p->elected_self || mka_participant_live_peers(p) == 0)
		return;
	if (!macsec_possible(p)) {
		if (!p->decided || p->macsec_used)
			log_info("%s: MACsec not to be used", kay->conf.name);
		p->decided = true;
		p->macsec_used = false;
		p->dist_active = true;
		return;
	}
	/* Not while a distribution is still under way. */
	if (p->dkey.valid || (p->lkey.valid && !p->lkey.tx_enabled))
		return;
	if (!p->lkey.valid || !p->decided || !p->macsec_used) {
		generate_sak(p);
	} else if (p->peers_changed) {
		kay->c.rekeys_peers++;
		generate_sak(p);
	} else if (pn_exhausted(p)) {
		p->lkey.rekey_done = true;
		kay->c.rekeys_pn++;
		generate_sak(p);
	}
}

enum mka_connect
mka_kay_connect(const struct mka_kay *kay)
{
	const struct mka_participant *p = kay->principal;

	if (p == NULL || mka_participant_live_peers(p) == 0 || !p->decided)
		return MKA_CONNECT_PENDING;
	return p->macsec_used ? MKA_CONNECT_SECURE : MKA_CONNECT_AUTHENTICATED;
}

static bool
su_names_key(const struct mka_sak_use *su, const struct mka_key *k)
{
	return su->in_use && su->lkn == k->kn &&
	       memcmp(su->lki_mi, k->ks_mi, MKA_MI_LEN) == 0;
}

bool
mka_kay_all_receiving(const struct mka_participant *p)
{
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		const struct mka_peer *e = &p->peers[i];

		if (!e->used || !e->live)
			continue;
		if (!e->has_su || !su_names_key(&e->su, &p->lkey) || !e->su.lrx)
			return false;
	}
	return true;
}

bool
mka_kay_server_transmitting(const struct mka_participant *p)
{
	const struct mka_peer *e;

	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		e = &p->peers[i];
		if (e->used && e->live &&
		    memcmp(e->mi, p->ks_mi, MKA_MI_LEN) == 0)
			return e->has_su && su_names_key(&e->su, &p->lkey) &&
			       e->su.ltx;
	}
	return false;
}

/* A Distributed SAK from the elected key server (9.8.2, 11.11.4). */
static void
rx_dist_sak(struct mka_participant *p, const struct mka_peer *from,
	    const struct mka_dist_sak *ds)
{
	struct mka_kay *kay = p->kay;
	const struct mka_suite *s;
	struct mka_key *k = &p->dkey;

	if (p->elected_self || !p->ks_known ||
	    memcmp(from->mi, p->ks_mi, MKA_MI_LEN) != 0)
		return; /* only the elected KS distributes */
	if (!ds->macsec) {
		if (!p->decided || p->macsec_used)
			log_info("%s: key server says MACsec not to be used",
				 kay->conf.name);
		p->decided = true;
		p->macsec_used = false;
		return;
	}
	/* Already have it: the KS repeats a SAK until all receive it. */
	if ((p->dkey.valid && p->dkey.kn == ds->kn &&
	     memcmp(p->dkey.ks_mi, from->mi, MKA_MI_LEN) == 0) ||
	    (p->lkey.valid && p->lkey.kn == ds->kn &&
	     memcmp(p->lkey.ks_mi, from->mi, MKA_MI_LEN) == 0))
		return;
	if (!kay->conf.macsec_desired || !suite_ok(kay, ds->cs)) {
		mka_kay_error(kay, "Distributed SAK for a suite not allowed");
		return;
	}
	s = mka_suite_by_id(ds->cs);
	secmem_wipe(k, sizeof(*k));
	if (ds->wrapped_len != s->key_len + MKA_WRAP_OVERHEAD ||
	    mka_aes_unwrap(p->kek, p->cak_len, ds->wrapped, ds->wrapped_len,
			   k->sak) == -1) {
		mka_kay_error(kay, "Distributed SAK failed to unwrap");
		secmem_wipe(k, sizeof(*k));
		return;
	}
	k->valid = true;
	k->sak_len = s->key_len;
	k->suite = s;
	k->kn = ds->kn;
	k->an = ds->an;
	k->conf_offset = ds->conf_offset;
	memcpy(k->ks_mi, from->mi, MKA_MI_LEN);
	if (s->xpn)
		mka_xpn_salt(from->mi, k->kn, k->salt);
	p->decided = p->macsec_used = true;
	p->tx_now = true;
	if (p == kay->principal)
		kay->cp.new_sak = true;
	LOG_EV(LOG_LVL_INFO, "sak_received",
	       LOG_FIELDS(LOG_S("port", kay->conf.name), LOG_N("kn", k->kn),
			  LOG_N("an", k->an), LOG_S("suite", s->name)),
	       "%s: received SAK KN %u AN %u (%s)", kay->conf.name, k->kn,
	       k->an, s->name);
}

/* Is our MI, with a recent MN, in either of the sender's peer lists? */
static bool
lists_us(const struct mka_participant *p, const struct mkpdu *pdu, uint64_t now)
{
	const struct mka_peer_list *lists[2] = { &pdu->live, &pdu->potential };

	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < lists[l]->n; i++)
			if (memcmp(lists[l]->e[i].mi, p->mi, MKA_MI_LEN) == 0 &&
			    mn_recent(p, lists[l]->e[i].mn, now))
				return true;
	return false;
}

static void
peer_update(struct mka_participant *p, struct mka_peer *e,
	    const struct mkpdu *pdu, uint64_t now)
{
	const struct mka_basic *b = &pdu->basic;
	bool live;

	e->mn = b->mn;
	memcpy(e->sci, b->sci, MKA_SCI_LEN);
	e->priority = b->priority;
	e->ks_flag = b->key_server;
	e->desired = b->macsec_desired;
	e->cap = b->capability;
	e->expires = now + p->kay->conf.life_ms;
	if (pdu->has & MKA_HAS(MKA_PS_ANNOUNCE) && pdu->announce.n_suites > 0) {
		e->n_suites = 0;
		for (size_t i = 0;
		     i < pdu->announce.n_suites && e->n_suites < MKA_MAX_SUITES;
		     i++)
			e->suites[e->n_suites++] = pdu->announce.suites[i].id;
	}
	/*
	 * Live once it lists us recently; a restarted peer (new MI, same
	 * SCI) waits until its old incarnation has expired.
	 */
	live = lists_us(p, pdu, now) && peer_live_by_sci(p, b->sci, e) == NULL;
	if (live != e->live) {
		char mi[25];

		mi_hex(mi, e->mi);
		LOG_EV(LOG_LVL_INFO, live ? "peer_live" : "peer_potential",
		       LOG_FIELDS(LOG_S("port", p->kay->conf.name),
				  LOG_S("peer_mi", mi)),
		       "%s: peer %s is %s", p->kay->conf.name, mi,
		       live ? "live" : "potential");
		e->live = live;
		peers_changed(p);
	}
	if (pdu->has & MKA_HAS(MKA_PS_SAK_USE)) {
		e->has_su = true;
		e->su = pdu->sak_use;
		e->llpn_msb =
		    pdu->has & MKA_HAS(MKA_PS_XPN) ? pdu->xpn.llpn_msb : 0;
		e->olpn_msb =
		    pdu->has & MKA_HAS(MKA_PS_XPN) ? pdu->xpn.olpn_msb : 0;
	}
}

/* Protocol processing of a validated, authenticated MKPDU. */
static void
rx_mkpdu(struct mka_participant *p, const struct mkpdu *pdu, uint64_t now)
{
	struct mka_kay *kay = p->kay;
	const struct mka_basic *b = &pdu->basic;
	struct mka_peer *e;

	if (memcmp(b->mi, p->mi, MKA_MI_LEN) == 0) {
		if (memcmp(b->sci, kay->sci, MKA_SCI_LEN) == 0)
			return; /* our own frame looped back */
		/* Another member drew our MI: choose a new one (9.4.1). */
		log_info("%s: MI collision, choosing a new MI", kay->conf.name);
		if (new_mi(p) == 0)
			p->tx_now = true;
		return;
	}
	if ((e = peer_find(p, b->mi)) != NULL && b->mn <= e->mn) {
		kay->c.rx_replayed++; /* MN must increase (9.4.2) */
		return;
	}
	if (e == NULL && (e = peer_add(p, b->mi)) == NULL) {
		mka_kay_error(kay, "peer table full");
		return;
	}
	if (e->mn == 0) {
		char mi[25];

		mi_hex(mi, b->mi);
		log_info("%s: new potential peer %s", kay->conf.name, mi);
		p->tx_now = true;
	}
	peer_update(p, e, pdu, now);
	elect(p);
	if (e->live && (pdu->has & MKA_HAS(MKA_PS_DIST_SAK)))
		rx_dist_sak(p, e, &pdu->dist_sak);
	ks_decide(p);
}

static bool
da_accepted(const struct mka_kay *kay, const uint8_t da[6])
{
	/* Group addresses, our own MAC, or the configured destination. */
	return (da[0] & 1) != 0 || memcmp(da, kay->conf.mac, 6) == 0 ||
	       memcmp(da, kay->conf.eapol_da, 6) == 0;
}

void
mka_kay_rx(struct mka_kay *kay, const uint8_t *frame, size_t len, uint64_t now)
{
	static struct mkpdu pdu; /* ~3 KB: keep it off the stack */
	struct mka_participant *p;
	const char *why = NULL;
	uint8_t type;

	kay->now = now;
	if (mka_eapol_type(frame, len, &type) == -1)
		return;
	if (type == EAPOL_TYPE_ANNOUNCE || type == EAPOL_TYPE_ANNOUNCE_SPEC) {
		struct mka_announce ann;
		uint8_t sa[6];

		if (mka_announce_decode(frame, len, sa, &ann, &why) == 0 &&
		    memcmp(sa, kay->conf.mac, 6) != 0) {
			kay->c.rx_announcements++;
			if (kay->conf.announce != NULL)
				kay->conf.announce(kay->conf.hook_arg, sa,
						   &ann);
		}
		return;
	}
	if (type != EAPOL_TYPE_MKA)
		return;
	if (mka_pdu_decode(frame, len, &pdu, &why) == -1 ||
	    mka_pdu_validate(&pdu, &why) == -1 || !da_accepted(kay, pdu.da)) {
		kay->c.rx_invalid++;
		log_debug("%s: MKPDU discarded: %s", kay->conf.name,
			  why != NULL ? why : "destination address");
		return;
	}
	if ((p = mka_kay_find_ca(kay, pdu.basic.ckn, pdu.basic.ckn_len)) ==
	    NULL) {
		kay->c.rx_unknown_ckn++;
		if (kay->conf.unknown_ckn != NULL)
			kay->conf.unknown_ckn(kay->conf.hook_arg, &pdu, frame,
					      len);
		return;
	}
	if (!mka_pdu_icv_ok(&pdu, frame, p->ick, p->cak_len)) {
		kay->c.rx_bad_icv++;
		log_debug("%s: MKPDU with a bad ICV discarded", kay->conf.name);
		return;
	}
	kay->c.rx_mkpdus++;
	rx_mkpdu(p, &pdu, now);
	choose_principal(kay);
	mka_cp_run(kay, now);
}

static void
fill_peer_lists(const struct mka_participant *p, struct mkpdu *pdu)
{
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		const struct mka_peer *e = &p->peers[i];
		struct mka_peer_list *l =
		    e->live ? &pdu->live : &pdu->potential;

		if (!e->used)
			continue;
		memcpy(l->e[l->n].mi, e->mi, MKA_MI_LEN);
		l->e[l->n++].mn = e->mn;
	}
	if (pdu->live.n > 0)
		pdu->has |= MKA_HAS(MKA_PS_LIVE_PEERS);
	if (pdu->potential.n > 0)
		pdu->has |= MKA_HAS(MKA_PS_POTENTIAL_PEERS);
}

/* SAK Use (9.8.4): which keys we use; LPN = our next transmit PN. */
static void
fill_sak_use(const struct mka_participant *p, struct mkpdu *pdu)
{
	const struct mka_kay *kay = p->kay;
	struct mka_sak_use *su = &pdu->sak_use;
	uint64_t pn = 1;

	pdu->has |= MKA_HAS(MKA_PS_SAK_USE);
	su->plain_tx = !p->macsec_used;
	su->plain_rx = !p->macsec_used;
	if (!p->lkey.valid || !p->lkey.installed)
		return;
	su->in_use = true;
	su->lan = p->lkey.an;
	su->lrx = p->lrx;
	su->ltx = p->ltx;
	memcpy(su->lki_mi, p->lkey.ks_mi, MKA_MI_LEN);
	su->lkn = p->lkey.kn;
	/*
	 * A transmit SA lost with its SecY may not go on from a PN we
	 * cannot know: reported as exhausted, so the key server rekeys (9.8).
	 */
	if (p->ltx && p->lkey.tx_lost)
		pn = p->lkey.suite->xpn ? UINT64_MAX : UINT32_MAX;
	else if (p->ltx)
		kay->conf.secy->get_txsa_pn(kay->conf.secy_arg, p->lkey.an,
					    &pn);
	su->llpn = (uint32_t)pn;
	if (p->okey.valid && p->okey.installed) {
		su->oan = p->okey.an;
		su->orx = p->orx;
		su->otx = p->otx;
		memcpy(su->oki_mi, p->okey.ks_mi, MKA_MI_LEN);
		su->okn = p->okey.kn;
		su->olpn = 1;
	}
	if (p->lkey.suite->xpn) {
		pdu->has |= MKA_HAS(MKA_PS_XPN);
		pdu->xpn.llpn_msb = (uint32_t)(pn >> 32);
	}
}

static int
fill_dist_sak(const struct mka_participant *p, struct mkpdu *pdu)
{
	const struct mka_key *k = p->dkey.valid ? &p->dkey : &p->lkey;
	struct mka_dist_sak *ds = &pdu->dist_sak;

	pdu->has |= MKA_HAS(MKA_PS_DIST_SAK);
	if (!p->macsec_used || !k->valid)
		return 0; /* body 0: MACsec not to be used */
	ds->macsec = true;
	ds->an = k->an;
	ds->conf_offset = k->conf_offset;
	ds->kn = k->kn;
	ds->cs = k->suite->id;
	ds->wrapped_len = k->sak_len + MKA_WRAP_OVERHEAD;
	return mka_aes_wrap(p->kek, p->cak_len, k->sak, k->sak_len,
			    ds->wrapped);
}

static void
send_mkpdu(struct mka_participant *p, uint64_t now)
{
	static struct mkpdu pdu;
	struct mka_kay *kay = p->kay;
	uint8_t frame[MKA_ETH_HDR_LEN + EAPOL_HDR_LEN + MKA_MKPDU_MAX_LEN];
	size_t len;
	uint32_t ssci;

	memset(&pdu, 0, sizeof(pdu));
	memcpy(pdu.da, kay->conf.eapol_da, 6);
	memcpy(pdu.sa, kay->conf.mac, 6);
	pdu.basic.version = kay->conf.mka_version;
	pdu.basic.priority = kay->conf.priority;
	/* Set unless another participant is (to be) the key server. */
	pdu.basic.key_server = !p->ks_known || p->elected_self;
	pdu.basic.macsec_desired = kay->conf.macsec_desired;
	pdu.basic.capability = kay->conf.capability;
	memcpy(pdu.basic.sci, kay->sci, MKA_SCI_LEN);
	memcpy(pdu.basic.mi, p->mi, MKA_MI_LEN);
	pdu.basic.mn = ++p->mn;
	pdu.basic.algo_agility = MKA_ALGO_AGILITY_2009;
	memcpy(pdu.basic.ckn, p->ckn, p->ckn_len);
	pdu.basic.ckn_len = p->ckn_len;
	fill_peer_lists(p, &pdu);
	if (mka_participant_live_peers(p) > 0)
		fill_sak_use(p, &pdu);
	if (p->elected_self && p->dist_active && fill_dist_sak(p, &pdu) == -1)
		goto out;
	/* v3 + XPN: the Live Peer List carries our SSCI's LSB (KS only). */
	if (p->elected_self && p->lkey.valid && p->lkey.suite->xpn &&
	    kay->conf.mka_version >= MKA_VERSION_2020) {
		uint8_t scis[(MKA_MAX_PEERS + 1) * MKA_SCI_LEN];

		memcpy(scis, kay->sci, MKA_SCI_LEN);
		for (size_t i = 0; i < p->lkey.n_rx; i++)
			memcpy(scis + MKA_SCI_LEN * (i + 1), p->lkey.rx_sci[i],
			       MKA_SCI_LEN);
		if (mka_xpn_ssci(scis, p->lkey.n_rx + 1, kay->sci, &ssci) == 0)
			pdu.live.octet2 = (uint8_t)ssci;
	}
	if (p->kmd_len > 0) {
		pdu.has |= MKA_HAS(MKA_PS_KMD);
		memcpy(pdu.kmd.v, p->kmd, p->kmd_len);
		pdu.kmd.len = p->kmd_len;
	}
	/* Announce the suites we accept (cipher suite agreement). */
	pdu.has |= MKA_HAS(MKA_PS_ANNOUNCE);
	for (size_t i = 0; i < kay->conf.n_suites; i++)
		pdu.announce.suites[pdu.announce.n_suites++] =
		    (struct mka_ann_suite){ kay->conf.capability & 3,
					    kay->conf.suites[i] };
	if (mka_pdu_encode(&pdu, p->ick, p->cak_len, frame, sizeof(frame),
			   &len) == -1) {
		mka_kay_error(kay, "cannot encode an MKPDU");
		goto out;
	}
	p->sent[p->sent_i].mn = p->mn;
	p->sent[p->sent_i].t = now;
	p->sent_i = (p->sent_i + 1) % MKA_MN_HISTORY;
	if (kay->conf.tx(kay->conf.tx_arg, frame, len) == 0)
		kay->c.tx_mkpdus++;
out:
	secmem_wipe(&pdu.dist_sak, sizeof(pdu.dist_sak));
}

static void
expire_peers(struct mka_participant *p, uint64_t now)
{
	for (size_t i = 0; i < MKA_MAX_PEERS; i++)
		if (p->peers[i].used && p->peers[i].expires <= now)
			peer_remove(p, &p->peers[i]);
}

/*
 * Another SecY answers than the one our SAs went to: restore.
 * Checked before the timers, which read PNs from it, and after the
 * MKPDUs, whose SAK Use reads one (often the first request to reach it).
 */
static void
secy_check(struct mka_kay *kay)
{
	const struct mka_secy_ops *ops = kay->conf.secy;
	unsigned inst;

	if (ops->instance == NULL ||
	    (inst = ops->instance(kay->conf.secy_arg)) == kay->secy_instance)
		return;
	if (kay->secy_instance != 0) {
		kay->secy_instance = inst;
		mka_cp_secy_lost(kay);
	}
	kay->secy_instance = inst;
}

void
mka_kay_tick(struct mka_kay *kay, uint64_t now)
{
	kay->now = now;
	secy_check(kay);
	for (size_t i = 0; i < MKA_MAX_PARTICIPANTS; i++) {
		struct mka_participant *p = &kay->parts[i];

		if (!p->used)
			continue;
		expire_peers(p, now);
		elect(p);
		ks_decide(p);
		/* Stop repeating the SAK once everybody receives it. */
		if (p->elected_self && p->macsec_used && !p->dkey.valid &&
		    p->lkey.tx_enabled && mka_kay_all_receiving(p))
			p->dist_active = false;
	}
	choose_principal(kay);
	mka_cp_run(kay, now);
	for (size_t i = 0; i < MKA_MAX_PARTICIPANTS; i++) {
		struct mka_participant *p = &kay->parts[i];

		if (!p->used || (!p->tx_now && now < p->next_hello))
			continue;
		p->tx_now = false;
		p->next_hello = now + kay->conf.hello_ms;
		send_mkpdu(p, now);
	}
	secy_check(kay);
}

int
mka_kay_send_announce(struct mka_kay *kay, const struct mka_announce *ann)
{
	uint8_t frame[MKA_ETH_HDR_LEN + EAPOL_HDR_LEN + 600];
	size_t len;

	if (mka_announce_encode(kay->conf.eapol_da, kay->conf.mac, ann, frame,
				sizeof(frame), &len) == -1)
		return -1;
	return kay->conf.tx(kay->conf.tx_arg, frame, len);
}

uint64_t
mka_kay_next_event(const struct mka_kay *kay)
{
	uint64_t next = mka_cp_next_event(kay);

	for (size_t i = 0; i < MKA_MAX_PARTICIPANTS; i++) {
		const struct mka_participant *p = &kay->parts[i];

		if (!p->used)
			continue;
		if (p->tx_now)
			return kay->now;
		if (p->next_hello < next)
			next = p->next_hello;
		for (size_t j = 0; j < MKA_MAX_PEERS; j++)
			if (p->peers[j].used && p->peers[j].expires < next)
				next = p->peers[j].expires;
	}
	return next;
}

void
mka_kay_get_status(const struct mka_kay *kay, struct mka_kay_status *st)
{
	const struct mka_participant *p = kay->principal;
	bool in_use;

	memset(st, 0, sizeof(*st));
	st->cp = kay->cp.state;
	st->connect = mka_kay_connect(kay);
	st->c = kay->c;
	st->last_error = kay->last_error;
	if (p == NULL)
		return;
	for (size_t i = 0; i < MKA_MAX_PEERS; i++) {
		if (!p->peers[i].used)
			continue;
		if (p->peers[i].live)
			st->live_peers++;
		else
			st->potential_peers++;
	}
	st->key_server = p->elected_self;
	if (p->ks_known)
		memcpy(st->ks_sci, p->ks_sci, MKA_SCI_LEN);
	/*
	 * Secured while a SAK protects both directions: the latest key once
	 * the CP transmits with it (TRANSMITTING, RETIRE), and the old key
	 * while the CP takes a new one into use, RECEIVE to TRANSMIT
	 * (802.1X-2020 12.4, Figure 12-2: controlledPortEnabled stays TRUE
	 * there and the old transmit SA still carries the traffic).
	 */
	switch (st->cp) {
	case CP_TRANSMITTING:
	case CP_RETIRE:
		in_use = mka_participant_secured(p);
		break;
	case CP_RECEIVE:
	case CP_RECEIVING:
	case CP_READY:
	case CP_TRANSMIT:
		in_use = p->okey.valid && p->okey.tx_enabled &&
			 !p->okey.tx_lost && p->orx &&
			 mka_participant_live_peers(p) > 0;
		break;
	default:
		in_use = false;
		break;
	}
	st->secured = st->connect == MKA_CONNECT_SECURE && in_use;
	if (p->lkey.valid) {
		st->suite = p->lkey.suite->id;
		st->latest_kn = p->lkey.kn;
		st->latest_an = p->lkey.an;
	}
}
