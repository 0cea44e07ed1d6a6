/*
 * dash_poll.c — the poller: reads every site each interval into one JSON
 * snapshot, a history of pool level and traffic, and an event timeline
 * derived from what changed between two readings.
 */
#include "dash.h"

#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What one site looked like at the previous reading. */
struct dash_prev {
	bool have;
	char ckn[80];
	double kn, an, keys_fetched, fallbacks;
	bool secured, link_up, down, starve;
	double delay_ms;
	bool kme_ok, mka_ok, secy_ok;
	char qkd_state[48]; /* link model state; "" on a constant-rate link */
};

struct dash_sample {
	uint64_t t;
	double pool[DASH_MAX_SITES], served[DASH_MAX_SITES];
	double out_pkts[DASH_MAX_SITES], in_pkts[DASH_MAX_SITES];
	double out_octets[DASH_MAX_SITES], in_octets[DASH_MAX_SITES];
	double qber[DASH_MAX_SITES]; /* -1: the link has no model */
};

struct dash_ev {
	uint64_t t;
	char site[DASH_NAME_MAX];
	char kind[16];
	char text[200];
};

struct dash {
	struct dash_conf conf;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t wake;
	bool quit;
	char *snapshot;
	struct dash_prev prev[DASH_MAX_SITES];
	struct dash_sample hist[DASH_HISTORY];
	size_t nhist, hist_i;
	struct dash_ev ev[DASH_EVENTS];
	size_t nev, ev_i;
};

static uint64_t
dash_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct dash *
dash_new(const struct dash_conf *c)
{
	struct dash *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->conf = *c;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	return d;
}

const struct dash_site_conf *
dash_site(const struct dash *d, const char *name)
{
	for (size_t i = 0; i < d->conf.nsites; i++)
		if (strcmp(d->conf.sites[i].name, name) == 0)
			return &d->conf.sites[i];
	return NULL;
}

/* Caller holds the lock. */
static void
dash_event_locked(struct dash *d, const char *site, const char *kind,
		  const char *text)
{
	struct dash_ev *e = &d->ev[d->ev_i];

	e->t = dash_now_ms();
	str_copy(e->site, sizeof(e->site), site);
	str_copy(e->kind, sizeof(e->kind), kind);
	snprintf(e->text, sizeof(e->text), "%s", text);
	d->ev_i = (d->ev_i + 1) % DASH_EVENTS;
	if (d->nev < DASH_EVENTS)
		d->nev++;
	LOG_EV(LOG_LVL_INFO, kind, LOG_FIELDS(LOG_S("site", site)),
	       "site %s: %s", site, text);
}

void
dash_event(struct dash *d, const char *site, const char *kind, const char *text)
{
	pthread_mutex_lock(&d->lock);
	dash_event_locked(d, site, kind, text);
	pthread_mutex_unlock(&d->lock);
}

/* GET addr+target in the site's namespace, parsed as JSON; NULL if not 200. */
static cJSON *
dash_get_json(const struct dash_site_conf *s, const char *addr,
	      const char *target)
{
	struct dash_reply r;
	cJSON *j = NULL;

	if (addr[0] == '\0' ||
	    dash_fetch(s->netns, addr, "GET", target, &r) == -1)
		return NULL;
	if (r.status == 200)
		j = cJSON_Parse(r.body);
	dash_reply_free(&r);
	return j;
}

static char *
dash_get_text(const struct dash_site_conf *s, const char *addr)
{
	struct dash_reply r;

	if (addr[0] == '\0' ||
	    dash_fetch(s->netns, addr, "GET", "/metrics", &r) == -1)
		return NULL;
	if (r.status != 200)
		dash_reply_free(&r);
	return r.body;
}

