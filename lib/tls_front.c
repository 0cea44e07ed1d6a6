/*
 * tls_front.c — TLS termination in OpenSSL in front of libmicrohttpd, or
 * of the daemon's own request handler.
 *
 * A few event-loop threads (epoll, level-triggered) each accept from the
 * shared listening socket (EPOLLEXCLUSIVE) and run their connections with
 * non-blocking OpenSSL: the handshake, then copying plaintext between the
 * TLS session and the front's end of a socketpair whose other end
 * libmicrohttpd owns.
 *
 * Why a socketpair and not memory BIOs straight into libmicrohttpd:
 * libmicrohttpd 0.9 reads and writes its connections only through a socket
 * descriptor (or its own GnuTLS); it has no hook for another transport, and
 * its external-event mode still wants a socket per connection.  What costs
 * at scale is a thread per connection (a stack each, a context switch per
 * message, and no way to bound the handshake as a whole), so that is what
 * the event loops replace; the socketpair hop stays, at two system calls a
 * message each way.
 *
 * Request mode has no socketpair: the loop splits each whole request
 * (lib/http_req.h) and runs the daemon's handler itself when the
 * connection is alone on its loop, or queues it to a worker (the answer
 * comes back on the loop's eventfd).  A handler that waits on another
 * server then holds up only its own connection, and the common case, a
 * client per loop, costs no thread hand-off.
 *
 * Every connection has one deadline at a time: the end of its handshake,
 * the end of the current request head, or the idle timeout.  A sweep every
 * TF_SWEEP_MS closes (or answers 408 to) those past it.
 */
#include "tls_front.h"

#include "http_frame.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TF_BUF 16384 /* one TLS record of plaintext */
#define TF_SWEEP_MS 250
#define TF_REPORT_MS 10000 /* interval of the refusal counts */
#define TF_HS_LOG_MAX 10 /* handshake failures logged per interval */
#define TF_LINGER_MS 3000 /* flush, then linger, after the last answer */
#define TF_LINGER_BYTES (1024 * 1024)
#define TF_SRC_BUCKETS 256
#define TF_TAG_APP ((uintptr_t)1)

enum tf_state {
	TF_HANDSHAKE,
	TF_OPEN,
	TF_FLUSH, /* last bytes to the client, then linger */
	TF_LINGER, /* reading and dropping what the client still sends */
	TF_DEAD, /* closed; freed after the current event batch */
};

/* Connections per source: IPv4 address, or IPv6 /64. */
struct tf_src {
	uint8_t addr[16];
	unsigned n;
	struct tf_src *next;
};

struct tf_loop;
struct tf_conn;

/* Request mode: one request, from its head to its answer. */
struct tf_job {
	struct tf_job *next;
	struct tf_loop *loop;
	struct tf_conn *c; /* NULL once the connection is gone; loop only */
	char *head; /* the head, split in place by http_req_parse() */
	size_t head_len;
	struct http_req http;
	struct tls_front_req req;
	struct tls_front_resp resp;
	char *body; /* cfg.keep_body: the request's body data */
	char peer[TLS_PEER_ID_MAX];
	char addr[INET6_ADDRSTRLEN];
};

struct tf_conn {
	struct tf_loop *loop;
	struct tf_conn *prev, *next; /* the loop's connections */
	struct tf_conn *hs_prev, *hs_next; /* front's handshake FIFO */
	struct tf_src *src;
	int fd, app, mhd_fd;
	SSL *ssl;
	enum tf_state state;
	bool evicted; /* under tf->lock */
	bool peer_ok;
	bool app_eof;
	bool app_wdead; /* the HTTP side stopped reading: drop input */
	bool client_eof; /* the client closed its sending side */
	bool app_shut; /* ... and the HTTP side has been told */
	uint32_t ev_fd, ev_app; /* epoll interest now registered */
	uint64_t deadline; /* mono_ms; 0: none */
	bool req_timer; /* deadline is a request-head deadline */
	uint64_t last; /* last traffic, mono_ms */
	size_t drained;
	struct http_frame hf;
	struct tf_job *job; /* request mode: the request being read or served */
	bool inflight; /* ... and it is with its handler */
	/* to_app: plaintext for the HTTP side; in request mode, input held
	 * back until the answer to the request before it is out. */
	char *to_app, *to_tls; /* pending plaintext (secmem) */
	size_t to_app_len, to_app_off, to_app_cap;
	size_t to_tls_len, to_tls_off, to_tls_cap;
	char peer[TLS_PEER_ID_MAX];
	char addr[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss;
	socklen_t sl;
};

struct tf_loop {
	struct tls_front *tf;
	pthread_t thread;
	bool started;
	int ep, wake;
	struct tf_conn *conns;
	struct tf_conn *dead; /* closed in this batch; may still be in evs */
	uint8_t *buf; /* TF_BUF of scratch plaintext */
	uint64_t next_sweep;
	/* Request mode: answers back from the workers. */
	pthread_mutex_t done_lock; /* done and incoming */
	struct tf_job *done;
	struct tf_conn *incoming; /* accepted by another loop, for this one */
	atomic_uint nconn; /* connections of this loop, incoming included */
	int64_t date_s; /* the second date[] shows */
	char date[40];
};

struct tf_counts {
	unsigned long refused_total, refused_source, evicted, hs_late,
	    hs_failed, req_late;
};

struct tls_front {
	SSL_CTX *ctx;
	struct MHD_Daemon *mhd;
	tls_peer_id_fn peer_id;
	void *peer_id_arg;
	tls_explain_fn explain;
	char name[32];
	unsigned max_conns, max_per_source;
	unsigned handshake_ms, request_ms, idle_ms;
	unsigned max_head;
	uint64_t max_body;
	bool loop_first, keep_body; /* request mode (tls_front_cfg) */
	uint64_t handler_max_body;
	tls_front_handler_fn handler;
	void *handler_arg;

	/* Request mode: the handlers' queue and workers. */
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	struct tf_job *q_head, *q_tail;
	bool q_stop;
	unsigned nworkers, nstarted;
	pthread_t *workers;

	int listen_fd;
	uint16_t port;
	unsigned nloops;
	struct tf_loop *loops;
	atomic_bool stopping;

	/* Limits and eviction, shared by every loop. */
	pthread_mutex_t lock;
	unsigned nconns, nevicting;
	struct tf_conn *hs_head, *hs_tail;
	struct tf_src *srcs[TF_SRC_BUCKETS];
	struct tf_counts counts;
	uint64_t report_at;
	unsigned hs_logged;

	/* Peer identity by libmicrohttpd's descriptor, for the handlers. */
	pthread_rwlock_t map_lock;
	struct tf_conn **map;
	size_t map_cap;
};

void
tls_log_errors(const char *prefix)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_debug("%s: %s", prefix, buf);
	}
}

