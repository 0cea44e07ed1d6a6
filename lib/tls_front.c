/*
 * tls_front.c — TLS termination in OpenSSL in front of libmicrohttpd.
 *
 * One accept thread; one thread per TLS connection that runs the handshake
 * (bounded by a timeout) and then copies bytes between the TLS session and
 * its end of a socketpair whose other end belongs to libmicrohttpd.
 */
#include "tls_front.h"

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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TF_BUF 16384

struct tf_conn {
	struct tls_front *tf;
	int tcp_fd;
	int app_fd;		/* our end of the socketpair */
	int mhd_fd;		/* MHD's end; the key for identity look-ups */
	SSL *ssl;
	char peer[TLS_PEER_ID_MAX];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct tf_conn *next;
};

struct tls_front {
	SSL_CTX *ctx;
	struct MHD_Daemon *mhd;
	tls_peer_id_fn peer_id;
	void *peer_id_arg;
	char name[32];
	unsigned max_conns;
	unsigned handshake_ms;
	unsigned idle_ms;

	int listen_fd;
	int wake[2];		/* wakes the accept thread for shutdown */
	uint16_t port;
	pthread_t accept_thread;
	bool started;
	bool stopping;

	pthread_mutex_t lock;
	pthread_cond_t idle;	/* signalled when a connection ends */
	unsigned nconns;
	struct tf_conn *conns;	/* newest first */
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

struct tls_front *
tls_front_new(const struct tls_front_cfg *cfg)
{
	struct tls_front *tf = calloc(1, sizeof(*tf));

	if (tf == NULL)
		return NULL;
	/* A peer that vanishes mid-write must cost a connection, not the process. */
	signal(SIGPIPE, SIG_IGN);
	tf->ctx = cfg->ssl_ctx;
	SSL_CTX_up_ref(tf->ctx);
	tf->mhd = cfg->mhd;
	tf->peer_id = cfg->peer_id;
	tf->peer_id_arg = cfg->peer_id_arg;
	snprintf(tf->name, sizeof(tf->name), "%s", cfg->name ? cfg->name : "tls");
	tf->max_conns = cfg->max_conns ? cfg->max_conns : 256;
	tf->handshake_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 5000;
	tf->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 60000;
	tf->listen_fd = -1;
	tf->wake[0] = tf->wake[1] = -1;
	pthread_mutex_init(&tf->lock, NULL);
	pthread_cond_init(&tf->idle, NULL);
	if (pipe2(tf->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_warn("%s: pipe", tf->name);
		tls_front_free(tf);
		return NULL;
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
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("%s: socket", tf->name);
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		log_warn("%s: cannot listen on %s port %u", tf->name, addr, port);
		goto out;
	}
	if (listen(fd, 128) < 0) {
		log_warn("%s: listen", tf->name);
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		tf->port = ntohs(ss.ss_family == AF_INET6 ?
				 ((struct sockaddr_in6 *)&ss)->sin6_port :
				 ((struct sockaddr_in *)&ss)->sin_port);
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

int
tls_front_conn_peer(struct tls_front *tf, struct MHD_Connection *conn,
		    char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci;
	int rc = -1;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return -1;
	pthread_mutex_lock(&tf->lock);
	/* Newest first: a recycled fd number resolves to its new owner. */
	for (struct tf_conn *c = tf->conns; c != NULL; c = c->next) {
		if (c->mhd_fd == ci->connect_fd) {
			rc = str_copy(out, cap, c->peer);
			break;
		}
	}
	pthread_mutex_unlock(&tf->lock);
	return rc;
}

static void
tf_set_timeouts(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int
tf_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				if (poll(&pfd, 1, 5000) <= 0)
					return -1;
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
tf_unlink(struct tls_front *tf, struct tf_conn *conn)
{
	pthread_mutex_lock(&tf->lock);
	for (struct tf_conn **pp = &tf->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == conn) {
			*pp = conn->next;
			break;
		}
	}
	tf->nconns--;
	pthread_cond_broadcast(&tf->idle);
	pthread_mutex_unlock(&tf->lock);
}

/*
 * The HTTP side closed, possibly while the client is still sending (a body
 * refused before it arrived).  Closing now would reset the connection and
 * the client could lose the answer already sent; so stop writing, and read
 * and discard what still comes, for a bounded time and amount.
 */
static void
tf_linger(int fd)
{
	static const int budget_ms = 1000;
	uint64_t until = mono_ms() + budget_ms;
	size_t drained = 0;
	char sink[4096];

	shutdown(fd, SHUT_WR);
	while (drained < 1024 * 1024) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = mono_ms();
		ssize_t n;

		if (now >= until || poll(&pfd, 1, (int)(until - now)) <= 0)
			break;
		n = read(fd, sink, sizeof(sink));
		if (n <= 0)
			break;
		drained += (size_t)n;
	}
}

/* Copies between the TLS session and libmicrohttpd until either side ends. */
static void
tf_pump(struct tf_conn *c)
{
	uint8_t *buf = malloc(TF_BUF);
	struct pollfd pfd[2];
	bool http_done = false;

	if (buf == NULL)
		return;
	pfd[0].fd = c->tcp_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = c->app_fd;
	pfd[1].events = POLLIN;
	for (;;) {
		int n;

		if (SSL_pending(c->ssl) > 0) {
			pfd[0].revents = POLLIN;
			pfd[1].revents = 0;
		} else {
			n = poll(pfd, 2, (int)c->tf->idle_ms);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;	/* idle timeout or error */
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = SSL_read(c->ssl, buf, TF_BUF);
			if (n <= 0)
				break;
			/*
			 * Once the HTTP side stops reading (it answered and
			 * closed), discard the rest: its answer still has to
			 * go out before the connection ends.
			 */
			if (!http_done &&
			    tf_write_all(c->app_fd, buf, (size_t)n) < 0)
				http_done = true;
			/* Plaintext (keys) must not wait in here for the
			 * next message of a kept-alive connection. */
			secmem_wipe(buf, (size_t)n);
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(c->app_fd, buf, TF_BUF);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				SSL_shutdown(c->ssl);
				tf_linger(c->tcp_fd);
				break;
			}
			n = SSL_write(c->ssl, buf, (int)r);
			secmem_wipe(buf, (size_t)r);
			if (n != (int)r)
				break;
		}
	}
	secmem_free(buf);
}

static void *
tf_conn_main(void *arg)
{
	struct tf_conn *c = arg;
	struct tls_front *tf = c->tf;
	char addrstr[INET6_ADDRSTRLEN] = "?";
	int sp[2] = { -1, -1 };
	bool added = false;

	if (c->addr.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&c->addr)->sin_addr,
			  addrstr, sizeof(addrstr));
	else if (c->addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->addr)->sin6_addr,
			  addrstr, sizeof(addrstr));

