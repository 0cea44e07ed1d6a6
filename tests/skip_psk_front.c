/*
 * skip_psk_front.c — the TLS-PSK front of tests/lib/skip_double.py, the
 * SKIP key provider double of qkdlab-conform's self-test: accepts TLS on
 * a loopback port, answers with the PSK of the identity the client names,
 * and relays the plaintext to a plain HTTP server on another port.
 *
 *   skip_psk_front -l PORT -b BACKEND_PORT -P pskfile [-C tls12-ciphers]
 *                  [-S tls13-suites] [-m 1.0..1.3] [-M 1.0..1.3]
 *                  [-c cert -k key]
 *
 * Every TLS parameter is the caller's, so that the double can be made to
 * accept exactly the offer a check must see refused (an older version, a
 * weaker suite, a certificate handshake without PSK).  One process per
 * connection; it exits when standard input closes.
 */
#include "encoding.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRONT_MAX_PSKS 16

struct front_psk {
	char id[128];
	uint8_t key[64];
	int len;
};

static struct front_psk psks[FRONT_MAX_PSKS];
static int npsks;

static const struct front_psk *
front_find(const char *id, size_t len)
{
	for (int i = 0; i < npsks; i++)
		if (strlen(psks[i].id) == len &&
		    memcmp(psks[i].id, id, len) == 0)
			return &psks[i];
	return NULL;
}

static unsigned int
front_psk12(SSL *ssl, const char *identity, unsigned char *psk,
	    unsigned int max)
{
	const struct front_psk *p =
	    identity ? front_find(identity, strlen(identity)) : NULL;

	(void)ssl;
	if (p == NULL || (unsigned)p->len > max)
		return 0;
	memcpy(psk, p->key, (size_t)p->len);
	return (unsigned)p->len;
}

/* TLS 1.3: the PSK bound to the hash of the suite chosen. */
static int
front_psk13(SSL *ssl, const unsigned char *identity, size_t len,
	    SSL_SESSION **sess)
{
	const struct front_psk *p = front_find((const char *)identity, len);
	const SSL_CIPHER *ci = SSL_get_pending_cipher(ssl);
	SSL_SESSION *s;

	*sess = NULL;
	if (p == NULL)
		return 1;
	if (ci == NULL || (SSL_CIPHER_get_protocol_id(ci) >> 8) != 0x13) {
		static const unsigned char aes256[2] = { 0x13, 0x02 };
		ci = SSL_CIPHER_find(ssl, aes256);
	}
	s = SSL_SESSION_new();
	if (s == NULL ||
	    SSL_SESSION_set1_master_key(s, p->key, (size_t)p->len) != 1 ||
	    SSL_SESSION_set_cipher(s, ci) != 1 ||
	    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
		SSL_SESSION_free(s);
		return 0;
	}
	*sess = s;
	return 1;
}

static int
front_load(const char *path)
{
	char *buf = NULL, *save = NULL;
	size_t len = 0;

	if (file_read_all(path, 1 << 16, &buf, &len) == -1)
		return -1;
	for (char *ln = strtok_r(buf, "\r\n", &save);
	     ln != NULL && npsks < FRONT_MAX_PSKS;
	     ln = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(ln, ':');

		if (colon == NULL)
			continue;
		*colon = '\0';
		if (str_copy(psks[npsks].id, sizeof(psks[npsks].id), ln) == -1)
			continue;
		psks[npsks].len =
		    hex_decode(psks[npsks].key, sizeof(psks[npsks].key),
			       colon + 1, strlen(colon + 1));
		if (psks[npsks].len > 0)
			npsks++;
	}
	free(buf);
	return npsks > 0 ? 0 : -1;
}

static int
front_version(const char *v)
{
	if (strcmp(v, "1.0") == 0)
		return TLS1_VERSION;
	if (strcmp(v, "1.1") == 0)
		return TLS1_1_VERSION;
	if (strcmp(v, "1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(v, "1.3") == 0)
		return TLS1_3_VERSION;
	return -1;
}

static int
front_tcp(int port, bool listening)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listening
		? bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
		      listen(fd, 64) == -1
		: connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One connection: handshake, then plaintext both ways until either closes. */
static void
front_serve(SSL_CTX *ctx, int fd, int backend)
{
	SSL *ssl = SSL_new(ctx);
	char buf[16384];
	int be, n;

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1 ||
	    (be = front_tcp(backend, false)) == -1)
		goto out;
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { be, POLLIN, 0 } };

		if (SSL_pending(ssl) == 0 && poll(p, 2, 30000) <= 0)
			break;
		if (SSL_pending(ssl) > 0 ||
		    (p[0].revents & (POLLIN | POLLHUP))) {
			if ((n = SSL_read(ssl, buf, sizeof(buf))) <= 0)
				break;
			if (write(be, buf, (size_t)n) != n)
				break;
		}
		if (p[1].revents & (POLLIN | POLLHUP)) {
			if ((n = (int)read(be, buf, sizeof(buf))) <= 0)
				break;
			if (SSL_write(ssl, buf, n) <= 0)
				break;
		}
	}
	close(be);
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
}

int
main(int argc, char **argv)
{
	int ch, port = 0, backend = 0, lfd, minv = TLS1_2_VERSION,
		maxv = TLS1_3_VERSION;
	const char *pskfile = NULL, *ciphers = NULL, *suites = NULL,
		   *cert = NULL, *key = NULL;
	SSL_CTX *ctx;

	while ((ch = getopt(argc, argv, "l:b:P:C:S:m:M:c:k:")) != -1) {
		switch (ch) {
		case 'l':
			port = atoi(optarg);
			break;
		case 'b':
			backend = atoi(optarg);
			break;
		case 'P':
			pskfile = optarg;
			break;
		case 'C':
			ciphers = optarg;
			break;
		case 'S':
			suites = optarg;
			break;
		case 'm':
			minv = front_version(optarg);
			break;
		case 'M':
			maxv = front_version(optarg);
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		default:
			return 2;
		}
	}
	if (port <= 0 || backend <= 0 || pskfile == NULL || minv == -1 ||
	    maxv == -1 || front_load(pskfile) == -1) {
		fprintf(stderr, "skip_psk_front: bad arguments\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);
	ctx = SSL_CTX_new(TLS_server_method());
	/* Weak offers must be acceptable when the double is told to. */
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_min_proto_version(ctx, minv);
	SSL_CTX_set_max_proto_version(ctx, maxv);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_psk_server_callback(ctx, front_psk12);
	SSL_CTX_set_psk_find_session_callback(ctx, front_psk13);
	if (SSL_CTX_set_cipher_list(
		ctx, ciphers ? ciphers
			     : "DHE-PSK-AES256-CBC-SHA384:DHE-PSK-AES256-CBC-"
			       "SHA") != 1 ||
	    SSL_CTX_set_ciphersuites(
		ctx, suites ? suites : "TLS_AES_256_GCM_SHA384") != 1 ||
	    (cert != NULL &&
	     (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1))) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	if ((lfd = front_tcp(port, true)) == -1) {
		perror("skip_psk_front: listen");
		return 1;
	}
	/* The parent's end of our standard input closing ends us. */
	for (;;) {
		struct pollfd p[2] = { { lfd, POLLIN, 0 }, { 0, POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) <= 0)
			continue;
		if (p[1].revents)
			break;
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		if (fork() == 0) {
			close(lfd);
			front_serve(ctx, fd, backend);
			_exit(0);
		}
		close(fd);
	}
	SSL_CTX_free(ctx);
	return 0;
}
