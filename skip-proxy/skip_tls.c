/*
 * skip_tls.c — the router-side TLS context (draft-cisco-skip-02 section 3,
 * Table 1).
 *
 * PSK mode serves TLS 1.3 with an external PSK (TLS_AES_256_GCM_SHA384 is
 * REQUIRED) and TLS 1.2 PSK / DHE-PSK AES-256 suites (DHE-PSK-AES256-CBC-
 * SHA384 and DHE-PSK-AES256-CBC-SHA are RECOMMENDED).  Certificate mode
 * serves a certificate and requires one from the router.  The tls_front
 * layer runs the handshake; we only supply the SSL_CTX and the identity.
 */
#include "skip.h"

#include "log.h"
#include "secmem.h"
#include "tls_front.h"
#include "util.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int skip_tls_id_idx = -1;
static pthread_once_t skip_tls_once = PTHREAD_ONCE_INIT;

static void
skip_tls_id_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		 long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	free(ptr);
}

static void
skip_tls_init_index(void)
{
	skip_tls_id_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
					       skip_tls_id_free);
}

/* Remembers which PSK identity this connection used. */
static void
skip_tls_set_identity(SSL *ssl, const char *id, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return;
	memcpy(copy, id, len);
	copy[len] = '\0';
	free(SSL_get_ex_data(ssl, skip_tls_id_idx));
	SSL_set_ex_data(ssl, skip_tls_id_idx, copy);
}

/* TLS 1.2: RFC 4279 PSK and DHE-PSK. */
static unsigned int
skip_tls12_psk_cb(SSL *ssl, const char *identity, unsigned char *psk,
		  unsigned int max_psk_len)
{
	const struct skip_psk_set *set = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	int n;

	char shown[80];

	if (identity == NULL)
		return 0;
	n = skip_psk_lookup(set, identity, strlen(identity), psk, max_psk_len);
	if (n <= 0) {
		skip_printable(shown, sizeof(shown), identity, strlen(identity));
		log_info("TLS 1.2 PSK identity '%s' is not configured", shown);
		return 0;
	}
	skip_tls_set_identity(ssl, identity, strlen(identity));
	return (unsigned int)n;
}

/*
 * TLS 1.3 external PSK (RFC 8446 4.2.11).  The PSK is bound to the hash of
 * the suite OpenSSL has chosen by now, so with the default configuration
 * (only TLS_AES_256_GCM_SHA384) it is a SHA-384 PSK.
 */
static int
skip_tls13_find_cb(SSL *ssl, const unsigned char *identity, size_t id_len,
		   SSL_SESSION **sess)
{
	static const unsigned char aes256gcm[2] = { 0x13, 0x02 };
	const struct skip_psk_set *set = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const SSL_CIPHER *cipher = SSL_get_pending_cipher(ssl);
	uint8_t key[SKIP_PSK_MAX];
	SSL_SESSION *s = NULL;
	int n, rc = 0;

	*sess = NULL;
	n = skip_psk_lookup(set, (const char *)identity, id_len, key, sizeof(key));
	if (n <= 0) {
		char shown[80];

		skip_printable(shown, sizeof(shown), (const char *)identity, id_len);
		log_info("TLS 1.3 PSK identity '%s' is not configured", shown);
		rc = 1;		/* no PSK: the handshake fails without one */
		goto out;
	}
	if (cipher == NULL || (SSL_CIPHER_get_protocol_id(cipher) >> 8) != 0x13)
		cipher = SSL_CIPHER_find(ssl, aes256gcm);
	s = SSL_SESSION_new();
	if (s == NULL || cipher == NULL ||
	    SSL_SESSION_set1_master_key(s, key, (size_t)n) != 1 ||
	    SSL_SESSION_set_cipher(s, cipher) != 1 ||
	    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
		SSL_SESSION_free(s);
		goto out;	/* rc 0: abort the handshake */
	}
	skip_tls_set_identity(ssl, (const char *)identity, id_len);
	*sess = s;
	rc = 1;
out:
	secmem_wipe(key, sizeof(key));
	return rc;
}

static int
skip_tls_common(SSL_CTX *ctx, const struct skip_conf *c)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* CLEANSE_PLAINTEXT: wipe each record's plaintext once read. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
			    SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_dh_auto(ctx, 1);	/* DHE-PSK needs DH parameters */
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
	if (ctx == NULL || skip_tls_id_idx < 0)
		goto err;
	if (skip_tls_common(ctx, c) < 0)
		goto err;
	SSL_CTX_set_app_data(ctx, (void *)(uintptr_t)psks);
	SSL_CTX_set_psk_server_callback(ctx, skip_tls12_psk_cb);
	SSL_CTX_set_psk_find_session_callback(ctx, skip_tls13_find_cb);
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
	if (skip_tls_common(ctx, c) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
skip_tls_peer_id(SSL *ssl, char *out, size_t cap, void *arg)
{
	const char *id = skip_tls_id_idx >= 0 ?
			 SSL_get_ex_data(ssl, skip_tls_id_idx) : NULL;

	if (id != NULL)
		return str_copy(out, cap, id);
	return tls_peer_subject_cn(ssl, out, cap, arg);
}
