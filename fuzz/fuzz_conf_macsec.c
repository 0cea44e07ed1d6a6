/*
 * fuzz_conf_macsec.c — macsec-sw.conf(5): macsec-sw/macsec_conf.c (names, the
 * control socket path, SCI, port, TAP MAC and the policy keys shared with
 * the control socket's set-policy) over lib/cfg.c.
 *
 * conf_load() only reads files, so the input goes through a memfd
 * (fuzz_file.c).  The policy keys are also fed one "key value" pair at a
 * time to conf_policy_kv(), as the control socket does.
 */
#include "../macsec-sw/macsec_sw.h"
#include "fuzz_file.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct macsec_conf c;
	static int quiet;

	if (!quiet++)
		log_init("fuzz", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_SILENT);
	conf_defaults(&c);
	if (conf_load(fuzz_file(data, size), &c) == 0) {
		if (memchr(c.interface, '\0', sizeof(c.interface)) == NULL ||
		    memchr(c.tap, '\0', sizeof(c.tap)) == NULL ||
		    memchr(c.socket, '\0', sizeof(c.socket)) == NULL ||
		    c.socket[0] != '/' || strchr(c.tap, '/') != NULL ||
		    c.sci_port == 0 ||
		    (c.sci_set && c.sci == MACSEC_SCI_RESERVED) ||
		    (c.pol.offset != 0 && c.pol.offset != 30 &&
		     c.pol.offset != 50) ||
		    c.pol.validate > SECY_VALIDATE_STRICT)
			abort();
		(void)conf_validate_name(c.pol.validate);
	}
	/* The control socket path: "key value" split at the first space. */
	if (size > 0 && size < 512) {
		char buf[512], err[160], *sp;

		memcpy(buf, data, size);
		buf[size] = '\0';
		if ((sp = strchr(buf, ' ')) != NULL) {
			*sp = '\0';
			(void)conf_policy_kv(&c.pol, buf, sp + 1, err,
					     sizeof(err));
		}
	}
	return 0;
}
