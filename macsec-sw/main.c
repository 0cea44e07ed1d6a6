/*
 * main.c — macsec-sw: a user-space IEEE 802.1AE SecY between an Ethernet
 * interface (Uncontrolled Port) and a TAP device (Controlled Port).
 *
 * One thread, one poll() loop: wire frames are validated into the TAP,
 * TAP frames are protected onto the wire, and the control socket installs
 * SAs.  With offloads off, that is all.  With offloads on (the default)
 * one TAP read may bring a TCP super-frame that is cut into MTU-sized
 * frames before protection, validated segments of one TCP flow reach the
 * TAP as one super-frame, and each direction has a thread of its own while
 * the main thread serves signals and the control socket.
 *
 * Locking: the transmit thread touches only the SecY's transmit SC and
 * Out* counters, the receive thread only the receive SCs and In* counters
 * (secy.c keeps them apart), so both run under the read side of one
 * rwlock; the control socket changes anything and takes the write side.  SIGTERM/SIGINT end the loop through a signalfd; everything is then
 * freed and every key wiped.
 */
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_pages.h"
#include "log.h"
#include "privdrop.h"
#include "sdnotify.h"
#include "macsec_sw.h"
#include "util.h"
#include "version.h"

struct daemon {
	struct macsec_conf conf;
	struct wire wire;
	int tap_fd;
	int sig_fd;
	struct secy *secy;
	struct ctl *ctl;
	struct port_batch *in, *out;
	unsigned rx_batches;
	struct http_pages *http; /* metrics_listen */
	/* offloads: a TAP read, one segment, one validated frame (each with
	 * room for the virtio-net header before it) and the coalescer */
	uint8_t *tx_buf, *seg, *rx_plain, *gro_buf;
	struct gro gro;
	/* offloads: the two port threads (see Locking above) */
	pthread_rwlock_t lock;
	bool lock_init;
	pthread_t rx_thr, tx_thr;
	bool rx_started, tx_started;
	int stop_fd; /* eventfd: the main thread asks them to end */
	int fail_fd; /* eventfd: one of them failed */
};

/* TAP reads per wakeup with offloads (the transmit thread has nothing
 * else to serve; small frames come one per read and go out in batches). */
#define TX_READS PORT_BATCH

static void
usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: macsec-sw [-djnv] [-f config] [-i interface] [-t tap] [-s socket]\n"
	    "                 [-m address:port]\n"
	    "\n"
	    "A user-space IEEE 802.1AE MACsec SecY: frames written to the TAP device\n"
	    "(Controlled Port) leave the interface (Uncontrolled Port) protected, and\n"
	    "MACsec frames received there reach the TAP once validated.  SAs are\n"
	    "installed over the control socket (see macsec-ctl(8), macsec-sw(8)).\n"
	    "\n"
	    "  -f config     configuration file (default " CONF_DEFAULT_PATH
	    ",\n"
	    "                optional when -i is given)\n"
	    "  -i interface  the Ethernet interface (config: interface)\n"
	    "  -t tap        the TAP device to create (config: tap; default macsec0)\n"
	    "  -s socket     control socket path (default " CONF_DEFAULT_SOCKET
	    ")\n"
	    "  -m addr:port  serve GET /metrics and /show.json over HTTP there\n"
	    "                (config: metrics_listen)\n"
	    "  -d            stay in the foreground and log to stderr\n"
	    "  -j            log JSON lines (config: log_format = json)\n"
	    "  -v            debug logging\n"
	    "  -n            check the configuration and exit\n"
	    "  -h, --help    this text\n"
	    "  --version     print the version and exit\n");
}

