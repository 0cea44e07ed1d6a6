/*
 * kme_conf.c — kme-sim configuration file (kme-sim.conf(5)).
 */
#include "kme.h"

#include "cfg.h"
#include "encoding.h"
#include "http_pages.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
kme_cfg_valid_id(const char *s)
{
	/* IDs travel in URL paths and JSON: keep them to a safe alphabet. */
	return id_text_ok(s, 1, KME_ID_MAX);
}

int
kme_cfg_parse_addr(const char *s, struct kme_addr *out)
{
	return http_pages_parse_addr(s, out->host, sizeof(out->host),
				     &out->port);
}

/* Splits a space-separated list of IDs into arr. */
static int
kme_cfg_id_list(const char *value, char (*arr)[KME_ID_MAX + 1], size_t *n,
		const struct cfg_pos *pos)
{
	char buf[CFG_MAX_LINE], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		if (!kme_cfg_valid_id(tok)) {
			cfg_error(
			    pos,
			    "bad SAE ID '%.70s' (1..64 of A-Z a-z 0-9 _ - .)",
			    tok);
			return -1;
		}
		if (*n >= KME_MAX_SAES) {
			cfg_error(pos, "more than %d SAE IDs", KME_MAX_SAES);
			return -1;
		}
		snprintf(arr[(*n)++], KME_ID_MAX + 1, "%s", tok);
	}
	return 0;
}

static int
kme_cfg_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out,
	    const char *key, const struct cfg_pos *pos)
{
	if (cfg_parse_u64(v, min, max, out) == -1) {
		cfg_error(
		    pos,
		    "%s must be a whole number from %llu to %llu, not '%.40s'",
		    key, (unsigned long long)min, (unsigned long long)max, v);
		return -1;
	}
	return 0;
}

