/*
 * test_kme_req.c — ETSI 014 request parsers and validators of kme-sim
 * (kme-sim/kme_req.c), and its configuration address/ID helpers.
 */
#include "harness.h"

#include "../kme-sim/kme.h"

static const struct kme_limits lim = {
	.key_size = 256,
	.min_key_size = 64,
	.max_key_size = 1024,
	.max_key_per_request = 128,
	.max_sae_id_count = 2,
};

static int
enc_body(const char *json, struct kme_enc_req *r, char *err)
{
	if (kme_req_enc_body(json, strlen(json), r, err, KME_ERR_MAX) < 0)
		return -1;
	return kme_req_enc_validate(r, &lim, err, KME_ERR_MAX);
}

TEST(enc_body_defaults_and_fields)
{
	struct kme_enc_req r;
	char err[KME_ERR_MAX];

	ASSERT_INT_EQ(enc_body("{}", &r, err), 0);
	ASSERT_INT_EQ(r.number, 1);
	ASSERT_INT_EQ(r.size, 256);
	ASSERT_INT_EQ(enc_body("{\"number\":3,\"size\":1024,"
			       "\"additional_slave_SAE_IDs\":[\"B2\",\"B3\"],"
			       "\"extension_optional\":[{\"abc_x\":1}]}",
			       &r, err),
		      0);
	ASSERT_INT_EQ(r.number, 3);
	ASSERT_INT_EQ(r.size, 1024);
	ASSERT_INT_EQ(r.nslaves, 2);
	ASSERT_STR_EQ(r.slaves[1], "B3");
	ASSERT_INT_EQ(enc_body(" {\"number\": 2.0}\n", &r, err), 0);
	ASSERT_INT_EQ(r.number, 2);
}

TEST(enc_body_mandated_messages)
{
	struct kme_enc_req r;
	char err[KME_ERR_MAX];

	ASSERT_INT_EQ(enc_body("{\"size\":260}", &r, err), -1);
	ASSERT_STR_EQ(err, "size shall be a multiple of 8");
	ASSERT_INT_EQ(
	    enc_body("{\"extension_mandatory\":[{\"abc_route\":\"x\"}]}", &r,
		     err),
	    -1);
	ASSERT_STR_EQ(err,
		      "not all extension_mandatory parameters are supported");
	ASSERT_STR_EQ(r.ext_unsupported, "abc_route");
	/* An empty mandatory list asks for nothing. */
	ASSERT_INT_EQ(enc_body("{\"extension_mandatory\":[]}", &r, err), 0);
}

TEST(enc_body_refusals_say_what)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{ "", "empty" },
		{ "{", "not valid JSON" },
		{ "{} {}", "one JSON object" },
		{ "[]", "one JSON object" },
		{ "{\"number\":0}", "at least 1" },
		{ "{\"number\":129}", "max_key_per_request" },
		{ "{\"number\":-1}", "non-negative" },
		{ "{\"number\":1e30}", "non-negative" },
		{ "{\"number\":\"1\"}", "non-negative" },
		{ "{\"number\":1,\"number\":2}", "given once" },
		{ "{\"size\":56}", "min_key_size" },
		{ "{\"size\":2048}", "max_key_size" },
		{ "{\"additional_slave_SAE_IDs\":[\"a\",\"b\",\"c\"]}",
		  "max_SAE_ID_count" },
		{ "{\"additional_slave_SAE_IDs\":[\"a\",\"a\"]}", "twice" },
		{ "{\"additional_slave_SAE_IDs\":[1]}", "SAE IDs" },
		{ "{\"additional_slave_SAE_IDs\":[\"\"]}", "SAE IDs" },
		{ "{\"additional_slave_SAE_IDs\":{}}", "array" },
		{ "{\"extension_optional\":[1]}", "array of objects" },
	};
	struct kme_enc_req r;
	char err[KME_ERR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (enc_body(cases[i].json, &r, err) != -1 ||
		    strstr(err, cases[i].want) == NULL)
			TH_FAIL("%s: got '%s', want '%s'", cases[i].json, err,
				cases[i].want);
	}
	/* A body with an embedded NUL is not JSON text. */
	ASSERT_INT_EQ(kme_req_enc_body("{}\0x", 4, &r, err, sizeof(err)), -1);
}

