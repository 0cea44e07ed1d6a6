/*
 * test_lib.c — unit tests for lib/: cursors, encodings, config parsing.
 *
 * Base64 vectors are RFC 4648 section 10; hex and UUID cases check both
 * cases and every malformed shape the decoders must refuse.
 */
#include "harness.h"

#include "buf.h"
#include "cfg.h"
#include "cidr.h"
#include "encoding.h"
#include "http_hdr.h"
#include "http_pages.h"
#include "http_req.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <float.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

TEST(rbuf_reads_and_refuses_short)
{
	static const uint8_t d[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	struct rbuf rb, sub;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	rbuf_init(&rb, d, sizeof(d));
	ASSERT_INT_EQ(rbuf_get_u8(&rb, &u8), 0);
	ASSERT_INT_EQ(u8, 1);
	ASSERT_INT_EQ(rbuf_get_be16(&rb, &u16), 0);
	ASSERT_INT_EQ(u16, 0x0203);
	ASSERT_INT_EQ(rbuf_get_be64(&rb, &u64), 0);
	ASSERT_U64_EQ(u64, 0x0405060708090a0bULL);
	ASSERT_INT_EQ(rbuf_left(&rb), 0);
	ASSERT_INT_EQ(rbuf_get_u8(&rb, &u8), -1);

	rbuf_init(&rb, d, 3);
	ASSERT_INT_EQ(rbuf_get_be32(&rb, &u32), -1);
	ASSERT_INT_EQ(rb.off, 0); /* cursor untouched on failure */
	ASSERT_INT_EQ(rbuf_sub(&rb, 4, &sub), -1);
	ASSERT_INT_EQ(rbuf_sub(&rb, 2, &sub), 0);
	ASSERT_INT_EQ(rbuf_left(&sub), 2);
	ASSERT_INT_EQ(rbuf_skip(&rb, 2), -1);
	ASSERT_INT_EQ(rbuf_skip(&rb, 1), 0);
}

TEST(wbuf_writes_and_sticks_on_overflow)
{
	uint8_t out[7];
	struct wbuf wb;
	static const uint8_t want[] = {
		0xaa, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
	};

	wbuf_init(&wb, out, sizeof(out));
	ASSERT_INT_EQ(wbuf_put_u8(&wb, 0xaa), 0);
	ASSERT_INT_EQ(wbuf_put_be16(&wb, 0x0102), 0);
	ASSERT_INT_EQ(wbuf_put_be32(&wb, 0x03040506), 0);
	ASSERT_MEM_EQ(out, want, sizeof(want));
	ASSERT_INT_EQ(wbuf_put_u8(&wb, 1), -1);
	ASSERT_TRUE(wb.err);
	ASSERT_INT_EQ(wbuf_len(&wb), 7);
}

TEST(hex_round_trip_and_rejects)
{
	static const uint8_t d[] = { 0x00, 0x9f, 0xa0, 0xff, 0x5c };
	char s[11];
	uint8_t back[5];

	hex_encode(s, d, sizeof(d));
	ASSERT_STR_EQ(s, "009fa0ff5c");
	hex_encode_upper(s, d, sizeof(d));
	ASSERT_STR_EQ(s, "009FA0FF5C");
	ASSERT_INT_EQ(hex_decode(back, sizeof(back), "009FA0ff5C", 10), 5);
	ASSERT_MEM_EQ(back, d, 5);
	ASSERT_INT_EQ(hex_decode(back, sizeof(back), "009", 3), -1);
	ASSERT_INT_EQ(hex_decode(back, sizeof(back), "0g", 2), -1);
	ASSERT_INT_EQ(hex_decode(back, sizeof(back), "0:", 2), -1);
	ASSERT_INT_EQ(hex_decode(back, sizeof(back), "@0", 2), -1);
	ASSERT_INT_EQ(hex_decode(back, sizeof(back), "`0", 2), -1);
	ASSERT_INT_EQ(hex_decode(back, 2, "000000", 6), -1);
}

TEST(base64_rfc4648_vectors)
{
	/* RFC 4648 section 10 test vectors. */
	static const char *const plain[] = { "",     "f",     "fo",    "foo",
					     "foob", "fooba", "foobar" };
	static const char *const enc[] = {
		"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"
	};
	char out[16];
	uint8_t back[8];

	for (size_t i = 0; i < ARRAY_LEN(plain); i++) {
		size_t n = strlen(plain[i]);
		base64_encode(out, (const uint8_t *)plain[i], n);
		ASSERT_STR_EQ(out, enc[i]);
		ASSERT_INT_EQ(base64_encoded_len(n), strlen(enc[i]));
		ASSERT_INT_EQ(base64_decode(back, sizeof(back), enc[i],
					    strlen(enc[i])),
			      (int)n);
		ASSERT_MEM_EQ(back, plain[i], n);
	}
}

TEST(base64_full_alphabet_and_rejects)
{
	uint8_t all[48], back[48];
	char s[65];

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)(i * 5 + 3);
	all[0] = 0xfb;
	all[1] = 0xff;
	all[2] = 0xbf; /* "+/+/" territory */
	base64_encode(s, all, sizeof(all));
	ASSERT_INT_EQ(base64_decode(back, sizeof(back), s, 64), 48);
	ASSERT_MEM_EQ(back, all, 48);
	ASSERT_INT_EQ(base64_decode(back, sizeof(back), "Zm9", 3), -1);
	ASSERT_INT_EQ(base64_decode(back, sizeof(back), "Zm9v!A==", 8), -1);
	ASSERT_INT_EQ(base64_decode(back, sizeof(back), "Z=9v", 4), -1);
	ASSERT_INT_EQ(base64_decode(back, sizeof(back), "Zh==", 4),
		      -1); /* non-canonical */
	ASSERT_INT_EQ(base64_decode(back, sizeof(back), "Zm9=Zm9v", 8), -1);
	ASSERT_INT_EQ(base64_decode(back, 2, "Zm9v", 4), -1);
	ASSERT_INT_EQ(base64_decode(back, sizeof(back), "Zm-v", 4), -1);
}

