/*
 * main.c — qkdlab-dash: the lab dashboard (qkdlab-dash(8)).
 *
 *   qkdlab-dash [-jv] [-f config] [-l address:port]
 */
#include "dash.h"

#include "log.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DASH_DEFAULT_CONF "/etc/qkdlab/qkdlab-dash.conf"

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: qkdlab-dash [-jv] [-f config] [-l address:port]\n"
	    "A live web page of a qkdlab lab: sites, KMEs and their link,\n"
	    "SKIP proxies, MKA ports, SecYs, events, and the KME fault buttons.\n"
	    "  -f  configuration file (default " DASH_DEFAULT_CONF ")\n"
	    "  -l  listen here (default 127.0.0.1:8080; config: listen)\n"
	    "  -j  log JSON lines\n"
	    "  -v  debug logging\n"
	    "  -h, --help  this text\n"
	    "  --version   print the version and exit\n"
	    "It stays in the foreground; SIGTERM or SIGINT end it.\n"
	    "See qkdlab-dash(8).\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct dash_conf conf;
	const char *path = DASH_DEFAULT_CONF, *listen = NULL;
	bool json = false, verbose = false;
	struct dash_http *h = NULL;
	struct dash *d = NULL;
	sigset_t sigs;
	int ch, sig, rc = 1;

	while ((ch = getopt_long(argc, argv, "f:hjl:v", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version_print(stdout, "qkdlab-dash");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("qkdlab-dash", LOG_DEST_STDERR,
		 json ? LOG_FMT_JSON : LOG_FMT_TEXT,
		 verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	dash_conf_defaults(&conf);
	if (dash_conf_load(path, &conf) == -1)
		return 1;
	if (listen != NULL &&
	    str_copy(conf.listen, sizeof(conf.listen), listen) == -1) {
		log_warnx("-l %s: too long", listen);
		return 1;
	}
	/* Signals are taken by sigwait; the threads inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d = dash_new(&conf)) == NULL || dash_start(d) == -1 ||
	    (h = dash_http_start(d, conf.listen)) == NULL)
		goto out;
	log_info("dashboard at http://%s/ (%zu site%s)", conf.listen,
		 conf.nsites, conf.nsites == 1 ? "" : "s");
	if (sigwait(&sigs, &sig) == 0)
		log_info("signal %d: exiting", sig);
	rc = 0;
out:
	dash_http_stop(h);
	dash_free(d);
	return rc;
}
