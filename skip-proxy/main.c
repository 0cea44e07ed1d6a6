/*
 * main.c — skip-proxy: command line, start-up checks, and the signal loop.
 * See skip-proxy(8).
 */
#include "skip.h"

#include "log.h"
#include "privdrop.h"
#include "sdnotify.h"
#include "secmem.h"
#include "tls_front.h"
#include "tlsfiles.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SKIP_DEFAULT_CONF "/etc/qkdlab/skip-proxy.conf"

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: skip-proxy [-djnv] [-f config]\n"
	    "SKIP key provider (draft-cisco-skip-02) backed by an ETSI GS QKD 014 KME.\n"
	    "\n"
	    "  -f config  configuration file (default " SKIP_DEFAULT_CONF ")\n"
	    "  -d         stay in the foreground and log to stderr\n"
	    "  -j         log JSON lines (key IDs, peers as fields)\n"
	    "  -n         check the configuration, PSK file and certificates, then exit\n"
	    "  -v         debug logging (never key bytes)\n"
	    "  -h, --help this text\n"
	    "  --version  print the version and exit\n"
	    "\n"
	    "SKIP resources: GET /capabilities, /key?remoteSystemID=ID[&size=BITS],\n"
	    "/key/KEYID?remoteSystemID=ID, /entropy[?minentropy=BITS].\n"
	    "See skip-proxy(8) and skip-proxy.conf(5).\n");
}

/*
 * The KME knows us by our certificate's CN (the SAE ID), and SKIP peers
 * know us by localSystemID: they must be the same name.
 */
static int
skip_check_identity(const struct skip_conf *c)
{
	char cn[SKIP_ID_MAX + 1];
	X509 *x = NULL;
	FILE *f = fopen(c->kme_cert_file, "r");
	int len, rc = -1;

	if (f == NULL) {
		log_warn("kme_cert_file %s", c->kme_cert_file);
		return -1;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		log_warnx("kme_cert_file %s holds no PEM certificate",
			  c->kme_cert_file);
		goto out;
	}
	len = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
					NID_commonName, cn, sizeof(cn));
	if (len <= 0) {
		log_warnx("kme_cert_file %s has no subject CN (the SAE ID)",
			  c->kme_cert_file);
		goto out;
	}
	if (strcmp(cn, c->local_system_id) != 0) {
		log_warnx(
		    "local_system_id '%s' differs from the SAE ID '%s' in "
		    "kme_cert_file %s; the KME knows this proxy as '%s'",
		    c->local_system_id, cn, c->kme_cert_file, cn);
		goto out;
	}
	rc = 0;
out:
	X509_free(x);
	return rc;
}

static int
skip_check_files(const struct skip_conf *c)
{
	const struct tls_files kme = {
		"kme_cert_file", c->kme_cert_file, "kme_key_file",
		c->kme_key_file, "kme_ca_file",	   c->kme_ca_file,
	};
	const struct tls_files router = {
		"cert_file", c->cert_file,     "key_file",
		c->key_file, "client_ca_file", c->client_ca_file,
	};

	if (tls_files_check(&kme) == -1 ||
	    (c->tls_mode == SKIP_TLS_CERT && tls_files_check(&router) == -1))
		return -1;
	if (file_check_private(c->kme_key_file) == -1)
		return -1;
	return skip_check_identity(c);
}

struct skip_daemon {
	struct skip_conf conf;
	struct skip_psk_set *psks;
	SSL_CTX *ctx;
	struct skip_metrics metrics;
	struct etsi014_client *kme;
	struct skip_api api;
	struct skip_pool *pool;
	struct skip_http *http;
	struct tls_front *tf;
	struct MHD_Daemon *metrics_mhd;
	struct skip_record *rec;
};

/* Everything that can fail on bad input, before any thread starts. */
static int
skip_prepare(struct skip_daemon *d, const char *path)
{
	struct skip_conf *c = &d->conf;

	skip_conf_defaults(c);
	if (skip_conf_load(c, path) == -1) {
		log_err("%s: configuration refused", path);
		return -1;
	}
	if (skip_check_files(c) == -1)
		return -1;
	/* Opened before privileges are dropped, as the other files. */
	if (c->record_file[0] != '\0' &&
	    (d->rec = skip_record_open(c->record_file, c->local_system_id)) ==
		NULL)
		return -1;
	if (c->tls_mode == SKIP_TLS_PSK) {
		d->psks = skip_psk_load(c->psk_file);
		if (d->psks == NULL) {
			log_err("psk_file %s refused", c->psk_file);
			return -1;
		}
		d->ctx = skip_tls_psk_ctx_new(c, d->psks);
	} else {
		d->ctx = skip_tls_cert_ctx_new(c);
	}
	return d->ctx != NULL ? 0 : -1;
}

