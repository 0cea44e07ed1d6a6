/*
 * skip_kme.c — the ETSI GS QKD 014 client (clause 5.2 Get key, 5.3 Get key
 * with key IDs) over HTTPS with the SAE's client certificate.
 *
 * libcurl easy handles live in a small pool: a handle keeps its connection
 * (and TLS session) to the KME, so back-to-back requests skip the
 * handshake.  Only failures that prove the request never reached the KME
 * are retried, because both 014 calls consume a key (clause 5.2/5.3
 * post-conditions): a blind retry could burn a second one.
 */
#include "skip.h"

#include "encoding.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SKIP_KME_POOL 16
#define SKIP_KME_BODY_MAX (64 * 1024)

struct skip_kme {
	char url[1024];			/* without a trailing '/' */
	char ca_file[1024];
	char cert_file[1024];
	char key_file[1024];
	bool verify_host;
	uint64_t timeout_ms;
	uint64_t connect_timeout_ms;
	unsigned retries;
	uint64_t retry_delay_ms;

	pthread_mutex_t lock;
	CURL *idle[SKIP_KME_POOL];
	size_t n_idle;
};

/* The response body; it carries key material, so it is wiped. */
struct skip_kme_body {
	char *p;
	size_t len;
	size_t cap;
	bool overflow;
};

struct skip_kme *
skip_kme_new(const struct skip_kme_cfg *cfg)
{
	struct skip_kme *kme = calloc(1, sizeof(*kme));
	size_t n;

	if (kme == NULL)
		return NULL;
	if (str_copy(kme->url, sizeof(kme->url), cfg->url) < 0 ||
	    str_copy(kme->ca_file, sizeof(kme->ca_file), cfg->ca_file) < 0 ||
	    str_copy(kme->cert_file, sizeof(kme->cert_file), cfg->cert_file) < 0 ||
	    str_copy(kme->key_file, sizeof(kme->key_file), cfg->key_file) < 0) {
		free(kme);
		return NULL;
	}
	n = strlen(kme->url);
	while (n > 0 && kme->url[n - 1] == '/')
		kme->url[--n] = '\0';
	kme->verify_host = cfg->verify_host;
	kme->timeout_ms = cfg->timeout_ms;
	kme->connect_timeout_ms = cfg->connect_timeout_ms;
	kme->retries = cfg->retries;
	kme->retry_delay_ms = cfg->retry_delay_ms;
	pthread_mutex_init(&kme->lock, NULL);
	return kme;
}

void
skip_kme_free(struct skip_kme *kme)
{
	if (kme == NULL)
		return;
	for (size_t i = 0; i < kme->n_idle; i++)
		curl_easy_cleanup(kme->idle[i]);
	pthread_mutex_destroy(&kme->lock);
	free(kme);
}

static size_t
skip_kme_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct skip_kme_body *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > SKIP_KME_BODY_MAX) {
		b->overflow = true;
		return 0;	/* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = malloc(ncap);
		if (np == NULL)
			return 0;
		if (b->len > 0)
			memcpy(np, b->p, b->len);
		secmem_free(b->p);
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static CURL *
skip_kme_handle_new(struct skip_kme *kme)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_SSLCERT, kme->cert_file);
	curl_easy_setopt(h, CURLOPT_SSLKEY, kme->key_file);
	curl_easy_setopt(h, CURLOPT_CAINFO, kme->ca_file);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, kme->verify_host ? 2L : 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)kme->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)kme->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, skip_kme_write);
	return h;
}

static CURL *
skip_kme_acquire(struct skip_kme *kme)
{
	CURL *h = NULL;

	pthread_mutex_lock(&kme->lock);
	if (kme->n_idle > 0)
		h = kme->idle[--kme->n_idle];
	pthread_mutex_unlock(&kme->lock);
	return h != NULL ? h : skip_kme_handle_new(kme);
}

static void
skip_kme_release(struct skip_kme *kme, CURL *h)
{
	pthread_mutex_lock(&kme->lock);
	if (kme->n_idle < SKIP_KME_POOL) {
		kme->idle[kme->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&kme->lock);
	if (h != NULL)
		curl_easy_cleanup(h);
}

/* True when the failure proves the KME never saw the request. */
static bool
skip_kme_retryable(CURL *h, CURLcode cc)
{
	curl_off_t pre = 0;

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
		return pre == 0;
	default:
		return false;
	}
}