TEST(uuid_format_parse)
{
	static const uint8_t u[16] = { 0xbc, 0x49, 0x04, 0x19, 0x7d, 0x60,
				       0x48, 0x7f, 0xad, 0xc1, 0x4d, 0xdc,
				       0xc1, 0x77, 0xc1, 0x39 };
	char s[UUID_STR_LEN + 1];
	uint8_t back[16], r[16];

	uuid_format(s, u);
	ASSERT_STR_EQ(s, "bc490419-7d60-487f-adc1-4ddcc177c139");
	ASSERT_INT_EQ(uuid_parse(back, "BC490419-7D60-487F-ADC1-4DDCC177C139"),
		      0);
	ASSERT_MEM_EQ(back, u, 16);
	ASSERT_INT_EQ(uuid_parse(back, "bc4904197d60487fadc14ddcc177c139"), -1);
	ASSERT_INT_EQ(uuid_parse(back, "bc490419-7d60-487f-adc1-4ddcc177c13"),
		      -1);
	ASSERT_INT_EQ(uuid_parse(back, "bc490419-7d60-487f-adc1x4ddcc177c139"),
		      -1);
	ASSERT_INT_EQ(uuid_parse(back, "bc490419-7d60-487f-adc1-4ddcc177c13g"),
		      -1);
	ASSERT_INT_EQ(uuid_generate_v4(r), 0);
	ASSERT_INT_EQ(r[6] >> 4, 4);
	ASSERT_INT_EQ(r[8] >> 6, 2);
	{
		struct timespec ts;
		uint8_t later[16];
		uint64_t ms = 0, now_ms;

		clock_gettime(CLOCK_REALTIME, &ts);
		now_ms =
		    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		ASSERT_INT_EQ(uuid_generate_v7(r), 0);
		ASSERT_INT_EQ(r[6] >> 4, 7);
		ASSERT_INT_EQ(r[8] >> 6, 2);
		for (int i = 0; i < 6; i++)
			ms = ms << 8 | r[i];
		ASSERT_TRUE(ms >= now_ms && ms <= now_ms + 1000);
		/* Two milliseconds on, the next one sorts after it. */
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
		ASSERT_INT_EQ(uuid_generate_v7(later), 0);
		ASSERT_TRUE(memcmp(later, r, 16) > 0);
		ASSERT_TRUE(memcmp(later + 6, r + 6, 10) != 0);
	}
}

struct cfg_seen {
	int n;
	char last[3][64];
};

static int
cfg_collect(void *arg, const char *section, const char *section_arg,
	    const char *key, const char *value, const struct cfg_pos *pos)
{
	struct cfg_seen *seen = arg;

	(void)pos;
	if (strcmp(key, "reject") == 0)
		return -1;
	snprintf(seen->last[0], 64, "%s", section);
	snprintf(seen->last[1], 64, "%s", section_arg);
	snprintf(seen->last[2], 64, "%s=%s", key, value);
	seen->n++;
	return 0;
}