/* RFC 8259 8.1: JSON text is UTF-8; a \u0000 would cut a C string. */
TEST(enc_body_strings_are_utf8_without_nul)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{ "{\"additional_slave_SAE_IDs\":[\"B\xff\"]}",
		  "not valid UTF-8" },
		{ "{\"additional_slave_SAE_IDs\":[\"B\xc0\xaf\"]}",
		  "not valid UTF-8" },
		{ "{\"additional_slave_SAE_IDs\":[\"B\xed\xa0\x80\"]}",
		  "not valid UTF-8" },
		{ "{\"additional_slave_SAE_IDs\":[\"B2\\u0000junk\"]}",
		  "\\u0000" },
		{ "{\"x\\u0000\":1}", "\\u0000" },
	};
	struct kme_enc_req r;
	char err[KME_ERR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (enc_body(cases[i].json, &r, err) != -1 ||
		    strstr(err, cases[i].want) == NULL)
			TH_FAIL("%s: got '%s', want '%s'", cases[i].json, err,
				cases[i].want);
	}
	/* An escaped backslash before u0000 is text, not a NUL. */
	ASSERT_INT_EQ(
	    enc_body("{\"extension_optional\":[{\"a\":\"\\\\u0000\"}]}", &r,
		     err),
	    0);
}

TEST(enc_body_ignores_unknown_members)
{
	struct kme_enc_req r;
	char err[KME_ERR_MAX];

	ASSERT_INT_EQ(
	    enc_body("{\"number\":2,\"sise\":256,\"vendor\":{\"a\":[1]}}", &r,
		     err),
	    0);
	ASSERT_INT_EQ(r.number, 2);
	ASSERT_INT_EQ(r.unknown, 2);
	ASSERT_STR_EQ(r.unknown_first, "sise");
	/* Known members of the wrong type are still refused. */
	ASSERT_INT_EQ(enc_body("{\"sise\":256,\"size\":\"256\"}", &r, err), -1);
}

TEST(quoted_input_is_escaped_and_bounded)
{
	struct kme_kv kv[] = {
		{ "number", "1\"\\\x01"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }
	};
	struct kme_kv bad[] = { { "number", "\xff" } };
	struct kme_enc_req r;
	char err[KME_ERR_MAX];

	ASSERT_INT_EQ(kme_req_enc_query(kv, 1, &r, err, sizeof(err)), -1);
	ASSERT_TRUE(strstr(err, "\"1\\\"\\\\\\x01aaa") != NULL);
	ASSERT_TRUE(strstr(err, "...\"") != NULL);
	ASSERT_INT_EQ(kme_req_enc_query(bad, 1, &r, err, sizeof(err)), -1);
	ASSERT_TRUE(strstr(err, "not valid UTF-8") != NULL);
	ASSERT_TRUE(utf8_valid(err, strlen(err)));
}

TEST(enc_query)
{
	struct kme_kv ok[] = { { "number", "4" }, { "size", "512" } };
	struct kme_kv dup[] = { { "size", "8" }, { "size", "16" } };
	struct kme_kv neg[] = { { "number", "-4" } };
	struct kme_kv big[] = { { "number", "4294967296" } };
	struct kme_kv nov[] = { { "number", NULL } };
	struct kme_kv other[] = { { "key_ID", "x" } };
	struct kme_enc_req r;
	char err[KME_ERR_MAX];

	ASSERT_INT_EQ(kme_req_enc_query(ok, 2, &r, err, sizeof(err)), 0);
	ASSERT_INT_EQ(kme_req_enc_validate(&r, &lim, err, sizeof(err)), 0);
	ASSERT_INT_EQ(r.number, 4);
	ASSERT_INT_EQ(r.size, 512);
	ASSERT_INT_EQ(kme_req_enc_query(dup, 2, &r, err, sizeof(err)), -1);
	ASSERT_INT_EQ(kme_req_enc_query(neg, 1, &r, err, sizeof(err)), -1);
	ASSERT_INT_EQ(kme_req_enc_query(big, 1, &r, err, sizeof(err)), -1);
	ASSERT_INT_EQ(kme_req_enc_query(nov, 1, &r, err, sizeof(err)), -1);
	ASSERT_INT_EQ(kme_req_enc_query(other, 1, &r, err, sizeof(err)), -1);
	ASSERT_TRUE(strstr(err, "use POST") != NULL);
}

