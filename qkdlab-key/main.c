/*
 * main.c — qkdlab-key: gets one key from a key provider, for scripts and
 * demos (qkdlab-key(8)).
 *
 *   qkdlab-key skip -c host:port -i identity [-2] new REMOTE [BITS]
 *   qkdlab-key skip -c host:port -i identity [-2] get REMOTE KEYID
 *   qkdlab-key skip -c host:port -i identity [-2] capabilities
 *   qkdlab-key etsi014 -u URL -C cert -K key -A ca enc SLAVE [BITS]
 *   qkdlab-key etsi014 -u URL -C cert -K key -A ca dec MASTER KEY_ID
 *
 * A key is printed as one line "KEYID HEXKEY".  The SKIP PSK comes from a
 * file (-P) or from QKDLAB_SKIP_PSK, never from the command line, which
 * other users can read in /proc.  SKIP goes through lib/skip_client.c and
 * lib/http_resp.c; ETSI 014 through lib/etsi014_client.c.
 */
#include "http_resp.h"

#include "etsi014_client.h"

#include "encoding.h"
#include "log.h"
#include "secmem.h"
#include "skip_client.h"
#include "util.h"
#include "version.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_RESP_MAX 65536
#define KEY_PSK_ENV "QKDLAB_SKIP_PSK"

struct key_opts {
	const char *connect, *identity, *psk_file;
	int tls_version;
	const char *url, *cert, *key, *ca;
	bool no_verify_host;
	unsigned timeout_s;
};

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: qkdlab-key skip -c host:port -i identity [-P pskfile] [-2] [-t s]\n"
	    "                  new REMOTE_ID [BITS] | get REMOTE_ID KEYID | capabilities\n"
	    "       qkdlab-key etsi014 -u URL -C cert -K key -A ca [-H] [-t s]\n"
	    "                  enc SLAVE_SAE_ID [BITS] | dec MASTER_SAE_ID KEY_ID\n"
	    "Gets one key from a SKIP key provider (TLS 1.3 PSK, or TLS 1.2 DHE-PSK\n"
	    "with -2) or an ETSI GS QKD 014 KME (mutual TLS) and prints \"KEYID HEXKEY\".\n"
	    "\n"
	    "  -c host:port  the SKIP key provider\n"
	    "  -i identity   the PSK identity\n"
	    "  -P pskfile    the PSK: a file holding its hex digits, or identity:hex\n"
	    "                lines; without -P the hex digits in $" KEY_PSK_ENV
	    "\n"
	    "  -2            TLS 1.2 (DHE-PSK) instead of TLS 1.3\n"
	    "  -u URL        the KME, https://host:port\n"
	    "  -C, -K, -A    the SAE's certificate and key, the KME's CA\n"
	    "  -H            do not check the KME's host name against its certificate\n"
	    "  -t seconds    give up after this long (default 10)\n"
	    "  -h, --help    this text;  --version  the version\n"
	    "Exit status: 0 key printed, 1 refused or failed (reason on stderr),\n"
	    "2 bad command line.  See qkdlab-key(8).\n");
}

/* ---- the PSK ---------------------------------------------------------- */