/* Creates the socket's directory (0700) when it is missing. */
static int
make_socket_dir(const char *path)
{
	char dir[CONF_PATH_MAX];

	if (str_copy(dir, sizeof(dir), path) == -1)
		return -1;
	if (mkdir(dirname(dir), 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir for %s", path);
		return -1;
	}
	return 0;
}

static char *
render_metrics(void *arg)
{
	struct daemon *d = arg;

	return export_metrics(d->secy, d->conf.tap);
}

static char *
render_json(void *arg)
{
	struct daemon *d = arg;

	return export_json(d->secy, d->conf.tap);
}

static int
daemon_setup(struct daemon *d)
{
	const struct macsec_conf *c = &d->conf;
	uint64_t sci;
	sigset_t set;

	/* Signals wait in the signalfd from here on: teardown always runs. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) ==
		-1) {
		log_warn("signalfd");
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Rings with offloads on; off keeps the plain path for reference. */
	if (wire_open(&d->wire, c->interface, c->qdisc_bypass,
		      c->offload && c->packet_rings) == -1)
		return -1;
	if (d->wire.mtu <= MACSEC_OVERHEAD + 64) {
		log_warnx("%s: MTU %u is too small for MACsec", c->interface,
			  d->wire.mtu);
		return -1;
	}
	/* Before the first SA's key: logs the engine in use once. */
	(void)cipher_engine_set(c->cipher_engine);
	(void)cipher_engine_active();
	sci = c->sci_set ? c->sci : sci_from_mac(d->wire.mac, c->sci_port);
	if ((d->secy = secy_new(d->wire.mac, sci)) == NULL ||
	    secy_set_policy(d->secy, &c->pol) == -1) {
		log_warnx("policy: %s",
			  d->secy ? secy_error(d->secy) : "out of memory");
		return -1;
	}
	secy_set_max_frame(d->secy, d->wire.mtu + ETH_HDR_LEN);
	/* The Controlled Port loses the SecTAG and ICV to the wire MTU. */
	d->tap_fd = tap_open(c->tap, c->tap_copy_mac ? d->wire.mac : NULL,
			     d->wire.mtu - MACSEC_OVERHEAD, c->offload);
	if (d->tap_fd == -1)
		return -1;
	if (make_socket_dir(c->socket) == -1 ||
	    (d->ctl = ctl_new(c->socket, d->secy, c->tap)) == NULL)
		return -1;
	if ((d->in = malloc(sizeof(*d->in))) == NULL ||
	    (d->out = malloc(sizeof(*d->out))) == NULL)
		return -1;
	if (c->metrics_listen[0] != '\0') {
		const struct http_page pages[] = {
			{ "/metrics", "text/plain; version=0.0.4",
			  render_metrics, d },
			{ "/show.json", "application/json", render_json, d },
		};

		if ((d->http = http_pages_new(c->metrics_listen, pages, 2)) ==
		    NULL)
			return -1;
	}
	if (c->offload &&
	    ((d->tx_buf = malloc(VNET_HDR_LEN + GSO_FRAME_MAX)) == NULL ||
	     (d->seg = malloc(PORT_FRAME_MAX)) == NULL ||
	     (d->rx_plain = malloc(VNET_HDR_LEN + PORT_FRAME_MAX)) == NULL ||
	     (d->gro_buf = malloc(VNET_HDR_LEN + GSO_FRAME_MAX)) == NULL))
		return -1;
	gro_init(&d->gro, d->gro_buf, VNET_HDR_LEN + GSO_FRAME_MAX);
	log_info("SecY on %s (SCI %016llx), controlled port %s (offloads "
		 "%s, qdisc bypass %s, packet rings %s), control socket %s",
		 c->interface, (unsigned long long)sci, c->tap,
		 c->offload ? "on" : "off", c->qdisc_bypass ? "on" : "off",
		 d->wire.map != NULL ? "on" : "off", c->socket);
	return 0;
}

/* Uncontrolled Port -> validate -> Controlled Port. */
static int
pump_rx(struct daemon *d)
{
	size_t i, len;

	if (wire_recv(&d->wire, d->in) == -1) {
		log_warn("receive on %s", d->conf.interface);
		return -1;
	}
	/* The socket's queue overflowing is 802.1AE's InPktsOverrun. */
	if (++d->rx_batches % 64 == 0)
		secy_count_overrun(d->secy, wire_drops(&d->wire));
	for (i = 0; i < d->in->n; i++) {
		if (secy_validate_frame(d->secy, d->in->at[i], d->in->len[i],
					d->out->frame[0], PORT_FRAME_MAX,
					&len) != SECY_RX_DELIVER)
			continue;
		if (tap_send(d->tap_fd, d->out->frame[0], len) == -1)
			log_debug("write to %s: %s", d->conf.tap,
				  strerror(errno));
	}
	wire_recv_done(&d->wire);
	return 0;
}

static void
tap_write(struct daemon *d, const uint8_t *buf, size_t len)
{
	if (tap_send(d->tap_fd, buf, len) == -1)
		log_debug("write to %s: %s", d->conf.tap, strerror(errno));
}

/*
 * Uncontrolled Port -> validate -> Controlled Port, with offloads: every
 * frame is validated on its own (10.6); what passes joins the super-frame
 * of its TCP flow, or is written alone in the order received.  The
 * super-frame being built stays open for the caller's next batch.
 * Returns 1 when the batch was full (more may be queued), 0, or -1.
 */
static int
pump_rx_offload(struct daemon *d)
{
	uint8_t *plain = d->rx_plain + VNET_HDR_LEN;
	size_t i, len, n;

	if (wire_recv(&d->wire, d->in) == -1) {
		log_warn("receive on %s", d->conf.interface);
		return -1;
	}
	if (++d->rx_batches % 64 == 0) {
		uint64_t drops = wire_drops(&d->wire);

		pthread_rwlock_rdlock(&d->lock);
		secy_count_overrun(d->secy, drops);
		pthread_rwlock_unlock(&d->lock);
	}
	for (i = 0; i < d->in->n; i++) {
		enum secy_rx rx;

		pthread_rwlock_rdlock(&d->lock);
		rx = secy_validate_frame(d->secy, d->in->at[i], d->in->len[i],
					 plain, PORT_FRAME_MAX, &len);
		pthread_rwlock_unlock(&d->lock);
		if (rx != SECY_RX_DELIVER)
			continue;
		if (gro_add(&d->gro, plain, len) == 0)
			continue;
		if ((n = gro_finish(&d->gro)) > 0) {
			tap_write(d, d->gro_buf, n);
			if (gro_add(&d->gro, plain, len) == 0)
				continue;
		}
		vnet_hdr_plain(d->rx_plain, false);
		tap_write(d, d->rx_plain, VNET_HDR_LEN + len);
	}
	wire_recv_done(&d->wire);
	return d->in->n == PORT_BATCH ? 1 : 0;
}

/* Receive batches per wakeup while they come back full. */
#define RX_BATCHES 8

static int
serve_wire(struct daemon *d)
{
	size_t n;
	int k, rc = 1;

	for (k = 0; k < RX_BATCHES && rc == 1; k++)
		if ((rc = pump_rx_offload(d)) == -1)
			break;
	if ((n = gro_finish(&d->gro)) > 0)
		tap_write(d, d->gro_buf, n);
	return rc == -1 ? -1 : 0;
}

static void
flush_wire(struct daemon *d)
{
	if (d->wire.map != NULL) {
		(void)wire_tx_flush(&d->wire);
		return;
	}
	if (d->out->n > 0 && wire_send(&d->wire, d->out) > 0)
		log_debug("send on %s: frames dropped", d->conf.interface);
	d->out->n = 0;
}

/* Protects one frame, frame[0, len) then tail[0, tail_len), onto the
 * wire: straight into a transmit ring slot, or into the next batch
 * entry. */
static void
protect_out(struct daemon *d, const uint8_t *frame, size_t len,
	    const uint8_t *tail, size_t tail_len)
{
	struct port_batch *o = d->out;
	uint8_t *slot;
	size_t cap, n;
	int rc;

	if (d->wire.map == NULL) {
		pthread_rwlock_rdlock(&d->lock);
		rc = secy_protect_parts(d->secy, frame, len, tail, tail_len,
					o->frame[o->n], PORT_FRAME_MAX,
					&o->len[o->n]);
		pthread_rwlock_unlock(&d->lock);
		if (rc == 0 && ++o->n == PORT_BATCH)
			flush_wire(d);
		return;
	}
	if ((slot = wire_tx_slot(&d->wire, &cap)) == NULL) {
		log_debug("send on %s: frame dropped", d->conf.interface);
		return;
	}
	/* The slot holds the wire's MTU: secy_protect() refuses longer. */
	pthread_rwlock_rdlock(&d->lock);
	rc = secy_protect_parts(d->secy, frame, len, tail, tail_len, slot, cap,
				&n);
	pthread_rwlock_unlock(&d->lock);
	if (rc == 0) {
		wire_tx_put(&d->wire, n);
		if (d->wire.tx.queued == PORT_BATCH)
			flush_wire(d);
	}
}

/*
 * Controlled Port -> protect -> Uncontrolled Port, with offloads: each
 * read is one frame or one TCP super-frame, protected as the MTU-sized
 * frames it stands for; secy_protect() still refuses any frame longer
 * than the wire carries (OutPktsTooLong).
 */
static int
pump_tx_offload(struct daemon *d)
{
	struct gso_iter it;
	const uint8_t *payload;
	size_t slen, plen;
	ssize_t n;
	int reads;

	d->out->n = 0;
	for (reads = 0; reads < TX_READS; reads++) {
		n = tap_read(d->tap_fd, d->tx_buf,
			     VNET_HDR_LEN + GSO_FRAME_MAX);
		if (n == -1) {
			log_warn("read from %s", d->conf.tap);
			return -1;
		}
		if (n == 0)
			break;
		if ((size_t)n < VNET_HDR_LEN + ETH_HDR_LEN ||
		    gso_begin(&it, d->tx_buf, d->tx_buf + VNET_HDR_LEN,
			      (size_t)n - VNET_HDR_LEN) == -1) {
			log_debug("%s: malformed offload frame (%zd octets) "
				  "dropped",
				  d->conf.tap, n);
			continue;
		}
		/* Each segment's headers are built in d->seg; its payload
		 * is encrypted from the super-frame into the wire's slot. */
		while (gso_next_parts(&it, d->seg, PORT_FRAME_MAX, &slen,
				      &payload, &plen) == 1)
			protect_out(d, d->seg, slen, payload, plen);
	}
	flush_wire(d);
	return 0;
}

/* Controlled Port -> protect -> Uncontrolled Port. */
static int
pump_tx(struct daemon *d)
{
	size_t i;

	if (tap_recv(d->tap_fd, d->in) == -1) {
		log_warn("read from %s", d->conf.tap);
		return -1;
	}
	d->out->n = 0;
	for (i = 0; i < d->in->n; i++) {
		if (secy_protect(d->secy, d->in->frame[i], d->in->len[i],
				 d->out->frame[d->out->n], PORT_FRAME_MAX,
				 &d->out->len[d->out->n]) == 0)
			d->out->n++;
	}
	if (d->out->n > 0 && wire_send(&d->wire, d->out) > 0)
		log_debug("send on %s: frames dropped", d->conf.interface);
	return 0;
}

struct port_thread {
	struct daemon *d;
	bool wire; /* the Uncontrolled Port's, else the TAP's */
};

static void *
port_thread(void *arg)
{
	const struct port_thread *pt = arg;
	struct daemon *d = pt->d;
	struct pollfd pfd[2];
	uint64_t one = 1;

	for (;;) {
		pfd[0].fd = pt->wire ? d->wire.fd : d->tap_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = d->stop_fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			break;
		}
		if (pfd[1].revents & POLLIN)
			return NULL;
		/* POLLERR on the packet socket: see daemon_loop(). */
		if (pt->wire && (pfd[0].revents & (POLLIN | POLLERR)) &&
		    serve_wire(d) == -1)
			break;
		if (!pt->wire && (pfd[0].revents & POLLIN) &&
		    pump_tx_offload(d) == -1)
			break;
		if (pfd[0].revents & POLLNVAL ||
		    (!pt->wire && pfd[0].revents & (POLLERR | POLLHUP))) {
			log_warnx("a port went away");
			break;
		}
	}
	if (write(d->fail_fd, &one, sizeof(one)) == -1)
		log_warn("eventfd");
	return NULL;
}

