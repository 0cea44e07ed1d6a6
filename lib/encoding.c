/*
 * encoding.c — constant-time hex and base64, UUID text.
 *
 * The branch-free digit arithmetic follows the usual technique (used by
 * wireguard-tools and libsodium, among others): every character class is
 * tested with masks built from subtractions instead of table look-ups or
 * data-dependent branches.
 */
#include "encoding.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* 0xff when a <= x <= b, else 0, without branches. */
static unsigned
ct_in_range(unsigned x, unsigned a, unsigned b)
{
	return ((((x - a) | (b - x)) >> 8) & 0xff) ^ 0xff;
}

static char
hex_digit(unsigned v, unsigned alpha)
{
	/* v in 0..15; alpha = 'a' or 'A' */
	unsigned gt9 = ((9u - v) >> 8) & 0xff; /* 0xff if v > 9 */
	return (char)(v + '0' + (gt9 & (alpha - '0' - 10)));
}

static void
hex_encode_with(char *out, const uint8_t *in, size_t len, unsigned alpha)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex_digit(in[i] >> 4, alpha);
		out[2 * i + 1] = hex_digit(in[i] & 0xf, alpha);
	}
	out[2 * len] = '\0';
}

void
hex_encode(char *out, const uint8_t *in, size_t len)
{
	hex_encode_with(out, in, len, 'a');
}

void
hex_encode_upper(char *out, const uint8_t *in, size_t len)
{
	hex_encode_with(out, in, len, 'A');
}

/* Returns 0..15, or a value with bit 8 set for a non-hex character. */
static unsigned
hex_value(unsigned char c)
{
	unsigned x = c;
	unsigned digit = ct_in_range(x, '0', '9');
	unsigned lower = ct_in_range(x, 'a', 'f');
	unsigned upper = ct_in_range(x, 'A', 'F');
	unsigned v = (digit & (x - '0')) | (lower & (x - 'a' + 10)) |
		     (upper & (x - 'A' + 10));
	/* Bit 8 is set only if no class matched. */
	unsigned bad = (unsigned)(((digit | lower | upper) & 0xff) == 0) << 8;

	return (v & 0xf) | bad;
}

int
hex_char_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
pct_decode_as(char *out, size_t cap, const char *in, size_t len, bool form)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int ch = (unsigned char)in[i];

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hex_char_value((unsigned char)in[i + 1]);
			lo = hex_char_value((unsigned char)in[i + 2]);
			if (hi == -1 || lo == -1)
				return -1;
			ch = hi << 4 | lo;
			i += 2;
		} else if (ch == '+' && form) {
			ch = ' ';
		}
		if (ch == 0 || n + 1 >= cap)
			return -1;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	return (int)n;
}

int
pct_decode(char *out, size_t cap, const char *in, size_t len)
{
	return pct_decode_as(out, cap, in, len, true);
}

int
pct_decode_path(char *out, size_t cap, const char *in, size_t len)
{
	return pct_decode_as(out, cap, in, len, false);
}

int
hex_decode(uint8_t *out, size_t outcap, const char *in, size_t inlen)
{
	unsigned bad = 0;

	if (inlen % 2 != 0 || inlen / 2 > outcap)
		return -1;
	for (size_t i = 0; i < inlen / 2; i++) {
		unsigned hi = hex_value((unsigned char)in[2 * i]);
		unsigned lo = hex_value((unsigned char)in[2 * i + 1]);
		bad |= (hi | lo) & 0x100u;
		out[i] = (uint8_t)(((hi & 0xf) << 4) | (lo & 0xf));
	}
	if (bad != 0) {
		memset(out, 0, inlen / 2);
		return -1;
	}
	return (int)(inlen / 2);
}

size_t
base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

static char
b64_char(unsigned v)
{
	/* v in 0..63: A-Z a-z 0-9 + / */
	unsigned c = v + 'A';
	c += ct_in_range(v, 26, 51) & ('a' - 'A' - 26);
	c += ct_in_range(v, 52, 61) & (unsigned)('0' - 'A' - 52);
	c += ct_in_range(v, 62, 62) & (unsigned)('+' - 'A' - 62);
	c += ct_in_range(v, 63, 63) & (unsigned)('/' - 'A' - 63);
	return (char)c;
}

