/*
 * gcm_vaes.c — AES-GCM (NIST SP 800-38D) for 96-bit IVs on VAES and
 * VPCLMULQDQ.
 *
 * CTR (SP 800-38D 6.5) runs two blocks per 256-bit register and 24
 * blocks per iteration, enough independent AES rounds in flight to keep
 * the AES units busy.  GHASH (6.4) works on blocks byte-reversed, so that
 * the reflected bit order of GCM becomes a plain 128-bit integer whose
 * most significant bit is the coefficient of x^0; the carry-less product
 * of two such values is then one bit short of the reflected 256-bit
 * product and is shifted left by one before reduction modulo
 * x^128 + x^7 + x^2 + x + 1.  The 24 blocks of an iteration are
 * multiplied by H^24 .. H^1 and summed before one reduction (aggregated
 * reduction: the Horner form of GHASH expanded over 24 steps).  CTR and
 * GHASH run in the same loop over the same blocks (stitched), so that
 * the carry-less multiplies overlap the AES rounds.
 *
 * Every instruction used has data-independent timing and no
 * secret-dependent memory access or branch: AES rounds are AESENC, the
 * field multiply is PCLMULQDQ.
 */
#include <string.h>

#include "gcm_vaes.h"
#include "secmem.h"
#include "util.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <cpuid.h>
#include <immintrin.h>

#define GCM_TARGET __attribute__((target("avx2,vaes,vpclmulqdq,aes,pclmul")))
#define HPOW 24 /* blocks per aggregated reduction */
#define NREG (HPOW / 2) /* registers of two blocks per chunk */

struct gcm_vaes_key {
	/* Octet arrays, loaded unaligned: no alignment demand on malloc. */
	uint8_t rk[15][32]; /* round keys, each twice: one per 128-bit lane */
	/* hp[i] = H^(HPOW - i), byte-reversed: block j of the last n takes
	 * hp[HPOW - n + j], and hp[j] .. hp[j + 1] load as one pair. */
	uint8_t hp[HPOW][16];
	unsigned rounds; /* 10 or 14 */
};

/*
 * CPUID itself (Intel SDM vol. 2A, CPUID): not every compiler's
 * __builtin_cpu_supports knows "vaes".  Leaf 1 ECX: PCLMULQDQ (1), AES
 * (25), OSXSAVE (27); XCR0 bits 1 and 2: the OS saves the YMM state;
 * leaf 7 EBX: AVX2 (5), ECX: VAES (9), VPCLMULQDQ (10).
 */
bool
gcm_vaes_available(void)
{
	unsigned a, b, c, d, lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 1)) ||
	    !(c & (1u << 25)) || !(c & (1u << 27)))
		return false;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	if ((lo & 6u) != 6u || __get_cpuid_max(0, NULL) < 7)
		return false;
	__cpuid_count(7, 0, a, b, c, d);
	return (b & (1u << 5)) && (c & (1u << 9)) && (c & (1u << 10));
}

/* --- AES key expansion (FIPS 197 5.2) on AESKEYGENASSIST --- */

/* w[i] = w[i - Nk] ^ temp, for the four words of a round key at once. */
GCM_TARGET static inline __m128i
expand_step(__m128i prev, __m128i assist)
{
	prev = _mm_xor_si128(prev, _mm_slli_si128(prev, 4));
	prev = _mm_xor_si128(prev, _mm_slli_si128(prev, 4));
	prev = _mm_xor_si128(prev, _mm_slli_si128(prev, 4));
	return _mm_xor_si128(prev, assist);
}

/* RotWord(SubWord(w)) ^ Rcon of the last word, in every lane. */
#define ASSIST_ROT(k, rcon) \
	_mm_shuffle_epi32(_mm_aeskeygenassist_si128((k), (rcon)), 0xff)
/* SubWord(w) of the last word (AES-256's middle step, FIPS 197 5.2). */
#define ASSIST_SUB(k) _mm_shuffle_epi32(_mm_aeskeygenassist_si128((k), 0), 0xaa)