static int
threads_start(struct daemon *d)
{
	static struct port_thread rx, tx;
	pthread_rwlockattr_t attr;

	/* The control socket must not wait behind a stream of frames. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
	    &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (pthread_rwlock_init(&d->lock, &attr) != 0) {
		pthread_rwlockattr_destroy(&attr);
		log_warnx("cannot create the SecY lock");
		return -1;
	}
	pthread_rwlockattr_destroy(&attr);
	d->lock_init = true;
	if ((d->stop_fd = eventfd(0, EFD_CLOEXEC)) == -1 ||
	    (d->fail_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_warn("eventfd");
		return -1;
	}
	rx.d = tx.d = d;
	rx.wire = true;
	tx.wire = false;
	if (pthread_create(&d->rx_thr, NULL, port_thread, &rx) != 0) {
		log_warnx("cannot start the receive thread");
		return -1;
	}
	d->rx_started = true;
	if (pthread_create(&d->tx_thr, NULL, port_thread, &tx) != 0) {
		log_warnx("cannot start the transmit thread");
		return -1;
	}
	d->tx_started = true;
	return 0;
}

static void
threads_stop(struct daemon *d)
{
	uint64_t one = 1;

	if ((d->rx_started || d->tx_started) &&
	    write(d->stop_fd, &one, sizeof(one)) == -1)
		log_warn("eventfd");
	if (d->rx_started)
		pthread_join(d->rx_thr, NULL);
	if (d->tx_started)
		pthread_join(d->tx_thr, NULL);
	d->rx_started = d->tx_started = false;
}

static int
daemon_loop(struct daemon *d)
{
	struct pollfd pfd[4 + 1 + CTL_MAX_CLIENTS + 1];
	struct signalfd_siginfo si;
	size_t nctl, nfd;
	int timeout;

	for (;;) {
		pfd[0].fd = d->sig_fd;
		pfd[0].events = POLLIN;
		/* With offloads the port threads serve the ports. */
		pfd[1].fd = d->conf.offload ? -1 : d->wire.fd;
		pfd[1].events = POLLIN;
		pfd[2].fd = d->conf.offload ? -1 : d->tap_fd;
		pfd[2].events = POLLIN;
		pfd[3].fd = d->fail_fd;
		pfd[3].events = POLLIN;
		nctl = ctl_pollfds(d->ctl, pfd + 4, ARRAY_LEN(pfd) - 5);
		nfd = 4 + nctl;
		timeout = -1;
		if (d->http != NULL) {
			pfd[nfd].fd = http_pages_fd(d->http);
			pfd[nfd++].events = POLLIN;
			timeout = http_pages_timeout_ms(d->http, -1);
		}
		if (poll(pfd, nfd, timeout) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			return -1;
		}
		if (pfd[0].revents & POLLIN) {
			if (read(d->sig_fd, &si, sizeof(si)) != sizeof(si)) {
				/* nothing: the signal was taken already */
			} else if (si.ssi_signo == SIGHUP) {
				log_info(
				    "SIGHUP ignored: nothing is reloaded; restart to apply configuration changes");
			} else {
				log_info("signal %u: exiting", si.ssi_signo);
				return 0;
			}
		}
		/*
		 * POLLERR on the packet socket is a pending error such as
		 * ENETDOWN after a link flap: reading it clears it.
		 */
		if ((pfd[1].revents & (POLLIN | POLLERR)) && pump_rx(d) == -1)
			return -1;
		if ((pfd[2].revents & POLLIN) && pump_tx(d) == -1)
			return -1;
		if (pfd[1].revents & POLLNVAL ||
		    pfd[2].revents & (POLLERR | POLLNVAL | POLLHUP)) {
			log_warnx("a port went away");
			return -1;
		}
		if (pfd[3].revents & POLLIN)
			return -1; /* a port thread said why */
		/* The control socket and the metrics pages read and change
		 * the SecY: the port threads wait meanwhile. */
		if (d->conf.offload)
			pthread_rwlock_wrlock(&d->lock);
		ctl_dispatch(d->ctl, pfd + 4, nctl);
		/* Without a ready descriptor too: MHD's connection timeouts. */
		if (d->http != NULL)
			http_pages_run(d->http);
		if (d->conf.offload)
			pthread_rwlock_unlock(&d->lock);
	}
}

