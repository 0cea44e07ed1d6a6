/*
 * keysvc_skip.c — SKIP client over TLS 1.3 external PSK (OpenSSL).
 *
 * One connection per request ("Connection: close"): SKIP calls are rare
 * (one per CA) and rate-limited by the QKD binding.  Answers hold key
 * material in hex and are wiped.
 */
#include "keysvc_skip.h"

#include "http_resp.h"

#include "encoding.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RESP_MAX	16384
#define TIMEOUT_S	3

struct keysvc_skip {
	char host[256], port[16], identity[128];
	uint8_t psk[64];
	size_t psk_len;
	SSL_CTX *ctx;
};

/* TLS 1.3 external PSK: offer a session built from the PSK (RFC 8446). */
static int
use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id,
	    size_t *idlen, SSL_SESSION **sess)
{
	struct keysvc_skip *k = SSL_get_app_data(ssl);
	const SSL_CIPHER *c;
	SSL_SESSION *s;
	static const unsigned char aes256[2] = { 0x13, 0x02 };

	(void)md;
	if ((c = SSL_CIPHER_find(ssl, aes256)) == NULL ||
	    (s = SSL_SESSION_new()) == NULL)
		return 0;
	if (SSL_SESSION_set1_master_key(s, k->psk, k->psk_len) != 1 ||
	    SSL_SESSION_set_cipher(s, c) != 1 ||
	    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
		SSL_SESSION_free(s);
		return 0;
	}
	*sess = s;
	*id = (const unsigned char *)k->identity;
	*idlen = strlen(k->identity);
	return 1;
}

struct keysvc_skip *
keysvc_skip_new(const char *host, const char *port, const char *identity,
		const uint8_t *psk, size_t psk_len)
{
	struct keysvc_skip *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	if (str_copy(k->host, sizeof(k->host), host) == -1 ||
	    str_copy(k->port, sizeof(k->port), port) == -1 ||
	    str_copy(k->identity, sizeof(k->identity), identity) == -1 ||
	    psk_len == 0 || psk_len > sizeof(k->psk) ||
	    (k->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto err;
	memcpy(k->psk, psk, psk_len);
	k->psk_len = psk_len;
	if (SSL_CTX_set_min_proto_version(k->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(k->ctx, "TLS_AES_256_GCM_SHA384") != 1)
		goto err;
	/* The answer holds the key: wipe each record once it is read. */
	SSL_CTX_set_options(k->ctx, SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_psk_use_session_callback(k->ctx, use_session);
	return k;
err:
	keysvc_skip_free(k);
	return NULL;
}

void
keysvc_skip_free(struct keysvc_skip *k)
{
	if (k == NULL)
		return;
	SSL_CTX_free(k->ctx);
	secmem_free(k);
}

static int
tcp_connect(const struct keysvc_skip *k)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	int fd = -1;

	if (getaddrinfo(k->host, k->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd == -1)
			continue;
		/* The send timeout bounds connect() too (Linux). */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * Sends one GET, reads the whole answer; the body (de-chunked if need
 * be) lands in out, NUL-terminated.  Returns the HTTP status or -1.
 */
static int
http_get(struct keysvc_skip *k, const char *path, char *out, size_t cap)
{
	static char resp[RESP_MAX];
	char req[512];
	SSL *ssl = NULL;
	size_t len = 0;
	int fd, n, status = -1;

	if ((fd = tcp_connect(k)) == -1) {
		log_warn("skip: connect %s:%s", k->host, k->port);
		return -1;
	}
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json"
		 "\r\nConnection: close\r\n\r\n", path, k->host);
	if ((ssl = SSL_new(k->ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
		goto out;
	SSL_set_app_data(ssl, k);
	if (SSL_connect(ssl) != 1) {
		/* OpenSSL's reason (an alert, a bad PSK binder...): S-19. */
		char why[256] = "connection closed";
		unsigned long e = ERR_peek_last_error();

		if (e != 0)
			ERR_error_string_n(e, why, sizeof(why));
		log_warnx("skip: TLS-PSK handshake with %s:%s failed: %s",
			  k->host, k->port, why);
		goto out;
	}
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		goto out;
	while (len < sizeof(resp) &&
	       (n = SSL_read(ssl, resp + len, (int)(sizeof(resp) - len))) > 0)
		len += (size_t)n;
	status = http_resp_parse(resp, len, out, cap);
out:
	secmem_wipe(resp, sizeof(resp));
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
	ERR_clear_error();
	return status;
}

/* {"keyId":"<hex>","key":"<hex>"} -> id, key (key_len octets). */
static int
parse_key(const char *json, uint8_t id[32], size_t *id_len, uint8_t *key,
	  size_t key_len)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(root, "keyId");
	const cJSON *kb = cJSON_GetObjectItemCaseSensitive(root, "key");
	int n, rc = -1;

	if (!cJSON_IsString(kid) || !cJSON_IsString(kb))
		goto out;
	/* DESIGN.md: a key ID that is not 1..32 octets is refused. */
	n = hex_decode(id, 32, kid->valuestring, strlen(kid->valuestring));
	if (n < 1)
		goto out;
	*id_len = (size_t)n;
	n = hex_decode(key, key_len, kb->valuestring, strlen(kb->valuestring));
	if (n != (int)key_len) {
		secmem_wipe(key, key_len);
		goto out;
	}
	rc = 0;
out:
	if (cJSON_IsString(kb))
		secmem_wipe(kb->valuestring, strlen(kb->valuestring));
	cJSON_Delete(root);
	return rc;
}

static int
skip_new_key(void *arg, const char *slave, size_t key_len, uint8_t id[32],
	     size_t *id_len, uint8_t *key)
{
	static char body[RESP_MAX];
	char path[512];
	int status, rc = -1;

	if (!id_text_ok(slave, 1, SIZE_MAX))
		return -1;
	snprintf(path, sizeof(path), "/key?remoteSystemID=%s&size=%zu", slave,
		 key_len * 8);
	status = http_get(arg, path, body, sizeof(body));
	if (status == 200)
		rc = parse_key(body, id, id_len, key, key_len);
	else
		log_warnx("skip: GET /key for %s: status %d", slave, status);
	secmem_wipe(body, sizeof(body));
	return rc;
}

static int
skip_get_key(void *arg, const char *master, const uint8_t *id, size_t id_len,
	     size_t key_len, uint8_t *key)
{
	static char body[RESP_MAX];
	char path[512], hex[65];
	uint8_t got[32];
	size_t got_len = 0;
	int status, rc = -1;

	if (!id_text_ok(master, 1, SIZE_MAX) || id_len < 1 || id_len > 32)
		return -1;
	hex_encode(hex, id, id_len);
	snprintf(path, sizeof(path), "/key/%s?remoteSystemID=%s", hex, master);
	status = http_get(arg, path, body, sizeof(body));
	if (status == 200 &&
	    parse_key(body, got, &got_len, key, key_len) == 0 &&
	    got_len == id_len && memcmp(got, id, id_len) == 0)
		rc = 0;
	else if (status != 200)
		log_warnx("skip: GET /key/<id> of %s: status %d", master,
			  status);
	if (rc == -1)
		secmem_wipe(key, key_len);
	secmem_wipe(body, sizeof(body));
	return rc;
}

const struct mka_keysvc_ops keysvc_skip_ops = {
	.new_key = skip_new_key,
	.get_key = skip_get_key,
};
