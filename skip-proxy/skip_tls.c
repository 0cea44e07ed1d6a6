/*
 * skip_tls.c — the router-side TLS context (draft-cisco-skip-02 section 3,
 * Table 1).
 *
 * PSK mode serves TLS 1.3 with an external PSK (TLS_AES_256_GCM_SHA384 is
 * REQUIRED) and TLS 1.2 PSK / DHE-PSK AES-256 suites (DHE-PSK-AES256-CBC-
 * SHA384 and DHE-PSK-AES256-CBC-SHA are RECOMMENDED).  Certificate mode
 * serves a certificate and requires one from the router.  The tls_front
 * layer runs the handshake; we only supply the SSL_CTX and the identity.
 * A TLS 1.3 PSK may be bound to SHA-384 or SHA-256 (skip_tls_hello_cb);
 * an unknown identity fails exactly as a wrong key does.
 */
#include "skip.h"

#include "log.h"
#include "secmem.h"
#include "tls_front.h"
#include "util.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int skip_tls_id_idx = -1;
static pthread_once_t skip_tls_once = PTHREAD_ONCE_INIT;
/*
 * The key an unknown identity is answered with: the handshake then fails
 * exactly as with a known identity and a wrong key (the same alert, at the
 * same point), so identities cannot be enumerated (RFC 4279 section 2
 * allows this; RFC 8446 4.2.11 leaves the choice to the server).
 */
static uint8_t skip_tls_decoy[32];

/* Per connection: what the PSK look-up saw, for the identity and logs. */
struct skip_tls_note {
	char id[SKIP_PSK_ID_MAX + 1];
	bool known;
	unsigned binder_len; /* 0: no TLS 1.3 PSK offered */
};

static void
skip_tls_note_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		   long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void
skip_tls_init_index(void)
{
	skip_tls_id_idx =
	    SSL_get_ex_new_index(0, NULL, NULL, NULL, skip_tls_note_free);
	if (RAND_bytes(skip_tls_decoy, sizeof(skip_tls_decoy)) != 1)
		skip_tls_id_idx = -1;
}

static struct skip_tls_note *
skip_tls_note(SSL *ssl)
{
	struct skip_tls_note *n = SSL_get_ex_data(ssl, skip_tls_id_idx);

	if (n == NULL) {
		n = calloc(1, sizeof(*n));
		if (n != NULL &&
		    SSL_set_ex_data(ssl, skip_tls_id_idx, n) != 1) {
			free(n);
			n = NULL;
		}
	}
	return n;
}

/* Remembers which PSK identity this connection offered. */
static void
skip_tls_set_identity(SSL *ssl, const char *id, size_t len, bool known)
{
	struct skip_tls_note *n = skip_tls_note(ssl);

	if (n == NULL)
		return;
	if (len > SKIP_PSK_ID_MAX)
		len = SKIP_PSK_ID_MAX;
	memcpy(n->id, id, len);
	n->id[len] = '\0';
	n->known = known;
}

/*
 * The key for an offered identity, or the decoy; returns its length.
 * Unknown identities are logged here, known ones by the front on failure.
 */
static int
skip_tls_key(SSL *ssl, const char *identity, size_t id_len, uint8_t *key,
	     size_t cap, const char *proto)
{
	const struct skip_psk_set *set =
	    SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	int n = skip_psk_lookup(set, identity, id_len, key, cap);
	char shown[80];

	skip_tls_set_identity(ssl, identity, id_len, n > 0);
	if (n > 0)
		return n;
	skip_printable(shown, sizeof(shown), identity, id_len);
	log_info("%s PSK identity '%s' is not configured; the handshake fails "
		 "as with a wrong key",
		 proto, shown);
	memcpy(key, skip_tls_decoy, sizeof(skip_tls_decoy));
	return (int)sizeof(skip_tls_decoy);
}

/* TLS 1.2: RFC 4279 PSK and DHE-PSK. */
static unsigned int
skip_tls12_psk_cb(SSL *ssl, const char *identity, unsigned char *psk,
		  unsigned int max_psk_len)
{
	int n;

	if (identity == NULL)
		return 0;
	n = skip_tls_key(ssl, identity, strlen(identity), psk, max_psk_len,
			 "TLS 1.2");
	return n > 0 ? (unsigned int)n : 0;
}

