/*
 * skip_client.c — TLS-PSK connections to a SKIP key provider.
 */
#include "skip_client.h"

#include "encoding.h"
#include "secmem.h"
#include "util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* draft-cisco-skip-02 3: the suites a key provider offers, strongest first. */
#define SKIP_CLIENT_TLS12 \
	"DHE-PSK-AES256-GCM-SHA384:DHE-PSK-AES256-CBC-SHA384:DHE-PSK-AES256-CBC-SHA"
#define SKIP_CLIENT_TLS13 "TLS_AES_256_GCM_SHA384"

struct skip_client {
	SSL_CTX *ctx;
	char host[256], port[16], identity[128];
	uint8_t psk[SKIP_CLIENT_PSK_MAX];
	size_t psk_len;
	unsigned timeout_s;
};

/* The first TLS 1.3 suite offered: the one the PSK is bound to. */
static const SSL_CIPHER *
skip_client_tls13_cipher(SSL *ssl)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_get_ciphers(ssl);

	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *ci = sk_SSL_CIPHER_value(sk, i);

		if ((SSL_CIPHER_get_protocol_id(ci) >> 8) == 0x13)
			return ci;
	}
	return NULL;
}

/* TLS 1.3 external PSK (RFC 8446 4.2.11): a session built from the key. */
static int
skip_client_use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id,
			size_t *idlen, SSL_SESSION **sess)
{
	struct skip_client *c = SSL_get_app_data(ssl);
	const SSL_CIPHER *cipher = skip_client_tls13_cipher(ssl);
	SSL_SESSION *s;

	*sess = NULL;
	/* A second call after HelloRetryRequest names the suite's hash. */
	if (cipher == NULL ||
	    (md != NULL && md != SSL_CIPHER_get_handshake_digest(cipher)))
		return 1;
	s = SSL_SESSION_new();
	if (s == NULL ||
	    SSL_SESSION_set1_master_key(s, c->psk, c->psk_len) != 1 ||
	    SSL_SESSION_set_cipher(s, cipher) != 1 ||
	    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
		SSL_SESSION_free(s);
		return 0;
	}
	*sess = s;
	*id = (const unsigned char *)c->identity;
	*idlen = strlen(c->identity);
	return 1;
}

/* TLS 1.2 PSK (RFC 4279): identity and key for any hint. */
static unsigned int
skip_client_psk12(SSL *ssl, const char *hint, char *identity,
		  unsigned int max_identity, unsigned char *psk,
		  unsigned int max_psk)
{
	struct skip_client *c = SSL_get_app_data(ssl);

	(void)hint;
	if (strlen(c->identity) + 1 > max_identity || c->psk_len > max_psk)
		return 0;
	memcpy(identity, c->identity, strlen(c->identity) + 1);
	memcpy(psk, c->psk, c->psk_len);
	return (unsigned int)c->psk_len;
}

/* TLS 1.0..1.2 (tls_version 10..12) or 1.3, exactly that version. */
static int
skip_client_version(SSL_CTX *ctx, const struct skip_client_cfg *cfg)
{
	static const int v[] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
				 TLS1_3_VERSION };
	int i = cfg->tls_version - 10;

	if (i < 0 || i > 3 || (i < 2 && !cfg->tls_any))
		return -1;
	if (cfg->tls_any)
		SSL_CTX_set_security_level(ctx, 0);
	if (SSL_CTX_set_min_proto_version(ctx, v[i]) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, v[i]) != 1)
		return -1;
	return 0;
}

