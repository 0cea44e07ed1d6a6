/*
 * dash_conf.c — qkdlab-dash.conf(5): global listen and interval, one
 * [site NAME] section per site.
 */
#include "dash.h"

#include "cfg.h"
#include "http_pages.h"
#include "log.h"
#include "util.h"

#include <string.h>

void
dash_conf_defaults(struct dash_conf *c)
{
	memset(c, 0, sizeof(*c));
	str_copy(c->listen, sizeof(c->listen), "127.0.0.1:8080");
	c->interval_ms = 500;
}

static bool
dash_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!(*s >= 'A' && *s <= 'Z') && !(*s >= 'a' && *s <= 'z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '-' &&
		    *s != '.')
			return false;
	return true;
}

static bool
dash_addr_ok(const char *s)
{
	char host[DASH_ADDR_MAX];
	uint16_t port;

	return http_pages_parse_addr(s, host, sizeof(host), &port) == 0;
}

static int
dash_conf_line(void *arg, const char *section, const char *section_arg,
	       const char *key, const char *value, const struct cfg_pos *pos)
{
	struct dash_conf *c = arg;
	struct dash_site_conf *s;
	static const struct {
		const char *key;
		size_t off;
		bool addr;
	} site_keys[] = {
		{ "netns", offsetof(struct dash_site_conf, netns), false },
		{ "kme_peer", offsetof(struct dash_site_conf, kme_peer),
		  false },
		{ "kme_admin", offsetof(struct dash_site_conf, kme_admin),
		  true },
		{ "skip_metrics", offsetof(struct dash_site_conf, skip), true },
		{ "mka_metrics", offsetof(struct dash_site_conf, mka), true },
		{ "secy_metrics", offsetof(struct dash_site_conf, secy), true },
	};

	if (*section == '\0') {
		if (strcmp(key, "listen") == 0) {
			if (!dash_addr_ok(value) ||
			    str_copy(c->listen, sizeof(c->listen), value) == -1)
				goto bad;
		} else if (strcmp(key, "interval") == 0) {
			if (cfg_parse_duration_ms(value, &c->interval_ms) ==
				-1 ||
			    c->interval_ms < 100 || c->interval_ms > 1000)
				goto bad;
		} else {
			cfg_error(pos, "unknown key '%s'", key);
			return -1;
		}
		return 0;
	}
	if (strcmp(section, "site") != 0) {
		cfg_error(pos, "unknown section [%s]", section);
		return -1;
	}
	if (c->nsites == 0 ||
	    strcmp(c->sites[c->nsites - 1].name, section_arg) != 0) {
		if (c->nsites == DASH_MAX_SITES || !dash_name_ok(section_arg) ||
		    str_copy(c->sites[c->nsites].name, DASH_NAME_MAX,
			     section_arg) == -1) {
			cfg_error(pos,
				  "[site %s]: at most %d sites, names of "
				  "letters, digits, '_', '-', '.'",
				  section_arg, DASH_MAX_SITES);
			return -1;
		}
		c->nsites++;
	}
	s = &c->sites[c->nsites - 1];
	for (size_t i = 0; i < ARRAY_LEN(site_keys); i++) {
		char *dst = (char *)s + site_keys[i].off;

		if (strcmp(key, site_keys[i].key) != 0)
			continue;
		if ((site_keys[i].addr ? !dash_addr_ok(value)
				       : !dash_name_ok(value)) ||
		    str_copy(dst,
			     site_keys[i].addr ? DASH_ADDR_MAX : DASH_NAME_MAX,
			     value) == -1)
			goto bad;
		return 0;
	}
	cfg_error(pos, "unknown key '%s' in [site]", key);
	return -1;
bad:
	cfg_error(pos, "%s: invalid value '%s'", key, value);
	return -1;
}

int
dash_conf_load(const char *path, struct dash_conf *c)
{
	if (cfg_parse_file(path, dash_conf_line, c) == -1)
		return -1;
	if (c->nsites == 0) {
		log_warnx("%s: no [site] section", path);
		return -1;
	}
	return 0;
}
