/*
 * main.c — kme-sim: an ETSI GS QKD 014 KME simulator (kme-sim(8)).
 */
#include "kme.h"

#include "log.h"
#include "privdrop.h"
#include "sdnotify.h"
#include "secmem.h"
#include "tls_front.h"
#include "tlsfiles.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: kme-sim [-dnvjh] [-f config]\n"
	    "ETSI GS QKD 014 key management entity simulator.\n"
	    "\n"
	    "  -f file  configuration file (default /etc/qkdlab/kme-sim.conf;\n"
	    "           see kme-sim.conf(5))\n"
	    "  -d       stay in the foreground and log to stderr\n"
	    "  -v       debug logging (never shows key bytes)\n"
	    "  -j       log one JSON object per line\n"
	    "  -n       check the configuration and TLS files, then exit\n"
	    "  -h       this help (also --help)\n"
	    "  --version  print the version and exit\n"
	    "\n"
	    "SAEs authenticate with a client certificate from sae_ca; their SAE\n"
	    "ID is the certificate's subject CN.  Paired KMEs talk over the KME\n"
	    "link (link_listen, certificates from link_ca, CN = KME ID).\n"
	    "Admin (loopback): GET /metrics, POST /admin/v1/fault?peer=ID&kind=\n"
	    "down|slow|starve[&delay_ms=N], POST /admin/v1/clear?peer=ID.\n"
	    "QKD link model faults (link_model = decoy-bb84): kind=eve&fraction=F,\n"
	    "kind=loss&db=D, kind=cut; or qkdlab-link(1).\n"
	    "Certificates for a lab: qkdlab-pki -h.\n");
}

/* Each TLS file named with its configuration key and OpenSSL's reason. */
static int
kme_check_tls_files(const struct kme_cfg *cfg)
{
	const struct tls_files api = {
		"cert", cfg->cert, "key", cfg->key, "sae_ca", cfg->sae_ca,
	};
	const struct tls_files link = {
		"link_cert",   cfg->link_cert, "link_key",
		cfg->link_key, "link_ca",      cfg->link_ca,
	};
	int rc = tls_files_check(&api);

	return tls_files_check(&link) == -1 ? -1 : rc;
}

/* Loads the TLS material once to report problems before starting (-n). */
static int
kme_check_tls(const struct kme_cfg *cfg)
{
	SSL_CTX *a = tls_server_ctx_new(cfg->cert, cfg->key, cfg->sae_ca);
	SSL_CTX *l =
	    tls_server_ctx_new(cfg->link_cert, cfg->link_key, cfg->link_ca);
	int rc = a != NULL && l != NULL ? 0 : -1;

	SSL_CTX_free(a);
	SSL_CTX_free(l);
	return rc;
}

static void
kme_stop(struct kme *k)
{
	kme_admin_stop(k);
	kme_api_stop(k);
	kme_link_stop(k);
	kme_relay_stop(k);
	kme_store_free(k->store);
	k->store = NULL;
}

static int
kme_start(struct kme *k)
{
	k->limits = (struct kme_limits){
		.key_size = k->cfg.key_size,
		.min_key_size = k->cfg.min_key_size,
		.max_key_size = k->cfg.max_key_size,
		.max_key_per_request = k->cfg.max_key_per_request,
		.max_sae_id_count = k->cfg.max_sae_id_count,
	};
	pthread_mutex_init(&k->stop_lock, NULL);
	pthread_cond_init(&k->stop_cond, NULL);
	k->store = kme_store_open(k->cfg.database);
	if (k->store == NULL || kme_relay_start(k) == -1)
		return -1;
	if (kme_link_start(k) == -1 || kme_api_start(k) == -1 ||
	    kme_admin_start(k) == -1)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = "/etc/qkdlab/kme-sim.conf";
	bool foreground = false, check = false, json = false, verbose = false;
	struct kme *k;
	sigset_t sigs;
	int opt, sig = 0, rc = 1;

	/* Before OpenSSL's first allocation (docs/SECURITY.md). */
	secmem_init();
	while ((opt = getopt_long(argc, argv, "f:dvjnh", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'f':
			conf = optarg;
			break;
		case 'd':
			foreground = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'j':
			json = true;
			break;
		case 'n':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version_print(stdout, "kme-sim");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kme-sim: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	/* Every file this process creates (the key store, its -wal and
	 * -shm) holds secrets: none is ever for group or others. */
	umask(077);
	log_init("kme-sim",
		 foreground || check ? LOG_DEST_STDERR : LOG_DEST_SYSLOG,
		 json ? LOG_FMT_JSON : LOG_FMT_TEXT,
		 verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		fatalx("out of memory");
	if (kme_cfg_load(&k->cfg, conf) == -1) {
		log_err("%s: configuration rejected", conf);
		free(k);
		return 1;
	}
	if (kme_check_tls_files(&k->cfg) == -1) {
		log_err("%s: TLS files refused", conf);
		free(k);
		return 1;
	}
	if (check) {
		rc = kme_check_tls(&k->cfg) == -1 ||
			     kme_store_check(k->cfg.database) == -1
			 ? 1
			 : 0;
		if (rc == 0)
			printf(
			    "%s: configuration OK (KME %s, %zu SAE(s), %zu peer(s))\n",
			    conf, k->cfg.kme_id, k->cfg.nsaes, k->cfg.npeers);
		free(k);
		return rc;
	}
	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	/* Signals go to sigwait below, not to whichever thread runs. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/*
	 * Before any thread starts (capabilities are per thread): from here
	 * on only binding a port below 1024 may need a capability.
	 */
	{
		static const int keep[] = { CAP_NET_BIND_SERVICE };

		if (priv_drop("kme-sim", keep, 1) == -1)
			goto out;
	}
	if (kme_start(k) == -1) {
		log_err("kme-sim %s: start failed", k->cfg.kme_id);
		goto out;
	}
	log_info(
	    "kme-sim %s: ETSI 014 on %s:%u, KME link on %s:%u, %zu peer(s)",
	    k->cfg.kme_id, k->cfg.listen.host, k->cfg.listen.port,
	    k->cfg.link_listen.host, k->cfg.link_listen.port, k->cfg.npeers);
	sdnotify("READY=1\nSTATUS=kme-sim serving");
	while (sig != SIGTERM && sig != SIGINT) {
		if (sigwait(&sigs, &sig) != 0)
			break;
		if (sig == SIGHUP)
			log_info(
			    "SIGHUP ignored: nothing is reloaded; restart to apply configuration changes");
	}
	sdnotify("STOPPING=1");
	log_info("kme-sim %s: shutting down", k->cfg.kme_id);
	rc = 0;
out:
	kme_stop(k);
	pthread_mutex_destroy(&k->stop_lock);
	pthread_cond_destroy(&k->stop_cond);
	free(k);
	return rc;
}