/* Each connection holds three descriptors (TCP, ours, libmicrohttpd's). */
static void
tf_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct tls_front *
tls_front_new(const struct tls_front_cfg *cfg)
{
	struct tls_front *tf = calloc(1, sizeof(*tf));

	if (tf == NULL)
		return NULL;
	/* A peer that vanishes mid-write must cost a connection, not the process. */
	signal(SIGPIPE, SIG_IGN);
	tf_raise_nofile();
	tf->ctx = cfg->ssl_ctx;
	SSL_CTX_up_ref(tf->ctx);
	tf->mhd = cfg->mhd;
	tf->handler = cfg->handler;
	tf->handler_arg = cfg->handler_arg;
	tf->nworkers = cfg->handler != NULL ? cfg->workers : 0;
	tf->loop_first = cfg->handler != NULL && cfg->loop_first;
	tf->keep_body = cfg->handler != NULL && cfg->keep_body;
	tf->handler_max_body = cfg->handler_max_body;
	tf->peer_id = cfg->peer_id;
	tf->peer_id_arg = cfg->peer_id_arg;
	tf->explain = cfg->explain;
	snprintf(tf->name, sizeof(tf->name), "%s",
		 cfg->name ? cfg->name : "tls");
	tf->max_conns = cfg->max_conns ? cfg->max_conns : 256;
	tf->max_per_source = cfg->max_per_source
				 ? cfg->max_per_source
				 : (tf->max_conns / 4 ? tf->max_conns / 4 : 1);
	tf->handshake_ms =
	    cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 5000;
	tf->request_ms =
	    cfg->request_timeout_ms ? cfg->request_timeout_ms : 10000;
	tf->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 60000;
	tf->nloops = cfg->threads ? cfg->threads : 2;
	tf->max_head = cfg->max_head ? cfg->max_head : 16384;
	tf->max_body = cfg->max_body ? cfg->max_body : 1024 * 1024;
	tf->listen_fd = -1;
	pthread_mutex_init(&tf->lock, NULL);
	pthread_rwlock_init(&tf->map_lock, NULL);
	pthread_mutex_init(&tf->q_lock, NULL);
	pthread_cond_init(&tf->q_cond, NULL);
	tf->loops = calloc(tf->nloops, sizeof(*tf->loops));
	tf->workers = calloc(tf->nworkers + 1, sizeof(*tf->workers));
	if (tf->loops == NULL || tf->workers == NULL) {
		tls_front_free(tf);
		return NULL;
	}
	for (unsigned i = 0; i < tf->nloops; i++) {
		struct tf_loop *l = &tf->loops[i];

		l->tf = tf;
		pthread_mutex_init(&l->done_lock, NULL);
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		l->buf = malloc(TF_BUF);
		if (l->ep == -1 || l->wake == -1 || l->buf == NULL) {
			log_warn("%s: event loop set-up", tf->name);
			tls_front_free(tf);
			return NULL;
		}
	}
	return tf;
}

int
tls_front_listen(struct tls_front *tf, const char *addr, uint16_t port)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[8];
	int fd = -1, one = 1, rc = -1, gai;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	gai = getaddrinfo(addr, portstr, &hints, &res);
	if (gai != 0) {
		log_warnx("%s: bad listen address '%s': %s", tf->name, addr,
			  gai_strerror(gai));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd == -1) {
		log_warn("%s: socket", tf->name);
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		log_warn("%s: cannot listen on %s port %u", tf->name, addr,
			 port);
		goto out;
	}
	if (listen(fd, 1024) == -1) {
		log_warn("%s: listen", tf->name);
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		tf->port = ntohs(ss.ss_family == AF_INET6
				     ? ((struct sockaddr_in6 *)&ss)->sin6_port
				     : ((struct sockaddr_in *)&ss)->sin_port);
	tf->listen_fd = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return rc;
}

uint16_t
tls_front_port(const struct tls_front *tf)
{
	return tf->port;
}

unsigned
tls_front_conn_count(struct tls_front *tf)
{
	unsigned n;

	pthread_mutex_lock(&tf->lock);
	n = tf->nconns;
	pthread_mutex_unlock(&tf->lock);
	return n;
}

/* The connection MHD serves on conn's descriptor; map_lock held to read. */
static const struct tf_conn *
tf_conn_of(struct tls_front *tf, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || ci->connect_fd < 0 ||
	    (size_t)ci->connect_fd >= tf->map_cap)
		return NULL;
	return tf->map[ci->connect_fd];
}

int
tls_front_conn_peer(struct tls_front *tf, struct MHD_Connection *conn,
		    char *out, size_t cap)
{
	const struct tf_conn *c;
	int rc = -1;

	pthread_rwlock_rdlock(&tf->map_lock);
	c = tf_conn_of(tf, conn);
	if (c != NULL && c->peer_ok)
		rc = str_copy(out, cap, c->peer);
	pthread_rwlock_unlock(&tf->map_lock);
	return rc;
}

int
tls_front_conn_tls(struct tls_front *tf, struct MHD_Connection *conn,
		   char *version, size_t vcap, char *suite, size_t scap)
{
	const struct tf_conn *c;
	const SSL_CIPHER *cipher = NULL;
	const char *name = NULL;
	int rc = -1;

	pthread_rwlock_rdlock(&tf->map_lock);
	c = tf_conn_of(tf, conn);
	if (c != NULL && c->ssl != NULL)
		cipher = SSL_get_current_cipher(c->ssl);
	if (cipher != NULL)
		name = SSL_CIPHER_standard_name(cipher);
	/* The session is complete and no longer changes. */
	if (name != NULL &&
	    str_copy(version, vcap, SSL_get_version(c->ssl)) == 0 &&
	    str_copy(suite, scap, name) == 0)
		rc = 0;
	pthread_rwlock_unlock(&tf->map_lock);
	return rc;
}

/* A recycled descriptor number resolves to its newest owner. */
static int
tf_map_set(struct tls_front *tf, struct tf_conn *c)
{
	int rc = 0;

	pthread_rwlock_wrlock(&tf->map_lock);
	if ((size_t)c->mhd_fd >= tf->map_cap) {
		size_t ncap = tf->map_cap ? tf->map_cap : 256;
		struct tf_conn **nm;

		while (ncap <= (size_t)c->mhd_fd)
			ncap *= 2;
		nm = realloc(tf->map, ncap * sizeof(*nm));
		if (nm == NULL) {
			rc = -1;
			goto out;
		}
		memset(nm + tf->map_cap, 0, (ncap - tf->map_cap) * sizeof(*nm));
		tf->map = nm;
		tf->map_cap = ncap;
	}
	tf->map[c->mhd_fd] = c;
out:
	pthread_rwlock_unlock(&tf->map_lock);
	return rc;
}

static void
tf_map_clear(struct tls_front *tf, struct tf_conn *c)
{
	pthread_rwlock_wrlock(&tf->map_lock);
	if (c->mhd_fd >= 0 && (size_t)c->mhd_fd < tf->map_cap &&
	    tf->map[c->mhd_fd] == c)
		tf->map[c->mhd_fd] = NULL;
	pthread_rwlock_unlock(&tf->map_lock);
}

/* ------------------------------------------------ limits (under tf->lock) */

static void
tf_src_addr(const struct sockaddr_storage *ss, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &((const struct sockaddr_in *)ss)->sin_addr,
		       4);
	} else if (ss->ss_family == AF_INET6) {
		const uint8_t *a =
		    ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;

		/* An IPv4-mapped address counts as the IPv4 address. */
		if (IN6_IS_ADDR_V4MAPPED(
			&((const struct sockaddr_in6 *)ss)->sin6_addr))
			memcpy(addr, a, 16);
		else
			memcpy(addr, a, 8); /* one /64 is one source */
	}
}

static struct tf_src *
tf_src_get(struct tls_front *tf, const uint8_t addr[16])
{
	uint32_t h = 2166136261u;
	struct tf_src *s;

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	for (s = tf->srcs[h % TF_SRC_BUCKETS]; s != NULL; s = s->next)
		if (memcmp(s->addr, addr, 16) == 0)
			return s;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	memcpy(s->addr, addr, 16);
	s->next = tf->srcs[h % TF_SRC_BUCKETS];
	tf->srcs[h % TF_SRC_BUCKETS] = s;
	return s;
}

static void
tf_src_put(struct tls_front *tf, struct tf_src *src)
{
	if (src == NULL || --src->n > 0)
		return;
	for (size_t b = 0; b < TF_SRC_BUCKETS; b++) {
		for (struct tf_src **pp = &tf->srcs[b]; *pp != NULL;
		     pp = &(*pp)->next) {
			if (*pp == src) {
				*pp = src->next;
				free(src);
				return;
			}
		}
	}
}

static void
tf_hs_unlink(struct tls_front *tf, struct tf_conn *c)
{
	if (c->hs_prev != NULL)
		c->hs_prev->hs_next = c->hs_next;
	else if (tf->hs_head == c)
		tf->hs_head = c->hs_next;
	else
		return; /* not listed */
	if (c->hs_next != NULL)
		c->hs_next->hs_prev = c->hs_prev;
	else
		tf->hs_tail = c->hs_prev;
	c->hs_prev = c->hs_next = NULL;
}

