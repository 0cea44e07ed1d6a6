/*
 * tls_front.h — OpenSSL terminates TLS; libmicrohttpd or the daemon's own
 * request handler (request mode, below) answers the HTTP requests.
 *
 * libmicrohttpd's own TLS is GnuTLS, which cannot require client
 * certificates at the handshake nor serve TLS 1.3 PSK with
 * TLS_AES_256_GCM_SHA384.  So the daemons accept TCP here, run the
 * handshake with an SSL_CTX they configured (mTLS or PSK), check the
 * request framing (lib/http_frame.h), and hand the plaintext to
 * libmicrohttpd over a socketpair (MHD_add_connection).  The authenticated
 * peer identity (certificate CN, PSK identity) is looked up from the access
 * handler with tls_front_conn_peer().
 *
 * A few event-loop threads serve every connection (no thread per
 * connection).  Each phase has a deadline of its own: the handshake must
 * end within handshake_timeout_ms of the accept, a request head within
 * request_timeout_ms of the handshake (and of its own first byte), and a
 * connection with no traffic either way is closed after idle_timeout_ms.
 * Connections are limited in total and per source address (IPv4 address,
 * IPv6 /64); when a limit is reached the oldest connection still in its
 * handshake (unauthenticated) makes room, and only when there is none is
 * the new connection refused.  Refusals, evictions and missed deadlines are
 * logged as counts per interval, not one line each.
 *
 * Request mode (cfg.handler instead of cfg.mhd) has no libmicrohttpd and
 * no socketpair: each request whose framing passed is split by
 * lib/http_req.h and handed to the handler on a small pool of worker
 * threads fed by a queue; the answer comes back to the connection's loop
 * (its eventfd), which encrypts and sends it.  A connection alone on its
 * loop has its handler run by the loop itself (no other connection can
 * be kept waiting meanwhile), which saves the two thread hand-offs.  The next request of a
 * connection is not read before the answer to the last one is out, so
 * pipelined requests are answered in order and a client that does not
 * read its answers stops being read.
 *
 * In socketpair mode the MHD daemon must be started by the caller with
 * MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET
 * (a thread pool is fine) and MHD_OPTION_CONNECTION_LIMIT of at least
 * max_conns, and stopped after tls_front_free().
 * tls_front_new() sets SIGPIPE to SIG_IGN for the process and raises the
 * soft open-file limit to the hard one (three descriptors per connection).
 */
#ifndef QKDLAB_TLS_FRONT_H
#define QKDLAB_TLS_FRONT_H

#include <microhttpd.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_req.h"

#define TLS_PEER_ID_MAX 256

/*
 * Fills out with the identity of the authenticated peer; returns -1 when
 * it has none that is acceptable: the connection stays up, but
 * tls_front_conn_peer() fails for it, so the HTTP layer answers 401.
 */
typedef int (*tls_peer_id_fn)(SSL *ssl, char *out, size_t cap, void *arg);
/*
 * After a failed handshake: a reason to log besides OpenSSL's (e.g. which
 * PSK identity was offered), or NULL.
 */
typedef const char *(*tls_explain_fn)(SSL *ssl, void *arg);

/*
 * Request mode: one whole request (head and body, framing checked), as
 * the handler sees it.  Every pointer is valid during the call only.
 */
struct tls_front_req {
	const struct http_req *http; /* method, target, fields (lib/http_req.h) */
	uint64_t body_len; /* body octets as sent (chunk framing included) */
	const char *peer; /* authenticated identity; NULL if it has none */
	const char *tls_version; /* "TLSv1.3" */
	const char *tls_suite; /* RFC name */
	const char *addr; /* client address, for logs */
	/* With cfg.keep_body: the body's data, chunk framing removed, with a
	 * NUL after it (NULL when there is none); the front wipes it. */
	const char *body;
	size_t body_size;
	/* Its Content-Length is over cfg.handler_max_body: the handler is
	 * called at once, without the body, to refuse it (and close). */
	bool body_over;
	/* Called on the event loop with workers to hand over to: a handler
	 * that would wait (on another server, say) sets resp->defer and
	 * returns before it has changed anything. */
	bool on_loop;
};

