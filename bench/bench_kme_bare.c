/*
 * bench_kme_bare.c — the reference of bench/bench_kme: a bare HTTPS
 * responder on kme-sim's own TLS and HTTP stack (lib/tls_front with the
 * SSL_CTX from tls_server_ctx_new, libmicrohttpd with the same flags and
 * thread pool) answering every request with one constant ETSI 014 Key
 * container.  What kme-sim adds on top is the 014 logic, the KME link and
 * the SQLite store.
 *
 *   bench_kme_bare CERT KEY CLIENT_CA PORT THREADS
 * Runs until SIGTERM/SIGINT.
 */
#include "log.h"
#include "tls_front.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char body[] =
    "{\"keys\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\","
    "\"key\":\"wHHVxRwDJs3/bXd38GHP3oe4svTuRpZS0yCC7x4Ly+s=\"}]}";

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload,
	size_t *upload_size, void **con_cls)
{
	static int started;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	if (*con_cls == NULL) { /* answer on a later call: keep-alive */
		*con_cls = &started;
		return MHD_YES;
	}
	*upload_size = 0;
	r = MHD_create_response_from_buffer(
	    sizeof(body) - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

int
main(int argc, char **argv)
{
	struct tls_front_cfg tc = { 0 };
	struct MHD_Daemon *mhd;
	struct tls_front *tf;
	SSL_CTX *ctx;
	sigset_t sigs;
	int sig;

	if (argc != 6) {
		fprintf(stderr, "usage: %s CERT KEY CLIENT_CA PORT THREADS\n",
			argv[0]);
		return 2;
	}
	log_init("bench_kme_bare", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_WARN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	ctx = tls_server_ctx_new(argv[1], argv[2], argv[3]);
	if (ctx == NULL)
		return 1;
	mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
				   MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL,
			       0, NULL, NULL, handler, NULL,
			       MHD_OPTION_THREAD_POOL_SIZE,
			       (unsigned)atoi(argv[5]),
			       MHD_OPTION_CONNECTION_LIMIT, 4096u,
			       MHD_OPTION_END);
	tc.ssl_ctx = ctx;
	tc.mhd = mhd;
	tc.peer_id = tls_peer_subject_cn;
	tc.name = "bare";
	/* The load comes from one address, up to 1,000 connections at once. */
	tc.max_conns = 4096;
	tc.max_per_source = 4096;
	tc.handshake_timeout_ms = 60000;
	tf = tls_front_new(&tc);
	if (mhd == NULL || tf == NULL ||
	    tls_front_listen(tf, "127.0.0.1", (uint16_t)atoi(argv[4])) < 0 ||
	    tls_front_start(tf) < 0)
		return 1;
	sigwait(&sigs, &sig);
	tls_front_free(tf);
	MHD_stop_daemon(mhd);
	SSL_CTX_free(ctx);
	return 0;
}
