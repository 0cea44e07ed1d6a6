/*
 * skip_client.h — the client side of SKIP's transport (draft-cisco-skip-02
 * section 3): TLS 1.3 with an external PSK (TLS_AES_256_GCM_SHA384, the
 * PSK bound to SHA-384) or TLS 1.2 with a DHE-PSK suite, to a key
 * provider.  It opens the connection; requests are the caller's.
 */
#ifndef QKDLAB_SKIP_CLIENT_H
#define QKDLAB_SKIP_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SKIP_CLIENT_PSK_MAX 64

struct skip_client_cfg {
	const char *host; /* name or address */
	const char *port;
	const char *identity; /* the PSK identity */
	const uint8_t *psk;
	size_t psk_len;
	int tls_version; /* 12 or 13; 10 and 11 only with tls_any */
	unsigned timeout_s; /* connect, send and receive; 0: none */
	/*
	 * Optional, for probing a key provider (qkdlab-skip-probe): other
	 * suites than the draft's (NULL: those of Table 1), the TLS
	 * 1.3 PSK then bound to the hash of the first TLS 1.3 suite; tls_any
	 * lifts OpenSSL's security level so that weak offers can be made;
	 * identity NULL and psk_len 0: a handshake without any PSK.
	 */
	const char *tls12_ciphers;
	const char *tls13_suites;
	bool tls_any;
};

struct skip_client;

/* Copies what it needs from cfg (the PSK into memory wiped when freed). */
struct skip_client *skip_client_new(const struct skip_client_cfg *cfg);
void skip_client_free(struct skip_client *c);
/*
 * TCP connect and TLS handshake.  Returns the session (free it with
 * skip_client_close), or NULL with the reason (OpenSSL's on a failed
 * handshake) in why.
 */
SSL *skip_client_connect(struct skip_client *c, char *why, size_t cap);
void skip_client_close(SSL *ssl);
/*
 * The PSK in the text of a PSK file: '#' and blank lines skipped, a bare
 * line of hex digits, or "identity:hex" lines of which the one naming
 * identity counts.  With identity NULL the first "identity:hex" line is
 * taken and its identity copied into found (found_cap octets).  text is
 * cut up in place.  Returns the PSK's length, or -1.
 */
int skip_psk_from_text(char *text, const char *identity, char *found,
		       size_t found_cap, uint8_t *psk, size_t cap);

#endif