GCM_TARGET static void
aes128_expand(const uint8_t key[16], __m128i rk[11])
{
	rk[0] = _mm_loadu_si128((const __m128i *)key);
	rk[1] = expand_step(rk[0], ASSIST_ROT(rk[0], 0x01));
	rk[2] = expand_step(rk[1], ASSIST_ROT(rk[1], 0x02));
	rk[3] = expand_step(rk[2], ASSIST_ROT(rk[2], 0x04));
	rk[4] = expand_step(rk[3], ASSIST_ROT(rk[3], 0x08));
	rk[5] = expand_step(rk[4], ASSIST_ROT(rk[4], 0x10));
	rk[6] = expand_step(rk[5], ASSIST_ROT(rk[5], 0x20));
	rk[7] = expand_step(rk[6], ASSIST_ROT(rk[6], 0x40));
	rk[8] = expand_step(rk[7], ASSIST_ROT(rk[7], 0x80));
	rk[9] = expand_step(rk[8], ASSIST_ROT(rk[8], 0x1b));
	rk[10] = expand_step(rk[9], ASSIST_ROT(rk[9], 0x36));
}

GCM_TARGET static void
aes256_expand(const uint8_t key[32], __m128i rk[15])
{
	rk[0] = _mm_loadu_si128((const __m128i *)key);
	rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
#define PAIR(i, rcon) \
	do { \
		rk[i] = expand_step(rk[(i)-2], ASSIST_ROT(rk[(i)-1], rcon)); \
		if ((i) < 14) \
			rk[(i) + 1] = \
			    expand_step(rk[(i)-1], ASSIST_SUB(rk[i])); \
	} while (0)
	PAIR(2, 0x01);
	PAIR(4, 0x02);
	PAIR(6, 0x04);
	PAIR(8, 0x08);
	PAIR(10, 0x10);
	PAIR(12, 0x20);
	rk[14] = expand_step(rk[12], ASSIST_ROT(rk[13], 0x40));
#undef PAIR
}

GCM_TARGET static inline __m128i
aes_block(const struct gcm_vaes_key *k, __m128i x)
{
	unsigned r;

	x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)k->rk[0]));
	for (r = 1; r < k->rounds; r++)
		x = _mm_aesenc_si128(
		    x, _mm_loadu_si128((const __m128i *)k->rk[r]));
	return _mm_aesenclast_si128(
	    x, _mm_loadu_si128((const __m128i *)k->rk[k->rounds]));
}

/* --- GHASH (SP 800-38D 6.3, 6.4) --- */

GCM_TARGET static inline __m128i
bswap128(__m128i x)
{
	return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
						10, 11, 12, 13, 14, 15));
}

GCM_TARGET static inline __m256i
bswap256(__m256i x)
{
	return _mm256_shuffle_epi8(
	    x, _mm256_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
			       15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
			       14, 15));
}

/* A 128-bit left shift by n < 64 of the three parts of a reduction. */
GCM_TARGET static inline __m128i
shl3(__m128i x)
{
	return _mm_xor_si128(_mm_xor_si128(_mm_slli_epi64(x, 63),
					   _mm_slli_epi64(x, 62)),
			     _mm_slli_epi64(x, 57));
}

/*
 * Reduces the unreduced product [hi:lo] of two byte-reversed field
 * elements.  The product of two 128-bit reflected values has 255
 * significant bits: shifting it left by one aligns it with the reflected
 * 256-bit product.  The reduction then folds the low half into the high
 * half by x^128 = x^7 + x^2 + x + 1, in reflected form: right shifts by
 * 1, 2 and 7 (and left shifts by 63, 62 and 57 for the bits crossing
 * the 64-bit lanes).
 */
