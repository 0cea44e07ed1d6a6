/*
 * https_client.c — libcurl easy handles in a pool, mutual TLS.
 */
#include "https_client.h"

#include "log.h"
#include "secmem.h"
#include "util.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HTTPS_POOL_MAX 64
#define HTTPS_PATH_MAX 1024

struct https_client {
	char ca_file[HTTPS_PATH_MAX];
	char cert_file[HTTPS_PATH_MAX];
	char key_file[HTTPS_PATH_MAX];
	char peer_name[256]; /* "" when the URL's host is checked */
	struct https_client_cfg cfg; /* its strings point above */

	struct curl_slist *json_hdr; /* Content-Type of POSTs; read-only */

	pthread_mutex_t lock;
	CURL *idle[HTTPS_POOL_MAX];
	size_t n_idle;
};

static void https_client_handle_free(CURL *h);

struct https_client *
https_client_new(const struct https_client_cfg *cfg)
{
	struct https_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (str_copy(c->ca_file, sizeof(c->ca_file), cfg->ca_file) == -1 ||
	    str_copy(c->cert_file, sizeof(c->cert_file), cfg->cert_file) ==
		-1 ||
	    str_copy(c->key_file, sizeof(c->key_file), cfg->key_file) == -1 ||
	    str_copy(c->peer_name, sizeof(c->peer_name),
		     cfg->peer_name != NULL ? cfg->peer_name : "") == -1) {
		log_warnx("HTTPS client: a file name or peer name is too long");
		free(c);
		return NULL;
	}
	c->cfg = *cfg;
	c->cfg.ca_file = c->ca_file;
	c->cfg.cert_file = c->cert_file;
	c->cfg.key_file = c->key_file;
	c->cfg.peer_name = c->peer_name[0] != '\0' ? c->peer_name : NULL;
	if (c->cfg.pool == 0)
		c->cfg.pool = 1;
	if (c->cfg.pool > HTTPS_POOL_MAX)
		c->cfg.pool = HTTPS_POOL_MAX;
	/* "Expect:" off: libcurl would hold a larger body back for a round
	 * trip ("100 Continue") that these small JSON messages do not need. */
	c->json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (c->json_hdr != NULL) {
		struct curl_slist *l =
		    curl_slist_append(c->json_hdr, "Expect:");

		if (l == NULL)
			curl_slist_free_all(c->json_hdr);
		c->json_hdr = l;
	}
	if (c->json_hdr == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void
https_client_free(struct https_client *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_idle; i++)
		https_client_handle_free(c->idle[i]);
	curl_slist_free_all(c->json_hdr);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void
https_resp_clear(struct https_resp *r)
{
	secmem_free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
}

struct https_sink {
	struct https_resp *r;
	size_t max;
	bool overflow;
};

static size_t
https_client_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct https_sink *s = arg;
	struct https_resp *r = s->r;
	size_t n = size * nmemb;

	if (n > s->max - r->len) {
		s->overflow = true;
		return 0; /* aborts the transfer */
	}
	/* Not realloc(): it would free a moved block unwiped. */
	if (secmem_reserve(&r->body, &r->cap, r->len + n + 1) == -1)
		return 0;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* The certificate must name peer_name (CN or SAN), not the address. */
static CURLcode
https_client_sslctx(CURL *h, void *sslctx, void *arg)
{
	struct https_client *c = arg;

	(void)h;
	if (X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(sslctx),
					c->peer_name, 0) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

/*
 * Each easy handle runs in a multi handle of its own (CURLOPT_PRIVATE),
 * which holds its kept-alive connection between calls.
 */
static void
https_client_handle_free(CURL *h)
{
	CURLM *m = NULL;

	if (h == NULL)
		return;
	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&m);
	curl_multi_cleanup(m);
	curl_easy_cleanup(h);
}

static CURL *
https_client_handle_new(struct https_client *c)
{
	const struct https_client_cfg *cfg = &c->cfg;
	CURL *h = curl_easy_init();
	CURLM *m = curl_multi_init();

	if (h == NULL || m == NULL) {
		curl_multi_cleanup(m);
		curl_easy_cleanup(h);
		return NULL;
	}
	curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)m);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	/* Straight to the server: no proxy from the environment, and no
	 * look-up of the *_proxy variables on every call. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
	curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
	curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	if (cfg->peer_name != NULL) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION,
				 https_client_sslctx);
		curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, c);
	} else {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST,
				 cfg->verify_host ? 2L : 0L);
	}
	if (cfg->timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	if (cfg->connect_timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)cfg->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, https_client_write);
	return h;
}

static CURL *
https_client_acquire(struct https_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->n_idle > 0)
		h = c->idle[--c->n_idle];
	pthread_mutex_unlock(&c->lock);
	return h != NULL ? h : https_client_handle_new(c);
}

/* A handle whose call failed may hold a broken connection: dropped. */
static void
https_client_release(struct https_client *c, CURL *h, bool ok)
{
	pthread_mutex_lock(&c->lock);
	if (ok && c->n_idle < c->cfg.pool) {
		c->idle[c->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	https_client_handle_free(h);
}

/*
 * curl_easy_perform() on the handle's own multi handle, minus one system
 * call: curl_easy_perform() polls (with a zero timeout) before it first
 * drives the transfer; here the transfer starts at once, and only waits
 * when libcurl has to.
 */
static CURLcode
https_client_perform(CURL *h)
{
	CURLcode cc = CURLE_FAILED_INIT;
	CURLMcode mc;
	CURLMsg *msg;
	CURLM *m = NULL;
	int running = 0, left;

	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&m);
	if (m == NULL || curl_multi_add_handle(m, h) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	for (;;) {
		long to = -1;

		mc = curl_multi_perform(m, &running);
		if (mc != CURLM_OK || running == 0)
			break;
		if (curl_multi_timeout(m, &to) != CURLM_OK || to < 0 ||
		    to > 1000)
			to = 1000;
		if (curl_multi_poll(m, NULL, 0, (int)to, NULL) != CURLM_OK)
			break;
	}
	while ((msg = curl_multi_info_read(m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
			cc = msg->data.result;
	curl_multi_remove_handle(m, h);
	return cc;
}

/* True when the failure proves the server never saw the request. */
static bool
https_client_never_sent(CURL *h, CURLcode cc)
{
	curl_off_t pre = 0;

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		/* Timed out before the request went out. */
		curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
		return pre == 0;
	default:
		return false;
	}
}

static void
https_client_sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1)
		;
}

int
https_client_call(struct https_client *c, const char *url, const char *json,
		  struct https_resp *r)
{
	struct https_sink sink = { .r = r, .max = c->cfg.body_max };
	char detail[CURL_ERROR_SIZE];
	CURLcode cc = CURLE_OK;
	CURL *h;

	https_resp_clear(r);
	r->fail = HTTPS_OK;
	r->status = 0;
	r->attempts = 0;
	r->err[0] = '\0';
	h = https_client_acquire(c);
	if (h == NULL) {
		r->fail = HTTPS_LOCAL;
		snprintf(r->err, sizeof(r->err),
			 "cannot create an HTTP client");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER,
			 json != NULL ? c->json_hdr : NULL);
	if (json != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	/* libcurl's detail, e.g. OpenSSL's certificate verify reason. */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
	for (;;) {
		detail[0] = '\0';
		r->len = 0;
		sink.overflow = false;
		r->attempts++;
		cc = https_client_perform(h);
		if (cc == CURLE_OK || r->attempts > c->cfg.retries ||
		    !https_client_never_sent(h, cc))
			break;
		log_debug("HTTPS %s: %s; retrying", url,
			  curl_easy_strerror(cc));
		https_client_sleep_ms(c->cfg.retry_delay_ms);
	}
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	https_client_release(c, h, cc == CURLE_OK);
	if (cc == CURLE_OK)
		return 0;
	if (sink.overflow) {
		r->fail = HTTPS_TOO_LARGE;
		snprintf(r->err, sizeof(r->err), "answer too large");
	} else {
		r->fail = HTTPS_UNREACHABLE;
		/* libcurl's detail is cut to leave room for its reason. */
		snprintf(r->err, sizeof(r->err), "%s%s%.200s%s",
			 cc == CURLE_OPERATION_TIMEDOUT
			     ? "timed out"
			     : curl_easy_strerror(cc),
			 detail[0] != '\0' ? " (" : "", detail,
			 detail[0] != '\0' ? ")" : "");
	}
	https_resp_clear(r);
	return -1;
}