TEST(cfg_lines_sections_errors)
{
	static const char good[] =
	    "# comment\n\n  rate = 1000 \n[port eth0]\nmode=psk\r\n";
	struct cfg_seen seen = { 0 };

	ASSERT_INT_EQ(
	    cfg_parse_buf(good, strlen(good), "t", cfg_collect, &seen), 0);
	ASSERT_INT_EQ(seen.n, 2);
	ASSERT_STR_EQ(seen.last[0], "port");
	ASSERT_STR_EQ(seen.last[1], "eth0");
	ASSERT_STR_EQ(seen.last[2], "mode=psk");
	ASSERT_INT_EQ(cfg_parse_buf("novalue\n", 8, "t", cfg_collect, &seen),
		      -1);
	ASSERT_INT_EQ(cfg_parse_buf("[bad\n", 5, "t", cfg_collect, &seen), -1);
	ASSERT_INT_EQ(cfg_parse_buf("a b = 1\n", 8, "t", cfg_collect, &seen),
		      -1);
	ASSERT_INT_EQ(
	    cfg_parse_buf("reject = 1\n", 11, "t", cfg_collect, &seen), -1);
	ASSERT_INT_EQ(cfg_parse_buf("a = 1\0\n", 7, "t", cfg_collect, &seen),
		      -1);
}

TEST(cfg_numbers_bools_durations)
{
	uint64_t v;
	double d;
	bool b;

	ASSERT_INT_EQ(cfg_parse_u64("42", 0, 100, &v), 0);
	ASSERT_U64_EQ(v, 42);
	ASSERT_INT_EQ(cfg_parse_u64("101", 0, 100, &v), -1);
	ASSERT_INT_EQ(cfg_parse_u64("-1", 0, 100, &v), -1);
	ASSERT_INT_EQ(cfg_parse_u64("4x", 0, 100, &v), -1);
	ASSERT_INT_EQ(cfg_parse_u64("", 0, 100, &v), -1);
	ASSERT_INT_EQ(
	    cfg_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -1);
	ASSERT_INT_EQ(cfg_parse_bool("yes", &b), 0);
	ASSERT_TRUE(b);
	ASSERT_INT_EQ(cfg_parse_bool("off", &b), 0);
	ASSERT_TRUE(!b);
	ASSERT_INT_EQ(cfg_parse_bool("maybe", &b), -1);
	ASSERT_INT_EQ(cfg_parse_duration_ms("250ms", &v), 0);
	ASSERT_U64_EQ(v, 250);
	ASSERT_INT_EQ(cfg_parse_duration_ms("2m", &v), 0);
	ASSERT_U64_EQ(v, 120000);
	ASSERT_INT_EQ(cfg_parse_duration_ms("7", &v), 0);
	ASSERT_U64_EQ(v, 7000);
	ASSERT_INT_EQ(cfg_parse_duration_ms("3w", &v), -1);
	/* Doubles: finite, whole string, inside the bounds given. */
	ASSERT_INT_EQ(cfg_parse_double("0.25", 0, 1, &d), 0);
	ASSERT_TRUE(d == 0.25);
	ASSERT_INT_EQ(cfg_parse_double("1e2", 0, 100, &d), 0);
	ASSERT_TRUE(d == 100);
	ASSERT_INT_EQ(cfg_parse_double("-3.5", -DBL_MAX, DBL_MAX, &d), 0);
	ASSERT_TRUE(d == -3.5);
	ASSERT_INT_EQ(cfg_parse_double("100.5", 0, 100, &d), -1);
	ASSERT_INT_EQ(cfg_parse_double("-0.1", 0, 1, &d), -1);
	ASSERT_INT_EQ(cfg_parse_double("nan", -DBL_MAX, DBL_MAX, &d), -1);
	ASSERT_INT_EQ(cfg_parse_double("inf", -DBL_MAX, DBL_MAX, &d), -1);
	ASSERT_INT_EQ(cfg_parse_double("1e999", -DBL_MAX, DBL_MAX, &d), -1);
	ASSERT_INT_EQ(cfg_parse_double("0.5x", 0, 1, &d), -1);
	ASSERT_INT_EQ(cfg_parse_double("", 0, 1, &d), -1);
}

TEST(ct_equal_and_wipe)
{
	uint8_t a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 2, 3, 5 };

	ASSERT_TRUE(ct_equal(a, a, 4));
	ASSERT_TRUE(!ct_equal(a, b, 4));
	secmem_wipe(a, 4);
	ASSERT_TRUE(a[0] == 0 && a[3] == 0);
}

TEST(secmem_realloc_keeps_contents_and_never_shrinks)
{
	uint8_t *p = secmem_realloc(NULL, 40), *q;

	ASSERT_TRUE(p != NULL);
	for (size_t i = 0; i < 40; i++)
		p[i] = (uint8_t)i;
	/* A smaller size keeps the block: realloc would free its tail. */
	ASSERT_TRUE(secmem_realloc(p, 8) == p);
	q = secmem_realloc(p, 4096);
	ASSERT_TRUE(q != NULL);
	ASSERT_TRUE(malloc_usable_size(q) >= 4096);
	for (size_t i = 0; i < 40; i++)
		ASSERT_INT_EQ(q[i], i);
	ASSERT_TRUE(secmem_realloc(q, 0) == NULL);
	secmem_free(NULL);
}

