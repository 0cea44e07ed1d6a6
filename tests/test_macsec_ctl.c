/*
 * test_macsec_ctl.c — the control protocol of macsec-sw (ctl_exec) and the
 * configuration parser (macsec_conf.c), linked against the real objects.
 *
 * Requests are run against a real SecY and the responses compared with the
 * exact lines macsec-sw(8) documents; every refusal must be an "err" line.
 */
#include "harness.h"

#include <unistd.h>

#include "../macsec-sw/macsec_sw.h"
#include "log.h"
#include "util.h"

static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };

/* Runs one request; returns the whole response (static buffer). */
static const char *
run(struct secy *s, const char *req)
{
	static char resp[4096];
	char line[CTL_LINE_MAX];
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	str_copy(line, sizeof(line), req);
	ctl_exec(s, "macsec0", line, fp);
	fclose(fp);
	str_copy(resp, sizeof(resp), buf);
	free(buf);
	return resp;
}

#define K16 "000102030405060708090a0b0c0d0e0f"

TEST(ctl_sa_lifecycle)
{
	struct secy *s = secy_new(mac, sci_from_mac(mac, 1));

	ASSERT_STR_EQ(run(s, "get-sci"), "ok sci=02000000000a0001\n");
	ASSERT_STR_EQ(run(s, "create-rxsc sci=020000000b0b0001"), "ok\n");
	ASSERT_STR_EQ(run(s, "install-rxsa sci=020000000b0b0001 an=2 pn=100 "
			     "key=" K16),
		      "ok\n");
	ASSERT_STR_EQ(run(s, "get-rxsa-pn sci=020000000b0b0001 an=2"),
		      "ok an=2 pn=100 next-pn=100\n");
	ASSERT_STR_EQ(run(s, "enable-rxsa sci=020000000b0b0001 an=2"), "ok\n");
	ASSERT_STR_EQ(run(s, "disable-rxsa sci=020000000b0b0001 an=2"), "ok\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=1 pn=7 key=" K16), "ok\n");
	ASSERT_STR_EQ(run(s, "enable-txsa an=1"), "ok\n");
	ASSERT_STR_EQ(run(s, "get-txsa-pn an=1"),
		      "ok an=1 pn=7 exhausted=no\n");
	ASSERT_STR_EQ(
	    run(s, "show"),
	    "ok\n"
	    "macsec0: protect on validate strict sc off sa on encrypt on "
	    "send_sci on end_station off scb off replay on window 0 "
	    "offset 0\n"
	    "    cipher suite: gcm-aes-128, using ICV length 16\n"
	    "    TXSC: 02000000000a0001 on SA 1\n"
	    "        1: PN 7, state on\n"
	    "    RXSC: 020000000b0b0001, state on\n"
	    "        2: PN 100, lowest PN 100, state off\n"
	    ".\n");
	ASSERT_STR_EQ(run(s, "remove-txsa an=1"), "ok\n");
	ASSERT_STR_EQ(run(s, "get-txsa-pn an=1"), "err no transmit SA 1\n");
	ASSERT_STR_EQ(run(s, "remove-rxsa sci=020000000b0b0001 an=2"), "ok\n");
	ASSERT_STR_EQ(run(s, "delete-rxsc sci=020000000b0b0001"), "ok\n");
	ASSERT_STR_EQ(run(s, "delete-rxsc sci=020000000b0b0001"),
		      "err no such receive SC\n");
	secy_free(s);
}

TEST(ctl_stats_names_mib_counters)
{
	struct secy *s = secy_new(mac, sci_from_mac(mac, 1));
	const char *r;

	run(s, "create-rxsc sci=020000000b0b0001");
	run(s, "install-rxsa sci=020000000b0b0001 an=0 pn=1 key=" K16);
	r = run(s, "stats");
	ASSERT_TRUE(strncmp(r, "ok\nsecy OutPktsUntagged=0 ", 26) == 0);
	ASSERT_TRUE(strstr(r, " InPktsNoSCI=0 ") != NULL);
	ASSERT_TRUE(strstr(r, "\nrxsc sci=020000000b0b0001 InPktsNotUsingSA=0 "
			      "InPktsUnusedSA=0\n") != NULL);
	ASSERT_TRUE(strstr(r, "\nrxsa sci=020000000b0b0001 an=0 InPktsOK=0 "
			      "InPktsInvalid=0 InPktsNotValid=0 "
			      "InPktsUnchecked=0 InPktsDelayed=0 InPktsLate=0\n"
			      ".\n") != NULL);
	secy_free(s);
}

TEST(ctl_xpn_and_policy)
{
	struct secy *s = secy_new(mac, sci_from_mac(mac, 1));

	ASSERT_STR_EQ(run(s, "set-policy cipher=gcm-aes-xpn-256 offset=30"),
		      "err gcm-aes-xpn-256 supports offset 0 only\n");
	ASSERT_STR_EQ(run(s, "set-policy cipher=gcm-aes-xpn-256 "
			     "replay-window=1073741825"),
		      "err replay window above 2^30 with gcm-aes-xpn-256\n");
	ASSERT_STR_EQ(run(s, "set-policy cipher=gcm-aes-xpn-256 "
			     "replay-window=64 validate=check"),
		      "ok\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=0 pn=4294967296 key=" K16 K16),
		      "err gcm-aes-xpn-256 needs ssci= and salt=\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=0 pn=4294967296 ssci=0000000a "
			     "salt=e630e81a48de86a21c66fa6d key=" K16 K16),
		      "ok\n");
	ASSERT_STR_EQ(run(s, "get-txsa-pn an=0"),
		      "ok an=0 pn=4294967296 exhausted=no\n");
	ASSERT_STR_EQ(run(s, "set-policy cipher=gcm-aes-128"),
		      "err remove all SAs before changing the cipher suite\n");
	secy_free(s);
}

