/*
 * test_mka_secy_nl.c — the kernel SecY's netlink messages (secy_nl.c),
 * read back with a walker of our own over the wire format of netlink(7)
 * (struct nlattr: 16-bit length, 16-bit type, 4-octet alignment;
 * NLA_F_NESTED cleared) and the attribute numbers and types of the uapi
 * header linux/if_macsec.h, as drivers/net/macsec.c reads them: SCI and
 * SSCI as wire octets (sci_t, ssci_t are big-endian), PN 4 octets
 * (8 on XPN), SALT 12, KEYID 16.  The dump replies are built here in the
 * layout of the kernel's dump_secy().
 */
#include "harness.h"

#include "mka_wire.h"
#include "secy_nl.h"

#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/if_macsec.h>
#include <linux/rtnetlink.h>
#include <netlink/genl/genl.h>
#include <netlink/route/link/macsec.h>

#define ALIGN4(n) (((n) + 3u) & ~3u)

/* The payload of attribute type in [p, p + len), or NULL. */
static const uint8_t *
attr(const uint8_t *p, size_t len, uint16_t type, size_t *alen)
{
	while (len >= 4) {
		uint16_t l, t;

		memcpy(&l, p, 2);
		memcpy(&t, p + 2, 2);
		if (l < 4 || l > len)
			return NULL;
		if ((t & 0x3fff) == type) {
			*alen = l - 4u;
			return p + 4;
		}
		if (ALIGN4(l) >= len)
			break;
		p += ALIGN4(l);
		len -= ALIGN4(l);
	}
	return NULL;
}

/* The attributes of a generic netlink message. */
static const uint8_t *
genl_attrs(struct nl_msg *m, size_t *len)
{
	const uint8_t *h = (const uint8_t *)nlmsg_hdr(m);
	uint32_t total;

	memcpy(&total, h, 4);
	*len = total - NLMSG_HDRLEN - GENL_HDRLEN;
	return h + NLMSG_HDRLEN + GENL_HDRLEN;
}

static struct nl_msg *
new_genl(void)
{
	struct nl_msg *m = nlmsg_alloc();

	if (m == NULL ||
	    genlmsg_put(m, 0, 0, 27, 0, 0, MACSEC_CMD_ADD_RXSA, 1) == NULL)
		abort();
	return m;
}

static uint32_t
u32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t
u64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static const uint8_t sci_a[8] = { 0x02, 0, 0, 0, 0, 0x0a, 0x00, 0x01 };
static const uint8_t sci_b[8] = { 0x02, 0, 0, 0, 0, 0x0b, 0x00, 0x01 };
static const uint8_t key128[16] = { 0xad, 0x7a, 0x2b, 0xd0, 0x3e, 0xac,
				    0x83, 0x5a, 0x6f, 0x62, 0x0f, 0xdc,
				    0xb5, 0x06, 0xb3, 0x45 };

TEST(rxsc_names_the_sc_in_wire_order)
{
	struct nl_msg *m = new_genl();
	const uint8_t *a, *n, *v;
	size_t len, nlen, vlen;

	ASSERT_INT_EQ(secy_nl_rxsc(m, 7, sci_a), 0);
	a = genl_attrs(m, &len);
	ASSERT_TRUE((v = attr(a, len, MACSEC_ATTR_IFINDEX, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, 4);
	ASSERT_INT_EQ(u32_at(v), 7);
	ASSERT_TRUE((n = attr(a, len, MACSEC_ATTR_RXSC_CONFIG, &nlen)) != NULL);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_RXSC_ATTR_SCI, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, 8);
	ASSERT_TRUE(memcmp(v, sci_a, 8) == 0);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_RXSC_ATTR_ACTIVE, &vlen)) !=
		    NULL);
	ASSERT_INT_EQ(v[0], 1);
	nlmsg_free(m);
}

