/*
 * test_mka_conf.c — mka-agent.conf parsing (mka_conf.c): every key of
 * mka-agent.conf(5) lands where it should, and every malformed or
 * incomplete configuration is refused.
 */
#include "harness.h"

#include "log.h"
#include "mka_conf.h"
#include "mka_wire.h"
#include "util.h"

#include <sys/stat.h>
#include <unistd.h>

static char path[64];

__attribute__((constructor)) static void
quiet(void)
{
	log_set_level(LOG_LVL_ERR);
}

static int
load(const char *text, unsigned mode, struct mka_conf *c)
{
	int rc;

	if (file_write_atomic(path, text, strlen(text), mode) == -1)
		abort();
	chmod(path, mode);
	rc = mka_conf_load(path, c);
	return rc;
}

TEST(psk_port_with_every_key)
{
	static struct mka_conf c;
	const struct mka_port_conf *p;

	ASSERT_INT_EQ(load("status_socket = /run/x.sock\n"
			   "key_log = /var/lib/k.log\n"
			   "log_level = debug\n"
			   "[port eth1]\n"
			   "cak_source = psk\n"
			   "cak = 00112233445566778899aabbccddeeff\n"
			   "ckn = 0102\n"
			   "priority = 7\n"
			   "port_id = 3\n"
			   "macsec_desired = no\n"
			   "cipher_suites = gcm-aes-xpn-256, GCM-AES-128\n"
			   "confidentiality_offset = 30\n"
			   "replay_protect = no\n"
			   "replay_window = 64\n"
			   "eapol_destination = broadcast\n"
			   "hello_time = 500ms\n"
			   "life_time = 2s\n"
			   "pn_threshold = 1000\n"
			   "secy_socket = none\n"
			   "[port eth2]\n"
			   "cak = 00112233445566778899aabbccddeeff"
			   "00112233445566778899aabbccddeeff\n"
			   "ckn = 03\n"
			   "eapol_destination = 02-00-00-00-00-0b\n",
			   0600, &c),
		      0);
	ASSERT_STR_EQ(c.status_socket, "/run/x.sock");
	ASSERT_STR_EQ(c.key_log, "/var/lib/k.log");
	ASSERT_INT_EQ(c.log_level, LOG_LVL_DEBUG);
	ASSERT_INT_EQ(c.n_ports, 2);
	p = &c.ports[0];
	ASSERT_STR_EQ(p->ifname, "eth1");
	ASSERT_INT_EQ(p->cak_len, 16);
	ASSERT_INT_EQ(p->ckn_len, 2);
	ASSERT_INT_EQ(p->kay.priority, 7);
	ASSERT_INT_EQ(p->kay.port_id, 3);
	ASSERT_TRUE(!p->kay.macsec_desired);
	ASSERT_INT_EQ(p->kay.n_suites, 2);
	ASSERT_U64_EQ(p->kay.suites[0], MKA_CS_GCM_AES_XPN_256);
	ASSERT_U64_EQ(p->kay.suites[1], MKA_CS_GCM_AES_128);
	ASSERT_INT_EQ(p->kay.conf_offset, MKA_CO_30);
	ASSERT_INT_EQ(p->kay.capability, MKA_CAP_CONF_0_30_50);
	ASSERT_TRUE(!p->kay.replay_protect);
	ASSERT_INT_EQ(p->kay.replay_window, 64);
	ASSERT_MEM_EQ(p->kay.eapol_da, "\xff\xff\xff\xff\xff\xff", 6);
	ASSERT_INT_EQ(p->kay.hello_ms, 500);
	ASSERT_INT_EQ(p->kay.life_ms, 2000);
	ASSERT_U64_EQ(p->kay.pn_threshold, 1000);
	ASSERT_STR_EQ(p->secy_socket, "");
	p = &c.ports[1];
	ASSERT_INT_EQ(p->cak_len, 32);
	/* Defaults: PAE group address, priority 16, GCM-AES-128, offset 0. */
	ASSERT_MEM_EQ(c.ports[1].kay.eapol_da, "\x02\x00\x00\x00\x00\x0b", 6);
	ASSERT_INT_EQ(p->kay.priority, 16);
	ASSERT_INT_EQ(p->kay.conf_offset, MKA_CO_0);
	ASSERT_STR_EQ(p->secy_socket, MKA_CONF_DEFAULT_SECY);
	mka_conf_wipe(&c);
}

