/*
 * test_http_resp.c — the clients' HTTP/1.1 response parser (RFC 9112).
 *
 * Well-formed identity, Content-Length and chunked bodies (RFC 9112 6.3,
 * 7.1) decode, whole or fed an octet at a time; what RFC 9112 lets a
 * recipient accept is accepted (bare LF, obs-fold, OWS, names in any
 * case, interim 1xx answers); every malformed or ambiguous framing is
 * refused without reading or writing out of bounds, including the signed
 * and oversized chunk sizes that once made an inline parser copy ~2^64
 * octets (docs/SECURITY.md).
 */
#include "harness.h"

#include "http_resp.h"

#include <stdbool.h>

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

/*
 * Feeds text step octets at a time (0: whole), then the end of the
 * connection when close is set.  Returns the outcome; p holds the rest.
 */
static enum http_resp_rc
feed(struct http_resp *p, size_t body_max, const char *text, size_t step,
     bool close)
{
	size_t n = strlen(text), off = 0, used;
	enum http_resp_rc rc = HTTP_RESP_MORE;

	http_resp_init(p, body_max);
	while (rc == HTTP_RESP_MORE && off < n) {
		size_t k = step == 0 || n - off < step ? n - off : step;

		rc = http_resp_feed(p, text + off, k, &used);
		off += used;
	}
	if (rc == HTTP_RESP_MORE && close)
		rc = http_resp_eof(p);
	return rc;
}

/* An answer and what it must give, fed whole and octet by octet. */
struct good {
	const char *text;
	bool close; /* the peer closes after it */
	int status;
	const char *body;
	bool keep_alive;
};

static const struct good goods[] = {
	/* RFC 9112 6.3 rule 6: Content-Length frames the body. */
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200,
	  "hello", true },
	/* Rule 4: chunked, extensions and trailer fields (7.1.1, 7.1.2). */
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5 ; a=b\r\nhello\r\n1;x\r\n!\r\n0\r\nT: v\r\n\r\n",
	  false, 200, "hello!", true },
	/* Rule 8: no framing, the body runs to the close. */
	{ "HTTP/1.1 200 OK\r\n\r\nto the end", true, 200, "to the end", false },
	/* 9112 9.6: Connection: close, any case, in a list. */
	{ "HTTP/1.1 404 Not Found\r\nconnection: Upgrade, CLOSE\r\n"
	  "content-length: 2\r\n\r\n{}",
	  false, 404, "{}", false },
	/* 9112 9.3: an HTTP/1.0 answer is not persistent unless asked. */
	{ "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 200, "x",
	  false },
	{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1"
	  "\r\n\r\nx",
	  false, 200, "x", true },
	/* 9112 2.2: a bare LF ends a line; 5.1: OWS around a value. */
	{ "HTTP/1.1 200 OK\nContent-Length:\t 3 \t\n\nabc", false, 200, "abc",
	  true },
	/* 9112 5.2: obs-fold in a response is replaced by SP. */
	{ "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: keep-alive,\r\n "
	  "close\r\nContent-Length: 0\r\n\r\n",
	  false, 200, NULL, false },
	/* RFC 9110 8.6: a list of equal values, or repeated equal fields. */
	{ "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2"
	  "\r\n\r\nab",
	  false, 200, "ab", true },
	/* RFC 9110 15.2: interim answers are skipped (two here). */
	{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
	  "Link: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1"
	  "\r\n\r\nz",
	  false, 201, "z", true },
	/* 9112 6.3 rule 1: 204 and 304 have no body, whatever follows. */
	{ "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false, 204,
	  NULL, true },
	/* A status line without reason phrase, and one with an empty one. */
	{ "HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", false, 503, NULL, true },
	{ "HTTP/1.1 400 \r\nContent-Length: 0\r\n\r\n", false, 400, NULL,
	  true },
};