TEST(txsa_gcm_aes_128)
{
	struct nl_msg *m = new_genl();
	struct mka_sa sa = {
		.an = 2, .pn = 0x12345678, .key = key128, .key_len = 16
	};
	const uint8_t *a, *n, *v;
	size_t len, nlen, vlen;

	for (int i = 0; i < 16; i++)
		sa.ki[i] = (uint8_t)(0xa0 + i);
	ASSERT_INT_EQ(secy_nl_sa(m, 9, NULL, &sa), 0);
	a = genl_attrs(m, &len);
	ASSERT_TRUE(attr(a, len, MACSEC_ATTR_RXSC_CONFIG, &nlen) == NULL);
	ASSERT_TRUE((n = attr(a, len, MACSEC_ATTR_SA_CONFIG, &nlen)) != NULL);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_AN, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], 2);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_PN, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, 4);
	ASSERT_U64_EQ(u32_at(v), 0x12345678);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_KEY, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, 16);
	ASSERT_TRUE(memcmp(v, key128, 16) == 0);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_KEYID, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, MACSEC_KEYID_LEN);
	ASSERT_TRUE(memcmp(v, sa.ki, 16) == 0);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_ACTIVE, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], 0);
	ASSERT_TRUE(attr(n, nlen, MACSEC_SA_ATTR_SSCI, &vlen) == NULL);
	ASSERT_TRUE(attr(n, nlen, MACSEC_SA_ATTR_SALT, &vlen) == NULL);
	nlmsg_free(m);
}

TEST(rxsa_xpn_256_has_64_bit_pn_ssci_and_salt)
{
	static const uint8_t key256[32] = { 1,	2,  3,	4,  5,	6,  7,	8,
					    9,	10, 11, 12, 13, 14, 15, 16,
					    17, 18, 19, 20, 21, 22, 23, 24,
					    25, 26, 27, 28, 29, 30, 31, 32 };
	struct nl_msg *m = new_genl();
	struct mka_sa sa = { .an = 3,
			     .pn = 0x100000002ull,
			     .key = key256,
			     .key_len = 32,
			     .xpn = true,
			     .ssci = 0x7a30c118 };
	static const uint8_t ssci_wire[4] = { 0x7a, 0x30, 0xc1, 0x18 };
	const uint8_t *a, *n, *v;
	size_t len, nlen, vlen;

	for (int i = 0; i < 12; i++)
		sa.salt[i] = (uint8_t)(0xe0 + i);
	ASSERT_INT_EQ(secy_nl_sa(m, 9, sci_b, &sa), 0);
	a = genl_attrs(m, &len);
	ASSERT_TRUE((n = attr(a, len, MACSEC_ATTR_RXSC_CONFIG, &nlen)) != NULL);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_RXSC_ATTR_SCI, &vlen)) != NULL);
	ASSERT_TRUE(memcmp(v, sci_b, 8) == 0);
	ASSERT_TRUE((n = attr(a, len, MACSEC_ATTR_SA_CONFIG, &nlen)) != NULL);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_PN, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, 8);
	ASSERT_U64_EQ(u64_at(v), 0x100000002ull);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_KEY, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, 32);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_SSCI, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, 4);
	ASSERT_TRUE(memcmp(v, ssci_wire, 4) == 0);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_SALT, &vlen)) != NULL);
	ASSERT_INT_EQ(vlen, MACSEC_SALT_LEN);
	ASSERT_TRUE(memcmp(v, sa.salt, 12) == 0);
	nlmsg_free(m);
}

TEST(sa_refused_before_the_kernel)
{
	struct mka_sa sa = { .an = 4, .pn = 1, .key = key128, .key_len = 16 };
	struct nl_msg *m = new_genl();

	ASSERT_INT_EQ(secy_nl_sa(m, 1, NULL, &sa), -1); /* AN 0..3 */
	nlmsg_free(m);
	m = new_genl();
	sa.an = 0;
	sa.pn = 0; /* PN 0 never valid */
	ASSERT_INT_EQ(secy_nl_sa(m, 1, NULL, &sa), -1);
	nlmsg_free(m);
	m = new_genl();
	sa.pn = 1ull << 32; /* 32-bit PN */
	ASSERT_INT_EQ(secy_nl_sa(m, 1, NULL, &sa), -1);
	nlmsg_free(m);
	m = new_genl();
	sa.xpn = true; /* fine with XPN */
	ASSERT_INT_EQ(secy_nl_sa(m, 1, NULL, &sa), 0);
	nlmsg_free(m);
}

