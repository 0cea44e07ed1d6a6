/*
 * fuzz_conf_kme.c — kme-sim.conf(5): kme-sim/kme_conf.c (line callback,
 * addresses, ID lists, sizes, durations, [peer] sections and the
 * whole-file checks) over lib/cfg.c.
 *
 * kme_cfg_load() only reads files, so the input goes through a memfd
 * (fuzz_file.c).  Whatever loads must satisfy the invariants the daemon
 * relies on afterwards.
 */
#include "../kme-sim/kme.h"
#include "fuzz_file.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_id(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL || !kme_cfg_valid_id(s))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kme_cfg c;
	static int quiet;

	if (!quiet++)
		log_init("fuzz", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_SILENT);
	if (kme_cfg_load(&c, fuzz_file(data, size)) < 0)
		return 0;
	check_id(c.kme_id, sizeof(c.kme_id));
	if (c.nsaes == 0 || c.nsaes > KME_MAX_SAES || c.npeers == 0 ||
	    c.npeers > KME_MAX_PEERS)
		abort();
	if (c.min_key_size > c.key_size || c.key_size > c.max_key_size ||
	    c.key_size % 8 != 0 || c.max_key_size > KME_MAX_KEY_BITS)
		abort();
	if (c.listen.port == 0 || c.link_listen.port == 0)
		abort();
	for (size_t i = 0; i < c.nsaes; i++) {
		check_id(c.saes[i], sizeof(c.saes[i]));
		if (kme_cfg_peer_of_sae(&c, c.saes[i]) != NULL)
			abort();
	}
	for (size_t i = 0; i < c.npeers; i++) {
		const struct kme_peer_cfg *p = &c.peers[i];

		check_id(p->id, sizeof(p->id));
		if (kme_cfg_peer_index(&c, p->id) != (int)i ||
		    strcmp(p->id, c.kme_id) == 0 || p->addr.port == 0 ||
		    p->nsaes == 0 || p->max_key_count == 0)
			abort();
		for (size_t j = 0; j < p->nsaes; j++)
			if (kme_cfg_peer_of_sae(&c, p->saes[j]) != p ||
			    kme_cfg_is_local_sae(&c, p->saes[j]))
				abort();
	}
	return 0;
}
