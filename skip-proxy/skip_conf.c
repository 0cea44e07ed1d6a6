/*
 * skip_conf.c — skip-proxy.conf: "key = value" lines (lib/cfg), one table
 * of known keys, strict value parsers, then a whole-file validation.
 * See skip-proxy.conf(5).
 */
#include "skip.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <stddef.h>
#include <string.h>

enum skip_conf_type {
	CT_STR,
	CT_UINT,
	CT_PORT,
	CT_DURATION,
	CT_BOOL,
	CT_MODE,
	CT_REMOTE
};

struct skip_conf_key {
	const char *name;
	enum skip_conf_type type;
	size_t off;
	size_t size; /* CT_STR: buffer size */
	uint64_t min, max; /* CT_UINT, CT_DURATION (ms) */
};

#define S(f) \
	CT_STR, offsetof(struct skip_conf, f), \
	    sizeof(((struct skip_conf *)0)->f), 0, 0
#define U(f, lo, hi) CT_UINT, offsetof(struct skip_conf, f), 0, lo, hi
#define D(f, lo, hi) CT_DURATION, offsetof(struct skip_conf, f), 0, lo, hi
#define P(f) CT_PORT, offsetof(struct skip_conf, f), 0, 0, 65535
#define B(f) CT_BOOL, offsetof(struct skip_conf, f), 0, 0, 0

static const struct skip_conf_key skip_conf_keys[] = {
	{ "listen", S(listen_addr) },
	{ "port", P(port) },
	{ "tls_mode", CT_MODE, 0, 0, 0, 0 },
	{ "psk_file", S(psk_file) },
	{ "cert_file", S(cert_file) },
	{ "key_file", S(key_file) },
	{ "client_ca_file", S(client_ca_file) },
	{ "tls12_ciphers", S(tls12_ciphers) },
	{ "tls13_ciphersuites", S(tls13_ciphersuites) },
	{ "threads", U(threads, 1, 64) },
	{ "max_connections", U(max_connections, 1, 4096) },
	{ "idle_timeout", D(idle_timeout_ms, 1000, 3600000) },
	{ "max_connections_per_source",
	  U(max_connections_per_source, 1, 4096) },
	{ "tls_threads", U(tls_threads, 1, 64) },
	{ "handshake_timeout", D(handshake_timeout_ms, 100, 600000) },
	{ "request_timeout", D(request_timeout_ms, 100, 600000) },
	{ "local_system_id", S(local_system_id) },
	{ "remote_system_id", CT_REMOTE, 0, 0, 0, 0 },
	{ "algorithm", S(algorithm) },
	{ "key_size_default", U(key_size_default, 128, SKIP_KEY_MAX_BITS) },
	{ "key_size_max", U(key_size_max, 128, SKIP_KEY_MAX_BITS) },
	{ "entropy_default", U(entropy_default, 8, SKIP_ENTROPY_MAX_BITS) },
	{ "entropy_max", U(entropy_max, 8, SKIP_ENTROPY_MAX_BITS) },
	{ "kme_url", S(kme_url) },
	{ "kme_ca_file", S(kme_ca_file) },
	{ "kme_cert_file", S(kme_cert_file) },
	{ "kme_key_file", S(kme_key_file) },
	{ "kme_verify_host", B(kme_verify_host) },
	{ "kme_timeout", D(kme_timeout_ms, 10, 600000) },
	{ "kme_connect_timeout", D(kme_connect_timeout_ms, 10, 600000) },
	{ "kme_retries", U(kme_retries, 0, 10) },
	{ "kme_retry_delay", D(kme_retry_delay_ms, 0, 60000) },
	{ "kme_unavailable_status", U(kme_unavailable_status, 500, 503) },
	{ "key_pool", U(key_pool, 0, SKIP_POOL_MAX) },
	{ "key_pool_max_age", D(key_pool_max_age_ms, 1000, 3600000) },
	{ "record", S(record_file) },
	{ "metrics_listen", S(metrics_addr) },
	{ "metrics_port", P(metrics_port) },
};

#define SKIP_DEFAULT_TLS12 \
	"DHE-PSK-AES256-GCM-SHA384:DHE-PSK-AES256-CBC-SHA384:" \
	"DHE-PSK-AES256-CBC-SHA:ECDHE-PSK-AES256-CBC-SHA384:" \
	"PSK-AES256-GCM-SHA384:PSK-AES256-CBC-SHA384"
#define SKIP_DEFAULT_TLS12_CERT \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"AES256-SHA256"

