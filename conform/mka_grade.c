/*
 * mka_grade.c — qkdlab-mkagrade: grades the MKPDUs an MKA peer sent, as
 * recorded in a capture, against IEEE 802.1X-2020 and qkdlab's QKD
 * binding (docs/DESIGN.md, "on-wire binding").  Frames are split and
 * checked with mka-agent's own codec (mka_pdu.c) and key hierarchy
 * (mka_crypto.c), so the grading applies exactly the rules the agent
 * applies to what it receives.
 *
 * Output: one JSON object per line and check (id, clause, title, verdict
 * pass/fail/n/a, why, notes), for qkdlab-conform to format.  Checks are
 * listed in clause order; behaviour checks look only at MKPDUs that decode,
 * validate and (when the CAK is known) carry a valid ICV, because a
 * receiver discards every other one (11.11.2).
 */
#include "capture.h"
#include "encoding.h"
#include "mka_crypto.h"
#include "mka_pdu.h"
#include "secmem.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRADE_MAX_FRAMES 100000
#define GRADE_MAX_KEYS 64
#define GRADE_MAX_PEERS 16
#define GRADE_MAX_MIS 256
#define GRADE_MAX_DISTS 256
#define GRADE_MAX_NOTES 4
#define GRADE_HELLO_S 2.0 /* MKA Hello Time, Table 9-3 */
#define GRADE_LIFE_S 6.0 /* MKA Life Time, Table 9-3 */
#define GRADE_SLACK_S 0.5 /* scheduling slack on a loaded host */
#define GRADE_SETTLE_FRAMES 3 /* MKPDUs a participant gets to react */
#define SPEC "IEEE 802.1X-2020 "

enum check_id {
	CK_HEADER,
	CK_BASIC,
	CK_ICV,
	CK_MN,
	CK_PEERS,
	CK_ELECTION,
	CK_SAK_DIST,
	CK_SAK_USE,
	CK_HELLO,
	CK_QKD_KMD,
	CK_QKD_CKN,
	CK_QKD_ANNOUNCE,
	CK_COUNT,
};

struct check {
	const char *id, *clause, *title;
	unsigned applicable;
	bool failed;
	char why[512];
	char na[256];
	char notes[GRADE_MAX_NOTES][256];
	size_t n_notes;
};

static struct check checks[CK_COUNT] = {
	[CK_HEADER] = { "mka.eapol.header", SPEC "11.1.1, 11.3, 11.4",
			"EAPOL header: group destination, version 3, type" },
	[CK_BASIC] = { "mka.basic.encoding",
		       SPEC "11.11.1 (Figure 11-8), 11.11.2",
		       "Basic Parameter Set and parameter set encoding" },
	[CK_ICV] = { "mka.icv", SPEC "9.3.1, 9.4.1, 11.11.2",
		     "ICV verifies with the ICK derived from the CAK" },
	[CK_MN] = { "mka.mn.increasing", SPEC "9.4.2",
		    "Member Number strictly increasing per Member Identifier" },
	[CK_PEERS] = { "mka.peers.consistent",
		       SPEC "9.4.3, 11.11.1 (Figure 11-9)",
		       "live and potential peer lists consistent" },
	[CK_ELECTION] = { "mka.keyserver.election", SPEC "9.5.1",
			  "key server is the live member of highest priority" },
	[CK_SAK_DIST] = { "mka.sak.distributed",
			  SPEC "9.8, 9.8.1, 11.11.1 (Figure 11-11)",
			  "distributed SAK from the key server unwraps with the KEK" },
	[CK_SAK_USE] = { "mka.sak.use", SPEC "9.8, 11.11.1 (Figure 11-10)",
			 "SAK Use names the distributed key (KI, AN), LPN advances" },
	[CK_HELLO] = { "mka.hello.time", SPEC "9.4.3, Table 9-3",
		       "MKPDUs sent every MKA Hello Time, never a Life Time gap" },
	[CK_QKD_KMD] = { "mka.qkd.kmd",
			 "qkdlab QKD binding; " SPEC "11.11.1 (KMD)",
			 "initiator's MKPDUs carry its SAE ID in a KMD set" },
	[CK_QKD_CKN] = { "mka.qkd.ckn", "qkdlab QKD binding; " SPEC "9.3",
			 "CKN is a QKD key ID whose key is the CAK" },
	[CK_QKD_ANNOUNCE] = { "mka.qkd.announce",
			      "qkdlab QKD binding; " SPEC "11.12 (Table 11-8)",
			      "responder announces its SAE ID in a KMD TLV until live" },
};

struct key {
	uint8_t ckn[MKA_CKN_MAX];
	size_t ckn_len;
	uint8_t cak[MKA_KEY_MAX], ick[MKA_KEY_MAX], kek[MKA_KEY_MAX];
	size_t cak_len;
};

struct frame {
	unsigned no; /* 1-based, as tshark numbers them */
	double ts;
	const uint8_t *data;
	size_t len;
	uint8_t type;
	bool graded;
	bool decoded, usable;
	const struct key *key;
	struct mkpdu pdu;
	struct mka_announce ann;
};

/* What a Member Identifier has sent so far (one pass, in capture order). */
struct mi_state {
	uint8_t mi[MKA_MI_LEN];
	uint8_t sa[MKA_ETH_ALEN];
	uint8_t ckn[MKA_CKN_MAX];
	size_t ckn_len;
	uint32_t first_mn, max_mn;
	size_t n_frames;
	struct frame *first, *last;
	uint8_t heard[GRADE_MAX_PEERS][MKA_MI_LEN]; /* MIs it has listed */
	size_t n_heard;
	double gap_max, gaps_sum;
	double *gaps;
	size_t n_gaps;
	/* SAK Use: LLPN of the latest key last reported. */
	uint8_t lki[MKA_MI_LEN];
	uint32_t lkn, llpn;
	bool llpn_seen, llpn_moved;
	bool kmd_always, kmd_ever;
	struct mka_kmd kmd;
};