TEST(id_alphabet)
{
	ASSERT_TRUE(id_text_ok("SAE_A-1.x", 1, 16));
	ASSERT_TRUE(!id_text_ok("", 1, 16));
	ASSERT_TRUE(id_text_ok("", 0, 16));
	ASSERT_TRUE(!id_text_ok("a/b", 1, 16));
	ASSERT_TRUE(!id_text_ok("a b", 1, 16));
	ASSERT_TRUE(!id_text_ok("a%", 1, 16));
	ASSERT_TRUE(!id_text_ok("\xc3\xa9", 1, 16));
	ASSERT_TRUE(id_text_ok("0123456789abcdef", 1, 16));
	ASSERT_TRUE(!id_text_ok("0123456789abcdefg", 1, 16));
	ASSERT_TRUE(!id_text_ok("abc", 4, 16));
}

TEST(content_length_digits_within_max)
{
	ASSERT_TRUE(http_content_length_ok("0", 0));
	ASSERT_TRUE(http_content_length_ok("65536", 65536));
	ASSERT_TRUE(http_content_length_ok("000065536", 65536));
	ASSERT_TRUE(!http_content_length_ok("65537", 65536));
	ASSERT_TRUE(
	    !http_content_length_ok("1000000000000000000000000", 65536));
	ASSERT_TRUE(!http_content_length_ok("", 65536));
	ASSERT_TRUE(!http_content_length_ok("+5", 65536));
	ASSERT_TRUE(!http_content_length_ok(" 5", 65536));
	ASSERT_TRUE(!http_content_length_ok("5 ", 65536));
	ASSERT_TRUE(!http_content_length_ok("5, 5", 65536));
	ASSERT_TRUE(!http_content_length_ok("0x10", 65536));
	ASSERT_TRUE(http_content_length_ok("18446744073709551615", SIZE_MAX));
	ASSERT_TRUE(!http_content_length_ok("18446744073709551616", SIZE_MAX));
}

/* An element of a field value: only its len octets count. */
TEST(content_length_element_value)
{
	uint64_t n = 7;

	ASSERT_INT_EQ(http_content_length_parse("42, 43", 2, 100, &n), 0);
	ASSERT_U64_EQ(n, 42);
	ASSERT_INT_EQ(http_content_length_parse("101", 3, 100, &n), 1);
	ASSERT_INT_EQ(http_content_length_parse("99999999999999999999x", 21,
						UINT64_MAX, &n),
		      -1);
	ASSERT_INT_EQ(http_content_length_parse("18446744073709551616", 20,
						UINT64_MAX, &n),
		      1);
	ASSERT_INT_EQ(http_content_length_parse("18446744073709551615", 20,
						UINT64_MAX, &n),
		      0);
	ASSERT_U64_EQ(n, UINT64_MAX);
	ASSERT_INT_EQ(http_content_length_parse("5", 0, 100, &n), -1);
	ASSERT_INT_EQ(http_content_length_parse("-5", 2, 100, &n), -1);
}

/* log_event in JSON: one object per line, fields as members, escaped. */
TEST(log_event_json_fields)
{
	char path[] = "/tmp/qkdlab-test-log-XXXXXX", line[1024];
	int fd = mkstemp(path), saved = dup(2);
	FILE *f;
	cJSON *o;

	ASSERT_TRUE(fd != -1 && saved != -1);
	ASSERT_TRUE(dup2(fd, 2) == 2);
	log_init("test", LOG_DEST_STDERR, LOG_FMT_JSON, LOG_LVL_INFO);
	LOG_EV(LOG_LVL_INFO, "sak_in_use",
	       LOG_FIELDS(LOG_S("port", "wire\"0\n"), LOG_N("kn", 4294967295u),
			  LOG_N("an", 3)),
	       "SAK %d", 7);
	log_info("plain");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_init("test", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_INFO);
	f = fdopen(fd, "r");
	ASSERT_TRUE(f != NULL);
	rewind(f);
	ASSERT_TRUE(fgets(line, sizeof(line), f) != NULL);
	o = cJSON_Parse(line);
	ASSERT_TRUE(o != NULL);
	ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "event")),
		      "sak_in_use");
	ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "port")),
		      "wire\"0\n");
	ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "msg")),
		      "SAK 7");
	ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(o, "kn")) &&
		    cJSON_GetObjectItem(o, "kn")->valuedouble == 4294967295.0);
	ASSERT_INT_EQ(cJSON_GetObjectItem(o, "an")->valueint, 3);
	cJSON_Delete(o);
	ASSERT_TRUE(fgets(line, sizeof(line), f) != NULL);
	o = cJSON_Parse(line);
	ASSERT_TRUE(o != NULL && cJSON_GetObjectItem(o, "event") == NULL);
	cJSON_Delete(o);
	fclose(f);
	unlink(path);
}

