/*
 * mka_conf.c — the mka-agent.conf parser: one callback per "key = value"
 * line (lib/cfg.c splits the lines), a table of port keys, then checks
 * that need the whole file (a CAK and CKN per PSK port).
 */
#include "mka_conf.h"

#include "cfg.h"
#include "encoding.h"
#include "http_pages.h"
#include "mka_suite.h"
#include "mka_wire.h"
#include "secmem.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const uint8_t pae_group[6] = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x03 };

const char *
mka_cak_source_name(enum mka_cak_source s)
{
	static const char *const names[] = { "psk", "skip", "etsi014" };

	return s <= MKA_CAK_ETSI014 ? names[s] : "?";
}

static int
parse_mac(const char *s, uint8_t mac[6])
{
	if (strcasecmp(s, "pae") == 0) {
		memcpy(mac, pae_group, 6);
		return 0;
	}
	if (strcasecmp(s, "broadcast") == 0) {
		memset(mac, 0xff, 6);
		return 0;
	}
	/* Exactly xx:xx:xx:xx:xx:xx or xx-xx-..., two hex digits each. */
	if (strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (i > 0 && s[3 * i - 1] != s[2])
			return -1;
		if (hex_decode(&mac[i], 1, s + 3 * i, 2) != 1)
			return -1;
	}
	return s[2] == ':' || s[2] == '-' ? 0 : -1;
}

