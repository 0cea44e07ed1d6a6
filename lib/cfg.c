/*
 * cfg.c — line splitter for "key = value" files with [sections].
 */
#include "cfg.h"

#include "encoding.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cfg_error(const struct cfg_pos *pos, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s:%u: %s", pos->file, pos->line, msg);
}

static char *
cfg_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s &&
	       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* Parses "[name]" or "[name arg]" into section/arg (each CFG_MAX_LINE). */
static int
cfg_section(char *line, char *section, char *arg, const struct cfg_pos *pos)
{
	size_t n = strlen(line);
	char *sp;

	if (line[n - 1] != ']') {
		cfg_error(pos, "section header without closing ']'");
		return -1;
	}
	line[n - 1] = '\0';
	line = cfg_trim(line + 1);
	sp = strpbrk(line, " \t");
	if (sp != NULL) {
		*sp = '\0';
		snprintf(arg, CFG_MAX_LINE, "%s", cfg_trim(sp + 1));
	} else {
		arg[0] = '\0';
	}
	if (!id_text_ok(line, 1, CFG_MAX_LINE)) {
		cfg_error(pos, "bad section name '%s'", line);
		return -1;
	}
	snprintf(section, CFG_MAX_LINE, "%s", line);
	return 0;
}

int
cfg_parse_buf(const char *buf, size_t len, const char *name, cfg_cb cb,
	      void *arg)
{
	char line[CFG_MAX_LINE], section[CFG_MAX_LINE] = "",
				 section_arg[CFG_MAX_LINE] = "";
	struct cfg_pos pos = { name, 0 };
	size_t off = 0;
	int rc = 0;

	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		char *s, *eq, *key, *val;

		pos.line++;
		if (n >= sizeof(line)) {
			cfg_error(&pos, "line longer than %d characters",
				  CFG_MAX_LINE - 1);
			rc = -1;
			goto out;
		}
		if (memchr(buf + off, '\0', n) != NULL) {
			cfg_error(&pos, "NUL character in line");
			rc = -1;
			goto out;
		}
		memcpy(line, buf + off, n);
		line[n] = '\0';
		off += n + (nl != NULL);

		s = cfg_trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (cfg_section(s, section, section_arg, &pos) == -1) {
				rc = -1;
				goto out;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			/* Not quoted: the line may be a secret missing its '='. */
			cfg_error(&pos, "expected 'key = value'");
			rc = -1;
			goto out;
		}
		*eq = '\0';
		key = cfg_trim(s);
		val = cfg_trim(eq + 1);
		if (!id_text_ok(key, 1, CFG_MAX_LINE)) {
			cfg_error(&pos, "bad key name (letters, digits, '_', "
					"'-' and '.' only)");
			rc = -1;
			goto out;
		}
		if (cb(arg, section, section_arg, key, val, &pos) == -1) {
			rc = -1;
			goto out;
		}
	}
out:
	secmem_wipe(line, sizeof(line)); /* lines may hold secrets */
	return rc;
}

int
cfg_parse_file(const char *path, cfg_cb cb, void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (file_read_all(path, CFG_MAX_FILE, &buf, &len) == -1)
		return -1;
	rc = cfg_parse_buf(buf, len, path, cb, arg);
	secmem_free(buf);
	return rc;
}

/* The decimal number s starts with (a digit first: no sign, no space). */
static int
cfg_leading_u64(const char *s, uint64_t *v, char **end)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno != 0 ? -1 : 0;
}

int
cfg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	char *end;

	if (cfg_leading_u64(s, &v, &end) == -1 || *end != '\0' || v < min ||
	    v > max)
		return -1;
	*out = v;
	return 0;
}

int
cfg_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
cfg_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "on") == 0 || strcmp(s, "1") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "off") == 0 || strcmp(s, "0") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

int
cfg_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	static const struct {
		const char *sfx;
		uint64_t mul;
	} units[] = {
		{ "ms", 1 },	  { "s", 1000 },     { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 }, { "", 1000 },
	};
	uint64_t v;
	char *end;

	if (cfg_leading_u64(s, &v, &end) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
		if (strcmp(end, units[i].sfx) == 0) {
			if (v > UINT64_MAX / units[i].mul)
				return -1;
			*out_ms = v * units[i].mul;
			return 0;
		}
	}
	return -1;
}
