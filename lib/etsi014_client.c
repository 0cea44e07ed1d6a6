/*
 * etsi014_client.c — the two 014 calls: URL, request, status, container.
 */
#include "etsi014_client.h"

#include "secmem.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETSI014_URL_MAX 2048

struct etsi014_client {
	char url[1024];
	struct https_client *http;
};

struct etsi014_client *
etsi014_client_new(const char *url, const struct https_client_cfg *cfg)
{
	struct etsi014_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (str_copy(c->url, sizeof(c->url), url) == -1 ||
	    (c->http = https_client_new(cfg)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
etsi014_client_free(struct etsi014_client *c)
{
	if (c == NULL)
		return;
	https_client_free(c->http);
	free(c);
}

static void
etsi014_fail(struct etsi014_result *res, enum etsi014_outcome o,
	     const char *msg)
{
	res->outcome = o;
	snprintf(res->msg, sizeof(res->msg), "%s", msg);
}

/* One GET of a Key container holding n keys into out[0..n-1]. */
static int
etsi014_call(struct etsi014_client *c, const char *sae, const char *method,
	     const char *query, struct etsi014_key *out, size_t n,
	     struct etsi014_result *res)
{
	struct https_resp r = { 0 };
	char url[ETSI014_URL_MAX];
	uint64_t t0 = mono_us();
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(out, 0, n * sizeof(*out));
	/* Clause 5.2/5.3: number and size (or one key_ID) fit URI parameters. */
	if (etsi014_url(url, sizeof(url), c->url, sae, method, query) == -1) {
		etsi014_fail(res, ETSI014_LOCAL, "bad KME URL or SAE ID");
		goto out;
	}
	if (https_client_call(c->http, url, NULL, &r) == -1) {
		etsi014_fail(res,
			     r.fail == HTTPS_TOO_LARGE ? ETSI014_BAD_ANSWER
			     : r.fail == HTTPS_LOCAL   ? ETSI014_LOCAL
						       : ETSI014_UNREACHABLE,
			     r.fail == HTTPS_TOO_LARGE ? "KME answer too large"
						       : r.err);
		goto out;
	}
	res->http_status = r.status;
	if (r.status != 200) {
		res->outcome = ETSI014_REFUSED;
		etsi014_parse_error(r.body, r.len, res->msg, sizeof(res->msg));
		goto out;
	}
	if (etsi014_parse_keys_n(r.body != NULL ? r.body : "", r.len, out, n,
				 res->msg, sizeof(res->msg)) == -1) {
		res->outcome = ETSI014_BAD_ANSWER;
		goto out;
	}
	res->outcome = ETSI014_OK;
	rc = 0;
out:
	res->attempts = r.attempts;
	res->latency_us = mono_us() - t0;
	https_resp_clear(&r);
	return rc;
}

int
etsi014_get_keys(struct etsi014_client *c, const char *slave, unsigned bits,
		 unsigned number, struct etsi014_key *out,
		 struct etsi014_result *res)
{
	char query[64];

	if (number == 0) {
		memset(res, 0, sizeof(*res));
		etsi014_fail(res, ETSI014_LOCAL, "no keys asked for");
		return -1;
	}
	snprintf(query, sizeof(query), "number=%u&size=%u", number, bits);
	if (etsi014_call(c, slave, "enc_keys", query, out, number, res) == -1)
		return -1;
	for (unsigned i = 0; i < number; i++) {
		if (out[i].key_len * 8 == bits)
			continue;
		secmem_wipe(out, number * sizeof(*out));
		res->outcome = ETSI014_BAD_ANSWER;
		snprintf(res->msg, sizeof(res->msg),
			 "KME returned a key of a "
			 "size other than the %u bits asked for",
			 bits);
		return -1;
	}
	return 0;
}

int
etsi014_get_key(struct etsi014_client *c, const char *slave, unsigned bits,
		struct etsi014_key *out, struct etsi014_result *res)
{
	return etsi014_get_keys(c, slave, bits, 1, out, res);
}

int
etsi014_get_key_with_id(struct etsi014_client *c, const char *master,
			const uint8_t id[UUID_LEN], struct etsi014_key *out,
			struct etsi014_result *res)
{
	char query[64], uuid[UUID_STR_LEN + 1];

	uuid_format(uuid, id);
	snprintf(query, sizeof(query), "key_ID=%s", uuid);
	if (etsi014_call(c, master, "dec_keys", query, out, 1, res) == -1)
		return -1;
	if (memcmp(out->id, id, UUID_LEN) != 0) {
		secmem_wipe(out, sizeof(*out));
		res->outcome = ETSI014_BAD_ANSWER;
		snprintf(res->msg, sizeof(res->msg),
			 "KME returned another "
			 "key_ID than the one asked for");
		return -1;
	}
	return 0;
}