TEST(dec_body_and_query)
{
	static struct kme_dec_req r;
	struct kme_kv one[] = { { "key_ID",
				  "BC490419-7D60-487F-ADC1-4DDCC177C139" } };
	struct kme_kv two[] = {
		{ "key_ID", "bc490419-7d60-487f-adc1-4ddcc177c139" },
		{ "key_ID", "bc490419-7d60-487f-adc1-4ddcc177c13a" }
	};
	const char *body =
	    "{\"key_IDs\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\"},"
	    "{\"key_ID\":\"550e8400-e29b-41d4-a716-446655440000\","
	    "\"key_ID_extension\":{}}],\"key_IDs_extension\":{}}";
	char err[KME_ERR_MAX];

	ASSERT_INT_EQ(kme_req_dec_query(one, 1, &r, err, sizeof(err)), 0);
	ASSERT_INT_EQ(r.nids, 1);
	ASSERT_INT_EQ(r.ids[0][0], 0xbc);
	ASSERT_INT_EQ(kme_req_dec_query(two, 2, &r, err, sizeof(err)), -1);
	ASSERT_INT_EQ(kme_req_dec_query(two, 0, &r, err, sizeof(err)), -1);
	ASSERT_INT_EQ(kme_req_dec_body(body, strlen(body), 128, "A", &r, err,
				       sizeof(err)),
		      0);
	ASSERT_INT_EQ(r.nids, 2);
	ASSERT_INT_EQ(r.ids[1][15], 0x00);
	ASSERT_INT_EQ(kme_req_dec_body(body, strlen(body), 1, "A", &r, err,
				       sizeof(err)),
		      -1);
	ASSERT_TRUE(strstr(err, "more than 1") != NULL);
	{
		static const char *bad[] = {
			"{}",
			"{\"key_IDs\":[]}",
			"{\"key_IDs\":[{}]}",
			"{\"key_IDs\":[{\"key_ID\":\"nope\"}]}",
			"{\"key_IDs\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139x\"}]}",
			"{\"key_IDs\":[{\"key_ID\":1}]}",
			"{\"key_IDs\":[\"x\"]}",
			"{\"keys\":[]}",
			"{\"key_IDs\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\\u0000x\"}]}",
			"{\"key_IDs\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\","
			"\"master_SAE_ID\":\"B\"}]}",
			"{\"key_IDs\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\","
			"\"master_SAE_ID\":1}]}",
			"{\"key_IDs\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\"}],"
			"\"key_IDs\":[]}",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (kme_req_dec_body(bad[i], strlen(bad[i]), 128, "A",
					     &r, err, sizeof(err)) != -1)
				TH_FAIL("accepted %s", bad[i]);
		}
	}
	{
		/* Members Table 12 does not define are ignored; a master_SAE_ID
		 * that names the request's master agrees with it. */
		const char *extra =
		    "{\"key_IDs\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-"
		    "4ddcc177c139\",\"master_SAE_ID\":\"A\",\"other\":1}],"
		    "\"note\":\"x\"}";

		ASSERT_INT_EQ(kme_req_dec_body(extra, strlen(extra), 128, "A",
					       &r, err, sizeof(err)),
			      0);
		ASSERT_INT_EQ(r.nids, 1);
		ASSERT_INT_EQ(r.unknown, 2);
		ASSERT_STR_EQ(r.unknown_first, "note");
	}
}