/*
 * Makes room by ending the oldest connection still in its handshake (of
 * src, or of any source when src is NULL).  Its own loop closes it: the
 * shutdown() wakes that loop with an error on the socket.
 */
static bool
tf_evict(struct tls_front *tf, const struct tf_src *src)
{
	for (struct tf_conn *c = tf->hs_head; c != NULL; c = c->hs_next) {
		if (src != NULL && c->src != src)
			continue;
		tf_hs_unlink(tf, c);
		c->evicted = true;
		tf->nevicting++;
		tf->counts.evicted++;
		shutdown(c->fd, SHUT_RDWR);
		return true;
	}
	return false;
}

/* Logs the counts of the last interval, if any; under tf->lock. */
static void
tf_report(struct tls_front *tf, uint64_t now)
{
	struct tf_counts *k = &tf->counts;

	if (now < tf->report_at)
		return;
	if (k->refused_total || k->refused_source || k->evicted || k->hs_late ||
	    k->req_late || k->hs_failed > TF_HS_LOG_MAX)
		log_warnx(
		    "%s: in the last %u s: %lu connections refused at the "
		    "limit of %u, %lu at the limit of %u per source; %lu "
		    "unauthenticated connections ended to make room; %lu "
		    "handshakes past %u ms; %lu request heads past %u ms; "
		    "%lu failed handshakes (%lu logged)",
		    tf->name, TF_REPORT_MS / 1000, k->refused_total,
		    tf->max_conns, k->refused_source, tf->max_per_source,
		    k->evicted, k->hs_late, tf->handshake_ms, k->req_late,
		    tf->request_ms, k->hs_failed,
		    k->hs_failed < TF_HS_LOG_MAX
			? k->hs_failed
			: (unsigned long)TF_HS_LOG_MAX);
	memset(k, 0, sizeof(*k));
	tf->hs_logged = 0;
	tf->report_at = now + TF_REPORT_MS;
}

/* ------------------------------------------------------------ connections */

static void
tf_interest(struct tf_conn *c, int fd, uint32_t *have, uint32_t want,
	    uintptr_t tag)
{
	struct epoll_event ev = { .events = want };

	if (fd < 0 || *have == want)
		return;
	ev.data.u64 = (uint64_t)((uintptr_t)c | tag);
	if (*have == 0 && want != 0)
		epoll_ctl(c->loop->ep, EPOLL_CTL_ADD, fd, &ev);
	else if (want == 0)
		epoll_ctl(c->loop->ep, EPOLL_CTL_DEL, fd, NULL);
	else
		epoll_ctl(c->loop->ep, EPOLL_CTL_MOD, fd, &ev);
	*have = want;
}

static void
tf_buf_drop(char **p, size_t *len, size_t *off, size_t *cap)
{
	secmem_free(*p); /* wipes the whole block */
	*p = NULL;
	*len = *off = *cap = 0;
}

static void
tf_job_free(struct tf_job *j)
{
	if (j == NULL)
		return;
	secmem_free(j->head);
	secmem_free(j->body);
	secmem_free(j->resp.body);
	secmem_wipe(j, sizeof(*j));
	free(j);
}

static void
tf_conn_close(struct tf_conn *c)
{
	struct tf_loop *l = c->loop;
	struct tls_front *tf = l->tf;

	if (c->ev_fd)
		epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->app >= 0) {
		if (c->ev_app)
			epoll_ctl(l->ep, EPOLL_CTL_DEL, c->app, NULL);
		close(c->app);
	}
	tf_map_clear(tf, c);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	pthread_mutex_lock(&tf->lock);
	tf_hs_unlink(tf, c);
	if (c->evicted)
		tf->nevicting--;
	tf->nconns--;
	tf_src_put(tf, c->src);
	pthread_mutex_unlock(&tf->lock);
	close(c->fd);
	if (c->job != NULL && c->inflight)
		c->job->c = NULL; /* freed when its answer comes back */
	else if (c->job != NULL)
		tf_job_free(c->job);
	c->job = NULL;
	http_frame_clear(&c->hf);
	tf_buf_drop(&c->to_app, &c->to_app_len, &c->to_app_off, &c->to_app_cap);
	tf_buf_drop(&c->to_tls, &c->to_tls_len, &c->to_tls_off, &c->to_tls_cap);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	atomic_fetch_sub(&l->nconn, 1);
	/* The same batch of events may name c again: free it afterwards. */
	c->state = TF_DEAD;
	c->next = l->dead;
	l->dead = c;
}

static void
tf_free_dead(struct tf_loop *l)
{
	while (l->dead != NULL) {
		struct tf_conn *c = l->dead;

		l->dead = c->next;
		free(c);
	}
}

/* Appends to a pending buffer; -1 when out of memory. */
static int
tf_buf_add(char **p, size_t *len, size_t *off, size_t *cap, const void *d,
	   size_t n)
{
	if (*off > 0 && *off == *len) {
		secmem_wipe(*p, *len);
		*off = *len = 0;
	}
	if (secmem_reserve(p, cap, *len + n) == -1)
		return -1;
	memcpy(*p + *len, d, n);
	*len += n;
	return 0;
}

/* Plaintext for libmicrohttpd: straight to the socket, or queued. */
static int
tf_to_app(struct tf_conn *c, const void *d, size_t n)
{
	if (c->app < 0 || c->app_wdead)
		return 0; /* the HTTP side is gone; drop */
	if (c->to_app_len == c->to_app_off) {
		ssize_t w = write(c->app, d, n);

		/*
		 * The HTTP side answered and closed while the client was still
		 * sending (a body refused before it arrived): its answer still
		 * has to go out, so drop the rest of the input, not the
		 * connection.
		 */
		if (w == -1 && errno != EAGAIN && errno != EINTR) {
			c->app_wdead = true;
			return 0;
		}
		if (w > 0) {
			d = (const char *)d + w;
			n -= (size_t)w;
		}
	}
	if (n == 0)
		return 0;
	return tf_buf_add(&c->to_app, &c->to_app_len, &c->to_app_off,
			  &c->to_app_cap, d, n);
}

/* What is queued for the client is the last: it has a bounded time to go. */
static void
tf_last_answer(struct tf_conn *c)
{
	c->state = TF_FLUSH;
	c->deadline = mono_ms() + TF_LINGER_MS;
	c->req_timer = false;
}

static const char *
tf_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 505:
		return "HTTP Version Not Supported";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "";
	}
}

/*
 * Answers a request the front refuses itself, and closes: what the HTTP
 * side has written so far goes out first, then this answer; the HTTP side
 * gets nothing more (RFC 9112 6.3: the framing cannot be trusted).
 * why is one of http_frame's fixed strings (no quotes to escape).
 */
static void
tf_refuse(struct tf_conn *c, int status, const char *why)
{
	char body[256], msg[512];
	int blen, mlen;

	log_info("%s: %s ('%s'): %d, %s; closing", c->loop->tf->name, c->addr,
		 c->peer_ok ? c->peer : "", status, why);
	if (c->app >= 0) {
		for (;;) {
			ssize_t r = read(c->app, c->loop->buf, TF_BUF);

			if (r <= 0)
				break;
			tf_buf_add(&c->to_tls, &c->to_tls_len, &c->to_tls_off,
				   &c->to_tls_cap, c->loop->buf, (size_t)r);
			secmem_wipe(c->loop->buf, (size_t)r);
		}
		if (c->ev_app)
			epoll_ctl(c->loop->ep, EPOLL_CTL_DEL, c->app, NULL);
		c->ev_app = 0;
		close(c->app);
		c->app = -1;
		tf_buf_drop(&c->to_app, &c->to_app_len, &c->to_app_off,
			    &c->to_app_cap);
	}
	blen = snprintf(body, sizeof(body), "{\"message\":\"%s\"}", why);
	mlen = snprintf(msg, sizeof(msg),
			"HTTP/1.1 %d %s\r\nContent-Type: "
			"application/json\r\nContent-Length: %d\r\nConnection: "
			"close\r\n\r\n%s",
			status, tf_reason(status), blen, body);
	tf_buf_add(&c->to_tls, &c->to_tls_len, &c->to_tls_off, &c->to_tls_cap,
		   msg, (size_t)mlen);
	tf_last_answer(c);
}