void
skip_conf_defaults(struct skip_conf *c)
{
	memset(c, 0, sizeof(*c));
	str_copy(c->listen_addr, sizeof(c->listen_addr), "0.0.0.0");
	c->port = 443;
	c->tls_mode = SKIP_TLS_PSK;
	/* Empty: chosen per mode in skip_conf_validate(). */
	c->tls12_ciphers[0] = '\0';
	str_copy(c->tls13_ciphersuites, sizeof(c->tls13_ciphersuites),
		 "TLS_AES_256_GCM_SHA384");
	c->threads = 4;
	c->max_connections = 256;
	c->idle_timeout_ms = 60000;
	c->max_connections_per_source = 64;
	c->tls_threads = 2;
	c->handshake_timeout_ms = 5000;
	c->request_timeout_ms = 10000;
	str_copy(c->algorithm, sizeof(c->algorithm), "QKD via ETSI GS QKD 014");
	c->key_size_default = 256;
	c->key_size_max = 512;
	c->entropy_default = 256;
	c->entropy_max = 4096;
	c->kme_verify_host = true;
	c->kme_timeout_ms = 5000;
	c->kme_connect_timeout_ms = 1000;
	c->kme_retries = 2;
	c->kme_retry_delay_ms = 100;
	c->kme_unavailable_status = 500;
	c->key_pool = 64;
	c->key_pool_max_age_ms = 10000;
	str_copy(c->metrics_addr, sizeof(c->metrics_addr), "127.0.0.1");
}

static int
skip_conf_set(struct skip_conf *c, const struct skip_conf_key *k,
	      const char *value, const struct cfg_pos *pos)
{
	char *field = (char *)c + k->off;
	uint64_t v;
	bool b;

	switch (k->type) {
	case CT_STR:
		if (*value == '\0' || str_copy(field, k->size, value) == -1) {
			cfg_error(pos,
				  "%s: empty or longer than %zu characters",
				  k->name, k->size - 1);
			return -1;
		}
		return 0;
	case CT_UINT:
		if (cfg_parse_u64(value, k->min, k->max, &v) == -1) {
			cfg_error(pos,
				  "%s: '%s' is not a number from %llu to %llu",
				  k->name, value, (unsigned long long)k->min,
				  (unsigned long long)k->max);
			return -1;
		}
		*(unsigned *)(void *)field = (unsigned)v;
		return 0;
	case CT_PORT:
		if (cfg_parse_u64(value, 0, 65535, &v) == -1) {
			cfg_error(pos, "%s: '%s' is not a port (0..65535)",
				  k->name, value);
			return -1;
		}
		*(uint16_t *)(void *)field = (uint16_t)v;
		return 0;
	case CT_DURATION:
		if (cfg_parse_duration_ms(value, &v) == -1 || v < k->min ||
		    v > k->max) {
			cfg_error(pos,
				  "%s: '%s' is not a duration from %llums to "
				  "%llums (e.g. 250ms, 2s)",
				  k->name, value, (unsigned long long)k->min,
				  (unsigned long long)k->max);
			return -1;
		}
		*(uint64_t *)(void *)field = v;
		return 0;
	case CT_BOOL:
		if (cfg_parse_bool(value, &b) == -1) {
			cfg_error(pos, "%s: '%s' is not yes/no", k->name,
				  value);
			return -1;
		}
		*(bool *)(void *)field = b;
		return 0;
	case CT_MODE:
		if (strcmp(value, "psk") == 0) {
			c->tls_mode = SKIP_TLS_PSK;
		} else if (strcmp(value, "certificate") == 0 ||
			   strcmp(value, "cert") == 0) {
			c->tls_mode = SKIP_TLS_CERT;
		} else {
			cfg_error(
			    pos,
			    "tls_mode: '%s' is neither psk nor certificate",
			    value);
			return -1;
		}
		return 0;
	case CT_REMOTE:
		if (c->n_remote_ids == SKIP_MAX_REMOTES) {
			cfg_error(pos, "more than %d remote_system_id entries",
				  SKIP_MAX_REMOTES);
			return -1;
		}
		if (*value == '\0' || str_copy(c->remote_ids[c->n_remote_ids],
					       SKIP_ID_MAX + 1, value) == -1) {
			cfg_error(pos,
				  "remote_system_id: empty or longer than %d "
				  "characters",
				  SKIP_ID_MAX);
			return -1;
		}
		c->n_remote_ids++;
		return 0;
	}
	return -1;
}

static int
skip_conf_line(void *arg, const char *section, const char *section_arg,
	       const char *key, const char *value, const struct cfg_pos *pos)
{
	(void)section_arg;
	if (*section != '\0') {
		cfg_error(pos, "skip-proxy.conf has no sections ([%s])",
			  section);
		return -1;
	}
	for (size_t i = 0; i < ARRAY_LEN(skip_conf_keys); i++)
		if (strcmp(key, skip_conf_keys[i].name) == 0)
			return skip_conf_set(arg, &skip_conf_keys[i], value,
					     pos);
	cfg_error(pos, "unknown key '%s' (see skip-proxy.conf(5))", key);
	return -1;
}