GCM_TARGET static inline __m128i
gf_reduce(__m128i lo, __m128i hi)
{
	__m128i clo = _mm_srli_epi64(lo, 63), chi = _mm_srli_epi64(hi, 63);
	__m128i t, r;

	lo = _mm_or_si128(_mm_slli_epi64(lo, 1), _mm_slli_si128(clo, 8));
	hi = _mm_or_si128(_mm_slli_epi64(hi, 1),
			  _mm_or_si128(_mm_slli_si128(chi, 8),
				       _mm_srli_si128(clo, 8)));
	/* First fold: the low word's overflow into the second word. */
	lo = _mm_xor_si128(lo, _mm_slli_si128(shl3(lo), 8));
	/* Second fold: [D:X0] >> 1, >> 2, >> 7 as 128-bit shifts. */
	t = _mm_srli_si128(shl3(lo), 8);
	r = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi64(lo, 1),
					_mm_srli_epi64(lo, 2)),
			  _mm_srli_epi64(lo, 7));
	return _mm_xor_si128(hi, _mm_xor_si128(lo, _mm_xor_si128(r, t)));
}

/* Accumulates the schoolbook product a * b into lo, mid, hi. */
GCM_TARGET static inline void
clmul_acc(__m128i a, __m128i b, __m128i *lo, __m128i *mid, __m128i *hi)
{
	*lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
	*hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
	*mid = _mm_xor_si128(*mid,
			     _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01),
					   _mm_clmulepi64_si128(a, b, 0x10)));
}

GCM_TARGET static inline void
clmul_acc256(__m256i a, __m256i b, __m256i *lo, __m256i *mid, __m256i *hi)
{
	*lo = _mm256_xor_si256(*lo, _mm256_clmulepi64_epi128(a, b, 0x00));
	*hi = _mm256_xor_si256(*hi, _mm256_clmulepi64_epi128(a, b, 0x11));
	*mid = _mm256_xor_si256(
	    *mid, _mm256_xor_si256(_mm256_clmulepi64_epi128(a, b, 0x01),
				   _mm256_clmulepi64_epi128(a, b, 0x10)));
}

GCM_TARGET static inline __m128i
gf_finish(__m128i lo, __m128i mid, __m128i hi)
{
	lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
	hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
	return gf_reduce(lo, hi);
}

GCM_TARGET static inline __m128i
hpow(const struct gcm_vaes_key *k, unsigned i)
{
	return _mm_loadu_si128((const __m128i *)k->hp[i]);
}

/* Blocks 2i and 2i + 1 of a chunk at p, by H^(HPOW - 2i) and the next
 * power down, into lo, mid, hi. */
#define GHASH_PAIR(i) \
	clmul_acc256( \
	    bswap256(_mm256_loadu_si256((const __m256i *)(p + 32 * (i)))), \
	    _mm256_loadu_si256((const __m256i *)k->hp[2 * (i)]), &lo, &mid, \
	    &hi)

GCM_TARGET static inline __m128i
fold256(__m256i x)
{
	return _mm_xor_si128(_mm256_castsi256_si128(x),
			     _mm256_extracti128_si256(x, 1));
}

/*
 * Y <- GHASH state after the blocks of p (6.4), the last one padded with
 * zeros (the padding of A and of C in 7.1 step 5).
 */
