/*
 * fuzz_kme_req.c — kme-sim's ETSI 014 request parsers (kme-sim/kme_req.c):
 * Key request bodies, Key IDs bodies, the enc_keys/dec_keys query
 * strings and the request path's %-decoding.
 *
 * Input: the first octet picks the parser (mod 5: 0 enc_keys body,
 * 1 dec_keys body, 2 enc_keys query, 3 dec_keys query, 4 path); the rest
 * is the body, the raw query string or the path.  Whatever is accepted must respect the
 * limits the handlers rely on, and its text must be well-formed UTF-8
 * without NUL (bodies: no \u0000 either); what is refused must say why,
 * in printable ASCII whatever the input quoted in it.
 */
#include "../kme-sim/kme.h"
#include "../lib/encoding.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct kme_limits lim = {
	.key_size = 256,
	.min_key_size = 64,
	.max_key_size = 1024,
	.max_key_per_request = 128,
	.max_sae_id_count = 4,
};

static void
check_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			abort();
}

/* A refusal message: said, and printable ASCII (input is quoted). */
static void
check_err(const char *err)
{
	if (err[0] == '\0')
		abort();
	check_ascii(err);
}

static void
check_enc(struct kme_enc_req *r, int rc, const char *err)
{
	char err2[KME_ERR_MAX];

	if (rc < 0) {
		check_err(err);
		return;
	}
	check_ascii(r->unknown_first);
	if (kme_req_enc_validate(r, &lim, err2, sizeof(err2)) < 0) {
		check_err(err2);
		return;
	}
	if (r->number < 1 || r->number > lim.max_key_per_request ||
	    r->size % 8 != 0 || r->size < lim.min_key_size ||
	    r->size > lim.max_key_size || r->nslaves > lim.max_sae_id_count ||
	    r->ext_mandatory_bad)
		abort();
	for (size_t i = 0; i < r->nslaves; i++) {
		size_t n = strlen(r->slaves[i]);
		if (n == 0 || n > KME_ID_MAX || !utf8_valid(r->slaves[i], n))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->slaves[i], r->slaves[j]) == 0)
				abort();
	}
}

static void
check_dec(const struct kme_dec_req *r, int rc, const char *err, size_t max)
{
	if (rc < 0) {
		check_err(err);
		return;
	}
	if (r->nids < 1 || r->nids > max)
		abort();
	for (size_t i = 0; i < r->nids; i++)
		for (size_t j = 0; j < i; j++)
			if (memcmp(r->ids[i], r->ids[j], UUID_LEN) == 0)
				abort();
}

/* An accepted query: every name and value well-formed UTF-8. */
static void
check_kv(const struct kme_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!utf8_valid(kv[i].key, strlen(kv[i].key)) ||
		    (kv[i].value != NULL &&
		     !utf8_valid(kv[i].value, strlen(kv[i].value))))
			abort();
}

/*
 * The 014 port's path decoding (pct_decode_path): never longer than its
 * input, no NUL inside; where the text has no '+', the query decoder
 * gives the same.
 */
static void
check_path(const char *in, size_t len)
{
	char *a = malloc(len + 1), *b = malloc(len + 1);
	int na, nb;

	if (a == NULL || b == NULL)
		abort();
	na = pct_decode_path(a, len + 1, in, len);
	if (na >= 0 && ((size_t)na > len || strlen(a) != (size_t)na))
		abort();
	if (memchr(in, '+', len) == NULL) {
		nb = pct_decode(b, len + 1, in, len);
		if (na != nb || (na >= 0 && memcmp(a, b, (size_t)na) != 0))
			abort();
	}
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kme_dec_req dec;
	struct kme_enc_req enc;
	struct kme_kv kv[16];
	char err[KME_ERR_MAX] = "", *buf;
	size_t n;
	int rc;

	if (size < 1)
		return 0;
	buf = malloc(size);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	switch (data[0] % 5) {
	case 0:
		rc = kme_req_enc_body(buf, size - 1, &enc, err, sizeof(err));
		check_enc(&enc, rc, err);
		if (rc == 0 && json_text_check(buf, size - 1) < 0)
			abort();
		break;
	case 1:
		rc = kme_req_dec_body(buf, size - 1, 128, "SAE_A", &dec, err,
				      sizeof(err));
		check_dec(&dec, rc, err, 128);
		if (rc == 0 && json_text_check(buf, size - 1) < 0)
			abort();
		break;
	case 2:
		if (kme_req_split_query(buf, kv, 16, &n) == 0) {
			rc = kme_req_enc_query(kv, n, &enc, err, sizeof(err));
			check_enc(&enc, rc, err);
			if (rc == 0)
				check_kv(kv, n);
		}
		break;
	case 4:
		check_path(buf, size - 1);
		break;
	default:
		if (kme_req_split_query(buf, kv, 16, &n) == 0) {
			rc = kme_req_dec_query(kv, n, &dec, err, sizeof(err));
			check_dec(&dec, rc, err, 1);
			if (rc == 0)
				check_kv(kv, n);
		}
	}
	free(buf);
	return 0;
}
