/*
 * skip_record.c — request records (record = PATH in skip-proxy.conf):
 * one JSON line per client request, for grading SKIP clients
 * (`qkdlab-conform skip-client`, which pairs the records of both key
 * providers of a link).
 *
 * A line says which provider answered, which PSK identity asked, over
 * which TLS version and suite, the method and request-target, the route
 * and parameters they parsed to, the status, the keyId of a key given out
 * and the error body of a refusal.  It never holds key bytes, a PSK, or
 * the random string of /entropy: only the keyId is taken from a key
 * answer.  The file is created 0600 (identities and keyIds are not for
 * everyone) and appended to, one whole line per write.
 */
#include "skip.h"

#include "encoding.h"
#include "log.h"
#include "util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SKIP_RECORD_LINE_MAX 16384

struct skip_record {
	int fd;
	pthread_mutex_t lock;
	char provider[SKIP_ID_MAX + 1];
};

/* A cursor over one line; writes past cap are dropped and noted. */
struct skip_rec_buf {
	char *p;
	size_t len, cap;
	bool full;
};

static void
rec_put(struct skip_rec_buf *b, const char *s, size_t n)
{
	if (b->full || n > b->cap - b->len) {
		b->full = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
rec_raw(struct skip_rec_buf *b, const char *s)
{
	rec_put(b, s, strlen(s));
}

/* A JSON string (RFC 8259 7): printable ASCII as is, the rest \u00XX. */
static void
rec_str(struct skip_rec_buf *b, const char *s)
{
	char esc[8];

	if (s == NULL) {
		rec_raw(b, "null");
		return;
	}
	rec_raw(b, "\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*c;
			rec_put(b, esc, 2);
		} else if (*c < 0x20 || *c > 0x7e) {
			snprintf(esc, sizeof(esc), "\\u%04x", *c);
			rec_put(b, esc, 6);
		} else {
			rec_put(b, (const char *)c, 1);
		}
	}
	rec_raw(b, "\"");
}

static void
rec_field(struct skip_rec_buf *b, const char *name, const char *value)
{
	rec_raw(b, ",\"");
	rec_raw(b, name);
	rec_raw(b, "\":");
	rec_str(b, value);
}

static void
rec_num(struct skip_rec_buf *b, const char *name, long v)
{
	char n[32];

	snprintf(n, sizeof(n), ",\"%s\":%ld", name, v);
	rec_raw(b, n);
}

struct skip_record *
skip_record_open(const char *path, const char *provider)
{
	struct skip_record *rec = calloc(1, sizeof(*rec));

	if (rec == NULL)
		return NULL;
	rec->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (rec->fd == -1) {
		log_warn("record %s", path);
		free(rec);
		return NULL;
	}
	str_copy(rec->provider, sizeof(rec->provider), provider);
	pthread_mutex_init(&rec->lock, NULL);
	log_info("recording client requests in %s (no key bytes)", path);
	return rec;
}

void
skip_record_close(struct skip_record *rec)
{
	if (rec == NULL)
		return;
	close(rec->fd);
	pthread_mutex_destroy(&rec->lock);
	free(rec);
}

/* The keyId of a key answer, {"keyId":"<hex>",...} as skip_api writes it. */
static void
rec_key_id(const struct skip_reply *rep, char *out, size_t cap)
{
	static const char pre[] = "{\"keyId\":\"";
	const char *end;

	out[0] = '\0';
	if (rep->status != 200 || rep->body == NULL ||
	    strncmp(rep->body, pre, sizeof(pre) - 1) != 0)
		return;
	end = strchr(rep->body + sizeof(pre) - 1, '"');
	if (end != NULL &&
	    (size_t)(end - rep->body) - (sizeof(pre) - 1) < cap) {
		size_t n = (size_t)(end - rep->body) - (sizeof(pre) - 1);

		memcpy(out, rep->body + sizeof(pre) - 1, n);
		out[n] = '\0';
	}
}

void
skip_record_request(struct skip_record *rec, const struct skip_record_entry *e)
{
	const struct skip_req *req = e->req;
	enum skip_route route = req != NULL ? req->route : SKIP_R_NONE;
	struct skip_rec_buf b = { 0 };
	char when[96], kid[2 * SKIP_KEYID_MAX + 1];
	struct timespec ts;
	struct tm tm;

	if (rec == NULL || (b.p = malloc(SKIP_RECORD_LINE_MAX)) == NULL)
		return;
	b.cap = SKIP_RECORD_LINE_MAX - 2; /* room for the closing "}\n" */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	rec_raw(&b, "{\"time\":");
	rec_str(&b, when);
	rec_field(&b, "provider", rec->provider);
	rec_field(&b, "identity", e->identity);
	rec_field(&b, "tls_version", e->tls_version);
	rec_field(&b, "tls_suite", e->tls_suite);
	rec_field(&b, "method", e->method);
	rec_field(&b, "target", e->target);
	rec_field(&b, "route", skip_route_name(route));
	if (req != NULL && req->has_remote)
		rec_field(&b, "remote", req->remote);
	if (route == SKIP_R_KEY_NEW && e->rep->status != 400)
		rec_num(&b, "size", req->size_bits);
	if (route == SKIP_R_ENTROPY && e->rep->status != 400)
		rec_num(&b, "minentropy", req->entropy_bits);
	rec_num(&b, "status", e->rep->status);
	/* Only the keyId of a key answer; the key stays out. */
	if (route == SKIP_R_KEY_NEW)
		rec_key_id(e->rep, kid, sizeof(kid));
	else if (route == SKIP_R_KEY_GET && e->rep->status == 200 &&
		 req->key_id_len > 0)
		hex_encode(kid, req->key_id, req->key_id_len);
	else
		kid[0] = '\0';
	if (kid[0] != '\0')
		rec_field(&b, "key_id", kid);
	/* Error bodies are {"message": ...} from skip_api_error(). */
	if (e->rep->status != 200 && e->rep->body != NULL &&
	    e->rep->body[0] == '{') {
		rec_raw(&b, ",\"error\":");
		rec_raw(&b, e->rep->body);
	}
	if (b.full) {
		/* Never a cut line: the request, without its parts. */
		b.len = 0;
		b.full = false;
		rec_raw(&b, "{\"time\":");
		rec_str(&b, when);
		rec_field(&b, "provider", rec->provider);
		rec_field(&b, "route", skip_route_name(route));
		rec_num(&b, "status", e->rep->status);
		rec_raw(&b, ",\"truncated\":true");
	}
	b.cap = SKIP_RECORD_LINE_MAX;
	rec_raw(&b, "}\n");
	pthread_mutex_lock(&rec->lock);
	if (write(rec->fd, b.p, b.len) != (ssize_t)b.len)
		log_warn("record: write");
	pthread_mutex_unlock(&rec->lock);
	free(b.p);
}