static void
skip_kme_sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0)
		;
}

void
skip_kme_parse_error(const char *json, size_t len, char *msg, size_t cap)
{
	cJSON *root = len > 0 ? cJSON_ParseWithLength(json, len) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "message");

	if (cJSON_IsString(m) && m->valuestring[0] != '\0') {
		size_t i;

		/* Keep it printable: it goes into our own JSON and logs. */
		for (i = 0; m->valuestring[i] != '\0' && i + 1 < cap; i++) {
			unsigned char ch = (unsigned char)m->valuestring[i];
			msg[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		}
		msg[i] = '\0';
	} else {
		snprintf(msg, cap, "%s", len == 0 ? "no error message" :
			 "error body without a message");
	}
	cJSON_Delete(root);
}

/* Overwrites the base64 key strings before cJSON frees them. */
static void
skip_kme_wipe_keys(cJSON *keys)
{
	cJSON *k;

	cJSON_ArrayForEach(k, keys) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(k, "key");
		if (cJSON_IsString(v))
			secmem_wipe(v->valuestring, strlen(v->valuestring));
	}
}

int
skip_kme_parse_keys(const char *json, size_t len, struct skip_kme_key *out,
		    char *why, size_t whycap)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	const cJSON *k, *id, *key;
	int n, rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL || !cJSON_IsArray(keys)) {
		snprintf(why, whycap, "KME answer is not a 014 Key container");
		goto out;
	}
	if (cJSON_GetArraySize(keys) != 1) {
		snprintf(why, whycap, "KME returned %d keys, expected 1",
			 cJSON_GetArraySize(keys));
		goto out;
	}
	k = cJSON_GetArrayItem(keys, 0);
	id = cJSON_GetObjectItemCaseSensitive(k, "key_ID");
	key = cJSON_GetObjectItemCaseSensitive(k, "key");
	if (!cJSON_IsString(id) || uuid_parse(out->id, id->valuestring) < 0) {
		snprintf(why, whycap, "KME key_ID is not a UUID");
		goto out;
	}
	n = cJSON_IsString(key) ?
	    base64_decode(out->key, sizeof(out->key), key->valuestring,
			  strlen(key->valuestring)) : -1;
	if (n <= 0) {
		snprintf(why, whycap, "KME key is not base64 of 1..%d octets",
			 SKIP_KEY_MAX);
		goto out;
	}
	out->key_len = (size_t)n;
	rc = 0;
out:
	if (rc < 0)
		secmem_wipe(out, sizeof(*out));
	skip_kme_wipe_keys(keys);
	cJSON_Delete(root);
	return rc;
}

