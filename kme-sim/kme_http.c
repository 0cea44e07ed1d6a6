/*
 * kme_http.c — HTTP plumbing of kme-sim's servers: request bodies, JSON
 * and error answers on libmicrohttpd (KME link, admin) and on the TLS
 * front's request mode (ETSI 014), and the key container text.
 */
#include "kme.h"

#include "http_hdr.h"
#include "log.h"
#include "secmem.h"
#include "tls_front.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
kme_http_gather(struct MHD_Connection *conn, void **con_cls, const char *upload,
		size_t *upload_size, size_t max)
{
	struct kme_http_req *r = *con_cls;

	if (r == NULL) {
		const char *cl = MHD_lookup_connection_value(
		    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return false;
		*con_cls = r;
		/*
		 * A body declared too large is refused at once rather than
		 * waited for; answering on this first call also closes the
		 * connection.  Otherwise answer later, or MHD closes it.
		 */
		if (cl != NULL && !http_content_length_ok(cl, max)) {
			r->too_large = true;
			return true;
		}
		return false;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;

		/* Not realloc(): a link message carries key bytes, and
		 * realloc() frees a block it moves unwiped. */
		if (!r->too_large && r->len + n <= max &&
		    secmem_reserve(&r->body, &r->cap, r->len + n + 1) == 0) {
			memcpy(r->body + r->len, upload, n);
			r->len += n;
			r->body[r->len] = '\0';
		} else {
			r->too_large = true;
		}
		*upload_size = 0;
		return false;
	}
	return true;
}

void
kme_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		   enum MHD_RequestTerminationCode toe)
{
	struct kme_http_req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	/* Bodies of link messages carry key bytes. */
	secmem_free(r->body);
	free(r);
	*con_cls = NULL;
	/* So may the stack the request was handled on (libraries' frames). */
	secmem_wipe_stack();
}

/*
 * A response body may hold keys: wiped when MHD is done with it.  Bodies
 * come from cJSON (whose free is secmem_free, secmem_init) or from
 * kme_http_key_text (malloc); secmem_free wipes the whole block.
 */
static void
kme_http_body_free(void *cls)
{
	secmem_free(cls);
}

enum MHD_Result
kme_http_json(struct MHD_Connection *conn, unsigned status, char *json)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (json == NULL)
		return kme_http_error(conn, 503, "out of memory");
	/* MHD sends from this buffer; a copy (MUST_COPY) is freed unwiped. */
	resp = MHD_create_response_from_buffer_with_free_callback_cls(
	    strlen(json), json, kme_http_body_free, json);
	if (resp == NULL) {
		kme_http_body_free(json);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The Error data format (ETSI 014 Table 14) of message; NULL: no memory. */
static char *
kme_http_error_text(const char *message)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o != NULL && cJSON_AddStringToObject(o, "message", message) != NULL)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

enum MHD_Result
kme_http_error(struct MHD_Connection *conn, unsigned status,
	       const char *message)
{
	char *s = kme_http_error_text(message);

	if (s == NULL) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(
		    0, NULL, MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret = MHD_queue_response(conn, status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	return kme_http_json(conn, status, s);
}

/*
 * The same answers for the TLS front's request mode (the ETSI 014 port):
 * the front sends resp->body and wipes it (it may hold keys).
 */
unsigned
kme_http_resp_json(struct tls_front_resp *resp, unsigned status, char *json)
{
	resp->content_type = "application/json";
	/* Keys and key IDs are for the caller alone (RFC 9111 5.2.2.5). */
	snprintf(resp->fields, sizeof(resp->fields),
		 "Cache-Control: no-store\r\n");
	if (json == NULL) {
		static const char oom[] = "{\"message\":\"out of memory\"}";

		status = 503;
		json = malloc(sizeof(oom));
		if (json != NULL)
			memcpy(json, oom, sizeof(oom));
		else
			resp->close = true;
	}
	resp->status = (int)status;
	resp->body = json;
	resp->len = json != NULL ? strlen(json) : 0;
	return status;
}

unsigned
kme_http_resp_error(struct tls_front_resp *resp, unsigned status,
		    const char *message)
{
	return kme_http_resp_json(resp, status, kme_http_error_text(message));
}

enum MHD_Result
kme_http_empty(struct MHD_Connection *conn, unsigned status)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

cJSON *
kme_http_key_container(const struct kme_key *keys, size_t n)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char id[UUID_STR_LEN + 1];

	if (root == NULL)
		return NULL;
	arr = cJSON_AddArrayToObject(root, "keys"); /* Table 11 */
	if (arr == NULL)
		goto err;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		size_t blen = base64_encoded_len(keys[i].len);
		char *b64 = malloc(blen + 1);

		if (o == NULL || b64 == NULL) {
			cJSON_Delete(o);
			free(b64);
			goto err;
		}
		cJSON_AddItemToArray(arr, o);
		uuid_format(id, keys[i].id);
		base64_encode(b64, keys[i].bytes, keys[i].len);
		if (cJSON_AddStringToObject(o, "key_ID", id) == NULL ||
		    cJSON_AddStringToObject(o, "key", b64) == NULL) {
			secmem_free(b64);
			goto err;
		}
		secmem_free(b64);
	}
	return root;
err:
	cJSON_Delete(root);
	return NULL;
}

char *
kme_http_key_text(const struct kme_key *keys, size_t n)
{
	static const char head[] = "{\"keys\":[", tail[] = "]}",
			  id_open[] = "{\"key_ID\":\"",
			  key_open[] = "\",\"key\":\"", item_close[] = "\"}";
	size_t len = sizeof(head) - 1 + sizeof(tail) - 1, off;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += (i > 0) + sizeof(id_open) - 1 + UUID_STR_LEN +
		       sizeof(key_open) - 1 + base64_encoded_len(keys[i].len) +
		       sizeof(item_close) - 1;
	s = malloc(len + 1);
	if (s == NULL)
		return NULL;
	/* Base64 and UUID text need no JSON escapes (RFC 8259, 7). */
	memcpy(s, head, sizeof(head) - 1);
	off = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			s[off++] = ',';
		memcpy(s + off, id_open, sizeof(id_open) - 1);
		off += sizeof(id_open) - 1;
		uuid_format(s + off, keys[i].id);
		off += UUID_STR_LEN;
		memcpy(s + off, key_open, sizeof(key_open) - 1);
		off += sizeof(key_open) - 1;
		base64_encode(s + off, keys[i].bytes, keys[i].len);
		off += base64_encoded_len(keys[i].len);
		memcpy(s + off, item_close, sizeof(item_close) - 1);
		off += sizeof(item_close) - 1;
	}
	memcpy(s + off, tail, sizeof(tail));
	return s;
}

struct kme_key *
kme_http_parse_keys(const cJSON *arr, size_t want, size_t len)
{
	struct kme_key *keys;
	const cJSON *o;
	size_t i = 0;

	if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != want)
		return NULL;
	keys = kme_keys_new(want);
	if (keys == NULL)
		return NULL;
	cJSON_ArrayForEach(o, arr)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "key_ID");
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
		int got;

		if (!cJSON_IsString(id) || !cJSON_IsString(k) ||
		    uuid_parse(keys[i].id, id->valuestring) == -1)
			goto err;
		keys[i].bytes = malloc(len ? len : 1);
		if (keys[i].bytes == NULL)
			goto err;
		keys[i].len = len;
		got = base64_decode(keys[i].bytes, len, k->valuestring,
				    strlen(k->valuestring));
		if (got == -1 || (size_t)got != len)
			goto err;
		i++;
	}
	return keys;
err:
	kme_keys_free(keys, want);
	return NULL;
}