TEST(split_query)
{
	char buf[] = "number=3&size=%32%35%36&x+y=a+b&flag";
	char bad[] = "a=%4";
	char nul[] = "a=%00";
	struct kme_kv kv[8];
	size_t n;

	ASSERT_INT_EQ(kme_req_split_query(buf, kv, 8, &n), 0);
	ASSERT_INT_EQ(n, 4);
	ASSERT_STR_EQ(kv[1].value, "256");
	ASSERT_STR_EQ(kv[2].key, "x y");
	ASSERT_STR_EQ(kv[2].value, "a b");
	ASSERT_TRUE(kv[3].value == NULL);
	ASSERT_INT_EQ(kme_req_split_query(bad, kv, 8, &n), -1);
	ASSERT_INT_EQ(kme_req_split_query(nul, kv, 8, &n), -1);
}

TEST(queries_are_utf8)
{
	char buf[] = "number=%ff";
	char ok[] = "key_ID=%e6%97%a5";
	struct kme_kv kv[8];
	static struct kme_dec_req d;
	struct kme_enc_req r;
	char err[KME_ERR_MAX];
	size_t n;

	ASSERT_INT_EQ(kme_req_split_query(buf, kv, 8, &n), 0);
	ASSERT_INT_EQ(kme_req_enc_query(kv, n, &r, err, sizeof(err)), -1);
	ASSERT_TRUE(strstr(err, "not valid UTF-8") != NULL);
	ASSERT_INT_EQ(kme_req_split_query(ok, kv, 8, &n), 0);
	ASSERT_INT_EQ(kme_req_dec_query(kv, n, &d, err, sizeof(err)), -1);
	ASSERT_TRUE(strstr(err, "not a UUID") != NULL);
	ASSERT_TRUE(strstr(err, "\\xe6\\x97\\xa5") != NULL);
}

TEST(cfg_helpers)
{
	struct kme_addr a;

	ASSERT_INT_EQ(kme_cfg_parse_addr("127.0.0.1:8443", &a), 0);
	ASSERT_STR_EQ(a.host, "127.0.0.1");
	ASSERT_INT_EQ(a.port, 8443);
	ASSERT_INT_EQ(kme_cfg_parse_addr("[::1]:9", &a), 0);
	ASSERT_STR_EQ(a.host, "::1");
	ASSERT_INT_EQ(kme_cfg_parse_addr("host", &a), -1);
	ASSERT_INT_EQ(kme_cfg_parse_addr("host:0", &a), -1);
	ASSERT_INT_EQ(kme_cfg_parse_addr("host:65536", &a), -1);
	ASSERT_INT_EQ(kme_cfg_parse_addr(":80", &a), -1);
	ASSERT_TRUE(kme_cfg_valid_id("SAE_A-1.x"));
	ASSERT_TRUE(!kme_cfg_valid_id(""));
	ASSERT_TRUE(!kme_cfg_valid_id("a/b"));
	ASSERT_TRUE(!kme_cfg_valid_id("a b"));
	ASSERT_TRUE(!kme_cfg_valid_id(
	    "0123456789012345678901234567890123456789012345678901234567890123456789"));
}

/* A minimal valid kme-sim.conf with one [peer] section, then more. */
static int
cfg_with_peer(struct kme_cfg *c, const char *peer_lines)
{
	char buf[2048];

	snprintf(
	    buf, sizeof(buf),
	    "kme_id = KME_A\nlisten = 127.0.0.1:1\nlink_listen = 127.0.0.1:2\n"
	    "cert = c\nkey = k\nsae_ca = s\nlink_cert = lc\nlink_key = lk\n"
	    "link_ca = la\ndatabase = d\nsaes = SAE_A\n"
	    "[peer KME_B]\naddress = 127.0.0.1:3\nsaes = SAE_B\n%s",
	    peer_lines);
	return kme_cfg_load_buf(c, buf, strlen(buf), "test.conf");
}