void
base64_encode(char *out, const uint8_t *in, size_t len)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t w = ((uint32_t)in[i] << 16) |
			     ((uint32_t)in[i + 1] << 8) | in[i + 2];
		out[o++] = b64_char((w >> 18) & 63);
		out[o++] = b64_char((w >> 12) & 63);
		out[o++] = b64_char((w >> 6) & 63);
		out[o++] = b64_char(w & 63);
	}
	if (len - i == 1) {
		uint32_t w = (uint32_t)in[i] << 16;
		out[o++] = b64_char((w >> 18) & 63);
		out[o++] = b64_char((w >> 12) & 63);
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t w =
		    ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
		out[o++] = b64_char((w >> 18) & 63);
		out[o++] = b64_char((w >> 12) & 63);
		out[o++] = b64_char((w >> 6) & 63);
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* 0..63, or bit 8 set for a character outside the alphabet. */
static unsigned
b64_value(unsigned char ch)
{
	unsigned c = ch;
	unsigned up = ct_in_range(c, 'A', 'Z');
	unsigned lo = ct_in_range(c, 'a', 'z');
	unsigned dg = ct_in_range(c, '0', '9');
	unsigned pl = ct_in_range(c, '+', '+');
	unsigned sl = ct_in_range(c, '/', '/');
	unsigned v = (up & (c - 'A')) | (lo & (c - 'a' + 26)) |
		     (dg & (c - '0' + 52)) | (pl & 62) | (sl & 63);
	unsigned any = up | lo | dg | pl | sl;

	return (v & 63) | ((unsigned)(any == 0) << 8);
}

int
base64_decode(uint8_t *out, size_t outcap, const char *in, size_t inlen)
{
	size_t pad = 0, olen, o = 0;
	unsigned bad = 0;

	if (inlen % 4 != 0)
		return -1;
	if (inlen == 0)
		return 0;
	if (in[inlen - 1] == '=')
		pad++;
	if (in[inlen - 2] == '=')
		pad++;
	olen = inlen / 4 * 3 - pad;
	if (olen > outcap)
		return -1;
	for (size_t i = 0; i < inlen; i += 4) {
		unsigned v[4];
		int last = (i + 4 == inlen);
		for (size_t k = 0; k < 4; k++) {
			if (last && k >= 4 - pad) {
				v[k] = 0;
				continue;
			}
			v[k] = b64_value((unsigned char)in[i + k]);
			bad |= v[k] & 0x100u;
		}
		uint32_t w = ((v[0] & 63) << 18) | ((v[1] & 63) << 12) |
			     ((v[2] & 63) << 6) | (v[3] & 63);
		uint8_t b[3] = { (uint8_t)(w >> 16), (uint8_t)(w >> 8),
				 (uint8_t)w };
		for (size_t k = 0; k < 3 && o < olen; k++)
			out[o++] = b[k];
		/* Non-canonical trailing bits under padding are refused. */
		if (last && pad == 1 && (w & 0xff) != 0)
			bad |= 0x100u;
		if (last && pad == 2 && (w & 0xffff) != 0)
			bad |= 0x100u;
	}
	if (bad != 0) {
		memset(out, 0, olen);
		return -1;
	}
	return (int)olen;
}

void
uuid_format(char *out, const uint8_t uuid[UUID_LEN])
{
	size_t o = 0;

	for (size_t i = 0; i < UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		hex_encode(out + o, uuid + i, 1);
		o += 2;
	}
	out[o] = '\0';
}

int
uuid_parse(uint8_t uuid[UUID_LEN], const char *in)
{
	static const size_t groups[] = { 8, 4, 4, 4, 12 };
	size_t pos = 0, o = 0;

	if (strlen(in) != UUID_STR_LEN)
		return -1;
	for (size_t g = 0; g < 5; g++) {
		if (g > 0 && in[pos++] != '-')
			return -1;
		if (hex_decode(uuid + o, UUID_LEN - o, in + pos, groups[g]) ==
		    -1)
			return -1;
		o += groups[g] / 2;
		pos += groups[g];
	}
	return 0;
}

int
uuid_generate_v4(uint8_t uuid[UUID_LEN])
{
	if (RAND_bytes(uuid, UUID_LEN) != 1)
		return -1;
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	return 0;
}

int
uuid_generate_v7_n(uint8_t (*uuids)[UUID_LEN], size_t n)
{
	struct timespec ts;
	uint64_t ms;

	/* One RNG call for all: each call costs a getpid() (OpenSSL's fork
	 * check), and system calls are what costs on a busy VM. */
	if (n == 0 || n > SIZE_MAX / UUID_LEN)
		return -1;
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 || ts.tv_sec < 0 ||
	    RAND_bytes(uuids[0], (int)(n * UUID_LEN)) != 1)
		return -1;
	/* RFC 9562 5.7: 48-bit big-endian Unix time in milliseconds. */
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (size_t k = 0; k < n; k++) {
		uint8_t *u = uuids[k];

		for (int i = 0; i < 6; i++)
			u[i] = (uint8_t)(ms >> (40 - 8 * i));
		u[6] = (uint8_t)((u[6] & 0x0f) | 0x70); /* version 7 */
		u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 9562 variant */
	}
	return 0;
}

int
uuid_generate_v7(uint8_t uuid[UUID_LEN])
{
	return uuid_generate_v7_n((uint8_t(*)[UUID_LEN])uuid, 1);
}

bool
id_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

bool
id_text_ok(const char *s, size_t min, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n == max || !id_char_ok(s[n]))
			return false;
	return n >= min;
}

bool
utf8_valid(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + len;

	while (p < end) {
		uint8_t c = *p;
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false; /* continuation octet, C0, C1, F5..FF */
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

int
json_text_check(const char *s, size_t len)
{
	bool in_string = false;

	if (memchr(s, '\0', len) != NULL || !utf8_valid(s, len))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"') {
			in_string = !in_string;
		} else if (in_string && s[i] == '\\' && i + 1 < len) {
			/* An escape: \u0000 is a NUL in the decoded string. */
			if (s[i + 1] == 'u' && i + 5 < len &&
			    memcmp(s + i + 2, "0000", 4) == 0)
				return -1;
			i++; /* the escaped character, '"' and '\\' included */
		}
	}
	return 0;
}

char *
str_quote(char *out, size_t cap, const char *in, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < len && i < max; i++) {
		uint8_t c = (uint8_t)in[i];
		char esc[4];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c, n = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			esc[0] = (char)c, n = 1;
		} else {
			esc[0] = '\\', esc[1] = 'x', esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15], n = 4;
		}
		if (o + n + 4 > cap) /* room for "..." and the NUL */
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	if (i < len && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (cap > 0)
		out[o < cap ? o : cap - 1] = '\0';
	return out;
}
