/*
 * log.c — stderr/syslog logging with levels, text or JSON lines.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_prog = "qkdlab";
static enum log_dest log_dest = LOG_DEST_STDERR;
static enum log_fmt log_fmt = LOG_FMT_TEXT;
static enum log_level log_level = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_level_names[] = {
	[LOG_LVL_ERR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void
log_init(const char *progname, enum log_dest dest, enum log_fmt fmt,
	 enum log_level level)
{
	if (progname != NULL)
		log_prog = progname;
	log_dest = dest;
	log_fmt = fmt;
	log_level = level;
	if (dest == LOG_DEST_SYSLOG)
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0;
	     i < sizeof(log_level_names) / sizeof(*log_level_names); i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* JSON string escaping for the message field. */
static void
log_json_escape(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

int
log_fmt_parse(const char *s, enum log_fmt *out)
{
	if (strcmp(s, "json") == 0)
		*out = LOG_FMT_JSON;
	else if (strcmp(s, "text") == 0)
		*out = LOG_FMT_TEXT;
	else
		return -1;
	return 0;
}

void
log_set_fmt(enum log_fmt fmt)
{
	log_fmt = fmt;
}

enum log_fmt
log_get_fmt(void)
{
	return log_fmt;
}

static void
log_json_fields(FILE *fp, const char *event, const struct log_field *f,
		size_t n)
{
	if (event != NULL) {
		fputs(",\"event\":\"", fp);
		log_json_escape(fp, event);
		fputc('"', fp);
	}
	for (size_t i = 0; i < n; i++) {
		fputs(",\"", fp);
		log_json_escape(fp, f[i].key);
		fputs("\":", fp);
		if (f[i].str != NULL) {
			fputc('"', fp);
			log_json_escape(fp, f[i].str);
			fputc('"', fp);
		} else {
			fprintf(fp, "%lld", f[i].num);
		}
	}
}

static void log_emit(enum log_level level, const char *suffix,
		     const char *event, const struct log_field *fields,
		     size_t nfields, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static void
log_emit(enum log_level level, const char *suffix, const char *event,
	 const struct log_field *fields, size_t nfields, const char *fmt,
	 va_list ap)
{
	char msg[2048];
	int saved_errno = errno;
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix != NULL) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", suffix);
	}

	/* Text lines carry the facts in their prose; JSON lines as fields too. */
	if (log_dest == LOG_DEST_SYSLOG) {
		syslog(prio[level], "%s", msg);
		errno = saved_errno;
		return;
	}

	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
	if (log_fmt == LOG_FMT_JSON) {
		fprintf(
		    stderr,
		    "{\"ts\":\"%s.%03ldZ\",\"prog\":\"%s\",\"level\":\"%s\",\"msg\":\"",
		    when, ts.tv_nsec / 1000000, log_prog,
		    log_level_names[level]);
		log_json_escape(stderr, msg);
		fputc('"', stderr);
		log_json_fields(stderr, event, fields, nfields);
		fputs("}\n", stderr);
	} else {
		fprintf(stderr, "%s.%03ldZ %s %s: %s\n", when,
			ts.tv_nsec / 1000000, log_prog, log_level_names[level],
			msg);
	}
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}

#define LOG_BODY(level, suffix) \
	do { \
		va_list ap; \
		va_start(ap, fmt); \
		log_emit(level, suffix, NULL, NULL, 0, fmt, ap); \
		va_end(ap); \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);
	LOG_BODY(LOG_LVL_WARN, e);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, NULL);
}

void
log_err(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERR, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, NULL);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);
	LOG_BODY(LOG_LVL_ERR, e);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERR, NULL);
	exit(1);
}

void
log_event(enum log_level level, const char *event,
	  const struct log_field *fields, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, NULL, event, fields, n, fmt, ap);
	va_end(ap);
}
