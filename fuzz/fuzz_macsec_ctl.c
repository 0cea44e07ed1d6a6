/*
 * fuzz_macsec_ctl.c — macsec-sw's control protocol
 * (macsec-sw/macsec_ctl_server.c, ctl_exec: "verb key=value ..." lines
 * that create SCs, install SAs with their keys, read PNs and set the
 * policy), which carries SAKs from mka-agent.
 *
 * Input: one or more request lines (split at '\n'; a line with a NUL is
 * skipped and a longer one cut to CTL_LINE_MAX - 1, where the socket
 * reader answers "err NUL in request" / "err request line too long"), run
 * in order on a fresh SecY.  Every request must be answered by exactly one reply that starts
 * with "ok" or "err".
 */
#include "../macsec-sw/macsec_sw.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct secy *s;
	size_t off = 0;

	if (!quiet++)
		log_init("fuzz", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_SILENT);
	if ((s = secy_new(mac, sci_from_mac(mac, 1))) == NULL)
		abort();
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n =
		    nl != NULL ? (size_t)(nl - (data + off)) : size - off;
		char line[CTL_LINE_MAX], *out = NULL;
		size_t olen = 0,
		       k = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
		FILE *fp;

		memcpy(line, data + off, k);
		line[k] = '\0';
		off += n + (nl != NULL);
		if (memchr(line, '\0', k) != NULL)
			continue; /* the socket reader refuses NULs */
		if ((fp = open_memstream(&out, &olen)) == NULL)
			abort();
		(void)ctl_exec(s, "macsec0", line, fp);
		fclose(fp);
		if (olen == 0 || out[olen - 1] != '\n' ||
		    (strncmp(out, "ok", 2) != 0 &&
		     strncmp(out, "err ", 4) != 0))
			abort();
		free(out);
	}
	secy_free(s);
	return 0;
}
