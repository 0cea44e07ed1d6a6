/*
 * kme_req.c — ETSI GS QKD 014 request parsing and validation.
 *
 * Pure functions: bytes in, struct or a client-facing 400 message out.
 * Clause numbers refer to ETSI GS QKD 014 V1.1.1 (2019-02).
 */
#include "kme.h"

#include "cfg.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int __attribute__((format(printf, 3, 4)))
kme_req_fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* Untrusted text for a message: escaped and bounded (lib/encoding). */
#define Q(buf, s) str_quote((buf), sizeof(buf), (s), strlen(s), KME_QUOTE_IN)

/* Query keys and values (after %-decoding): UTF-8, as JSON strings are. */
static int
kme_req_query_text(const struct kme_kv *kv, size_t n, char *err, size_t cap)
{
	char q[KME_QUOTE_MAX];

	for (size_t i = 0; i < n; i++) {
		if (!utf8_valid(kv[i].key, strlen(kv[i].key)))
			return kme_req_fail(err, cap,
					    "query parameter name \"%s\" is "
					    "not valid UTF-8",
					    Q(q, kv[i].key));
		if (kv[i].value != NULL &&
		    !utf8_valid(kv[i].value, strlen(kv[i].value)))
			return kme_req_fail(err, cap,
					    "value of query parameter \"%s\" "
					    "is not valid UTF-8",
					    Q(q, kv[i].key));
	}
	return 0;
}

/* A member the table does not define: ignored, counted, the first kept. */
static void
kme_req_unknown(unsigned *count, char *first, size_t cap, const char *name)
{
	if ((*count)++ == 0)
		str_quote(first, cap, name, strlen(name), KME_QUOTE_IN);
}

