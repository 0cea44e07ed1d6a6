/*
 * bench_skip_relay.c — the cheapest relay made of skip-proxy's parts, for
 * bench/bench_skip: what any key provider that makes one upstream call per
 * request costs on this machine, with no protocol work of its own.
 *
 * It reads a skip-proxy configuration and serves as skip-proxy does: the
 * same router-side SSL_CTX (skip_tls.c: TLS 1.3 external PSK,
 * TLS_AES_256_GCM_SHA384), lib/tls_front in request mode with the same
 * workers and event loops, and one lib/https_client (kept-alive mTLS, the
 * same certificate, CA and pool) to the KME.  Each request's target is
 * sent verbatim as a GET to kme_url, and the KME's status and body go back
 * unchanged: no JSON, no translation, no log line, no metrics.  Key bytes
 * pass through, so the buffers are wiped as skip-proxy wipes them
 * (lib/secmem).  Not installed: a bench tool.
 */
#include "skip.h"

#include "https_client.h"
#include "log.h"
#include "secmem.h"
#include "tls_front.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELAY_URL_MAX 2048

struct relay {
	struct skip_conf conf;
	struct https_client *kme;
};

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: bench_skip_relay -f skip-proxy.conf -p port\n"
	    "Relays each request's target verbatim to the configured KME "
	    "(ETSI 014)\nand answers with the KME's status and body, over "
	    "skip-proxy's TLS front.\nA benchmark tool (bench/bench_skip).\n");
}

/* tls_front_handler_fn: the target, as a GET on the KME; the answer as is. */
static void
relay_serve(const struct tls_front_req *fr, struct tls_front_resp *out,
	    void *arg)
{
	struct relay *r = arg;
	const char *target = fr->http->target;
	struct https_resp kr = { 0 };
	char url[RELAY_URL_MAX];
	int n;

	out->content_type = "application/json";
	n = snprintf(url, sizeof(url), "%s%s", r->conf.kme_url, target);
	if (strcmp(fr->http->method, "GET") != 0 || target[0] != '/' || n < 0 ||
	    (size_t)n >= sizeof(url)) {
		out->status = 400;
		return;
	}
	if (https_client_call(r->kme, url, NULL, &kr) == -1) {
		out->status = 502;
	} else {
		out->status = (int)kr.status;
		/* The body holds keys: the front wipes it, as kr's is wiped. */
		if (kr.len > 0 && (out->body = malloc(kr.len)) != NULL) {
			memcpy(out->body, kr.body, kr.len);
			out->len = kr.len;
		} else if (kr.len > 0) {
			out->status = 500;
			out->close = true;
		}
	}
	https_resp_clear(&kr);
}

static int
relay_port(const char *s, uint16_t *port)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct relay r;
	const char *path = NULL;
	struct skip_psk_set *psks = NULL;
	struct tls_front *tf = NULL;
	struct tls_front_cfg tc = { 0 };
	struct https_client_cfg kc;
	SSL_CTX *ctx = NULL;
	uint16_t port = 0;
	sigset_t sigs;
	int ch, sig = 0, rc = 1;

	secmem_init(); /* before OpenSSL's first allocation, as skip-proxy */
	log_init("bench_skip_relay", LOG_DEST_STDERR, LOG_FMT_TEXT,
		 LOG_LVL_INFO);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	while ((ch = getopt(argc, argv, "f:p:h")) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'p':
			if (relay_port(optarg, &port) == -1) {
				fprintf(stderr,
					"bench_skip_relay: -p '%s' is not a "
					"port (1..65535)\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || port == 0 || optind != argc) {
		fprintf(stderr, "bench_skip_relay: %s\n",
			optind != argc ? "unexpected argument"
				       : "-f and -p are required");
		usage(stderr);
		return 2;
	}
	skip_conf_defaults(&r.conf);
	if (skip_conf_load(&r.conf, path) == -1) {
		log_err("%s: configuration refused", path);
		return 1;
	}
	if (r.conf.tls_mode != SKIP_TLS_PSK) {
		log_err("%s: the relay serves TLS-PSK only", path);
		return 1;
	}
	if ((psks = skip_psk_load(r.conf.psk_file)) == NULL ||
	    (ctx = skip_tls_psk_ctx_new(&r.conf, psks)) == NULL)
		goto out;
	/* skip-proxy's KME client, without etsi014_client on top. */
	skip_conf_kme_client(&r.conf, &kc);
	if ((r.kme = https_client_new(&kc)) == NULL)
		goto out;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* skip-proxy's front, with the relay as its handler. */
	skip_tls_front_cfg(&r.conf, ctx, &tc);
	tc.name = "relay";
	tc.handler = relay_serve;
	tc.handler_arg = &r;
	if ((tf = tls_front_new(&tc)) == NULL ||
	    tls_front_listen(tf, r.conf.listen_addr, port) == -1 ||
	    tls_front_start(tf) == -1)
		goto out;
	log_info("relay on %s port %u to KME %s", r.conf.listen_addr, port,
		 r.conf.kme_url);
	while (sig != SIGTERM && sig != SIGINT)
		if (sigwait(&sigs, &sig) != 0)
			break;
	rc = 0;
out:
	if (rc != 0)
		log_err("%s: relay not started", path);
	tls_front_free(tf); /* before the client its handler calls */
	https_client_free(r.kme);
	SSL_CTX_free(ctx);
	skip_psk_free(psks);
	return rc;
}