TEST(rfc9112_answers_accepted)
{
	struct http_resp p;

	for (size_t i = 0; i < sizeof(goods) / sizeof(*goods); i++) {
		const struct good *g = &goods[i];

		for (size_t step = 0; step < 2; step++) {
			enum http_resp_rc rc =
			    feed(&p, 64, g->text, step, g->close);

			if (rc != HTTP_RESP_DONE || p.status != g->status ||
			    p.keep_alive != g->keep_alive ||
			    (g->body == NULL
				 ? p.body != NULL
				 : p.body == NULL || strcmp(p.body, g->body)))
				TH_FAIL("answer #%zu (step %zu): rc %d status "
					"%d keep_alive %d body \"%s\"",
					i, step, rc, p.status, p.keep_alive,
					p.body != NULL ? p.body : "(null)");
			http_resp_clear(&p);
		}
	}
}

TEST(rfc9112_framing_refused)
{
	static const char *const bad[] = {
		/* RFC 9110 8.6: differing Content-Length values */
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3"
		"\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999"
		"\r\n\r\n",
		/* RFC 9112 6.1: Content-Length with Transfer-Encoding */
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: "
		"chunked\r\n\r\n0\r\n\r\n",
		/* codings other than chunked, chunked twice or not last */
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		/* 6.1: Transfer-Encoding in HTTP/1.0 means broken framing */
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\n\r\n",
		/* 5.1: whitespace between a field name and its colon */
		"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx",
		/* 2.2: whitespace before the first field; a bare CR */
		"HTTP/1.1 200 OK\r\n X: 1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
		/* no protocol switch was asked for */
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		/* cut short: the peer closes before the framed end */
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1\r\na\r\n0\r\n",
	};
	struct http_resp p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		enum http_resp_rc rc = feed(&p, 64, bad[i], 0, true);

		if (rc != HTTP_RESP_BAD || p.why == NULL)
			TH_FAIL("answer #%zu: rc %d, not refused", i, rc);
		http_resp_clear(&p);
	}
}

TEST(sizes_bounded)
{
	struct http_resp p;
	char big[HTTP_RESP_HEAD_MAX + 64];

	/* body_max: by Content-Length at once, by chunks, by the close */
	ASSERT_INT_EQ(feed(&p, 4,
			   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
			   "\r\n",
			   0, false),
		      HTTP_RESP_TOO_LARGE);
	http_resp_clear(&p);
	ASSERT_INT_EQ(feed(&p, 4,
			   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
			   "\r\n\r\n3\r\nabc\r\n2\r\n",
			   0, false),
		      HTTP_RESP_TOO_LARGE);
	http_resp_clear(&p);
	ASSERT_INT_EQ(feed(&p, 4, "HTTP/1.1 200 OK\r\n\r\n12345", 0, true),
		      HTTP_RESP_TOO_LARGE);
	http_resp_clear(&p);
	ASSERT_INT_EQ(feed(&p, 4, "HTTP/1.1 200 OK\r\n\r\n1234", 0, true),
		      HTTP_RESP_DONE);
	ASSERT_STR_EQ(p.body, "1234");
	http_resp_clear(&p);
	/* the head: one field longer than HTTP_RESP_HEAD_MAX in all */
	snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n");
	for (size_t n = strlen(big); n < sizeof(big) - 1; n++)
		big[n] = n % 64 == 63 ? '\n' : n % 64 == 0 ? 'X' : 'a';
	big[sizeof(big) - 1] = '\0';
	ASSERT_INT_EQ(feed(&p, 4, big, 0, false), HTTP_RESP_BAD);
	http_resp_clear(&p);
}

TEST(what_follows_an_answer_is_left)
{
	static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
				  "\r\nxHTTP/1.1 200 OK\r\n";
	struct http_resp p;
	size_t used;

	http_resp_init(&p, 64);
	ASSERT_INT_EQ(http_resp_feed(&p, two, strlen(two), &used),
		      HTTP_RESP_DONE);
	ASSERT_INT_EQ(used, strlen(two) - strlen("HTTP/1.1 200 OK\r\n"));
	ASSERT_STR_EQ(p.body, "x");
	http_resp_clear(&p);
}

TEST_MAIN(TEST_CASE(identity_body), TEST_CASE(chunked_body),
	  TEST_CASE(bad_chunks_refused),
	  TEST_CASE(bodies_larger_than_out_refused),
	  TEST_CASE(bad_heads_refused), TEST_CASE(rfc9112_answers_accepted),
	  TEST_CASE(rfc9112_framing_refused), TEST_CASE(sizes_bounded),
	  TEST_CASE(what_follows_an_answer_is_left))
