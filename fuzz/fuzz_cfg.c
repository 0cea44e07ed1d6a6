/*
 * fuzz_cfg.c — the configuration syntax every daemon shares (lib/cfg.c).
 *
 * Feeds arbitrary bytes as a config file; the callback also runs the strict
 * value parsers on every value, as the daemons do.
 */
#include "cfg.h"
#include "log.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fuzz_cfg_cb(void *arg, const char *section, const char *section_arg,
	    const char *key, const char *value, const struct cfg_pos *pos)
{
	uint64_t u;
	bool b;

	(void)arg;
	(void)section;
	(void)section_arg;
	(void)key;
	(void)pos;
	(void)cfg_parse_u64(value, 0, UINT64_MAX, &u);
	(void)cfg_parse_bool(value, &b);
	(void)cfg_parse_duration_ms(value, &u);
	return key[0] == 'x' ? -1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;

	if (!quiet++)
		log_init("fuzz", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_SILENT);
	(void)cfg_parse_buf((const char *)data, size, "fuzz", fuzz_cfg_cb,
			    NULL);
	return 0;
}