TEST(sa_state_active_or_not_given)
{
	struct nl_msg *m = new_genl();
	const uint8_t *a, *n, *v;
	size_t len, nlen, vlen;

	ASSERT_INT_EQ(secy_nl_sa_state(m, 5, sci_a, 1, 1), 0);
	a = genl_attrs(m, &len);
	ASSERT_TRUE((n = attr(a, len, MACSEC_ATTR_SA_CONFIG, &nlen)) != NULL);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_ACTIVE, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], 1);
	nlmsg_free(m);
	m = new_genl();
	ASSERT_INT_EQ(secy_nl_sa_state(m, 5, NULL, 1, SECY_NL_KEEP), 0);
	a = genl_attrs(m, &len);
	ASSERT_TRUE((n = attr(a, len, MACSEC_ATTR_SA_CONFIG, &nlen)) != NULL);
	ASSERT_TRUE((v = attr(n, nlen, MACSEC_SA_ATTR_AN, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], 1);
	ASSERT_TRUE(attr(n, nlen, MACSEC_SA_ATTR_ACTIVE, &vlen) == NULL);
	nlmsg_free(m);
}

TEST(wipe_leaves_no_key_byte)
{
	struct nl_msg *m = new_genl();
	struct mka_sa sa = { .an = 0, .pn = 1, .key = key128, .key_len = 16 };
	const uint8_t *h;
	uint32_t total;

	ASSERT_INT_EQ(secy_nl_sa(m, 1, NULL, &sa), 0);
	h = (const uint8_t *)nlmsg_hdr(m);
	memcpy(&total, h, 4);
	secy_nl_wipe(m);
	for (uint32_t i = 0; i + 16 <= total; i++)
		ASSERT_TRUE(memcmp(h + i, key128, 16) != 0);
	nlmsg_free(m);
}

/* A raw attribute writer for the dump replies, in the kernel's layout. */
struct w {
	uint8_t b[1024];
	size_t n;
};

static size_t
w_put(struct w *w, uint16_t type, const void *v, size_t len)
{
	uint16_t l = (uint16_t)(4 + len);
	size_t at = w->n;

	memcpy(w->b + w->n, &l, 2);
	memcpy(w->b + w->n + 2, &type, 2);
	if (len > 0)
		memcpy(w->b + w->n + 4, v, len);
	w->n += ALIGN4(4 + len);
	return at;
}

static size_t
w_nest(struct w *w, uint16_t type)
{
	return w_put(w, type | NLA_F_NESTED, NULL, 0);
}

static void
w_end(struct w *w, size_t at)
{
	uint16_t l = (uint16_t)(w->n - at);

	memcpy(w->b + at, &l, 2);
}

static void
w_sa(struct w *w, uint16_t idx, uint8_t an, const void *pn, size_t pnlen)
{
	size_t s = w_nest(w, idx);
	uint8_t one = 1;

	w_put(w, MACSEC_SA_ATTR_AN, &an, 1);
	w_put(w, MACSEC_SA_ATTR_PN, pn, pnlen);
	w_put(w, MACSEC_SA_ATTR_ACTIVE, &one, 1);
	w_end(w, s);
}