GCM_TARGET static __m128i
ghash(const struct gcm_vaes_key *k, __m128i y, const uint8_t *p, size_t len)
{
	__m256i lo, mid, hi, x;
	__m128i lo1, mid1, hi1, x1;
	unsigned i, j;

	/* Whole chunks: (Y ^ X1)·H^24 ^ X2·H^23 ^ ... ^ X24·H. */
	for (; len >= 16 * HPOW; p += 16 * HPOW, len -= 16 * HPOW) {
		lo = mid = hi = _mm256_setzero_si256();
		clmul_acc256(_mm256_xor_si256(bswap256(_mm256_loadu_si256(
						  (const __m256i *)p)),
					      _mm256_zextsi128_si256(y)),
			     _mm256_loadu_si256((const __m256i *)k->hp[0]), &lo,
			     &mid, &hi);
#pragma GCC unroll 12
		for (i = 1; i < NREG; i++)
			GHASH_PAIR(i);
		y = gf_finish(fold256(lo), fold256(mid), fold256(hi));
	}
	if (len == 0)
		return y;
	/* The last 1 .. 24 blocks, the final one maybe partial: pairs,
	 * then one block; Y joins the first of them. */
	j = HPOW - (unsigned)((len + 15) / 16);
	lo = mid = hi = _mm256_setzero_si256();
	lo1 = mid1 = hi1 = _mm_setzero_si128();
	x1 = y;
	for (; len >= 32; p += 32, len -= 32, j += 2) {
		x = _mm256_xor_si256(
		    bswap256(_mm256_loadu_si256((const __m256i *)p)),
		    _mm256_zextsi128_si256(x1));
		x1 = _mm_setzero_si128();
		clmul_acc256(x, _mm256_loadu_si256((const __m256i *)k->hp[j]),
			     &lo, &mid, &hi);
	}
	if (len > 16) {
		/* One whole block and a partial one. */
		uint8_t last[32] = { 0 };

		memcpy(last, p, len);
		x = _mm256_xor_si256(
		    bswap256(_mm256_loadu_si256((const __m256i *)last)),
		    _mm256_zextsi128_si256(x1));
		clmul_acc256(x, _mm256_loadu_si256((const __m256i *)k->hp[j]),
			     &lo, &mid, &hi);
	} else if (len > 0) {
		uint8_t last[16] = { 0 };

		memcpy(last, p, len);
		x1 = _mm_xor_si128(
		    x1, bswap128(_mm_loadu_si128((const __m128i *)last)));
		clmul_acc(x1, hpow(k, j), &lo1, &mid1, &hi1);
	}
	return gf_finish(_mm_xor_si128(lo1, fold256(lo)),
			 _mm_xor_si128(mid1, fold256(mid)),
			 _mm_xor_si128(hi1, fold256(hi)));
}

/* --- CTR (SP 800-38D 6.5) --- */

/*
 * Counter blocks are kept with the 32-bit counter of inc32 (6.2) in
 * host order in the last lane, so that a vector add increments it modulo
 * 2^32; CTR_SWAP turns such a block into the big-endian block to
 * encrypt.
 */
#define CTR_SWAP \
	_mm256_set_epi8(12, 13, 14, 15, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, \
			12, 13, 14, 15, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)

#define RK(r) _mm256_loadu_si256((const __m256i *)k->rk[r])

/*
 * n registers (2n counter blocks) through the AES rounds; n is a
 * constant at each call, and the loops are unrolled so that the blocks
 * stay in registers and the rounds of different blocks overlap.
 */
GCM_TARGET static inline __attribute__((always_inline)) void
aes_xn(const struct gcm_vaes_key *k, __m256i *c, __m256i *x, unsigned n)
{
	const __m256i swap = CTR_SWAP,
		      two = _mm256_set_epi32(2, 0, 0, 0, 2, 0, 0, 0);
	__m256i rk = RK(0);
	unsigned r, i, nr = k->rounds;

#pragma GCC unroll 12
	for (i = 0; i < n; i++) {
		x[i] = _mm256_xor_si256(_mm256_shuffle_epi8(*c, swap), rk);
		*c = _mm256_add_epi32(*c, two);
	}
	for (r = 1; r < nr; r++) {
		rk = RK(r);
#pragma GCC unroll 12
		for (i = 0; i < n; i++)
			x[i] = _mm256_aesenc_epi128(x[i], rk);
	}
	rk = RK(nr);
#pragma GCC unroll 12
	for (i = 0; i < n; i++)
		x[i] = _mm256_aesenclast_epi128(x[i], rk);
}

/*
 * The counter blocks ctr and ctr + 1 of IV, one per lane, in the
 * host-order form CTR_SWAP expects.
 */
GCM_TARGET static inline __m256i
ctr_start(const uint8_t iv[12], uint32_t ctr)
{
	uint8_t blk[16];

	memcpy(blk, iv, 12);
	memcpy(blk + 12, &ctr, 4);
	return _mm256_add_epi32(
	    _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)blk)),
	    _mm256_set_epi32(1, 0, 0, 0, 0, 0, 0, 0));
}

