/*
 * keysvc_etsi014.c — ETSI GS QKD 014 client (libcurl, mutual TLS).
 *
 * Requests are synchronous with a short timeout: the KME is local to the
 * site, and the QKD binding rate-limits lookups.  Response bodies hold
 * key material and are wiped.
 */
#include "keysvc_etsi014.h"

#include "encoding.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX	(64 * 1024)
#define TIMEOUT_MS	3000L

struct keysvc_etsi014 {
	char url[256], cert[256], key[256], ca[256];
	CURL *curl;
};

struct body {
	char *p;
	size_t len;
};

struct keysvc_etsi014 *
keysvc_etsi014_new(const char *url, const char *cert, const char *key,
		   const char *ca)
{
	struct keysvc_etsi014 *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	if (str_copy(k->url, sizeof(k->url), url) == -1 ||
	    str_copy(k->cert, sizeof(k->cert), cert) == -1 ||
	    str_copy(k->key, sizeof(k->key), key) == -1 ||
	    str_copy(k->ca, sizeof(k->ca), ca) == -1 ||
	    (k->curl = curl_easy_init()) == NULL) {
		free(k);
		return NULL;
	}
	return k;
}

void
keysvc_etsi014_free(struct keysvc_etsi014 *k)
{
	if (k == NULL)
		return;
	curl_easy_cleanup(k->curl);
	free(k);
}

static size_t
on_data(char *data, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *p;

	if (b->len + add + 1 > BODY_MAX ||
	    (p = malloc(b->len + add + 1)) == NULL)
		return 0;
	if (b->p != NULL)
		memcpy(p, b->p, b->len);
	memcpy(p + b->len, data, add);
	secmem_free(b->p);
	b->p = p;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

/* SAE IDs go into the URL path: keep them to a safe alphabet. */
static bool
sae_ok(const char *sae)
{
	if (*sae == '\0')
		return false;
	for (const char *c = sae; *c != '\0'; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
		      *c == '.'))
			return false;
	return true;
}

/* POSTs json to url/api/v1/keys/<sae>/<op>; the 200 body in *out. */
static int
post(struct keysvc_etsi014 *k, const char *sae, const char *op,
     const char *json, struct body *out)
{
	struct curl_slist *hdr = NULL;
	char url[512], err[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURLcode rc;

	if (!sae_ok(sae))
		return -1;
	snprintf(url, sizeof(url), "%s/api/v1/keys/%s/%s", k->url, sae, op);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_reset(k->curl);
	curl_easy_setopt(k->curl, CURLOPT_URL, url);
	curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(k->curl, CURLOPT_SSLCERT, k->cert);
	curl_easy_setopt(k->curl, CURLOPT_SSLKEY, k->key);
	curl_easy_setopt(k->curl, CURLOPT_CAINFO, k->ca);
	curl_easy_setopt(k->curl, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
	curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, out);
	/* libcurl's detail, e.g. OpenSSL's verify reason (S-19). */
	curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, err);
	rc = curl_easy_perform(k->curl);
	curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK) {
		log_warnx("etsi014: %s %s: %s%s%s%s", op, sae,
			  curl_easy_strerror(rc), err[0] != '\0' ? " (" : "",
			  err, err[0] != '\0' ? ")" : "");
		return -1;
	}
	curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		log_warnx("etsi014: %s %s: HTTP %ld", op, sae, code);
		return -1;
	}
	return 0;
}

int
keysvc_etsi014_parse_container(const char *p, size_t len, uint8_t id[UUID_LEN],
			       uint8_t *key, size_t key_len)
{
	cJSON *root = cJSON_ParseWithLength(p, len);
	const cJSON *keys, *k, *kid, *kb;
	int n, rc = -1;

	/*
	 * 014 Table 11: "keys" is an array of Key objects.  We always ask for
	 * one key (number 1, or one key_ID), so any other count is a KME
	 * fault; taking the first of several would also leave the others
	 * unwiped in the tree.
	 */
	keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	if (!cJSON_IsArray(keys) || cJSON_GetArraySize(keys) != 1)
		goto out;
	k = cJSON_GetArrayItem(keys, 0);
	kid = cJSON_GetObjectItemCaseSensitive(k, "key_ID");
	kb = cJSON_GetObjectItemCaseSensitive(k, "key");
	if (key_len == 0 || !cJSON_IsString(kid) || !cJSON_IsString(kb) ||
	    uuid_parse(id, kid->valuestring) == -1)
		goto out;
	n = base64_decode(key, key_len, kb->valuestring,
			  strlen(kb->valuestring));
	if (n != (int)key_len)
		goto out;
	rc = 0;
out:
	if (rc == -1) {
		secmem_wipe(key, key_len);
		memset(id, 0, UUID_LEN);
	}
	if (cJSON_IsArray(keys))
		for (k = keys->child; k != NULL; k = k->next) {
			kb = cJSON_GetObjectItemCaseSensitive(k, "key");
			if (cJSON_IsString(kb))
				secmem_wipe(kb->valuestring,
					    strlen(kb->valuestring));
		}
	cJSON_Delete(root);
	return rc;
}

static int
etsi_new_key(void *arg, const char *slave, size_t key_len, uint8_t id[32],
	     size_t *id_len, uint8_t *key)
{
	struct body b = { 0 };
	char json[64];
	int rc = -1;

	snprintf(json, sizeof(json), "{\"number\":1,\"size\":%zu}",
		 key_len * 8);
	if (post(arg, slave, "enc_keys", json, &b) == 0 && b.p != NULL &&
	    keysvc_etsi014_parse_container(b.p, b.len, id, key,
					   key_len) == 0) {
		*id_len = UUID_LEN;
		rc = 0;
	}
	secmem_free(b.p);
	return rc;
}

static int
etsi_get_key(void *arg, const char *master, const uint8_t *id, size_t id_len,
	     size_t key_len, uint8_t *key)
{
	struct body b = { 0 };
	char json[96], uuid[UUID_STR_LEN + 1];
	uint8_t got[UUID_LEN];
	int rc = -1;

	/* Our key IDs are UUIDs: anything else cannot be an 014 key. */
	if (id_len != UUID_LEN)
		return -1;
	uuid_format(uuid, id);
	snprintf(json, sizeof(json), "{\"key_IDs\":[{\"key_ID\":\"%s\"}]}",
		 uuid);
	if (post(arg, master, "dec_keys", json, &b) == 0 && b.p != NULL &&
	    keysvc_etsi014_parse_container(b.p, b.len, got, key,
					   key_len) == 0 &&
	    memcmp(got, id, UUID_LEN) == 0)
		rc = 0;
	if (rc == -1)
		secmem_wipe(key, key_len);
	secmem_free(b.p);
	return rc;
}

const struct mka_keysvc_ops keysvc_etsi014_ops = {
	.new_key = etsi_new_key,
	.get_key = etsi_get_key,
};