/* One 014 GET with bounded retries; parses a 200 into out. */
static int
skip_kme_get(struct skip_kme *kme, const char *url, struct skip_kme_key *out,
	     struct skip_kme_result *res)
{
	struct skip_kme_body body = { 0 };
	uint64_t t0 = mono_us();
	CURL *h = skip_kme_acquire(kme);
	CURLcode cc = CURLE_OK;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (h == NULL) {
		res->outcome = SKIP_KME_LOCAL;
		snprintf(res->msg, sizeof(res->msg), "cannot create an HTTP client");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	for (;;) {
		body.len = 0;
		body.overflow = false;
		res->attempts++;
		cc = curl_easy_perform(h);
		if (cc == CURLE_OK || res->attempts > kme->retries ||
		    !skip_kme_retryable(h, cc))
			break;
		log_debug("KME %s: %s; retrying", kme->url, curl_easy_strerror(cc));
		skip_kme_sleep_ms(kme->retry_delay_ms);
	}
	if (cc != CURLE_OK) {
		res->outcome = body.overflow ? SKIP_KME_BAD_ANSWER :
			       SKIP_KME_UNREACHABLE;
		snprintf(res->msg, sizeof(res->msg), "%s", body.overflow ?
			 "KME answer too large" : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->http_status);
	if (res->http_status != 200) {
		res->outcome = SKIP_KME_REFUSED;
		skip_kme_parse_error(body.p, body.len, res->msg, sizeof(res->msg));
		goto out;
	}
	if (skip_kme_parse_keys(body.p, body.len, out, res->msg,
				sizeof(res->msg)) < 0) {
		res->outcome = SKIP_KME_BAD_ANSWER;
		goto out;
	}
	res->outcome = SKIP_KME_OK;
	rc = 0;
out:
	res->latency_us = mono_us() - t0;
	if (h != NULL) {
		curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
		skip_kme_release(kme, h);
	}
	secmem_free(body.p);
	return rc;
}

/* Builds {url}/api/v1/keys/{SAE_ID}/{method}?{query}; SAE IDs are escaped. */
static int
skip_kme_url(struct skip_kme *kme, char *out, size_t cap, const char *sae,
	     const char *method, const char *query)
{
	char *esc = curl_easy_escape(NULL, sae, 0);
	int n;

	if (esc == NULL)
		return -1;
	n = snprintf(out, cap, "%s/api/v1/keys/%s/%s?%s", kme->url, esc, method,
		     query);
	curl_free(esc);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int
skip_kme_enc_key(struct skip_kme *kme, const char *slave, unsigned bits,
		 struct skip_kme_key *out, struct skip_kme_result *res)
{
	char url[2048], query[64];

	/* Clause 5.2: with only number and size, GET with URI parameters. */
	snprintf(query, sizeof(query), "number=1&size=%u", bits);
	if (skip_kme_url(kme, url, sizeof(url), slave, "enc_keys", query) < 0) {
		memset(res, 0, sizeof(*res));
		res->outcome = SKIP_KME_LOCAL;
		snprintf(res->msg, sizeof(res->msg), "KME URL too long");
		return -1;
	}
	if (skip_kme_get(kme, url, out, res) < 0)
		return -1;
	if (out->key_len * 8 != bits) {
		secmem_wipe(out, sizeof(*out));
		res->outcome = SKIP_KME_BAD_ANSWER;
		snprintf(res->msg, sizeof(res->msg), "KME returned a key of a "
			 "size other than the %u bits asked for", bits);
		return -1;
	}
	return 0;
}

int
skip_kme_dec_key(struct skip_kme *kme, const char *master,
		 const uint8_t id[16], struct skip_kme_key *out,
		 struct skip_kme_result *res)
{
	char url[2048], query[64], uuid[UUID_STR_LEN + 1];

	/* Clause 5.3: one key ID, no extensions: GET ?key_ID=. */
	uuid_format(uuid, id);
	snprintf(query, sizeof(query), "key_ID=%s", uuid);
	if (skip_kme_url(kme, url, sizeof(url), master, "dec_keys", query) < 0) {
		memset(res, 0, sizeof(*res));
		res->outcome = SKIP_KME_LOCAL;
		snprintf(res->msg, sizeof(res->msg), "KME URL too long");
		return -1;
	}
	if (skip_kme_get(kme, url, out, res) < 0)
		return -1;
	if (memcmp(out->id, id, 16) != 0) {
		secmem_wipe(out, sizeof(*out));
		res->outcome = SKIP_KME_BAD_ANSWER;
		snprintf(res->msg, sizeof(res->msg), "KME returned another key_ID "
			 "than the one asked for");
		return -1;
	}
	return 0;
}
