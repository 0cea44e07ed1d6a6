/*
 * buf.c — bounds-checked read and write cursors.
 */
#include "buf.h"

#include <string.h>

void
rbuf_init(struct rbuf *rb, const void *p, size_t len)
{
	rb->p = p;
	rb->len = len;
	rb->off = 0;
}

size_t
rbuf_left(const struct rbuf *rb)
{
	return rb->len - rb->off;
}

const uint8_t *
rbuf_cur(const struct rbuf *rb)
{
	return rb->p + rb->off;
}

int
rbuf_get_bytes(struct rbuf *rb, void *dst, size_t n)
{
	if (rbuf_left(rb) < n)
		return -1;
	if (n > 0)
		memcpy(dst, rb->p + rb->off, n);
	rb->off += n;
	return 0;
}

int
rbuf_skip(struct rbuf *rb, size_t n)
{
	if (rbuf_left(rb) < n)
		return -1;
	rb->off += n;
	return 0;
}

int
rbuf_sub(struct rbuf *rb, size_t n, struct rbuf *sub)
{
	if (rbuf_left(rb) < n)
		return -1;
	rbuf_init(sub, rb->p + rb->off, n);
	rb->off += n;
	return 0;
}

int
rbuf_get_u8(struct rbuf *rb, uint8_t *v)
{
	return rbuf_get_bytes(rb, v, 1);
}

int
rbuf_get_be16(struct rbuf *rb, uint16_t *v)
{
	if (rbuf_left(rb) < 2)
		return -1;
	*v = load_be16(rb->p + rb->off);
	rb->off += 2;
	return 0;
}

int
rbuf_get_be32(struct rbuf *rb, uint32_t *v)
{
	if (rbuf_left(rb) < 4)
		return -1;
	*v = load_be32(rb->p + rb->off);
	rb->off += 4;
	return 0;
}

int
rbuf_get_be64(struct rbuf *rb, uint64_t *v)
{
	if (rbuf_left(rb) < 8)
		return -1;
	*v = ((uint64_t)load_be32(rb->p + rb->off) << 32) |
	     load_be32(rb->p + rb->off + 4);
	rb->off += 8;
	return 0;
}

void
wbuf_init(struct wbuf *wb, void *p, size_t cap)
{
	wb->p = p;
	wb->cap = cap;
	wb->off = 0;
	wb->err = false;
}

size_t
wbuf_len(const struct wbuf *wb)
{
	return wb->off;
}

uint8_t *
wbuf_reserve(struct wbuf *wb, size_t n)
{
	uint8_t *at;

	if (wb->err || wb->cap - wb->off < n) {
		wb->err = true;
		return NULL;
	}
	at = wb->p + wb->off;
	wb->off += n;
	return at;
}

int
wbuf_put_bytes(struct wbuf *wb, const void *src, size_t n)
{
	uint8_t *at = wbuf_reserve(wb, n);

	if (at == NULL)
		return -1;
	if (n > 0)
		memcpy(at, src, n);
	return 0;
}

int
wbuf_put_zero(struct wbuf *wb, size_t n)
{
	uint8_t *at = wbuf_reserve(wb, n);

	if (at == NULL)
		return -1;
	memset(at, 0, n);
	return 0;
}

int
wbuf_put_u8(struct wbuf *wb, uint8_t v)
{
	return wbuf_put_bytes(wb, &v, 1);
}

int
wbuf_put_be16(struct wbuf *wb, uint16_t v)
{
	uint8_t *at = wbuf_reserve(wb, 2);

	if (at == NULL)
		return -1;
	store_be16(at, v);
	return 0;
}

int
wbuf_put_be32(struct wbuf *wb, uint32_t v)
{
	uint8_t *at = wbuf_reserve(wb, 4);

	if (at == NULL)
		return -1;
	store_be32(at, v);
	return 0;
}

int
wbuf_put_be64(struct wbuf *wb, uint64_t v)
{
	uint8_t *at = wbuf_reserve(wb, 8);

	if (at == NULL)
		return -1;
	store_be64(at, v);
	return 0;
}
