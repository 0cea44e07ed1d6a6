/*
 * mka_conf.h — mka-agent's configuration (mka-agent.conf(5)).
 *
 *   key_log = /var/lib/mka/keys.log     (opt-in; docs/DESIGN.md format)
 *   status_socket = /run/qkdlab/mka-agent.sock
 *   metrics_listen = 127.0.0.1:9102     (optional HTTP /metrics)
 *   log_format = json                   (or text)
 *   [port wire0]
 *   cak_source = psk
 *   cak = <32 or 64 hex digits>
 *   ckn = <2..64 hex digits>
 *   secy_socket = /run/qkdlab/macsec-sw.sock   (or "none")
 *   secy = macsec-sw | kernel | none
 *   secy_netdev = macsec0                      (secy = kernel)
 *   ...
 */
#ifndef QKDLAB_MKA_CONF_H
#define QKDLAB_MKA_CONF_H

#include "log.h"
#include "mka_kay.h"
#include "mka_qkd.h"

#include <net/if.h>
#include <stdbool.h>
#include <sys/un.h>

#define MKA_CONF_MAX_PORTS 8
#define MKA_CONF_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
#define MKA_CONF_DEFAULT_STATUS "/run/qkdlab/mka-agent.sock"
#define MKA_CONF_DEFAULT_SECY "/run/qkdlab/macsec-sw.sock"
#define MKA_CONF_DEFAULT_NETDEV "macsec0"

/* Which SecY a port's KaY drives (mka_secy.h). */
enum mka_secy_kind {
	MKA_SECY_MACSEC_SW = 0, /* macsec-sw's control socket */
	MKA_SECY_NONE, /* agree keys, install them nowhere */
	MKA_SECY_KERNEL, /* Linux's MACsec netdev */
};

enum mka_cak_source {
	MKA_CAK_PSK = 0,
	MKA_CAK_SKIP,
	MKA_CAK_ETSI014,
};

struct mka_port_conf {
	char ifname[IF_NAMESIZE];
	/* Protocol settings; callbacks and mac are filled in at start. */
	struct mka_kay_conf kay;
	enum mka_cak_source source;
	uint8_t cak[32];
	size_t cak_len;
	uint8_t ckn[32];
	size_t ckn_len;
	char secy_socket[MKA_CONF_PATH_MAX]; /* "" = none (fake SecY) */
	enum mka_secy_kind secy;
	char secy_netdev[IF_NAMESIZE]; /* secy = kernel */
	/* QKD (cak_source etsi014): the binding and the KME. */
	struct mka_qkd_conf qkd;
	char kme_url[256], kme_cert[256], kme_key[256], kme_ca[256];
	/* cak_source skip: the site's skip-proxy, TLS 1.3 external PSK. */
	char skip_host[256], skip_port[16], skip_identity[128];
	uint8_t skip_psk[64];
	size_t skip_psk_len;
	bool has_eapol_da;
};

struct mka_conf {
	char key_log[256];
	char status_socket[MKA_CONF_PATH_MAX];
	enum log_level log_level;
	enum log_fmt log_fmt;
	char metrics_listen[64]; /* "" unless configured */
	struct mka_port_conf ports[MKA_CONF_MAX_PORTS];
	size_t n_ports;
};

/* Parses and checks a whole file; logs each error with file:line. */
int mka_conf_load(const char *path, struct mka_conf *conf);
/* Wipes the secrets a conf holds. */
void mka_conf_wipe(struct mka_conf *conf);
const char *mka_cak_source_name(enum mka_cak_source s);

#endif