/* Plaintext from the client: through the framing check to the HTTP side. */
static int
tf_from_client(struct tf_conn *c, const uint8_t *p, size_t n)
{
	struct tls_front *tf = c->loop->tf;
	size_t off = 0;

	while (off < n) {
		const uint8_t *h;
		size_t used, hlen;

		switch (http_frame_feed(&c->hf, p + off, n - off, &used)) {
		case HTTP_FRAME_MORE:
			break;
		case HTTP_FRAME_HEAD:
			h = http_frame_head(&c->hf, &hlen);
			if (tf_to_app(c, h, hlen) == -1)
				return -1;
			http_frame_head_done(&c->hf);
			if (c->req_timer) {
				c->req_timer = false;
				c->deadline = 0;
			}
			break;
		case HTTP_FRAME_PASS:
			if (tf_to_app(c, p + off, used) == -1)
				return -1;
			break;
		case HTTP_FRAME_BAD:
			tf_refuse(c, c->hf.status, c->hf.why);
			return 0;
		}
		off += used;
	}
	/* A head has begun: it must be complete within request_ms. */
	if (http_frame_in_head(&c->hf) && !c->req_timer) {
		c->req_timer = true;
		c->deadline = mono_ms() + tf->request_ms;
	}
	return 0;
}

static void
tf_handshake_failed(struct tf_conn *c, int err)
{
	struct tls_front *tf = c->loop->tf;
	unsigned long e = ERR_peek_error();
	const char *extra =
	    tf->explain ? tf->explain(c->ssl, tf->peer_id_arg) : NULL;
	bool show;

	pthread_mutex_lock(&tf->lock);
	show = !c->evicted && tf->hs_logged < TF_HS_LOG_MAX;
	if (!c->evicted) {
		tf->counts.hs_failed++;
		if (show)
			tf->hs_logged++;
	}
	pthread_mutex_unlock(&tf->lock);
	if (show)
		log_info("%s: TLS handshake with %s refused: %s%s%s", tf->name,
			 c->addr,
			 e			    ? ERR_reason_error_string(e)
			 : err == SSL_ERROR_SYSCALL ? "connection closed"
						    : "protocol error",
			 extra ? "; " : "", extra ? extra : "");
	tls_log_errors(tf->name);
	ERR_clear_error();
}

/* The handshake is over: find the identity and hand over to the HTTP side. */
static int
tf_handshake_done(struct tf_conn *c)
{
	struct tls_front *tf = c->loop->tf;
	int sp[2];
	bool evicted;

	pthread_mutex_lock(&tf->lock);
	evicted = c->evicted;
	tf_hs_unlink(tf, c);
	pthread_mutex_unlock(&tf->lock);
	if (evicted)
		return -1;
	c->peer_ok =
	    tf->peer_id == NULL ||
	    tf->peer_id(c->ssl, c->peer, sizeof(c->peer), tf->peer_id_arg) == 0;
	if (!c->peer_ok)
		log_info("%s: peer %s has no acceptable identity; its requests "
			 "get 401",
			 tf->name, c->addr);
	else
		log_debug("%s: TLS session from %s (%s, %s) as '%s'", tf->name,
			  c->addr, SSL_get_version(c->ssl),
			  SSL_get_cipher_name(c->ssl), c->peer);
	if (tf->handler != NULL)
		goto open;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       sp) == -1) {
		log_warn("%s: socketpair", tf->name);
		return -1;
	}
	c->app = sp[0];
	c->mhd_fd = sp[1];
	if (tf_map_set(tf, c) == -1) {
		close(sp[1]);
		return -1;
	}
	/* MHD owns sp[1] from here on, even when this call fails. */
	if (MHD_add_connection(tf->mhd, sp[1], (struct sockaddr *)&c->ss,
			       c->sl) != MHD_YES) {
		log_warnx("%s: HTTP layer refused the connection from %s",
			  tf->name, c->addr);
		return -1;
	}
open:
	c->state = TF_OPEN;
	c->last = mono_ms();
	c->deadline = c->last + tf->request_ms;
	c->req_timer = true;
	return 0;
}

static int
tf_step_handshake(struct tf_conn *c)
{
	int r = SSL_accept(c->ssl), err;

	if (r == 1)
		return tf_handshake_done(c);
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ) {
		tf_interest(c, c->fd, &c->ev_fd, EPOLLIN, 0);
		return 0;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		tf_interest(c, c->fd, &c->ev_fd, EPOLLOUT, 0);
		return 0;
	}
	tf_handshake_failed(c, err);
	return -1;
}

/* Sends what is pending for the client; 1 if all of it went, 0 if blocked. */
static int
tf_flush_tls(struct tf_conn *c, bool *want_out)
{
	while (c->to_tls_off < c->to_tls_len) {
		size_t left = c->to_tls_len - c->to_tls_off;
		int n = SSL_write(c->ssl, c->to_tls + c->to_tls_off,
				  left > INT32_MAX ? INT32_MAX : (int)left);

		if (n > 0) {
			c->to_tls_off += (size_t)n;
			continue;
		}
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_WRITE:
		case SSL_ERROR_WANT_READ:
			*want_out = true;
			return 0;
		default:
			return -1;
		}
	}
	tf_buf_drop(&c->to_tls, &c->to_tls_len, &c->to_tls_off, &c->to_tls_cap);
	return 1;
}

static int
tf_flush_app(struct tf_conn *c)
{
	while (c->app >= 0 && c->to_app_off < c->to_app_len) {
		ssize_t w = write(c->app, c->to_app + c->to_app_off,
				  c->to_app_len - c->to_app_off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return 0;
		if (w <= 0) {
			c->app_wdead = true; /* as in tf_to_app() */
			break;
		}
		c->to_app_off += (size_t)w;
	}
	tf_buf_drop(&c->to_app, &c->to_app_len, &c->to_app_off, &c->to_app_cap);
	return 1;
}

/* The HTTP side is done: send the rest, say close_notify, then linger. */
static void
tf_start_linger(struct tf_conn *c)
{
	SSL_shutdown(c->ssl);
	shutdown(c->fd, SHUT_WR);
	c->state = TF_LINGER;
	c->deadline = mono_ms() + TF_LINGER_MS;
	c->req_timer = false;
	c->drained = 0;
}

/*
 * The HTTP side closed, possibly while the client is still sending (a body
 * refused before it arrived).  Closing now would reset the connection and
 * the client could lose the answer already sent; so read and discard what
 * still comes, for a bounded time and amount.
 */
static int
tf_step_linger(struct tf_conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->loop->buf, TF_BUF);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->drained += (size_t)n;
		if (c->drained > TF_LINGER_BYTES)
			return -1;
	}
	tf_interest(c, c->fd, &c->ev_fd, EPOLLIN, 0);
	tf_interest(c, c->app, &c->ev_app, 0, TF_TAG_APP);
	return 0;
}

/*
 * The client closed its sending side (close_notify, or a TCP FIN, see
 * tf_accept()).  RFC 9112 9.6 lets a client half-close after its request, and a
 * TLS 1.3 close_notify closes one direction only (RFC 8446 6.1): the
 * answer still goes out.  The HTTP side sees end of input once what is
 * queued for it has gone, answers what it has whole and closes; the
 * answer must come within request_ms.  A request cut short by the close
 * is never complete there, so nothing is answered for it.
 */
static void
tf_client_eof(struct tf_conn *c)
{
	ERR_clear_error();
	c->client_eof = true;
	c->req_timer = false;
	c->deadline = mono_ms() + c->loop->tf->request_ms;
}

/*
 * One SSL_read into the loop's buffer: the octets read; 0 when there are
 * none now (or the client closed its side); -1 when the session failed.
 */