/* What the handler answers; the front adds Date, Content-Length, Connection. */
struct tls_front_resp {
	int status; /* 0 or out of range: 500 */
	const char *content_type; /* a static string, or NULL */
	char fields[256]; /* further field lines, each ending in CRLF */
	char *body; /* heap (malloc); the front wipes and frees it */
	size_t len;
	bool close; /* close the connection after this answer */
	bool defer; /* req.on_loop only: call again on a worker */
};

/*
 * Runs on a worker thread (or the event loop when workers is 0) and may
 * block; must fill resp.  Answers go out in request order: a connection
 * has one request at a time with its handler.
 */
typedef void (*tls_front_handler_fn)(const struct tls_front_req *req,
				     struct tls_front_resp *resp, void *arg);

struct tls_front_cfg {
	SSL_CTX *ssl_ctx; /* the front takes its own reference */
	struct MHD_Daemon *mhd; /* socketpair mode; NULL in request mode */
	tls_front_handler_fn handler; /* request mode (mhd NULL) */
	void *handler_arg;
	unsigned workers; /* request mode: handler threads; 0: in the loop */
	/* Request mode: every handler is called on its loop first (no thread
	 * hand-off); on a worker only when it defers (req.on_loop). */
	bool loop_first;
	bool keep_body; /* request mode: bodies for the handler (req.body) */
	uint64_t handler_max_body; /* keep_body: see req.body_over; 0: none */
	tls_peer_id_fn peer_id; /* NULL: identity "" */
	void *peer_id_arg;
	const char *name; /* for logs, e.g. "014", "kme-link" */
	tls_explain_fn explain; /* NULL: OpenSSL's reason only */
	unsigned max_conns; /* 0: 256 */
	unsigned max_per_source; /* 0: max_conns / 4, at least 1 */
	unsigned handshake_timeout_ms; /* 0: 5000, whole handshake */
	unsigned request_timeout_ms; /* 0: 10000, whole request head */
	unsigned idle_timeout_ms; /* 0: 60000 */
	unsigned threads; /* event loops; 0: 2 */
	unsigned max_head; /* request head bytes; 0: 16384 */
	uint64_t max_body; /* request body bytes; 0: 1 MiB */
};

struct tls_front;

struct tls_front *tls_front_new(const struct tls_front_cfg *cfg);
/*
 * Binds and listens on addr ("127.0.0.1", "::", "0.0.0.0"...) and port
 * (0 picks a free one; see tls_front_port()).
 */
int tls_front_listen(struct tls_front *tf, const char *addr, uint16_t port);
uint16_t tls_front_port(const struct tls_front *tf);
/* Starts the event-loop threads. */
int tls_front_start(struct tls_front *tf);
/* Stops accepting, closes every connection, waits for the threads. */
void tls_front_free(struct tls_front *tf);

/* Copies the peer identity of an MHD connection; -1 if unknown. */
int tls_front_conn_peer(struct tls_front *tf, struct MHD_Connection *conn,
			char *out, size_t cap);
/*
 * The TLS version ("TLSv1.3") and suite (its RFC name) of an MHD
 * connection's session; -1 if unknown.
 */
int tls_front_conn_tls(struct tls_front *tf, struct MHD_Connection *conn,
		       char *version, size_t vcap, char *suite, size_t scap);
/* Current number of TLS connections (for metrics). */
unsigned tls_front_conn_count(struct tls_front *tf);

/*
 * A TLS 1.2+ server context with cert/key (PEM files).  If client_ca is
 * not NULL, clients must present a certificate signed by it, or the
 * handshake fails.  The key file must not be group/other accessible.
 */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
			    const char *client_ca_file);
/*
 * tls_peer_id_fn: the subject CN of the verified client certificate; a
 * subject with no CN or more than one has no identity (logged).
 */
int tls_peer_subject_cn(SSL *ssl, char *out, size_t cap, void *arg);
/* Logs the OpenSSL error queue under a prefix and clears it. */
void tls_log_errors(const char *prefix);

#endif
