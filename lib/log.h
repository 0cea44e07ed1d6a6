/*
 * log.h — one logging facility for every qkdlab daemon.
 *
 * Lines go to stderr (foreground, containers, labs) or to syslog.  With
 * LOG_FMT_JSON each event is one JSON object per line for log collectors.
 * Never pass key bytes to these functions: there is no "show keys" switch.
 */
#ifndef QKDLAB_LOG_H
#define QKDLAB_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_SILENT = -1, /* fuzzers and tests that expect errors */
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};
enum log_dest {
	LOG_DEST_STDERR = 0,
	LOG_DEST_SYSLOG
};
enum log_fmt {
	LOG_FMT_TEXT = 0,
	LOG_FMT_JSON
};

void log_init(const char *progname, enum log_dest dest, enum log_fmt fmt,
	      enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; -1 on anything else. */
int log_level_parse(const char *s, enum log_level *out);

/* log_warn appends ": strerror(errno)"; the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * One field of a structured event: a string (str != NULL) or a number.
 * Text lines carry only the prose (which states the same facts); JSON
 * lines add them as members of the event object, numbers unquoted.  Fields name things (port, peer, key
 * ID, KN/AN); key bytes are never a field.
 */
struct log_field {
	const char *key;
	const char *str;
	long long num;
};
#define LOG_S(k, v) ((struct log_field){ .key = (k), .str = (v) })
#define LOG_N(k, v) ((struct log_field){ .key = (k), .num = (long long)(v) })

/*
 * An event: event is a short stable name ("sak_installed"), fields its
 * facts, fmt the prose of the text line.
 */
void log_event(enum log_level level, const char *event,
	       const struct log_field *fields, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* log_event over an array literal: LOG_FIELDS(LOG_S("port", p), LOG_N("an", 1)). */
#define LOG_FIELDS(...) ((const struct log_field[]){ __VA_ARGS__ })
#define LOG_EV(level, event, fields, ...) \
	log_event(level, event, fields, sizeof(fields) / sizeof((fields)[0]), \
		  __VA_ARGS__)
/* "json" or "text" (a configuration key); -1 on anything else. */
int log_fmt_parse(const char *s, enum log_fmt *out);
/* The format chosen on the command line or in the configuration. */
void log_set_fmt(enum log_fmt fmt);
enum log_fmt log_get_fmt(void);

/* Only before the event loop starts: log and exit(1). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