static int
tf_ssl_read(struct tf_conn *c, bool *want_out)
{
	int n = SSL_read(c->ssl, c->loop->buf, TF_BUF), e;

	if (n > 0) {
		c->last = mono_ms();
		return n;
	}
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_WRITE)
		*want_out = true;
	else if (e == SSL_ERROR_ZERO_RETURN)
		tf_client_eof(c);
	else if (e != SSL_ERROR_WANT_READ)
		return -1;
	return 0;
}

/* What woke a connection: TF_ALL when it is not one event. */
#define TF_ALL ((uint32_t)-1)

/* Sends plaintext from the HTTP side: straight through OpenSSL, or queued. */
static int
tf_to_tls(struct tf_conn *c, const void *d, size_t n, bool *want_out)
{
	if (c->to_tls_len == c->to_tls_off) {
		int w = SSL_write(c->ssl, d, (int)n);

		if (w > 0) {
			d = (const char *)d + w;
			n -= (size_t)w;
		} else {
			switch (SSL_get_error(c->ssl, w)) {
			case SSL_ERROR_WANT_WRITE:
			case SSL_ERROR_WANT_READ:
				*want_out = true;
				break;
			default:
				return -1;
			}
		}
	}
	if (n == 0)
		return 0;
	*want_out = true;
	return tf_buf_add(&c->to_tls, &c->to_tls_len, &c->to_tls_off,
			  &c->to_tls_cap, d, n);
}

/*
 * Moves what the events allow, one read per readable descriptor: epoll is
 * level-triggered, so what is left is reported again, and a request or an
 * answer costs no read that only finds EAGAIN.
 */
static int
tf_step_open(struct tf_conn *c, uint32_t ev_fd, uint32_t ev_app)
{
	uint8_t *buf = c->loop->buf;
	bool want_out = false;
	int r;

	/* Client to HTTP side, unless that side is backed up. */
	r = tf_flush_app(c);
	if (r == -1)
		return -1;
	if (r == 1 && c->state == TF_OPEN && !c->client_eof &&
	    (ev_fd & (EPOLLIN | EPOLLHUP | EPOLLERR) ||
	     SSL_has_pending(c->ssl))) {
		do {
			int n = tf_ssl_read(c, &want_out);

			if (n == -1)
				return -1;
			if (n == 0)
				break;
			r = tf_from_client(c, buf, (size_t)n);
			secmem_wipe(buf, (size_t)n);
			if (r == -1)
				return -1;
		} while (c->state == TF_OPEN &&
			 c->to_app_len == c->to_app_off &&
			 SSL_has_pending(c->ssl));
	}
	if (c->client_eof && !c->app_shut && c->app >= 0 &&
	    c->to_app_len == c->to_app_off) {
		shutdown(c->app, SHUT_WR);
		c->app_shut = true;
	}
	/* HTTP side to client. */
	r = tf_flush_tls(c, &want_out);
	if (r == -1)
		return -1;
	if (r == 1 && c->app >= 0 && !c->app_eof &&
	    ev_app & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = read(c->app, buf, TF_BUF);

		if (n > 0) {
			c->last = mono_ms();
			r = tf_to_tls(c, buf, (size_t)n, &want_out);
			secmem_wipe(buf, (size_t)n);
			if (r == -1)
				return -1;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->app_eof = true;
			if (c->state == TF_OPEN) {
				/* The last answer has a bounded time to go out. */
				tf_last_answer(c);
			}
		}
	}
	if (c->state == TF_FLUSH && c->to_tls_off == c->to_tls_len) {
		tf_start_linger(c);
		return tf_step_linger(c);
	}
	/* Interest: read the client while the HTTP side keeps up; write
	 * when OpenSSL must; read the HTTP side while nothing is pending. */
	tf_interest(c, c->fd, &c->ev_fd,
		    (c->state == TF_OPEN && !c->client_eof &&
			     c->to_app_len == c->to_app_off
			 ? EPOLLIN
			 : 0) |
			(want_out ? EPOLLOUT : 0),
		    0);
	if (c->app >= 0)
		tf_interest(c, c->app, &c->ev_app,
			    (c->to_tls_len == c->to_tls_off && !c->app_eof
				 ? EPOLLIN
				 : 0) |
				(c->to_app_len != c->to_app_off ? EPOLLOUT : 0),
			    TF_TAG_APP);
	return 0;
}

/* ----------------------------------------------------------- request mode */

/* The current IMF-fixdate (RFC 9110 5.6.7) for the Date field. */
static const char *
tf_date(struct tf_loop *l)
{
	int64_t now = wall_s();
	time_t t = (time_t)now;
	struct tm tm;

	if (now != l->date_s && gmtime_r(&t, &tm) != NULL &&
	    strftime(l->date, sizeof(l->date), "%a, %d %b %Y %H:%M:%S GMT",
		     &tm) > 0)
		l->date_s = now;
	return l->date;
}

/* A complete head arrived: split it for the handler.  -1: out of memory. */
static int
tf_job_new(struct tf_conn *c, const uint8_t *h, size_t hlen)
{
	struct tf_job *j = calloc(1, sizeof(*j));
	int r;

	if (j == NULL || (j->head = malloc(hlen)) == NULL) {
		free(j);
		return -1;
	}
	memcpy(j->head, h, hlen);
	j->head_len = hlen;
	r = http_req_parse(&j->http, j->head, hlen);
	if (r < 0) {
		/* The framing check bounds bytes, this also lines. */
		tf_job_free(j);
		if (r == -2)
			tf_refuse(c, 431, "too many header fields");
		else
			tf_refuse(c, 400,
				  "malformed request head (RFC 9112 3)");
		return 0;
	}
	j->loop = c->loop;
	j->c = c;
	memcpy(j->peer, c->peer, sizeof(j->peer));
	memcpy(j->addr, c->addr, sizeof(j->addr));
	j->req.http = &j->http;
	j->req.peer = c->peer_ok ? j->peer : NULL;
	j->req.addr = j->addr;
	/* Static strings of OpenSSL's; the session no longer changes. */
	j->req.tls_version = SSL_get_version(c->ssl);
	if (SSL_get_current_cipher(c->ssl) != NULL)
		j->req.tls_suite =
		    SSL_CIPHER_standard_name(SSL_get_current_cipher(c->ssl));
	c->job = j;
	return 0;
}

/*
 * Queues the answer of c's request for the client: status line, Date,
 * Content-Type, the handler's fields, Content-Length, Connection, body.
 */
static int
tf_answer(struct tf_conn *c, struct tf_job *j)
{
	struct tls_front_resp *r = &j->resp;
	bool close_after = r->close || !j->http.keep_alive || j->req.body_over;
	const char *ct = r->content_type;
	char head[512];
	int status = r->status >= 100 && r->status <= 599 ? r->status : 500;
	int n, rc = 0;

	if (r->body == NULL)
		r->len = 0;
	n = snprintf(
	    head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%s%.256sContent-Length: "
	    "%zu\r\n%s\r\n",
	    status, tf_reason(status), tf_date(c->loop),
	    ct ? "Content-Type: " : "", ct ? ct : "", ct ? "\r\n" : "",
	    r->fields, r->len,
	    close_after		 ? "Connection: close\r\n"
	    : j->http.minor == 0 ? "Connection: keep-alive\r\n"
				 : "");
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    tf_buf_add(&c->to_tls, &c->to_tls_len, &c->to_tls_off,
		       &c->to_tls_cap, head, (size_t)n) == -1)
		rc = -1;
	/* RFC 9110 9.3.2: the answer to HEAD has the fields of GET's only. */
	else if (!j->http.head && r->len > 0 &&
		 tf_buf_add(&c->to_tls, &c->to_tls_len, &c->to_tls_off,
			    &c->to_tls_cap, r->body, r->len) == -1)
		rc = -1;
	c->job = NULL;
	c->inflight = false;
	tf_job_free(j);
	c->last = mono_ms();
	if (close_after && c->state == TF_OPEN) {
		tf_last_answer(c);
	}
	return rc;
}