TEST(ctl_refusals)
{
	struct secy *s = secy_new(mac, sci_from_mac(mac, 1));

	ASSERT_STR_EQ(run(s, ""), "err empty request\n");
	ASSERT_STR_EQ(run(s, "frobnicate"),
		      "err unknown request 'frobnicate'\n");
	ASSERT_STR_EQ(run(s, "get-sci x=1"), "err get-sci does not take x=\n");
	ASSERT_STR_EQ(run(s, "show sci"), "err arguments are key=value\n");
	ASSERT_STR_EQ(run(s, "create-rxsc sci=1 sci=2"),
		      "err sci= given twice\n");
	ASSERT_STR_EQ(run(s, "create-rxsc sci=0200"),
		      "err sci= must be 16 hex digits\n");
	ASSERT_STR_EQ(run(s, "create-rxsc sci=ffffffffffffffff"),
		      "err SCI ffffffffffffffff is reserved\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=4 pn=1 key=" K16),
		      "err an= must be 0-3\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=0 pn=0 key=" K16),
		      "err pn= must be a decimal number >= 1\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=0 pn=1 key=0g"),
		      "err key= must be 16 or 32 octets in hex\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=0 pn=1 key=" K16 K16),
		      "err gcm-aes-128 needs a 16-octet key, not 32\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=0 pn=4294967296 key=" K16),
		      "err PN must be 1-2^32-1\n");
	ASSERT_STR_EQ(run(s, "install-txsa an=0 pn=1 ssci=01 key=" K16),
		      "err ssci= must be 8 hex digits\n");
	ASSERT_STR_EQ(run(s, "enable-txsa an=0"), "err no transmit SA 0\n");
	ASSERT_STR_EQ(run(s, "set-policy validate=lax"),
		      "err validate must be disabled, check or strict, not "
		      "'lax'\n");
	ASSERT_STR_EQ(run(s, "set-policy offset=20"),
		      "err offset must be 0, 30 or 50, not '20'\n");
	ASSERT_STR_EQ(run(s, "set-policy protect=maybe"),
		      "err protect must be on or off, not 'maybe'\n");
	ASSERT_STR_EQ(run(s, "set-policy es=on"),
		      "err es=on needs include-sci=off (9.12 d)\n");
	ASSERT_STR_EQ(run(s, "set-policy include-sci=off es=on"), "ok\n");
	secy_free(s);
}

static int
write_conf(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/qkdlab-macsec-conf-XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	return 0;
}

TEST(conf_parses_and_refuses)
{
	struct macsec_conf c;
	char path[64];

	ASSERT_INT_EQ(write_conf(path,
				 "# site A\ninterface = eth1\n"
				 "tap = msec1\nsocket = /run/x.sock\nport = 7\n"
				 "cipher = gcm-aes-256\nvalidate = check\n"
				 "replay-window = 64\noffset = 30\n"
				 "encrypt = off\ntap-mac = random\n"),
		      0);
	conf_defaults(&c);
	ASSERT_INT_EQ(conf_load(path, &c), 0);
	unlink(path);
	ASSERT_STR_EQ(c.interface, "eth1");
	ASSERT_STR_EQ(c.tap, "msec1");
	ASSERT_STR_EQ(c.socket, "/run/x.sock");
	ASSERT_INT_EQ(c.sci_port, 7);
	ASSERT_INT_EQ(c.pol.cs, MACSEC_CS_GCM_AES_256);
	ASSERT_INT_EQ(c.pol.validate, SECY_VALIDATE_CHECK);
	ASSERT_INT_EQ(c.pol.replay_window, 64);
	ASSERT_INT_EQ(c.pol.offset, 30);
	ASSERT_TRUE(!c.pol.encrypt);
	ASSERT_TRUE(!c.tap_copy_mac);

	static const char *bad[] = {
		"colour = blue\n",
		"interface = a/b\n",
		"interface = averyveryverylongname\n",
		"socket = rel.sock\n",
		"sci = 12\n",
		"port = 0\n",
		"cipher = rot13\n",
		"replay-window = -1\n",
		"[port eth0]\ninterface = x\n",
		"tap-mac = maybe\n",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		printf("# bad config %zu\n", i);
		ASSERT_INT_EQ(write_conf(path, bad[i]), 0);
		conf_defaults(&c);
		ASSERT_INT_EQ(conf_load(path, &c), -1);
		unlink(path);
	}
}

TEST_MAIN(TEST_CASE(ctl_sa_lifecycle), TEST_CASE(ctl_stats_names_mib_counters),
	  TEST_CASE(ctl_xpn_and_policy), TEST_CASE(ctl_refusals),
	  TEST_CASE(conf_parses_and_refuses))
