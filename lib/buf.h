/*
 * buf.h — explicit byte cursors for every wire codec in qkdlab.
 *
 * Decoders read through struct rbuf; each getter checks the bounds first and
 * returns -1, leaving the cursor where it was, on a short read.  Encoders
 * write through struct wbuf, whose putters fail (and set wb->err) on
 * overflow.  No packed structs are ever laid over packet memory.
 */
#ifndef QKDLAB_BUF_H
#define QKDLAB_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
};

struct wbuf {
	uint8_t *p;
	size_t cap;
	size_t off;
	bool err; /* sticky: set by the first failed put */
};

void rbuf_init(struct rbuf *rb, const void *p, size_t len);
size_t rbuf_left(const struct rbuf *rb);
const uint8_t *rbuf_cur(const struct rbuf *rb);
int rbuf_get_u8(struct rbuf *rb, uint8_t *v);
int rbuf_get_be16(struct rbuf *rb, uint16_t *v);
int rbuf_get_be32(struct rbuf *rb, uint32_t *v);
int rbuf_get_be64(struct rbuf *rb, uint64_t *v);
int rbuf_get_bytes(struct rbuf *rb, void *dst, size_t n);
int rbuf_skip(struct rbuf *rb, size_t n);
/* Splits the next n octets off as a sub-cursor and advances past them. */
int rbuf_sub(struct rbuf *rb, size_t n, struct rbuf *sub);

void wbuf_init(struct wbuf *wb, void *p, size_t cap);
size_t wbuf_len(const struct wbuf *wb);
int wbuf_put_u8(struct wbuf *wb, uint8_t v);
int wbuf_put_be16(struct wbuf *wb, uint16_t v);
int wbuf_put_be32(struct wbuf *wb, uint32_t v);
int wbuf_put_be64(struct wbuf *wb, uint64_t v);
int wbuf_put_bytes(struct wbuf *wb, const void *src, size_t n);
int wbuf_put_zero(struct wbuf *wb, size_t n);
/* Reserves n octets and returns where they start (for lengths filled later). */
uint8_t *wbuf_reserve(struct wbuf *wb, size_t n);

/* Stand-alone helpers for fixed offsets already known to be in bounds. */
static inline uint16_t
load_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
load_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline void
store_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
store_be64(uint8_t *p, uint64_t v)
{
	store_be32(p, (uint32_t)(v >> 32));
	store_be32(p + 4, (uint32_t)v);
}

#endif
