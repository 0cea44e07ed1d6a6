/*
 * bench_skip_client.c — load generator for bench/bench_skip.
 *
 * Times one key's life both ways against the same kme-sim pair:
 *   direct: ETSI 014 enc_keys at KME A as SAE_A, then dec_keys at KME B as
 *           SAE_B (lib/https_client, the client skip-proxy calls its KME
 *           with: client certificates, kept-alive connections);
 *   skip:   SKIP GET /key at skip-proxy A, then GET /key/{keyId} at
 *           skip-proxy B (TLS 1.3 external PSK, TLS_AES_256_GCM_SHA384,
 *           kept-alive connections; a minimal HTTP/1.1 client), to the
 *           skip-proxy pair with its key pool (the default);
 *   skip_nopool: the same to a skip-proxy pair with key_pool = 0 (one
 *           KME call per SKIP request);
 *   relay:  the direct mode's 014 requests over the SKIP mode's TLS-PSK
 *           connections, to bench_skip_relay A and B (a relay with no
 *           work of its own in front of each KME).
 * Latency: one client, batches of the modes interleaved so that load
 * from elsewhere hits all alike.  Rate: T threads, each mode in turn, in
 * slices of about a second (the same share of the time for each mode).
 * Prints lines "<mode> <op> p50 p99 p90 p99.9 max" (us), "<mode> rate
 * pairs_per_s", "<mode> calls N" (every request sent, retries too; relay
 * also "relay calls_a N" and "relay calls_b N", per relay) and "<mode>
 * client_cpu_us X" (this program's CPU per call of the mode, latency and
 * rate phases, getrusage of the threads that made the calls).  Rate
 * slices are framed by "rate begin S" and "<mode> rate_cpu S K" lines
 * (this process's CPU seconds so far, written at once; K keys in the
 * slice) for bench_skip to read the servers' CPU at the same moments.
 */
#include "encoding.h"
#include "https_client.h"
#include "skip_client.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *kme_a, *kme_b, *ca, *cert_a, *key_a, *cert_b, *key_b;
	int skip_a, skip_b;
	int relay_a, relay_b;
	int nopool_a, nopool_b;
	const char *id_a, *id_b; /* PSK identities */
	uint8_t psk_a[64], psk_b[64];
	size_t psk_a_len, psk_b_len;
	int n; /* pairs per mode for latency */
	double seconds; /* per mode for the rate */
	int threads;
};

static struct opts o;
enum mode {
	M_DIRECT,
	M_SKIP,
	M_RELAY,
	M_NOPOOL,
	M_N
};
static const char *const mode_name[M_N] = { "direct", "skip", "relay",
					    "skip_nopool" };
static atomic_ulong calls_direct, calls_skip, calls_relay_a, calls_relay_b,
    calls_nopool;
/* Client CPU spent in the timed calls of each mode, us. */
static atomic_ulong cpu_us[M_N];

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* CPU time of the calling thread (RUSAGE_THREAD) or process, us. */
static uint64_t
cpu_time_us(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_skip_client: %s\n", what);
	exit(1);
}

/* ---------------------------------------------------------- ETSI 014 direct */

static struct https_client *
client_for(const char *cert, const char *key)
{
	struct https_client_cfg cfg = {
		.ca_file = o.ca,
		.cert_file = cert,
		.key_file = key,
		.verify_host = true,
		.timeout_ms = 5000,
		.body_max = 8192,
		.pool = 1,
	};
	struct https_client *c = https_client_new(&cfg);

	if (c == NULL)
		die("cannot set up the ETSI 014 client");
	return c;
}

static int
direct_get(struct https_client *c, const char *url, struct https_resp *r,
	   long *status)
{
	atomic_fetch_add(&calls_direct, 1);
	if (https_client_call(c, url, NULL, r) == -1)
		return -1;
	*status = r->status;
	return 0;
}

/* First key's key_ID and key (base64) out of a Key container. */
static int
container_first(const char *json, char *id, size_t idcap, char *key,
		size_t keycap)
{
	cJSON *r = cJSON_Parse(json),
	      *k = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "keys"), 0);
	cJSON *i = cJSON_GetObjectItem(k, "key_ID"),
	      *v = cJSON_GetObjectItem(k, "key");
	int rc = -1;

	if (cJSON_IsString(i) && cJSON_IsString(v)) {
		snprintf(id, idcap, "%s", i->valuestring);
		snprintf(key, keycap, "%s", v->valuestring);
		rc = 0;
	}
	cJSON_Delete(r);
	return rc;
}

