/*
 * fuzz_conf_skip.c — skip-proxy's two configuration parsers:
 * skip-proxy.conf(5) (skip-proxy/skip_conf.c over lib/cfg.c, then the
 * whole-file checks) and the router PSK file, "identity:hexkey" per line
 * (skip-proxy/skip_psk.c).
 *
 * Input: the first octet picks the parser (even: skip-proxy.conf, odd:
 * PSK file); the rest is the file.  Whatever loads must satisfy the
 * invariants the daemon relies on.
 */
#include "../skip-proxy/skip.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_skip_conf(const char *buf, size_t len)
{
	static struct skip_conf c;

	skip_conf_defaults(&c);
	if (skip_conf_load_buf(&c, buf, len, "fuzz") < 0)
		return;
	if (c.local_system_id[0] == '\0' || c.n_remote_ids == 0 ||
	    c.n_remote_ids > SKIP_MAX_REMOTES ||
	    strncmp(c.kme_url, "https://", 8) != 0 ||
	    c.key_size_default > c.key_size_max || c.key_size_max % 8 != 0 ||
	    c.entropy_default > c.entropy_max || c.entropy_max % 8 != 0 ||
	    c.tls12_ciphers[0] == '\0')
		abort();
	if (c.tls_mode == SKIP_TLS_PSK
		? c.psk_file[0] == '\0'
		: c.cert_file[0] == '\0' || c.key_file[0] == '\0' ||
		      c.client_ca_file[0] == '\0')
		abort();
	for (size_t i = 0; i < c.n_remote_ids; i++)
		if (memchr(c.remote_ids[i], '\0', sizeof(c.remote_ids[i])) ==
			NULL ||
		    c.remote_ids[i][0] == '\0')
			abort();
}

/* Every identity the file names must look up to a key of legal size. */
static void
fuzz_skip_psk(const char *buf, size_t len)
{
	struct skip_psk_set *set = skip_psk_parse(buf, len, "fuzz");
	uint8_t key[SKIP_PSK_MAX];
	size_t off = 0;

	if (set == NULL)
		return;
	if (skip_psk_count(set) == 0)
		abort();
	while (off < len) {
		const char *line = buf + off,
			   *nl = memchr(line, '\n', len - off);
		size_t n = nl ? (size_t)(nl - line) : len - off;
		const char *colon = memchr(line, ':', n);

		off += n + (nl != NULL);
		while (n > 0 && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (n == 0 || *line == '#' || colon == NULL)
			continue;
		int k = skip_psk_lookup(set, line, (size_t)(colon - line), key,
					sizeof(key));
		if (k < SKIP_PSK_MIN || k > SKIP_PSK_MAX)
			abort();
	}
	skip_psk_free(set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;

	if (!quiet++)
		log_init("fuzz", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_SILENT);
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_skip_psk((const char *)data + 1, size - 1);
	else
		fuzz_skip_conf((const char *)data + 1, size - 1);
	return 0;
}
