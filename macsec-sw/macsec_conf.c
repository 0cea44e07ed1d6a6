/*
 * macsec_conf.c — the configuration file of macsec-sw (macsec-sw.conf(5)).
 *
 * The policy keys are the same words as the control socket's set-policy
 * request, and both go through conf_policy_kv().
 */
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "http_pages.h"
#include "log.h"
#include "macsec_sw.h"
#include "util.h"

void
conf_defaults(struct macsec_conf *conf)
{
	struct secy *tmp;
	static const uint8_t zero[ETH_ADDR_LEN];

	memset(conf, 0, sizeof(*conf));
	str_copy(conf->tap, sizeof(conf->tap), "macsec0");
	str_copy(conf->socket, sizeof(conf->socket), CONF_DEFAULT_SOCKET);
	conf->sci_port = 1;
	conf->tap_copy_mac = true;
	conf->offload = true;
	conf->packet_rings = true;
	/* The SecY's own defaults are the policy defaults. */
	if ((tmp = secy_new(zero, 0)) != NULL) {
		secy_get_policy(tmp, &conf->pol);
		secy_free(tmp);
	}
}

static const char *validate_names[] = {
	[SECY_VALIDATE_DISABLED] = "disabled",
	[SECY_VALIDATE_CHECK] = "check",
	[SECY_VALIDATE_STRICT] = "strict",
};

const char *
conf_validate_name(enum secy_validate v)
{
	return validate_names[v];
}

static int
parse_onoff(const char *key, const char *value, bool *out, char *err,
	    size_t errlen)
{
	if (cfg_parse_bool(value, out) == -1) {
		snprintf(err, errlen, "%s must be on or off, not '%s'", key,
			 value);
		return -1;
	}
	return 0;
}

int
conf_policy_kv(struct secy_policy *pol, const char *key, const char *value,
	       char *err, size_t errlen)
{
	uint64_t n;
	size_t i;

	if (strcmp(key, "cipher") == 0) {
		if (cipher_suite_parse(value, &pol->cs) == -1) {
			snprintf(err, errlen,
				 "unknown cipher '%s' (gcm-aes-128,"
				 " gcm-aes-256, gcm-aes-xpn-128, "
				 "gcm-aes-xpn-256)",
				 value);
			return -1;
		}
	} else if (strcmp(key, "protect") == 0) {
		return parse_onoff(key, value, &pol->protect, err, errlen);
	} else if (strcmp(key, "replay-protect") == 0) {
		return parse_onoff(key, value, &pol->replay_protect, err,
				   errlen);
	} else if (strcmp(key, "encrypt") == 0) {
		return parse_onoff(key, value, &pol->encrypt, err, errlen);
	} else if (strcmp(key, "include-sci") == 0) {
		return parse_onoff(key, value, &pol->include_sci, err, errlen);
	} else if (strcmp(key, "es") == 0) {
		return parse_onoff(key, value, &pol->use_es, err, errlen);
	} else if (strcmp(key, "validate") == 0) {
		for (i = 0; i < ARRAY_LEN(validate_names); i++)
			if (strcmp(value, validate_names[i]) == 0)
				break;
		if (i == ARRAY_LEN(validate_names)) {
			snprintf(err, errlen,
				 "validate must be disabled, check"
				 " or strict, not '%s'",
				 value);
			return -1;
		}
		pol->validate = (enum secy_validate)i;
	} else if (strcmp(key, "replay-window") == 0) {
		if (cfg_parse_u64(value, 0, UINT32_MAX, &n) == -1) {
			snprintf(err, errlen,
				 "replay-window must be 0-%u, not "
				 "'%s'",
				 UINT32_MAX, value);
			return -1;
		}
		pol->replay_window = (uint32_t)n;
	} else if (strcmp(key, "offset") == 0) {
		if (cfg_parse_u64(value, 0, 50, &n) == -1 ||
		    (n != 0 && n != 30 && n != 50)) {
			snprintf(err, errlen,
				 "offset must be 0, 30 or 50, not "
				 "'%s'",
				 value);
			return -1;
		}
		pol->offset = (unsigned)n;
	} else {
		return 1;
	}
	return 0;
}

