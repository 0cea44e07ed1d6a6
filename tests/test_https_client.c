/*
 * test_https_client.c — lib/https_client against an independent HTTPS
 * server: tests/lib/https_stub.py (Python's ssl and socket), with a PKI
 * from scripts/qkdlab-pki (the openssl command line).
 *
 * Mutual TLS and the name check (URL host or peer_name), keep-alive (the
 * stub numbers connections), Content-Length, chunked, close-delimited and
 * interim answers, a server that closes an idle kept-alive connection, the
 * request as one record, body_max, the call's timeout, and the retry rule:
 * only a call whose request was never sent is tried again.
 */
#include "harness.h"

#include "https_client.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <time.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/qkdlab-https-XXXXXX";
static char ca[256], cert[256], key[256], other_ca[256];
static pid_t stub = -1;
static int port;

static void
stop_stub(void)
{
	char cmd[300];

	if (stub > 0) {
		kill(stub, SIGTERM);
		waitpid(stub, NULL, 0);
		stub = -1;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
}

/* The PKI, then the stub with KME_A's server certificate. */
static int
start_stub(void)
{
	char cmd[1024], line[64];
	int fds[2];
	FILE *f;

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "scripts/qkdlab-pki -d %s -k KME_A -s SAE_A -s SAE_B "
		 ">/dev/null && "
		 "scripts/qkdlab-pki -d %s/other -k KME_A >/dev/null",
		 dir, dir);
	if (system(cmd) != 0)
		return -1;
	snprintf(ca, sizeof(ca), "%s/sae-ca.crt", dir);
	snprintf(cert, sizeof(cert), "%s/SAE_A.crt", dir);
	snprintf(key, sizeof(key), "%s/SAE_A.key", dir);
	snprintf(other_ca, sizeof(other_ca), "%s/other/sae-ca.crt", dir);
	if (pipe(fds) == -1 || (stub = fork()) == -1)
		return -1;
	if (stub == 0) {
		char c[300], k[300];

		snprintf(c, sizeof(c), "%s/KME_A.crt", dir);
		snprintf(k, sizeof(k), "%s/KME_A.key", dir);
		dup2(fds[1], 1);
		close(fds[0]);
		execlp("python3", "python3", "tests/lib/https_stub.py",
		       "--cert", c, "--key", k, "--ca", ca, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "port %d", &port) != 1)
		return -1;
	fclose(f);
	return 0;
}

static struct https_client *
client(const char *peer_name, const char *ca_file, size_t body_max,
       unsigned retries)
{
	struct https_client_cfg cfg = {
		.ca_file = ca_file,
		.cert_file = cert,
		.key_file = key,
		.peer_name = peer_name,
		.verify_host = true,
		.timeout_ms = 2000,
		.connect_timeout_ms = 2000,
		.retries = retries,
		.retry_delay_ms = 10,
		.body_max = body_max,
		.pool = 4,
	};

	return https_client_new(&cfg);
}

/* GET (json NULL) or POST; the stub's JSON answer, or NULL. */
static cJSON *
call(struct https_client *c, const char *host, const char *path,
     const char *json, struct https_resp *r)
{
	char url[256];

	snprintf(url, sizeof(url), "https://%s:%d%s", host, port, path);
	if (https_client_call(c, url, json, r) == -1 || r->status != 200)
		return NULL;
	return cJSON_ParseWithLength(r->body, r->len);
}

static int
num(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);

	return cJSON_IsNumber(v) ? v->valueint : -1;
}