static int
kme_cfg_u32(const char *v, uint64_t min, uint64_t max, uint32_t *out,
	    const char *key, const struct cfg_pos *pos)
{
	uint64_t x;

	/* Callers bound max to UINT32_MAX, so x fits. */
	if (kme_cfg_u64(v, min, max, &x, key, pos) == -1)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

static int
kme_cfg_path(const char *v, char *out, size_t cap, const char *key,
	     const struct cfg_pos *pos)
{
	if (*v == '\0' || str_copy(out, cap, v) == -1) {
		cfg_error(pos, "%s: empty or too long path", key);
		return -1;
	}
	return 0;
}

static int
kme_cfg_addr(const char *v, struct kme_addr *out, const char *key,
	     const struct cfg_pos *pos)
{
	if (kme_cfg_parse_addr(v, out) == -1) {
		cfg_error(pos,
			  "%s must be host:port or [v6addr]:port, not '%.60s'",
			  key, v);
		return -1;
	}
	return 0;
}

static int
kme_cfg_dur(const char *v, uint64_t min, uint64_t *out, const char *key,
	    const struct cfg_pos *pos)
{
	if (cfg_parse_duration_ms(v, out) == -1 || *out < min) {
		cfg_error(pos,
			  "%s must be a duration of at least %llu ms "
			  "(e.g. 500ms, 10s, 1h), not '%.40s'",
			  key, (unsigned long long)min, v);
		return -1;
	}
	return 0;
}

const struct kme_cfg_qkd_key kme_cfg_qkd_keys[] = {
	{ "fibre_length_km", offsetof(struct qkd_params, length_km) },
	{ "attenuation_db_km", offsetof(struct qkd_params, atten_db_km) },
	{ "extra_loss_db", offsetof(struct qkd_params, extra_loss_db) },
	{ "detector_efficiency", offsetof(struct qkd_params, det_eff) },
	{ "dark_count_yield", offsetof(struct qkd_params, dark_yield) },
	{ "misalignment", offsetof(struct qkd_params, misalign) },
	{ "ec_inefficiency", offsetof(struct qkd_params, ec_ineff) },
	{ "repetition_rate_hz", offsetof(struct qkd_params, rep_rate_hz) },
	{ "mu", offsetof(struct qkd_params, mu) },
	{ "sifting", offsetof(struct qkd_params, sift) },
};
const size_t kme_cfg_nqkd_keys = ARRAY_LEN(kme_cfg_qkd_keys);

/* A finite decimal number (strtod syntax, nothing after it). */
static int
kme_cfg_double(const char *v, double *out, const char *key,
	       const struct cfg_pos *pos)
{
	if (cfg_parse_double(v, -DBL_MAX, DBL_MAX, out) == -1) {
		cfg_error(pos, "%s must be a number, not '%.40s'", key, v);
		return -1;
	}
	return 0;
}

/* The link model's keys of a [peer] section; 1 if key is none of them. */
static int
kme_cfg_peer_model(struct kme_peer_cfg *p, const char *key, const char *v,
		   const struct cfg_pos *pos)
{
	if (strcmp(key, "link_model") == 0) {
		if (strcmp(v, "constant") != 0 &&
		    strcmp(v, "decoy-bb84") != 0) {
			cfg_error(pos,
				  "link_model must be constant or decoy-bb84, "
				  "not '%.40s'",
				  v);
			return -1;
		}
		p->model = strcmp(v, "decoy-bb84") == 0;
		return 0;
	}
	if (strcmp(key, "link_preset") == 0) {
		p->preset = qkd_preset_find(v);
		if (p->preset == NULL) {
			cfg_error(
			    pos,
			    "link_preset must be gys, high-rate or field, "
			    "not '%.40s'",
			    v);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "qber_abort") == 0) {
		if (kme_cfg_double(v, &p->qber_abort, key, pos) == -1)
			return -1;
		if (!(p->qber_abort > 0 && p->qber_abort <= 0.5)) {
			cfg_error(
			    pos,
			    "qber_abort must be > 0 and <= 0.5, not '%.40s'",
			    v);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < kme_cfg_nqkd_keys; i++) {
		if (strcmp(key, kme_cfg_qkd_keys[i].key) != 0)
			continue;
		if (kme_cfg_double(v,
				   (double *)(void *)((char *)&p->qkd +
						      kme_cfg_qkd_keys[i].off),
				   key, pos) == -1)
			return -1;
		p->qkd_set |= 1u << i;
		return 0;
	}
	return 1;
}

/*
 * The preset, then the keys given; each key is checked on its own, so
 * that the message names it, then the whole.
 */
static int
kme_cfg_peer_model_validate(struct kme_peer_cfg *p, const char *path)
{
	struct qkd_params set = p->qkd, q;
	char why[KME_ERR_MAX];

	if (p->preset == NULL)
		p->preset = qkd_preset_find("gys");
	if (!p->model) {
		if (p->qkd_set != 0 || p->qber_abort != 0) {
			log_err("%s: [peer %s] has link model keys but no "
				"link_model = decoy-bb84",
				path, p->id);
			return -1;
		}
		return 0;
	}
	p->qkd = p->preset->params;
	for (size_t i = 0; i < kme_cfg_nqkd_keys; i++) {
		size_t off = kme_cfg_qkd_keys[i].off;

		if (!(p->qkd_set & (1u << i)))
			continue;
		q = p->preset->params;
		memcpy((char *)&q + off, (const char *)&set + off,
		       sizeof(double));
		if (qkd_params_check(&q, why, sizeof(why)) == -1) {
			log_err("%s: [peer %s] %s: %s", path, p->id,
				kme_cfg_qkd_keys[i].key, why);
			return -1;
		}
		memcpy((char *)&p->qkd + off, (const char *)&set + off,
		       sizeof(double));
	}
	if (qkd_params_check(&p->qkd, why, sizeof(why)) == -1) {
		log_err("%s: [peer %s] link model: %s", path, p->id, why);
		return -1;
	}
	if (p->qber_abort == 0)
		p->qber_abort = QKD_QBER_ABORT_DEFAULT;
	return 0;
}

static int
kme_cfg_peer_line(struct kme_peer_cfg *p, const char *key, const char *v,
		  const struct cfg_pos *pos)
{
	int rc;

	if (strcmp(key, "address") == 0)
		return kme_cfg_addr(v, &p->addr, key, pos);
	if (strcmp(key, "saes") == 0)
		return kme_cfg_id_list(v, p->saes, &p->nsaes, pos);
	if (strcmp(key, "key_rate") == 0)
		return kme_cfg_u64(v, 0, 100000000000ULL, &p->key_rate, key,
				   pos);
	if (strcmp(key, "max_key_count") == 0)
		return kme_cfg_u64(v, 1, 100000000ULL, &p->max_key_count, key,
				   pos);
	rc = kme_cfg_peer_model(p, key, v, pos);
	if (rc <= 0)
		return rc;
	cfg_error(pos, "unknown key '%s' in [peer %s]", key, p->id);
	return -1;
}

/* admin_allow: a comma-separated list of address prefixes. */
static int
kme_cfg_allow(struct kme_cfg *c, const char *v, const struct cfg_pos *pos)
{
	char buf[CFG_MAX_LINE], *tok, *save = NULL;

	if (str_copy(buf, sizeof(buf), v) == -1) {
		cfg_error(pos, "admin_allow is too long");
		return -1;
	}
	c->nadmin_allow = 0;
	for (tok = strtok_r(buf, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		if (c->nadmin_allow == KME_ADMIN_ALLOW_MAX) {
			cfg_error(pos, "admin_allow: at most %d prefixes",
				  KME_ADMIN_ALLOW_MAX);
			return -1;
		}
		if (cidr_parse(tok, &c->admin_allow[c->nadmin_allow]) == -1) {
			cfg_error(pos,
				  "admin_allow: '%.60s' is not an address "
				  "prefix such as 203.0.113.64/28 (numeric, "
				  "host bits zero, not /0)",
				  tok);
			return -1;
		}
		c->nadmin_allow++;
	}
	if (c->nadmin_allow == 0) {
		cfg_error(pos, "admin_allow is empty");
		return -1;
	}
	return 0;
}

static int
kme_cfg_line(void *arg, const char *section, const char *section_arg,
	     const char *key, const char *v, const struct cfg_pos *pos)
{
	struct kme_cfg *c = arg;

	if (strcmp(section, "peer") == 0) {
		struct kme_peer_cfg *p =
		    c->npeers > 0 ? &c->peers[c->npeers - 1] : NULL;
		if (p == NULL || strcmp(p->id, section_arg) != 0) {
			if (!kme_cfg_valid_id(section_arg)) {
				cfg_error(
				    pos,
				    "[peer ID] needs a KME ID, got '%.70s'",
				    section_arg);
				return -1;
			}
			if (kme_cfg_peer_index(c, section_arg) >= 0) {
				cfg_error(pos, "[peer %s] appears twice",
					  section_arg);
				return -1;
			}
			if (c->npeers >= KME_MAX_PEERS) {
				cfg_error(pos, "more than %d peers",
					  KME_MAX_PEERS);
				return -1;
			}
			p = &c->peers[c->npeers++];
			memset(p, 0, sizeof(*p));
			snprintf(p->id, sizeof(p->id), "%s", section_arg);
			p->key_rate = UINT64_MAX; /* inherit */
			p->max_key_count = 0;
		}
		return kme_cfg_peer_line(p, key, v, pos);
	}
	if (strcmp(section, "remote") == 0)
		return kme_relay_cfg_line(c, section_arg, key, v, pos);
	if (*section != '\0') {
		cfg_error(pos,
			  "unknown section [%s]; only [peer ID] and "
			  "[remote ID] exist",
			  section);
		return -1;
	}
	if (strcmp(key, "kme_id") == 0) {
		if (!kme_cfg_valid_id(v)) {
			cfg_error(
			    pos,
			    "bad kme_id '%.70s' (1..64 of A-Z a-z 0-9 _ - .)",
			    v);
			return -1;
		}
		snprintf(c->kme_id, sizeof(c->kme_id), "%s", v);
		return 0;
	}
	if (strcmp(key, "listen") == 0)
		return kme_cfg_addr(v, &c->listen, key, pos);
	if (strcmp(key, "network") == 0)
		return kme_relay_cfg_network(c, v, pos);
	if (strcmp(key, "relay_hold") == 0)
		return kme_cfg_dur(v, 100, &c->relay_hold_ms, key, pos);
	if (strcmp(key, "link_listen") == 0)
		return kme_cfg_addr(v, &c->link_listen, key, pos);
	if (strcmp(key, "admin_listen") == 0) {
		c->has_admin = true;
		return kme_cfg_addr(v, &c->admin_listen, key, pos);
	}
	if (strcmp(key, "admin_allow") == 0)
		return kme_cfg_allow(c, v, pos);
	if (strcmp(key, "cert") == 0)
		return kme_cfg_path(v, c->cert, sizeof(c->cert), key, pos);
	if (strcmp(key, "key") == 0)
		return kme_cfg_path(v, c->key, sizeof(c->key), key, pos);
	if (strcmp(key, "sae_ca") == 0)
		return kme_cfg_path(v, c->sae_ca, sizeof(c->sae_ca), key, pos);
	if (strcmp(key, "link_cert") == 0)
		return kme_cfg_path(v, c->link_cert, sizeof(c->link_cert), key,
				    pos);
	if (strcmp(key, "link_key") == 0)
		return kme_cfg_path(v, c->link_key, sizeof(c->link_key), key,
				    pos);
	if (strcmp(key, "link_ca") == 0)
		return kme_cfg_path(v, c->link_ca, sizeof(c->link_ca), key,
				    pos);
	if (strcmp(key, "database") == 0)
		return kme_cfg_path(v, c->database, sizeof(c->database), key,
				    pos);
	if (strcmp(key, "saes") == 0)
		return kme_cfg_id_list(v, c->saes, &c->nsaes, pos);
	if (strcmp(key, "key_size") == 0)
		return kme_cfg_u32(v, 8, KME_MAX_KEY_BITS, &c->key_size, key,
				   pos);
	if (strcmp(key, "min_key_size") == 0)
		return kme_cfg_u32(v, 8, KME_MAX_KEY_BITS, &c->min_key_size,
				   key, pos);
	if (strcmp(key, "max_key_size") == 0)
		return kme_cfg_u32(v, 8, KME_MAX_KEY_BITS, &c->max_key_size,
				   key, pos);
	if (strcmp(key, "max_key_per_request") == 0)
		return kme_cfg_u32(v, 1, KME_MAX_KEYS, &c->max_key_per_request,
				   key, pos);
	if (strcmp(key, "max_sae_id_count") == 0)
		return kme_cfg_u32(v, 0, KME_MAX_SLAVES, &c->max_sae_id_count,
				   key, pos);
	if (strcmp(key, "key_rate") == 0)
		return kme_cfg_u64(v, 0, 100000000000ULL, &c->key_rate, key,
				   pos);
	if (strcmp(key, "max_key_count") == 0)
		return kme_cfg_u64(v, 1, 100000000ULL, &c->max_key_count, key,
				   pos);
	if (strcmp(key, "key_ttl") == 0)
		return kme_cfg_dur(v, 1000, &c->key_ttl_ms, key, pos);
	if (strcmp(key, "link_timeout") == 0)
		return kme_cfg_dur(v, 50, &c->link_timeout_ms, key, pos);
	if (strcmp(key, "sync_interval") == 0)
		return kme_cfg_dur(v, 10, &c->sync_interval_ms, key, pos);
	if (strcmp(key, "prefetch_keys") == 0)
		return kme_cfg_u32(v, 0, 4096, &c->prefetch_keys, key, pos);
	if (strcmp(key, "threads") == 0) {
		uint32_t t;
		if (kme_cfg_u32(v, 1, 64, &t, key, pos) == -1)
			return -1;
		c->threads = t;
		return 0;
	}
	if (strcmp(key, "max_connections") == 0)
		return kme_cfg_u32(v, 1, 65536, &c->max_conns, key, pos);
	if (strcmp(key, "max_connections_per_source") == 0)
		return kme_cfg_u32(v, 1, 65536, &c->max_conns_per_source, key,
				   pos);
	if (strcmp(key, "tls_threads") == 0)
		return kme_cfg_u32(v, 1, 64, &c->tls_threads, key, pos);
	if (strcmp(key, "handshake_timeout") == 0)
		return kme_cfg_dur(v, 100, &c->handshake_timeout_ms, key, pos);
	if (strcmp(key, "request_timeout") == 0)
		return kme_cfg_dur(v, 100, &c->request_timeout_ms, key, pos);
	cfg_error(pos, "unknown key '%s'", key);
	return -1;
}

static bool
kme_cfg_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* Whole-config checks, after every line is read. */
static int
kme_cfg_validate(struct kme_cfg *c, const char *path)
{
	static const struct {
		const char *name;
		size_t off;
	} required[] = {
		{ "cert", offsetof(struct kme_cfg, cert) },
		{ "key", offsetof(struct kme_cfg, key) },
		{ "sae_ca", offsetof(struct kme_cfg, sae_ca) },
		{ "link_cert", offsetof(struct kme_cfg, link_cert) },
		{ "link_key", offsetof(struct kme_cfg, link_key) },
		{ "link_ca", offsetof(struct kme_cfg, link_ca) },
		{ "database", offsetof(struct kme_cfg, database) },
	};

	if (c->kme_id[0] == '\0') {
		log_err("%s: kme_id is required", path);
		return -1;
	}
	for (size_t i = 0; i < ARRAY_LEN(required); i++) {
		if (((const char *)c + required[i].off)[0] == '\0') {
			log_err("%s: %s is required", path, required[i].name);
			return -1;
		}
	}
	if (c->listen.port == 0 || c->link_listen.port == 0) {
		log_err("%s: listen and link_listen are required", path);
		return -1;
	}
	if (c->has_admin && !kme_cfg_is_loopback(c->admin_listen.host) &&
	    c->nadmin_allow == 0) {
		log_err(
		    "%s: admin_listen must be a loopback address (it has no "
		    "authentication), not '%s', unless admin_allow names the "
		    "networks whose clients it may serve",
		    path, c->admin_listen.host);
		return -1;
	}
	if (c->nsaes == 0) {
		log_err("%s: saes (the SAE IDs this KME serves) is required",
			path);
		return -1;
	}
	if (c->min_key_size > c->max_key_size ||
	    c->key_size < c->min_key_size || c->key_size > c->max_key_size) {
		log_err("%s: need min_key_size <= key_size <= max_key_size "
			"(have %u, %u, %u)",
			path, c->min_key_size, c->key_size, c->max_key_size);
		return -1;
	}
	if (c->key_size % 8 != 0 || c->min_key_size % 8 != 0 ||
	    c->max_key_size % 8 != 0) {
		log_err("%s: key sizes must be multiples of 8 bits", path);
		return -1;
	}
	if (c->npeers == 0) {
		log_err("%s: at least one [peer KME_ID] section is required",
			path);
		return -1;
	}
	for (size_t i = 0; i < c->npeers; i++) {
		struct kme_peer_cfg *p = &c->peers[i];

		if (strcmp(p->id, c->kme_id) == 0) {
			log_err("%s: [peer %s] is this KME itself", path,
				p->id);
			return -1;
		}
		if (p->addr.port == 0 || p->nsaes == 0) {
			log_err("%s: [peer %s] needs address and saes", path,
				p->id);
			return -1;
		}
		if (p->key_rate == UINT64_MAX)
			p->key_rate = c->key_rate;
		if (p->max_key_count == 0)
			p->max_key_count = c->max_key_count;
		if (kme_cfg_peer_model_validate(p, path) == -1)
			return -1;
		for (size_t j = 0; j < p->nsaes; j++) {
			const struct kme_peer_cfg *o =
			    kme_cfg_peer_of_sae(c, p->saes[j]);
			bool dup = false;

			for (size_t l = 0; l < j; l++)
				dup =
				    dup || strcmp(p->saes[l], p->saes[j]) == 0;
			if (kme_cfg_is_local_sae(c, p->saes[j]) || o != p ||
			    dup) {
				log_err(
				    "%s: SAE %s is listed twice (each SAE belongs "
				    "to exactly one KME)",
				    path, p->saes[j]);
				return -1;
			}
		}
	}
	for (size_t i = 0; i < c->nsaes; i++) {
		for (size_t j = i + 1; j < c->nsaes; j++) {
			if (strcmp(c->saes[i], c->saes[j]) == 0) {
				log_err("%s: SAE %s is listed twice", path,
					c->saes[i]);
				return -1;
			}
		}
	}
	return kme_relay_cfg_validate(c, path);
}

static void
kme_cfg_defaults(struct kme_cfg *c)
{
	memset(c, 0, sizeof(*c));
	/* ETSI 014 Status example values where they are sensible defaults. */
	c->key_size = 256;
	c->min_key_size = 64;
	c->max_key_size = 1024;
	c->max_key_per_request = 128;
	c->max_sae_id_count = 4;
	c->key_rate = 1000000; /* ~ what QKD gives over 50 km */
	c->max_key_count = 100000;
	c->key_ttl_ms = 3600 * 1000;
	c->link_timeout_ms = 2000;
	c->sync_interval_ms = 100;
	/* Keys already at both ends before anyone asks, as on a QKD link. */
	c->prefetch_keys = 1024;
	c->threads = 8;
	c->max_conns = 1024;
	c->max_conns_per_source = 256;
	c->tls_threads = 2;
	c->handshake_timeout_ms = 5000;
	c->request_timeout_ms = 10000;
	c->relay_hold_ms = 30000;
}

int
kme_cfg_load(struct kme_cfg *c, const char *path)
{
	kme_cfg_defaults(c);
	if (cfg_parse_file(path, kme_cfg_line, c) == -1)
		return -1;
	return kme_cfg_validate(c, path);
}

int
kme_cfg_load_buf(struct kme_cfg *c, const char *buf, size_t len,
		 const char *name)
{
	kme_cfg_defaults(c);
	if (cfg_parse_buf(buf, len, name, kme_cfg_line, c) == -1)
		return -1;
	return kme_cfg_validate(c, name);
}

bool
kme_cfg_is_local_sae(const struct kme_cfg *c, const char *sae)
{
	for (size_t i = 0; i < c->nsaes; i++) {
		if (strcmp(c->saes[i], sae) == 0)
			return true;
	}
	return false;
}

const struct kme_peer_cfg *
kme_cfg_peer_of_sae(const struct kme_cfg *c, const char *sae)
{
	for (size_t i = 0; i < c->npeers; i++) {
		for (size_t j = 0; j < c->peers[i].nsaes; j++) {
			if (strcmp(c->peers[i].saes[j], sae) == 0)
				return &c->peers[i];
		}
	}
	return NULL;
}

int
kme_cfg_peer_index(const struct kme_cfg *c, const char *kme_id)
{
	for (size_t i = 0; i < c->npeers; i++) {
		if (strcmp(c->peers[i].id, kme_id) == 0)
			return (int)i;
	}
	return -1;
}
