/*
 * etsi014.c — ETSI GS QKD 014 message parsing and URL rules.
 */
#include "etsi014.h"

#include "secmem.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 3986 2.3 unreserved characters pass; every other octet is %XX. */
static int
etsi014_escape(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = id_char_ok((char)c) || c == '~';

		if (cap - o < (plain ? 2u : 4u))
			return -1;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

int
etsi014_url(char *out, size_t cap, const char *base, const char *sae,
	    const char *method, const char *query)
{
	size_t blen = strlen(base), o;
	int n;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	if (strncasecmp(base, "https://", 8) != 0 || *sae == '\0')
		return -1;
	while (blen > 8 && base[blen - 1] == '/')
		blen--;
	if (blen + sizeof("/api/v1/keys/") > cap)
		return -1;
	memcpy(out, base, blen);
	memcpy(out + blen, "/api/v1/keys/", sizeof("/api/v1/keys/"));
	o = strlen(out);
	if (etsi014_escape(out + o, cap - o, sae) == -1)
		goto fail;
	o += strlen(out + o);
	n = snprintf(out + o, cap - o, "/%s%s%s", method,
		     query != NULL ? "?" : "", query != NULL ? query : "");
	if (n < 0 || (size_t)n >= cap - o)
		goto fail;
	return 0;
fail:
	out[0] = '\0';
	return -1;
}

void
etsi014_parse_error(const char *json, size_t len, char *msg, size_t cap)
{
	cJSON *root = len > 0 ? cJSON_ParseWithLength(json, len) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "message");

	if (cap == 0)
		goto out;
	if (cJSON_IsString(m) && m->valuestring[0] != '\0') {
		size_t i;

		/* Printable only: it goes into other JSON bodies and logs. */
		for (i = 0; m->valuestring[i] != '\0' && i + 1 < cap; i++) {
			unsigned char ch = (unsigned char)m->valuestring[i];
			msg[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		}
		msg[i] = '\0';
	} else {
		snprintf(msg, cap, "%s",
			 len == 0 ? "no error message"
				  : "error body without a message");
	}
out:
	cJSON_Delete(root);
}

/* Overwrites every base64 key string before cJSON frees it. */
static void
etsi014_wipe_keys(cJSON *keys)
{
	cJSON *k;

	if (!cJSON_IsArray(keys))
		return;
	cJSON_ArrayForEach(k, keys)
	{
		cJSON *v = cJSON_GetObjectItemCaseSensitive(k, "key");

		if (cJSON_IsString(v))
			secmem_wipe(v->valuestring, strlen(v->valuestring));
	}
}

/* One Key object into out; 0, or -1 with why set. */
static int
etsi014_parse_key(const cJSON *k, struct etsi014_key *out, char *why,
		  size_t whycap)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(k, "key_ID");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(k, "key");
	int n;

	if (!cJSON_IsString(id) || uuid_parse(out->id, id->valuestring) == -1) {
		snprintf(why, whycap, "KME key_ID is not a UUID");
		return -1;
	}
	n = cJSON_IsString(key)
		? base64_decode(out->key, sizeof(out->key), key->valuestring,
				strlen(key->valuestring))
		: -1;
	if (n <= 0) {
		snprintf(why, whycap, "KME key is not base64 of 1..%d octets",
			 ETSI014_KEY_MAX);
		return -1;
	}
	out->key_len = (size_t)n;
	return 0;
}

int
etsi014_parse_keys_n(const char *json, size_t len, struct etsi014_key *out,
		     size_t n, char *why, size_t whycap)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	const cJSON *k;
	size_t i = 0;
	int rc = -1;

	secmem_wipe(out, n * sizeof(*out));
	/* Clause 6.3: "keys" is an array of Key objects. */
	if (root == NULL || !cJSON_IsArray(keys)) {
		snprintf(why, whycap, "KME answer is not a 014 Key container");
		goto out;
	}
	if (n == 0 || (size_t)cJSON_GetArraySize(keys) != n) {
		snprintf(why, whycap, "KME returned %d keys, expected %zu",
			 cJSON_GetArraySize(keys), n);
		goto out;
	}
	cJSON_ArrayForEach(k, keys)
	{
		if (etsi014_parse_key(k, &out[i], why, whycap) == -1)
			goto out;
		/* One key_ID twice would hand one key to two consumers. */
		for (size_t j = 0; j < i; j++)
			if (memcmp(out[j].id, out[i].id, UUID_LEN) == 0) {
				snprintf(why, whycap,
					 "KME returned one key_ID twice");
				goto out;
			}
		i++;
	}
	rc = 0;
out:
	if (rc == -1)
		secmem_wipe(out, n * sizeof(*out));
	etsi014_wipe_keys(keys);
	cJSON_Delete(root);
	return rc;
}

int
etsi014_parse_keys(const char *json, size_t len, struct etsi014_key *out,
		   char *why, size_t whycap)
{
	return etsi014_parse_keys_n(json, len, out, 1, why, whycap);
}