TEST(http_pages_addresses)
{
	char host[16];
	uint16_t port;

	ASSERT_INT_EQ(http_pages_parse_addr("127.0.0.1:9102", host,
					    sizeof(host), &port),
		      0);
	ASSERT_STR_EQ(host, "127.0.0.1");
	ASSERT_INT_EQ(port, 9102);
	ASSERT_INT_EQ(
	    http_pages_parse_addr("[::1]:80", host, sizeof(host), &port), 0);
	ASSERT_STR_EQ(host, "::1");
	ASSERT_INT_EQ(port, 80);
	ASSERT_INT_EQ(
	    http_pages_parse_addr("127.0.0.1", host, sizeof(host), &port), -1);
	ASSERT_INT_EQ(http_pages_parse_addr(":80", host, sizeof(host), &port),
		      -1);
	ASSERT_INT_EQ(http_pages_parse_addr("h:0", host, sizeof(host), &port),
		      -1);
	ASSERT_INT_EQ(
	    http_pages_parse_addr("h:65536", host, sizeof(host), &port), -1);
	ASSERT_INT_EQ(
	    http_pages_parse_addr("[::1]80", host, sizeof(host), &port), -1);
	ASSERT_INT_EQ(
	    http_pages_parse_addr("255.255.255.255:1", host, 15, &port), -1);
}

/*
 * Valid: the examples of RFC 3629, section 7.  Invalid: cases from Markus
 * Kuhn's "UTF-8 decoder capability and stress test" (sections 3-5:
 * unexpected continuation, lone start octets, truncated sequences,
 * impossible octets, overlong forms, surrogates) and U+110000.
 */
/* URL query text (RFC 3986 2.1 percent-encoding, '+' from forms). */
TEST(pct_decode_escapes_and_refusals)
{
	char out[16], buf[] = "a%2Fb+c";

	ASSERT_INT_EQ(hex_char_value('7'), 7);
	ASSERT_INT_EQ(hex_char_value('c'), 12);
	ASSERT_INT_EQ(hex_char_value('F'), 15);
	ASSERT_INT_EQ(hex_char_value('g'), -1);
	ASSERT_INT_EQ(pct_decode(out, sizeof(out), "a%2fb+c%41", 10), 6);
	ASSERT_STR_EQ(out, "a/b cA");
	ASSERT_INT_EQ(pct_decode(buf, sizeof(buf), buf, strlen(buf)), 5);
	ASSERT_STR_EQ(buf, "a/b c");
	ASSERT_INT_EQ(pct_decode(out, sizeof(out), "%00", 3), -1);
	ASSERT_INT_EQ(pct_decode(out, sizeof(out), "%4", 2), -1);
	ASSERT_INT_EQ(pct_decode(out, sizeof(out), "%zz", 3), -1);
	ASSERT_INT_EQ(pct_decode(out, sizeof(out), "a\0b", 3), -1);
	ASSERT_INT_EQ(pct_decode(out, 4, "abcd", 4), -1);
	ASSERT_INT_EQ(pct_decode(out, 5, "abcd", 4), 4);
	/* A path (RFC 3986 3.3): '+' is itself, escapes as in a query. */
	ASSERT_INT_EQ(pct_decode_path(out, sizeof(out), "a%2fb+c%41", 10), 6);
	ASSERT_STR_EQ(out, "a/b+cA");
	ASSERT_INT_EQ(pct_decode_path(out, sizeof(out), "/x%00", 5), -1);
	ASSERT_INT_EQ(pct_decode_path(out, sizeof(out), "/x%4", 4), -1);
}

/* IP literals only: a name would need a resolver, and is refused. */
TEST(sockaddr_from_ip_literals)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	ASSERT_INT_EQ(sockaddr_from_ip("127.0.0.1", 9102, &ss, &len), 0);
	ASSERT_INT_EQ(ss.ss_family, AF_INET);
	ASSERT_INT_EQ(len, sizeof(struct sockaddr_in));
	ASSERT_INT_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9102);
	ASSERT_INT_EQ(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr),
		      0x7f000001);
	ASSERT_INT_EQ(sockaddr_from_ip("::1", 443, &ss, &len), 0);
	ASSERT_INT_EQ(ss.ss_family, AF_INET6);
	ASSERT_INT_EQ(len, sizeof(struct sockaddr_in6));
	ASSERT_INT_EQ(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 443);
	ASSERT_TRUE(
	    IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
	ASSERT_INT_EQ(sockaddr_from_ip("localhost", 80, &ss, NULL), -1);
	ASSERT_INT_EQ(sockaddr_from_ip("127.0.0.1:80", 80, &ss, NULL), -1);
	ASSERT_INT_EQ(sockaddr_from_ip("", 80, &ss, NULL), -1);
}

