/*
 * test_skip.c — skip-proxy's pure parts: SKIP request-target parsing
 * (routes, status codes, keyId, sizes, query rules), remoteSystemID globs,
 * the PSK file and the configuration checks (the ETSI 014 parsers are
 * lib/etsi014.c, tested in test_etsi014.c).
 */
#include "harness.h"

#include "encoding.h"
#include "log.h"
#include "skip_client.h"
#include "../skip-proxy/skip.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct skip_limits lim = {
	.key_size_default = 256,
	.key_size_max = 512,
	.entropy_default = 256,
	.entropy_max = 4096,
};

static void
quiet(void)
{
	log_init("test", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_SILENT);
}

/* Parses; returns the status (200 when it parsed). */
static int
parse(const char *method, const char *target, struct skip_req *req)
{
	struct skip_err err;

	if (skip_req_parse(method, target, &lim, req, &err) < 0)
		return err.status;
	return 200;
}

TEST(routes_and_codes)
{
	struct skip_req r;

	ASSERT_INT_EQ(parse("GET", "/capabilities", &r), 200);
	ASSERT_INT_EQ(r.route, SKIP_R_CAPABILITIES);
	ASSERT_INT_EQ(parse("GET", "/entropy", &r), 200);
	ASSERT_INT_EQ(r.route, SKIP_R_ENTROPY);
	ASSERT_INT_EQ(r.entropy_bits, 256);
	/* draft Table 3: 404 for other paths, whatever the method. */
	ASSERT_INT_EQ(parse("GET", "/", &r), 404);
	ASSERT_INT_EQ(parse("GET", "/v1/key?remoteSystemID=B", &r), 404);
	ASSERT_INT_EQ(parse("GET", "/capabilities/", &r), 404);
	ASSERT_INT_EQ(parse("GET", "/Capabilities", &r), 404);
	ASSERT_INT_EQ(parse("GET", "/key/00/extra?remoteSystemID=B", &r), 404);
	ASSERT_INT_EQ(parse("POST", "/nothing", &r), 404);
	/* 405 for other methods on real resources. */
	ASSERT_INT_EQ(parse("POST", "/key?remoteSystemID=B", &r), 405);
	ASSERT_INT_EQ(parse("PUT", "/capabilities", &r), 405);
	ASSERT_INT_EQ(
	    parse("DELETE", "/key/00112233445566778899aabbccddeeff", &r), 405);
	ASSERT_INT_EQ(parse("HEAD", "/entropy", &r), 405);
}

TEST(key_new_params)
{
	struct skip_req r;

	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob", &r), 200);
	ASSERT_INT_EQ(r.route, SKIP_R_KEY_NEW);
	ASSERT_STR_EQ(r.remote, "Bob");
	ASSERT_INT_EQ(r.size_bits, 256); /* draft 4.2 default */
	ASSERT_INT_EQ(parse("GET", "/key?size=128&remoteSystemID=Bob", &r),
		      200);
	ASSERT_INT_EQ(r.size_bits, 128);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=512", &r),
		      200);
	ASSERT_INT_EQ(r.size_bits, 512);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=136", &r),
		      200);
	/* Sizes: multiples of 8, 128 minimum, configured maximum. */
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=120", &r),
		      400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=130", &r),
		      400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=520", &r),
		      400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=+256", &r),
		      400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=0x100", &r),
		      400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size=-256", &r),
		      400);
	ASSERT_INT_EQ(
	    parse("GET", "/key?remoteSystemID=Bob&size=99999999999", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&size", &r), 400);
	/* remoteSystemID is required, non-empty, once. */
	ASSERT_INT_EQ(parse("GET", "/key", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?size=256", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=", &r), 400);
	ASSERT_INT_EQ(
	    parse("GET", "/key?remoteSystemID=a&remoteSystemID=b", &r), 400);
	/* Names are case-sensitive; unknown parameters are refused. */
	ASSERT_INT_EQ(parse("GET", "/key?remotesystemid=Bob", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=Bob&number=2", &r),
		      400);
	/* Empty segments are harmless. */
	ASSERT_INT_EQ(parse("GET", "/key?&remoteSystemID=Bob&&", &r), 200);
}

TEST(query_decoding)
{
	struct skip_req r;
	struct skip_err err;
	char big[SKIP_TARGET_MAX + 64];

	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=KP%5FB%201", &r), 200);
	ASSERT_STR_EQ(r.remote, "KP_B 1");
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=a+b", &r), 200);
	ASSERT_STR_EQ(r.remote, "a b");
	ASSERT_INT_EQ(parse("GET", "/key?remote%53ystemID=Bob", &r), 200);
	ASSERT_STR_EQ(r.remote, "Bob");
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=a%2", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=a%zz", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=a%00b", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=a%0Ab", &r), 400);
	memset(big, 'a', sizeof(big));
	memcpy(big, "/key?remoteSystemID=", 20);
	big[20 + SKIP_ID_MAX] = '\0';
	ASSERT_INT_EQ(parse("GET", big, &r), 200);
	big[20 + SKIP_ID_MAX] = 'a';
	big[21 + SKIP_ID_MAX] = '\0';
	ASSERT_INT_EQ(parse("GET", big, &r), 400);
	big[21 + SKIP_ID_MAX] = 'a';
	big[sizeof(big) - 1] = '\0';
	ASSERT_INT_EQ(skip_req_parse("GET", big, &lim, &r, &err), -1);
	ASSERT_INT_EQ(err.status, 400);
	ASSERT_TRUE(strstr(err.msg, "longer") != NULL);
	/* Error messages never echo control characters or bare quotes:
	 * input is quoted escaped. */
	ASSERT_INT_EQ(skip_req_parse("GET", "/key?x%22%0a=1", &lim, &r, &err),
		      -1);
	ASSERT_TRUE(strchr(err.msg, '\n') == NULL);
	ASSERT_TRUE(strstr(err.msg, "'x\\\"\\x0a'") != NULL);
	/* IDs are UTF-8 (RFC 3629): an invalid sequence is refused, and
	 * the message quoting it is ASCII. */
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=B%FF", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=B%C0%AF", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=B%ED%A0%80", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key?remoteSystemID=%E6%97%A5", &r), 200);
	ASSERT_INT_EQ(skip_req_parse("GET", "/key?%FF%FE=1", &lim, &r, &err),
		      -1);
	ASSERT_TRUE(strstr(err.msg, "\\xff\\xfe") != NULL);
}

