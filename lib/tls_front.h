/*
 * tls_front.h — OpenSSL terminates TLS, libmicrohttpd speaks HTTP.
 *
 * libmicrohttpd's own TLS is GnuTLS, which cannot require client
 * certificates at the handshake nor serve TLS 1.3 PSK with
 * TLS_AES_256_GCM_SHA384 (DESIGN.md).  So the daemons accept TCP here, run
 * the handshake with an SSL_CTX they configured (mTLS or PSK), and hand the
 * plaintext to libmicrohttpd over a socketpair (MHD_add_connection).  The
 * authenticated peer identity (certificate CN, PSK identity) is looked up
 * from the access handler with tls_front_conn_peer().
 *
 * The MHD daemon must be started by the caller with
 * MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET
 * (a thread pool is fine), and stopped after tls_front_free().
 * tls_front_new() sets SIGPIPE to SIG_IGN for the process.
 */
#ifndef QKDLAB_TLS_FRONT_H
#define QKDLAB_TLS_FRONT_H

#include <microhttpd.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_PEER_ID_MAX 256

/*
 * Fills out with the identity of the authenticated peer; returns -1 to
 * refuse the connection (it is closed right after the handshake).
 */
typedef int (*tls_peer_id_fn)(SSL *ssl, char *out, size_t cap, void *arg);

struct tls_front_cfg {
	SSL_CTX *ssl_ctx;		/* the front takes its own reference */
	struct MHD_Daemon *mhd;
	tls_peer_id_fn peer_id;		/* NULL: identity "" */
	void *peer_id_arg;
	const char *name;		/* for logs, e.g. "014", "kme-link" */
	unsigned max_conns;		/* 0: 256 */
	unsigned handshake_timeout_ms;	/* 0: 5000 */
	unsigned idle_timeout_ms;	/* 0: 60000 */
};

struct tls_front;

struct tls_front *tls_front_new(const struct tls_front_cfg *cfg);
/*
 * Binds and listens on addr ("127.0.0.1", "::", "0.0.0.0"...) and port
 * (0 picks a free one; see tls_front_port()).
 */
int tls_front_listen(struct tls_front *tf, const char *addr, uint16_t port);
uint16_t tls_front_port(const struct tls_front *tf);
/* Starts the accept thread. */
int tls_front_start(struct tls_front *tf);
/* Stops accepting, closes every connection, waits for the threads. */
void tls_front_free(struct tls_front *tf);

/* Copies the peer identity of an MHD connection; -1 if unknown. */
int tls_front_conn_peer(struct tls_front *tf, struct MHD_Connection *conn,
			char *out, size_t cap);
/* Current number of TLS connections (for metrics). */
unsigned tls_front_conn_count(struct tls_front *tf);

/*
 * A TLS 1.2+ server context with cert/key (PEM files).  If client_ca is
 * not NULL, clients must present a certificate signed by it, or the
 * handshake fails.  The key file must not be group/other accessible.
 */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
			    const char *client_ca_file);
/* tls_peer_id_fn: the subject CN of the verified client certificate. */
int tls_peer_subject_cn(SSL *ssl, char *out, size_t cap, void *arg);
/* Logs the OpenSSL error queue under a prefix and clears it. */
void tls_log_errors(const char *prefix);

#endif