static double
num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool
flag(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const char *
str(const cJSON *o, const char *key)
{
	const char *s =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s != NULL ? s : "";
}

/* The KME's entry for the configured peer (or its first peer). */
static const cJSON *
dash_kme_peer(const struct dash_site_conf *s, const cJSON *faults)
{
	const cJSON *peers = cJSON_GetObjectItemCaseSensitive(faults, "peers"),
		    *p;

	cJSON_ArrayForEach(p, peers) if (s->kme_peer[0] == '\0' ||
					 strcmp(str(p, "peer"), s->kme_peer) ==
					     0) return p;
	return NULL;
}

/* Events from the differences between prev and this reading. */
static void
dash_diff(struct dash *d, const struct dash_site_conf *s, struct dash_prev *pv,
	  const cJSON *kpeer, const cJSON *port, bool kme_ok, bool mka_ok)
{
	struct dash_prev now = { .have = true,
				 .kme_ok = kme_ok,
				 .mka_ok = mka_ok };
	char t[200];

	if (kpeer != NULL) {
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(kpeer, "qkd");

		if (q != NULL)
			str_copy(now.qkd_state, sizeof(now.qkd_state),
				 str(q, "state"));
		now.link_up = flag(kpeer, "link_up");
		now.down = flag(kpeer, "down");
		now.starve = flag(kpeer, "starve");
		now.delay_ms = num(kpeer, "delay_ms");
	}
	if (port != NULL) {
		str_copy(now.ckn, sizeof(now.ckn), str(port, "ckn"));
		now.kn = num(port, "kn");
		now.an = num(port, "an");
		now.keys_fetched = num(port, "keys_fetched");
		now.fallbacks = num(port, "fallbacks");
		now.secured = flag(port, "secured");
	}
	if (!pv->have) {
		snprintf(t, sizeof(t), "dashboard started: %s",
			 now.secured ? "secured" : "not secured");
		dash_event_locked(d, s->name, "info", t);
		*pv = now;
		return;
	}
	if (kme_ok != pv->kme_ok)
		dash_event_locked(d, s->name, kme_ok ? "info" : "fault",
				  kme_ok ? "KME answers"
					 : "KME does not answer");
	if (mka_ok != pv->mka_ok)
		dash_event_locked(d, s->name, mka_ok ? "info" : "fault",
				  mka_ok ? "mka-agent answers"
					 : "mka-agent does not answer");
	if (kpeer != NULL) {
		if (now.down != pv->down || now.starve != pv->starve ||
		    now.delay_ms != pv->delay_ms) {
			snprintf(t, sizeof(t), "KME faults now: %s%s%s%s",
				 now.down ? "link down " : "",
				 now.starve ? "starve " : "",
				 now.delay_ms > 0 ? "slow " : "",
				 !now.down && !now.starve && now.delay_ms <= 0
				     ? "none"
				     : "");
			dash_event_locked(d, s->name, "fault", t);
		}
		if (strcmp(now.qkd_state, pv->qkd_state) != 0 &&
		    now.qkd_state[0] != '\0') {
			const cJSON *q =
			    cJSON_GetObjectItemCaseSensitive(kpeer, "qkd");

			snprintf(t, sizeof(t),
				 "QKD link %s: QBER %.1f %%, abort threshold "
				 "%.1f %%",
				 now.qkd_state, 100 * num(q, "qber"),
				 100 * num(q, "qber_abort"));
			dash_event_locked(d, s->name,
					  flag(q, "halted") ? "fault" : "info",
					  t);
		}
		if (now.link_up != pv->link_up) {
			snprintf(t, sizeof(t), "QKD link %s%s%s",
				 now.link_up ? "up" : "down",
				 now.link_up ? "" : ": ",
				 now.link_up ? "" : str(kpeer, "reason"));
			dash_event_locked(d, s->name,
					  now.link_up ? "info" : "fault", t);
		}
	}
	if (port != NULL) {
		if (now.keys_fetched > pv->keys_fetched) {
			snprintf(t, sizeof(t),
				 "key fetched from the KME (key ID %s)",
				 now.ckn);
			dash_event_locked(d, s->name, "key", t);
		}
		if (strcmp(now.ckn, pv->ckn) != 0 && now.ckn[0] != '\0') {
			snprintf(t, sizeof(t), "%s: CKN %s (%s)",
				 pv->ckn[0] != '\0' ? "CAK rollover"
						    : "CAK in use",
				 now.ckn, str(port, "cak_in_use"));
			dash_event_locked(d, s->name, "cak", t);
		}
		if (now.kn != pv->kn || now.an != pv->an) {
			snprintf(t, sizeof(t), "SAK installed: KN %.0f AN %.0f",
				 now.kn, now.an);
			dash_event_locked(d, s->name, "sak", t);
		}
		if (now.fallbacks > pv->fallbacks)
			dash_event_locked(d, s->name, "fault",
					  "fallback CA taken");
		if (now.secured != pv->secured)
			dash_event_locked(
			    d, s->name, now.secured ? "sak" : "fault",
			    now.secured ? "secured" : "not secured");
	}
	*pv = now;
}

static double
sum_sas(const cJSON *arr, const char *key)
{
	const cJSON *e;
	double n = 0;

	cJSON_ArrayForEach(e, arr) n += num(e, key);
	return n;
}

/* Reads site i into a JSON object; records its sample and events. */
static cJSON *
dash_read_site(struct dash *d, size_t i, struct dash_sample *smp)
{
	const struct dash_site_conf *s = &d->conf.sites[i];
	cJSON *o = cJSON_CreateObject(), *kme, *skip, *mka, *secy, *faults;
	char *kmet, *smet;
	const cJSON *kpeer = NULL, *port = NULL, *rx, *e;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddStringToObject(o, "netns", s->netns);
	cJSON_AddStringToObject(o, "kme_peer", s->kme_peer);

	kme = cJSON_AddObjectToObject(o, "kme");
	faults = dash_get_json(s, s->kme_admin, "/admin/v1/faults");
	kmet = dash_get_text(s, s->kme_admin);
	cJSON_AddBoolToObject(kme, "ok", faults != NULL);
	if (faults != NULL) {
		kpeer = dash_kme_peer(s, faults);
		cJSON_AddItemToObject(kme, "faults", faults);
	}
	if (kmet != NULL) {
		smp->served[i] = dash_metric_sum(kmet, "kme_keys_served_total");
		cJSON_AddNumberToObject(kme, "served", smp->served[i]);
		cJSON_AddNumberToObject(kme, "pool_bits",
					dash_metric_sum(kmet, "kme_pool_bits"));
		cJSON_AddNumberToObject(kme, "pool_max_keys",
					dash_metric_sum(kmet,
							"kme_pool_max_keys"));
		cJSON_AddNumberToObject(kme, "reserved_keys",
					dash_metric_sum(kmet,
							"kme_reserved_keys"));
		free(kmet);
	}
	smp->qber[i] = -1;
	if (kpeer != NULL) {
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(kpeer, "qkd");

		smp->pool[i] = num(kpeer, "pool_keys");
		if (q != NULL)
			smp->qber[i] = num(q, "qber");
	}

	skip = cJSON_AddObjectToObject(o, "skip");
	smet = dash_get_text(s, s->skip);
	cJSON_AddBoolToObject(skip, "configured", s->skip[0] != '\0');
	cJSON_AddBoolToObject(skip, "ok", smet != NULL);
	if (smet != NULL) {
		cJSON_AddNumberToObject(skip, "requests",
					dash_metric_sum(smet,
							"skip_requests_total"));
		cJSON_AddNumberToObject(
		    skip, "kme_errors",
		    dash_metric_sum(smet, "skip_kme_errors_total"));
		free(smet);
	}

	mka = dash_get_json(s, s->mka, "/status.json");
	if (mka == NULL)
		mka = cJSON_CreateObject();
	cJSON_AddBoolToObject(mka, "ok",
			      cJSON_GetObjectItem(mka, "ports") != NULL);
	port = cJSON_GetArrayItem(cJSON_GetObjectItem(mka, "ports"), 0);
	cJSON_AddItemToObject(o, "mka", mka);

	secy = dash_get_json(s, s->secy, "/show.json");
	if (secy == NULL)
		secy = cJSON_CreateObject();
	cJSON_AddBoolToObject(secy, "ok",
			      cJSON_GetObjectItem(secy, "stats") != NULL);
	{
		const cJSON *st = cJSON_GetObjectItem(secy, "stats");

		smp->out_pkts[i] = sum_sas(cJSON_GetObjectItem(secy, "txsas"),
					   "OutPktsProtected") +
				   sum_sas(cJSON_GetObjectItem(secy, "txsas"),
					   "OutPktsEncrypted");
		rx = cJSON_GetObjectItem(secy, "rxscs");
		cJSON_ArrayForEach(e, rx) smp->in_pkts[i] +=
		    sum_sas(cJSON_GetObjectItem(e, "sas"), "InPktsOK");
		smp->out_octets[i] = num(st, "OutOctetsProtected") +
				     num(st, "OutOctetsEncrypted");
		smp->in_octets[i] =
		    num(st, "InOctetsValidated") + num(st, "InOctetsDecrypted");
	}
	cJSON_AddItemToObject(o, "secy", secy);

	pthread_mutex_lock(&d->lock);
	dash_diff(d, s, &d->prev[i], kpeer, port, faults != NULL, port != NULL);
	pthread_mutex_unlock(&d->lock);
	return o;
}

static cJSON *
dash_nums(const double *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a != NULL && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	return a;
}

/* History and events into root; caller holds the lock. */
static void
dash_add_logs(struct dash *d, cJSON *root)
{
	cJSON *h = cJSON_AddArrayToObject(root, "history");
	cJSON *ev = cJSON_AddArrayToObject(root, "events");
	size_t n = d->conf.nsites;

	for (size_t k = 0; h != NULL && k < d->nhist; k++) {
		const struct dash_sample *s =
		    &d->hist[(d->hist_i + DASH_HISTORY - d->nhist + k) %
			     DASH_HISTORY];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToArray(h, o);
		cJSON_AddNumberToObject(o, "t", (double)s->t);
		cJSON_AddItemToObject(o, "pool", dash_nums(s->pool, n));
		cJSON_AddItemToObject(o, "served", dash_nums(s->served, n));
		cJSON_AddItemToObject(o, "out_pkts", dash_nums(s->out_pkts, n));
		cJSON_AddItemToObject(o, "in_pkts", dash_nums(s->in_pkts, n));
		cJSON_AddItemToObject(o, "out_octets",
				      dash_nums(s->out_octets, n));
		cJSON_AddItemToObject(o, "in_octets",
				      dash_nums(s->in_octets, n));
		cJSON_AddItemToObject(o, "qber", dash_nums(s->qber, n));
	}
	for (size_t k = 0; ev != NULL && k < d->nev; k++) {
		const struct dash_ev *e =
		    &d->ev[(d->ev_i + DASH_EVENTS - d->nev + k) % DASH_EVENTS];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToArray(ev, o);
		cJSON_AddNumberToObject(o, "t", (double)e->t);
		cJSON_AddStringToObject(o, "site", e->site);
		cJSON_AddStringToObject(o, "kind", e->kind);
		cJSON_AddStringToObject(o, "text", e->text);
	}
}

static void
dash_poll_once(struct dash *d)
{
	struct dash_sample smp = { .t = dash_now_ms() };
	cJSON *root = cJSON_CreateObject(), *sites;
	char *js;

	if (root == NULL)
		return;
	cJSON_AddNumberToObject(root, "time", (double)smp.t);
	cJSON_AddNumberToObject(root, "interval_ms",
				(double)d->conf.interval_ms);
	sites = cJSON_AddArrayToObject(root, "sites");
	for (size_t i = 0; sites != NULL && i < d->conf.nsites; i++)
		cJSON_AddItemToArray(sites, dash_read_site(d, i, &smp));
	pthread_mutex_lock(&d->lock);
	d->hist[d->hist_i] = smp;
	d->hist_i = (d->hist_i + 1) % DASH_HISTORY;
	if (d->nhist < DASH_HISTORY)
		d->nhist++;
	dash_add_logs(d, root);
	js = cJSON_PrintUnformatted(root);
	if (js != NULL) {
		free(d->snapshot);
		d->snapshot = js;
	}
	pthread_mutex_unlock(&d->lock);
	cJSON_Delete(root);
}

static void *
dash_thread(void *arg)
{
	struct dash *d = arg;
	struct timespec until;

	pthread_mutex_lock(&d->lock);
	while (!d->quit) {
		pthread_mutex_unlock(&d->lock);
		dash_poll_once(d);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(d->conf.interval_ms % 1000) * 1000000;
		until.tv_sec += (time_t)(d->conf.interval_ms / 1000) +
				until.tv_nsec / 1000000000;
		until.tv_nsec %= 1000000000;
		pthread_mutex_lock(&d->lock);
		while (!d->quit && pthread_cond_timedwait(&d->wake, &d->lock,
							  &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int
dash_start(struct dash *d)
{
	if (pthread_create(&d->thread, NULL, dash_thread, d) != 0) {
		log_warnx("cannot start the poller thread");
		return -1;
	}
	d->started = true;
	return 0;
}

char *
dash_snapshot(struct dash *d)
{
	char *s;

	pthread_mutex_lock(&d->lock);
	s = d->snapshot != NULL ? strdup(d->snapshot) : NULL;
	pthread_mutex_unlock(&d->lock);
	return s;
}

void
dash_free(struct dash *d)
{
	if (d == NULL)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->lock);
		d->quit = true;
		pthread_cond_signal(&d->wake);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	free(d->snapshot);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->wake);
	free(d);
}