static int
conf_name(const struct cfg_pos *pos, const char *key, const char *value,
	  char *dst, size_t cap)
{
	if (*value == '\0' || str_copy(dst, cap, value) == -1 ||
	    strchr(value, '/') != NULL) {
		cfg_error(pos,
			  "%s: '%s' is not a usable name (1-%zu "
			  "characters, no '/')",
			  key, value, cap - 1);
		return -1;
	}
	return 0;
}

static int
conf_line(void *arg, const char *section, const char *section_arg,
	  const char *key, const char *value, const struct cfg_pos *pos)
{
	struct macsec_conf *conf = arg;
	char err[160];
	uint64_t n;
	int rc;

	(void)section_arg;
	if (*section != '\0') {
		cfg_error(pos, "unknown section [%s]", section);
		return -1;
	}
	if (strcmp(key, "interface") == 0)
		return conf_name(pos, key, value, conf->interface,
				 sizeof(conf->interface));
	if (strcmp(key, "tap") == 0)
		return conf_name(pos, key, value, conf->tap, sizeof(conf->tap));
	if (strcmp(key, "socket") == 0) {
		if (*value != '/' ||
		    str_copy(conf->socket, sizeof(conf->socket), value) == -1) {
			cfg_error(pos,
				  "socket: '%s' must be an absolute path "
				  "shorter than %d characters",
				  value, CONF_PATH_MAX);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "sci") == 0) {
		if (sci_parse(value, &conf->sci) == -1 ||
		    conf->sci == MACSEC_SCI_RESERVED) {
			cfg_error(pos,
				  "sci: '%s' is not 16 hex digits (or is "
				  "the reserved all-ones SCI)",
				  value);
			return -1;
		}
		conf->sci_set = true;
		return 0;
	}
	if (strcmp(key, "port") == 0) {
		if (cfg_parse_u64(value, 1, 65535, &n) == -1) {
			cfg_error(pos, "port: '%s' is not 1-65535", value);
			return -1;
		}
		conf->sci_port = (uint16_t)n;
		return 0;
	}
	if (strcmp(key, "tap-mac") == 0) {
		if (strcmp(value, "interface") == 0)
			conf->tap_copy_mac = true;
		else if (strcmp(value, "random") == 0)
			conf->tap_copy_mac = false;
		else {
			cfg_error(pos,
				  "tap-mac must be interface or random, "
				  "not '%s'",
				  value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "metrics_listen") == 0) {
		char host[48];
		uint16_t mport;

		if (http_pages_parse_addr(value, host, sizeof(host), &mport) ==
			-1 ||
		    str_copy(conf->metrics_listen, sizeof(conf->metrics_listen),
			     value) == -1) {
			cfg_error(pos,
				  "metrics_listen: '%s' is not address:port",
				  value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "log_format") == 0) {
		if (log_fmt_parse(value, &conf->log_fmt) == -1) {
			cfg_error(pos,
				  "log_format must be text or json, not '%s'",
				  value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "offload") == 0 || strcmp(key, "qdisc-bypass") == 0) {
		if (cfg_parse_bool(value, key[0] == 'o'
					      ? &conf->offload
					      : &conf->qdisc_bypass) == -1) {
			cfg_error(pos, "%s must be on or off, not '%s'", key,
				  value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "packet-rings") == 0) {
		if (cfg_parse_bool(value, &conf->packet_rings) == -1) {
			cfg_error(pos, "%s must be on or off, not '%s'", key,
				  value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "cipher-engine") == 0) {
		if (cipher_engine_parse(value, &conf->cipher_engine) == -1) {
			cfg_error(pos,
				  "cipher-engine must be auto or openssl, "
				  "not '%s'",
				  value);
			return -1;
		}
		return 0;
	}
	rc = conf_policy_kv(&conf->pol, key, value, err, sizeof(err));
	if (rc == 1)
		cfg_error(pos, "unknown key '%s'", key);
	else if (rc == -1)
		cfg_error(pos, "%s", err);
	return rc == 0 ? 0 : -1;
}

int
conf_load(const char *path, struct macsec_conf *conf)
{
	return cfg_parse_file(path, conf_line, conf);
}