static void
daemon_teardown(struct daemon *d)
{
	threads_stop(d);
	if (d->lock_init)
		pthread_rwlock_destroy(&d->lock);
	if (d->stop_fd != -1)
		close(d->stop_fd);
	if (d->fail_fd != -1)
		close(d->fail_fd);
	http_pages_free(d->http);
	ctl_free(d->ctl);
	secy_free(d->secy); /* wipes every SA key */
	wire_close(&d->wire);
	if (d->tap_fd != -1)
		close(d->tap_fd);
	if (d->sig_fd != -1)
		close(d->sig_fd);
	free(d->in);
	free(d->out);
	free(d->tx_buf);
	free(d->seg);
	free(d->rx_plain);
	free(d->gro_buf);
}

static int
parse_args(int argc, char **argv, struct daemon *d, bool *fg, bool *check,
	   bool *verbose)
{
	const char *metrics = NULL;
	bool json = false;
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = NULL, *ifname = NULL, *tap = NULL;
	const char *sock = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "df:hi:jm:ns:t:v", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'd':
			*fg = true;
			break;
		case 'f':
			conf_path = optarg;
			break;
		case 'i':
			ifname = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'n':
			*check = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 't':
			tap = optarg;
			break;
		case 'v':
			*verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			version_print(stdout, "macsec-sw");
			exit(0);
		default:
			usage(stderr);
			return -2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "macsec-sw: unexpected argument '%s'\n",
			argv[optind]);
		return -2;
	}
	conf_defaults(&d->conf);
	if (conf_path == NULL && ifname == NULL)
		conf_path = CONF_DEFAULT_PATH;
	if (conf_path != NULL && conf_load(conf_path, &d->conf) == -1)
		return -1;
	if ((ifname &&
	     str_copy(d->conf.interface, CONF_NAME_MAX, ifname) == -1) ||
	    (tap && str_copy(d->conf.tap, CONF_NAME_MAX, tap) == -1) ||
	    (sock && (sock[0] != '/' ||
		      str_copy(d->conf.socket, CONF_PATH_MAX, sock) == -1))) {
		fprintf(stderr,
			"macsec-sw: -i/-t names are at most %d "
			"characters; -s is an absolute path\n",
			CONF_NAME_MAX - 1);
		return -2;
	}
	if (metrics != NULL) {
		char host[48];
		uint16_t port;

		if (http_pages_parse_addr(metrics, host, sizeof(host), &port) ==
			-1 ||
		    str_copy(d->conf.metrics_listen,
			     sizeof(d->conf.metrics_listen), metrics) == -1) {
			fprintf(stderr,
				"macsec-sw: -m wants address:port, not "
				"'%s'\n",
				metrics);
			return -1;
		}
	}
	if (json)
		d->conf.log_fmt = LOG_FMT_JSON;
	log_set_fmt(d->conf.log_fmt);
	if (d->conf.interface[0] == '\0') {
		fprintf(stderr, "macsec-sw: no interface (-i or interface = "
				"in the configuration)\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct daemon d;
	struct secy *probe;
	static const uint8_t zero[ETH_ADDR_LEN];
	bool fg = false, check = false, verbose = false;
	int rc = 1;

	memset(&d, 0, sizeof(d));
	d.wire.fd = d.wire.tx_fd = d.tap_fd = d.sig_fd = d.stop_fd = d.fail_fd =
	    -1;
	log_init("macsec-sw", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_INFO);
	/* Exit 2 for a bad command line, 1 for a bad configuration. */
	switch (parse_args(argc, argv, &d, &fg, &check, &verbose)) {
	case -2:
		return 2;
	case -1:
		return 1;
	default:
		break;
	}
	if (verbose)
		log_set_level(LOG_LVL_DEBUG);
	/* -n: the policy must also be one the SecY accepts. */
	if ((probe = secy_new(zero, 1)) == NULL)
		return 1;
	if (secy_set_policy(probe, &d.conf.pol) == -1) {
		fprintf(stderr, "macsec-sw: policy: %s\n", secy_error(probe));
		secy_free(probe);
		return 1;
	}
	secy_free(probe);
	if (check) {
		printf("configuration OK\n");
		return 0;
	}
	/* Set up first, so that errors reach the terminal and the exit code. */
	if (daemon_setup(&d) == -1)
		goto out;
	if (!fg) {
		log_init(NULL, LOG_DEST_SYSLOG, d.conf.log_fmt,
			 verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
		if (daemon(0, 0) == -1) {
			log_warn("daemon");
			goto out;
		}
	}
	{
		/* The packet socket and the TAP are open: keep only what a
		 * link flap may need to reopen them. */
		static const int keep[] = { CAP_NET_RAW, CAP_NET_ADMIN };

		if (priv_drop("macsec-sw", keep, 2) == -1)
			goto out;
	}
	/* Threads start after the privilege drop, which is per thread. */
	if (d.conf.offload && threads_start(&d) == -1)
		goto out;
	sdnotify("READY=1\nSTATUS=macsec-sw running");
	if (daemon_loop(&d) == 0)
		rc = 0;
	sdnotify("STOPPING=1");
out:
	daemon_teardown(&d);
	return rc;
}
