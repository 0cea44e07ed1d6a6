/*
 * kme_link_client.c — the client side of the KME link: HTTPS POSTs of
 * JSON messages to the peer's link port over libcurl, with a pool of
 * keep-alive handles per peer.  Both sides authenticate with the KME-link
 * CA and the peer must present its own KME ID as certificate CN/SAN.
 * Reply bodies may carry keys; they live in wiped buffers (lib/secmem).
 */
#include "kme.h"
#include "kme_link_int.h"

#include "log.h"
#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KME_LINK_HANDLES 16

struct kme_link_client {
	pthread_mutex_t lock;
	CURL *idle[KME_LINK_HANDLES];	/* keep-alive connections */
	size_t nidle;
	char base[320];
	const char *peer_id;
	const struct kme_cfg *cfg;
};

struct kme_link_resp {
	char *buf;		/* wiped when freed: alloc replies hold keys */
	size_t len, cap;
	bool overflow;
};

static size_t
kme_link_write_cb(char *p, size_t sz, size_t nm, void *arg)
{
	struct kme_link_resp *r = arg;
	size_t n = sz * nm;

	if (r->len + n > KME_LINK_MAX_RESP) {
		r->overflow = true;
		return 0;
	}
	/* Not realloc(): an alloc reply carries keys, and realloc() frees
	 * a block it moves unwiped (docs/SECURITY.md, S-20). */
	if (secmem_reserve(&r->buf, &r->cap, r->len + n + 1) < 0)
		return 0;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

/* Makes the TLS layer accept only the peer's own certificate CN/SAN. */
static CURLcode
kme_link_sslctx_cb(CURL *c, void *sslctx, void *arg)
{
	struct kme_link_client *lc = arg;

	(void)c;
	if (X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(sslctx),
					lc->peer_id, 0) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

static CURL *
kme_link_handle(struct kme_link_client *lc)
{
	CURL *c = NULL;

	pthread_mutex_lock(&lc->lock);
	if (lc->nidle > 0)
		c = lc->idle[--lc->nidle];
	pthread_mutex_unlock(&lc->lock);
	if (c != NULL)
		return c;
	c = curl_easy_init();
	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_SSLCERT, lc->cfg->link_cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, lc->cfg->link_key);
	curl_easy_setopt(c, CURLOPT_CAINFO, lc->cfg->link_ca);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	/* The peer is named by KME ID (checked in kme_link_sslctx_cb), not
	 * by the address it listens on. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, kme_link_sslctx_cb);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, lc);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)lc->cfg->link_timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)lc->cfg->link_timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kme_link_write_cb);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	return c;
}

static void
kme_link_release(struct kme_link_client *lc, CURL *c, bool ok)
{
	pthread_mutex_lock(&lc->lock);
	if (ok && lc->nidle < KME_LINK_HANDLES) {
		lc->idle[lc->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&lc->lock);
	if (c != NULL)
		curl_easy_cleanup(c);
}

struct kme_link_client *
kme_link_client_new(const struct kme_cfg *cfg, const struct kme_peer_cfg *pc)
{
	struct kme_link_client *lc = calloc(1, sizeof(*lc));
	bool v6;

	if (lc == NULL)
		return NULL;
	pthread_mutex_init(&lc->lock, NULL);
	lc->cfg = cfg;
	lc->peer_id = pc->id;
	v6 = strchr(pc->addr.host, ':') != NULL;
	snprintf(lc->base, sizeof(lc->base), "https://%s%s%s:%u/link/v1/",
		 v6 ? "[" : "", pc->addr.host, v6 ? "]" : "", pc->addr.port);
	return lc;
}

void
kme_link_client_free(struct kme_link_client *lc)
{
	if (lc == NULL)
		return;
	for (size_t i = 0; i < lc->nidle; i++)
		curl_easy_cleanup(lc->idle[i]);
	pthread_mutex_destroy(&lc->lock);
	free(lc);
}

/*
 * POSTs a JSON object to the peer.  Returns the parsed 200 reply, or NULL
 * with a reason in why (the peer's own message when it sent one).
 */
cJSON *
kme_link_call(struct kme *k, struct kme_peer *p, const char *op, cJSON *body,
	      char *why, size_t cap)
{
	struct kme_link_resp r = { 0 };
	struct curl_slist *hdr = NULL;
	char url[400], *json = NULL;
	cJSON *reply = NULL;
	long status = 0;
	uint32_t delay;
	CURLcode cc;
	CURL *c;

	pthread_mutex_lock(&p->lock);
	delay = p->f_delay_ms;
	pthread_mutex_unlock(&p->lock);
	if (delay > 0)	/* the "slow" fault: added one-way latency */
		kme_link_sleep_ms(delay);
	c = kme_link_handle(p->client);
	json = cJSON_PrintUnformatted(body);
	if (c == NULL || json == NULL) {
		snprintf(why, cap, "out of memory");
		if (c != NULL)
			kme_link_release(p->client, c, false);
		goto out;
	}
	snprintf(url, sizeof(url), "%s%s", p->client->base, op);
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	kme_link_release(p->client, c, cc == CURLE_OK);
	if (cc != CURLE_OK) {
		snprintf(why, cap, "KME link to %s failed: %s", p->cfg->id,
			 cc == CURLE_OPERATION_TIMEDOUT ? "timed out" :
			 curl_easy_strerror(cc));
		goto out;
	}
	reply = r.len > 0 ? cJSON_ParseWithLength(r.buf, r.len) : NULL;
	if (status != 200 || !cJSON_IsObject(reply)) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(reply, "message");
		snprintf(why, cap, "KME link to %s: peer answered %ld: %s",
			 p->cfg->id, status,
			 cJSON_IsString(m) ? m->valuestring : "no message");
		cJSON_Delete(reply);
		reply = NULL;
	}
out:
	if (reply != NULL)
		atomic_fetch_add(&k->metrics.link_calls_ok, 1);
	else
		atomic_fetch_add(&k->metrics.link_calls_failed, 1);
	curl_slist_free_all(hdr);
	if (json != NULL) {
		secmem_wipe(json, strlen(json));
		cJSON_free(json);
	}
	secmem_free(r.buf);
	return reply;
}