/*
 * c's request is whole: to a worker, or served here when there are none
 * or when c is its loop's only connection.
 */
static int
tf_dispatch(struct tf_conn *c)
{
	struct tls_front *tf = c->loop->tf;
	struct tf_job *j = c->job;
	bool alone = c->loop->conns == c && c->next == NULL;

	c->inflight = true;
	c->last = mono_ms();
	if (tf->keep_body) {
		if (http_frame_take_body(&c->hf, &j->body, &j->req.body_size) ==
		    -1) {
			c->job = NULL;
			c->inflight = false;
			tf_job_free(j);
			tf_refuse(c, 503, "no memory for the request body");
			return 0;
		}
		j->req.body = j->body;
	}
	/* Alone on its loop, the connection has nobody to keep waiting: the
	 * handler runs here, without two thread hand-offs; with loop_first,
	 * so does every handler that does not defer. */
	if (tf->nworkers == 0 || alone || tf->loop_first) {
		int rc;

		j->req.on_loop = tf->nworkers > 0 && !alone;
		tf->handler(&j->req, &j->resp, tf->handler_arg);
		if (!(j->req.on_loop && j->resp.defer)) {
			rc = tf_answer(c, j);
			/* The handler's frames (and the answer's) may hold key
			 * bytes: a 014 answer read into a stack buffer, a
			 * decoded key. */
			secmem_wipe_stack();
			return rc;
		}
		secmem_free(j->resp.body);
		memset(&j->resp, 0, sizeof(j->resp));
		j->req.on_loop = false;
	}
	pthread_mutex_lock(&tf->q_lock);
	if (tf->q_tail != NULL)
		tf->q_tail->next = j;
	else
		tf->q_head = j;
	tf->q_tail = j;
	pthread_cond_signal(&tf->q_cond);
	pthread_mutex_unlock(&tf->q_lock);
	return 0;
}

/*
 * A body declared larger than the handler takes is not waited for: the
 * handler refuses it at once, and the answer ends the connection.
 */
static bool
tf_body_over(struct tf_conn *c)
{
	struct tls_front *tf = c->loop->tf;
	int64_t cl = http_frame_content_length(&c->hf);

	if (!tf->keep_body || tf->handler_max_body == 0 || cl < 0 ||
	    (uint64_t)cl <= tf->handler_max_body)
		return false;
	c->job->req.body_over = true;
	return true;
}

/*
 * Plaintext from the client through the framing check, up to the end of
 * the first whole request (handed on); *used says how far it got.
 */
static int
tf_serve_input(struct tf_conn *c, const uint8_t *p, size_t n, size_t *used)
{
	size_t off = 0;

	while (off < n && c->state == TF_OPEN && !c->inflight) {
		const uint8_t *h;
		size_t u, hlen;
		int r = 0;

		switch (http_frame_feed(&c->hf, p + off, n - off, &u)) {
		case HTTP_FRAME_MORE:
			break;
		case HTTP_FRAME_HEAD:
			h = http_frame_head(&c->hf, &hlen);
			r = tf_job_new(c, h, hlen);
			http_frame_head_done(&c->hf);
			c->req_timer = false;
			c->deadline = 0;
			if (r == 0 && c->job != NULL &&
			    (!http_frame_in_body(&c->hf) || tf_body_over(c)))
				r = tf_dispatch(c);
			break;
		case HTTP_FRAME_PASS:
			if (c->job == NULL)
				break; /* the body of a refused head */
			c->job->req.body_len += u;
			if (!http_frame_in_body(&c->hf))
				r = tf_dispatch(c);
			break;
		case HTTP_FRAME_BAD:
			tf_job_free(c->job);
			c->job = NULL;
			tf_refuse(c, c->hf.status, c->hf.why);
			break;
		}
		off += u;
		if (r == -1)
			return -1;
	}
	*used = off;
	/* A head has begun: it must be complete within request_ms. */
	if (c->state == TF_OPEN && http_frame_in_head(&c->hf) &&
	    !c->req_timer) {
		c->req_timer = true;
		c->deadline = mono_ms() + c->loop->tf->request_ms;
	}
	return 0;
}

/*
 * Request mode: answers out first, then held input, then the client (one
 * read per readable event; OpenSSL's buffered records after that).
 */
static int
tf_step_serve(struct tf_conn *c, uint32_t ev_fd)
{
	uint8_t *buf = c->loop->buf;
	bool want_out = false;
	int r;

	for (;;) {
		size_t used;
		int n;

		r = tf_flush_tls(c, &want_out);
		if (r == -1)
			return -1;
		if (r == 0 || c->state != TF_OPEN)
			break;
		if (!c->inflight && c->to_app_off < c->to_app_len) {
			if (tf_serve_input(
				c, (uint8_t *)c->to_app + c->to_app_off,
				c->to_app_len - c->to_app_off, &used) == -1)
				return -1;
			c->to_app_off += used;
			if (c->to_app_off == c->to_app_len)
				tf_buf_drop(&c->to_app, &c->to_app_len,
					    &c->to_app_off, &c->to_app_cap);
			continue;
		}
		/* While a request is with its handler, one read of what the
		 * client sends next is held (epoll stays armed: no system
		 * call to disarm and rearm it per request). */
		if (c->client_eof || c->to_app_off < c->to_app_len ||
		    !(ev_fd & (EPOLLIN | EPOLLHUP | EPOLLERR) ||
		      SSL_has_pending(c->ssl)))
			break;
		ev_fd = 0;
		n = tf_ssl_read(c, &want_out);
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		used = 0;
		r = c->inflight ? 0 : tf_serve_input(c, buf, (size_t)n, &used);
		if (r == 0 && used < (size_t)n)
			r = tf_buf_add(&c->to_app, &c->to_app_len,
				       &c->to_app_off, &c->to_app_cap,
				       buf + used, (size_t)n - used);
		secmem_wipe(buf, (size_t)n);
		if (r == -1)
			return -1;
	}
	/* The client is done sending and every whole request is answered:
	 * what is cut short gets no answer (RFC 9112 9.6), as in MHD mode. */
	if (c->state == TF_OPEN && c->client_eof && !c->inflight &&
	    c->to_app_off == c->to_app_len) {
		tf_last_answer(c);
	}
	if (c->state == TF_FLUSH && c->to_tls_off == c->to_tls_len) {
		tf_start_linger(c);
		return tf_step_linger(c);
	}
	tf_interest(c, c->fd, &c->ev_fd,
		    (c->state == TF_OPEN && !c->client_eof &&
			     c->to_app_off == c->to_app_len &&
			     c->to_tls_off == c->to_tls_len
			 ? EPOLLIN
			 : 0) |
			(want_out ? EPOLLOUT : 0),
		    0);
	return 0;
}

/* A worker: one request at a time, its answer back to its loop. */
static void *
tf_worker_main(void *arg)
{
	struct tls_front *tf = arg;

	for (;;) {
		struct tf_job *j;
		struct tf_loop *l;
		uint64_t one = 1;
		ssize_t w;

		pthread_mutex_lock(&tf->q_lock);
		while (tf->q_head == NULL && !tf->q_stop)
			pthread_cond_wait(&tf->q_cond, &tf->q_lock);
		j = tf->q_stop ? NULL : tf->q_head;
		if (j != NULL) {
			tf->q_head = j->next;
			if (tf->q_head == NULL)
				tf->q_tail = NULL;
			j->next = NULL;
		}
		pthread_mutex_unlock(&tf->q_lock);
		if (j == NULL)
			break;
		tf->handler(&j->req, &j->resp, tf->handler_arg);
		secmem_wipe_stack(); /* as after a handler run in the loop */
		l = j->loop;
		pthread_mutex_lock(&l->done_lock);
		j->next = l->done;
		l->done = j;
		pthread_mutex_unlock(&l->done_lock);
		w = write(l->wake, &one, sizeof(one));
		(void)w;
	}
	OPENSSL_thread_stop();
	return NULL;
}