struct skip_client *
skip_client_new(const struct skip_client_cfg *cfg)
{
	struct skip_client *c = calloc(1, sizeof(*c));
	bool psk = cfg->identity != NULL;

	if (c == NULL)
		return NULL;
	if (str_copy(c->host, sizeof(c->host), cfg->host) == -1 ||
	    str_copy(c->port, sizeof(c->port), cfg->port) == -1 ||
	    (psk &&
	     str_copy(c->identity, sizeof(c->identity), cfg->identity) == -1) ||
	    (psk && cfg->psk_len == 0) || cfg->psk_len > sizeof(c->psk) ||
	    (c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    skip_client_version(c->ctx, cfg) == -1)
		goto err;
	if (cfg->psk_len > 0)
		memcpy(c->psk, cfg->psk, cfg->psk_len);
	c->psk_len = cfg->psk_len;
	c->timeout_s = cfg->timeout_s;
	/* Answers carry keys: wipe each record once read. */
	SSL_CTX_set_options(c->ctx,
			    SSL_OP_CLEANSE_PLAINTEXT | SSL_OP_NO_TICKET);
	/* Without a PSK: OpenSSL's certificate suites (a probe's offer). */
	if (!psk)
		return c;
	if (cfg->tls_version == 13) {
		if (SSL_CTX_set_ciphersuites(c->ctx, cfg->tls13_suites != NULL
							 ? cfg->tls13_suites
							 : SKIP_CLIENT_TLS13) !=
		    1)
			goto err;
		SSL_CTX_set_psk_use_session_callback(c->ctx,
						     skip_client_use_session);
	} else {
		if (SSL_CTX_set_cipher_list(c->ctx, cfg->tls12_ciphers != NULL
							? cfg->tls12_ciphers
							: SKIP_CLIENT_TLS12) !=
		    1)
			goto err;
		SSL_CTX_set_psk_client_callback(c->ctx, skip_client_psk12);
	}
	return c;
err:
	skip_client_free(c);
	return NULL;
}

void
skip_client_free(struct skip_client *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ctx);
	secmem_free(c);
}

static int
skip_client_tcp(const struct skip_client *c, char *why, size_t cap)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	struct timeval tv = { .tv_sec = (time_t)c->timeout_s };
	int fd = -1, rc, one = 1, err = 0;

	if ((rc = getaddrinfo(c->host, c->port, &hints, &res)) != 0) {
		snprintf(why, cap, "%s: %s", c->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd == -1) {
			err = errno;
			continue;
		}
		/* The send timeout bounds connect() too (Linux). */
		if (c->timeout_s != 0) {
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				   sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv));
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd == -1)
		snprintf(why, cap, "connect to %s port %s: %s", c->host,
			 c->port, strerror(err));
	return fd;
}

SSL *
skip_client_connect(struct skip_client *c, char *why, size_t cap)
{
	SSL *ssl;
	int fd;

	if ((fd = skip_client_tcp(c, why, cap)) == -1)
		return NULL;
	if ((ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		snprintf(why, cap, "out of memory");
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	SSL_set_app_data(ssl, c);
	ERR_clear_error();
	if (SSL_connect(ssl) != 1) {
		unsigned long e = ERR_peek_last_error();
		const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

		snprintf(why, cap,
			 "TLS-PSK handshake with %s port %s failed: %s",
			 c->host, c->port, r != NULL ? r : "connection closed");
		ERR_clear_error();
		skip_client_close(ssl);
		return NULL;
	}
	return ssl;
}

void
skip_client_close(SSL *ssl)
{
	int fd;

	if (ssl == NULL)
		return;
	fd = SSL_get_fd(ssl);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	if (fd != -1)
		close(fd);
}

int
skip_psk_from_text(char *text, const char *identity, char *found,
		   size_t found_cap, uint8_t *psk, size_t cap)
{
	char *save = NULL;

	for (char *ln = strtok_r(text, "\r\n", &save); ln != NULL;
	     ln = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(ln, ':'), *hex = ln;

		if (ln[0] == '#' || ln[0] == '\0')
			continue;
		if (colon != NULL) {
			*colon = '\0';
			if (identity == NULL) {
				if (str_copy(found, found_cap, ln) == -1)
					return -1;
				identity = found;
			}
			if (strcmp(ln, identity) != 0)
				continue;
			hex = colon + 1;
		}
		return hex_decode(psk, cap, hex, strlen(hex));
	}
	return -1;
}