/* A GET_TXSC dump message for SecY ifindex: tx SAs 0 and 1, SC sci_b. */
static struct nlmsghdr *
dump_msg(struct w *w, uint32_t ifindex, size_t pnlen)
{
	struct nlmsghdr h = { .nlmsg_type = 27 };
	struct genlmsghdr g = { .cmd = MACSEC_CMD_GET_TXSC, .version = 1 };
	uint32_t pn32[2] = { 1000, 77 };
	uint64_t pn64[2] = { 0x1000003e8ull, 0x4dull };
	size_t l, sc, sl;

	memset(w, 0, sizeof(*w));
	w->n = NLMSG_HDRLEN;
	memcpy(w->b + w->n, &g, sizeof(g));
	w->n += GENL_HDRLEN;
	w_put(w, MACSEC_ATTR_IFINDEX, &ifindex, 4);
	l = w_nest(w, MACSEC_ATTR_TXSA_LIST);
	w_sa(w, 1, 0, pnlen == 4 ? (void *)&pn32[0] : (void *)&pn64[0], pnlen);
	w_sa(w, 2, 1, pnlen == 4 ? (void *)&pn32[1] : (void *)&pn64[1], pnlen);
	w_end(w, l);
	l = w_nest(w, MACSEC_ATTR_RXSC_LIST);
	sc = w_nest(w, 1);
	w_put(w, MACSEC_RXSC_ATTR_SCI, sci_b, 8);
	sl = w_nest(w, MACSEC_RXSC_ATTR_SA_LIST);
	w_sa(w, 1, 3, pnlen == 4 ? (void *)&pn32[1] : (void *)&pn64[1], pnlen);
	w_end(w, sl);
	w_end(w, sc);
	w_end(w, l);
	h.nlmsg_len = (uint32_t)w->n;
	memcpy(w->b, &h, sizeof(h));
	return (struct nlmsghdr *)(void *)w->b;
}

TEST(dump_pn_of_transmit_and_receive_sas)
{
	static struct w w;
	uint64_t pn = 0;

	ASSERT_INT_EQ(secy_nl_dump_pn(dump_msg(&w, 4, 4), 4, NULL, 0, &pn), 1);
	ASSERT_U64_EQ(pn, 1000);
	ASSERT_INT_EQ(secy_nl_dump_pn(dump_msg(&w, 4, 4), 4, NULL, 1, &pn), 1);
	ASSERT_U64_EQ(pn, 77);
	ASSERT_INT_EQ(secy_nl_dump_pn(dump_msg(&w, 4, 4), 4, sci_b, 3, &pn), 1);
	ASSERT_U64_EQ(pn, 77);
	/* XPN: 64-bit PNs. */
	ASSERT_INT_EQ(secy_nl_dump_pn(dump_msg(&w, 4, 8), 4, NULL, 0, &pn), 1);
	ASSERT_U64_EQ(pn, 0x1000003e8ull);
	/* Not there: another SecY, another SC, another AN. */
	ASSERT_INT_EQ(secy_nl_dump_pn(dump_msg(&w, 4, 4), 5, NULL, 0, &pn), 0);
	ASSERT_INT_EQ(secy_nl_dump_pn(dump_msg(&w, 4, 4), 4, sci_a, 3, &pn), 0);
	ASSERT_INT_EQ(secy_nl_dump_pn(dump_msg(&w, 4, 4), 4, NULL, 2, &pn), 0);
	/* A PN of neither 4 nor 8 octets is malformed, not a number. */
	ASSERT_INT_EQ(secy_nl_dump_pn(dump_msg(&w, 4, 2), 4, NULL, 0, &pn), -1);
}

/* IFLA_INFO_DATA of a link request libnl builds from l. */
static const uint8_t *
info_data(struct rtnl_link *l, struct nl_msg **mp, size_t *len)
{
	const uint8_t *h, *li;
	size_t lilen;
	uint32_t total;

	if (rtnl_link_build_add_request(l, 0, mp) < 0)
		return NULL;
	h = (const uint8_t *)nlmsg_hdr(*mp);
	memcpy(&total, h, 4);
	h += NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg));
	total -= NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg));
	if ((li = attr(h, total, IFLA_LINKINFO, &lilen)) == NULL)
		return NULL;
	return attr(li, lilen, IFLA_INFO_DATA, len);
}

