/*
 * encoding.h — hex, base64 (RFC 4648, padded) and UUID text forms, the
 * alphabet of IDs, and checks of untrusted text (UTF-8, JSON strings)
 * with its safe quoting.
 *
 * Hex and base64 run in constant time with respect to the data (they carry
 * key bytes); decoders are strict and return -1 on any malformed input.
 */
#ifndef QKDLAB_ENCODING_H
#define QKDLAB_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_LEN 16
#define UUID_STR_LEN 36 /* without the terminating NUL */

/* Writes 2*len lowercase hex digits and a NUL; out needs 2*len+1 octets. */
void hex_encode(char *out, const uint8_t *in, size_t len);
/* Upper-case variant (SKIP's /entropy example uses upper case). */
void hex_encode_upper(char *out, const uint8_t *in, size_t len);
/*
 * Decodes an even-length hex string of either case.  Returns the number of
 * octets written, or -1 if the string is odd, too long for out, or not hex.
 */
int hex_decode(uint8_t *out, size_t outcap, const char *in, size_t inlen);
/*
 * The value 0..15 of one hex digit of either case, -1 for any other
 * character.  Not constant time: for protocol text, never for keys.
 */
int hex_char_value(int c);
/*
 * Decodes URL query text in[0..len): %XX, and '+' as a space (form
 * encoding, as HTTP clients send it), into out with a NUL.  Returns the
 * length, or -1 on a bad escape, an encoded or literal NUL, or when out
 * (cap octets) is too small.  out may be in: the text only shrinks.
 */
int pct_decode(char *out, size_t cap, const char *in, size_t len);
/* The same for a URL path: %XX only, a '+' stays (RFC 3986 3.3). */
int pct_decode_path(char *out, size_t cap, const char *in, size_t len);

/* Length of the padded base64 text for len octets (without NUL). */
size_t base64_encoded_len(size_t len);
/* out needs base64_encoded_len(len)+1 octets. */
void base64_encode(char *out, const uint8_t *in, size_t len);
/* Strict padded RFC 4648 decoding; returns octets written or -1. */
int base64_decode(uint8_t *out, size_t outcap, const char *in, size_t inlen);

/* Lowercase 8-4-4-4-12 form; out needs UUID_STR_LEN+1 octets. */
void uuid_format(char *out, const uint8_t uuid[UUID_LEN]);
/* Accepts either case; -1 unless exactly the 36-character form. */
int uuid_parse(uint8_t uuid[UUID_LEN], const char *in);
/* A random version-4 UUID from the OpenSSL RNG; -1 if the RNG fails. */
int uuid_generate_v4(uint8_t uuid[UUID_LEN]);
/*
 * A version-7 UUID (RFC 9562): the Unix time in milliseconds, then 74
 * random bits.  IDs made later sort later, so a table keyed by them grows
 * at one end; -1 if the clock or the RNG fails.
 */
int uuid_generate_v7(uint8_t uuid[UUID_LEN]);
/* n of them at once (n >= 1), one RNG call; -1 on failure. */
int uuid_generate_v7_n(uint8_t (*uuids)[UUID_LEN], size_t n);

/*
 * True for an ID of min..max octets of [A-Za-z0-9_.-]: SAE, KME and
 * section IDs travel in URL paths, JSON and logs, so they keep to it.
 */
bool id_text_ok(const char *s, size_t min, size_t max);
/* One character of that alphabet. */
bool id_char_ok(char c);
/*
 * Well-formed UTF-8 (RFC 3629, section 4): no overlong forms, no
 * surrogates, nothing above U+10FFFF.  NUL octets are not refused here.
 */
bool utf8_valid(const char *s, size_t len);
/*
 * A JSON text (RFC 8259) whose strings may be used as C strings: well-
 * formed UTF-8 (section 8.1), no NUL octet and no \u0000 escape in a
 * string.  Returns 0 or -1; the JSON syntax is the parser's to check.
 */
int json_text_check(const char *s, size_t len);
/*
 * Quotes untrusted octets for an error message or a log line: printable
 * ASCII as it is ('"' and '\' escaped), every other octet as \xNN, at
 * most max octets of input, then "...".  The result is ASCII and always
 * NUL-terminated (cap >= 1); returns out.
 */
char *str_quote(char *out, size_t cap, const char *in, size_t len, size_t max);

#endif