	tf_set_timeouts(c->tcp_fd, tf->handshake_ms);
	c->ssl = SSL_new(tf->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->tcp_fd) != 1)
		goto out;
	if (SSL_accept(c->ssl) != 1) {
		unsigned long e = ERR_peek_error();
		log_info("%s: TLS handshake with %s refused: %s", tf->name,
			 addrstr, e ? ERR_reason_error_string(e) : "connection closed");
		tls_log_errors(tf->name);
		goto out;
	}
	if (tf->peer_id != NULL &&
	    tf->peer_id(c->ssl, c->peer, sizeof(c->peer), tf->peer_id_arg) < 0) {
		log_info("%s: peer %s has no acceptable identity; closing",
			 tf->name, addrstr);
		goto out;
	}
	log_debug("%s: TLS session from %s (%s, %s) as '%s'", tf->name, addrstr,
		  SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl), c->peer);
	tf_set_timeouts(c->tcp_fd, tf->idle_ms);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		log_warn("%s: socketpair", tf->name);
		goto out;
	}
	fcntl(sp[1], F_SETFL, fcntl(sp[1], F_GETFL) | O_NONBLOCK);
	c->app_fd = sp[0];
	c->mhd_fd = sp[1];
	pthread_mutex_lock(&tf->lock);
	c->next = tf->conns;
	tf->conns = c;
	added = true;
	pthread_mutex_unlock(&tf->lock);
	/* MHD owns sp[1] from here on, even when this call fails. */
	if (MHD_add_connection(tf->mhd, sp[1], (struct sockaddr *)&c->addr,
			       c->addr_len) != MHD_YES) {
		log_warnx("%s: HTTP layer refused the connection from %s",
			  tf->name, addrstr);
		goto out;
	}
	tf_pump(c);
out:
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	close(c->tcp_fd);
	if (sp[0] >= 0)
		close(sp[0]);
	/*
	 * Free this thread's OpenSSL state (its DRBGs) now, not in a thread
	 * destructor after we signal the end: tls_front_free() may return and
	 * the process exit before that destructor runs.
	 */
	OPENSSL_thread_stop();
	if (added) {
		tf_unlink(tf, c);
	} else {
		pthread_mutex_lock(&tf->lock);
		tf->nconns--;
		pthread_cond_broadcast(&tf->idle);
		pthread_mutex_unlock(&tf->lock);
	}
	free(c);
	return NULL;
}

