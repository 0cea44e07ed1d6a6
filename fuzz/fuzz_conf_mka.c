/*
 * fuzz_conf_mka.c — mka-agent.conf(5): mka-agent/mka_conf.c (global keys,
 * [port IF] sections, CAK/CKN hex, suites, MAC addresses, durations, SAE
 * ID lists, SKIP and ETSI 014 settings, whole-file checks) over lib/cfg.c.
 *
 * mka_conf_load() only reads files, so the input goes through a memfd
 * (fuzz_file.c, mode 0600).  Whatever loads must satisfy the invariants
 * the daemon relies on.
 */
#include "mka_conf.h"
#include "fuzz_file.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mka_conf c;
	static int quiet;

	if (!quiet++)
		log_init("fuzz", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_SILENT);
	if (mka_conf_load(fuzz_file(data, size), &c) == -1)
		return 0;
	if (c.n_ports == 0 || c.n_ports > MKA_CONF_MAX_PORTS)
		abort();
	for (size_t i = 0; i < c.n_ports; i++) {
		const struct mka_port_conf *pc = &c.ports[i];

		if (pc->ifname[0] == '\0' ||
		    memchr(pc->ifname, '\0', sizeof(pc->ifname)) == NULL ||
		    pc->kay.n_suites == 0 || pc->kay.n_suites > MKA_MAX_SUITES)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(c.ports[j].ifname, pc->ifname) == 0 &&
			    j + 1 == i)
				abort(); /* consecutive lines merge */
		switch (pc->source) {
		case MKA_CAK_PSK:
			if ((pc->cak_len != 16 && pc->cak_len != 32) ||
			    pc->ckn_len < MKA_CKN_MIN ||
			    pc->ckn_len > MKA_CKN_MAX)
				abort();
			break;
		case MKA_CAK_SKIP:
			if (pc->skip_psk_len < 16 ||
			    pc->skip_psk_len > sizeof(pc->skip_psk) ||
			    pc->qkd.n_allowed == 0 ||
			    pc->qkd.own_sae[0] == '\0')
				abort();
			break;
		case MKA_CAK_ETSI014:
			if (strncmp(pc->kme_url, "https://", 8) != 0 ||
			    pc->qkd.n_allowed == 0)
				abort();
			break;
		default:
			abort();
		}
		if (pc->qkd.cak_len != 16 && pc->qkd.cak_len != 32)
			abort();
	}
	mka_conf_wipe(&c);
	return 0;
}