/*
 * TLS 1.3: a PSK is bound to one hash, and its binder has that hash's
 * length (RFC 8446 4.2.11.2).  The suite must use the same hash, and
 * OpenSSL picks the suite before it looks at the PSK; so look at the first
 * binder in the ClientHello now.  48 octets (SHA-384): the configured
 * suites, TLS_AES_256_GCM_SHA384 first as the draft requires.  32 octets
 * (SHA-256, what `openssl s_client -psk` sends): the configured SHA-256
 * suites, or TLS_AES_128_GCM_SHA256 and TLS_CHACHA20_POLY1305_SHA256 if
 * none is configured.
 */
static int
skip_tls_hello_cb(SSL *ssl, int *alert, void *arg)
{
	const struct skip_conf *c = arg;
	const unsigned char *p;
	size_t len, ilen;
	struct skip_tls_note *n;
	char sha256[sizeof(c->tls13_ciphersuites)],
	    *save = NULL, *tok, buf[sizeof(c->tls13_ciphersuites)];

	(void)alert;
	if (SSL_client_hello_get0_ext(ssl, 41, &p, &len) != 1)
		return SSL_CLIENT_HELLO_SUCCESS; /* no TLS 1.3 PSK */
	/* identities<7..2^16-1>, binders<33..2^16-1>, binder<32..255> */
	if (len < 2 || (ilen = (size_t)p[0] << 8 | p[1]) + 5 > len)
		return SSL_CLIENT_HELLO_SUCCESS; /* OpenSSL refuses it */
	n = skip_tls_note(ssl);
	if (n != NULL)
		n->binder_len = p[2 + ilen + 2];
	if (p[2 + ilen + 2] != 32)
		return SSL_CLIENT_HELLO_SUCCESS;
	sha256[0] = '\0';
	str_copy(buf, sizeof(buf), c->tls13_ciphersuites);
	for (tok = strtok_r(buf, ":", &save); tok != NULL;
	     tok = strtok_r(NULL, ":", &save)) {
		if (strstr(tok, "_SHA256") == NULL)
			continue;
		if (sha256[0] != '\0')
			strncat(sha256, ":",
				sizeof(sha256) - strlen(sha256) - 1);
		strncat(sha256, tok, sizeof(sha256) - strlen(sha256) - 1);
	}
	if (SSL_set_ciphersuites(
		ssl,
		sha256[0] != '\0'
		    ? sha256
		    : "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256") !=
	    1) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* TLS 1.3 external PSK (RFC 8446 4.2.11), bound to the chosen suite's hash. */
static int
skip_tls13_find_cb(SSL *ssl, const unsigned char *identity, size_t id_len,
		   SSL_SESSION **sess)
{
	static const unsigned char aes256gcm[2] = { 0x13, 0x02 };
	const SSL_CIPHER *cipher = SSL_get_pending_cipher(ssl);
	uint8_t key[SKIP_PSK_MAX];
	SSL_SESSION *s = NULL;
	int n, rc = 0;

	*sess = NULL;
	n = skip_tls_key(ssl, (const char *)identity, id_len, key, sizeof(key),
			 "TLS 1.3");
	if (n <= 0)
		goto out;
	if (cipher == NULL || (SSL_CIPHER_get_protocol_id(cipher) >> 8) != 0x13)
		cipher = SSL_CIPHER_find(ssl, aes256gcm);
	s = SSL_SESSION_new();
	if (s == NULL || cipher == NULL ||
	    SSL_SESSION_set1_master_key(s, key, (size_t)n) != 1 ||
	    SSL_SESSION_set_cipher(s, cipher) != 1 ||
	    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
		SSL_SESSION_free(s);
		goto out; /* rc 0: abort the handshake */
	}
	*sess = s;
	rc = 1;
out:
	secmem_wipe(key, sizeof(key));
	return rc;
}

const char *
skip_tls_explain(SSL *ssl, void *arg)
{
	const struct skip_tls_note *n =
	    skip_tls_id_idx >= 0 ? SSL_get_ex_data(ssl, skip_tls_id_idx) : NULL;
	static _Thread_local char why[256];
	char shown[80];

	(void)arg;
	if (n == NULL)
		return NULL;
	skip_printable(shown, sizeof(shown), n->id, strlen(n->id));
	if (n->id[0] == '\0' && n->binder_len == 0)
		return NULL;
	if (n->binder_len != 0 && n->binder_len != 32 && n->binder_len != 48)
		snprintf(why, sizeof(why),
			 "the PSK binder has %u octets: bound "
			 "to neither SHA-256 nor SHA-384",
			 n->binder_len);
	else if (!n->known)
		snprintf(why, sizeof(why),
			 "PSK identity '%s' is not configured", shown);
	else
		snprintf(why, sizeof(why),
			 "PSK identity '%s'%s: the client's "
			 "key is not the one in psk_file",
			 shown,
			 n->binder_len == 32   ? " (bound to SHA-256)"
			 : n->binder_len == 48 ? " (bound to SHA-384)"
					       : "");
	return why;
}

static int
skip_tls_common(SSL_CTX *ctx, const struct skip_conf *c)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* CLEANSE_PLAINTEXT: wipe each record's plaintext once read. */
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
		     SSL_OP_NO_TICKET | SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_dh_auto(ctx, 1); /* DHE-PSK needs DH parameters */
	/* A record in one read(), not its header and then its body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_cipher_list(ctx, c->tls12_ciphers) != 1) {
		log_warnx("tls12_ciphers '%s' names no usable cipher",
			  c->tls12_ciphers);
		return -1;
	}
	if (SSL_CTX_set_ciphersuites(ctx, c->tls13_ciphersuites) != 1) {
		log_warnx("tls13_ciphersuites '%s' is not valid",
			  c->tls13_ciphersuites);
		return -1;
	}
	return 0;
}

SSL_CTX *
skip_tls_psk_ctx_new(const struct skip_conf *c, const struct skip_psk_set *psks)
{
	SSL_CTX *ctx;

	pthread_once(&skip_tls_once, skip_tls_init_index);
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || skip_tls_id_idx == -1)
		goto err;
	if (skip_tls_common(ctx, c) == -1)
		goto err;
	SSL_CTX_set_app_data(ctx, (void *)(uintptr_t)psks);
	SSL_CTX_set_psk_server_callback(ctx, skip_tls12_psk_cb);
	SSL_CTX_set_psk_find_session_callback(ctx, skip_tls13_find_cb);
	SSL_CTX_set_client_hello_cb(ctx, skip_tls_hello_cb,
				    (void *)(uintptr_t)c);
	return ctx;
err:
	tls_log_errors("skip-tls");
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
skip_tls_cert_ctx_new(const struct skip_conf *c)
{
	SSL_CTX *ctx;

	pthread_once(&skip_tls_once, skip_tls_init_index);
	ctx = tls_server_ctx_new(c->cert_file, c->key_file, c->client_ca_file);
	if (ctx == NULL)
		return NULL;
	if (skip_tls_common(ctx, c) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
skip_tls_peer_id(SSL *ssl, char *out, size_t cap, void *arg)
{
	const struct skip_tls_note *n =
	    skip_tls_id_idx >= 0 ? SSL_get_ex_data(ssl, skip_tls_id_idx) : NULL;

	if (n != NULL && n->known)
		return str_copy(out, cap, n->id);
	return tls_peer_subject_cn(ssl, out, cap, arg);
}

void
skip_tls_front_cfg(const struct skip_conf *c, SSL_CTX *ctx,
		   struct tls_front_cfg *tc)
{
	tc->ssl_ctx = ctx;
	tc->peer_id = skip_tls_peer_id;
	tc->explain = skip_tls_explain;
	tc->max_conns = c->max_connections;
	tc->idle_timeout_ms = (unsigned)c->idle_timeout_ms;
	tc->max_per_source = c->max_connections_per_source;
	tc->handshake_timeout_ms = (unsigned)c->handshake_timeout_ms;
	tc->request_timeout_ms = (unsigned)c->request_timeout_ms;
	tc->workers = c->threads;
	/* As many loops as workers: most routers get a loop of their own,
	 * where their requests are served without a hand-off. */
	tc->threads = c->tls_threads > c->threads ? c->tls_threads : c->threads;
}