static const char *
str(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

TEST(kept_alive_across_framings)
{
	struct https_client *c = client(NULL, ca, 1024, 0);
	struct https_resp r = { 0 };
	cJSON *a, *b, *d, *e;
	char host[64];
	int conn;

	ASSERT_TRUE(c != NULL);
	a = call(c, "127.0.0.1", "/cl", NULL, &r);
	ASSERT_TRUE(a != NULL);
	conn = num(a, "conn");
	ASSERT_STR_EQ(str(a, "method"), "GET");
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	ASSERT_STR_EQ(str(a, "host"), host);
	ASSERT_INT_EQ(num(a, "req"), 1);
	/* Chunked, then 100 Continue first: the same connection. */
	b = call(c, "127.0.0.1", "/chunked", NULL, &r);
	ASSERT_TRUE(b != NULL);
	ASSERT_INT_EQ(num(b, "conn"), conn);
	ASSERT_INT_EQ(num(b, "req"), 2);
	d = call(c, "127.0.0.1", "/interim", NULL, &r);
	ASSERT_TRUE(d != NULL);
	ASSERT_INT_EQ(num(d, "conn"), conn);
	ASSERT_INT_EQ(num(d, "req"), 3);
	/* A close-delimited answer, read to the end; then a new one. */
	e = call(c, "127.0.0.1", "/close", NULL, &r);
	ASSERT_TRUE(e != NULL);
	ASSERT_INT_EQ(num(e, "conn"), conn);
	cJSON_Delete(e);
	e = call(c, "127.0.0.1", "/cl", NULL, &r);
	ASSERT_TRUE(e != NULL);
	ASSERT_INT_EQ(num(e, "conn"), conn + 1);
	ASSERT_INT_EQ(r.attempts, 1);
	cJSON_Delete(e);
	/* "Connection: close" ends the connection's use, open or not. */
	e = call(c, "127.0.0.1", "/conn-close", NULL, &r);
	ASSERT_TRUE(e != NULL);
	ASSERT_INT_EQ(num(e, "conn"), conn + 1);
	cJSON_Delete(e);
	e = call(c, "127.0.0.1", "/cl", NULL, &r);
	ASSERT_TRUE(e != NULL);
	ASSERT_INT_EQ(num(e, "conn"), conn + 2);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(d);
	cJSON_Delete(e);
	https_resp_clear(&r);
	https_client_free(c);
}

TEST(post_is_one_record_with_json_framing)
{
	struct https_client *c = client("KME_A", ca, 1024, 0);
	struct https_resp r = { 0 };
	char host[64];
	cJSON *a;

	ASSERT_TRUE(c != NULL);
	a = call(c, "localhost", "/cl?x=1", "{\"k\":[1,2]}", &r);
	if (a == NULL)
		TH_FAIL("POST failed: %s (status %ld)", r.err, r.status);
	ASSERT_STR_EQ(str(a, "method"), "POST");
	ASSERT_STR_EQ(str(a, "path"), "/cl?x=1");
	ASSERT_STR_EQ(str(a, "body"), "{\"k\":[1,2]}");
	ASSERT_STR_EQ(str(a, "ctype"), "application/json");
	ASSERT_STR_EQ(str(a, "expect"), "");
	snprintf(host, sizeof(host), "localhost:%d", port);
	ASSERT_STR_EQ(str(a, "host"), host);
	/* The stub's first recv() held the whole request. */
	ASSERT_INT_EQ(num(a, "reads"), 1);
	cJSON_Delete(a);
	https_resp_clear(&r);
	https_client_free(c);
}

TEST(idle_connection_closed_by_the_server)
{
	struct https_client *c = client(NULL, ca, 1024, 0);
	struct https_resp r = { 0 };
	cJSON *a, *b;

	ASSERT_TRUE(c != NULL);
	a = call(c, "127.0.0.1", "/idle", NULL, &r);
	ASSERT_TRUE(a != NULL);
	usleep(500 * 1000); /* the stub closes after 0.2 s */
	/* Not a retry: the closed connection is seen before sending. */
	b = call(c, "127.0.0.1", "/cl", NULL, &r);
	ASSERT_TRUE(b != NULL);
	ASSERT_INT_EQ(num(b, "conn"), num(a, "conn") + 1);
	ASSERT_INT_EQ(r.attempts, 1);
	cJSON_Delete(a);
	cJSON_Delete(b);
	https_resp_clear(&r);
	https_client_free(c);
}

TEST(server_identity_checked)
{
	struct https_client *wrong_name = client("KME_B", ca, 1024, 2);
	struct https_client *wrong_ca = client(NULL, other_ca, 1024, 0);
	struct https_client *by_host = client(NULL, ca, 1024, 0);
	struct https_resp r = { 0 };
	cJSON *a;

	ASSERT_TRUE(wrong_name != NULL && wrong_ca != NULL && by_host != NULL);
	/* A handshake failure proves the request unsent: tried 3 times. */
	ASSERT_TRUE(call(wrong_name, "127.0.0.1", "/cl", NULL, &r) == NULL);
	ASSERT_INT_EQ(r.fail, HTTPS_UNREACHABLE);
	ASSERT_INT_EQ(r.attempts, 3);
	if (strstr(r.err, "certificate") == NULL)
		TH_FAIL("reason: %s", r.err);
	ASSERT_TRUE(call(wrong_ca, "127.0.0.1", "/cl", NULL, &r) == NULL);
	if (strstr(r.err, "certificate verify failed") == NULL)
		TH_FAIL("reason: %s", r.err);
	/* The certificate names 127.0.0.1 and localhost; "127.1" reaches
	 * the same address under a name it does not carry. */
	ASSERT_TRUE(call(by_host, "127.1", "/cl", NULL, &r) == NULL);
	ASSERT_INT_EQ(r.fail, HTTPS_UNREACHABLE);
	if (strstr(r.err, "certificate verify failed") == NULL)
		TH_FAIL("reason: %s", r.err);
	a = call(by_host, "localhost", "/cl", NULL, &r);
	ASSERT_TRUE(a != NULL);
	cJSON_Delete(a);
	https_resp_clear(&r);
	https_client_free(wrong_name);
	https_client_free(wrong_ca);
	https_client_free(by_host);
}

TEST(failures_after_sending_not_retried)
{
	struct https_client *c = client(NULL, ca, 1024, 3);
	struct https_resp r = { 0 };
	char url[128];
	uint64_t t0;

	ASSERT_TRUE(c != NULL);
	ASSERT_TRUE(call(c, "127.0.0.1", "/drop", NULL, &r) == NULL);
	ASSERT_INT_EQ(r.fail, HTTPS_UNREACHABLE);
	ASSERT_INT_EQ(r.attempts, 1);
	ASSERT_TRUE(call(c, "127.0.0.1", "/te-cl", NULL, &r) == NULL);
	ASSERT_INT_EQ(r.attempts, 1);
	if (strstr(r.err, "Content-Length and Transfer-Encoding") == NULL)
		TH_FAIL("reason: %s", r.err);
	ASSERT_TRUE(call(c, "127.0.0.1", "/big", NULL, &r) == NULL);
	ASSERT_INT_EQ(r.fail, HTTPS_TOO_LARGE);
	ASSERT_TRUE(r.body == NULL && r.len == 0);
	t0 = (uint64_t)time(NULL);
	ASSERT_TRUE(call(c, "127.0.0.1", "/hang", NULL, &r) == NULL);
	ASSERT_INT_EQ(r.attempts, 1);
	if (strstr(r.err, "timed out") == NULL || time(NULL) - t0 > 4)
		TH_FAIL("reason: %s", r.err);
	/* Nothing listens on port 1: refused, retried, then given up. */
	snprintf(url, sizeof(url), "https://127.0.0.1:1/x");
	ASSERT_INT_EQ(https_client_call(c, url, NULL, &r), -1);
	ASSERT_INT_EQ(r.attempts, 4);
	if (strstr(r.err, "cannot connect to 127.0.0.1 port 1") == NULL)
		TH_FAIL("reason: %s", r.err);
	https_resp_clear(&r);
	https_client_free(c);
}

TEST(bad_urls_refused)
{
	static const char *const bad[] = {
		"http://127.0.0.1/x",  "https://",
		"https://:443/x",      "https://h:0/x",
		"https://h:65536/x",   "https://h:8a/x",
		"https://[::1/x",      "https://[zz]:1/x",
		"https://u@h/x",       "https://h/a b",
		"https://h/a\r\nX: y", "https://[::1]x/",
	};
	struct https_client *c = client(NULL, ca, 1024, 3);
	struct https_resp r = { 0 };

	ASSERT_TRUE(c != NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (https_client_call(c, bad[i], NULL, &r) != -1 ||
		    r.fail != HTTPS_LOCAL)
			TH_FAIL("accepted URL #%zu", i);
	}
	https_client_free(c);
}

/* Copies file from to to through a rename, as a certificate is renewed. */
static int
renew(const char *from, const char *to)
{
	char cmd[1300];

	snprintf(cmd, sizeof(cmd), "cp %s %s.new && mv %s.new %s", from, to, to,
		 to);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * A renewed client certificate is used from the next new connection on
 * (the stub reports the CN it saw); one that does not load leaves the
 * last good one in use.
 */
TEST(renewed_certificate_used_by_new_connections)
{
	char cur_crt[300], cur_key[300], b_crt[300], b_key[300];
	struct https_client_cfg cfg = {
		.ca_file = ca,
		.verify_host = true,
		.timeout_ms = 2000,
		.retries = 0,
		.body_max = 65536,
		.pool = 4,
	};
	struct https_resp r = { 0 };
	struct https_client *c;
	cJSON *j;
	FILE *f;

	snprintf(cur_crt, sizeof(cur_crt), "%s/cur.crt", dir);
	snprintf(cur_key, sizeof(cur_key), "%s/cur.key", dir);
	snprintf(b_crt, sizeof(b_crt), "%s/SAE_B.crt", dir);
	snprintf(b_key, sizeof(b_key), "%s/SAE_B.key", dir);
	ASSERT_INT_EQ(renew(cert, cur_crt), 0);
	ASSERT_INT_EQ(renew(key, cur_key), 0);
	cfg.cert_file = cur_crt;
	cfg.key_file = cur_key;
	c = https_client_new(&cfg);
	ASSERT_TRUE(c != NULL);
	/* The stub closes /idle connections: the next call connects anew. */
	j = call(c, "127.0.0.1", "/idle", NULL, &r);
	ASSERT_TRUE(j != NULL);
	ASSERT_STR_EQ(str(j, "peer"), "SAE_A");
	cJSON_Delete(j);
	ASSERT_INT_EQ(renew(b_key, cur_key), 0);
	ASSERT_INT_EQ(renew(b_crt, cur_crt), 0);
	usleep(300000);
	j = call(c, "127.0.0.1", "/idle", NULL, &r);
	ASSERT_TRUE(j != NULL);
	ASSERT_STR_EQ(str(j, "peer"), "SAE_B");
	cJSON_Delete(j);
	/* A half-written renewal: the last good files stay in use. */
	f = fopen(cur_crt, "w");
	ASSERT_TRUE(f != NULL);
	fputs("-----BEGIN CERTIFICATE-----\n", f);
	fclose(f);
	usleep(300000);
	j = call(c, "127.0.0.1", "/cl", NULL, &r);
	ASSERT_TRUE(j != NULL);
	ASSERT_STR_EQ(str(j, "peer"), "SAE_B");
	cJSON_Delete(j);
	https_resp_clear(&r);
	https_client_free(c);
}

TEST(ipv6_literal)
{
	struct https_client *c = client("KME_A", ca, 1024, 0);
	struct https_resp r = { 0 };
	char url[128];

	ASSERT_TRUE(c != NULL);
	/* The stub listens on IPv4 only: [::1] is refused, and said so. */
	snprintf(url, sizeof(url), "https://[::1]:%d/cl", port);
	ASSERT_INT_EQ(https_client_call(c, url, NULL, &r), -1);
	if (strstr(r.err, "port") == NULL || strstr(r.err, "::1") == NULL)
		TH_FAIL("reason: %s", r.err);
	https_client_free(c);
}

int
main(void)
{
	static const struct th_case cases[] = {
		TEST_CASE(kept_alive_across_framings),
		TEST_CASE(post_is_one_record_with_json_framing),
		TEST_CASE(idle_connection_closed_by_the_server),
		TEST_CASE(server_identity_checked),
		TEST_CASE(failures_after_sending_not_retried),
		TEST_CASE(bad_urls_refused),
		TEST_CASE(ipv6_literal),
		TEST_CASE(renewed_certificate_used_by_new_connections),
	};
	int rc;

	if (start_stub() == -1) {
		printf("1..1\nnot ok 1 - start the HTTPS stub\n");
		stop_stub();
		return 1;
	}
	rc = th_run(cases, sizeof(cases) / sizeof(*cases));
	stop_stub();
	return rc;
}