/* Keystream for counter blocks ctr .. XORed into len octets of in. */
GCM_TARGET static void
ctr_xor(const struct gcm_vaes_key *k, const uint8_t iv[12], uint32_t ctr,
	const uint8_t *in, uint8_t *out, size_t len)
{
	__m256i c, x[NREG];
	uint8_t ks[32];
	size_t i;

	c = ctr_start(iv, ctr);
	for (; len >= 32 * NREG;
	     in += 32 * NREG, out += 32 * NREG, len -= 32 * NREG) {
		aes_xn(k, &c, x, NREG);
#pragma GCC unroll 12
		for (i = 0; i < NREG; i++)
			_mm256_storeu_si256(
			    (__m256i *)(out + 32 * i),
			    _mm256_xor_si256(
				x[i], _mm256_loadu_si256(
					  (const __m256i *)(in + 32 * i))));
	}
	if (len == 0)
		return;
	/* Up to 23 blocks and a partial one: 8, 16 or 24 more. */
	if (len > 256)
		aes_xn(k, &c, x, 12);
	else if (len > 128)
		aes_xn(k, &c, x, 8);
	else
		aes_xn(k, &c, x, 4);
	for (i = 0; len >= 32; i++, in += 32, out += 32, len -= 32)
		_mm256_storeu_si256(
		    (__m256i *)out,
		    _mm256_xor_si256(x[i],
				     _mm256_loadu_si256((const __m256i *)in)));
	if (len > 0) {
		_mm256_storeu_si256((__m256i *)ks, x[i]);
		for (i = 0; i < len; i++)
			out[i] = in[i] ^ ks[i];
		secmem_wipe(ks, sizeof(ks));
	}
}

/* --- The key object and the two directions (SP 800-38D 7.1, 7.2) --- */

GCM_TARGET static void
key_setup(struct gcm_vaes_key *k, const uint8_t *key, size_t key_len)
{
	__m128i rk[15], h, p[HPOW];
	unsigned i;

	if (key_len == 16) {
		aes128_expand(key, rk);
		k->rounds = 10;
	} else {
		aes256_expand(key, rk);
		k->rounds = 14;
	}
	for (i = 0; i <= k->rounds; i++)
		_mm256_storeu_si256((__m256i *)k->rk[i],
				    _mm256_broadcastsi128_si256(rk[i]));
	/* H = CIPH_K(0^128) (7.1 step 1) */
	h = bswap128(aes_block(k, _mm_setzero_si128()));
	p[0] = h;
	for (i = 1; i < HPOW; i++) {
		__m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;

		clmul_acc(p[i - 1], h, &lo, &mid, &hi);
		p[i] = gf_finish(lo, mid, hi);
	}
	for (i = 0; i < HPOW; i++)
		_mm_storeu_si128((__m128i *)k->hp[HPOW - 1 - i], p[i]);
	secmem_wipe(rk, sizeof(rk));
	secmem_wipe(p, sizeof(p));
	secmem_wipe(&h, sizeof(h));
}

struct gcm_vaes_key *
gcm_vaes_key_new(const uint8_t *key, size_t key_len)
{
	struct gcm_vaes_key *k;

	if ((key_len != 16 && key_len != 32) || !gcm_vaes_available())
		return NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	key_setup(k, key, key_len);
	return k;
}

/*
 * CTR and GHASH in one loop over whole chunks of sixteen blocks, so that
 * the AES rounds of a chunk and the carry-less multiplies of the same
 * (decrypting) or the previous (encrypting, out of order) chunk overlap.
 * GHASH takes the ciphertext: in when decrypting, out when encrypting.
 * in may be out.  Returns the octets done, a multiple of 256.
 */
GCM_TARGET static size_t
ctr_ghash(const struct gcm_vaes_key *k, const uint8_t iv[12], uint32_t ctr,
	  __m128i *y, const uint8_t *in, uint8_t *out, size_t len, bool enc)
{
	__m256i c, x[NREG], d, lo, mid, hi;
	size_t done;
	unsigned i;

	c = ctr_start(iv, ctr);
	for (done = 0; len - done >= 16 * HPOW; done += 16 * HPOW) {
		aes_xn(k, &c, x, NREG);
		lo = mid = hi = _mm256_setzero_si256();
#pragma GCC unroll 12
		for (i = 0; i < NREG; i++) {
			d = _mm256_loadu_si256(
			    (const __m256i *)(in + done + 32 * i));
			x[i] = _mm256_xor_si256(x[i], d);
			_mm256_storeu_si256((__m256i *)(out + done + 32 * i),
					    x[i]);
			d = bswap256(enc ? x[i] : d);
			if (i == 0) /* Y joins the first block (6.4) */
				d = _mm256_xor_si256(
				    d, _mm256_zextsi128_si256(*y));
			clmul_acc256(
			    d,
			    _mm256_loadu_si256((const __m256i *)k->hp[2 * i]),
			    &lo, &mid, &hi);
		}
		*y = gf_finish(fold256(lo), fold256(mid), fold256(hi));
	}
	return done;
}