static int
parse_suites(const char *s, struct mka_kay_conf *k)
{
	char buf[256], *tok, *save = NULL;

	if (str_copy(buf, sizeof(buf), s) == -1)
		return -1;
	k->n_suites = 0;
	for (tok = strtok_r(buf, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		const struct mka_suite *cs = mka_suite_by_name(tok);

		if (cs == NULL || k->n_suites == MKA_MAX_SUITES)
			return -1;
		k->suites[k->n_suites++] = cs->id;
	}
	return k->n_suites > 0 ? 0 : -1;
}

static int
parse_offset(const char *s, uint8_t *co, uint8_t *cap)
{
	static const struct {
		const char *name;
		uint8_t co, cap;
	} t[] = {
		{ "none", MKA_CO_INTEGRITY_ONLY, MKA_CAP_INTEGRITY },
		{ "0", MKA_CO_0, MKA_CAP_CONF_0 },
		{ "30", MKA_CO_30, MKA_CAP_CONF_0_30_50 },
		{ "50", MKA_CO_50, MKA_CAP_CONF_0_30_50 },
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		if (strcmp(s, t[i].name) == 0) {
			*co = t[i].co;
			*cap = t[i].cap;
			return 0;
		}
	}
	return -1;
}

static int
parse_peers(const char *s, struct mka_qkd_conf *q)
{
	char buf[1024], *tok, *save = NULL;

	if (str_copy(buf, sizeof(buf), s) == -1)
		return -1;
	q->n_allowed = 0;
	for (tok = strtok_r(buf, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		if (!id_text_ok(tok, MKA_KMD_MIN, MKA_SAE_MAX) ||
		    q->n_allowed == MKA_QKD_MAX_ALLOWED)
			return -1;
		str_copy(q->allowed[q->n_allowed++], sizeof(q->allowed[0]),
			 tok);
	}
	return q->n_allowed > 0 ? 0 : -1;
}

/* A Linux interface name (dev_valid_name): 1-15 octets, no '/', ':' or space. */
static bool
netdev_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IF_NAMESIZE || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	for (; *s != '\0'; s++)
		if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static int
port_key(struct mka_port_conf *pc, const char *key, const char *value,
	 const struct cfg_pos *pos)
{
	struct mka_kay_conf *k = &pc->kay;
	uint64_t n, ms;
	int len;

	if (strcmp(key, "cak_source") == 0) {
		if (strcmp(value, "psk") == 0)
			pc->source = MKA_CAK_PSK;
		else if (strcmp(value, "skip") == 0)
			pc->source = MKA_CAK_SKIP;
		else if (strcmp(value, "etsi014") == 0)
			pc->source = MKA_CAK_ETSI014;
		else {
			cfg_error(pos,
				  "cak_source: invalid value '%s' (valid: "
				  "psk, skip, etsi014)",
				  value);
			return -1;
		}
	} else if (strcmp(key, "cak") == 0) {
		len =
		    hex_decode(pc->cak, sizeof(pc->cak), value, strlen(value));
		if (len != 16 && len != 32) {
			cfg_error(pos, "cak: 32 or 64 hex digits expected");
			return -1;
		}
		pc->cak_len = (size_t)len;
	} else if (strcmp(key, "ckn") == 0) {
		len =
		    hex_decode(pc->ckn, sizeof(pc->ckn), value, strlen(value));
		if (len < MKA_CKN_MIN || len > MKA_CKN_MAX) {
			cfg_error(pos, "ckn: 2 to 64 hex digits expected");
			return -1;
		}
		pc->ckn_len = (size_t)len;
	} else if (strcmp(key, "priority") == 0) {
		if (cfg_parse_u64(value, 0, 255, &n) == -1)
			goto bad;
		k->priority = (uint8_t)n;
	} else if (strcmp(key, "port_id") == 0) {
		if (cfg_parse_u64(value, 1, 0xffff, &n) == -1)
			goto bad;
		k->port_id = (uint16_t)n;
	} else if (strcmp(key, "macsec_desired") == 0) {
		if (cfg_parse_bool(value, &k->macsec_desired) == -1)
			goto bad;
	} else if (strcmp(key, "cipher_suites") == 0) {
		if (parse_suites(value, k) == -1)
			goto bad;
	} else if (strcmp(key, "confidentiality_offset") == 0) {
		if (parse_offset(value, &k->conf_offset, &k->capability) == -1)
			goto bad;
	} else if (strcmp(key, "replay_protect") == 0) {
		if (cfg_parse_bool(value, &k->replay_protect) == -1)
			goto bad;
	} else if (strcmp(key, "replay_window") == 0) {
		if (cfg_parse_u64(value, 0, UINT32_MAX, &n) == -1)
			goto bad;
		k->replay_window = (uint32_t)n;
	} else if (strcmp(key, "eapol_destination") == 0) {
		if (parse_mac(value, k->eapol_da) == -1)
			goto bad;
	} else if (strcmp(key, "hello_time") == 0) {
		if (cfg_parse_duration_ms(value, &ms) == -1 || ms < 100 ||
		    ms > 60000)
			goto bad;
		k->hello_ms = (uint32_t)ms;
	} else if (strcmp(key, "life_time") == 0) {
		if (cfg_parse_duration_ms(value, &ms) == -1 || ms < 300 ||
		    ms > 600000)
			goto bad;
		k->life_ms = (uint32_t)ms;
	} else if (strcmp(key, "pn_threshold") == 0) {
		if (cfg_parse_u64(value, 2, UINT64_MAX, &n) == -1)
			goto bad;
		k->pn_threshold = n;
	} else if (strcmp(key, "sae_id") == 0) {
		/* SAE IDs go into URLs and the KMD. */
		if (!id_text_ok(value, MKA_KMD_MIN, MKA_SAE_MAX) ||
		    str_copy(pc->qkd.own_sae, sizeof(pc->qkd.own_sae), value) ==
			-1)
			goto bad;
	} else if (strcmp(key, "role") == 0) {
		if (strcmp(value, "auto") == 0)
			pc->qkd.role = MKA_ROLE_AUTO;
		else if (strcmp(value, "initiator") == 0)
			pc->qkd.role = MKA_ROLE_INITIATOR;
		else if (strcmp(value, "responder") == 0)
			pc->qkd.role = MKA_ROLE_RESPONDER;
		else
			goto bad;
	} else if (strcmp(key, "allowed_peers") == 0) {
		if (parse_peers(value, &pc->qkd) == -1)
			goto bad;
	} else if (strcmp(key, "cak_bits") == 0) {
		if (strcmp(value, "128") != 0 && strcmp(value, "256") != 0)
			goto bad;
		pc->qkd.cak_len = strcmp(value, "128") == 0 ? 16 : 32;
	} else if (strcmp(key, "cak_lifetime") == 0) {
		if (cfg_parse_duration_ms(value, &ms) == -1 ||
		    (ms != 0 && ms < 5000))
			goto bad;
		pc->qkd.cak_lifetime_ms = ms;
	} else if (strcmp(key, "fallback_cak") == 0) {
		len = hex_decode(pc->qkd.fb_cak, sizeof(pc->qkd.fb_cak), value,
				 strlen(value));
		if (len != 16 && len != 32)
			goto bad;
		pc->qkd.fb_cak_len = (size_t)len;
	} else if (strcmp(key, "fallback_ckn") == 0) {
		len = hex_decode(pc->qkd.fb_ckn, sizeof(pc->qkd.fb_ckn), value,
				 strlen(value));
		if (len < MKA_CKN_MIN || len > MKA_CKN_MAX)
			goto bad;
		pc->qkd.fb_ckn_len = (size_t)len;
	} else if (strcmp(key, "fallback_after") == 0) {
		if (cfg_parse_duration_ms(value, &ms) == -1 || ms < 1000 ||
		    ms > 3600000)
			goto bad;
		pc->qkd.fallback_after_ms = (uint32_t)ms;
	} else if (strcmp(key, "skip_address") == 0) {
		const char *colon = strrchr(value, ':');

		if (colon == NULL || colon == value ||
		    (size_t)(colon - value) >= sizeof(pc->skip_host) ||
		    cfg_parse_u64(colon + 1, 1, 65535, &n) == -1)
			goto bad;
		memcpy(pc->skip_host, value, (size_t)(colon - value));
		pc->skip_host[colon - value] = '\0';
		str_copy(pc->skip_port, sizeof(pc->skip_port), colon + 1);
	} else if (strcmp(key, "skip_identity") == 0) {
		if (*value == '\0' ||
		    str_copy(pc->skip_identity, sizeof(pc->skip_identity),
			     value) == -1)
			goto bad;
	} else if (strcmp(key, "skip_psk") == 0) {
		len = hex_decode(pc->skip_psk, sizeof(pc->skip_psk), value,
				 strlen(value));
		if (len < 16)
			goto bad;
		pc->skip_psk_len = (size_t)len;
	} else if (strcmp(key, "kme_url") == 0) {
		if (strncmp(value, "https://", 8) != 0 ||
		    str_copy(pc->kme_url, sizeof(pc->kme_url), value) == -1)
			goto bad;
	} else if (strcmp(key, "kme_cert") == 0 ||
		   strcmp(key, "kme_key") == 0 || strcmp(key, "kme_ca") == 0) {
		char *dst = strcmp(key, "kme_cert") == 0  ? pc->kme_cert
			    : strcmp(key, "kme_key") == 0 ? pc->kme_key
							  : pc->kme_ca;

		if (str_copy(dst, sizeof(pc->kme_cert), value) == -1)
			goto bad;
	} else if (strcmp(key, "secy_socket") == 0) {
		if (strcmp(value, "none") == 0) {
			pc->secy_socket[0] = '\0';
			pc->secy = MKA_SECY_NONE;
		} else if (*value != '/' ||
			   str_copy(pc->secy_socket, sizeof(pc->secy_socket),
				    value) == -1) {
			goto bad;
		}
	} else if (strcmp(key, "secy") == 0) {
		if (strcmp(value, "macsec-sw") == 0)
			pc->secy = MKA_SECY_MACSEC_SW;
		else if (strcmp(value, "kernel") == 0)
			pc->secy = MKA_SECY_KERNEL;
		else if (strcmp(value, "none") == 0)
			pc->secy = MKA_SECY_NONE;
		else
			goto bad;
	} else if (strcmp(key, "secy_netdev") == 0) {
		if (!netdev_name_ok(value) ||
		    str_copy(pc->secy_netdev, sizeof(pc->secy_netdev), value) ==
			-1)
			goto bad;
	} else {
		cfg_error(pos, "unknown key '%s' in [port]", key);
		return -1;
	}
	return 0;
bad:
	/* Secrets are described, never quoted (they would land in logs). */
	if (strcmp(key, "cak") == 0 || strcmp(key, "skip_psk") == 0 ||
	    strcmp(key, "fallback_cak") == 0)
		cfg_error(pos, "%s: invalid value (%s)", key,
			  strcmp(key, "skip_psk") == 0
			      ? "at least 16 octets as hex digits"
			      : "16 or 32 octets as 32 or 64 hex digits");
	else
		cfg_error(pos, "%s: invalid value '%s'", key, value);
	return -1;
}

static void
port_defaults(struct mka_port_conf *pc, const char *ifname)
{
	memset(pc, 0, sizeof(*pc));
	str_copy(pc->ifname, sizeof(pc->ifname), ifname);
	pc->kay.port_id = 1;
	pc->kay.priority = 16;
	pc->kay.macsec_desired = true;
	pc->kay.capability = MKA_CAP_CONF_0;
	pc->kay.conf_offset = MKA_CO_0;
	pc->kay.replay_protect = true;
	pc->kay.suites[0] = MKA_CS_GCM_AES_128;
	pc->kay.n_suites = 1;
	memcpy(pc->kay.eapol_da, pae_group, 6);
	str_copy(pc->secy_socket, sizeof(pc->secy_socket),
		 MKA_CONF_DEFAULT_SECY);
	str_copy(pc->secy_netdev, sizeof(pc->secy_netdev),
		 MKA_CONF_DEFAULT_NETDEV);
	pc->qkd.cak_len = 32;
}

static int
conf_line(void *arg, const char *section, const char *section_arg,
	  const char *key, const char *value, const struct cfg_pos *pos)
{
	struct mka_conf *c = arg;

	if (strcmp(section, "port") == 0) {
		struct mka_port_conf *pc;

		if (c->n_ports == 0 ||
		    strcmp(c->ports[c->n_ports - 1].ifname, section_arg) != 0) {
			for (size_t i = 0; i + 1 < c->n_ports; i++) {
				if (strcmp(c->ports[i].ifname, section_arg) ==
				    0) {
					cfg_error(pos,
						  "[port %s] appears twice",
						  section_arg);
					return -1;
				}
			}
			if (c->n_ports == MKA_CONF_MAX_PORTS ||
			    *section_arg == '\0' ||
			    strlen(section_arg) >= IF_NAMESIZE) {
				cfg_error(pos, "bad or too many [port] "
					       "sections");
				return -1;
			}
			port_defaults(&c->ports[c->n_ports++], section_arg);
		}
		pc = &c->ports[c->n_ports - 1];
		return port_key(pc, key, value, pos);
	}
	if (*section != '\0') {
		cfg_error(pos, "unknown section [%s]", section);
		return -1;
	}
	if (strcmp(key, "key_log") == 0) {
		if (*value != '/' ||
		    str_copy(c->key_log, sizeof(c->key_log), value) == -1)
			goto bad;
	} else if (strcmp(key, "status_socket") == 0) {
		if (*value != '/' ||
		    str_copy(c->status_socket, sizeof(c->status_socket),
			     value) == -1)
			goto bad;
	} else if (strcmp(key, "log_level") == 0) {
		if (log_level_parse(value, &c->log_level) == -1)
			goto bad;
	} else if (strcmp(key, "log_format") == 0) {
		if (log_fmt_parse(value, &c->log_fmt) == -1)
			goto bad;
	} else if (strcmp(key, "metrics_listen") == 0) {
		char host[48];
		uint16_t port;

		if (http_pages_parse_addr(value, host, sizeof(host), &port) ==
			-1 ||
		    str_copy(c->metrics_listen, sizeof(c->metrics_listen),
			     value) == -1)
			goto bad;
	} else {
		cfg_error(pos, "unknown key '%s'", key);
		return -1;
	}
	return 0;
bad:
	cfg_error(pos, "%s: invalid value '%s'", key, value);
	return -1;
}

/*
 * What Linux's MACsec SecY can do: one cipher suite per netdev (fixed
 * when it is created), no confidentiality offset, and a netdev of its
 * own per port.
 */
static int
kernel_check(const char *path, const struct mka_conf *c, size_t i)
{
	const struct mka_port_conf *pc = &c->ports[i];

	if (pc->kay.n_suites != 1) {
		log_warnx("%s: port %s: secy kernel takes exactly one cipher "
			  "suite in cipher_suites (the kernel fixes a SecY's "
			  "suite when it creates it)",
			  path, pc->ifname);
		return -1;
	}
	if (pc->kay.conf_offset == MKA_CO_30 ||
	    pc->kay.conf_offset == MKA_CO_50) {
		log_warnx("%s: port %s: secy kernel: Linux MACsec has no "
			  "confidentiality offset 30 or 50",
			  path, pc->ifname);
		return -1;
	}
	if (strcmp(pc->secy_netdev, pc->ifname) == 0) {
		log_warnx("%s: port %s: secy_netdev must differ from the "
			  "port",
			  path, pc->ifname);
		return -1;
	}
	for (size_t j = 0; j < i; j++) {
		if (c->ports[j].secy == MKA_SECY_KERNEL &&
		    strcmp(c->ports[j].secy_netdev, pc->secy_netdev) == 0) {
			log_warnx("%s: ports %s and %s: the same secy_netdev "
				  "%s",
				  path, c->ports[j].ifname, pc->ifname,
				  pc->secy_netdev);
			return -1;
		}
	}
	return 0;
}

/* Checks that need the whole file. */
static int
conf_check(const char *path, struct mka_conf *c)
{
	bool secrets = false;

	if (c->n_ports == 0) {
		log_err("%s: no [port] section", path);
		return -1;
	}
	for (size_t i = 0; i < c->n_ports; i++) {
		struct mka_port_conf *pc = &c->ports[i];

		if (pc->source == MKA_CAK_SKIP &&
		    (pc->qkd.own_sae[0] == '\0' || pc->qkd.n_allowed == 0 ||
		     pc->skip_host[0] == '\0' || pc->skip_identity[0] == '\0' ||
		     pc->skip_psk_len == 0)) {
			log_err("%s: port %s: cak_source skip needs sae_id, "
				"allowed_peers, skip_address, skip_identity "
				"and skip_psk",
				path, pc->ifname);
			return -1;
		}
		if (pc->source == MKA_CAK_ETSI014 &&
		    (pc->qkd.own_sae[0] == '\0' || pc->qkd.n_allowed == 0 ||
		     pc->kme_url[0] == '\0' || pc->kme_cert[0] == '\0' ||
		     pc->kme_key[0] == '\0' || pc->kme_ca[0] == '\0')) {
			log_err("%s: port %s: cak_source etsi014 needs "
				"sae_id, allowed_peers, kme_url, kme_cert, "
				"kme_key and kme_ca",
				path, pc->ifname);
			return -1;
		}
		if (pc->secy == MKA_SECY_KERNEL &&
		    kernel_check(path, c, i) == -1)
			return -1;
		if (pc->secy == MKA_SECY_MACSEC_SW &&
		    pc->secy_socket[0] == '\0') {
			log_warnx("%s: port %s: secy macsec-sw needs a "
				  "secy_socket path",
				  path, pc->ifname);
			return -1;
		}
		if (pc->source != MKA_CAK_PSK) {
			secrets = secrets || pc->source == MKA_CAK_SKIP;
			if ((pc->qkd.fb_cak_len == 0) !=
			    (pc->qkd.fb_ckn_len == 0)) {
				log_err("%s: port %s: fallback_cak and "
					"fallback_ckn go together",
					path, pc->ifname);
				return -1;
			}
			pc->qkd.has_fallback = pc->qkd.fb_cak_len > 0;
			secrets = secrets || pc->qkd.has_fallback;
			continue;
		}
		if (pc->cak_len == 0 || pc->ckn_len == 0) {
			log_err("%s: port %s: cak_source psk needs cak and "
				"ckn",
				path, pc->ifname);
			return -1;
		}
		secrets = true;
	}
	/* A file holding a CAK must not be readable by others. */
	if (secrets && file_check_private(path) == -1)
		return -1;
	/* Nor the client key that authenticates an SAE to its KME. */
	for (size_t i = 0; i < c->n_ports; i++) {
		if (c->ports[i].source == MKA_CAK_ETSI014 &&
		    file_check_private(c->ports[i].kme_key) == -1)
			return -1;
	}
	return 0;
}

int
mka_conf_load(const char *path, struct mka_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = LOG_LVL_INFO;
	str_copy(c->status_socket, sizeof(c->status_socket),
		 MKA_CONF_DEFAULT_STATUS);
	if (cfg_parse_file(path, conf_line, c) == -1 ||
	    conf_check(path, c) == -1) {
		mka_conf_wipe(c);
		return -1;
	}
	return 0;
}

void
mka_conf_wipe(struct mka_conf *c)
{
	secmem_wipe(c, sizeof(*c));
}
