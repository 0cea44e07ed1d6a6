/*
 * fuzz_skip_req.c — skip-proxy's SKIP request-target parser
 * (skip-proxy/skip_req.c): method, path, keyId, query and its escapes.
 *
 * Input: "METHOD target", split at the first space (no space: GET).  Every
 * accepted request must satisfy the invariants the handlers rely on (a
 * remoteSystemID is 1..SKIP_ID_MAX octets of UTF-8 without control
 * characters); every refusal has a status and a message in printable
 * ASCII, whatever input it quotes.
 */
#include "../skip-proxy/skip.h"

#include "encoding.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct skip_limits lim = { 256, 512, 256, 4096 };
	char *buf = malloc(size + 1), *sp, *target;
	const char *method = "GET";
	struct skip_req req;
	struct skip_err err;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	target = buf;
	sp = strchr(buf, ' ');
	if (sp != NULL) {
		*sp = '\0';
		method = buf;
		target = sp + 1;
	}
	if (skip_req_parse(method, target, &lim, &req, &err) == 0) {
		if (req.route == SKIP_R_NONE || req.route >= SKIP_R_COUNT)
			abort();
		if ((req.route == SKIP_R_KEY_NEW ||
		     req.route == SKIP_R_KEY_GET) &&
		    (!req.has_remote || req.remote[0] == '\0' ||
		     strlen(req.remote) > SKIP_ID_MAX ||
		     !utf8_valid(req.remote, strlen(req.remote))))
			abort();
		if (req.route == SKIP_R_KEY_NEW &&
		    (req.size_bits % 8 || req.size_bits < 128 ||
		     req.size_bits > 512))
			abort();
		if (req.route == SKIP_R_KEY_GET &&
		    (req.key_id_len == 0 || req.key_id_len > SKIP_KEYID_MAX))
			abort();
	} else if (err.status != 400 && err.status != 404 &&
		   err.status != 405) {
		abort();
	} else if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL ||
		   err.msg[0] == '\0') {
		abort();
	} else {
		for (const char *p = err.msg; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				abort();
	}
	free(buf);
	return 0;
}