TEST(key_by_id)
{
	static const uint8_t want[16] = {
		0xbc, 0x49, 0x04, 0x19, 0x7d, 0x60, 0x48, 0x7f,
		0xad, 0xc1, 0x4d, 0xdc, 0xc1, 0x77, 0xc1, 0x39,
	};
	struct skip_req r;

	ASSERT_INT_EQ(parse("GET",
			    "/key/bc4904197d60487fadc14ddcc177c139"
			    "?remoteSystemID=Alice",
			    &r),
		      200);
	ASSERT_INT_EQ(r.route, SKIP_R_KEY_GET);
	ASSERT_INT_EQ(r.key_id_len, 16);
	ASSERT_MEM_EQ(r.key_id, want, 16);
	ASSERT_STR_EQ(r.remote, "Alice");
	/* Any case (the draft's own example is mixed case). */
	ASSERT_INT_EQ(parse("GET",
			    "/key/BC4904197D60487fadc14ddcc177C139"
			    "?remoteSystemID=Alice",
			    &r),
		      200);
	ASSERT_MEM_EQ(r.key_id, want, 16);
	/* The draft's 48-digit example parses (then is unknown to a 014 KP). */
	ASSERT_INT_EQ(
	    parse("GET",
		  "/key/1726e9AE76234FB1dd1283d4dca1911e1f93864d70f3069e"
		  "?remoteSystemID=Alice",
		  &r),
	    200);
	ASSERT_INT_EQ(r.key_id_len, 24);
	/* Malformed keyIds are 400 (draft Table 7). */
	ASSERT_INT_EQ(parse("GET", "/key/?remoteSystemID=Alice", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key/abc?remoteSystemID=Alice", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/key/zz?remoteSystemID=Alice", &r), 400);
	ASSERT_INT_EQ(parse("GET",
			    "/key/bc490419-7d60-487f-adc1-4ddcc177c139"
			    "?remoteSystemID=Alice",
			    &r),
		      400);
	ASSERT_INT_EQ(parse("GET",
			    "/key/00000000000000000000000000000000"
			    "00000000000000000000000000000000"
			    "00?remoteSystemID=Alice",
			    &r),
		      400);
	ASSERT_INT_EQ(parse("GET", "/key/bc4904197d60487fadc14ddcc177c139", &r),
		      400);
	ASSERT_INT_EQ(parse("GET",
			    "/key/bc4904197d60487fadc14ddcc177c139"
			    "?remoteSystemID=Alice&size=256",
			    &r),
		      400);
}

