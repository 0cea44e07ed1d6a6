/*
 * bench_kme_load.c — ETSI 014 load client for bench/bench_kme.
 *
 * libcurl multi, client certificates, keep-alive.  Each flow owns two
 * connections: one as the master SAE (GET enc_keys at the first server)
 * and one as the slave SAE (GET dec_keys?key_ID=<the ID just received> at
 * the second).  Flows run back to back for the given time; the program
 * prints one JSON line: requests, pairs, errors, seconds, rps, p50_us,
 * p99_us.  The same client measures the bare responder (bench_kme_bare),
 * whose constant body carries a key_ID.
 *
 *   bench_kme_load ENC_URL DEC_URL_PREFIX CA CERT_M KEY_M CERT_S KEY_S
 *                  CONNECTIONS SECONDS
 *
 * BENCH_WARMUP_S=N in the environment: the first N seconds (connection
 * set-up, handshakes) are run but not measured; their errors are printed
 * as warmup_errors.
 */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct flow {
	CURL *enc, *dec;
	char body[4096];
	size_t len;
	uint64_t t0;
	char url[512];
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static size_t
on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct flow *f = arg;
	size_t n = sz * nm;

	if (f->len + n < sizeof(f->body)) {
		memcpy(f->body + f->len, p, n);
		f->len += n;
		f->body[f->len] = '\0';
	}
	return n;
}

static CURL *
handle(struct flow *f, const char *ca, const char *cert, const char *key)
{
	CURL *c = curl_easy_init();

	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_PRIVATE, f);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	return c;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *enc_url, *dec_prefix, *ca;
	uint64_t *lat, *lat_e, *lat_d, nlat = 0, ne = 0, nd = 0, cap = 1 << 22,
				       errors = 0, pairs = 0, start, end;
	uint64_t warm_end = 0, warm_errors = 0;
	struct flow *flows;
	CURLM *m;
	int nflows, seconds, running;

	if (argc != 10) {
		fprintf(stderr,
			"usage: %s ENC_URL DEC_URL_PREFIX CA CERT_M KEY_M "
			"CERT_S KEY_S CONNECTIONS SECONDS\n",
			argv[0]);
		return 2;
	}
	enc_url = argv[1];
	dec_prefix = argv[2];
	ca = argv[3];
	nflows = atoi(argv[8]) / 2;
	seconds = atoi(argv[9]);
	if (nflows < 1 || seconds < 1) {
		fprintf(
		    stderr,
		    "bench_kme_load: need CONNECTIONS >= 2 and SECONDS >= 1\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	lat = malloc(cap * sizeof(*lat));
	lat_e = malloc(cap * sizeof(*lat));
	lat_d = malloc(cap * sizeof(*lat));
	flows = calloc((size_t)nflows, sizeof(*flows));
	m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	for (int i = 0; i < nflows; i++) {
		struct flow *f = &flows[i];

		f->enc = handle(f, ca, argv[4], argv[5]);
		f->dec = handle(f, ca, argv[6], argv[7]);
		curl_easy_setopt(f->enc, CURLOPT_URL, enc_url);
		f->t0 = now_us();
		curl_multi_add_handle(m, f->enc);
	}
	start = now_us();
	if (getenv("BENCH_WARMUP_S") != NULL)
		warm_end =
		    start + (uint64_t)atoi(getenv("BENCH_WARMUP_S")) * 1000000u;
	end = (warm_end ? warm_end : start) + (uint64_t)seconds * 1000000u;
	for (;;) {
		CURLMsg *msg;
		int left;

		if (warm_end != 0 && now_us() >= warm_end) {
			/* The measured window starts now, every flow under way. */
			warm_errors = errors;
			nlat = ne = nd = errors = pairs = 0;
			start = warm_end;
			warm_end = 0;
		}

		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct flow *f;
			long code = 0;
			uint64_t t = now_us();

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&f);
			curl_easy_getinfo(msg->easy_handle,
					  CURLINFO_RESPONSE_CODE, &code);
			curl_multi_remove_handle(m, msg->easy_handle);
			if (nlat < cap) {
				lat[nlat++] = t - f->t0;
				/* each half apart: which server the tail is at */
				if (msg->easy_handle == f->enc)
					lat_e[ne++] = t - f->t0;
				else
					lat_d[nd++] = t - f->t0;
			}
			if (msg->data.result != CURLE_OK || code != 200)
				errors++;
			if (msg->easy_handle == f->enc &&
			    msg->data.result == CURLE_OK && code == 200) {
				const char *id =
				    strstr(f->body, "\"key_ID\":\"");
				if (id != NULL && strlen(id) >= 10 + 36) {
					snprintf(f->url, sizeof(f->url),
						 "%s%.36s", dec_prefix,
						 id + 10);
					curl_easy_setopt(f->dec, CURLOPT_URL,
							 f->url);
					f->len = 0;
					f->t0 = t;
					if (t < end)
						curl_multi_add_handle(m,
								      f->dec);
					continue;
				}
				errors++;
			}
			if (msg->easy_handle == f->dec && code == 200)
				pairs++;
			f->len = 0;
			f->t0 = t;
			if (t < end)
				curl_multi_add_handle(m, f->enc);
		}
		if (running == 0 && now_us() >= end)
			break;
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	{
		double secs = (double)(now_us() - start) / 1e6;
		qsort(lat, nlat, sizeof(*lat), cmp_u64);
		qsort(lat_e, ne, sizeof(*lat), cmp_u64);
		qsort(lat_d, nd, sizeof(*lat), cmp_u64);
		printf(
		    "{\"requests\": %llu, \"pairs\": %llu, \"errors\": %llu, "
		    "\"warmup_errors\": %llu, "
		    "\"seconds\": %.3f, \"rps\": %.1f, \"p50_us\": %llu, \"p99_us\": %llu, "
		    "\"p99_enc_us\": %llu, \"p99_dec_us\": %llu}\n",
		    (unsigned long long)nlat, (unsigned long long)pairs,
		    (unsigned long long)errors, (unsigned long long)warm_errors,
		    secs, (double)nlat / secs,
		    (unsigned long long)(nlat ? lat[nlat / 2] : 0),
		    (unsigned long long)(nlat ? lat[nlat * 99 / 100] : 0),
		    (unsigned long long)(ne ? lat_e[ne * 99 / 100] : 0),
		    (unsigned long long)(nd ? lat_d[nd * 99 / 100] : 0));
	}
	for (int i = 0; i < nflows; i++) {
		curl_easy_cleanup(flows[i].enc);
		curl_easy_cleanup(flows[i].dec);
	}
	curl_multi_cleanup(m);
	free(flows);
	free(lat);
	free(lat_e);
	free(lat_d);
	curl_global_cleanup();
	return 0;
}
