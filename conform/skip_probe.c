/*
 * skip_probe.c — qkdlab-skip-probe: one TLS-PSK exchange with a SKIP key
 * provider, with the TLS version and suites chosen per call, for
 * qkdlab-conform's SKIP checks (qkdlab-skip-probe(8)).
 *
 *   qkdlab-skip-probe -c host:port [-i identity] [-P pskfile | -N]
 *                     [-V 1.0|1.1|1.2|1.3] [-C tls12-ciphers]
 *                     [-S tls13-suites] [-t seconds] < request
 *
 * The request bytes (HTTP, written by the caller) come from standard
 * input.  Standard output gets one line, "TLS <version> <suite>" after a
 * completed handshake or "FAIL <reason>" after a failed one, then the
 * bytes the key provider sent back until it closed the connection.  The
 * PSK comes from a file, never from the command line.  Python's ssl module
 * has no TLS-PSK; this program is the TLS side of the checks, over
 * lib/skip_client.c.
 */
#include "encoding.h"
#include "secmem.h"
#include "skip_client.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_REQ_MAX 65536

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: qkdlab-skip-probe -c host:port [-i identity] [-P pskfile | -N]\n"
	    "                         [-V 1.0|1.1|1.2|1.3] [-C ciphers] [-S suites]\n"
	    "                         [-t seconds] < request\n"
	    "One TLS-PSK exchange with a SKIP key provider: the request on standard\n"
	    "input is sent as it is; standard output gets \"TLS <version> <suite>\" or\n"
	    "\"FAIL <reason>\", then the answer.\n"
	    "\n"
	    "  -c host:port  the key provider\n"
	    "  -i identity   the PSK identity (default: the first in the PSK file)\n"
	    "  -P pskfile    the PSK: identity:hex lines, or a line of hex digits\n"
	    "  -N            offer no PSK (certificate suites only)\n"
	    "  -V version    exactly this TLS version (default 1.3)\n"
	    "  -C ciphers    TLS 1.2 and older: OpenSSL cipher list (default the\n"
	    "                draft's DHE-PSK AES-256 suites)\n"
	    "  -S suites     TLS 1.3 suites (default TLS_AES_256_GCM_SHA384); the PSK\n"
	    "                is bound to the hash of the first\n"
	    "  -t seconds    connect, send and receive timeout (default 10)\n"
	    "  -h, --help    this text;  --version  the version\n"
	    "Exit status: 0 handshake completed, 1 it failed, 2 bad command line.\n"
	    "See qkdlab-skip-probe(8).\n");
}

static int
probe_split(const char *hp, char *host, size_t cap, const char **port)
{
	const char *colon = strrchr(hp, ':');
	size_t n;

	if (colon == NULL || colon == hp || colon[1] == '\0')
		return -1;
	n = (size_t)(colon - hp);
	if (hp[0] == '[' && colon[-1] == ']') {
		hp++;
		n -= 2;
	}
	if (n == 0 || n >= cap)
		return -1;
	memcpy(host, hp, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

static int
probe_version(const char *v)
{
	static const char *const names[] = { "1.0", "1.1", "1.2", "1.3" };

	for (int i = 0; i < 4; i++)
		if (strcmp(v, names[i]) == 0)
			return 10 + i;
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' + 256 },
		{ NULL, 0, NULL, 0 },
	};
	struct skip_client_cfg cfg = { .tls_version = 13,
				       .timeout_s = 10,
				       .tls_any = true };
	const char *connect = NULL, *psk_file = NULL;
	char host[256], identity[128] = "", why[512], *req = NULL, *text = NULL;
	uint8_t psk[SKIP_CLIENT_PSK_MAX];
	struct skip_client *c = NULL;
	bool no_psk = false;
	size_t len = 0, tlen = 0;
	SSL *ssl = NULL;
	ssize_t r;
	int ch, n, rc = 1;

	secmem_init();
	while ((ch = getopt_long(argc, argv, "c:i:P:NV:C:S:t:h", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'c':
			connect = optarg;
			break;
		case 'i':
			if (str_copy(identity, sizeof(identity), optarg) ==
				-1 ||
			    identity[0] == '\0') {
				fprintf(stderr,
					"qkdlab-skip-probe: -i: 1..%zu "
					"characters\n",
					sizeof(identity) - 1);
				return 2;
			}
			break;
		case 'P':
			psk_file = optarg;
			break;
		case 'N':
			no_psk = true;
			break;
		case 'V':
			if ((cfg.tls_version = probe_version(optarg)) == -1) {
				fprintf(stderr,
					"qkdlab-skip-probe: -V %s: 1.0, 1.1, "
					"1.2 or 1.3\n",
					optarg);
				return 2;
			}
			break;
		case 'C':
			cfg.tls12_ciphers = optarg;
			break;
		case 'S':
			cfg.tls13_suites = optarg;
			break;
		case 't':
			cfg.timeout_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V' + 256:
			version_print(stdout, "qkdlab-skip-probe");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || connect == NULL ||
	    probe_split(connect, host, sizeof(host), &cfg.port) == -1 ||
	    no_psk == (psk_file != NULL)) {
		fprintf(stderr, "qkdlab-skip-probe: give -c host:port and "
				"either -P pskfile or -N\n");
		usage(stderr);
		return 2;
	}
	cfg.host = host;
	if (!no_psk) {
		if (file_check_private(psk_file) == -1 ||
		    file_read_all(psk_file, 1 << 20, &text, &tlen) == -1)
			return 2;
		n = skip_psk_from_text(text,
				       identity[0] != '\0' ? identity : NULL,
				       identity, sizeof(identity), psk,
				       sizeof(psk));
		secmem_free(text);
		if (n <= 0 || identity[0] == '\0') {
			fprintf(
			    stderr,
			    "qkdlab-skip-probe: %s holds no PSK%s%s (hex, "
			    "at most %zu octets; give -i or identity:hex)\n",
			    psk_file, identity[0] ? " for " : "", identity,
			    sizeof(psk));
			return 2;
		}
		cfg.identity = identity;
		cfg.psk = psk;
		cfg.psk_len = (size_t)n;
	}
	if ((req = malloc(PROBE_REQ_MAX)) == NULL)
		goto out;
	while (len < PROBE_REQ_MAX &&
	       (r = read(0, req + len, PROBE_REQ_MAX - len)) > 0)
		len += (size_t)r;
	c = skip_client_new(&cfg);
	secmem_wipe(psk, sizeof(psk));
	if (c == NULL) {
		/* OpenSSL knows none of the suites asked for, or the version. */
		printf("FAIL this machine's OpenSSL cannot offer that\n");
		rc = 2;
		goto out;
	}
	if ((ssl = skip_client_connect(c, why, sizeof(why))) == NULL) {
		printf("FAIL %s\n", why);
		goto out;
	}
	printf("TLS %s %s\n", SSL_get_version(ssl),
	       SSL_CIPHER_standard_name(SSL_get_current_cipher(ssl)));
	fflush(stdout);
	rc = 0;
	if (len > 0 && SSL_write(ssl, req, (int)len) <= 0)
		goto out;
	/* The answer is copied as it comes; it may hold a key (the caller's). */
	while ((n = SSL_read(ssl, req, PROBE_REQ_MAX)) > 0)
		if (fwrite(req, 1, (size_t)n, stdout) != (size_t)n)
			break;
out:
	fflush(stdout);
	skip_client_close(ssl);
	skip_client_free(c);
	secmem_free(req);
	ERR_clear_error();
	return rc;
}