TEST(cfg_link_model)
{
	static struct kme_cfg c;
	const struct kme_peer_cfg *p = &c.peers[0];

	/* Without link_model the link keeps its constant key_rate. */
	ASSERT_INT_EQ(cfg_with_peer(&c, "key_rate = 5000\n"), 0);
	ASSERT_TRUE(!p->model);
	ASSERT_U64_EQ(p->key_rate, 5000);
	/* The gys preset by default, with Ma et al.'s Table I figures. */
	ASSERT_INT_EQ(cfg_with_peer(&c, "link_model = decoy-bb84\n"), 0);
	ASSERT_TRUE(p->model);
	ASSERT_STR_EQ(p->preset->name, "gys");
	ASSERT_TRUE(p->qkd.det_eff == 0.045 && p->qkd.dark_yield == 1.7e-6 &&
		    p->qkd.misalign == 0.033 && p->qkd.ec_ineff == 1.22);
	ASSERT_TRUE(p->qber_abort == QKD_QBER_ABORT_DEFAULT);
	/* Keys override the preset wherever the preset line stands. */
	ASSERT_INT_EQ(
	    cfg_with_peer(&c, "fibre_length_km = 25.5\nmu = 0.4\n"
			      "link_model = decoy-bb84\nlink_preset = field\n"
			      "qber_abort = 0.08\nrepetition_rate_hz = 1e8\n"),
	    0);
	ASSERT_STR_EQ(p->preset->name, "field");
	ASSERT_TRUE(p->qkd.length_km == 25.5 && p->qkd.mu == 0.4 &&
		    p->qkd.rep_rate_hz == 1e8 && p->qber_abort == 0.08);
	ASSERT_TRUE(p->qkd.atten_db_km ==
		    qkd_preset_find("field")->params.atten_db_km);
	/* Refused: out of range, not a number, unknown names, model keys
	 * without a model. */
	ASSERT_INT_EQ(
	    cfg_with_peer(&c,
			  "link_model = decoy-bb84\ndetector_efficiency = 0\n"),
	    -1);
	ASSERT_INT_EQ(
	    cfg_with_peer(&c, "link_model = decoy-bb84\nmisalignment = 0.6\n"),
	    -1);
	ASSERT_INT_EQ(
	    cfg_with_peer(&c,
			  "link_model = decoy-bb84\nec_inefficiency = 0.9\n"),
	    -1);
	ASSERT_INT_EQ(cfg_with_peer(&c, "link_model = decoy-bb84\nmu = 1x\n"),
		      -1);
	ASSERT_INT_EQ(cfg_with_peer(&c, "link_model = decoy-bb84\nmu = inf\n"),
		      -1);
	ASSERT_INT_EQ(
	    cfg_with_peer(&c, "link_model = decoy-bb84\nqber_abort = 0\n"), -1);
	ASSERT_INT_EQ(
	    cfg_with_peer(&c, "link_model = decoy-bb84\nlink_preset = GYS\n"),
	    -1);
	ASSERT_INT_EQ(cfg_with_peer(&c, "link_model = bb84\n"), -1);
	ASSERT_INT_EQ(cfg_with_peer(&c, "fibre_length_km = 10\n"), -1);
}

TEST_MAIN(TEST_CASE(cfg_link_model), TEST_CASE(enc_body_defaults_and_fields),
	  TEST_CASE(enc_body_mandated_messages),
	  TEST_CASE(enc_body_refusals_say_what), TEST_CASE(enc_query),
	  TEST_CASE(dec_body_and_query), TEST_CASE(split_query),
	  TEST_CASE(cfg_helpers),
	  TEST_CASE(enc_body_strings_are_utf8_without_nul),
	  TEST_CASE(enc_body_ignores_unknown_members),
	  TEST_CASE(quoted_input_is_escaped_and_bounded),
	  TEST_CASE(queries_are_utf8))
