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
#include "skip_client.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESP_MAX 16384
#define TIMEOUT_S 3

struct keysvc_skip {
	char host[256];
	struct skip_client *cl; /* lib/skip_client.c: TLS 1.3 PSK */
};

struct keysvc_skip *
keysvc_skip_new(const char *host, const char *port, const char *identity,
		const uint8_t *psk, size_t psk_len)
{
	struct keysvc_skip *k = calloc(1, sizeof(*k));
	const struct skip_client_cfg cfg = {
		.host = host,
		.port = port,
		.identity = identity,
		.psk = psk,
		.psk_len = psk_len,
		.tls_version = 13,
		.timeout_s = TIMEOUT_S,
	};

	if (k == NULL)
		return NULL;
	if (str_copy(k->host, sizeof(k->host), host) == -1 ||
	    (k->cl = skip_client_new(&cfg)) == NULL) {
		keysvc_skip_free(k);
		return NULL;
	}
	return k;
}

void
keysvc_skip_free(struct keysvc_skip *k)
{
	if (k == NULL)
		return;
	skip_client_free(k->cl);
	free(k);
}

/*
 * Sends one GET, reads the whole answer; the body (de-chunked if need
 * be) lands in out, NUL-terminated.  Returns the HTTP status or -1.
 */
static int
http_get(struct keysvc_skip *k, const char *path, char *out, size_t cap)
{
	static char resp[RESP_MAX];
	char req[512], why[512];
	SSL *ssl;
	size_t len = 0;
	int n, status = -1;

	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json"
		 "\r\nConnection: close\r\n\r\n",
		 path, k->host);
	/* OpenSSL's reason (an alert, a bad PSK binder...) when it fails. */
	if ((ssl = skip_client_connect(k->cl, why, sizeof(why))) == NULL) {
		log_warnx("skip: %s", why);
		return -1;
	}
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		goto out;
	while (len < sizeof(resp) &&
	       (n = SSL_read(ssl, resp + len, (int)(sizeof(resp) - len))) > 0)
		len += (size_t)n;
	status = http_resp_parse(resp, len, out, cap);
out:
	secmem_wipe(resp, sizeof(resp));
	skip_client_close(ssl);
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
	/* docs/DESIGN.md: a key ID that is not 1..32 octets is refused. */
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
