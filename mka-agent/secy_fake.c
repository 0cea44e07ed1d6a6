/*
 * secy_fake.c — the recording SecY behind struct mka_secy_ops.
 */
#include "secy_fake.h"

#include "secmem.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static void
note(struct secy_fake *f, const char *what, unsigned an)
{
	if (f->calls < SECY_FAKE_LOG)
		snprintf(f->log[f->calls], sizeof(f->log[0]), "%s an=%u", what,
			 an);
	f->calls++;
}

void
secy_fake_init(struct secy_fake *f)
{
	memset(f, 0, sizeof(*f));
	f->encoding_an = -1;
}

struct secy_fake_sc *
secy_fake_rxsc(struct secy_fake *f, const uint8_t sci[8])
{
	for (size_t i = 0; i < SECY_FAKE_MAX_SC; i++)
		if (f->rx[i].used && memcmp(f->rx[i].sci, sci, 8) == 0)
			return &f->rx[i];
	return NULL;
}

unsigned
secy_fake_count(const struct secy_fake *f, const char *prefix)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->calls && i < SECY_FAKE_LOG; i++)
		if (strncmp(f->log[i], prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

static void
store_sa(struct secy_fake_sa *s, const struct mka_sa *sa)
{
	memset(s, 0, sizeof(*s));
	s->installed = true;
	memcpy(s->key, sa->key, sa->key_len);
	s->key_len = sa->key_len;
	s->pn = sa->pn;
	s->xpn = sa->xpn;
	s->ssci = sa->ssci;
	memcpy(s->salt, sa->salt, sizeof(s->salt));
}

static int
fake_set_policy(void *arg, const struct mka_secy_policy *pol)
{
	struct secy_fake *f = arg;

	f->policy = *pol;
	f->policy_set = true;
	note(f, pol->protect ? "set-policy protect" : "set-policy plain", 0);
	return 0;
}

static int
fake_create_rxsc(void *arg, const uint8_t sci[8])
{
	struct secy_fake *f = arg;

	note(f, "create-rxsc", 0);
	if (secy_fake_rxsc(f, sci) != NULL)
		return -1;
	for (size_t i = 0; i < SECY_FAKE_MAX_SC; i++) {
		if (!f->rx[i].used) {
			memset(&f->rx[i], 0, sizeof(f->rx[i]));
			f->rx[i].used = true;
			memcpy(f->rx[i].sci, sci, 8);
			return 0;
		}
	}
	return -1;
}

static int
fake_delete_rxsc(void *arg, const uint8_t sci[8])
{
	struct secy_fake *f = arg;
	struct secy_fake_sc *sc = secy_fake_rxsc(f, sci);

	note(f, "delete-rxsc", 0);
	if (sc == NULL)
		return -1;
	secmem_wipe(sc, sizeof(*sc));
	return 0;
}

static int
fake_install_rxsa(void *arg, const uint8_t sci[8], const struct mka_sa *sa)
{
	struct secy_fake *f = arg;
	struct secy_fake_sc *sc = secy_fake_rxsc(f, sci);

	note(f, "install-rxsa", sa->an);
	if (sc == NULL || sa->an > 3)
		return -1;
	store_sa(&sc->sa[sa->an], sa);
	return 0;
}

static int
fake_enable_rxsa(void *arg, const uint8_t sci[8], uint8_t an)
{
	struct secy_fake *f = arg;
	struct secy_fake_sc *sc = secy_fake_rxsc(f, sci);

	note(f, "enable-rxsa", an);
	if (sc == NULL || an > 3 || !sc->sa[an].installed)
		return -1;
	sc->sa[an].enabled = true;
	return 0;
}

static int
fake_delete_rxsa(void *arg, const uint8_t sci[8], uint8_t an)
{
	struct secy_fake *f = arg;
	struct secy_fake_sc *sc = secy_fake_rxsc(f, sci);

	note(f, "delete-rxsa", an);
	if (sc == NULL || an > 3)
		return -1;
	secmem_wipe(&sc->sa[an], sizeof(sc->sa[an]));
	return 0;
}

static int
fake_install_txsa(void *arg, const struct mka_sa *sa)
{
	struct secy_fake *f = arg;

	note(f, "install-txsa", sa->an);
	if (sa->an > 3)
		return -1;
	store_sa(&f->tx[sa->an], sa);
	return 0;
}

static int
fake_enable_txsa(void *arg, uint8_t an)
{
	struct secy_fake *f = arg;

	note(f, "enable-txsa", an);
	if (an > 3 || !f->tx[an].installed)
		return -1;
	f->tx[an].enabled = true;
	f->encoding_an = an;
	return 0;
}

static int
fake_delete_txsa(void *arg, uint8_t an)
{
	struct secy_fake *f = arg;

	note(f, "delete-txsa", an);
	if (an > 3)
		return -1;
	secmem_wipe(&f->tx[an], sizeof(f->tx[an]));
	if (f->encoding_an == an)
		f->encoding_an = -1;
	return 0;
}

static int
fake_get_txsa_pn(void *arg, uint8_t an, uint64_t *next_pn)
{
	struct secy_fake *f = arg;

	if (an > 3 || !f->tx[an].installed)
		return -1;
	*next_pn = f->tx_pn_override != 0 && an == f->tx_pn_override_an
		       ? f->tx_pn_override
		       : f->tx[an].pn;
	return 0;
}

static int
fake_get_rxsa_pn(void *arg, const uint8_t sci[8], uint8_t an, uint64_t *next_pn)
{
	struct secy_fake *f = arg;
	struct secy_fake_sc *sc = secy_fake_rxsc(f, sci);

	if (sc == NULL || an > 3 || !sc->sa[an].installed)
		return -1;
	*next_pn = sc->sa[an].pn;
	return 0;
}

const struct mka_secy_ops secy_fake_ops = {
	.set_policy = fake_set_policy,
	.create_rxsc = fake_create_rxsc,
	.delete_rxsc = fake_delete_rxsc,
	.install_rxsa = fake_install_rxsa,
	.enable_rxsa = fake_enable_rxsa,
	.delete_rxsa = fake_delete_rxsa,
	.install_txsa = fake_install_txsa,
	.enable_txsa = fake_enable_txsa,
	.delete_txsa = fake_delete_txsa,
	.get_txsa_pn = fake_get_txsa_pn,
	.get_rxsa_pn = fake_get_rxsa_pn,
};