/* Which of the 32 octets of a register lie below r (0 .. 32). */
GCM_TARGET static inline __m256i
mask_below(int r)
{
	return _mm256_cmpgt_epi8(_mm256_set1_epi8((char)r),
				 _mm256_set_epi8(31, 30, 29, 28, 27, 26, 25, 24,
						 23, 22, 21, 20, 19, 18, 17, 16,
						 15, 14, 13, 12, 11, 10, 9, 8,
						 7, 6, 5, 4, 3, 2, 1, 0));
}

/*
 * The last octets (fewer than a chunk), stitched as ctr_ghash() is,
 * through a buffer for the last partial register; the m = ceil(len / 16)
 * blocks, the last one padded with zeros (7.1 step 5), are followed by
 * the length block lb when fold (m < HPOW): they take H^(m+1) .. H^2 and
 * lb takes H, so that *y comes out as S (7.1 step 5) after a single
 * reduction.  An odd m leaves the last register's second block zero
 * (any power times zero adds nothing).  Returns fold.
 */
GCM_TARGET static inline __attribute__((always_inline)) bool
tail_n(const struct gcm_vaes_key *k, __m256i *c, __m128i *y, const uint8_t *in,
       uint8_t *out, size_t len, bool enc, __m128i lb, unsigned n)
{
	__m256i x[NREG], d, o, lo, mid, hi;
	__m128i lo1 = _mm_setzero_si128(), mid1 = lo1, hi1 = lo1;
	unsigned i, m = (unsigned)((len + 15) / 16);
	bool fold = m < HPOW;
	unsigned j = HPOW - m - (fold ? 1 : 0);
	uint8_t buf[32];

	aes_xn(k, c, x, n);
	lo = mid = hi = _mm256_setzero_si256();
#pragma GCC unroll 12
	for (i = 0; i < n; i++) {
		size_t r = len - 32 * i;

		if (32 * i >= len)
			break;
		if (r >= 32) {
			d = _mm256_loadu_si256((const __m256i *)(in + 32 * i));
			o = _mm256_xor_si256(x[i], d);
			_mm256_storeu_si256((__m256i *)(out + 32 * i), o);
		} else {
			memset(buf, 0, sizeof(buf));
			memcpy(buf, in + 32 * i, r);
			d = _mm256_loadu_si256((const __m256i *)buf);
			o = _mm256_and_si256(_mm256_xor_si256(x[i], d),
					     mask_below((int)r));
			_mm256_storeu_si256((__m256i *)buf, o);
			memcpy(out + 32 * i, buf, r);
			secmem_wipe(buf, sizeof(buf));
		}
		d = bswap256(enc ? o : d);
		if (i == 0)
			d = _mm256_xor_si256(d, _mm256_zextsi128_si256(*y));
		clmul_acc256(
		    d, _mm256_loadu_si256((const __m256i *)k->hp[j + 2 * i]),
		    &lo, &mid, &hi);
	}
	if (fold)
		clmul_acc(lb, hpow(k, HPOW - 1), &lo1, &mid1, &hi1);
	*y = gf_finish(_mm_xor_si128(lo1, fold256(lo)),
		       _mm_xor_si128(mid1, fold256(mid)),
		       _mm_xor_si128(hi1, fold256(hi)));
	return fold;
}