struct direct {
	struct https_client *a, *b;
	struct https_resp r;
};

/* One key: enc at A, dec at B.  Latencies in us; retries counted. */
static int
direct_pair(struct direct *d, uint64_t *t_enc, uint64_t *t_dec,
	    unsigned *retries)
{
	char url[512], id[64], key_a[128], id_b[64], key_b[128];
	uint64_t t0;
	long st = 0;

	snprintf(url, sizeof(url),
		 "%s/api/v1/keys/SAE_B/enc_keys?number=1&size=256", o.kme_a);
	t0 = now_us();
	if (direct_get(d->a, url, &d->r, &st) < 0 || st != 200 ||
	    d->r.body == NULL ||
	    container_first(d->r.body, id, sizeof(id), key_a, sizeof(key_a)) <
		0)
		return -1;
	*t_enc = now_us() - t0;
	snprintf(url, sizeof(url), "%s/api/v1/keys/SAE_A/dec_keys?key_ID=%s",
		 o.kme_b, id);
	for (;;) {
		t0 = now_us();
		if (direct_get(d->b, url, &d->r, &st) < 0)
			return -1;
		if (st == 200)
			break;
		if (++*retries > 1000)
			return -1;
		usleep(200); /* the KME link has not carried it yet */
	}
	*t_dec = now_us() - t0;
	if (d->r.body == NULL ||
	    container_first(d->r.body, id_b, sizeof(id_b), key_b,
			    sizeof(key_b)) < 0 ||
	    strcmp(key_a, key_b) != 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------- SKIP client */

struct skipconn {
	struct skip_client *cl;
	SSL *ssl;
	atomic_ulong *calls; /* requests sent on this connection's mode */
	char port[16];
	char buf[8192];
};

/* TLS 1.3 PSK to a skip-proxy on loopback (lib/skip_client.c). */
static void
skip_init(struct skipconn *c, int port, const char *id, const uint8_t *psk,
	  size_t len, atomic_ulong *calls)
{
	struct skip_client_cfg cfg = {
		.host = "127.0.0.1",
		.port = c->port,
		.identity = id,
		.psk = psk,
		.psk_len = len,
		.tls_version = 13,
	};
	char why[256];

	memset(c, 0, sizeof(*c));
	c->calls = calls;
	snprintf(c->port, sizeof(c->port), "%d", port);
	if ((c->cl = skip_client_new(&cfg)) == NULL ||
	    (c->ssl = skip_client_connect(c->cl, why, sizeof(why))) == NULL)
		die("cannot connect to a skip-proxy with TLS 1.3 PSK");
	/* A record per read(), as the direct mode's lib/https_client reads. */
	SSL_set_read_ahead(c->ssl, 1);
}

static void
skip_close(struct skipconn *c)
{
	skip_client_close(c->ssl);
	skip_client_free(c->cl);
}

/* GET target on the kept-alive session; returns the HTTP status, body in buf. */
static int
skip_get(struct skipconn *c, const char *target, const char **body)
{
	char req[512];
	size_t have = 0, need = 0;
	char *hdr_end = NULL;
	int n;

	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: kp\r\n\r\n",
		     target);
	atomic_fetch_add(c->calls, 1);
	if (SSL_write(c->ssl, req, n) != n)
		return -1;
	for (;;) {
		n = SSL_read(c->ssl, c->buf + have,
			     (int)(sizeof(c->buf) - 1 - have));
		if (n <= 0)
			return -1;
		have += (size_t)n;
		c->buf[have] = '\0';
		if (hdr_end == NULL &&
		    (hdr_end = strstr(c->buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(c->buf, "Content-Length:");
			if (cl == NULL)
				return -1;
			need = (size_t)(hdr_end + 4 - c->buf) +
			       strtoul(cl + 15, NULL, 10);
		}
		if (hdr_end != NULL && have >= need)
			break;
	}
	*body = hdr_end + 4;
	return atoi(c->buf + 9);
}

static int
json_str(const char *body, const char *field, char *out, size_t cap)
{
	char pat[32];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", field);
	p = strstr(body, pat);
	if (p == NULL)
		return -1;
	p += strlen(pat);
	e = strchr(p, '"');
	if (e == NULL || (size_t)(e - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

struct skippair {
	struct skipconn a, b;
};

/*
 * The second call of a key, retried while the KME link has not carried
 * the key yet (answer retry_on, or any non-200 answer when 0); *t = the
 * last attempt's latency.
 */
static int
get_second(struct skipconn *c, const char *target, int retry_on,
	   const char **body, uint64_t *t, unsigned *retries)
{
	for (;;) {
		uint64_t t0 = now_us();
		int st = skip_get(c, target, body);

		*t = now_us() - t0;
		if (st == 200)
			return 0;
		if (st <= 0 || (retry_on != 0 && st != retry_on) ||
		    ++*retries > 1000)
			return -1;
		usleep(200);
	}
}

static int
skip_pair(struct skippair *s, uint64_t *t_key, uint64_t *t_get,
	  unsigned *retries)
{
	char target[256], id[80], key_a[300], key_b[300];
	const char *body;
	uint64_t t0 = now_us();

	if (skip_get(&s->a, "/key?remoteSystemID=SAE_B", &body) != 200 ||
	    json_str(body, "keyId", id, sizeof(id)) < 0 ||
	    json_str(body, "key", key_a, sizeof(key_a)) < 0)
		return -1;
	*t_key = now_us() - t0;
	snprintf(target, sizeof(target), "/key/%s?remoteSystemID=SAE_A", id);
	if (get_second(&s->b, target, 400, &body, t_get, retries) < 0)
		return -1;
	if (json_str(body, "key", key_b, sizeof(key_b)) < 0 ||
	    strcmp(key_a, key_b) != 0)
		return -1;
	return 0;
}

/* ----------------------------------------------- ETSI 014 through a relay */

/* The direct mode's requests, through relay A and relay B (TLS-PSK). */
static int
relay_pair(struct skippair *s, uint64_t *t_enc, uint64_t *t_dec,
	   unsigned *retries)
{
	char target[256], id[64], key_a[128], id_b[64], key_b[128];
	const char *body;
	uint64_t t0 = now_us();

	if (skip_get(&s->a, "/api/v1/keys/SAE_B/enc_keys?number=1&size=256",
		     &body) != 200 ||
	    container_first(body, id, sizeof(id), key_a, sizeof(key_a)) < 0)
		return -1;
	*t_enc = now_us() - t0;
	snprintf(target, sizeof(target),
		 "/api/v1/keys/SAE_A/dec_keys?key_ID=%s", id);
	if (get_second(&s->b, target, 0, &body, t_dec, retries) < 0)
		return -1;
	if (container_first(body, id_b, sizeof(id_b), key_b, sizeof(key_b)) <
		0 ||
	    strcmp(key_a, key_b) != 0)
		return -1;
	return 0;
}

static void
pair_open(enum mode m, struct direct *d, struct skippair *s)
{
	if (m == M_DIRECT) {
		memset(d, 0, sizeof(*d));
		d->a = client_for(o.cert_a, o.key_a);
		d->b = client_for(o.cert_b, o.key_b);
	} else if (m == M_SKIP) {
		skip_init(&s->a, o.skip_a, o.id_a, o.psk_a, o.psk_a_len,
			  &calls_skip);
		skip_init(&s->b, o.skip_b, o.id_b, o.psk_b, o.psk_b_len,
			  &calls_skip);
	} else if (m == M_NOPOOL) {
		skip_init(&s->a, o.nopool_a, o.id_a, o.psk_a, o.psk_a_len,
			  &calls_nopool);
		skip_init(&s->b, o.nopool_b, o.id_b, o.psk_b, o.psk_b_len,
			  &calls_nopool);
	} else {
		skip_init(&s->a, o.relay_a, o.id_a, o.psk_a, o.psk_a_len,
			  &calls_relay_a);
		skip_init(&s->b, o.relay_b, o.id_b, o.psk_b, o.psk_b_len,
			  &calls_relay_b);
	}
}

static void
pair_close(enum mode m, struct direct *d, struct skippair *s)
{
	if (m == M_DIRECT) {
		https_resp_clear(&d->r);
		https_client_free(d->a);
		https_client_free(d->b);
	} else {
		skip_close(&s->a);
		skip_close(&s->b);
	}
}

static int
pair_run(enum mode m, struct direct *d, struct skippair *s, uint64_t *t1,
	 uint64_t *t2, unsigned *retries)
{
	return m == M_DIRECT		      ? direct_pair(d, t1, t2, retries)
	       : m == M_SKIP || m == M_NOPOOL ? skip_pair(s, t1, t2, retries)
					      : relay_pair(s, t1, t2, retries);
}

static unsigned long
mode_calls(enum mode m)
{
	return m == M_DIRECT ? atomic_load(&calls_direct)
	       : m == M_SKIP ? atomic_load(&calls_skip)
	       : m == M_NOPOOL
		   ? atomic_load(&calls_nopool)
		   : atomic_load(&calls_relay_a) + atomic_load(&calls_relay_b);
}

/* ------------------------------------------------------------------ driver */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *mode, const char *op, uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	/* p50 p99, then p90 p99.9 max for the curious. */
	printf("%s %s %llu %llu %llu %llu %llu\n", mode, op,
	       (unsigned long long)v[n / 2],
	       (unsigned long long)v[(n * 99) / 100],
	       (unsigned long long)v[(n * 9) / 10],
	       (unsigned long long)v[(n * 999) / 1000],
	       (unsigned long long)v[n - 1]);
}

struct rate_arg {
	enum mode mode;
	atomic_ulong *pairs;
	uint64_t until;
	bool failed;
};

static void *
rate_thread(void *arg)
{
	struct rate_arg *r = arg;
	struct direct d;
	struct skippair s;
	uint64_t t1, t2, cpu0;
	unsigned retries = 0;

	pair_open(r->mode, &d, &s);
	cpu0 = cpu_time_us(RUSAGE_THREAD);
	while (now_us() < r->until) {
		if (pair_run(r->mode, &d, &s, &t1, &t2, &retries) < 0) {
			r->failed = true;
			break;
		}
		atomic_fetch_add(r->pairs, 1);
	}
	atomic_fetch_add(&cpu_us[r->mode], cpu_time_us(RUSAGE_THREAD) - cpu0);
	pair_close(r->mode, &d, &s);
	return NULL;
}

/* Keys made by o.threads threads in seconds; *us = the time it took. */
static unsigned long
measure_rate(enum mode m, double seconds, uint64_t *us)
{
	pthread_t th[16];
	struct rate_arg ra[16];
	atomic_ulong pairs = 0;
	uint64_t t0 = now_us();

	for (int i = 0; i < o.threads; i++) {
		ra[i] =
		    (struct rate_arg){ m, &pairs,
				       t0 + (uint64_t)(seconds * 1e6), false };
		pthread_create(&th[i], NULL, rate_thread, &ra[i]);
	}
	for (int i = 0; i < o.threads; i++) {
		pthread_join(th[i], NULL);
		if (ra[i].failed) {
			fprintf(stderr,
				"bench_skip_client: a %s pair failed "
				"under load\n",
				mode_name[m]);
			exit(1);
		}
	}
	*us = now_us() - t0;
	return atomic_load(&pairs);
}

static void
parse_args(int argc, char **argv)
{
	if (argc != 20)
		die("usage: kme_a kme_b ca cert_a key_a cert_b key_b skip_a skip_b "
		    "id_a psk_a id_b psk_b n seconds:threads relay_a relay_b "
		    "nopool_a nopool_b");
	o.kme_a = argv[1];
	o.kme_b = argv[2];
	o.ca = argv[3];
	o.cert_a = argv[4];
	o.key_a = argv[5];
	o.cert_b = argv[6];
	o.key_b = argv[7];
	o.skip_a = atoi(argv[8]);
	o.skip_b = atoi(argv[9]);
	o.id_a = argv[10];
	o.id_b = argv[12];
	if (hex_decode(o.psk_a, sizeof(o.psk_a), argv[11], strlen(argv[11])) <=
		0 ||
	    hex_decode(o.psk_b, sizeof(o.psk_b), argv[13], strlen(argv[13])) <=
		0)
		die("bad PSK hex");
	o.psk_a_len = strlen(argv[11]) / 2;
	o.psk_b_len = strlen(argv[13]) / 2;
	o.n = atoi(argv[14]);
	if (sscanf(argv[15], "%lf:%d", &o.seconds, &o.threads) != 2 ||
	    o.threads < 1 || o.threads > 16 || o.n < 100)
		die("bad n or seconds:threads");
	o.relay_a = atoi(argv[16]);
	o.relay_b = atoi(argv[17]);
	o.nopool_a = atoi(argv[18]);
	o.nopool_b = atoi(argv[19]);
	if (o.skip_a <= 0 || o.skip_b <= 0 || o.relay_a <= 0 ||
	    o.relay_b <= 0 || o.nopool_a <= 0 || o.nopool_b <= 0)
		die("bad port");
}

int
main(int argc, char **argv)
{
	uint64_t *t1[M_N], *t2[M_N], *tp[M_N];
	struct direct d[M_N];
	struct skippair s[M_N];
	unsigned retries[M_N] = { 0 };
	unsigned long warm[M_N], keys[M_N] = { 0 };
	uint64_t rate_us[M_N] = { 0 };
	int rounds;
	int batch = 50, done[M_N] = { 0 };
	bool more = true;

	parse_args(argc, argv);
	rounds = o.seconds < 1.0 ? 1 : (int)(o.seconds + 0.5);
	for (int m = 0; m < M_N; m++) {
		t1[m] = calloc((size_t)o.n, 8);
		t2[m] = calloc((size_t)o.n, 8);
		tp[m] = calloc((size_t)o.n, 8);
		if (t1[m] == NULL || t2[m] == NULL || tp[m] == NULL)
			die("out of memory");
		pair_open((enum mode)m, &d[m], &s[m]);
	}
	/* Warm-up: connections, TLS sessions, caches. */
	for (int w = 0; w < 50; w++)
		for (int m = 0; m < M_N; m++) {
			uint64_t a, b;
			if (pair_run((enum mode)m, &d[m], &s[m], &a, &b,
				     &retries[m]) < 0)
				die("warm-up pair failed");
		}
	for (int m = 0; m < M_N; m++) {
		retries[m] = 0;
		warm[m] = mode_calls((enum mode)m); /* not in cpu_us */
	}
	while (more) {
		more = false;
		for (int m = 0; m < M_N; m++) {
			uint64_t cpu0 = cpu_time_us(RUSAGE_THREAD);

			for (int k = 0; k < batch && done[m] < o.n;
			     k++, done[m]++) {
				int i = done[m];

				if (pair_run((enum mode)m, &d[m], &s[m],
					     &t1[m][i], &t2[m][i],
					     &retries[m]) < 0) {
					fprintf(stderr,
						"bench_skip_client: %s pair "
						"failed\n",
						mode_name[m]);
					exit(1);
				}
				tp[m][i] = t1[m][i] + t2[m][i];
			}
			atomic_fetch_add(&cpu_us[m],
					 cpu_time_us(RUSAGE_THREAD) - cpu0);
			more |= done[m] < o.n;
		}
	}
	for (int m = 0; m < M_N; m++) {
		report(mode_name[m], "key", t1[m], o.n);
		report(mode_name[m], "key_by_id", t2[m], o.n);
		report(mode_name[m], "pair", tp[m], o.n);
	}
	for (int m = 0; m < M_N; m++)
		printf("%s retries %u\n", mode_name[m], retries[m]);
	for (int m = 0; m < M_N; m++)
		pair_close((enum mode)m, &d[m], &s[m]);
	/* Rate: the modes in turn, in slices of about a second each, so that
	 * load from elsewhere that comes and goes hits all modes alike. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("rate begin %.6f\n", (double)cpu_time_us(RUSAGE_SELF) / 1e6);
	for (int r = 0; r < rounds; r++)
		for (int m = 0; m < M_N; m++) {
			uint64_t us;
			unsigned long k =
			    measure_rate((enum mode)m, o.seconds / rounds, &us);

			keys[m] += k;
			rate_us[m] += us;
			printf("%s rate_cpu %.6f %lu\n", mode_name[m],
			       (double)cpu_time_us(RUSAGE_SELF) / 1e6, k);
		}
	for (int m = 0; m < M_N; m++)
		printf("%s rate %.1f\n", mode_name[m],
		       (double)keys[m] / ((double)rate_us[m] / 1e6));
	printf("direct calls %lu\nskip calls %lu\nrelay calls %lu\n"
	       "skip_nopool calls %lu\n",
	       atomic_load(&calls_direct), atomic_load(&calls_skip),
	       mode_calls(M_RELAY), mode_calls(M_NOPOOL));
	printf("relay calls_a %lu\nrelay calls_b %lu\n",
	       atomic_load(&calls_relay_a), atomic_load(&calls_relay_b));
	for (int m = 0; m < M_N; m++)
		printf("%s client_cpu_us %.1f\n", mode_name[m],
		       (double)atomic_load(&cpu_us[m]) /
			   (double)(mode_calls((enum mode)m) - warm[m]));
	for (int m = 0; m < M_N; m++) {
		free(t1[m]);
		free(t2[m]);
		free(tp[m]);
	}
	return 0;
}