static void
tf_conn_run(struct tf_conn *c, uint32_t ev_fd, uint32_t ev_app)
{
	int r;

	switch (c->state) {
	case TF_HANDSHAKE:
		r = tf_step_handshake(c);
		if (r == 0 && c->state == TF_OPEN)
			r = c->loop->tf->handler != NULL
				? tf_step_serve(c, TF_ALL)
				: tf_step_open(c, TF_ALL, TF_ALL);
		break;
	case TF_OPEN:
	case TF_FLUSH:
		r = c->loop->tf->handler != NULL
			? tf_step_serve(c, ev_fd)
			: tf_step_open(c, ev_fd, ev_app);
		break;
	case TF_DEAD:
		return;
	default:
		r = tf_step_linger(c);
		break;
	}
	if (r == -1)
		tf_conn_close(c);
}

static void tf_conn_place(struct tf_loop *l, struct tf_conn *c);
static void tf_conn_start(struct tf_loop *l, struct tf_conn *c);
static void tf_take_incoming(struct tf_loop *l, bool start);

/* The loop's eventfd: connections from other loops, answers from the workers (or the stop signal). */
static void
tf_wake(struct tf_loop *l)
{
	struct tf_job *j;
	uint64_t v;
	ssize_t r = read(l->wake, &v, sizeof(v));

	(void)r;
	tf_take_incoming(l, true);
	pthread_mutex_lock(&l->done_lock);
	j = l->done;
	l->done = NULL;
	pthread_mutex_unlock(&l->done_lock);
	while (j != NULL) {
		struct tf_job *next = j->next;
		struct tf_conn *c = j->c;

		j->next = NULL;
		if (c == NULL)
			tf_job_free(j); /* its connection is gone */
		else if (tf_answer(c, j) == -1)
			tf_conn_close(c);
		else
			tf_conn_run(c, 0, 0);
		j = next;
	}
}

static void
tf_accept(struct tf_loop *l)
{
	struct tls_front *tf = l->tf;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct tf_conn *c;
		struct tf_src *src;
		uint8_t addr[16];
		int fd, one = 1;
		bool ok = true;

		fd = accept4(tf->listen_fd, (struct sockaddr *)&ss, &sl,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("%s: accept", tf->name);
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		tf_src_addr(&ss, addr);
		c = calloc(1, sizeof(*c));
		pthread_mutex_lock(&tf->lock);
		src = tf_src_get(tf, addr);
		if (c == NULL || src == NULL || atomic_load(&tf->stopping)) {
			ok = false;
		} else if (src->n >= tf->max_per_source && !tf_evict(tf, src)) {
			tf->counts.refused_source++;
			ok = false;
		} else if (tf->nconns - tf->nevicting >= tf->max_conns &&
			   !tf_evict(tf, NULL)) {
			tf->counts.refused_total++;
			ok = false;
		}
		if (ok) {
			tf->nconns++;
			src->n++;
			c->src = src;
			c->fd = fd;
			/* Oldest first: the first to go when room is needed. */
			c->hs_prev = tf->hs_tail;
			if (tf->hs_tail != NULL)
				tf->hs_tail->hs_next = c;
			else
				tf->hs_head = c;
			tf->hs_tail = c;
		} else if (src != NULL && src->n == 0) {
			src->n = 1;
			tf_src_put(tf, src);
		}
		pthread_mutex_unlock(&tf->lock);
		if (!ok) {
			free(c);
			close(fd);
			continue;
		}
		c->app = c->mhd_fd = -1;
		c->ss = ss;
		c->sl = sl;
		c->state = TF_HANDSHAKE;
		tf_conn_place(l, c);
	}
}

/*
 * Request mode: a connection goes to the loop with the fewest, so that
 * most have a loop of their own (where handlers run without a hand-off);
 * it is passed over through that loop's eventfd.
 */
static void
tf_conn_place(struct tf_loop *l, struct tf_conn *c)
{
	struct tls_front *tf = l->tf;
	struct tf_loop *t = l;
	uint64_t one = 1;
	ssize_t w;

	for (unsigned i = 0; tf->handler != NULL && i < tf->nloops; i++)
		if (atomic_load(&tf->loops[i].nconn) < atomic_load(&t->nconn))
			t = &tf->loops[i];
	atomic_fetch_add(&t->nconn, 1);
	if (t == l) {
		tf_conn_start(l, c);
		return;
	}
	pthread_mutex_lock(&t->done_lock);
	c->next = t->incoming;
	t->incoming = c;
	pthread_mutex_unlock(&t->done_lock);
	w = write(t->wake, &one, sizeof(one));
	(void)w;
}

/* Takes c (accepted and counted) into loop l and starts its handshake. */
static void
tf_conn_start(struct tf_loop *l, struct tf_conn *c)
{
	struct tls_front *tf = l->tf;
	struct sockaddr_storage ss = c->ss;
	int fd = c->fd;

	c->loop = l;
	c->prev = c->next = NULL;
	c->last = mono_ms();
	c->deadline = c->last + tf->handshake_ms;
	http_frame_init(&c->hf, tf->max_head, tf->max_body);
	c->hf.keep = tf->keep_body;
	snprintf(c->addr, sizeof(c->addr), "?");
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			  c->addr, sizeof(c->addr));
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			  c->addr, sizeof(c->addr));
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	c->ssl = SSL_new(tf->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		tls_log_errors(tf->name);
		tf_conn_close(c);
		return;
	}
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
				 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				 SSL_MODE_RELEASE_BUFFERS);
	/*
	 * A TCP FIN without close_notify ends the input like
	 * close_notify (SSL_ERROR_ZERO_RETURN) instead of failing the
	 * session with an alert, so a client that half-closes its
	 * socket after a request still gets the answer.  Truncation
	 * cannot pass for a whole request: RFC 9112 framing (checked
	 * here and by the HTTP side) says where a request ends.
	 */
	SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	tf_conn_run(c, TF_ALL, TF_ALL);
}

/* Connections other loops passed to l. */
static void
tf_take_incoming(struct tf_loop *l, bool start)
{
	struct tf_conn *c;

	pthread_mutex_lock(&l->done_lock);
	c = l->incoming;
	l->incoming = NULL;
	pthread_mutex_unlock(&l->done_lock);
	while (c != NULL) {
		struct tf_conn *next = c->next;

		if (start) {
			tf_conn_start(l, c);
		} else { /* stopping: into the list, to be closed */
			c->loop = l;
			c->prev = NULL;
			c->next = l->conns;
			if (l->conns != NULL)
				l->conns->prev = c;
			l->conns = c;
		}
		c = next;
	}
}

/* Ends connections past their deadline. */
static void
tf_sweep(struct tf_loop *l, uint64_t now)
{
	struct tls_front *tf = l->tf;
	struct tf_conn *c = l->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->state == TF_HANDSHAKE && now >= c->deadline) {
			pthread_mutex_lock(&tf->lock);
			tf->counts.hs_late++;
			pthread_mutex_unlock(&tf->lock);
			tf_conn_close(c);
		} else if (c->state == TF_OPEN && c->req_timer &&
			   now >= c->deadline) {
			pthread_mutex_lock(&tf->lock);
			tf->counts.req_late++;
			pthread_mutex_unlock(&tf->lock);
			tf_refuse(c, 408, "request not complete in time");
			tf_conn_run(c, TF_ALL, TF_ALL);
		} else if (c->state == TF_OPEN && c->client_eof &&
			   now >= c->deadline) {
			log_debug("%s: %s closed its side; no answer in %u ms",
				  tf->name, c->addr, tf->request_ms);
			tf_conn_close(c);
		} else if (c->state == TF_OPEN && !c->req_timer &&
			   !c->inflight && now >= c->last + tf->idle_ms) {
			log_debug("%s: %s idle for %u ms; closing", tf->name,
				  c->addr, tf->idle_ms);
			tf_conn_close(c);
		} else if ((c->state == TF_FLUSH || c->state == TF_LINGER) &&
			   now >= c->deadline) {
			tf_conn_close(c);
		}
	}
	if (l == &tf->loops[0]) {
		pthread_mutex_lock(&tf->lock);
		tf_report(tf, now);
		pthread_mutex_unlock(&tf->lock);
	}
}