GCM_TARGET static bool
ctr_ghash_tail(const struct gcm_vaes_key *k, const uint8_t iv[12], uint32_t ctr,
	       __m128i *y, const uint8_t *in, uint8_t *out, size_t len,
	       bool enc, __m128i lb)
{
	__m256i c;

	c = ctr_start(iv, ctr);
	if (len > 256)
		return tail_n(k, &c, y, in, out, len, enc, lb, 12);
	if (len > 128)
		return tail_n(k, &c, y, in, out, len, enc, lb, 8);
	return tail_n(k, &c, y, in, out, len, enc, lb, 4);
}

/* [len(A)]64 || [len(C)]64 (7.1 step 5), byte-reversed: len(C) is the
 * low half. */
GCM_TARGET static inline __m128i
len_block(size_t aad_len, size_t len)
{
	return _mm_set_epi64x((long long)aad_len * 8, (long long)len * 8);
}

/*
 * CTR and GHASH from a block boundary to the end of the text, then the
 * length block lb: *y comes out as S (7.1 step 5).
 */
GCM_TARGET static void
run_last(const struct gcm_vaes_key *k, const uint8_t iv[12], uint32_t ctr,
	 __m128i *y, const uint8_t *in, uint8_t *out, size_t len, bool enc,
	 __m128i lb)
{
	size_t done = ctr_ghash(k, iv, ctr, y, in, out, len, enc);
	__m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;

	if (len > done &&
	    ctr_ghash_tail(k, iv, ctr + (uint32_t)(done / 16), y, in + done,
			   out + done, len - done, enc, lb))
		return;
	clmul_acc(_mm_xor_si128(*y, lb), hpow(k, HPOW - 1), &lo, &mid, &hi);
	*y = gf_finish(lo, mid, hi);
}

/* CIPH_K(J0), J0 = IV || 0^31 || 1 (7.1 step 2): computed first, so
 * that its rounds overlap the GHASH work that the tag waits for. */
GCM_TARGET static inline __m128i
ek_j0(const struct gcm_vaes_key *k, const uint8_t iv[12])
{
	uint8_t j0[16];

	memcpy(j0, iv, 12);
	j0[12] = j0[13] = j0[14] = 0;
	j0[15] = 1;
	return aes_block(k, _mm_loadu_si128((const __m128i *)j0));
}

/* The tag: MSB_t(GCTR_K(J0, S)) (7.1 step 6). */
GCM_TARGET static inline void
tag_finish(__m128i ej0, __m128i s, uint8_t tag[16])
{
	_mm_storeu_si128((__m128i *)tag, _mm_xor_si128(bswap128(s), ej0));
}

/*
 * One part of the plaintext from a block boundary of the ciphertext:
 * whole chunks stitched, then the rest of its whole blocks by CTR alone.
 * *hashed is how far GHASH has gone over ct; it catches up before the
 * stitched chunks.  Returns the octets encrypted (a multiple of 16).
 */
GCM_TARGET static size_t
seal_part(const struct gcm_vaes_key *k, const uint8_t iv[12], uint32_t *ctr,
	  __m128i *y, const uint8_t *pt, size_t len, uint8_t *ct,
	  size_t *hashed, size_t at)
{
	size_t full = len & ~(size_t)15, done;

	if (full >= 16 * HPOW) {
		*y = ghash(k, *y, ct + *hashed, at - *hashed);
		done = ctr_ghash(k, iv, *ctr, y, pt, ct + at, full, true);
		*hashed = at + done;
		*ctr += (uint32_t)(done / 16);
		pt += done;
		at += done;
		full -= done;
	}
	ctr_xor(k, iv, *ctr, pt, ct + at, full);
	*ctr += (uint32_t)(full / 16);
	return (len & ~(size_t)15);
}

