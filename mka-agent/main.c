/*
 * main.c — mka-agent: the daemon around the KaY.  One KaY per [port];
 * one poll loop over the ports' AF_PACKET sockets and the status socket;
 * timers from mka_kay_next_event() on the monotonic clock.
 *
 *   mka-agent [-djnv] [-f config]           run (or -n: check the config)
 *   mka-agent [-f config] status [--json] | metrics    ask a running agent
 */
#include "keysvc_etsi014.h"
#include "keysvc_skip.h"
#include "http_pages.h"
#include "log.h"
#include "privdrop.h"
#include "mka_conf.h"
#include "mka_kay.h"
#include "mka_port.h"
#include "mka_status_view.h"
#include "sdnotify.h"
#include "secmem.h"
#include "secy_ctl_client.h"
#include "secy_fake.h"
#include "secy_kernel.h"
#include "tlsfiles.h"
#include "unixsock.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_CONF "/etc/qkdlab/mka-agent.conf"

struct agent_port {
	struct mka_port_conf *pc;
	struct mka_port io;
	struct mka_kay *kay;
	struct secy_ctl *ctl;
	struct secy_fake *fake;
	struct secy_kernel *kern;
	struct mka_qkd *qkd; /* cak_source etsi014 */
	struct etsi014_client *kme;
	struct keysvc_skip *skip; /* cak_source skip */
	struct mka_status_track track;
};

struct agent {
	struct mka_conf conf;
	struct agent_port ports[MKA_CONF_MAX_PORTS];
	size_t n_ports;
	int status_fd;
	FILE *key_log;
	struct http_pages *http; /* metrics_listen */
};

static volatile sig_atomic_t quit, hup, reading_conf;

static void
on_signal(int sig)
{
	/* Opening the configuration may block (a FIFO with no writer yet)
	 * and nothing is set up to undo: a TERM then ends the process here,
	 * as a flag set just before the open() would never be seen. */
	if (sig != SIGHUP && reading_conf)
		_exit(0);
	if (sig == SIGHUP)
		hup = 1;
	else
		quit = 1;
}

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: mka-agent [-djnv] [-f config]\n"
	    "       mka-agent [-f config] status [--json] | metrics\n"
	    "IEEE 802.1X-2020 MKA agent: agrees MACsec keys with its peers\n"
	    "and installs them into macsec-sw or Linux's MACsec.\n"
	    "  -d  stay in the foreground, log to stderr\n"
	    "  -f  configuration file (default %s)\n"
	    "  -j  log JSON lines (config: log_format = json)\n"
	    "  -n  check the configuration and exit\n"
	    "  -v  verbose (debug) logging\n"
	    "  -h, --help  this text\n"
	    "  --version   print the version and exit\n"
	    "See mka-agent(8) and mka-agent.conf(5).\n",
	    DEFAULT_CONF);
}

/* cak_source etsi014: the SAE's certificate, key and KME CA load. */
static int
ports_check_tls(const struct mka_conf *c)
{
	int rc = 0;

	for (size_t i = 0; i < c->n_ports; i++) {
		const struct mka_port_conf *pc = &c->ports[i];
		const struct tls_files f = {
			"kme_cert",  pc->kme_cert, "kme_key",
			pc->kme_key, "kme_ca",	   pc->kme_ca,
		};

		if (pc->source == MKA_CAK_ETSI014 && tls_files_check(&f) == -1)
			rc = -1;
	}
	return rc;
}

static void
key_log_line(void *arg, const char *line)
{
	FILE *f = arg;

	fprintf(f, "%s\n", line);
	fflush(f);
}