static void *
tf_accept_main(void *arg)
{
	struct tls_front *tf = arg;
	struct pollfd pfd[2] = {
		{ .fd = tf->listen_fd, .events = POLLIN },
		{ .fd = tf->wake[0], .events = POLLIN },
	};
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct tf_conn *c;
		pthread_t thr;
		int fd, one = 1;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("%s: poll", tf->name);
			break;
		}
		if (pfd[1].revents != 0)
			break;
		fd = accept4(tf->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				log_warn("%s: accept", tf->name);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_mutex_lock(&tf->lock);
		if (tf->stopping || tf->nconns >= tf->max_conns) {
			pthread_mutex_unlock(&tf->lock);
			log_warnx("%s: connection limit (%u) reached; refusing one",
				  tf->name, tf->max_conns);
			close(fd);
			continue;
		}
		tf->nconns++;
		pthread_mutex_unlock(&tf->lock);

		c = calloc(1, sizeof(*c));
		if (c != NULL) {
			c->tf = tf;
			c->tcp_fd = fd;
			c->app_fd = c->mhd_fd = -1;
			c->addr = ss;
			c->addr_len = sl;
		}
		if (c == NULL || pthread_create(&thr, &attr, tf_conn_main, c) != 0) {
			log_warnx("%s: cannot start a connection thread", tf->name);
			free(c);
			close(fd);
			pthread_mutex_lock(&tf->lock);
			tf->nconns--;
			pthread_mutex_unlock(&tf->lock);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

int
tls_front_start(struct tls_front *tf)
{
	if (tf->listen_fd < 0) {
		log_warnx("%s: start before listen", tf->name);
		return -1;
	}
	if (pthread_create(&tf->accept_thread, NULL, tf_accept_main, tf) != 0) {
		log_warnx("%s: cannot start the accept thread", tf->name);
		return -1;
	}
	tf->started = true;
	return 0;
}

void
tls_front_free(struct tls_front *tf)
{
	if (tf == NULL)
		return;
	pthread_mutex_lock(&tf->lock);
	tf->stopping = true;
	pthread_mutex_unlock(&tf->lock);
	if (tf->started) {
		ssize_t w = write(tf->wake[1], "x", 1);
		(void)w;
		pthread_join(tf->accept_thread, NULL);
	}
	if (tf->listen_fd >= 0)
		close(tf->listen_fd);
	/* Wake every connection thread, then wait for them to finish. */
	pthread_mutex_lock(&tf->lock);
	for (struct tf_conn *c = tf->conns; c != NULL; c = c->next)
		shutdown(c->tcp_fd, SHUT_RDWR);
	while (tf->nconns > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&tf->idle, &tf->lock, &ts);
		/* Threads still in their handshake hold no list entry yet. */
		for (struct tf_conn *c = tf->conns; c != NULL; c = c->next)
			shutdown(c->tcp_fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&tf->lock);
	if (tf->wake[0] >= 0)
		close(tf->wake[0]);
	if (tf->wake[1] >= 0)
		close(tf->wake[1]);
	SSL_CTX_free(tf->ctx);
	pthread_mutex_destroy(&tf->lock);
	pthread_cond_destroy(&tf->idle);
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
			    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_CLEANSE_PLAINTEXT);
	/* One-shot key requests: no session tickets to leak or store. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (cert_file != NULL) {
		if (file_check_private(key_file) < 0)
			goto err;
		if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
			log_warnx("cannot load certificate %s", cert_file);
			goto err;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			log_warnx("cannot load private key %s (or it does not match %s)",
				  key_file, cert_file);
			goto err;
		}
	}
	if (client_ca_file != NULL) {
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(ctx, client_ca_file, NULL) != 1) {
			log_warnx("cannot load CA certificates from %s", client_ca_file);
			goto err;
		}
		names = SSL_load_client_CA_file(client_ca_file);
		if (names != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
				   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
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
	int len, rc = -1;

	(void)arg;
	if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	subj = X509_get_subject_name(cert);
	len = X509_NAME_get_text_by_NID(subj, NID_commonName, out, (int)cap);
	/* Refuse empty, truncated, or embedded-NUL common names. */
	if (len <= 0 || (size_t)len >= cap || strlen(out) != (size_t)len)
		goto out;
	rc = 0;
out:
	X509_free(cert);
	return rc;
}
