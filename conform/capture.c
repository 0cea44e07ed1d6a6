/*
 * capture.c — a bounds-checked reader of pcap and pcapng files: every
 * length read from the file is checked against what is left before it is
 * used.
 */
#include "capture.h"

#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_HDR_LEN 24
#define PCAP_REC_LEN 16
#define PCAPNG_SHB 0x0a0d0d0au
#define PCAPNG_IDB 0x00000001u
#define PCAPNG_SPB 0x00000003u
#define PCAPNG_EPB 0x00000006u
#define PCAPNG_BOM 0x1a2b3c4du
#define PCAPNG_OPT_TSRESOL 9
#define CAPTURE_MAX_IFACES 64

struct capture {
	char *buf;
	size_t len, off;
	bool ng, swap;
	double tick; /* pcap: seconds per fraction unit */
	uint32_t linktype; /* pcap */
	size_t n_if;
	uint32_t if_type[CAPTURE_MAX_IFACES];
	double if_tick[CAPTURE_MAX_IFACES];
};

static int
err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static uint32_t
rd32(const struct capture *c, size_t off)
{
	const uint8_t *p = (const uint8_t *)c->buf + off;

	if (c->swap)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		       (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[1] << 8 | p[0];
}

static uint16_t
rd16(const struct capture *c, size_t off)
{
	const uint8_t *p = (const uint8_t *)c->buf + off;

	return c->swap ? (uint16_t)(p[0] << 8 | p[1])
		       : (uint16_t)(p[1] << 8 | p[0]);
}

/* Byte order from a magic number written in the writer's order. */
static int
set_order(struct capture *c, size_t off, uint32_t magic)
{
	c->swap = false;
	if (rd32(c, off) == magic)
		return 0;
	c->swap = true;
	return rd32(c, off) == magic ? 0 : -1;
}

/* Takes buf (heap, NUL-terminated past len) whatever happens. */
static struct capture *
capture_init(char *buf, size_t len, const char *name, char *err, size_t errlen)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		free(buf);
		err_set(err, errlen, "out of memory");
		return NULL;
	}
	c->buf = buf;
	c->len = len;
	if (len >= PCAP_HDR_LEN && (set_order(c, 0, PCAP_MAGIC_US) == 0 ||
				    set_order(c, 0, PCAP_MAGIC_NS) == 0)) {
		c->tick = rd32(c, 0) == PCAP_MAGIC_NS ? 1e-9 : 1e-6;
		c->linktype = rd32(c, 20) & 0x0fffffffu;
		c->off = PCAP_HDR_LEN;
		return c;
	}
	if (len >= 28 && memcmp(c->buf, "\x0a\x0d\x0d\x0a", 4) == 0 &&
	    set_order(c, 8, PCAPNG_BOM) == 0) {
		c->ng = true;
		return c;
	}
	err_set(err, errlen, "%s: not a pcap or pcapng file", name);
	capture_free(c);
	return NULL;
}

struct capture *
capture_open(const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len;

	if (file_read_all(path, CAPTURE_MAX_FILE, &buf, &len) == -1) {
		err_set(err, errlen, "%s: cannot be read", path);
		return NULL;
	}
	return capture_init(buf, len, path, err, errlen);
}

struct capture *
capture_open_buf(const void *p, size_t len, char *err, size_t errlen)
{
	char *buf = malloc(len + 1);

	if (buf == NULL) {
		err_set(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	return capture_init(buf, len, "input", err, errlen);
}

static int
next_pcap(struct capture *c, struct capture_frame *f, char *err, size_t errlen)
{
	uint32_t incl;

	if (c->off == c->len)
		return 0;
	if (c->len - c->off < PCAP_REC_LEN)
		return err_set(err, errlen, "truncated record header at %zu",
			       c->off);
	incl = rd32(c, c->off + 8);
	if (incl > c->len - c->off - PCAP_REC_LEN)
		return err_set(err, errlen, "truncated record at %zu", c->off);
	f->ts = rd32(c, c->off) + rd32(c, c->off + 4) * c->tick;
	f->linktype = c->linktype;
	f->data = (const uint8_t *)c->buf + c->off + PCAP_REC_LEN;
	f->len = incl;
	c->off += PCAP_REC_LEN + incl;
	return 1;
}

/* if_tsresol (option 9): 10^-n, or 2^-n with the top bit set. */
static void
read_idb(struct capture *c, size_t off, size_t blen)
{
	size_t o = off + 16, end = off + blen - 4;
	double tick = 1e-6;

	if (c->n_if == CAPTURE_MAX_IFACES)
		return;
	c->if_type[c->n_if] = rd16(c, off + 8);
	while (o + 4 <= end) {
		uint16_t code = rd16(c, o), olen = rd16(c, o + 2);

		if (code == 0 || olen > end - o - 4)
			break;
		if (code == PCAPNG_OPT_TSRESOL && olen >= 1) {
			uint8_t r = (uint8_t)c->buf[o + 4];

			tick = r & 0x80 ? ldexp(1.0, -(r & 0x7f))
					: pow(10.0, -(double)(r & 0x7f));
		}
		o += 4 + ((olen + 3u) & ~3u);
	}
	c->if_tick[c->n_if++] = tick;
}

static int
next_pcapng(struct capture *c, struct capture_frame *f, char *err,
	    size_t errlen)
{
	for (;;) {
		uint32_t type, blen;
		size_t off = c->off;

		if (off == c->len)
			return 0;
		if (c->len - off < 12)
			return err_set(err, errlen, "truncated block at %zu",
				       off);
		if (memcmp(c->buf + off, "\x0a\x0d\x0d\x0a", 4) == 0) {
			if (set_order(c, off + 8, PCAPNG_BOM) == -1)
				return err_set(err, errlen,
					       "bad byte-order magic at %zu",
					       off);
			c->n_if = 0;
		}
		type = rd32(c, off);
		blen = rd32(c, off + 4);
		if (blen < 12 || blen % 4 != 0 || blen > c->len - off)
			return err_set(err, errlen, "bad block length at %zu",
				       off);
		c->off += blen;
		if (type == PCAPNG_IDB && blen >= 20) {
			read_idb(c, off, blen);
		} else if (type == PCAPNG_EPB && blen >= 32) {
			uint32_t ifc = rd32(c, off + 8),
				 cap = rd32(c, off + 20);
			uint64_t ts = (uint64_t)rd32(c, off + 12) << 32 |
				      rd32(c, off + 16);

			if (ifc >= c->n_if || cap > blen - 32)
				return err_set(err, errlen,
					       "bad packet block at %zu", off);
			f->ts = (double)ts * c->if_tick[ifc];
			f->linktype = c->if_type[ifc];
			f->data = (const uint8_t *)c->buf + off + 28;
			f->len = cap;
			return 1;
		} else if (type == PCAPNG_SPB && blen >= 16) {
			uint32_t orig = rd32(c, off + 8);

			if (c->n_if == 0)
				return err_set(err, errlen,
					       "packet block before any "
					       "interface at %zu",
					       off);
			f->ts = 0;
			f->linktype = c->if_type[0];
			f->data = (const uint8_t *)c->buf + off + 12;
			f->len = orig < blen - 16 ? orig : blen - 16;
			return 1;
		}
	}
}

int
capture_next(struct capture *c, struct capture_frame *f, char *err,
	     size_t errlen)
{
	return c->ng ? next_pcapng(c, f, err, errlen)
		     : next_pcap(c, f, err, errlen);
}

void
capture_free(struct capture *c)
{
	if (c == NULL)
		return;
	free(c->buf);
	free(c);
}