/* A decimal integer 0..UINT32_MAX of at most ten digits, nothing else. */
static int
kme_req_u32(const char *s, uint32_t *out)
{
	uint64_t v;

	if (s == NULL || strlen(s) > 10 ||
	    cfg_parse_u64(s, 0, UINT32_MAX, &v) == -1)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int
kme_req_enc_query(const struct kme_kv *kv, size_t n, struct kme_enc_req *r,
		  char *err, size_t cap)
{
	char q[KME_QUOTE_MAX];

	memset(r, 0, sizeof(*r));
	if (kme_req_query_text(kv, n, err, cap) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		bool *seen;
		uint32_t *dst;

		if (strcmp(kv[i].key, "number") == 0) {
			seen = &r->has_number;
			dst = &r->number;
		} else if (strcmp(kv[i].key, "size") == 0) {
			seen = &r->has_size;
			dst = &r->size;
		} else {
			/* 5.2: anything beyond number and size needs POST. */
			return kme_req_fail(
			    err, cap,
			    "unknown query parameter \"%s\" "
			    "(enc_keys GET takes only number and size; "
			    "use POST for more)",
			    Q(q, kv[i].key));
		}
		if (*seen)
			return kme_req_fail(err, cap,
					    "query parameter '%s' given twice",
					    kv[i].key);
		if (kme_req_u32(kv[i].value, dst) == -1)
			return kme_req_fail(
			    err, cap,
			    "%s must be a non-negative integer, "
			    "not \"%s\"",
			    kv[i].key, Q(q, kv[i].value ? kv[i].value : ""));
		*seen = true;
	}
	return 0;
}

/* A JSON number that is a whole value in 0..UINT32_MAX. */
static int
kme_req_json_u32(const cJSON *item, uint32_t *out)
{
	double d;

	if (!cJSON_IsNumber(item))
		return -1;
	d = item->valuedouble;
	if (!isfinite(d) || d < 0 || d > (double)UINT32_MAX || floor(d) != d)
		return -1;
	*out = (uint32_t)d;
	return 0;
}

/* Table 10: extension_mandatory/optional are arrays of objects. */
static int
kme_req_extensions(const cJSON *arr, const char *field, struct kme_enc_req *r,
		   bool mandatory, char *err, size_t cap)
{
	const cJSON *obj, *kv;

	if (!cJSON_IsArray(arr))
		return kme_req_fail(err, cap, "%s must be an array of objects",
				    field);
	cJSON_ArrayForEach(obj, arr)
	{
		if (!cJSON_IsObject(obj))
			return kme_req_fail(
			    err, cap, "%s must be an array of objects", field);
		cJSON_ArrayForEach(kv, obj)
		{
			/* This KME implements no extension (clause 6.2 note). */
			if (mandatory && !r->ext_mandatory_bad) {
				r->ext_mandatory_bad = true;
				snprintf(r->ext_unsupported,
					 sizeof(r->ext_unsupported), "%.64s",
					 kv->string ? kv->string : "");
			}
		}
	}
	return 0;
}

static int
kme_req_slaves(const cJSON *arr, struct kme_enc_req *r, char *err, size_t cap)
{
	char q[KME_QUOTE_MAX];
	const cJSON *s;

	if (!cJSON_IsArray(arr))
		return kme_req_fail(err, cap,
				    "additional_slave_SAE_IDs must be an "
				    "array of strings");
	cJSON_ArrayForEach(s, arr)
	{
		if (!cJSON_IsString(s) || s->valuestring[0] == '\0' ||
		    strlen(s->valuestring) > KME_ID_MAX)
			return kme_req_fail(err, cap,
					    "additional_slave_SAE_IDs must "
					    "hold SAE IDs of 1..%d characters",
					    KME_ID_MAX);
		if (r->nslaves >= KME_MAX_SLAVES)
			return kme_req_fail(err, cap,
					    "additional_slave_SAE_IDs has more "
					    "than %d entries",
					    KME_MAX_SLAVES);
		for (size_t i = 0; i < r->nslaves; i++) {
			if (strcmp(r->slaves[i], s->valuestring) == 0)
				return kme_req_fail(
				    err, cap,
				    "SAE ID \"%s\" appears twice "
				    "in additional_slave_SAE_IDs",
				    Q(q, s->valuestring));
		}
		snprintf(r->slaves[r->nslaves++], KME_ID_MAX + 1, "%s",
			 s->valuestring);
	}
	return 0;
}

static cJSON *
kme_req_parse_json(const char *body, size_t len, char *err, size_t cap)
{
	const char *end = NULL;
	cJSON *root;

	if (len == 0) {
		kme_req_fail(err, cap,
			     "request body is empty; send a JSON object");
		return NULL;
	}
	if (memchr(body, '\0', len) != NULL) {
		kme_req_fail(err, cap, "request body contains a NUL byte");
		return NULL;
	}
	/* RFC 8259 8.1; and a \u0000 would cut a string short in C. */
	if (!utf8_valid(body, len)) {
		kme_req_fail(err, cap, "request body is not valid UTF-8");
		return NULL;
	}
	if (json_text_check(body, len) == -1) {
		kme_req_fail(err, cap,
			     "a string in the request body contains "
			     "\\u0000");
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL) {
		kme_req_fail(err, cap, "request body is not valid JSON");
		return NULL;
	}
	/* Trailing garbage after the object is malformed too. */
	while (end != NULL && end < body + len &&
	       (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != body + len || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		kme_req_fail(err, cap, "request body must be one JSON object");
		return NULL;
	}
	return root;
}

int
kme_req_enc_body(const char *body, size_t len, struct kme_enc_req *r, char *err,
		 size_t cap)
{
	cJSON *root, *it;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	root = kme_req_parse_json(body, len, err, cap);
	if (root == NULL)
		return -1;
	cJSON_ArrayForEach(it, root)
	{
		const char *k = it->string;

		if (strcmp(k, "number") == 0) {
			if (r->has_number ||
			    kme_req_json_u32(it, &r->number) == -1) {
				kme_req_fail(err, cap,
					     "number must be a non-negative "
					     "integer, given once");
				goto out;
			}
			r->has_number = true;
		} else if (strcmp(k, "size") == 0) {
			if (r->has_size ||
			    kme_req_json_u32(it, &r->size) == -1) {
				kme_req_fail(err, cap,
					     "size must be a non-negative "
					     "integer, given once");
				goto out;
			}
			r->has_size = true;
		} else if (strcmp(k, "additional_slave_SAE_IDs") == 0) {
			if (r->nslaves > 0) {
				kme_req_fail(
				    err, cap,
				    "additional_slave_SAE_IDs given twice");
				goto out;
			}
			if (kme_req_slaves(it, r, err, cap) == -1)
				goto out;
		} else if (strcmp(k, "extension_mandatory") == 0) {
			if (kme_req_extensions(it, k, r, true, err, cap) == -1)
				goto out;
		} else if (strcmp(k, "extension_optional") == 0) {
			if (kme_req_extensions(it, k, r, false, err, cap) == -1)
				goto out;
		} else {
			kme_req_unknown(&r->unknown, r->unknown_first,
					sizeof(r->unknown_first), k);
		}
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

int
kme_req_enc_validate(struct kme_enc_req *r, const struct kme_limits *lim,
		     char *err, size_t cap)
{
	if (!r->has_number)
		r->number = 1;
	if (!r->has_size)
		r->size = lim->key_size;
	/* 6.2 Table 10 note: the mandated message for an unsupported extension. */
	if (r->ext_mandatory_bad)
		return kme_req_fail(err, cap,
				    "not all extension_mandatory parameters "
				    "are supported");
	if (r->number < 1)
		return kme_req_fail(err, cap, "number must be at least 1");
	if (r->number > lim->max_key_per_request)
		return kme_req_fail(err, cap,
				    "number %u exceeds max_key_per_request %u",
				    r->number, lim->max_key_per_request);
	/* 6.2: the mandated message when only multiples of 8 are supported. */
	if (r->size % 8 != 0)
		return kme_req_fail(err, cap, "size shall be a multiple of 8");
	if (r->size < lim->min_key_size || r->size > lim->max_key_size)
		return kme_req_fail(err, cap,
				    "size %u is outside min_key_size %u .. "
				    "max_key_size %u",
				    r->size, lim->min_key_size,
				    lim->max_key_size);
	if (r->nslaves > lim->max_sae_id_count)
		return kme_req_fail(err, cap,
				    "additional_slave_SAE_IDs has %zu entries "
				    "but max_SAE_ID_count is %u",
				    r->nslaves, lim->max_sae_id_count);
	return 0;
}

static int
kme_req_add_id(struct kme_dec_req *r, const char *s, uint32_t max_ids,
	       char *err, size_t cap)
{
	char q[KME_QUOTE_MAX];
	uint8_t id[UUID_LEN];

	if (s == NULL || uuid_parse(id, s) == -1)
		return kme_req_fail(err, cap,
				    "key_ID \"%s\" is not a UUID "
				    "(8-4-4-4-12 hex digits)",
				    Q(q, s ? s : ""));
	if (r->nids >= max_ids || r->nids >= KME_MAX_KEYS)
		return kme_req_fail(
		    err, cap, "more than %u key_IDs in one request", max_ids);
	for (size_t i = 0; i < r->nids; i++) {
		if (memcmp(r->ids[i], id, UUID_LEN) == 0)
			return kme_req_fail(err, cap, "key_ID %s appears twice",
					    Q(q, s));
	}
	memcpy(r->ids[r->nids++], id, UUID_LEN);
	return 0;
}

int
kme_req_dec_query(const struct kme_kv *kv, size_t n, struct kme_dec_req *r,
		  char *err, size_t cap)
{
	char q[KME_QUOTE_MAX];

	r->nids = 0;
	if (kme_req_query_text(kv, n, err, cap) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i].key, "key_ID") != 0)
			return kme_req_fail(err, cap,
					    "unknown query parameter \"%s\" "
					    "(dec_keys GET takes only key_ID)",
					    Q(q, kv[i].key));
		/* 5.3: GET carries a single key ID; more need POST. */
		if (r->nids > 0)
			return kme_req_fail(err, cap,
					    "dec_keys GET takes one key_ID; "
					    "use POST for several");
		if (kme_req_add_id(r, kv[i].value, 1, err, cap) == -1)
			return -1;
	}
	if (r->nids == 0)
		return kme_req_fail(err, cap,
				    "key_ID query parameter is missing");
	return 0;
}

/*
 * master_SAE_ID in a key_IDs entry: not in Table 12, but some clients send
 * it.  It says whose keys the caller means; one that names another master
 * than the URL contradicts the request.
 */
static int
kme_req_entry_master(const cJSON *f, const char *master, char *err, size_t cap)
{
	char q[KME_QUOTE_MAX];

	if (!cJSON_IsString(f))
		return kme_req_fail(err, cap,
				    "master_SAE_ID in a key_IDs entry must "
				    "be a string");
	if (master != NULL && strcmp(f->valuestring, master) != 0)
		return kme_req_fail(
		    err, cap,
		    "master_SAE_ID \"%s\" in a key_IDs "
		    "entry is not the master SAE ID of the request",
		    Q(q, f->valuestring));
	return 0;
}

int
kme_req_dec_body(const char *body, size_t len, uint32_t max_ids,
		 const char *master, struct kme_dec_req *r, char *err,
		 size_t cap)
{
	cJSON *root, *it, *ids = NULL;
	int rc = -1;

	r->nids = 0;
	r->unknown = 0;
	r->unknown_first[0] = '\0';
	root = kme_req_parse_json(body, len, err, cap);
	if (root == NULL)
		return -1;
	cJSON_ArrayForEach(it, root)
	{
		if (strcmp(it->string, "key_IDs") == 0) {
			if (ids != NULL) {
				kme_req_fail(err, cap, "key_IDs given twice");
				goto out;
			}
			ids = it;
		} else if (strcmp(it->string, "key_IDs_extension") == 0) {
			if (!cJSON_IsObject(it)) {
				kme_req_fail(
				    err, cap,
				    "key_IDs_extension must be an object");
				goto out;
			}
		} else {
			kme_req_unknown(&r->unknown, r->unknown_first,
					sizeof(r->unknown_first), it->string);
		}
	}
	if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0) {
		kme_req_fail(err, cap, "key_IDs must be a non-empty array");
		goto out;
	}
	cJSON_ArrayForEach(it, ids)
	{
		const cJSON *f, *id = NULL;

		if (!cJSON_IsObject(it)) {
			kme_req_fail(err, cap,
				     "key_IDs entries must be objects "
				     "with a key_ID");
			goto out;
		}
		cJSON_ArrayForEach(f, it)
		{
			if (strcmp(f->string, "key_ID") == 0) {
				if (id != NULL) {
					kme_req_fail(err, cap,
						     "key_ID given twice in "
						     "a key_IDs entry");
					goto out;
				}
				id = f;
			} else if (strcmp(f->string, "master_SAE_ID") == 0) {
				if (kme_req_entry_master(f, master, err, cap) <
				    0)
					goto out;
			} else if (strcmp(f->string, "key_ID_extension") != 0) {
				kme_req_unknown(&r->unknown, r->unknown_first,
						sizeof(r->unknown_first),
						f->string);
			}
		}
		if (!cJSON_IsString(id)) {
			kme_req_fail(err, cap,
				     "key_IDs entry without a key_ID string");
			goto out;
		}
		if (kme_req_add_id(r, id->valuestring, max_ids, err, cap) == -1)
			goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/* Decodes %xx and '+' in place; -1 on a bad escape or an encoded NUL. */
static int
kme_req_unescape(char *s)
{
	size_t len = strlen(s);

	return pct_decode(s, len + 1, s, len) == -1 ? -1 : 0;
}

int
kme_req_split_query(char *buf, struct kme_kv *kv, size_t cap, size_t *n)
{
	char *save = NULL, *tok;

	*n = 0;
	for (tok = strtok_r(buf, "&", &save); tok != NULL;
	     tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (*n >= cap)
			return -1;
		if (eq != NULL)
			*eq++ = '\0';
		if (kme_req_unescape(tok) == -1 ||
		    (eq && kme_req_unescape(eq) == -1))
			return -1;
		kv[*n].key = tok;
		kv[*n].value = eq;
		(*n)++;
	}
	return 0;
}