static int
key_log_open(struct agent *a)
{
	struct stat st;
	int fd;

	if (a->conf.key_log[0] == '\0')
		return 0;
	fd = open(a->conf.key_log,
		  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	/* An existing log others can read would leak every key appended. */
	if (fd != -1 && (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
			 (st.st_mode & 077) != 0)) {
		log_warnx("key_log %s: must be a regular file that only its "
			  "owner can access (chmod 600 %s)",
			  a->conf.key_log, a->conf.key_log);
		close(fd);
		return -1;
	}
	if (fd == -1 || (a->key_log = fdopen(fd, "a")) == NULL) {
		log_warn("key_log %s", a->conf.key_log);
		if (fd != -1)
			close(fd);
		return -1;
	}
	log_warnx("key log %s is on: every CAK and SAK is written there",
		  a->conf.key_log);
	return 0;
}

/*
 * The port's kernel SecY, created closed: its SCI is the KaY's (the
 * port's MAC and port_id, 802.1AE 8.2.1), its suite the one configured.
 */
static struct secy_kernel *
port_kernel_secy(const struct mka_port_conf *pc, const uint8_t mac[6])
{
	struct secy_kernel_conf sc = {
		.netdev = pc->secy_netdev,
		.lower = pc->ifname,
		.initial = {
			.cs = pc->kay.suites[0],
			.conf_offset = pc->kay.conf_offset,
			.protect = true,
			.replay_protect = pc->kay.replay_protect,
			.replay_window = pc->kay.replay_window,
			.validate = MKA_VALIDATE_STRICT,
		},
	};

	memcpy(sc.sci, mac, 6);
	sc.sci[6] = (uint8_t)(pc->kay.port_id >> 8);
	sc.sci[7] = (uint8_t)pc->kay.port_id;
	return secy_kernel_new(&sc);
}

static int
port_start(struct agent *a, struct agent_port *ap, uint64_t now)
{
	struct mka_port_conf *pc = ap->pc;
	struct mka_kay_conf kc = pc->kay;

	if (mka_port_open(&ap->io, pc->ifname, kc.eapol_da) == -1)
		return -1;
	memcpy(kc.mac, ap->io.mac, 6);
	kc.name = pc->ifname;
	if (pc->secy == MKA_SECY_KERNEL) {
		if ((ap->kern = port_kernel_secy(pc, ap->io.mac)) == NULL)
			return -1;
		kc.secy = &secy_kernel_ops;
		kc.secy_arg = ap->kern;
	} else if (pc->secy == MKA_SECY_MACSEC_SW) {
		if ((ap->ctl = secy_ctl_new(pc->secy_socket)) == NULL)
			return -1;
		kc.secy = &secy_ctl_ops;
		kc.secy_arg = ap->ctl;
	} else {
		/* secy_socket = none: agree keys, install them nowhere. */
		if ((ap->fake = calloc(1, sizeof(*ap->fake))) == NULL)
			return -1;
		secy_fake_init(ap->fake);
		kc.secy = &secy_fake_ops;
		kc.secy_arg = ap->fake;
	}
	kc.tx = mka_port_send;
	kc.tx_arg = &ap->io;
	if (a->key_log != NULL) {
		kc.key_log = key_log_line;
		kc.key_log_arg = a->key_log;
	}
	if (pc->source != MKA_CAK_PSK) {
		struct mka_qkd_conf qc = pc->qkd;

		if (pc->source == MKA_CAK_ETSI014) {
			ap->kme = keysvc_etsi014_new(pc->kme_url, pc->kme_cert,
						     pc->kme_key, pc->kme_ca);
			qc.ops = &keysvc_etsi014_ops;
			qc.ops_arg = ap->kme;
		} else {
			ap->skip =
			    keysvc_skip_new(pc->skip_host, pc->skip_port,
					    pc->skip_identity, pc->skip_psk,
					    pc->skip_psk_len);
			qc.ops = &keysvc_skip_ops;
			qc.ops_arg = ap->skip;
		}
		if (qc.ops_arg == NULL ||
		    (ap->qkd = mka_qkd_new(&qc)) == NULL) {
			secmem_wipe(&qc, sizeof(qc));
			return -1;
		}
		secmem_wipe(&qc, sizeof(qc));
		mka_qkd_hook(ap->qkd, &kc);
	}
	if ((ap->kay = mka_kay_new(&kc, now)) == NULL) {
		log_warnx("%s: cannot start the KaY", pc->ifname);
		return -1;
	}
	if (ap->qkd != NULL) {
		mka_qkd_attach(ap->qkd, ap->kay);
		log_info("%s: QKD %s, SAE ID %s", pc->ifname,
			 mka_qkd_is_initiator(ap->qkd) ? "initiator"
						       : "responder",
			 pc->qkd.own_sae);
	} else if (mka_kay_add_ca(ap->kay, pc->cak, pc->cak_len, pc->ckn,
				  pc->ckn_len, NULL, 0, now) == NULL) {
		log_warnx("%s: cannot start the KaY", pc->ifname);
		return -1;
	}
	log_info("%s: MKA running, CAK source %s", pc->ifname,
		 mka_cak_source_name(pc->source));
	return 0;
}

static void
port_stop(struct agent_port *ap)
{
	mka_kay_free(ap->kay);
	ap->kay = NULL;
	mka_qkd_free(ap->qkd);
	ap->qkd = NULL;
	etsi014_client_free(ap->kme);
	ap->kme = NULL;
	keysvc_skip_free(ap->skip);
	ap->skip = NULL;
	mka_port_close(&ap->io);
	secy_ctl_free(ap->ctl);
	ap->ctl = NULL;
	secy_kernel_free(ap->kern);
	ap->kern = NULL;
	free(ap->fake);
	ap->fake = NULL;
}

/* Only the agent's owner may ask (0600); a live agent's socket is refused. */
static int
status_open(struct agent *a)
{
	a->status_fd =
	    unixsock_listen(a->conf.status_socket, 0600, 4, "mka-agent");
	return a->status_fd == -1 ? -1 : 0;
}

/* A view of every port, noting (and logging) what changed. */
static void
status_views(struct agent *a, struct mka_status_view *v)
{
	for (size_t i = 0; i < a->n_ports; i++) {
		struct agent_port *ap = &a->ports[i];

		mka_status_view_fill(&v[i], &ap->track, ap->pc->ifname,
				     ap->pc->source, ap->kay, ap->qkd);
	}
}

static char *
status_render_json(void *arg)
{
	struct agent *a = arg;
	struct mka_status_view v[MKA_CONF_MAX_PORTS];

	status_views(a, v);
	return mka_status_json(v, a->n_ports);
}

static char *
status_render_metrics(void *arg)
{
	struct agent *a = arg;
	struct mka_status_view v[MKA_CONF_MAX_PORTS];

	status_views(a, v);
	return mka_status_metrics(v, a->n_ports);
}

static int
http_open(struct agent *a)
{
	const struct http_page pages[] = {
		{ "/metrics", "text/plain; version=0.0.4",
		  status_render_metrics, a },
		{ "/status.json", "application/json", status_render_json, a },
	};

	if (a->conf.metrics_listen[0] == '\0')
		return 0;
	a->http = http_pages_new(a->conf.metrics_listen, pages, 2);
	return a->http == NULL ? -1 : 0;
}

/*
 * One request line ("status", "status-json" or "metrics"), one answer,
 * close.
 */
static void
status_serve(struct agent *a)
{
	char req[64] = { 0 };
	struct pollfd pfd;
	ssize_t n;
	FILE *f;
	int fd;

	if ((fd = accept4(a->status_fd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 1000) != 1 ||
	    (n = read(fd, req, sizeof(req) - 1)) <= 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return;
	}
	req[strcspn(req, "\r\n")] = '\0';
	if (strcmp(req, "metrics") == 0 || strcmp(req, "status-json") == 0) {
		char *s = req[0] == 'm' ? status_render_metrics(a)
					: status_render_json(a);

		if (s != NULL)
			fprintf(f, "%s%s", s, req[0] == 'm' ? "" : "\n");
		free(s);
	} else {
		struct mka_status_view v[MKA_CONF_MAX_PORTS];

		status_views(a, v);
		mka_status_text(f, v, a->n_ports);
	}
	fclose(f);
}

static int
query(const char *path, const char *what)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[4096];
	ssize_t n;
	int fd;

	str_copy(sun.sun_path, sizeof(sun.sun_path), path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "mka-agent: %s: %s\n", path, strerror(errno));
		return 1;
	}
	dprintf(fd, "%s\n", what);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return 0;
}