TEST(policy_sets_what_the_kernel_may_change)
{
	struct mka_secy_policy pol = {
		.cs = MKA_CS_GCM_AES_XPN_128,
		.conf_offset = MKA_CO_0,
		.protect = true,
		.replay_protect = true,
		.replay_window = 32,
		.validate = MKA_VALIDATE_STRICT,
	};
	struct rtnl_link *l = rtnl_link_macsec_alloc();
	struct nl_msg *m = NULL;
	const uint8_t *d, *v;
	const char *why;
	size_t len, vlen;

	ASSERT_TRUE(l != NULL);
	ASSERT_INT_EQ(secy_nl_policy(l, &pol, &why), 0);
	ASSERT_TRUE((d = info_data(l, &m, &len)) != NULL);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_PROTECT, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], 1);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_ENCRYPT, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], 1);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_VALIDATION, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], MACSEC_VALIDATE_STRICT);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_REPLAY_PROTECT, &vlen)) !=
		    NULL);
	ASSERT_INT_EQ(v[0], 1);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_WINDOW, &vlen)) != NULL);
	ASSERT_INT_EQ(u32_at(v), 32);
	/*
	 * The kernel refuses a change naming the suite, ICV length, SCI or
	 * port (macsec_changelink: EINVAL): a policy names none of them.
	 */
	ASSERT_TRUE(attr(d, len, IFLA_MACSEC_CIPHER_SUITE, &vlen) == NULL);
	ASSERT_TRUE(attr(d, len, IFLA_MACSEC_ICV_LEN, &vlen) == NULL);
	ASSERT_TRUE(attr(d, len, IFLA_MACSEC_SCI, &vlen) == NULL);
	ASSERT_TRUE(attr(d, len, IFLA_MACSEC_PORT, &vlen) == NULL);
	nlmsg_free(m);
	rtnl_link_put(l);
}

TEST(policy_integrity_only_and_check)
{
	struct mka_secy_policy pol = {
		.cs = MKA_CS_GCM_AES_128,
		.conf_offset = MKA_CO_INTEGRITY_ONLY,
		.protect = false,
		.validate = MKA_VALIDATE_CHECK,
	};
	struct rtnl_link *l = rtnl_link_macsec_alloc();
	struct nl_msg *m = NULL;
	const uint8_t *d, *v;
	const char *why;
	size_t len, vlen;

	ASSERT_INT_EQ(secy_nl_policy(l, &pol, &why), 0);
	ASSERT_TRUE((d = info_data(l, &m, &len)) != NULL);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_PROTECT, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], 0);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_ENCRYPT, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], 0);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_VALIDATION, &vlen)) != NULL);
	ASSERT_INT_EQ(v[0], MACSEC_VALIDATE_CHECK);
	ASSERT_TRUE((v = attr(d, len, IFLA_MACSEC_REPLAY_PROTECT, &vlen)) !=
		    NULL);
	ASSERT_INT_EQ(v[0], 0);
	nlmsg_free(m);
	rtnl_link_put(l);
}

TEST(policy_offset_30_refused_with_a_reason)
{
	struct mka_secy_policy pol = { .cs = MKA_CS_GCM_AES_128,
				       .conf_offset = MKA_CO_30,
				       .protect = true };
	struct rtnl_link *l = rtnl_link_macsec_alloc();
	const char *why = NULL;

	ASSERT_INT_EQ(secy_nl_policy(l, &pol, &why), -1);
	ASSERT_TRUE(why != NULL && strstr(why, "offset") != NULL);
	pol.conf_offset = MKA_CO_50;
	ASSERT_INT_EQ(secy_nl_policy(l, &pol, &why), -1);
	rtnl_link_put(l);
}

TEST_MAIN(TEST_CASE(rxsc_names_the_sc_in_wire_order),
	  TEST_CASE(txsa_gcm_aes_128),
	  TEST_CASE(rxsa_xpn_256_has_64_bit_pn_ssci_and_salt),
	  TEST_CASE(sa_refused_before_the_kernel),
	  TEST_CASE(sa_state_active_or_not_given),
	  TEST_CASE(wipe_leaves_no_key_byte),
	  TEST_CASE(dump_pn_of_transmit_and_receive_sas),
	  TEST_CASE(policy_sets_what_the_kernel_may_change),
	  TEST_CASE(policy_integrity_only_and_check),
	  TEST_CASE(policy_offset_30_refused_with_a_reason))