static void *
tf_loop_main(void *arg)
{
	struct tf_loop *l = arg;
	struct tls_front *tf = l->tf;
	struct epoll_event evs[64];

	l->next_sweep = mono_ms() + TF_SWEEP_MS;
	while (!atomic_load(&tf->stopping)) {
		uint64_t now = mono_ms();
		int n, wait = now >= l->next_sweep ? 0
						   : (int)(l->next_sweep - now);

		n = epoll_wait(l->ep, evs, 64, wait);
		if (n == -1 && errno != EINTR) {
			log_warn("%s: epoll_wait", tf->name);
			break;
		}
		for (int i = 0; i < n; i++) {
			uintptr_t d = (uintptr_t)evs[i].data.u64;

			if (d == 0)
				tf_accept(l);
			else if (d == 2)
				tf_wake(l); /* answers, or the loop condition */
			else if (d & TF_TAG_APP)
				tf_conn_run((struct tf_conn *)(d & ~TF_TAG_APP),
					    0, evs[i].events);
			else
				tf_conn_run((struct tf_conn *)d, evs[i].events,
					    0);
		}
		now = mono_ms();
		if (now >= l->next_sweep) {
			tf_sweep(l, now);
			l->next_sweep = now + TF_SWEEP_MS;
		}
		tf_free_dead(l);
	}
	tf_take_incoming(l, false);
	while (l->conns != NULL)
		tf_conn_close(l->conns);
	tf_free_dead(l);
	/* Free this thread's OpenSSL state (its DRBGs) before the join. */
	OPENSSL_thread_stop();
	return NULL;
}

int
tls_front_start(struct tls_front *tf)
{
	if (tf->listen_fd < 0) {
		log_warnx("%s: start before listen", tf->name);
		return -1;
	}
	tf->report_at = mono_ms() + TF_REPORT_MS;
	for (unsigned i = 0; i < tf->nloops; i++) {
		struct tf_loop *l = &tf->loops[i];
		struct epoll_event lev = { .events = EPOLLIN, .data.u64 = 0 };
		struct epoll_event wev = { .events = EPOLLIN, .data.u64 = 2 };

		/* One loop wakes per new connection, not all of them. */
		if (tf->nloops > 1)
			lev.events |= EPOLLEXCLUSIVE;
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, tf->listen_fd, &lev) ==
			-1 ||
		    epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &wev) == -1) {
			log_warn("%s: epoll_ctl", tf->name);
			return -1;
		}
		if (pthread_create(&l->thread, NULL, tf_loop_main, l) != 0) {
			log_warnx("%s: cannot start an event-loop thread",
				  tf->name);
			return -1;
		}
		l->started = true;
	}
	for (; tf->nstarted < tf->nworkers; tf->nstarted++) {
		if (pthread_create(&tf->workers[tf->nstarted], NULL,
				   tf_worker_main, tf) != 0) {
			log_warnx("%s: cannot start a worker thread", tf->name);
			return -1;
		}
	}
	return 0;
}

void
tls_front_free(struct tls_front *tf)
{
	if (tf == NULL)
		return;
	atomic_store(&tf->stopping, true);
	for (unsigned i = 0; tf->loops != NULL && i < tf->nloops; i++) {
		struct tf_loop *l = &tf->loops[i];
		uint64_t one = 1;

		if (l->started) {
			ssize_t w = write(l->wake, &one, sizeof(one));
			(void)w;
			pthread_join(l->thread, NULL);
		}
	}
	/* The loops have closed every connection: what the workers still
	 * hold or queue is orphaned. */
	pthread_mutex_lock(&tf->q_lock);
	tf->q_stop = true;
	pthread_cond_broadcast(&tf->q_cond);
	pthread_mutex_unlock(&tf->q_lock);
	for (unsigned i = 0; i < tf->nstarted; i++)
		pthread_join(tf->workers[i], NULL);
	free(tf->workers);
	while (tf->q_head != NULL) {
		struct tf_job *j = tf->q_head;

		tf->q_head = j->next;
		tf_job_free(j);
	}
	if (tf->listen_fd >= 0)
		close(tf->listen_fd);
	for (unsigned i = 0; tf->loops != NULL && i < tf->nloops; i++) {
		struct tf_loop *l = &tf->loops[i];

		while (l->done != NULL) {
			struct tf_job *j = l->done;

			l->done = j->next;
			tf_job_free(j);
		}
		pthread_mutex_destroy(&l->done_lock);

		if (l->ep > 0)
			close(l->ep);
		if (l->wake > 0)
			close(l->wake);
		free(l->buf);
	}
	free(tf->loops);
	for (size_t b = 0; b < TF_SRC_BUCKETS; b++) {
		while (tf->srcs[b] != NULL) {
			struct tf_src *s = tf->srcs[b];
			tf->srcs[b] = s->next;
			free(s);
		}
	}
	free(tf->map);
	SSL_CTX_free(tf->ctx);
	pthread_mutex_destroy(&tf->lock);
	pthread_rwlock_destroy(&tf->map_lock);
	pthread_mutex_destroy(&tf->q_lock);
	pthread_cond_destroy(&tf->q_cond);
	free(tf);
}

SSL_CTX *
tls_server_ctx_new(const char *cert_file, const char *key_file,
		   const char *client_ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		goto err;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* CLEANSE_PLAINTEXT: a record's plaintext (keys on the KME link) is
	 * wiped from OpenSSL's read buffer once SSL_read() has copied it. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_CLEANSE_PLAINTEXT);
	/* A whole record per read() where the socket has it; the event loop
	 * drains what OpenSSL holds (SSL_has_pending) before it waits. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* One-shot key requests: no session tickets to leak or store. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (cert_file != NULL) {
		if (file_check_private(key_file) == -1)
			goto err;
		if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
			log_warnx("cannot load certificate %s", cert_file);
			goto err;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key_file,
						SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			log_warnx(
			    "cannot load private key %s (or it does not match %s)",
			    key_file, cert_file);
			goto err;
		}
	}
	if (client_ca_file != NULL) {
		STACK_OF(X509_NAME) * names;

		if (SSL_CTX_load_verify_locations(ctx, client_ca_file, NULL) !=
		    1) {
			log_warnx("cannot load CA certificates from %s",
				  client_ca_file);
			goto err;
		}
		names = SSL_load_client_CA_file(client_ca_file);
		if (names != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(
		    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		    NULL);
		SSL_CTX_set_verify_depth(ctx, 4);
	}
	return ctx;
err:
	tls_log_errors("tls");
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_peer_subject_cn(SSL *ssl, char *out, size_t cap, void *arg)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	X509_NAME *subj;
	char shown[256];
	int len, rc = -1, ncn = 0;

	(void)arg;
	if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	subj = X509_get_subject_name(cert);
	for (int i = -1;
	     (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;)
		ncn++;
	/*
	 * The CN names the SAE or router: a subject with two would let one
	 * certificate speak for either, and which one it gets would depend on
	 * the order of its RDNs.  Exactly one, or no identity.
	 */
	if (ncn != 1) {
		X509_NAME_oneline(subj, shown, sizeof(shown));
		log_info("client certificate subject '%s' has %d common names "
			 "(CN); exactly one is required: no identity",
			 shown, ncn);
		goto out;
	}
	len = X509_NAME_get_text_by_NID(subj, NID_commonName, out, (int)cap);
	/* Refuse empty, truncated, or embedded-NUL common names. */
	if (len <= 0 || (size_t)len >= cap || strlen(out) != (size_t)len) {
		log_info("client certificate common name is empty, too long or "
			 "holds a NUL: no identity");
		goto out;
	}
	rc = 0;
out:
	X509_free(cert);
	return rc;
}