static void
run(struct agent *a)
{
	struct pollfd pfd[MKA_CONF_MAX_PORTS + 2];
	static uint8_t frame[2048];
	struct mka_status_view v[MKA_CONF_MAX_PORTS];
	size_t nfd;

	while (!quit) {
		uint64_t now = mono_ms(), next = UINT64_MAX;
		int timeout;

		for (size_t i = 0; i < a->n_ports; i++) {
			uint64_t t = mka_kay_next_event(a->ports[i].kay);

			next = t < next ? t : next;
			pfd[i] = (struct pollfd){ .fd = a->ports[i].io.fd,
						  .events = POLLIN };
		}
		pfd[a->n_ports] =
		    (struct pollfd){ .fd = a->status_fd, .events = POLLIN };
		nfd = a->n_ports + 1;
		timeout = next <= now	      ? 0
			  : next - now > 1000 ? 1000
					      : (int)(next - now);
		if (a->http != NULL) {
			pfd[nfd++] =
			    (struct pollfd){ .fd = http_pages_fd(a->http),
					     .events = POLLIN };
			timeout = http_pages_timeout_ms(a->http, timeout);
		}
		if (poll(pfd, nfd, timeout) == -1 && errno != EINTR) {
			log_warn("poll");
			break;
		}
		now = mono_ms();
		for (size_t i = 0; i < a->n_ports; i++) {
			struct agent_port *ap = &a->ports[i];
			ssize_t n;

			if (ap->qkd != NULL)
				mka_qkd_set_now(ap->qkd, now);
			if (pfd[i].revents & POLLIN)
				while ((n = mka_port_recv(&ap->io, frame,
							  sizeof(frame))) > 0)
					mka_kay_rx(ap->kay, frame, (size_t)n,
						   now);
			if (ap->qkd != NULL)
				mka_qkd_tick(ap->qkd, now);
			mka_kay_tick(ap->kay, now);
		}
		/* Changes (SAK, CA, secured) are logged as they happen. */
		status_views(a, v);
		if (pfd[a->n_ports].revents & POLLIN)
			status_serve(a);
		if (a->http != NULL && nfd > a->n_ports + 1 &&
		    (pfd[a->n_ports + 1].revents & POLLIN))
			http_pages_run(a->http);
		if (hup) {
			hup = 0;
			log_info(
			    "SIGHUP ignored: nothing is reloaded; restart to apply configuration changes");
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'J' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct agent a;
	const char *conf_path = DEFAULT_CONF;
	bool foreground = false, check = false, verbose = false, json = false;
	bool status_json = false;
	struct sigaction sa = { .sa_handler = on_signal };
	int ch, rc = 1;
	uint64_t now;

	/* First thing: a TERM that arrives during start-up still ends cleanly. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before OpenSSL's first allocation (docs/SECURITY.md). */
	secmem_init();
	while ((ch = getopt_long(argc, argv, "df:hjnv", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'd':
			foreground = true;
			break;
		case 'f':
			conf_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'J':
			status_json = true;
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version_print(stdout, "mka-agent");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* stderr until we daemonize: config errors reach the operator. */
	log_init("mka-agent", LOG_DEST_STDERR, LOG_FMT_TEXT,
		 verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	reading_conf = 1;
	if (quit)
		return 0;
	if (mka_conf_load(conf_path, &a.conf) == -1)
		return 1;
	reading_conf = 0;
	if (optind < argc) {
		/* A query of the running agent: status or metrics. */
		if (optind + 1 == argc &&
		    (strcmp(argv[optind], "status") == 0 ||
		     strcmp(argv[optind], "metrics") == 0)) {
			rc = query(a.conf.status_socket,
				   !status_json		    ? argv[optind]
				   : argv[optind][0] == 's' ? "status-json"
							    : "metrics");
		} else {
			usage(stderr);
			rc = 2;
		}
		mka_conf_wipe(&a.conf);
		return rc;
	}
	if (ports_check_tls(&a.conf) == -1) {
		log_err("%s: configuration refused", conf_path);
		mka_conf_wipe(&a.conf);
		return 1;
	}
	if (check) {
		printf("mka-agent: %s: configuration OK (%zu port%s)\n",
		       conf_path, a.conf.n_ports,
		       a.conf.n_ports == 1 ? "" : "s");
		mka_conf_wipe(&a.conf);
		return 0;
	}
	if (!verbose)
		log_set_level(a.conf.log_level);
	if (json)
		a.conf.log_fmt = LOG_FMT_JSON;
	log_set_fmt(a.conf.log_fmt);
	if (!foreground) {
		log_init("mka-agent", LOG_DEST_SYSLOG, a.conf.log_fmt,
			 verbose ? LOG_LVL_DEBUG : a.conf.log_level);
		if (daemon(0, 0) == -1)
			fatal("daemon");
	}
	a.status_fd = -1;
	now = mono_ms();
	if (key_log_open(&a) == -1 || status_open(&a) == -1 ||
	    http_open(&a) == -1)
		goto out;
	for (size_t i = 0; i < a.conf.n_ports; i++) {
		a.ports[i].pc = &a.conf.ports[i];
		a.n_ports++;
		if (port_start(&a, &a.ports[i], now) == -1)
			goto out;
	}
	{
		/*
		 * Packet sockets are open; only raw send/receive remains,
		 * and for a kernel SecY its netlink requests (which the
		 * kernel checks against CAP_NET_ADMIN one by one).
		 */
		static const int keep[] = { CAP_NET_RAW, CAP_NET_ADMIN };
		size_t nkeep = 1;

		for (size_t i = 0; i < a.conf.n_ports; i++)
			if (a.conf.ports[i].secy == MKA_SECY_KERNEL)
				nkeep = 2;
		if (priv_drop("mka-agent", keep, nkeep) == -1)
			goto out;
	}
	sdnotify("READY=1\nSTATUS=mka-agent running");
	run(&a);
	sdnotify("STOPPING=1");
	log_info("shutting down");
	rc = 0;
out:
	for (size_t i = 0; i < a.n_ports; i++)
		port_stop(&a.ports[i]);
	if (a.status_fd != -1) {
		close(a.status_fd);
		unlink(a.conf.status_socket);
	}
	http_pages_free(a.http);
	if (a.key_log != NULL)
		fclose(a.key_log);
	mka_conf_wipe(&a.conf);
	return rc;
}