static int
skip_start(struct skip_daemon *d)
{
	const struct skip_conf *c = &d->conf;
	struct https_client_cfg kc;
	struct skip_pool_cfg pc = {
		.cap = c->key_pool,
		.max_age_us = c->key_pool_max_age_ms * 1000,
		.bits = c->key_size_default,
		.fetch = skip_api_kme_fetch,
		.arg = &d->api,
		.metrics = &d->metrics,
	};
	struct tls_front_cfg tc = { 0 };

	skip_conf_kme_client(c, &kc);
	d->kme = etsi014_client_new(c->kme_url, &kc);
	if (d->kme == NULL)
		return -1;
	d->api.conf = c;
	d->api.kme = d->kme;
	d->api.metrics = &d->metrics;
	d->api.rec = d->rec;
	d->pool = skip_pool_new(&pc);
	if (d->pool == NULL)
		return -1;
	d->api.pool = d->pool;
	d->http = skip_http_new(&d->api);
	if (d->http == NULL)
		return -1;
	skip_tls_front_cfg(c, d->ctx, &tc);
	tc.name = "skip";
	skip_http_front_cfg(d->http, &tc);
	d->tf = tls_front_new(&tc);
	if (d->tf == NULL ||
	    tls_front_listen(d->tf, c->listen_addr, c->port) == -1)
		return -1;
	skip_http_set_front(d->http, d->tf);
	if (tls_front_start(d->tf) == -1)
		return -1;
	if (c->metrics_port != 0) {
		d->metrics_mhd = skip_metrics_start(
		    c->metrics_addr, c->metrics_port, &d->metrics, d->http);
		if (d->metrics_mhd == NULL)
			return -1;
	}
	log_info("SKIP (%s) for '%s' on %s port %u, KME %s, key pool %u "
		 "per remote (max age %llu ms)",
		 c->tls_mode == SKIP_TLS_PSK ? "TLS-PSK" : "certificates",
		 c->local_system_id, c->listen_addr, tls_front_port(d->tf),
		 c->kme_url, c->key_pool,
		 (unsigned long long)c->key_pool_max_age_ms);
	return 0;
}

static void
skip_stop(struct skip_daemon *d)
{
	if (d->metrics_mhd != NULL)
		MHD_stop_daemon(d->metrics_mhd);
	tls_front_free(d->tf); /* before the handler it calls */
	skip_http_free(d->http);
	skip_pool_free(d->pool); /* wipes the keys no router took */
	etsi014_client_free(d->kme);
	SSL_CTX_free(d->ctx);
	skip_psk_free(d->psks);
	skip_record_close(d->rec);
	log_info(
	    "stopped: %llu key requests served (%llu from the key pool), "
	    "%llu KME calls, %llu KME errors, %llu KME unreachable",
	    (unsigned long long)(atomic_load(
				     &d->metrics.requests[SKIP_R_KEY_NEW]) +
				 atomic_load(
				     &d->metrics.requests[SKIP_R_KEY_GET])),
	    (unsigned long long)atomic_load(&d->metrics.pool_served),
	    (unsigned long long)atomic_load(&d->metrics.kme_calls),
	    (unsigned long long)atomic_load(&d->metrics.kme_errors),
	    (unsigned long long)atomic_load(&d->metrics.kme_unreachable));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct skip_daemon d;
	const char *path = SKIP_DEFAULT_CONF;
	bool foreground = false, check_only = false, debug = false,
	     json = false;
	sigset_t sigs;
	int ch, sig = 0, rc = 1;

	/* Before OpenSSL's first allocation (docs/SECURITY.md). */
	secmem_init();
	while ((ch = getopt_long(argc, argv, "df:hjnv", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'd':
			foreground = true;
			break;
		case 'f':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version_print(stdout, "skip-proxy");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "skip-proxy: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	log_init("skip-proxy",
		 foreground || check_only ? LOG_DEST_STDERR : LOG_DEST_SYSLOG,
		 json ? LOG_FMT_JSON : LOG_FMT_TEXT,
		 debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (skip_prepare(&d, path) == -1) {
		log_err("%s: not started", path);
		goto out;
	}
	if (check_only) {
		log_info("%s: configuration OK", path);
		rc = 0;
		goto out;
	}
	/* nochdir: the HTTPS client opens the (maybe relative) KME key paths. */
	if (!foreground && daemon(1, 0) == -1) {
		log_warn("daemon");
		goto out;
	}
	/* Every thread inherits this mask; only sigwait() below sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* Before any thread starts (capabilities are per thread). */
	{
		static const int keep[] = { CAP_NET_BIND_SERVICE };

		if (priv_drop("skip-proxy", keep, 1) == -1)
			goto out;
	}
	if (skip_start(&d) == 0) {
		sdnotify("READY=1\nSTATUS=skip-proxy serving");
		/* SIGHUP: as every qkdlab daemon, log and carry on. */
		while (sig != SIGTERM && sig != SIGINT) {
			if (sigwait(&sigs, &sig) != 0)
				break;
			if (sig == SIGHUP)
				log_info(
				    "SIGHUP ignored: nothing is reloaded; restart to apply configuration changes");
		}
		sdnotify("STOPPING=1");
		log_info("signal %d: shutting down", sig);
		rc = 0;
	}
	skip_stop(&d);
	return rc;
out:
	SSL_CTX_free(d.ctx);
	skip_psk_free(d.psks);
	skip_record_close(d.rec);
	return rc;
}
