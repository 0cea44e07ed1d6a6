/*
 * cfg.h — the one configuration-file syntax shared by all daemons.
 *
 *   # comment
 *   key = value            (value runs to end of line, trimmed)
 *   [section]              (or [section argument], e.g. [port eth0])
 *
 * The parser only splits lines; each daemon's callback interprets keys and
 * reports unknown ones.  Errors name the file and line.
 */
#ifndef QKDLAB_CFG_H
#define QKDLAB_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_LINE 4096
#define CFG_MAX_FILE (1024 * 1024)

struct cfg_pos {
	const char *file;
	unsigned line;
};

/*
 * Called once per "key = value" line.  section/section_arg are "" outside
 * any section.  Returns 0, or -1 after logging what is wrong (use
 * cfg_error()).
 */
typedef int (*cfg_cb)(void *arg, const char *section, const char *section_arg,
		      const char *key, const char *value,
		      const struct cfg_pos *pos);

/* Parses a whole buffer; name is used in error messages. */
int cfg_parse_buf(const char *buf, size_t len, const char *name, cfg_cb cb,
		  void *arg);
int cfg_parse_file(const char *path, cfg_cb cb, void *arg);

/* Logs "file:line: message". */
void cfg_error(const struct cfg_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Strict value parsers: the whole string must match; -1 otherwise. */
int cfg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A finite number in strtod syntax, in [min, max]. */
int cfg_parse_double(const char *s, double min, double max, double *out);
int cfg_parse_bool(const char *s, bool *out);
/* Durations: "250ms", "10s", "5m", "2h", "1d", or bare seconds. */
int cfg_parse_duration_ms(const char *s, uint64_t *out_ms);

#endif