GCM_TARGET static void
seal2(const struct gcm_vaes_key *k, const uint8_t iv[12], const uint8_t *aad,
      size_t aad_len, const uint8_t *pt, size_t len, const uint8_t *pt2,
      size_t len2, uint8_t *ct, uint8_t tag[16])
{
	size_t full, rem, take = 0, hashed = 0, at;
	uint32_t ctr = 2; /* inc32(J0) (7.1 step 3) */
	__m128i ej0 = ek_j0(k, iv);
	__m128i y = ghash(k, _mm_setzero_si128(), aad, aad_len);

	if (len2 == 0) {
		run_last(k, iv, ctr, &y, pt, ct, len, true,
			 len_block(aad_len, len));
		tag_finish(ej0, y, tag);
		return;
	}
	full = seal_part(k, iv, &ctr, &y, pt, len, ct, &hashed, 0);
	rem = len - full;
	at = full;
	if (rem > 0) {
		/* The block that straddles the two parts. */
		uint8_t blk[16];

		take = len2 < 16 - rem ? len2 : 16 - rem;
		memcpy(blk, pt + full, rem);
		memcpy(blk + rem, pt2, take);
		ctr_xor(k, iv, ctr, blk, blk, rem + take);
		memcpy(ct + full, blk, rem + take);
		secmem_wipe(blk, sizeof(blk));
		ctr++;
		at = len + take;
	}
	/* GHASH catches up to the block boundary where pt2's rest starts. */
	y = ghash(k, y, ct + hashed, at - hashed);
	run_last(k, iv, ctr, &y, pt2 + take, ct + at, len2 - take, true,
		 len_block(aad_len, len + len2));
	tag_finish(ej0, y, tag);
}

int
gcm_vaes_seal2(const struct gcm_vaes_key *k, const uint8_t iv[12],
	       const uint8_t *aad, size_t aad_len, const uint8_t *pt,
	       size_t len, const uint8_t *pt2, size_t len2, uint8_t *ct,
	       uint8_t tag[16])
{
	if (k == NULL)
		return -1;
	seal2(k, iv, aad, aad_len, pt, len, pt2, len2, ct, tag);
	return 0;
}

GCM_TARGET static int
open_(const struct gcm_vaes_key *k, const uint8_t iv[12], const uint8_t *aad,
      size_t aad_len, const uint8_t *ct, size_t len, uint8_t *pt,
      const uint8_t tag[16])
{
	__m128i ej0 = ek_j0(k, iv);
	__m128i y = ghash(k, _mm_setzero_si128(), aad, aad_len);
	uint8_t want[16];
	bool ok;

	run_last(k, iv, 2, &y, ct, pt, len, false, len_block(aad_len, len));
	/* 7.2 steps 6-8: compare the tag in constant time. */
	tag_finish(ej0, y, want);
	ok = ct_equal(want, tag, sizeof(want));
	secmem_wipe(want, sizeof(want));
	if (!ok) {
		/* Nothing of a frame that does not verify is released. */
		if (len > 0)
			secmem_wipe(pt, len);
		return -1;
	}
	return 0;
}

int
gcm_vaes_open(const struct gcm_vaes_key *k, const uint8_t iv[12],
	      const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t len,
	      uint8_t *pt, const uint8_t tag[16])
{
	if (k == NULL)
		return -1;
	return open_(k, iv, aad, aad_len, ct, len, pt, tag);
}

#else /* not x86-64: the engine is not available */

struct gcm_vaes_key {
	uint8_t unused;
};

bool
gcm_vaes_available(void)
{
	return false;
}

struct gcm_vaes_key *
gcm_vaes_key_new(const uint8_t *key, size_t key_len)
{
	(void)key;
	(void)key_len;
	return NULL;
}

int
gcm_vaes_seal2(const struct gcm_vaes_key *k, const uint8_t iv[12],
	       const uint8_t *aad, size_t aad_len, const uint8_t *pt,
	       size_t len, const uint8_t *pt2, size_t len2, uint8_t *ct,
	       uint8_t tag[16])
{
	(void)k, (void)iv, (void)aad, (void)aad_len, (void)pt, (void)len;
	(void)pt2, (void)len2, (void)ct, (void)tag;
	return -1;
}

int
gcm_vaes_open(const struct gcm_vaes_key *k, const uint8_t iv[12],
	      const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t len,
	      uint8_t *pt, const uint8_t tag[16])
{
	(void)k, (void)iv, (void)aad, (void)aad_len, (void)ct, (void)len;
	(void)pt, (void)tag;
	return -1;
}

#endif

void
gcm_vaes_key_free(struct gcm_vaes_key *k)
{
	/* secmem_free wipes the whole block: round keys and H powers. */
	secmem_free(k);
}
