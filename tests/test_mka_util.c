/*
 * test_mka_util.c — vector loading and MKPDU fixtures for the mka-agent
 * unit tests and the MKPDU benchmark.
 */
#include "test_mka_util.h"

#include "harness.h"
#include "util.h"

#include <stdarg.h>
#include <string.h>

cJSON *
tv_load(const char *name)
{
	const char *src = getenv("QKDLAB_SRC");
	char path[1024];
	char *text = NULL;
	size_t len;
	cJSON *root;

	snprintf(path, sizeof(path), "%s/tests/vectors/%s",
		 src != NULL ? src : ".", name);
	if (file_read_all(path, 1 << 20, &text, &len) == -1) {
		fprintf(stderr, "cannot read vector file %s\n", path);
		abort();
	}
	root = cJSON_ParseWithLength(text, len);
	free(text);
	if (root == NULL) {
		fprintf(stderr, "%s is not JSON\n", path);
		abort();
	}
	return root;
}

const char *
tv_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(v)) {
		fprintf(stderr, "vector member %s missing\n", key);
		abort();
	}
	return v->valuestring;
}

uint8_t *
tv_hex(const cJSON *obj, const char *key, size_t *len)
{
	char buf[4096];
	const char *s = tv_str(obj, key);
	size_t n = 0;

	/* Some members append a remark after the hex: "ab12 (= ...)". */
	while (s[n] != '\0' && s[n] != ' ' && n < sizeof(buf) - 1) {
		buf[n] = s[n];
		n++;
	}
	buf[n] = '\0';
	return th_unhex(buf, len);
}

const cJSON *
tv_get(const cJSON *obj, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, obj);
	while (obj != NULL && (key = va_arg(ap, const char *)) != NULL)
		obj = cJSON_GetObjectItemCaseSensitive(obj, key);
	va_end(ap);
	if (obj == NULL) {
		fprintf(stderr, "vector path missing\n");
		abort();
	}
	return obj;
}

void
tv_mkpdu_base(struct mkpdu *p, const uint8_t ckn[16], uint32_t mn)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->da, "\x01\x80\xc2\x00\x00\x03", 6);
	memcpy(p->sa, "\x02\x00\x00\x00\x00\x01", 6);
	p->basic.version = 3;
	p->basic.priority = 16;
	p->basic.key_server = true;
	p->basic.macsec_desired = true;
	p->basic.capability = MKA_CAP_CONF_0;
	memcpy(p->basic.sci, "\x02\x00\x00\x00\x00\x01\x00\x01", 8);
	memset(p->basic.mi, 0xc1, 12);
	p->basic.mn = mn;
	p->basic.algo_agility = MKA_ALGO_AGILITY_2009;
	p->basic.ckn_len = 16;
	memcpy(p->basic.ckn, ckn, 16);
	p->live.n = 1;
	memset(p->live.e[0].mi, 0xd2, 12);
	p->live.e[0].mn = 9;
}

void
tv_mkpdu_with_sak(struct mkpdu *p, uint64_t cs, size_t wrap_len)
{
	p->has |= MKA_HAS(MKA_PS_LIVE_PEERS) | MKA_HAS(MKA_PS_SAK_USE) |
		  MKA_HAS(MKA_PS_DIST_SAK);
	p->sak_use.in_use = true;
	p->sak_use.lrx = true;
	memcpy(p->sak_use.lki_mi, p->basic.mi, 12);
	p->sak_use.lkn = 1;
	p->sak_use.llpn = 1;
	p->dist_sak = (struct mka_dist_sak){ .macsec = true,
					     .an = 1,
					     .conf_offset = MKA_CO_0,
					     .kn = 1,
					     .cs = cs,
					     .wrapped_len = wrap_len };
	memset(p->dist_sak.wrapped, 0x77, wrap_len);
}

void
tv_mkpdu_full(struct mkpdu *p, size_t wrap_len, uint64_t cs)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->da, "\x01\x80\xc2\x00\x00\x03", 6);
	memcpy(p->sa, "\x02\x11\x22\x33\x44\x55", 6);
	p->basic.version = 3;
	p->basic.priority = 7;
	p->basic.key_server = true;
	p->basic.macsec_desired = true;
	p->basic.capability = MKA_CAP_CONF_0;
	memcpy(p->basic.sci, "\x02\x11\x22\x33\x44\x55\x00\x01", 8);
	memset(p->basic.mi, 0xa5, 12);
	p->basic.mn = 77;
	p->basic.algo_agility = MKA_ALGO_AGILITY_2009;
	p->basic.ckn_len = 5; /* unaligned: exercises the padding */
	memcpy(p->basic.ckn, "ckn-1", 5);
	p->live.n = 2;
	memset(p->live.e[0].mi, 1, 12);
	p->live.e[0].mn = 3;
	memset(p->live.e[1].mi, 2, 12);
	p->live.e[1].mn = 4;
	p->live.octet2 = 9;
	p->potential.n = 1;
	memset(p->potential.e[0].mi, 3, 12);
	p->potential.e[0].mn = 0xfffffffe;
	p->sak_use = (struct mka_sak_use){
		.in_use = true,
		.lan = 2,
		.ltx = true,
		.lrx = true,
		.oan = 1,
		.otx = false,
		.orx = true,
		.plain_tx = false,
		.plain_rx = true,
		.delay_protect = true,
		.lkn = 5,
		.llpn = 0x11223344,
		.okn = 4,
		.olpn = 0x55667788,
	};
	memset(p->sak_use.lki_mi, 0xa5, 12);
	memset(p->sak_use.oki_mi, 0xa5, 12);
	p->dist_sak = (struct mka_dist_sak){ .macsec = true,
					     .an = 3,
					     .conf_offset = MKA_CO_0,
					     .kn = 6,
					     .cs = cs,
					     .wrapped_len = wrap_len };
	memset(p->dist_sak.wrapped, 0x3c, wrap_len);
	p->dist_cak.wrapped_len = 24;
	memset(p->dist_cak.wrapped, 0x4d, 24);
	p->dist_cak.ckn_len = 3;
	memcpy(p->dist_cak.ckn, "abc", 3);
	p->kmd.len = 7;
	memcpy(p->kmd.v, "SAE_A_1", 7);
	p->announce.has_kmd = true;
	p->announce.kmd.len = 8;
	memcpy(p->announce.kmd.v, "SAE_A_01", 8);
	p->announce.n_suites = 2;
	p->announce.suites[0] = (struct mka_ann_suite){ 2, MKA_CS_GCM_AES_128 };
	p->announce.suites[1] =
	    (struct mka_ann_suite){ 1, MKA_CS_GCM_AES_XPN_256 };
	p->xpn = (struct mka_xpn){ .suspension_time = 0,
				   .llpn_msb = 1,
				   .olpn_msb = 2 };
	p->has = MKA_HAS(1) | MKA_HAS(2) | MKA_HAS(3) | MKA_HAS(4) |
		 MKA_HAS(5) | MKA_HAS(6) | MKA_HAS(7) | MKA_HAS(8);
}
