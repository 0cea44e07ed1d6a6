/*
 * test_mka_http_resp.c — the SKIP client's HTTP/1.1 response parser.
 *
 * Well-formed identity and chunked bodies (RFC 9112 7.1) decode; every
 * malformed shape is refused without reading or writing out of bounds,
 * including the signed and oversized chunk sizes that once made the old
 * inline parser copy ~2^64 octets (docs/SECURITY.md).
 */
#include "harness.h"

#include "http_resp.h"

static int
parse(const char *resp, char *out, size_t cap)
{
	return http_resp_parse(resp, strlen(resp), out, cap);
}

TEST(identity_body)
{
	char out[64];

	ASSERT_INT_EQ(
	    parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		  "\r\n{\"keyId\":\"ab\"}",
		  out, sizeof(out)),
	    200);
	ASSERT_STR_EQ(out, "{\"keyId\":\"ab\"}");
	ASSERT_INT_EQ(parse("HTTP/1.0 400\r\n\r\n", out, sizeof(out)), 400);
	ASSERT_STR_EQ(out, "");
}

TEST(chunked_body)
{
	char out[64];

	ASSERT_INT_EQ(
	    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "5\r\nhello\r\nA;ext=1\r\n, world!!!\r\n0\r\n\r\n",
		  out, sizeof(out)),
	    200);
	ASSERT_STR_EQ(out, "hello, world!!!");
	ASSERT_INT_EQ(
	    parse("HTTP/1.1 503 x\r\ntransfer-encoding:chunked\r\n\r\n"
		  "0\r\n\r\n",
		  out, sizeof(out)),
	    503);
	ASSERT_STR_EQ(out, "");
}

TEST(bad_chunks_refused)
{
	static const char *const bad[] = {
		/* a signed size once wrapped the bounds checks */
		"5\r\nabcde\r\n-3\r\nxx",
		"+5\r\nabcde\r\n0\r\n\r\n",
		"ffffffffffffffff\r\nab\r\n0\r\n\r\n",
		"123456789\r\nab\r\n0\r\n\r\n",
		"9\r\nabc\r\n0\r\n\r\n", /* runs past the end */
		"3\r\nabcde\r\n0\r\n\r\n", /* no CRLF after data */
		"3\r\nabc", /* cut short */
		"\r\nabc\r\n0\r\n\r\n", /* no size */
		"3 \r\nabc\r\n0\r\n\r\n", /* junk after size */
		"3\r\nabc\r\n", /* no last chunk */
	};
	char resp[256], out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(resp, sizeof(resp),
			 "HTTP/1.1 200 OK\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n%s",
			 bad[i]);
		if (parse(resp, out, sizeof(out)) != -1)
			TH_FAIL("accepted chunked body #%zu", i);
	}
}

TEST(bodies_larger_than_out_refused)
{
	char out[8];

	ASSERT_INT_EQ(
	    parse("HTTP/1.1 200 OK\r\n\r\n12345678", out, sizeof(out)), -1);
	ASSERT_INT_EQ(parse("HTTP/1.1 200 OK\r\n\r\n1234567", out, sizeof(out)),
		      200);
	ASSERT_INT_EQ(
	    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "4\r\n1234\r\n4\r\n5678\r\n0\r\n\r\n",
		  out, sizeof(out)),
	    -1);
	ASSERT_INT_EQ(parse("HTTP/1.1 200 OK\r\n\r\nx", out, 0), -1);
}

TEST(bad_heads_refused)
{
	static const char *const bad[] = {
		"",
		"HTTP/1.1 200 OK",
		"HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nA: b\r\n",
		"HTTP/2 200\r\n\r\n",
		"HTTP/1.1 20\r\n\r\n",
		"HTTP/1.1 2000\r\n\r\n",
		"HTTP/1.1 099\r\n\r\n",
		"HTTP/1.1 600\r\n\r\n",
		"HTTP/1.1 -20\r\n\r\n",
		"http/1.1 200\r\n\r\n",
		"HTTP/1.1  200\r\n\r\n",
	};
	char out[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (parse(bad[i], out, sizeof(out)) != -1)
			TH_FAIL("accepted head #%zu", i);
	}
}

TEST_MAIN(TEST_CASE(identity_body), TEST_CASE(chunked_body),
	  TEST_CASE(bad_chunks_refused),
	  TEST_CASE(bodies_larger_than_out_refused),
	  TEST_CASE(bad_heads_refused))