TEST(entropy_params)
{
	struct skip_req r;

	ASSERT_INT_EQ(parse("GET", "/entropy?minentropy=128", &r), 200);
	ASSERT_INT_EQ(r.entropy_bits, 128);
	ASSERT_INT_EQ(parse("GET", "/entropy?minentropy=8", &r), 200);
	ASSERT_INT_EQ(parse("GET", "/entropy?minentropy=4096", &r), 200);
	ASSERT_INT_EQ(parse("GET", "/entropy?minentropy=4104", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/entropy?minentropy=0", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/entropy?minentropy=12", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/entropy?size=128", &r), 400);
	ASSERT_INT_EQ(parse("GET", "/capabilities?x=1", &r), 400);
}

TEST(remote_globs)
{
	static const char pats[4][SKIP_ID_MAX + 1] = {
		"SAE_B",
		"KP_*_LOC1",
		"node?",
		"rack[0-3][!x]",
	};

	ASSERT_TRUE(skip_remote_allowed(pats, 4, "SAE_B"));
	ASSERT_TRUE(!skip_remote_allowed(pats, 4, "SAE_BB"));
	ASSERT_TRUE(!skip_remote_allowed(pats, 4, "sae_b"));
	ASSERT_TRUE(skip_remote_allowed(pats, 4, "KP_paris_LOC1"));
	ASSERT_TRUE(skip_remote_allowed(pats, 4, "KP__LOC1"));
	ASSERT_TRUE(!skip_remote_allowed(pats, 4, "KP_paris_LOC2"));
	ASSERT_TRUE(skip_remote_allowed(pats, 4, "node7"));
	ASSERT_TRUE(!skip_remote_allowed(pats, 4, "node77"));
	ASSERT_TRUE(skip_remote_allowed(pats, 4, "rack2a"));
	ASSERT_TRUE(!skip_remote_allowed(pats, 4, "rack2x"));
	ASSERT_TRUE(!skip_remote_allowed(pats, 4, "rack5a"));
	ASSERT_TRUE(!skip_remote_allowed(pats, 0, "SAE_B"));
}

TEST(psk_file)
{
	static const char good[] =
	    "# routers\n"
	    "\n"
	    "r1:00112233445566778899aabbccddeeff\r\n"
	    "  router-2:00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff  \n";
	struct skip_psk_set *s;
	uint8_t key[SKIP_PSK_MAX];
	char path[] = "/tmp/test_skip_pskXXXXXX";
	int fd;

	quiet();
	s = skip_psk_parse(good, sizeof(good) - 1, "good");
	ASSERT_TRUE(s != NULL);
	ASSERT_INT_EQ(skip_psk_count(s), 2);
	ASSERT_INT_EQ(skip_psk_lookup(s, "r1", 2, key, sizeof(key)), 16);
	ASSERT_INT_EQ(key[15], 0xff);
	ASSERT_INT_EQ(skip_psk_lookup(s, "router-2", 8, key, sizeof(key)), 32);
	ASSERT_INT_EQ(key[10], 0xaa);
	ASSERT_INT_EQ(skip_psk_lookup(s, "router", 6, key, sizeof(key)), -1);
	ASSERT_INT_EQ(skip_psk_lookup(s, "r1x", 2, key, sizeof(key)), 16);
	ASSERT_INT_EQ(skip_psk_lookup(s, "r1", 2, key, 8), -1);
	skip_psk_free(s);
	skip_psk_free(NULL);

#define BAD(txt) \
	ASSERT_TRUE(skip_psk_parse(txt, sizeof(txt) - 1, "bad") == NULL)
	BAD("");
	BAD("# only a comment\n");
	BAD("r1 00112233445566778899aabbccddeeff\n");
	BAD(":00112233445566778899aabbccddeeff\n");
	BAD("r1:00112233445566778899aabbccddee\n"); /* 15 octets */
	BAD("r1:00112233445566778899aabbccddeeff0\n"); /* odd */
	BAD("r1:00112233445566778899aabbccddeefg\n");
	BAD("r 1:00112233445566778899aabbccddeeff\n");
	BAD("r1:00112233445566778899aabbccddeeff\nr1:00112233445566778899aabbccddeeff\n");
#undef BAD

	/* A PSK file others can read is refused at start. */
	fd = mkstemp(path);
	ASSERT_TRUE(fd >= 0);
	ASSERT_TRUE(write(fd, good, sizeof(good) - 1) ==
		    (ssize_t)(sizeof(good) - 1));
	close(fd);
	chmod(path, 0644);
	ASSERT_TRUE(skip_psk_load(path) == NULL);
	chmod(path, 0600);
	s = skip_psk_load(path);
	ASSERT_TRUE(s != NULL);
	skip_psk_free(s);
	unlink(path);
}

static const char base_conf[] = "psk_file = /x/psk\n"
				"local_system_id = SAE_A\n"
				"remote_system_id = SAE_B\n"
				"remote_system_id = KP_*\n"
				"kme_url = https://127.0.0.1:8443/\n"
				"kme_ca_file = /x/ca\n"
				"kme_cert_file = /x/crt\n"
				"kme_key_file = /x/key\n";

static int
load_with(const char *extra)
{
	struct skip_conf c;
	char buf[2048];

	snprintf(buf, sizeof(buf), "%s%s", base_conf, extra);
	skip_conf_defaults(&c);
	return skip_conf_load_buf(&c, buf, strlen(buf), "t.conf");
}

TEST(config)
{
	struct skip_conf c;

	quiet();
	skip_conf_defaults(&c);
	ASSERT_INT_EQ(
	    skip_conf_load_buf(&c, base_conf, sizeof(base_conf) - 1, "t"), 0);
	ASSERT_INT_EQ(c.n_remote_ids, 2);
	ASSERT_STR_EQ(c.remote_ids[1], "KP_*");
	ASSERT_INT_EQ(c.port, 443);
	ASSERT_INT_EQ(c.key_size_default, 256);
	ASSERT_TRUE(strstr(c.tls12_ciphers, "DHE-PSK-AES256-CBC-SHA384") !=
		    NULL);
	ASSERT_STR_EQ(c.tls13_ciphersuites, "TLS_AES_256_GCM_SHA384");

	ASSERT_INT_EQ(
	    load_with("port = 8443\nkme_timeout = 250ms\nthreads = 2\n"), 0);
	ASSERT_INT_EQ(load_with("bogus = 1\n"), -1);
	ASSERT_INT_EQ(load_with("port = 70000\n"), -1);
	ASSERT_INT_EQ(load_with("key_size_max = 100\n"), -1);
	ASSERT_INT_EQ(load_with("key_size_max = 260\n"), -1);
	ASSERT_INT_EQ(load_with("key_size_default = 1024\n"), -1);
	ASSERT_INT_EQ(load_with("kme_retries = many\n"), -1);
	/* The key pool: 0..1024 keys, 1s..1h. */
	ASSERT_INT_EQ(c.key_pool, 64);
	ASSERT_U64_EQ(c.key_pool_max_age_ms, 10000);
	ASSERT_INT_EQ(load_with("key_pool = 0\nkey_pool_max_age = 1s\n"), 0);
	ASSERT_INT_EQ(load_with("key_pool = 1024\nkey_pool_max_age = 1h\n"), 0);
	ASSERT_INT_EQ(load_with("key_pool = 1025\n"), -1);
	ASSERT_INT_EQ(load_with("key_pool = -1\n"), -1);
	ASSERT_INT_EQ(load_with("key_pool_max_age = 999ms\n"), -1);
	ASSERT_INT_EQ(load_with("key_pool_max_age = 2h\n"), -1);
	ASSERT_INT_EQ(load_with("key_pool_max_age = soon\n"), -1);
	ASSERT_INT_EQ(load_with("kme_timeout = 0\n"), -1);
	ASSERT_INT_EQ(load_with("tls_mode = magic\n"), -1);
	ASSERT_INT_EQ(load_with("kme_url = http://127.0.0.1:8080\n"), -1);
	ASSERT_INT_EQ(load_with("[section]\nport = 1\n"), -1);
	/* Certificate mode needs its files, including the router CA. */
	ASSERT_INT_EQ(load_with("tls_mode = certificate\n"), -1);
	ASSERT_INT_EQ(
	    load_with(
		"tls_mode = certificate\ncert_file = /c\nkey_file = /k\n"),
	    -1);
	ASSERT_INT_EQ(
	    load_with("tls_mode = certificate\ncert_file = /c\nkey_file = /k\n"
		      "client_ca_file = /ca\n"),
	    0);
	/* Missing required keys. */
	skip_conf_defaults(&c);
	ASSERT_INT_EQ(skip_conf_load_buf(&c, "psk_file = /x\n", 14, "t"), -1);
}

/* The resources that need no KME (kme is NULL: any KME call would crash). */
TEST(api_without_kme)
{
	static struct skip_metrics m;
	struct skip_conf c;
	struct skip_api api = { &c, NULL, NULL, &m, NULL };
	struct skip_reply rep;
	struct skip_req req;
	struct skip_err err;
	size_t hexlen;

	quiet();
	skip_conf_defaults(&c);
	ASSERT_INT_EQ(
	    skip_conf_load_buf(&c, base_conf, sizeof(base_conf) - 1, "t"), 0);

	ASSERT_INT_EQ(skip_req_parse("GET", "/capabilities", &lim, &req, &err),
		      0);
	skip_api_serve(&api, &req, "r1", &rep);
	ASSERT_INT_EQ(rep.status, 200);
	ASSERT_STR_EQ(rep.body,
		      "{\"entropy\":true,\"key\":true,\"algorithm\":"
		      "\"QKD via ETSI GS QKD 014\",\"localSystemID\":\"SAE_A\","
		      "\"remoteSystemID\":[\"SAE_B\",\"KP_*\"]}");
	ASSERT_INT_EQ(rep.len, strlen(rep.body));
	skip_reply_clear(&rep);

	ASSERT_INT_EQ(skip_req_parse("GET", "/entropy?minentropy=64", &lim,
				     &req, &err),
		      0);
	skip_api_serve(&api, &req, "r1", &rep);
	ASSERT_INT_EQ(rep.status, 200);
	ASSERT_TRUE(strncmp(rep.body, "{\"randomStr\":\"", 14) == 0);
	hexlen = strspn(rep.body + 14, "0123456789ABCDEF");
	ASSERT_INT_EQ(hexlen, 16);
	ASSERT_STR_EQ(rep.body + 14 + 16, "\",\"minentropy\":64}");
	skip_reply_clear(&rep);

	/* Refused before any KME call. */
	ASSERT_INT_EQ(skip_req_parse("GET", "/key?remoteSystemID=XP_LOC2", &lim,
				     &req, &err),
		      0);
	skip_api_serve(&api, &req, "r1", &rep);
	ASSERT_INT_EQ(rep.status, 400);
	ASSERT_STR_EQ(rep.body,
		      "{\"message\":\"unknown remoteSystemID 'XP_LOC2' "
		      "(see /capabilities)\"}");
	skip_reply_clear(&rep);
	ASSERT_INT_EQ(skip_req_parse("GET",
				     "/key/00112233?remoteSystemID=SAE_B", &lim,
				     &req, &err),
		      0);
	skip_api_serve(&api, &req, "r1", &rep);
	ASSERT_INT_EQ(rep.status, 400);
	ASSERT_TRUE(strstr(rep.body, "32 hex digits") != NULL);
	skip_reply_clear(&rep);

	skip_api_error(&rep, 405, "only GET");
	ASSERT_TRUE(rep.allow_get);
	ASSERT_STR_EQ(rep.body, "{\"message\":\"only GET\"}");
	skip_reply_clear(&rep);
	ASSERT_TRUE(rep.body == NULL);
}

/* The client side's PSK text (qkdlab-key, qkdlab-skip-probe). */
TEST(client_psk_text)
{
	uint8_t psk[16];
	char found[16] = "";
	char t1[] = "# keys\n\nr1:00ff\r\nr2:0102030405\n";
	char t2[] = "r1:00ff\nr2:0102\n";
	char t3[] = "\n0a0b0c\n";
	char t4[] = "r1:00ff\n";
	char t5[] = "r1:zz\n";
	char t6[] = "a-very-long-identity:00\n";

	ASSERT_INT_EQ(skip_psk_from_text(t1, "r2", NULL, 0, psk, sizeof(psk)),
		      5);
	ASSERT_INT_EQ(psk[4], 0x05);
	/* No identity given: the first line's, reported back. */
	ASSERT_INT_EQ(skip_psk_from_text(t2, NULL, found, sizeof(found), psk,
					 sizeof(psk)),
		      2);
	ASSERT_STR_EQ(found, "r1");
	ASSERT_INT_EQ(psk[1], 0xff);
	/* A bare line serves any identity. */
	ASSERT_INT_EQ(skip_psk_from_text(t3, "x", NULL, 0, psk, sizeof(psk)),
		      3);
	/* Refused: no line for the identity, bad hex, identity too long. */
	ASSERT_INT_EQ(skip_psk_from_text(t4, "r9", NULL, 0, psk, sizeof(psk)),
		      -1);
	ASSERT_INT_EQ(skip_psk_from_text(t5, "r1", NULL, 0, psk, sizeof(psk)),
		      -1);
	ASSERT_INT_EQ(skip_psk_from_text(t6, NULL, found, 8, psk, sizeof(psk)),
		      -1);
}

TEST_MAIN(TEST_CASE(routes_and_codes), TEST_CASE(key_new_params),
	  TEST_CASE(query_decoding), TEST_CASE(key_by_id),
	  TEST_CASE(entropy_params), TEST_CASE(remote_globs),
	  TEST_CASE(psk_file), TEST_CASE(client_psk_text), TEST_CASE(config),
	  TEST_CASE(api_without_kme))
