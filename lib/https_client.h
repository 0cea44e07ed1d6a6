/*
 * https_client.h — the one HTTPS client of the daemons: the ETSI 014
 * clients of mka-agent, skip-proxy and qkdlab-key, and kme-sim's KME link.
 * HTTP/1.1 (RFC 9112) over OpenSSL, TLS 1.2 or later; URLs are
 * https://host[:port][/path][?query], host a name, an IPv4 address or a
 * bracketed IPv6 address.
 *
 * Connections wait in a pool (up to cfg.pool, by host and port), so
 * back-to-back calls skip the handshake (keep-alive); one that got
 * "Connection: close", a close-delimited body or an error is not kept.
 * An idle connection the server has closed is noticed before the request
 * goes out (a non-blocking peek) and replaced.  Both sides authenticate:
 * the client certificate, and the server certificate checked against
 * ca_file alone and the URL's host (or peer_name).  A new connection
 * uses the files as they are then: renewed ones are read again, and
 * ones that do not load leave the last good ones in use.  Each request is one
 * TLS record; answers are parsed by lib/http_resp.c.  Response bodies grow
 * through secmem and are wiped when cleared: they carry keys.  A call is
 * retried only when the failure proves the request was never sent (no
 * connection, no handshake), because the requests here consume keys.
 * Calls go straight to the server: no proxy.  Thread-safe.  A program
 * that leaves SIGPIPE at its default gets it ignored.
 */
#ifndef QKDLAB_HTTPS_CLIENT_H
#define QKDLAB_HTTPS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTPS_CLIENT_ERR_MAX 256

struct https_client_cfg {
	const char *ca_file; /* PEM; the only trust anchors */
	const char *cert_file; /* PEM client certificate and key */
	const char *key_file;
	/*
	 * NULL: the server certificate must name the URL's host (unless
	 * !verify_host).  Otherwise it must name peer_name, whatever the
	 * address (kme-sim names link peers by KME ID).
	 */
	const char *peer_name;
	bool verify_host;
	uint64_t timeout_ms; /* whole call; 0: none */
	uint64_t connect_timeout_ms; /* TCP and TLS; 0: timeout_ms or 300 s */
	unsigned retries; /* more attempts when never sent */
	uint64_t retry_delay_ms;
	size_t body_max; /* longest response body accepted */
	size_t pool; /* idle connections kept (1..64) */
};

enum https_fail {
	HTTPS_OK = 0,
	HTTPS_UNREACHABLE, /* no answer: resolve, connect, TLS, timeout */
	HTTPS_TOO_LARGE, /* the body passed body_max */
	HTTPS_LOCAL, /* out of memory, bad URL */
};

struct https_resp {
	enum https_fail fail;
	long status; /* the HTTP status when fail is HTTPS_OK */
	char *body; /* NUL-terminated (NULL when empty); secmem */
	size_t len, cap;
	unsigned attempts;
	char err[HTTPS_CLIENT_ERR_MAX]; /* why, when fail != HTTPS_OK */
};

struct https_client;

/* The strings of cfg are copied.  NULL on error (logged). */
struct https_client *https_client_new(const struct https_client_cfg *cfg);
void https_client_free(struct https_client *c);

/*
 * GET url (json NULL) or POST json (application/json) to it.  0 when an
 * HTTP answer came, whatever its status (r->status, r->body); -1 with
 * r->fail and r->err otherwise.  Call https_resp_clear(r) after either.
 */
int https_client_call(struct https_client *c, const char *url, const char *json,
		      struct https_resp *r);
/* Wipes and frees the body; r may be reused. */
void https_resp_clear(struct https_resp *r);

#endif