TEST(utf8_rfc3629_examples_and_kuhn_stress_cases)
{
	static const char *const good[] = {
		"\x41\xe2\x89\xa2\xce\x91\x2e", /* A<NOT IDENTICAL TO>. */
		"\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", /* Korean */
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", /* Japanese */
		"\xef\xbb\xbf\xf0\xa3\x8e\xb4", /* BOM, U+233B4 */
		"\xf4\x8f\xbf\xbf",
		"\xee\x80\x80",
		"plain ASCII",
		"",
	};
	static const char *const bad[] = {
		"\x80",
		"\xbf",
		"a\x80"
		"b",
		"\xc0 ",
		"\xe0\x80",
		"\xf0\x80\x80",
		"\xfe",
		"\xff",
		"\xc0\xaf",
		"\xe0\x80\xaf",
		"\xf0\x80\x80\xaf",
		"\xc1\xbf",
		"\xe0\x9f\xbf",
		"\xed\xa0\x80",
		"\xed\xbf\xbf",
		"\xf4\x90\x80\x80",
		"\xf8\x88\x80\x80\x80",
	};

	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		ASSERT_TRUE(utf8_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		ASSERT_TRUE(!utf8_valid(bad[i], strlen(bad[i])));
}

TEST(json_text_check_refuses_nul_and_bad_utf8)
{
	static const char ok1[] =
	    "{\"a\": \"x\\\\u0000\"}"; /* an escaped backslash */
	static const char ok2[] = "{\"a\": \"\\u0001\\\"\"}";
	static const char nul[] = "{\"a\": \"id\\u0000junk\"}";
	static const char raw[] = "{\"a\": \"id\0junk\"}";
	static const char inv[] = "{\"a\": \"\xc3\x28\"}";

	ASSERT_INT_EQ(json_text_check(ok1, strlen(ok1)), 0);
	ASSERT_INT_EQ(json_text_check(ok2, strlen(ok2)), 0);
	ASSERT_INT_EQ(json_text_check(nul, strlen(nul)), -1);
	ASSERT_INT_EQ(json_text_check(raw, sizeof(raw) - 1), -1);
	ASSERT_INT_EQ(json_text_check(inv, strlen(inv)), -1);
}

TEST(str_quote_escapes_and_bounds)
{
	char out[32];

	ASSERT_STR_EQ(str_quote(out, sizeof(out), "ab\"c\\", 5, 40),
		      "ab\\\"c\\\\");
	ASSERT_STR_EQ(str_quote(out, sizeof(out), "\xc3\x28\n", 3, 40),
		      "\\xc3(\\x0a");
	ASSERT_STR_EQ(str_quote(out, sizeof(out), "0123456789", 10, 4),
		      "0123...");
	ASSERT_STR_EQ(str_quote(out, 8, "0123456789", 10, 40), "0123...");
	ASSERT_STR_EQ(str_quote(out, sizeof(out), "a\0b", 3, 40), "a\\x00b");
}

static bool
in4(const struct cidr *c, const char *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	inet_pton(AF_INET, a, &sin.sin_addr);
	return cidr_contains(c, (struct sockaddr *)&sin);
}

static bool
in6(const struct cidr *c, const char *a)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET6, a, &sin6.sin6_addr);
	return cidr_contains(c, (struct sockaddr *)&sin6);
}

/*
 * Prefixes (RFC 4632 section 3.1 notation) over the documentation ranges
 * of RFC 5737 and RFC 3849.
 */
TEST(cidr_parse_and_contains)
{
	static const char *const bad[] = {
		"203.0.113.64",
		"203.0.113.64/",
		"203.0.113.64/0",
		"203.0.113.64/33",
		"203.0.113.64/028",
		"203.0.113.64/+8",
		"203.0.113.65/28",
		"/28",
		"kme-a/28",
		"203.0.113.64/28 ",
		"2001:db8::/129",
		"2001:db8::1/32",
		"::/0",
		"203.0.113.64/1000000000000",
	};
	struct cidr c, keep;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&keep, 0x5a, sizeof(keep));
		c = keep;
		ASSERT_INT_EQ(cidr_parse(bad[i], &c), -1);
		ASSERT_MEM_EQ(&c, &keep, sizeof(c));
	}
	ASSERT_INT_EQ(cidr_parse("203.0.113.64/28", &c), 0);
	ASSERT_TRUE(in4(&c, "203.0.113.64") && in4(&c, "203.0.113.79"));
	ASSERT_TRUE(!in4(&c, "203.0.113.80") && !in4(&c, "203.0.113.63"));
	ASSERT_TRUE(in6(&c, "::ffff:203.0.113.70"));
	ASSERT_TRUE(!in6(&c, "::203.0.113.70") && !in6(&c, "2001:db8::1"));
	ASSERT_INT_EQ(cidr_parse("127.0.0.0/8", &c), 0);
	ASSERT_TRUE(in4(&c, "127.255.0.1") && !in4(&c, "128.0.0.1"));
	ASSERT_INT_EQ(cidr_parse("198.51.100.7/32", &c), 0);
	ASSERT_TRUE(in4(&c, "198.51.100.7") && !in4(&c, "198.51.100.6"));
	ASSERT_INT_EQ(cidr_parse("2001:db8::/32", &c), 0);
	ASSERT_TRUE(in6(&c, "2001:db8:ffff::1") && !in6(&c, "2001:db9::1"));
	ASSERT_TRUE(!in4(&c, "203.0.113.64"));
	ASSERT_INT_EQ(cidr_parse("2001:db8:0:2::/63", &c), 0);
	ASSERT_TRUE(in6(&c, "2001:db8:0:3::5") && !in6(&c, "2001:db8:0:4::"));
	ASSERT_TRUE(!cidr_contains(&c, NULL));
}

