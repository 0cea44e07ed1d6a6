/*
 * skip_psk.c — the router PSK file: one "identity:hex-key" per line.
 *
 * The draft defines no identity format (section 3); Cisco XR allows 1..127
 * characters, so identities are 1..127 printable characters without ':'.
 * '#' starts a comment line.  The file must not be accessible by group or
 * others, and every copy of a key is wiped when freed.
 */
#include "skip.h"

#include "encoding.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct skip_psk {
	char id[SKIP_PSK_ID_MAX + 1];
	size_t id_len;
	uint8_t key[SKIP_PSK_MAX];
	size_t key_len;
};

struct skip_psk_set {
	struct skip_psk *v;
	size_t n;
	size_t cap;
};

void
skip_psk_free(struct skip_psk_set *set)
{
	if (set == NULL)
		return;
	secmem_free(set->v);
	free(set);
}

size_t
skip_psk_count(const struct skip_psk_set *set)
{
	return set->n;
}

static int
skip_psk_line(struct skip_psk_set *set, const char *line, size_t len,
	      const char *name, unsigned lineno)
{
	const char *colon = memchr(line, ':', len);
	struct skip_psk *p;
	size_t id_len, hex_len;
	int n;

	if (colon == NULL) {
		log_warnx("%s:%u: expected 'identity:hexkey'", name, lineno);
		return -1;
	}
	id_len = (size_t)(colon - line);
	hex_len = len - id_len - 1;
	if (id_len == 0 || id_len > SKIP_PSK_ID_MAX) {
		log_warnx("%s:%u: PSK identity must be 1..%d characters", name,
			  lineno, SKIP_PSK_ID_MAX);
		return -1;
	}
	for (size_t i = 0; i < id_len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch <= 0x20 || ch == 0x7f) {
			log_warnx("%s:%u: PSK identity has a space or control "
				  "character",
				  name, lineno);
			return -1;
		}
	}
	for (size_t i = 0; i < set->n; i++) {
		if (set->v[i].id_len == id_len &&
		    memcmp(set->v[i].id, line, id_len) == 0) {
			log_warnx("%s:%u: PSK identity '%.*s' appears twice",
				  name, lineno, (int)id_len, line);
			return -1;
		}
	}
	if (set->n == set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 8;
		struct skip_psk *nv = calloc(ncap, sizeof(*nv));

		if (nv == NULL) {
			log_warnx("%s: out of memory", name);
			return -1;
		}
		if (set->n > 0)
			memcpy(nv, set->v, set->n * sizeof(*nv));
		secmem_free(set->v);
		set->v = nv;
		set->cap = ncap;
	}
	p = &set->v[set->n];
	n = hex_decode(p->key, sizeof(p->key), colon + 1, hex_len);
	/* The message never quotes the key text. */
	if (n < SKIP_PSK_MIN) {
		secmem_wipe(p->key, sizeof(p->key));
		log_warnx("%s:%u: key for '%.*s' must be %d..%d octets of hex",
			  name, lineno, (int)id_len, line, SKIP_PSK_MIN,
			  SKIP_PSK_MAX);
		return -1;
	}
	memcpy(p->id, line, id_len);
	p->id[id_len] = '\0';
	p->id_len = id_len;
	p->key_len = (size_t)n;
	set->n++;
	return 0;
}

struct skip_psk_set *
skip_psk_parse(const char *buf, size_t len, const char *name)
{
	struct skip_psk_set *set = calloc(1, sizeof(*set));
	size_t off = 0;
	unsigned lineno = 0;

	if (set == NULL)
		return NULL;
	while (off < len) {
		const char *line = buf + off,
			   *nl = memchr(line, '\n', len - off);
		size_t n = nl ? (size_t)(nl - line) : len - off;

		off += n + (nl != NULL);
		lineno++;
		/* Trim surrounding blanks and a CR. */
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
				 line[n - 1] == '\t'))
			n--;
		while (n > 0 && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (n == 0 || *line == '#')
			continue;
		if (skip_psk_line(set, line, n, name, lineno) == -1)
			goto err;
	}
	if (set->n == 0) {
		log_warnx("%s: no PSK entries", name);
		goto err;
	}
	return set;
err:
	skip_psk_free(set);
	return NULL;
}

struct skip_psk_set *
skip_psk_load(const char *path)
{
	struct skip_psk_set *set = NULL;
	char *buf = NULL;
	size_t len = 0;

	if (file_check_private(path) == -1)
		return NULL;
	if (file_read_all(path, 1024 * 1024, &buf, &len) == -1)
		return NULL;
	set = skip_psk_parse(buf, len, path);
	secmem_free(buf);
	return set;
}

int
skip_psk_lookup(const struct skip_psk_set *set, const char *identity,
		size_t id_len, uint8_t *out, size_t cap)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct skip_psk *p = &set->v[i];

		if (p->id_len == id_len &&
		    memcmp(p->id, identity, id_len) == 0) {
			if (p->key_len > cap)
				return -1;
			memcpy(out, p->key, p->key_len);
			return (int)p->key_len;
		}
	}
	return -1;
}