static int
psk_load(const struct key_opts *o, uint8_t *psk, size_t cap, size_t *len)
{
	char *buf = NULL, *env;
	size_t blen = 0;
	int n;

	if (o->psk_file == NULL) {
		if ((env = getenv(KEY_PSK_ENV)) == NULL) {
			fprintf(stderr,
				"qkdlab-key: no PSK: give -P pskfile or "
				"set " KEY_PSK_ENV " to its hex digits\n");
			return -1;
		}
		buf = strdup(env);
		blen = buf != NULL ? strlen(buf) : 0;
	} else {
		if (file_check_private(o->psk_file) == -1 ||
		    file_read_all(o->psk_file, 1 << 20, &buf, &blen) == -1)
			return -1;
	}
	if (buf == NULL)
		return -1;
	n = skip_psk_from_text(buf, o->identity, NULL, 0, psk, cap);
	secmem_free(buf);
	if (n <= 0) {
		fprintf(stderr,
			"qkdlab-key: %s holds no PSK for '%s' (hex digits, "
			"at most %zu octets)\n",
			o->psk_file != NULL ? o->psk_file : "$" KEY_PSK_ENV,
			o->identity, cap);
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

/* ---- SKIP ------------------------------------------------------------- */

/* One GET, Connection: close; the body of the answer into out. */
static int
skip_fetch(const struct key_opts *o, const char *target, char *out, size_t cap)
{
	struct skip_client_cfg cfg = { .identity = o->identity,
				       .tls_version = o->tls_version,
				       .timeout_s = o->timeout_s };
	char host[256], why[512], req[2048], *resp = NULL;
	const char *colon = strrchr(o->connect, ':');
	uint8_t psk[SKIP_CLIENT_PSK_MAX];
	struct skip_client *c = NULL;
	SSL *ssl = NULL;
	size_t len = 0;
	int n, status = -1;

	if (colon == NULL || colon == o->connect ||
	    (size_t)(colon - o->connect) >= sizeof(host)) {
		fprintf(stderr, "qkdlab-key: -c %s: host:port expected\n",
			o->connect);
		return -2;
	}
	memcpy(host, o->connect, (size_t)(colon - o->connect));
	host[colon - o->connect] = '\0';
	/* [v6-address]:port */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	cfg.host = host;
	cfg.port = colon + 1;
	if (psk_load(o, psk, sizeof(psk), &cfg.psk_len) == -1)
		return -1;
	cfg.psk = psk;
	c = skip_client_new(&cfg);
	secmem_wipe(psk, sizeof(psk));
	if (c == NULL) {
		fprintf(stderr, "qkdlab-key: cannot set up TLS-PSK\n");
		return -1;
	}
	if ((ssl = skip_client_connect(c, why, sizeof(why))) == NULL) {
		fprintf(stderr, "qkdlab-key: %s\n", why);
		goto out;
	}
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: "
		     "application/json\r\nConnection: close\r\n\r\n",
		     target, host);
	if (n < 0 || (size_t)n >= sizeof(req) || SSL_write(ssl, req, n) <= 0 ||
	    (resp = malloc(KEY_RESP_MAX)) == NULL) {
		fprintf(stderr, "qkdlab-key: sending the request failed\n");
		goto out;
	}
	while (len < KEY_RESP_MAX &&
	       (n = SSL_read(ssl, resp + len, (int)(KEY_RESP_MAX - len))) > 0)
		len += (size_t)n;
	status = http_resp_parse(resp, len, out, cap);
	if (status == -1)
		fprintf(stderr, "qkdlab-key: no usable HTTP answer from %s\n",
			o->connect);
out:
	secmem_free(resp);
	skip_client_close(ssl);
	skip_client_free(c);
	return status;
}

/* The draft's and ETSI 014's error body, {"message": ...}, else the body. */
static void
print_refusal(const char *what, int status, const char *body)
{
	cJSON *j = cJSON_Parse(body);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");

	fprintf(stderr, "qkdlab-key: %s: HTTP %d: %s\n", what, status,
		cJSON_IsString(m) ? m->valuestring : body);
	cJSON_Delete(j);
}

static int
skip_cmd(const struct key_opts *o, int argc, char **argv)
{
	char target[1024], *body = malloc(KEY_RESP_MAX);
	const char *verb = argv[0];
	cJSON *j = NULL;
	const cJSON *id, *key;
	int status, n = 0, rc = 1;

	if (body == NULL)
		return 1;
	body[0] = '\0';
	if (strcmp(verb, "new") == 0 && (argc == 2 || argc == 3)) {
		n = snprintf(target, sizeof(target),
			     "/key?remoteSystemID=%s%s%s", argv[1],
			     argc == 3 ? "&size=" : "",
			     argc == 3 ? argv[2] : "");
	} else if (strcmp(verb, "get") == 0 && argc == 3) {
		n = snprintf(target, sizeof(target),
			     "/key/%s?remoteSystemID=%s", argv[2], argv[1]);
	} else if (strcmp(verb, "capabilities") == 0 && argc == 1) {
		snprintf(target, sizeof(target), "/capabilities");
	} else {
		usage(stderr);
		rc = 2;
		goto out;
	}
	/* IDs travel in the query: refuse what would need escaping. */
	if (n < 0 || (size_t)n >= sizeof(target) ||
	    strpbrk(target, " \t\r\n#%+") != NULL) {
		fprintf(stderr,
			"qkdlab-key: IDs with spaces, '#', '%%' or '+', "
			"or longer than %zu octets, are not supported\n",
			sizeof(target) - 32);
		rc = 2;
		goto out;
	}
	status = skip_fetch(o, target, body, KEY_RESP_MAX);
	if (status == -2) {
		rc = 2;
		goto out;
	}
	if (status == -1)
		goto out;
	if (status != 200) {
		print_refusal("SKIP", status, body);
		goto out;
	}
	if (strcmp(verb, "capabilities") == 0) {
		printf("%s\n", body);
		rc = 0;
		goto out;
	}
	j = cJSON_Parse(body);
	id = cJSON_GetObjectItemCaseSensitive(j, "keyId");
	key = cJSON_GetObjectItemCaseSensitive(j, "key");
	if (!cJSON_IsString(id) || !cJSON_IsString(key)) {
		fprintf(stderr,
			"qkdlab-key: the answer has no keyId and key\n");
		goto out;
	}
	printf("%s %s\n", id->valuestring, key->valuestring);
	rc = 0;
out:
	if (j != NULL) {
		key = cJSON_GetObjectItemCaseSensitive(j, "key");
		if (cJSON_IsString(key))
			secmem_wipe(key->valuestring, strlen(key->valuestring));
	}
	cJSON_Delete(j);
	secmem_free(body);
	return rc;
}

/* ---- ETSI 014 ---------------------------------------------------------- */

static int
etsi014_cmd(const struct key_opts *o, int argc, char **argv)
{
	struct https_client_cfg kc = {
		.ca_file = o->ca,
		.cert_file = o->cert,
		.key_file = o->key,
		.verify_host = !o->no_verify_host,
		.timeout_ms = o->timeout_s * 1000ULL,
		.connect_timeout_ms = o->timeout_s * 1000ULL,
		.body_max = KEY_RESP_MAX,
		.pool = 1,
	};
	struct etsi014_key k;
	struct etsi014_result r;
	struct etsi014_client *kme;
	char uuid[UUID_STR_LEN + 1], hex[2 * ETSI014_KEY_MAX + 1];
	uint8_t id[UUID_LEN];
	unsigned long bits = 256; /* skip-proxy's key_size_default */
	char *end;
	int rc = 1, got;

	if (!((strcmp(argv[0], "enc") == 0 && (argc == 2 || argc == 3)) ||
	      (strcmp(argv[0], "dec") == 0 && argc == 3))) {
		usage(stderr);
		return 2;
	}
	if (argv[0][0] == 'e' && argc == 3 &&
	    ((bits = strtoul(argv[2], &end, 10)) == 0 || *end != '\0' ||
	     bits % 8 != 0 || bits > 8 * ETSI014_KEY_MAX)) {
		fprintf(stderr, "qkdlab-key: BITS: a multiple of 8 up to %d\n",
			8 * ETSI014_KEY_MAX);
		return 2;
	}
	if (argv[0][0] == 'd' && uuid_parse(id, argv[2]) == -1) {
		fprintf(stderr, "qkdlab-key: KEY_ID %s is not a UUID\n",
			argv[2]);
		return 2;
	}
	if ((kme = etsi014_client_new(o->url, &kc)) == NULL) {
		fprintf(stderr, "qkdlab-key: bad -u, -C, -K or -A\n");
		return 2;
	}
	got = argv[0][0] == 'e'
		  ? etsi014_get_key(kme, argv[1], (unsigned)bits, &k, &r)
		  : etsi014_get_key_with_id(kme, argv[1], id, &k, &r);
	if (got == -1) {
		if (r.outcome == ETSI014_REFUSED)
			fprintf(stderr, "qkdlab-key: ETSI 014: HTTP %ld: %s\n",
				r.http_status, r.msg);
		else
			fprintf(stderr, "qkdlab-key: ETSI 014: %s\n", r.msg);
	} else {
		uuid_format(uuid, k.id);
		hex_encode(hex, k.key, k.key_len);
		printf("%s %s\n", uuid, hex);
		rc = 0;
	}
	secmem_wipe(&k, sizeof(k));
	secmem_wipe(hex, sizeof(hex));
	etsi014_client_free(kme);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct key_opts o = { .tls_version = 13, .timeout_s = 10 };
	const char *mode;
	unsigned long t;
	char *end;
	int ch;

	secmem_init();
	log_init("qkdlab-key", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_WARN);
	if (argc >= 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		version_print(stdout, "qkdlab-key");
		return 0;
	}
	if (argc < 2 ||
	    (strcmp(argv[1], "skip") != 0 && strcmp(argv[1], "etsi014") != 0)) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "+2A:C:c:Hhi:K:P:t:u:", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case '2':
			o.tls_version = 12;
			break;
		case 'A':
			o.ca = optarg;
			break;
		case 'C':
			o.cert = optarg;
			break;
		case 'c':
			o.connect = optarg;
			break;
		case 'H':
			o.no_verify_host = true;
			break;
		case 'i':
			o.identity = optarg;
			break;
		case 'K':
			o.key = optarg;
			break;
		case 'P':
			o.psk_file = optarg;
			break;
		case 'u':
			o.url = optarg;
			break;
		case 't':
			t = strtoul(optarg, &end, 10);
			if (t == 0 || t > 3600 || *end != '\0') {
				fprintf(stderr,
					"qkdlab-key: -t: 1 to 3600 seconds\n");
				return 2;
			}
			o.timeout_s = (unsigned)t;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version_print(stdout, "qkdlab-key");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(mode, "skip") == 0) {
		if (o.connect == NULL || o.identity == NULL) {
			fprintf(stderr,
				"qkdlab-key: skip needs -c host:port and "
				"-i identity\n");
			return 2;
		}
		return skip_cmd(&o, argc - optind, argv + optind);
	}
	if (o.url == NULL || o.cert == NULL || o.key == NULL || o.ca == NULL) {
		fprintf(stderr, "qkdlab-key: etsi014 needs -u URL, -C cert, "
				"-K key and -A ca\n");
		return 2;
	}
	return etsi014_cmd(&o, argc - optind, argv + optind);
}