TEST(qkd_ports)
{
	static struct mka_conf c;
	const struct mka_port_conf *p;

	char key_path[] = "/tmp/qkdlab-mkaconf-key-XXXXXX", text[1024];
	int key_fd = mkstemp(key_path); /* 0600: an SAE client key */

	ASSERT_TRUE(key_fd != -1);
	close(key_fd);
	snprintf(text, sizeof(text),
		 "[port eth1]\n"
		 "cak_source = etsi014\n"
		 "sae_id = SAE_A_01\n"
		 "allowed_peers = SAE_B_02, SAE_C_03\n"
		 "role = responder\n"
		 "cak_bits = 128\n"
		 "cak_lifetime = 1h\n"
		 "fallback_cak = 000102030405060708090a0b0c0d0e0f\n"
		 "fallback_ckn = 66616c6c\n"
		 "fallback_after = 10s\n"
		 "kme_url = https://127.0.0.1:8443\n"
		 "kme_cert = /p/a.crt\n"
		 "kme_key = %s\n"
		 "kme_ca = /p/ca.crt\n"
		 "[port eth2]\n"
		 "cak_source = skip\n"
		 "sae_id = SAE_A_01\n"
		 "allowed_peers = SAE_B_02\n"
		 "skip_address = 127.0.0.1:8445\n"
		 "skip_identity = router1\n"
		 "skip_psk = 000102030405060708090a0b0c0d0e0f\n",
		 key_path);
	/* The 014 client key must be private (docs/SECURITY.md). */
	chmod(key_path, 0644);
	ASSERT_INT_EQ(load(text, 0600, &c), -1);
	chmod(key_path, 0600);
	ASSERT_INT_EQ(load(text, 0600, &c), 0);
	unlink(key_path);
	p = &c.ports[0];
	ASSERT_INT_EQ(p->source, MKA_CAK_ETSI014);
	ASSERT_STR_EQ(p->qkd.own_sae, "SAE_A_01");
	ASSERT_INT_EQ(p->qkd.n_allowed, 2);
	ASSERT_STR_EQ(p->qkd.allowed[1], "SAE_C_03");
	ASSERT_INT_EQ(p->qkd.role, MKA_ROLE_RESPONDER);
	ASSERT_INT_EQ(p->qkd.cak_len, 16);
	ASSERT_U64_EQ(p->qkd.cak_lifetime_ms, 3600000);
	ASSERT_TRUE(p->qkd.has_fallback);
	ASSERT_INT_EQ(p->qkd.fb_ckn_len, 4);
	ASSERT_INT_EQ(p->qkd.fallback_after_ms, 10000);
	ASSERT_STR_EQ(p->kme_cert, "/p/a.crt");
	ASSERT_STR_EQ(p->kme_key, key_path);
	ASSERT_STR_EQ(p->kme_ca, "/p/ca.crt");
	p = &c.ports[1];
	ASSERT_INT_EQ(p->source, MKA_CAK_SKIP);
	ASSERT_STR_EQ(p->skip_host, "127.0.0.1");
	ASSERT_STR_EQ(p->skip_port, "8445");
	ASSERT_STR_EQ(p->skip_identity, "router1");
	ASSERT_INT_EQ(p->skip_psk_len, 16);
	ASSERT_INT_EQ(p->qkd.cak_len, 32); /* default 256 bits */
	mka_conf_wipe(&c);
}

static const char *const bad[] = {
	"", /* no port */
	"[port eth1]\ncak_source = psk\nckn = 01\n", /* no cak */
	"[port eth1]\ncak = 0011\nckn = 01\n", /* short cak */
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\n",
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\nckn = "
	"000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f00\n",
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"priority = 256\n",
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"cipher_suites = gcm-aes-512\n",
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"eapol_destination = 01:80:c2\n",
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"confidentiality_offset = 20\n",
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"hello_time = 10ms\n",
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"secy_socket = relative.sock\n",
	"[port eth1]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"no_such_key = 1\n",
	"unknown_global = 1\n",
	"[section x]\nk = v\n",
	"[port eth1]\ncak_source = quantum\n",
	"[port eth1]\ncak_source = etsi014\nsae_id = A\n", /* incomplete */
	"[port eth1]\ncak_source = skip\nsae_id = SAE A\n", /* bad ID */
	"[port eth1]\ncak_source = etsi014\nsae_id = A\nallowed_peers = B\n"
	"kme_url = http://x\n", /* not https */
	"[port eth1]\ncak_source = skip\nsae_id = A\nallowed_peers = B\n"
	"skip_address = nohostport\n",
	"[port eth1]\ncak_source = etsi014\nsae_id = A\nallowed_peers = B\n"
	"kme_url = https://k\nkme_cert = /c\nkme_key = /k\nkme_ca = /a\n"
	"fallback_cak = 00112233445566778899aabbccddeeff\n", /* no ckn */
	/* a port named twice, not adjacent */
	"[port a]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"[port b]\ncak = 00112233445566778899aabbccddeeff\nckn = 02\n"
	"[port a]\nckn = 03\n",
	/* signs, blanks, short octets, mixed separators */
	"[port a]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"eapol_destination = -1:+2: 3:4:5:6\n",
	"[port a]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"eapol_destination = 1:2:3:4:5:6\n",
	"[port a]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"eapol_destination = 01:80:c2-00:00:03\n",
	"[port a]\ncak = 00112233445566778899aabbccddeeff\nckn = 01\n"
	"eapol_destination = 01:80:c2:00:00:03:\n",
};

