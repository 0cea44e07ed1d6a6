/*
 * test_tls_front.c — OpenSSL TLS termination in front of libmicrohttpd.
 *
 * Builds a throw-away CA, a server and two client certificates in memory,
 * then drives real TLS connections over loopback: a client with a
 * certificate from the CA reaches the HTTP handler, which sees its CN; a
 * client without one, or with a certificate from another CA, is refused at
 * the handshake; keep-alive carries several requests on one connection.
 */
#include "harness.h"

#include "log.h"
#include "tls_front.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

struct pki {
	EVP_PKEY *key;
	X509 *cert;
};

static void
make_cert(struct pki *out, const char *cn, const struct pki *issuer, int ca)
{
	X509_NAME *name;

	out->key = EVP_EC_gen("P-256");
	out->cert = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(out->cert),
			 (long)(random() & 0xffffff));
	X509_gmtime_adj(X509_getm_notBefore(out->cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(out->cert), 3600);
	X509_set_pubkey(out->cert, out->key);
	name = X509_get_subject_name(out->cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(
	    out->cert, issuer ? X509_get_subject_name(issuer->cert) : name);
	if (ca) {
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(
		    NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(out->cert, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(out->cert, issuer ? issuer->key : out->key, EVP_sha256());
}

static void
pki_free(struct pki *p)
{
	EVP_PKEY_free(p->key);
	X509_free(p->cert);
}

struct server {
	struct MHD_Daemon *mhd;
	struct tls_front *tf;
	uint16_t port;
};

static struct tls_front *g_tf;

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload,
	size_t *upload_size, void **con_cls)
{
	char peer[TLS_PEER_ID_MAX], body[400];
	struct MHD_Response *resp;
	enum MHD_Result ret;
	static int first;

	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	if (*con_cls == NULL) { /* queue on a later call: keeps keep-alive */
		*con_cls = &first;
		return MHD_YES;
	}
	if (tls_front_conn_peer(g_tf, conn, peer, sizeof(peer)) < 0)
		snprintf(peer, sizeof(peer), "?");
	snprintf(body, sizeof(body), "%s %s peer=%s", method, url, peer);
	resp = MHD_create_response_from_buffer(strlen(body), body,
					       MHD_RESPMEM_MUST_COPY);
	ret = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
server_start(struct server *s, SSL_CTX *ctx)
{
	struct tls_front_cfg cfg = { 0 };

	s->mhd =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
				 MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL,
			     0, NULL, NULL, handler, NULL, MHD_OPTION_END);
	ASSERT_TRUE(s->mhd != NULL);
	cfg.ssl_ctx = ctx;
	cfg.mhd = s->mhd;
	cfg.peer_id = tls_peer_subject_cn;
	cfg.name = "test";
	s->tf = tls_front_new(&cfg);
	ASSERT_TRUE(s->tf != NULL);
	ASSERT_INT_EQ(tls_front_listen(s->tf, "127.0.0.1", 0), 0);
	s->port = tls_front_port(s->tf);
	ASSERT_TRUE(s->port != 0);
	ASSERT_INT_EQ(tls_front_start(s->tf), 0);
	g_tf = s->tf;
}

static void
server_stop(struct server *s)
{
	tls_front_free(s->tf);
	MHD_stop_daemon(s->mhd);
}

/* Connects; returns the SSL (handshake done) or NULL if refused. */
static SSL *
client_connect(uint16_t port, const struct pki *ca, const struct pki *me,
	       int *fdp)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	SSL *ssl;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca->cert);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (me != NULL) {
		SSL_CTX_use_certificate(ctx, me->cert);
		SSL_CTX_use_PrivateKey(ctx, me->key);
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	SSL_set_fd(ssl, fd);
	*fdp = fd;
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

/* Sends a GET; returns bytes of response read (0 if refused). */
static int
client_get(SSL *ssl, const char *path, char *out, size_t cap)
{
	char req[256];
	int n, total = 0;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		return 0;
	/* Read until the body (which ends the response) has arrived. */
	while ((size_t)total < cap - 1) {
		n = SSL_read(ssl, out + total, (int)(cap - 1 - (size_t)total));
		if (n <= 0)
			break;
		total += n;
		out[total] = '\0';
		if (strstr(out, "peer=") !=
		    NULL) /* the body ends the response */
			break;
	}
	out[total > 0 ? total : 0] = '\0';
	return total;
}

static struct pki ca, other_ca, server_pki, alice, mallory;

static SSL_CTX *
server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_use_certificate(ctx, server_pki.cert);
	SSL_CTX_use_PrivateKey(ctx, server_pki.key);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca.cert);
	SSL_CTX_set_verify(
	    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

static void
setup_pki(void)
{
	static int done;

	if (done++)
		return;
	make_cert(&ca, "test CA", NULL, 1);
	make_cert(&other_ca, "other CA", NULL, 1);
	make_cert(&server_pki, "kme", &ca, 0);
	make_cert(&alice, "SAE_ALICE", &ca, 0);
	make_cert(&mallory, "SAE_ALICE", &other_ca, 0);
}

TEST(mtls_client_reaches_handler_with_its_cn)
{
	struct server s;
	char resp[2048];
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;

	setup_pki();
	ctx = server_ctx();
	server_start(&s, ctx);
	SSL_CTX_free(ctx);
	ssl = client_connect(s.port, &ca, &alice, &fd);
	ASSERT_TRUE(ssl != NULL);
	ASSERT_TRUE(client_get(ssl, "/a", resp, sizeof(resp)) > 0);
	ASSERT_TRUE(strstr(resp, "HTTP/1.1 200") != NULL);
	ASSERT_TRUE(strstr(resp, "GET /a peer=SAE_ALICE") != NULL);
	/* Keep-alive: a second request on the same TLS session. */
	ASSERT_TRUE(client_get(ssl, "/b", resp, sizeof(resp)) > 0);
	ASSERT_TRUE(strstr(resp, "GET /b peer=SAE_ALICE") != NULL);
	SSL_free(ssl);
	close(fd);
	server_stop(&s);
}

TEST(no_cert_or_wrong_ca_refused_at_handshake)
{
	struct server s;
	char resp[256];
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;

	setup_pki();
	ctx = server_ctx();
	server_start(&s, ctx);
	SSL_CTX_free(ctx);
	/* TLS 1.3 reports the client-auth failure on the first read. */
	ssl = client_connect(s.port, &ca, NULL, &fd);
	if (ssl != NULL) {
		ASSERT_INT_EQ(client_get(ssl, "/", resp, sizeof(resp)), 0);
		SSL_free(ssl);
		close(fd);
	}
	ssl = client_connect(s.port, &ca, &mallory, &fd);
	if (ssl != NULL) {
		ASSERT_INT_EQ(client_get(ssl, "/", resp, sizeof(resp)), 0);
		SSL_free(ssl);
		close(fd);
	}
	server_stop(&s);
}

/* ---- request mode: the front's own handler interface ---- */

/* "/slow" waits 1.5 s, like a KME call that takes its time. */
static void
req_handler(const struct tls_front_req *req, struct tls_front_resp *resp,
	    void *arg)
{
	char body[400];
	int n;

	(void)arg;
	if (strcmp(req->http->target, "/slow") == 0)
		usleep(1500 * 1000);
	n = snprintf(body, sizeof(body), "%s %s peer=%s body=%llu",
		     req->http->method, req->http->target,
		     req->peer ? req->peer : "-",
		     (unsigned long long)req->body_len);
	resp->status = strcmp(req->http->target, "/missing") == 0 ? 404 : 200;
	resp->content_type = "text/plain";
	snprintf(resp->fields, sizeof(resp->fields), "X-Test: 1\r\n");
	resp->body = malloc((size_t)n);
	memcpy(resp->body, body, (size_t)n);
	resp->len = (size_t)n;
}

/* A request-mode front on a free port, from cfg's handler and options. */
static struct tls_front *
front_start(struct tls_front_cfg *cfg)
{
	SSL_CTX *ctx = server_ctx();
	struct tls_front *tf;

	cfg->ssl_ctx = ctx;
	cfg->peer_id = tls_peer_subject_cn;
	cfg->name = "test-req";
	tf = tls_front_new(cfg);
	SSL_CTX_free(ctx);
	ASSERT_TRUE(tf != NULL);
	ASSERT_INT_EQ(tls_front_listen(tf, "127.0.0.1", 0), 0);
	ASSERT_INT_EQ(tls_front_start(tf), 0);
	return tf;
}

static struct tls_front *
req_front(unsigned workers, unsigned loops)
{
	struct tls_front_cfg cfg = { 0 };

	cfg.handler = req_handler;
	cfg.workers = workers;
	cfg.threads = loops;
	return front_start(&cfg);
}

/*
 * Writes raw, reads until the peer closes or want answers have come:
 * want occurrences of marker, which each answer holds once.
 */
static int
exchange(SSL *ssl, const char *req, char *out, size_t cap, const char *marker,
	 int want)
{
	int total = 0;

	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		return 0;
	while ((size_t)total < cap - 1) {
		int n =
		    SSL_read(ssl, out + total, (int)(cap - 1 - (size_t)total));
		int got = 0;

		if (n <= 0)
			break;
		total += n;
		out[total] = '\0';
		for (const char *p = out; (p = strstr(p, marker)) != NULL; p++)
			got++;
		if (got >= want)
			break;
	}
	out[total] = '\0';
	return total;
}

static int
raw_exchange(SSL *ssl, const char *req, char *out, size_t cap, int want)
{
	return exchange(ssl, req, out, cap, " body=", want);
}

static void
request_mode_serves(unsigned workers)
{
	struct tls_front *tf = req_front(workers, 1);
	char out[4096];
	const char *a, *b, *c;
	SSL *ssl, *idle;
	int fd, fd_idle;

	/* A second connection on the one loop: handlers go to the workers. */
	idle = client_connect(tls_front_port(tf), &ca, &alice, &fd_idle);
	ASSERT_TRUE(idle != NULL);
	ssl = client_connect(tls_front_port(tf), &ca, &alice, &fd);
	ASSERT_TRUE(ssl != NULL);
	/* Three pipelined requests in one write: answers in their order. */
	ASSERT_TRUE(raw_exchange(ssl,
				 "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
				 "POST /b HTTP/1.1\r\nHost: h\r\n"
				 "Content-Length: 3\r\n\r\nxyz"
				 "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n",
				 out, sizeof(out), 3) > 0);
	a = strstr(out, "GET /a?x=1 peer=SAE_ALICE body=0");
	b = strstr(out, "POST /b peer=SAE_ALICE body=3");
	c = strstr(out, "HTTP/1.1 404 Not Found\r\n");
	ASSERT_TRUE(a != NULL && b != NULL && c != NULL && a < b && b < c);
	ASSERT_TRUE(strstr(out, "HTTP/1.1 200 OK\r\nDate: ") == out);
	ASSERT_TRUE(strstr(out, "Content-Type: text/plain\r\nX-Test: 1\r\n"
				"Content-Length: 32\r\n\r\n") != NULL);
	/* HEAD: the fields of GET, no body; then close on request. */
	ASSERT_TRUE(raw_exchange(ssl,
				 "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"
				 "GET /c HTTP/1.1\r\nHost: h\r\n"
				 "Connection: close\r\n\r\n",
				 out, sizeof(out), 99) > 0);
	ASSERT_TRUE(strstr(out, "HEAD /h") == NULL);
	ASSERT_TRUE(strstr(out, "Content-Length: 29\r\n\r\nHTTP/1.1 200") !=
		    NULL);
	ASSERT_TRUE(strstr(out, "Connection: close\r\n\r\nGET /c peer=") !=
		    NULL);
	SSL_free(ssl);
	close(fd);
	SSL_free(idle);
	close(fd_idle);
	tls_front_free(tf);
}

TEST(request_mode_in_the_loop_pipelined_in_order)
{
	setup_pki();
	request_mode_serves(0);
}

TEST(request_mode_on_workers_pipelined_in_order)
{
	setup_pki();
	request_mode_serves(2);
}

/* With workers, a slow handler holds its own connection only. */
TEST(request_mode_slow_handler_stalls_only_its_connection)
{
	struct tls_front *tf = req_front(2, 1);
	char out[2048];
	SSL *slow, *quick;
	int fd1, fd2;
	uint64_t t0;

	slow = client_connect(tls_front_port(tf), &ca, &alice, &fd1);
	quick = client_connect(tls_front_port(tf), &ca, &alice, &fd2);
	ASSERT_TRUE(slow != NULL && quick != NULL);
	ASSERT_TRUE(
	    SSL_write(slow, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n", 31) == 31);
	usleep(50 * 1000);
	t0 = mono_ms();
	ASSERT_TRUE(raw_exchange(quick, "GET /q HTTP/1.1\r\nHost: h\r\n\r\n",
				 out, sizeof(out), 1) > 0);
	ASSERT_TRUE(strstr(out, "GET /q peer=SAE_ALICE") != NULL);
	ASSERT_TRUE(mono_ms() - t0 < 1200); /* not after /slow */
	ASSERT_TRUE(raw_exchange(slow, "", out, sizeof(out), 1) >= 0);
	SSL_free(quick);
	close(fd2);
	/* Stopped while /slow's next answer is with its handler. */
	ASSERT_TRUE(
	    SSL_write(slow, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n", 31) == 31);
	usleep(50 * 1000);
	tls_front_free(tf);
	SSL_free(slow);
	close(fd1);
}

/*
 * Loop first, bodies kept: a handler on the loop that defers is called
 * again on a worker; bodies reach it without their chunk framing.
 */
static void
keep_handler(const struct tls_front_req *req, struct tls_front_resp *resp,
	     void *arg)
{
	const char *t = req->http->target;
	char body[400];
	int n;

	(void)arg;
	if (strncmp(t, "/defer", 6) == 0 && req->on_loop) {
		resp->defer = true;
		return;
	}
	if (strcmp(t, "/defer-slow") == 0)
		usleep(1500 * 1000);
	n = snprintf(body, sizeof(body), "%s %s loop=%d over=%d size=%zu [%s]",
		     req->http->method, t, req->on_loop, req->body_over,
		     req->body_size, req->body ? req->body : "-");
	resp->status = 200;
	resp->body = malloc((size_t)n);
	memcpy(resp->body, body, (size_t)n);
	resp->len = (size_t)n;
}

static struct tls_front *
keep_front(void)
{
	struct tls_front_cfg cfg = { 0 };

	cfg.handler = keep_handler;
	cfg.workers = 2;
	cfg.threads = 1;
	cfg.loop_first = true;
	cfg.keep_body = true;
	cfg.handler_max_body = 100;
	return front_start(&cfg);
}

/* Each keep_handler answer ends with its one ']'. */
static int
read_answers(SSL *ssl, const char *req, char *out, size_t cap, int want)
{
	return exchange(ssl, req, out, cap, "]", want);
}

TEST(request_mode_loop_first_defers_and_keeps_bodies)
{
	struct tls_front *tf;
	char out[4096];
	const char *a, *b, *c, *d;
	SSL *ssl, *idle;
	int fd, fd_idle;

	setup_pki();
	tf = keep_front();
	/* Two connections on the one loop: a handler there may defer. */
	idle = client_connect(tls_front_port(tf), &ca, &alice, &fd_idle);
	ssl = client_connect(tls_front_port(tf), &ca, &alice, &fd);
	ASSERT_TRUE(idle != NULL && ssl != NULL);
	ASSERT_TRUE(read_answers(ssl,
				 "POST /cl HTTP/1.1\r\nHost: h\r\n"
				 "Content-Length: 3\r\n\r\nxyz"
				 "GET /defer HTTP/1.1\r\nHost: h\r\n\r\n"
				 "POST /ch HTTP/1.1\r\nHost: h\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n"
				 "3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n"
				 "T: 1\r\n\r\n"
				 "GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
				 out, sizeof(out), 4) > 0);
	a = strstr(out, "POST /cl loop=1 over=0 size=3 [xyz]");
	b = strstr(out, "GET /defer loop=0 over=0 size=0 [-]");
	c = strstr(out, "POST /ch loop=1 over=0 size=5 [abcde]");
	d = strstr(out, "GET /a loop=1 over=0 size=0 [-]");
	ASSERT_TRUE(a != NULL && b != NULL && c != NULL && d != NULL);
	ASSERT_TRUE(a < b && b < c && c < d); /* in request order */
	/* A body declared over the handler's limit is not waited for: the
	 * answer comes after the head alone, and the connection ends. */
	ASSERT_TRUE(read_answers(ssl,
				 "POST /big HTTP/1.1\r\nHost: h\r\n"
				 "Content-Length: 1000\r\n\r\n0123",
				 out, sizeof(out), 1) > 0);
	ASSERT_TRUE(strstr(out, "POST /big loop=1 over=1 size=0 [-]") != NULL);
	ASSERT_TRUE(strstr(out, "Connection: close\r\n") != NULL);
	SSL_free(ssl);
	close(fd);
	SSL_free(idle);
	close(fd_idle);
	tls_front_free(tf);
}

/* A handler that defers waits on a worker, not on the loop. */
TEST(request_mode_deferred_handler_stalls_only_its_connection)
{
	struct tls_front *tf;
	char out[2048];
	SSL *slow, *quick;
	int fd1, fd2;
	uint64_t t0;

	setup_pki();
	tf = keep_front();
	slow = client_connect(tls_front_port(tf), &ca, &alice, &fd1);
	quick = client_connect(tls_front_port(tf), &ca, &alice, &fd2);
	ASSERT_TRUE(slow != NULL && quick != NULL);
	ASSERT_TRUE(SSL_write(slow,
			      "GET /defer-slow HTTP/1.1\r\nHost: h\r\n\r\n",
			      37) == 37);
	usleep(50 * 1000);
	t0 = mono_ms();
	ASSERT_TRUE(read_answers(quick, "GET /q HTTP/1.1\r\nHost: h\r\n\r\n",
				 out, sizeof(out), 1) > 0);
	ASSERT_TRUE(strstr(out, "GET /q loop=1") != NULL);
	ASSERT_TRUE(mono_ms() - t0 < 1200); /* not after /defer-slow */
	ASSERT_TRUE(read_answers(slow, "", out, sizeof(out), 1) >= 0);
	SSL_free(quick);
	close(fd2);
	tls_front_free(tf);
	SSL_free(slow);
	close(fd1);
}

TEST(shutdown_with_open_connections)
{
	struct server s;
	SSL_CTX *ctx;
	SSL *ssl[3];
	int fd[3];

	setup_pki();
	ctx = server_ctx();
	server_start(&s, ctx);
	SSL_CTX_free(ctx);
	for (int i = 0; i < 3; i++) {
		ssl[i] = client_connect(s.port, &ca, &alice, &fd[i]);
		ASSERT_TRUE(ssl[i] != NULL);
	}
	server_stop(&s); /* must return, not hang on the open sessions */
	for (int i = 0; i < 3; i++) {
		SSL_free(ssl[i]);
		close(fd[i]);
	}
	pki_free(&ca);
	pki_free(&other_ca);
	pki_free(&server_pki);
	pki_free(&alice);
	pki_free(&mallory);
}

TEST_MAIN(TEST_CASE(mtls_client_reaches_handler_with_its_cn),
	  TEST_CASE(no_cert_or_wrong_ca_refused_at_handshake),
	  TEST_CASE(request_mode_in_the_loop_pipelined_in_order),
	  TEST_CASE(request_mode_on_workers_pipelined_in_order),
	  TEST_CASE(request_mode_slow_handler_stalls_only_its_connection),
	  TEST_CASE(request_mode_loop_first_defers_and_keeps_bodies),
	  TEST_CASE(request_mode_deferred_handler_stalls_only_its_connection),
	  TEST_CASE(shutdown_with_open_connections))
