/*
 * keysvc_etsi014.c — the ETSI GS QKD 014 key service over lib/etsi014_client.
 *
 * Requests are synchronous with a short timeout: the KME is local to the
 * site, and the QKD binding rate-limits lookups.
 */
#include "keysvc_etsi014.h"

#include "log.h"
#include "secmem.h"

#include <stdlib.h>
#include <string.h>

#define BODY_MAX (64 * 1024)
#define TIMEOUT_MS 3000

struct etsi014_client *
keysvc_etsi014_new(const char *url, const char *cert, const char *key,
		   const char *ca)
{
	struct https_client_cfg cfg = {
		.ca_file = ca,
		.cert_file = cert,
		.key_file = key,
		.verify_host = true,
		.timeout_ms = TIMEOUT_MS,
		.body_max = BODY_MAX,
		.pool = 1,
	};

	return etsi014_client_new(url, &cfg);
}

static void
etsi_log(const char *op, const char *sae, const struct etsi014_result *res)
{
	if (res->outcome == ETSI014_REFUSED)
		log_warnx("etsi014: %s %s: HTTP %ld: %s", op, sae,
			  res->http_status, res->msg);
	else
		log_warnx("etsi014: %s %s: %s", op, sae, res->msg);
}

static int
etsi_new_key(void *arg, const char *slave, size_t key_len, uint8_t id[32],
	     size_t *id_len, uint8_t *key)
{
	struct etsi014_result res;
	struct etsi014_key k;

	if (etsi014_get_key(arg, slave, (unsigned)(key_len * 8), &k, &res) ==
	    -1) {
		etsi_log("enc_keys", slave, &res);
		return -1;
	}
	memcpy(id, k.id, UUID_LEN);
	*id_len = UUID_LEN;
	memcpy(key, k.key, key_len);
	secmem_wipe(&k, sizeof(k));
	return 0;
}

static int
etsi_get_key(void *arg, const char *master, const uint8_t *id, size_t id_len,
	     size_t key_len, uint8_t *key)
{
	struct etsi014_result res;
	struct etsi014_key k;

	/* Our key IDs are UUIDs: anything else cannot be an 014 key. */
	if (id_len != UUID_LEN)
		return -1;
	if (etsi014_get_key_with_id(arg, master, id, &k, &res) == -1) {
		etsi_log("dec_keys", master, &res);
		return -1;
	}
	if (k.key_len != key_len) {
		log_warnx("etsi014: dec_keys %s: a key of %zu octets, not %zu",
			  master, k.key_len, key_len);
		secmem_wipe(&k, sizeof(k));
		return -1;
	}
	memcpy(key, k.key, key_len);
	secmem_wipe(&k, sizeof(k));
	return 0;
}

const struct mka_keysvc_ops keysvc_etsi014_ops = {
	.new_key = etsi_new_key,
	.get_key = etsi_get_key,
};