TEST(malformed_or_incomplete_refused)
{
	static struct mka_conf c;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (load(bad[i], 0600, &c) != -1)
			TH_FAIL("accepted config %zu:\n%s", i, bad[i]);
}

#define PSK "cak = 00112233445566778899aabbccddeeff\nckn = 01\n"

TEST(kernel_secy_ports)
{
	static struct mka_conf c;

	ASSERT_INT_EQ(load("[port eth1]\n" PSK "secy = kernel\n"
			   "secy_netdev = mks1\n"
			   "cipher_suites = gcm-aes-xpn-256\n"
			   "confidentiality_offset = none\n"
			   "[port eth2]\n" PSK "secy = kernel\n"
			   "[port eth3]\n" PSK "secy = macsec-sw\n"
			   "[port eth4]\n" PSK "secy = none\n",
			   0600, &c),
		      0);
	ASSERT_INT_EQ(c.ports[0].secy, MKA_SECY_KERNEL);
	ASSERT_STR_EQ(c.ports[0].secy_netdev, "mks1");
	ASSERT_U64_EQ(c.ports[0].kay.suites[0], MKA_CS_GCM_AES_XPN_256);
	ASSERT_INT_EQ(c.ports[1].secy, MKA_SECY_KERNEL);
	ASSERT_STR_EQ(c.ports[1].secy_netdev, MKA_CONF_DEFAULT_NETDEV);
	ASSERT_INT_EQ(c.ports[2].secy, MKA_SECY_MACSEC_SW);
	ASSERT_STR_EQ(c.ports[2].secy_socket, MKA_CONF_DEFAULT_SECY);
	ASSERT_INT_EQ(c.ports[3].secy, MKA_SECY_NONE);
	mka_conf_wipe(&c);
}

/* What Linux's SecY cannot do is refused when the file is read. */
static const char *const bad_kernel[] = {
	"[port eth1]\n" PSK "secy = linux\n",
	"[port eth1]\n" PSK "secy = kernel\n"
	"cipher_suites = gcm-aes-128, gcm-aes-256\n", /* one suite */
	"[port eth1]\n" PSK "secy = kernel\nconfidentiality_offset = 30\n",
	"[port eth1]\n" PSK "secy = kernel\nconfidentiality_offset = 50\n",
	"[port eth1]\n" PSK "secy = kernel\nsecy_netdev = eth1\n",
	"[port eth1]\n" PSK "secy = kernel\n"
	"secy_netdev = a-name-too-long-x\n",
	"[port eth1]\n" PSK "secy = kernel\nsecy_netdev = a/b\n",
	"[port eth1]\n" PSK "secy = kernel\nsecy_netdev = a:b\n",
	"[port eth1]\n" PSK "secy = kernel\nsecy_netdev = \n",
	"[port eth1]\n" PSK "secy = kernel\n"
	"[port eth2]\n" PSK "secy = kernel\n", /* same netdev */
	"[port eth1]\n" PSK "secy_socket = none\nsecy = macsec-sw\n",
};

TEST(kernel_secy_limits_refused)
{
	static struct mka_conf c;

	for (size_t i = 0; i < ARRAY_LEN(bad_kernel); i++)
		if (load(bad_kernel[i], 0600, &c) != -1)
			TH_FAIL("accepted config %zu:\n%s", i, bad_kernel[i]);
}

TEST(secrets_need_a_private_file)
{
	static struct mka_conf c;
	static const char *psk = "[port eth1]\n"
				 "cak = 00112233445566778899aabbccddeeff\n"
				 "ckn = 01\n";

	ASSERT_INT_EQ(load(psk, 0644, &c), -1);
	ASSERT_INT_EQ(load(psk, 0640, &c), -1);
	ASSERT_INT_EQ(load(psk, 0600, &c), 0);
	mka_conf_wipe(&c);
}

int
main(void)
{
	static const struct th_case cases[] = {
		TEST_CASE(psk_port_with_every_key),
		TEST_CASE(qkd_ports),
		TEST_CASE(malformed_or_incomplete_refused),
		TEST_CASE(secrets_need_a_private_file),
		TEST_CASE(kernel_secy_ports),
		TEST_CASE(kernel_secy_limits_refused),
	};
	int fd, rc;

	str_copy(path, sizeof(path), "/tmp/qkdlab-mkaconf-XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return 1;
	close(fd);
	rc = th_run(cases, ARRAY_LEN(cases));
	unlink(path);
	return rc;
}