int
skip_conf_load_buf(struct skip_conf *c, const char *buf, size_t len,
		   const char *name)
{
	if (cfg_parse_buf(buf, len, name, skip_conf_line, c) == -1)
		return -1;
	return skip_conf_validate(c);
}

int
skip_conf_load(struct skip_conf *c, const char *path)
{
	if (cfg_parse_file(path, skip_conf_line, c) == -1)
		return -1;
	return skip_conf_validate(c);
}

static int
skip_conf_require(const char *v, const char *name, const char *why)
{
	if (*v != '\0')
		return 0;
	log_err("configuration: %s is required%s", name, why);
	return -1;
}

int
skip_conf_validate(struct skip_conf *c)
{
	int rc = 0;

	if (c->tls12_ciphers[0] == '\0')
		str_copy(c->tls12_ciphers, sizeof(c->tls12_ciphers),
			 c->tls_mode == SKIP_TLS_PSK ? SKIP_DEFAULT_TLS12
						     : SKIP_DEFAULT_TLS12_CERT);
	if (c->tls_mode == SKIP_TLS_PSK) {
		rc |=
		    skip_conf_require(c->psk_file, "psk_file", " in psk mode");
	} else {
		rc |= skip_conf_require(c->cert_file, "cert_file",
					" in certificate mode");
		rc |= skip_conf_require(c->key_file, "key_file",
					" in certificate mode");
		rc |= skip_conf_require(c->client_ca_file, "client_ca_file",
					" in certificate mode (routers must "
					"authenticate too)");
	}
	rc |= skip_conf_require(c->local_system_id, "local_system_id", "");
	rc |= skip_conf_require(c->kme_url, "kme_url", "");
	rc |= skip_conf_require(c->kme_ca_file, "kme_ca_file", "");
	rc |= skip_conf_require(c->kme_cert_file, "kme_cert_file", "");
	rc |= skip_conf_require(c->kme_key_file, "kme_key_file", "");
	if (c->kme_unavailable_status != 500 &&
	    c->kme_unavailable_status != 503) {
		log_err("configuration: kme_unavailable_status %u is neither "
			"500 (draft-cisco-skip-02) nor 503",
			c->kme_unavailable_status);
		rc = -1;
	}
	/* draft 4.1: at least one remoteSystemID entry is a MUST. */
	if (c->n_remote_ids == 0) {
		log_err(
		    "configuration: at least one remote_system_id is required");
		rc = -1;
	}
	if (strncmp(c->kme_url, "https://", 8) != 0 && c->kme_url[0] != '\0') {
		log_err("configuration: kme_url '%s' must start with https:// "
			"(ETSI 014 requires TLS)",
			c->kme_url);
		rc = -1;
	}
	if (c->key_size_max % 8 != 0 || c->key_size_default % 8 != 0 ||
	    c->key_size_default > c->key_size_max) {
		log_err("configuration: key sizes must be multiples of 8 with "
			"key_size_default (%u) <= key_size_max (%u)",
			c->key_size_default, c->key_size_max);
		rc = -1;
	}
	if (c->entropy_max % 8 != 0 || c->entropy_default % 8 != 0 ||
	    c->entropy_default > c->entropy_max) {
		log_err(
		    "configuration: entropy sizes must be multiples of 8 with "
		    "entropy_default (%u) <= entropy_max (%u)",
		    c->entropy_default, c->entropy_max);
		rc = -1;
	}
	return rc == 0 ? 0 : -1;
}

/* The longest KME answer to read: a batch of key_pool keys of the default
 * size (base64, plus room for the container's names and extensions). */
static size_t
skip_conf_kme_body_max(const struct skip_conf *c)
{
	size_t b64 = 4 * ((c->key_size_default / 8 + 2) / 3);
	size_t batch = 1024 + (size_t)c->key_pool * (256 + b64);

	return batch > SKIP_KME_BODY_MAX ? batch : SKIP_KME_BODY_MAX;
}

void
skip_conf_kme_client(const struct skip_conf *c, struct https_client_cfg *kc)
{
	*kc = (struct https_client_cfg){
		.ca_file = c->kme_ca_file,
		.cert_file = c->kme_cert_file,
		.key_file = c->kme_key_file,
		.verify_host = c->kme_verify_host,
		.timeout_ms = c->kme_timeout_ms,
		.connect_timeout_ms = c->kme_connect_timeout_ms,
		.retries = c->kme_retries,
		.retry_delay_ms = c->kme_retry_delay_ms,
		.body_max = skip_conf_kme_body_max(c),
		.pool = SKIP_KME_POOL,
	};
}