/* Parses a string literal copy; the head is split in place. */
static int
req_parse(struct http_req *r, char *buf, size_t cap, const char *head)
{
	size_t n = strlen(head);

	if (n >= cap)
		return -2;
	memcpy(buf, head, n + 1);
	return http_req_parse(r, buf, n);
}

TEST(http_req_rfc9112_request_lines)
{
	struct http_req r;
	char b[4096];

	/* RFC 9112 3.2.1, origin-form example. */
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"GET /where?q=now HTTP/1.1\r\n"
				"Host: www.example.org\r\n\r\n"),
		      0);
	ASSERT_STR_EQ(r.method, "GET");
	ASSERT_STR_EQ(r.target, "/where?q=now");
	ASSERT_INT_EQ((int)r.path_len, 6);
	ASSERT_TRUE(r.query != NULL && r.query_len == 5 &&
		    memcmp(r.query, "q=now", 5) == 0);
	ASSERT_INT_EQ(r.minor, 1);
	ASSERT_TRUE(r.keep_alive && !r.head);
	ASSERT_STR_EQ(http_req_field(&r, "host"), "www.example.org");
	ASSERT_TRUE(http_req_field(&r, "Content-Length") == NULL);
	/* RFC 9112 3.2.2 absolute-form and 3.2.4 asterisk-form: as sent. */
	ASSERT_INT_EQ(
	    req_parse(&r, b, sizeof(b),
		      "GET http://www.example.org/pub/WWW/TheProject.html "
		      "HTTP/1.1\r\nHost: www.example.org\r\n\r\n"),
	    0);
	ASSERT_STR_EQ(r.target,
		      "http://www.example.org/pub/WWW/TheProject.html");
	ASSERT_TRUE(r.query == NULL && r.path_len == strlen(r.target));
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
		      0);
	ASSERT_STR_EQ(r.method, "OPTIONS");
	ASSERT_STR_EQ(r.target, "*");
	/* RFC 9112 2.2: leading empty lines ignored; LF alone ends a line. */
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"\r\n\nHEAD /x HTTP/1.1\nHost: y\n\n"),
		      0);
	ASSERT_TRUE(r.head && strcmp(r.target, "/x") == 0);
	ASSERT_STR_EQ(http_req_field(&r, "HOST"), "y");
	/* ... but a bare CR does not. */
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"GET /x HTTP/1.1\rHost: y\r\n\r\n"),
		      -1);
	/* RFC 9112 3: one SP each, a token method, no control in the target. */
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "GET  /x HTTP/1.1\r\n\r\n"),
		      -1);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "G(T /x HTTP/1.1\r\n\r\n"),
		      -1);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "GET /\x7f HTTP/1.1\r\n\r\n"),
		      -1);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "GET /x HTTP/2.0\r\n\r\n"),
		      -1);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "GET /x http/1.1\r\n\r\n"),
		      -1);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "GET /x HTTP/1.1\r\n"), -1);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "\r\n\r\n"), -1);
}