struct dist {
	uint8_t ks_mi[MKA_MI_LEN];
	uint8_t ckn[MKA_CKN_MAX];
	size_t ckn_len;
	uint32_t kn;
	uint8_t an;
	double ts;
};

struct grader {
	struct frame *frames;
	size_t n_frames, cap_frames;
	struct key *keys;
	size_t n_keys;
	uint8_t peers[GRADE_MAX_PEERS][MKA_ETH_ALEN];
	size_t n_peers;
	bool qkd;
	const char *peer_sae;
	double hello, life;
	struct mi_state mis[GRADE_MAX_MIS];
	size_t n_mis;
	struct dist dists[GRADE_MAX_DISTS];
	size_t n_dists;
	unsigned skipped_linktype, not_eapol;
};

/* ---- results ---------------------------------------------------------- */

static void
verdict_fail(enum check_id c, const struct frame *f, const char *fmt, ...)
{
	struct check *k = &checks[c];
	va_list ap;
	int n = 0;

	k->applicable++;
	if (k->failed)
		return;
	k->failed = true;
	if (f != NULL)
		n = snprintf(k->why, sizeof(k->why), "frame %u: ", f->no);
	va_start(ap, fmt);
	vsnprintf(k->why + n, sizeof(k->why) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void
note(enum check_id c, const char *fmt, ...)
{
	struct check *k = &checks[c];
	va_list ap;

	if (k->n_notes == GRADE_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(k->notes[k->n_notes++], sizeof(k->notes[0]), fmt, ap);
	va_end(ap);
}

static void
not_applicable(enum check_id c, const char *why)
{
	if (checks[c].na[0] == '\0')
		snprintf(checks[c].na, sizeof(checks[c].na), "%s", why);
}

static void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void
print_results(FILE *out)
{
	for (size_t i = 0; i < CK_COUNT; i++) {
		const struct check *k = &checks[i];
		const char *v = k->failed	? "fail"
				: k->applicable ? "pass"
						: "n/a";

		fputs("{\"id\":", out);
		json_str(out, k->id);
		fputs(",\"clause\":", out);
		json_str(out, k->clause);
		fputs(",\"title\":", out);
		json_str(out, k->title);
		fprintf(out, ",\"verdict\":\"%s\",\"why\":", v);
		json_str(out, k->failed		 ? k->why
			      : k->applicable	 ? ""
			      : k->na[0] != '\0' ? k->na
						 : "nothing in the capture to "
						   "grade");
		fprintf(out, ",\"frames\":%u,\"notes\":[", k->applicable);
		for (size_t n = 0; n < k->n_notes; n++) {
			if (n > 0)
				fputc(',', out);
			json_str(out, k->notes[n]);
		}
		fputs("]}\n", out);
	}
}

/* ---- helpers ---------------------------------------------------------- */

static void
hexs(char *out, const uint8_t *p, size_t len)
{
	hex_encode(out, p, len);
}

static bool
same_ckn(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static const struct key *
key_for(const struct grader *g, const struct mka_basic *b)
{
	for (size_t i = 0; i < g->n_keys; i++)
		if (same_ckn(g->keys[i].ckn, g->keys[i].ckn_len, b->ckn,
			     b->ckn_len))
			return &g->keys[i];
	return NULL;
}

static struct mi_state *
mi_find(struct grader *g, const uint8_t *mi)
{
	for (size_t i = 0; i < g->n_mis; i++)
		if (memcmp(g->mis[i].mi, mi, MKA_MI_LEN) == 0)
			return &g->mis[i];
	return NULL;
}

static bool
is_graded(const struct grader *g, const uint8_t *sa)
{
	if (g->n_peers == 0)
		return true;
	for (size_t i = 0; i < g->n_peers; i++)
		if (memcmp(g->peers[i], sa, MKA_ETH_ALEN) == 0)
			return true;
	return false;
}

static bool
heard(const struct mi_state *s, const uint8_t *mi)
{
	for (size_t i = 0; i < s->n_heard; i++)
		if (memcmp(s->heard[i], mi, MKA_MI_LEN) == 0)
			return true;
	return false;
}

static bool
list_has(const struct mka_peer_list *l, const uint8_t *mi)
{
	for (size_t i = 0; i < l->n; i++)
		if (memcmp(l->e[i].mi, mi, MKA_MI_LEN) == 0)
			return true;
	return false;
}

static bool
lists(const struct mkpdu *p, const uint8_t *mi)
{
	return list_has(&p->live, mi) || list_has(&p->potential, mi);
}

/* 9.5.1: the numerically lower priority wins, then the lower SCI. */
static bool
better(uint8_t pa, const uint8_t *sa, uint8_t pb, const uint8_t *sb)
{
	return pa < pb || (pa == pb && memcmp(sa, sb, MKA_SCI_LEN) < 0);
}

static bool
sae_id_ok(const uint8_t *v, size_t len)
{
	/* The KMD set is zero-padded: the SAE ID ends at the first NUL. */
	const uint8_t *nul = memchr(v, 0, len);
	size_t n = nul != NULL ? (size_t)(nul - v) : len;

	for (size_t i = n; i < len; i++)
		if (v[i] != 0)
			return false;
	return n >= 1 && n <= 253 && utf8_valid((const char *)v, n);
}

static size_t
sae_len(const struct mka_kmd *k)
{
	const uint8_t *nul = memchr(k->v, 0, k->len);

	return nul != NULL ? (size_t)(nul - k->v) : k->len;
}

static bool
sae_is(const struct mka_kmd *k, const char *sae)
{
	return sae_len(k) == strlen(sae) && memcmp(k->v, sae, strlen(sae)) == 0;
}

/* ---- per-frame checks, in capture order -------------------------------- */

static const uint8_t pae_groups[][MKA_ETH_ALEN] = {
	{ 0x01, 0x80, 0xc2, 0x00, 0x00, 0x03 }, /* PAE group, Table 11-1 */
	{ 0x01, 0x80, 0xc2, 0x00, 0x00, 0x00 }, /* Nearest Customer Bridge */
	{ 0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e }, /* Nearest Bridge */
};

static void
grade_header(struct frame *f)
{
	const uint8_t *da = f->data;
	uint8_t version = f->data[MKA_ETH_HDR_LEN];
	bool table = false;

	if (!f->graded)
		return;
	checks[CK_HEADER].applicable++;
	for (size_t i = 0; i < sizeof(pae_groups) / sizeof(pae_groups[0]); i++)
		table |= memcmp(da, pae_groups[i], MKA_ETH_ALEN) == 0;
	if (!(da[0] & 1))
		verdict_fail(CK_HEADER, f,
			     "destination %02x:%02x:%02x:%02x:%02x:%02x is an "
			     "individual address (11.1.1: a group address)",
			     da[0], da[1], da[2], da[3], da[4], da[5]);
	else if (!table && checks[CK_HEADER].n_notes == 0)
		note(CK_HEADER, "destination is a group address outside "
				"Table 11-1 (a configured one)");
	if (version < EAPOL_VERSION_2010)
		verdict_fail(CK_HEADER, f,
			     "EAPOL protocol version %u (an MKPDU needs 3, "
			     "11.4)",
			     version);
}

static void
decode_frame(struct grader *g, struct frame *f)
{
	const char *why = NULL;
	struct mkpdu v;
	uint8_t sa[MKA_ETH_ALEN];

	if (f->type == EAPOL_TYPE_ANNOUNCE) {
		f->decoded = mka_announce_decode(f->data, f->len, sa, &f->ann,
						 &why) == 0;
		if (f->graded) {
			checks[CK_BASIC].applicable++;
			if (!f->decoded)
				verdict_fail(CK_BASIC, f,
					     "EAPOL-Announcement does not "
					     "decode: %s",
					     why);
		}
		return;
	}
	if (mka_pdu_decode(f->data, f->len, &f->pdu, &why) == -1) {
		if (f->graded)
			verdict_fail(CK_BASIC, f, "MKPDU does not decode: %s",
				     why);
		return;
	}
	/* The EAPOL version is the header check's; validate the rest. */
	v = f->pdu;
	if (v.eapol_version < EAPOL_VERSION_2010)
		v.eapol_version = EAPOL_VERSION_2010;
	if (mka_pdu_validate(&v, &why) == -1) {
		if (f->graded)
			verdict_fail(CK_BASIC, f, "MKPDU fails 11.11.2: %s",
				     why);
		return;
	}
	f->decoded = true;
	f->key = key_for(g, &f->pdu.basic);
	if (f->key != NULL &&
	    !mka_pdu_icv_ok(&f->pdu, f->data, f->key->ick, f->key->cak_len)) {
		if (f->graded)
			verdict_fail(CK_ICV, f,
				     "ICV does not verify with the ICK of "
				     "this CKN's CAK");
		return;
	}
	if (f->graded && f->key != NULL)
		checks[CK_ICV].applicable++;
	f->usable = true;
}

static void
grade_basic(struct frame *f)
{
	const struct mka_basic *b = &f->pdu.basic;
	static const uint8_t zero_mi[MKA_MI_LEN];

	if (!f->graded)
		return;
	checks[CK_BASIC].applicable++;
	if (b->capability == MKA_CAP_NONE && b->macsec_desired)
		verdict_fail(CK_BASIC, f,
			     "MACsec Desired set with MACsec Capability 0 "
			     "(MACsec not implemented)");
	if (b->sci[0] & 1)
		verdict_fail(CK_BASIC, f,
			     "SCI's system identifier is a group address");
	if (memcmp(b->mi, zero_mi, MKA_MI_LEN) == 0)
		verdict_fail(CK_BASIC, f,
			     "Member Identifier is zero (9.4.2: random)");
	if (b->version > MKA_VERSION_2020 && checks[CK_BASIC].n_notes == 0)
		note(CK_BASIC, "MKA version %u (newer than this grader)",
		     b->version);
	if (checks[CK_BASIC].n_notes == 0)
		note(CK_BASIC,
		     "MKA version %u, priority %u, capability %u, MACsec "
		     "%sdesired",
		     b->version, b->priority, b->capability,
		     b->macsec_desired ? "" : "not ");
}

static void
grade_mn(struct frame *f, struct mi_state *s)
{
	if (f->graded) {
		checks[CK_MN].applicable++;
		if (s->n_frames > 0 && f->pdu.basic.mn <= s->max_mn)
			verdict_fail(CK_MN, f,
				     "MN %u after MN %u from the same MI",
				     f->pdu.basic.mn, s->max_mn);
	}
}

static void
grade_list(struct grader *g, struct frame *f, struct mi_state *s,
	   const struct mka_peer_list *l, bool live)
{
	const struct mka_basic *b = &f->pdu.basic;
	char mi[2 * MKA_MI_LEN + 1];

	for (size_t i = 0; i < l->n; i++) {
		const struct mka_peer_entry *e = &l->e[i];
		struct mi_state *p = mi_find(g, e->mi);

		hexs(mi, e->mi, MKA_MI_LEN);
		if (memcmp(e->mi, b->mi, MKA_MI_LEN) == 0)
			verdict_fail(CK_PEERS, f, "lists its own MI");
		for (size_t j = 0; j < i; j++)
			if (memcmp(l->e[j].mi, e->mi, MKA_MI_LEN) == 0)
				verdict_fail(CK_PEERS, f, "lists MI %s twice",
					     mi);
		if (live && list_has(&f->pdu.potential, e->mi))
			verdict_fail(CK_PEERS, f,
				     "MI %s is both live and potential", mi);
		if (p == NULL)
			continue;
		if (!same_ckn(p->ckn, p->ckn_len, b->ckn, b->ckn_len))
			verdict_fail(CK_PEERS, f,
				     "lists MI %s of another CA (CKN)", mi);
		else if (e->mn > p->max_mn)
			verdict_fail(CK_PEERS, f,
				     "lists MI %s with MN %u; it has sent "
				     "only up to %u",
				     mi, e->mn, p->max_mn);
		else if (live && s->first_mn == 1 && p->first_mn == 1 &&
			 !heard(p, b->mi))
			verdict_fail(CK_PEERS, f,
				     "lists MI %s as live before that member "
				     "listed it (9.4.3)",
				     mi);
	}
}

static void
grade_peers(struct grader *g, struct frame *f, struct mi_state *s)
{
	if (!f->graded)
		return;
	checks[CK_PEERS].applicable++;
	grade_list(g, f, s, &f->pdu.live, true);
	grade_list(g, f, s, &f->pdu.potential, false);
}

static void
grade_election(struct grader *g, struct frame *f)
{
	const struct mka_basic *b = &f->pdu.basic;

	if (!f->graded || f->pdu.live.n == 0 || !b->key_server)
		return;
	checks[CK_ELECTION].applicable++;
	for (size_t i = 0; i < f->pdu.live.n; i++) {
		struct mi_state *p = mi_find(g, f->pdu.live.e[i].mi);
		const struct mka_basic *pb;

		if (p == NULL)
			continue;
		pb = &p->last->pdu.basic;
		if (pb->priority != MKA_PRIO_NOT_KS &&
		    better(pb->priority, pb->sci, b->priority, b->sci))
			verdict_fail(CK_ELECTION, f,
				     "claims key server (priority %u) while "
				     "a live member has priority %u%s",
				     b->priority, pb->priority,
				     pb->priority == b->priority
					 ? " and a lower SCI"
					 : "");
	}
}

static void
grade_dist(struct grader *g, struct frame *f)
{
	const struct mka_dist_sak *d = &f->pdu.dist_sak;
	const struct mka_basic *b = &f->pdu.basic;
	uint8_t sak[MKA_KEY_MAX + MKA_WRAP_OVERHEAD];
	struct dist *prev = NULL;

	if (!(f->pdu.has & MKA_HAS(MKA_PS_DIST_SAK)) || !d->macsec)
		return;
	for (size_t i = 0; i < g->n_dists; i++)
		if (memcmp(g->dists[i].ks_mi, b->mi, MKA_MI_LEN) == 0)
			prev = &g->dists[i];
	if (f->graded && f->key == NULL) {
		not_applicable(CK_SAK_DIST, "no CAK for the CKN: the SAK "
					    "cannot be unwrapped");
	} else if (f->graded) {
		checks[CK_SAK_DIST].applicable++;
		if (!b->key_server)
			verdict_fail(CK_SAK_DIST, f,
				     "Distributed SAK from a member that does "
				     "not claim key server");
		if (mka_aes_unwrap(f->key->kek, f->key->cak_len, d->wrapped,
				   d->wrapped_len, sak) == -1)
			verdict_fail(CK_SAK_DIST, f,
				     "SAK does not unwrap with the KEK "
				     "(RFC 3394 integrity check)");
		secmem_wipe(sak, sizeof(sak));
		if (prev != NULL && d->kn < prev->kn)
			verdict_fail(CK_SAK_DIST, f,
				     "Key Number %u after %u from the same key "
				     "server",
				     d->kn, prev->kn);
		if (prev != NULL && d->kn == prev->kn && d->an != prev->an)
			verdict_fail(CK_SAK_DIST, f,
				     "Key Number %u distributed again with "
				     "AN %u (was %u)",
				     d->kn, d->an, prev->an);
	}
	if ((prev == NULL || prev->kn != d->kn) &&
	    g->n_dists < GRADE_MAX_DISTS) {
		struct dist *n = &g->dists[g->n_dists++];

		memcpy(n->ks_mi, b->mi, MKA_MI_LEN);
		memcpy(n->ckn, b->ckn, b->ckn_len);
		n->ckn_len = b->ckn_len;
		n->kn = d->kn;
		n->an = d->an;
		n->ts = f->ts;
	}
}

static const struct dist *
dist_find(const struct grader *g, const uint8_t *mi, uint32_t kn)
{
	for (size_t i = 0; i < g->n_dists; i++)
		if (memcmp(g->dists[i].ks_mi, mi, MKA_MI_LEN) == 0 &&
		    g->dists[i].kn == kn)
			return &g->dists[i];
	return NULL;
}

static void
grade_sak_use(struct grader *g, struct frame *f, struct mi_state *s)
{
	const struct mka_sak_use *u = &f->pdu.sak_use;
	const struct dist *d, *od;
	struct mi_state *ks;

	if (!f->graded || !(f->pdu.has & MKA_HAS(MKA_PS_SAK_USE)) ||
	    !u->in_use || u->lkn == 0)
		return;
	checks[CK_SAK_USE].applicable++;
	d = dist_find(g, u->lki_mi, u->lkn);
	ks = mi_find(g, u->lki_mi);
	if (d != NULL && d->an != u->lan)
		verdict_fail(CK_SAK_USE, f,
			     "Latest Key AN %u, but KN %u was distributed "
			     "with AN %u",
			     u->lan, u->lkn, d->an);
	if (d == NULL && ks != NULL && ks->first_mn == 1)
		verdict_fail(CK_SAK_USE, f,
			     "Latest Key KN %u was never distributed by the "
			     "key server it names",
			     u->lkn);
	od = u->okn != 0 ? dist_find(g, u->oki_mi, u->okn) : NULL;
	if (od != NULL && od->an != u->oan)
		verdict_fail(CK_SAK_USE, f,
			     "Old Key AN %u, but KN %u was distributed with "
			     "AN %u",
			     u->oan, u->okn, od->an);
	if (s->llpn_seen && memcmp(s->lki, u->lki_mi, MKA_MI_LEN) == 0 &&
	    s->lkn == u->lkn) {
		if (u->llpn < s->llpn)
			verdict_fail(CK_SAK_USE, f,
				     "Latest Key lowest PN went back from %u "
				     "to %u",
				     s->llpn, u->llpn);
		if (u->llpn > s->llpn)
			s->llpn_moved = true;
	}
	memcpy(s->lki, u->lki_mi, MKA_MI_LEN);
	s->lkn = u->lkn;
	s->llpn = u->llpn;
	s->llpn_seen = true;
}

static void
grade_qkd_kmd(struct grader *g, struct frame *f, struct mi_state *s)
{
	bool has = (f->pdu.has & MKA_HAS(MKA_PS_KMD)) != 0;

	if (!g->qkd || !f->graded)
		return;
	if (!has) {
		if (s->kmd_ever)
			verdict_fail(CK_QKD_KMD, f,
				     "an MKPDU of this CA without the KMD set, "
				     "after ones with it");
		s->kmd_always = false;
		return;
	}
	checks[CK_QKD_KMD].applicable++;
	if (!sae_id_ok(f->pdu.kmd.v, f->pdu.kmd.len))
		verdict_fail(CK_QKD_KMD, f,
			     "KMD is not an SAE ID (1 to 253 octets of "
			     "UTF-8, then zero padding)");
	else if (s->kmd_ever && (s->kmd.len != f->pdu.kmd.len ||
				 memcmp(s->kmd.v, f->pdu.kmd.v, s->kmd.len)))
		verdict_fail(CK_QKD_KMD, f, "KMD changes within one CA");
	if (!s->kmd_ever && !s->kmd_always)
		verdict_fail(CK_QKD_KMD, f,
			     "the first MKPDUs of this CA lack the KMD set");
	s->kmd_ever = true;
	s->kmd = f->pdu.kmd;
}

/* o is an MKPDU with a live peer from the sender of f. */
static bool
sends_live(const struct frame *o, const struct frame *f)
{
	return o->usable && o->type == EAPOL_TYPE_MKA && o->pdu.live.n > 0 &&
	       memcmp(o->data + MKA_ETH_ALEN, f->data + MKA_ETH_ALEN,
		      MKA_ETH_ALEN) == 0;
}

/*
 * "Until it is part of a live CA": the sender of announcement f had a live
 * peer well before it and still has one after it.  Only frames within a
 * Life Time either side count; capture order is time order.
 */
static bool
live_around(const struct grader *g, const struct frame *f)
{
	size_t at = (size_t)(f - g->frames);
	bool before = false, after = false;

	for (size_t i = at; i-- > 0 && g->frames[i].ts > f->ts - g->life;)
		before |= sends_live(&g->frames[i], f) &&
			  g->frames[i].ts < f->ts - 1.5;
	for (size_t i = at + 1;
	     before && i < g->n_frames && g->frames[i].ts < f->ts + g->life;
	     i++)
		after |= sends_live(&g->frames[i], f);
	return before && after;
}

static void
grade_announce(struct grader *g, struct frame *f)
{
	if (!f->graded || !g->qkd)
		return;
	checks[CK_QKD_ANNOUNCE].applicable++;
	if (!f->decoded) {
		verdict_fail(CK_QKD_ANNOUNCE, f,
			     "announcement does not decode");
		return;
	}
	if (!f->ann.has_kmd) {
		verdict_fail(CK_QKD_ANNOUNCE, f,
			     "announcement without a KMD TLV (113)");
		return;
	}
	if (!sae_id_ok(f->ann.kmd.v, f->ann.kmd.len) ||
	    sae_len(&f->ann.kmd) != f->ann.kmd.len)
		verdict_fail(CK_QKD_ANNOUNCE, f,
			     "KMD TLV is not an SAE ID (1 to 253 octets of "
			     "UTF-8)");
	else if (g->peer_sae != NULL && !sae_is(&f->ann.kmd, g->peer_sae))
		verdict_fail(CK_QKD_ANNOUNCE, f,
			     "KMD TLV names another SAE ID than --peer-sae");
	if (live_around(g, f))
		verdict_fail(CK_QKD_ANNOUNCE, f,
			     "announcement while in a live CA");
}

static void
grade_mkpdu(struct grader *g, struct frame *f)
{
	const struct mka_basic *b = &f->pdu.basic;
	struct mi_state *s;

	grade_basic(f);
	s = mi_find(g, b->mi);
	if (s == NULL) {
		if (g->n_mis == GRADE_MAX_MIS)
			return;
		s = &g->mis[g->n_mis++];
		memcpy(s->mi, b->mi, MKA_MI_LEN);
		memcpy(s->sa, f->pdu.sa, MKA_ETH_ALEN);
		memcpy(s->ckn, b->ckn, b->ckn_len);
		s->ckn_len = b->ckn_len;
		s->first_mn = b->mn;
		s->first = f;
		s->kmd_always = true;
		s->gaps = calloc(g->n_frames, sizeof(double));
		if (s->gaps == NULL) {
			g->n_mis--;
			return;
		}
	}
	grade_mn(f, s);
	grade_peers(g, f, s);
	grade_election(g, f);
	grade_dist(g, f);
	grade_sak_use(g, f, s);
	grade_qkd_kmd(g, f, s);
	if (s->last != NULL) {
		double gap = f->ts - s->last->ts;

		if (gap > s->gap_max)
			s->gap_max = gap;
		s->gaps[s->n_gaps++] = gap;
	}
	if (b->mn > s->max_mn)
		s->max_mn = b->mn;
	s->n_frames++;
	s->last = f;
	for (size_t i = 0; i < f->pdu.live.n + f->pdu.potential.n; i++) {
		const uint8_t *mi =
		    i < f->pdu.live.n
			? f->pdu.live.e[i].mi
			: f->pdu.potential.e[i - f->pdu.live.n].mi;

		if (!heard(s, mi) && s->n_heard < GRADE_MAX_PEERS)
			memcpy(s->heard[s->n_heard++], mi, MKA_MI_LEN);
	}
}

/* ---- end-of-capture checks --------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static size_t
frames_after(const struct grader *g, const struct mi_state *s, double ts)
{
	size_t n = 0;

	for (size_t i = 0; i < g->n_frames; i++) {
		const struct frame *f = &g->frames[i];

		if (f->usable && f->type == EAPOL_TYPE_MKA && f->ts > ts &&
		    memcmp(f->pdu.basic.mi, s->mi, MKA_MI_LEN) == 0)
			n++;
	}
	return n;
}

/* A member of the same CA that was still talking must end up listed. */
static void
final_peers(struct grader *g, const struct mi_state *s)
{
	for (size_t j = 0; j < g->n_mis; j++) {
		const struct mi_state *x = &g->mis[j];
		char mi[2 * MKA_MI_LEN + 1];

		if (x == s || memcmp(x->sa, s->sa, MKA_ETH_ALEN) == 0 ||
		    !same_ckn(x->ckn, x->ckn_len, s->ckn, s->ckn_len) ||
		    x->n_frames < 2 || x->last->ts < s->last->ts - g->life ||
		    frames_after(g, s, x->first->ts) < GRADE_SETTLE_FRAMES)
			continue;
		if (!lists(&s->last->pdu, x->mi)) {
			hexs(mi, x->mi, MKA_MI_LEN);
			verdict_fail(CK_PEERS, s->last,
				     "never lists MI %s of the same CA, which "
				     "kept sending",
				     mi);
		}
	}
}

/* The best live member must claim key server once things settle. */
static void
final_election(struct grader *g, const struct mi_state *s)
{
	const struct frame *last = NULL;
	size_t n_live = 0;
	bool best = true;

	for (size_t i = 0; i < g->n_frames; i++) {
		const struct frame *f = &g->frames[i];

		if (f->usable && f->type == EAPOL_TYPE_MKA &&
		    memcmp(f->pdu.basic.mi, s->mi, MKA_MI_LEN) == 0 &&
		    f->pdu.live.n > 0) {
			last = f;
			n_live++;
		}
	}
	if (last == NULL)
		return;
	checks[CK_ELECTION].applicable++;
	if (n_live < GRADE_SETTLE_FRAMES ||
	    last->pdu.basic.priority == MKA_PRIO_NOT_KS)
		return;
	for (size_t i = 0; i < last->pdu.live.n; i++) {
		struct mi_state *p = mi_find(g, last->pdu.live.e[i].mi);

		if (p == NULL) {
			best = false;
			break;
		}
		if (better(p->last->pdu.basic.priority, p->last->pdu.basic.sci,
			   last->pdu.basic.priority, last->pdu.basic.sci))
			best = false;
	}
	if (best && !last->pdu.basic.key_server)
		verdict_fail(CK_ELECTION, last,
			     "highest-priority live member (priority %u) "
			     "does not claim key server",
			     last->pdu.basic.priority);
}

/* The newest SAK of the CA is in use once a Life Time has passed. */
static void
final_sak_use(struct grader *g, const struct mi_state *s)
{
	const struct dist *newest = NULL;
	const struct mka_sak_use *u = &s->last->pdu.sak_use;

	for (size_t i = 0; i < g->n_dists; i++)
		if (same_ckn(g->dists[i].ckn, g->dists[i].ckn_len, s->ckn,
			     s->ckn_len) &&
		    (newest == NULL || g->dists[i].ts > newest->ts))
			newest = &g->dists[i];
	if (s->llpn_seen && !s->llpn_moved && checks[CK_SAK_USE].n_notes == 0)
		note(CK_SAK_USE, "lowest PN of the latest key never advanced "
				 "(no protected traffic in the capture?)");
	if (newest == NULL || newest->ts + g->life > s->last->ts)
		return;
	checks[CK_SAK_USE].applicable++;
	if (!(s->last->pdu.has & MKA_HAS(MKA_PS_SAK_USE)) || !u->in_use ||
	    memcmp(u->lki_mi, newest->ks_mi, MKA_MI_LEN) != 0 ||
	    u->lkn != newest->kn)
		verdict_fail(CK_SAK_USE, s->last,
			     "the newest SAK (KN %u) is not the Latest Key a "
			     "Life Time after its distribution",
			     newest->kn);
	else if (!u->ltx || !u->lrx)
		verdict_fail(CK_SAK_USE, s->last,
			     "the newest SAK is not in use for %s",
			     !u->lrx ? "receive" : "transmit");
}

static void
final_hello(struct grader *g, struct mi_state *s)
{
	double median;

	if (s->n_gaps < 2)
		return;
	checks[CK_HELLO].applicable++;
	qsort(s->gaps, s->n_gaps, sizeof(double), cmp_double);
	median = s->gaps[s->n_gaps / 2];
	if (s->gap_max > g->life)
		verdict_fail(CK_HELLO, s->last,
			     "%.2f s without an MKPDU from one participant: "
			     "more than the MKA Life Time %.1f s",
			     s->gap_max, g->life);
	else if (median > g->hello + GRADE_SLACK_S)
		verdict_fail(CK_HELLO, s->last,
			     "median interval %.2f s exceeds the MKA Hello "
			     "Time %.1f s",
			     median, g->hello);
	if (checks[CK_HELLO].n_notes < GRADE_MAX_NOTES)
		note(CK_HELLO, "intervals: median %.2f s, max %.2f s over %zu",
		     median, s->gap_max, s->n_gaps);
}

static void
final_qkd(struct grader *g)
{
	if (!g->qkd) {
		not_applicable(CK_QKD_KMD, "not a QKD CA (no --qkd)");
		not_applicable(CK_QKD_CKN, "not a QKD CA (no --qkd)");
		not_applicable(CK_QKD_ANNOUNCE, "not a QKD CA (no --qkd)");
		return;
	}
	for (size_t i = 0; i < g->n_mis; i++) {
		struct mi_state *s = &g->mis[i];
		char ckn[2 * MKA_CKN_MAX + 1];

		if (!is_graded(g, s->sa))
			continue;
		if (s->kmd_ever && g->peer_sae != NULL &&
		    !sae_is(&s->kmd, g->peer_sae))
			verdict_fail(CK_QKD_KMD, s->first,
				     "KMD names another SAE ID than "
				     "--peer-sae");
		checks[CK_QKD_CKN].applicable++;
		if (key_for(g, &s->first->pdu.basic) == NULL) {
			hexs(ckn, s->ckn, s->ckn_len);
			verdict_fail(CK_QKD_CKN, s->first,
				     "no QKD key has the ID %s (CKN)", ckn);
		}
	}
	not_applicable(CK_QKD_KMD, "the peer sent no KMD set: it is the "
				   "responder, graded by mka.qkd.announce");
	not_applicable(CK_QKD_ANNOUNCE,
		       "the peer sent no announcement (it is the initiator, "
		       "or a CA was live throughout)");
}

static void
grade_all(struct grader *g)
{
	for (size_t i = 0; i < g->n_frames; i++) {
		struct frame *f = &g->frames[i];

		if (f->type == EAPOL_TYPE_MKA || f->type == EAPOL_TYPE_ANNOUNCE)
			grade_header(f);
		decode_frame(g, f);
		if (f->type == EAPOL_TYPE_MKA && f->usable)
			grade_mkpdu(g, f);
	}
	for (size_t i = 0; i < g->n_frames; i++)
		if (g->frames[i].type == EAPOL_TYPE_ANNOUNCE)
			grade_announce(g, &g->frames[i]);
	for (size_t i = 0; i < g->n_mis; i++) {
		struct mi_state *s = &g->mis[i];

		if (!is_graded(g, s->sa))
			continue;
		final_peers(g, s);
		final_election(g, s);
		final_sak_use(g, s);
		final_hello(g, s);
	}
	final_qkd(g);
	if (checks[CK_ICV].applicable == 0 && !checks[CK_ICV].failed)
		not_applicable(CK_ICV, "no CAK given for the CKNs seen");
	not_applicable(CK_ELECTION, "the peer never had a live peer");
	not_applicable(CK_SAK_DIST, "the peer distributed no SAK (it was "
				    "not key server)");
	not_applicable(CK_SAK_USE, "the peer reported no SAK in use");
	not_applicable(CK_HELLO, "fewer than 3 MKPDUs from one participant");
}

/* ---- input ------------------------------------------------------------- */

static int
add_key(struct grader *g, const char *ckn_hex, const char *cak_hex,
	size_t cak_hex_len)
{
	struct key *k;
	int n;

	if (g->n_keys == GRADE_MAX_KEYS)
		return -1;
	k = &g->keys[g->n_keys];
	n = hex_decode(k->ckn, sizeof(k->ckn), ckn_hex, strlen(ckn_hex));
	if (n < MKA_CKN_MIN)
		return -1;
	k->ckn_len = (size_t)n;
	n = hex_decode(k->cak, sizeof(k->cak), cak_hex, cak_hex_len);
	if (n != 16 && n != 32)
		return -1;
	k->cak_len = (size_t)n;
	if (mka_derive_ick(k->cak, k->cak_len, k->ckn, k->ckn_len, k->ick) ==
		-1 ||
	    mka_derive_kek(k->cak, k->cak_len, k->ckn, k->ckn_len, k->kek) ==
		-1)
		return -1;
	g->n_keys++;
	return 0;
}

/* A file of secrets: private, read whole, wiped after use. */
static int
read_secret(const char *path, char **buf, size_t *len)
{
	if (file_check_private(path) == -1 ||
	    file_read_all(path, 1 << 20, buf, len) == -1) {
		fprintf(stderr,
			"qkdlab-mkagrade: %s: not a readable private file "
			"(mode 0600)\n",
			path);
		return -1;
	}
	return 0;
}

/* --key CKN=FILE: FILE holds the CAK in hex. */
static int
opt_key(struct grader *g, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char ckn[2 * MKA_CKN_MAX + 1], *buf;
	size_t len;
	int rc;

	if (eq == NULL || (size_t)(eq - arg) >= sizeof(ckn)) {
		fprintf(stderr, "qkdlab-mkagrade: --key wants CKN=FILE\n");
		return -1;
	}
	memcpy(ckn, arg, (size_t)(eq - arg));
	ckn[eq - arg] = '\0';
	if (read_secret(eq + 1, &buf, &len) == -1)
		return -1;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	rc = add_key(g, ckn, buf, len);
	secmem_wipe(buf, len);
	free(buf);
	if (rc == -1)
		fprintf(stderr,
			"qkdlab-mkagrade: --key %s: CKN must be 1 to 32 "
			"octets of hex, the file 16 or 32 octets of hex\n",
			ckn);
	return rc;
}

/* --key-log FILE: mka-agent's key log, its "CAK <ckn> <cak>" lines. */
static int
opt_key_log(struct grader *g, const char *path)
{
	char *buf, *line, *save = NULL;
	size_t len;
	int rc = 0;

	if (read_secret(path, &buf, &len) == -1)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *w_save = NULL, *kind, *ckn, *cak;

		kind = strtok_r(line, " ", &w_save);
		ckn = strtok_r(NULL, " ", &w_save);
		cak = strtok_r(NULL, " ", &w_save);
		if (kind == NULL || strcmp(kind, "CAK") != 0 || ckn == NULL ||
		    cak == NULL)
			continue;
		if (add_key(g, ckn, cak, strlen(cak)) == -1) {
			fprintf(stderr,
				"qkdlab-mkagrade: %s: a CAK line it cannot "
				"use (or more than %d)\n",
				path, GRADE_MAX_KEYS);
			rc = -1;
			break;
		}
	}
	secmem_wipe(buf, len);
	free(buf);
	return rc;
}

static int
opt_peer(struct grader *g, const char *arg)
{
	unsigned m[MKA_ETH_ALEN];
	char end;

	if (g->n_peers == GRADE_MAX_PEERS ||
	    sscanf(arg, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3],
		   &m[4], &m[5], &end) != 6) {
		fprintf(stderr, "qkdlab-mkagrade: --peer wants a MAC address "
				"(aa:bb:cc:dd:ee:ff)\n");
		return -1;
	}
	for (size_t i = 0; i < MKA_ETH_ALEN; i++)
		g->peers[g->n_peers][i] = (uint8_t)m[i];
	g->n_peers++;
	return 0;
}

static int
load_capture(struct grader *g, struct capture *c)
{
	struct capture_frame cf;
	char err[256];
	int rc;

	while ((rc = capture_next(c, &cf, err, sizeof(err))) == 1) {
		struct frame *f;
		uint8_t type;

		if (cf.linktype != CAPTURE_LINKTYPE_ETHERNET) {
			g->skipped_linktype++;
			continue;
		}
		if (mka_eapol_type(cf.data, cf.len, &type) == -1 ||
		    (type != EAPOL_TYPE_MKA && type != EAPOL_TYPE_ANNOUNCE)) {
			g->not_eapol++;
			continue;
		}
		if (g->n_frames == GRADE_MAX_FRAMES) {
			fprintf(stderr,
				"qkdlab-mkagrade: more than %d EAPOL frames; "
				"grading the first ones\n",
				GRADE_MAX_FRAMES);
			break;
		}
		if (g->n_frames == g->cap_frames) {
			size_t n = g->cap_frames ? 2 * g->cap_frames : 256;
			struct frame *nf = realloc(g->frames, n * sizeof(*nf));

			if (nf == NULL) {
				fprintf(stderr, "qkdlab-mkagrade: out of "
						"memory\n");
				return -1;
			}
			g->frames = nf;
			g->cap_frames = n;
		}
		f = &g->frames[g->n_frames++];
		memset(f, 0, sizeof(*f));
		f->no = (unsigned)(g->n_frames + g->not_eapol +
				   g->skipped_linktype);
		f->ts = cf.ts;
		f->data = cf.data;
		f->len = cf.len;
		f->type = type;
		f->graded = cf.len >= 2 * MKA_ETH_ALEN &&
			    is_graded(g, cf.data + MKA_ETH_ALEN);
	}
	if (rc == -1) {
		fprintf(stderr, "qkdlab-mkagrade: %s\n", err);
		return -1;
	}
	return 0;
}

static void
usage(FILE *f)
{
	fputs("usage: qkdlab-mkagrade [options] CAPTURE\n"
	      "Grades the MKPDUs in CAPTURE (pcap or pcapng, Ethernet) "
	      "against IEEE 802.1X-2020;\n"
	      "prints one JSON object per check.  See qkdlab-conform(1), "
	      "\"mka\".\n"
	      "  --key CKN=FILE     the CAK of CKN (hex) is in FILE "
	      "(hex, mode 0600)\n"
	      "  --key-log FILE     CAKs from an mka-agent key log\n"
	      "  --peer MAC         grade only what MAC sends (repeatable; "
	      "default all)\n"
	      "  --qkd              grade the QKD binding (KMD, CKN = key "
	      "ID, announcements)\n"
	      "  --peer-sae ID      the SAE ID the peer must announce or "
	      "carry in its KMD\n"
	      "  --hello-time S     MKA Hello Time (default 2)\n"
	      "  --life-time S      MKA Life Time (default 6)\n"
	      "  --list             the checks (all n/a) without grading\n"
	      "  --help, --version\n",
	      f);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "key-log", required_argument, NULL, 'l' },
		{ "peer", required_argument, NULL, 'p' },
		{ "qkd", no_argument, NULL, 'q' },
		{ "peer-sae", required_argument, NULL, 's' },
		{ "hello-time", required_argument, NULL, 'H' },
		{ "life-time", required_argument, NULL, 'L' },
		{ "list", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct grader g = { .hello = GRADE_HELLO_S, .life = GRADE_LIFE_S };
	struct capture *c;
	char err[256], *end;
	int o, rc = 2;

	if (secmem_init() == -1)
		return 2;
	g.keys = calloc(GRADE_MAX_KEYS, sizeof(*g.keys));
	if (g.keys == NULL)
		return 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'k':
			if (opt_key(&g, optarg) == -1)
				goto out;
			break;
		case 'l':
			if (opt_key_log(&g, optarg) == -1)
				goto out;
			break;
		case 'p':
			if (opt_peer(&g, optarg) == -1)
				goto out;
			break;
		case 'q':
			g.qkd = true;
			break;
		case 's':
			g.peer_sae = optarg;
			break;
		case 'H':
		case 'L':
			*(o == 'H' ? &g.hello : &g.life) = strtod(optarg, &end);
			if (*end != '\0' || !(g.hello > 0 && g.life > 0)) {
				fprintf(stderr,
					"qkdlab-mkagrade: --%s wants "
					"seconds\n",
					o == 'H' ? "hello-time" : "life-time");
				goto out;
			}
			break;
		case 'i':
			print_results(stdout);
			rc = 0;
			goto out;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		case 'V':
			version_print(stdout, "qkdlab-mkagrade");
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		goto out;
	}
	c = capture_open(argv[optind], err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "qkdlab-mkagrade: %s\n", err);
		goto out;
	}
	if (load_capture(&g, c) == -1) {
		capture_free(c);
		goto out;
	}
	if (g.n_frames == 0)
		for (size_t i = 0; i < CK_COUNT; i++)
			not_applicable((enum check_id)i,
				       "no MKPDU or announcement in the "
				       "capture");
	grade_all(&g);
	print_results(stdout);
	rc = fflush(stdout) == 0 ? 0 : 2;
	capture_free(c);
out:
	for (size_t i = 0; i < g.n_mis; i++)
		free(g.mis[i].gaps);
	secmem_wipe(g.keys, GRADE_MAX_KEYS * sizeof(*g.keys));
	free(g.keys);
	free(g.frames);
	return rc;
}