TEST(http_req_rfc9112_fields_and_persistence)
{
	struct http_req r;
	char b[8192];
	size_t n;

	/* RFC 9112 5: OWS around a value is not part of it. */
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"GET / HTTP/1.1\r\nHost:  a b \t\r\n"
				"X-Empty:\r\n\r\n"),
		      0);
	ASSERT_STR_EQ(http_req_field(&r, "Host"), "a b");
	ASSERT_STR_EQ(http_req_field(&r, "x-empty"), "");
	ASSERT_INT_EQ((int)r.nfields, 2);
	/* RFC 9112 5.1: no whitespace before the colon; 5.2: no obs-fold. */
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
		      -1);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\n"),
		      -1);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"GET / HTTP/1.1\r\nHost: x\001\r\n\r\n"),
		      -1);
	/* RFC 9112 9.3: 1.1 persists unless "close" is listed (any case,
	 * any position); 1.0 only with keep-alive. */
	ASSERT_INT_EQ(
	    req_parse(
		&r, b, sizeof(b),
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: te, CLOSE\r\n\r\n"),
	    0);
	ASSERT_TRUE(!r.keep_alive);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "GET / HTTP/1.0\r\n\r\n"), 0);
	ASSERT_TRUE(!r.keep_alive && r.minor == 0);
	ASSERT_INT_EQ(
	    req_parse(&r, b, sizeof(b),
		      "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
	    0);
	ASSERT_TRUE(r.keep_alive);
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b),
				"GET / HTTP/1.0\r\nConnection: keep-alive, "
				"close\r\n\r\n"),
		      0);
	ASSERT_TRUE(!r.keep_alive);
	/* Bounded: HTTP_REQ_FIELDS fields, not one more. */
	n = (size_t)snprintf(b, sizeof(b), "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_REQ_FIELDS; i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "F%d: v\r\n", i);
	n += (size_t)snprintf(b + n, sizeof(b) - n, "\r\n");
	ASSERT_INT_EQ(http_req_parse(&r, b, n), 0);
	ASSERT_INT_EQ((int)r.nfields, HTTP_REQ_FIELDS);
	n = (size_t)snprintf(b, sizeof(b), "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_REQ_FIELDS; i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "F%d: v\r\n", i);
	n += (size_t)snprintf(b + n, sizeof(b) - n, "\r\n");
	ASSERT_INT_EQ(http_req_parse(&r, b, n), -2);
}

TEST(http_req_rfc3986_query_arguments)
{
	struct http_req r;
	char b[512], v[16];

	ASSERT_INT_EQ(
	    req_parse(&r, b, sizeof(b),
		      "GET /p?a=%41%4a%7e&b=x+y&%62%63=1&e&c=%zz&d=%00&a=2"
		      "&q=/x?y HTTP/1.1\r\nHost: h\r\n\r\n"),
	    0);
	/* RFC 3986 2.1: %XX in either case of hex digit; first one wins. */
	ASSERT_INT_EQ(http_req_query_arg(&r, "a", v, sizeof(v)), 3);
	ASSERT_STR_EQ(v, "AJ~");
	ASSERT_INT_EQ(http_req_query_arg(&r, "b", v, sizeof(v)), 3);
	ASSERT_STR_EQ(v, "x y");
	/* Names compare decoded. */
	ASSERT_INT_EQ(http_req_query_arg(&r, "bc", v, sizeof(v)), 1);
	ASSERT_STR_EQ(v, "1");
	ASSERT_INT_EQ(http_req_query_arg(&r, "e", v, sizeof(v)), 0);
	ASSERT_STR_EQ(v, "");
	/* RFC 3986 3.4: "/" and "?" may appear in a query. */
	ASSERT_INT_EQ(http_req_query_arg(&r, "q", v, sizeof(v)), 4);
	ASSERT_STR_EQ(v, "/x?y");
	ASSERT_INT_EQ(http_req_query_arg(&r, "c", v, sizeof(v)), -2);
	ASSERT_INT_EQ(http_req_query_arg(&r, "d", v, sizeof(v)), -2);
	ASSERT_INT_EQ(http_req_query_arg(&r, "zz", v, sizeof(v)), -1);
	ASSERT_INT_EQ(http_req_query_arg(&r, "a", v, 3), -2); /* no room */
	ASSERT_INT_EQ(req_parse(&r, b, sizeof(b), "GET /p HTTP/1.1\r\n\r\n"),
		      0);
	ASSERT_INT_EQ(http_req_query_arg(&r, "a", v, sizeof(v)), -1);
}

TEST_MAIN(TEST_CASE(rbuf_reads_and_refuses_short),
	  TEST_CASE(wbuf_writes_and_sticks_on_overflow),
	  TEST_CASE(hex_round_trip_and_rejects),
	  TEST_CASE(base64_rfc4648_vectors),
	  TEST_CASE(base64_full_alphabet_and_rejects),
	  TEST_CASE(uuid_format_parse), TEST_CASE(cfg_lines_sections_errors),
	  TEST_CASE(cfg_numbers_bools_durations), TEST_CASE(ct_equal_and_wipe),
	  TEST_CASE(secmem_realloc_keeps_contents_and_never_shrinks),
	  TEST_CASE(id_alphabet), TEST_CASE(content_length_digits_within_max),
	  TEST_CASE(content_length_element_value),
	  TEST_CASE(sockaddr_from_ip_literals),
	  TEST_CASE(pct_decode_escapes_and_refusals),
	  TEST_CASE(log_event_json_fields), TEST_CASE(http_pages_addresses),
	  TEST_CASE(utf8_rfc3629_examples_and_kuhn_stress_cases),
	  TEST_CASE(json_text_check_refuses_nul_and_bad_utf8),
	  TEST_CASE(str_quote_escapes_and_bounds),
	  TEST_CASE(cidr_parse_and_contains),
	  TEST_CASE(http_req_rfc9112_request_lines),
	  TEST_CASE(http_req_rfc9112_fields_and_persistence),
	  TEST_CASE(http_req_rfc3986_query_arguments))
