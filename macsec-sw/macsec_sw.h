/*
 * macsec_sw.h — private interfaces of macsec-sw, the user-space SecY.
 *
 * Grouped by the file that implements them.  The data path is:
 *   port (AF_PACKET / TAP)  ->  secy (802.1AE clause 10)  ->  cipher
 *                                  ^ sectag (clause 9 codec)
 * and macsec_ctl_server.c drives the secy's management interface over a Unix socket.
 */
#ifndef QKDLAB_MACSEC_SW_H
#define QKDLAB_MACSEC_SW_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "log.h"
#include "macsec_wire.h"

/* sectag.c — SecTAG codec (clause 9), pure functions of the bytes. */
struct sectag {
	uint16_t st_ethertype; /* octets 1-2, MACSEC_ETHERTYPE when valid */
	uint8_t st_tci; /* TCI bits, MACSEC_TCI_* */
	uint8_t st_an; /* association number 0-3 */
	uint8_t st_sl; /* whole octet 4: short length + reserved */
	uint32_t st_pn; /* packet number (32 LSBs for XPN) */
	uint64_t st_sci; /* meaningful only when st_tci has SC */
};

/* SecTAG length in octets (EtherType included) for the given TCI. */
size_t sectag_len(uint8_t tci);
/* Decodes the SecTAG that follows DA/SA in a whole frame; -1 if short. */
int sectag_decode(const uint8_t *frame, size_t len, struct sectag *tag);
/* Applies 802.1AE-2018 9.12 a)-i) to a decoded tag and its frame length. */
bool sectag_valid(const struct sectag *tag, size_t frame_len, bool xpn);
/* Writes the SecTAG (from the EtherType on); -1 on overflow. */
int sectag_encode(struct wbuf *wb, const struct sectag *tag);
/* Short length for a Secure Data length (9.7). */
uint8_t sectag_short_len(size_t secure_data_len);

uint64_t sci_from_mac(const uint8_t mac[ETH_ADDR_LEN], uint16_t port);
/* Parses 16 hex digits; -1 otherwise. */
int sci_parse(const char *s, uint64_t *sci);
/* out needs 17 octets. */
void sci_format(char *out, uint64_t sci);

/* cipher.c — clause 14 cipher suites on OpenSSL EVP. */
enum macsec_cs {
	MACSEC_CS_GCM_AES_128 = 0,
	MACSEC_CS_GCM_AES_256,
	MACSEC_CS_GCM_AES_XPN_128,
	MACSEC_CS_GCM_AES_XPN_256,
};

struct cipher_key; /* opaque: one SA's key schedule and EVP context */

const char *cipher_suite_name(enum macsec_cs cs);
int cipher_suite_parse(const char *s, enum macsec_cs *cs);
size_t cipher_suite_key_len(enum macsec_cs cs);
bool cipher_suite_is_xpn(enum macsec_cs cs);
/*
 * Expands key once into an EVP context for one direction.  The caller keeps
 * ownership of key (and should wipe it); salt is only used by XPN suites.
 */
struct cipher_key *cipher_key_new(enum macsec_cs cs, const uint8_t *key,
				  size_t key_len, uint32_t ssci,
				  const uint8_t salt[MACSEC_SALT_LEN],
				  bool encrypt);
/* Wipes and frees; NULL-safe. */
void cipher_key_free(struct cipher_key *ck);
/* The one IV builder (14.5, 14.7). */
void cipher_iv(const struct cipher_key *ck, uint64_t sci, uint64_t pn,
	       uint8_t iv[MACSEC_IV_LEN]);
/* GCM over aad then pt -> ct (may alias pt); writes the 16-octet ICV. */
int cipher_seal(struct cipher_key *ck, const uint8_t iv[MACSEC_IV_LEN],
		const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		size_t len, uint8_t *ct, uint8_t icv[MACSEC_ICV_LEN]);
/* The same over pt || pt2 -> ct (ct may alias pt, never pt2). */
int cipher_seal2(struct cipher_key *ck, const uint8_t iv[MACSEC_IV_LEN],
		 const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		 size_t len, const uint8_t *pt2, size_t len2, uint8_t *ct,
		 uint8_t icv[MACSEC_ICV_LEN]);
/* Inverse of cipher_seal; -1 when the ICV does not verify. */
int cipher_open(struct cipher_key *ck, const uint8_t iv[MACSEC_IV_LEN],
		const uint8_t *aad, size_t aad_len, const uint8_t *ct,
		size_t len, uint8_t *pt, const uint8_t icv[MACSEC_ICV_LEN]);
/*
 * The GCM engine new keys use: VAES/VPCLMULQDQ (gcm_vaes.c) when the CPU
 * has it and its start-up self-test against EVP passed, else OpenSSL.
 */
enum cipher_engine {
	CIPHER_ENGINE_AUTO = 0, /* VAES where usable, else OpenSSL */
	CIPHER_ENGINE_OPENSSL,
	CIPHER_ENGINE_VAES, /* tests only: fails where unusable */
};
/* "auto" or "openssl" (the cipher-engine option); -1 otherwise. */
int cipher_engine_parse(const char *s, enum cipher_engine *e);
const char *cipher_engine_name(enum cipher_engine e);
/* For keys made from now on; -1 when VAES is asked for and unusable. */
int cipher_engine_set(enum cipher_engine e);
/* OPENSSL or VAES: what cipher_key_new() uses now (logged once). */
enum cipher_engine cipher_engine_active(void);
enum cipher_engine cipher_key_engine(const struct cipher_key *ck);

/* secy.c — the SecY (clause 10): SCs, SAs, policy, counters. */
enum secy_validate {
	SECY_VALIDATE_DISABLED = 0,
	SECY_VALIDATE_CHECK,
	SECY_VALIDATE_STRICT
};

struct secy_policy {
	enum macsec_cs cs; /* currentCipherSuite */
	bool protect; /* protectFrames */
	enum secy_validate validate; /* validateFrames */
	bool replay_protect; /* replayProtect */
	uint32_t replay_window; /* replayWindow */
	unsigned offset; /* confidentialityOffset: 0, 30, 50 */
	bool encrypt; /* confidentiality (E=C=1) */
	bool include_sci; /* alwaysIncludeSCI */
	bool use_es; /* ES bit instead of an explicit SCI */
};

/* SecY-wide counters (802.1AE 10.7.5, IEEE8021-SECY-MIB names). */
struct secy_stats {
	uint64_t OutPktsUntagged, OutPktsTooLong, OutPktsSAUnusable;
	uint64_t OutOctetsProtected, OutOctetsEncrypted;
	uint64_t InPktsUntagged, InPktsNoTag, InPktsBadTag;
	uint64_t InPktsUnknownSCI, InPktsNoSCI, InPktsOverrun;
	uint64_t InOctetsValidated, InOctetsDecrypted;
};

struct secy_txsa_stats {
	uint64_t OutPktsProtected, OutPktsEncrypted;
};

struct secy_rxsa_stats {
	uint64_t InPktsOK, InPktsInvalid, InPktsNotValid, InPktsUnchecked;
	uint64_t InPktsDelayed, InPktsLate;
};

struct secy_rxsc_stats {
	uint64_t InPktsNotUsingSA, InPktsUnusedSA;
};

/* What the caller does with a received frame. */
enum secy_rx {
	SECY_RX_DELIVER = 0, /* out holds the frame for the Controlled Port */
	SECY_RX_DROP, /* discarded; a counter says why */
	SECY_RX_IGNORE, /* for the Uncontrolled Port only (EAPOL, KaY) */
};

#define SECY_MAX_RXSC 16

struct secy;

struct secy *secy_new(const uint8_t mac[ETH_ADDR_LEN], uint64_t tx_sci);
/* Frees every SC and SA and wipes their keys; NULL-safe. */
void secy_free(struct secy *secy);
/* The reason for the last management call that returned -1. */
const char *secy_error(const struct secy *secy);

void secy_get_policy(const struct secy *secy, struct secy_policy *pol);
int secy_set_policy(struct secy *secy, const struct secy_policy *pol);
uint64_t secy_tx_sci(const struct secy *secy);
int secy_set_tx_sci(struct secy *secy, uint64_t sci);
/* Longest frame the Uncontrolled Port can carry (DA to ICV). */
void secy_set_max_frame(struct secy *secy, size_t max_frame);

int secy_rxsc_create(struct secy *secy, uint64_t sci);
int secy_rxsc_delete(struct secy *secy, uint64_t sci);
/* Keys are copied into an EVP context; the caller wipes its copy. */
int secy_rxsa_install(struct secy *secy, uint64_t sci, unsigned an,
		      uint64_t lowest_pn, const uint8_t *key, size_t key_len,
		      uint32_t ssci, const uint8_t *salt);
int secy_rxsa_enable(struct secy *secy, uint64_t sci, unsigned an, bool on);
int secy_rxsa_remove(struct secy *secy, uint64_t sci, unsigned an);
int secy_rxsa_get_pn(struct secy *secy, uint64_t sci, unsigned an,
		     uint64_t *lowest_pn, uint64_t *next_pn);
int secy_txsa_install(struct secy *secy, unsigned an, uint64_t next_pn,
		      const uint8_t *key, size_t key_len, uint32_t ssci,
		      const uint8_t *salt);
/* Makes an installed TX SA the encoding SA. */
int secy_txsa_enable(struct secy *secy, unsigned an);
int secy_txsa_remove(struct secy *secy, unsigned an);
/* next_pn of the SA; *exhausted when the SA can send no more. */
int secy_txsa_get_pn(struct secy *secy, unsigned an, uint64_t *next_pn,
		     bool *exhausted);

/*
 * Transmit (10.5): protects one frame from the Controlled Port into out,
 * which needs len + MACSEC_OVERHEAD octets.  0 = send *out_len octets,
 * -1 = dropped (counted).
 */
int secy_protect(struct secy *secy, const uint8_t *in, size_t len, uint8_t *out,
		 size_t cap, size_t *out_len);
/* The same for the frame in[0, len) followed by tail[0, tail_len): the
 * tail is read once, by the cipher, straight into out. */
int secy_protect_parts(struct secy *secy, const uint8_t *in, size_t len,
		       const uint8_t *tail, size_t tail_len, uint8_t *out,
		       size_t cap, size_t *out_len);
/*
 * Receive (10.6): validates one frame from the Uncontrolled Port; on
 * SECY_RX_DELIVER, out (len octets suffice) holds the plain frame.
 */
enum secy_rx secy_validate_frame(struct secy *secy, const uint8_t *in,
				 size_t len, uint8_t *out, size_t cap,
				 size_t *out_len);

/* Receive frames lost before validation: too many for us (InPktsOverrun). */
void secy_count_overrun(struct secy *secy, uint64_t n);

/* Reporting: iterate the installed objects (for macsec_ctl_server.c). */
const struct secy_stats *secy_stats(const struct secy *secy);
int secy_txsa_info(const struct secy *secy, unsigned an, bool *enabled,
		   uint64_t *next_pn, bool *exhausted, uint32_t *ssci,
		   struct secy_txsa_stats *st);
int secy_encoding_an(const struct secy *secy);
size_t secy_rxsc_count(const struct secy *secy);
int secy_rxsc_info(const struct secy *secy, size_t idx, uint64_t *sci,
		   struct secy_rxsc_stats *st);
int secy_rxsa_info(const struct secy *secy, size_t idx, unsigned an,
		   bool *enabled, uint64_t *next_pn, uint64_t *lowest_pn,
		   uint32_t *ssci, struct secy_rxsa_stats *st);

/* macsec_conf.c — macsec-sw.conf(5), policy keys shared with the ctl. */
#define CONF_DEFAULT_PATH "/etc/qkdlab/macsec-sw.conf"
#define CONF_DEFAULT_SOCKET "/run/qkdlab/macsec-sw.sock"
#define CONF_NAME_MAX 16 /* IFNAMSIZ */
#define CONF_PATH_MAX 108 /* sun_path */

struct macsec_conf {
	char interface[CONF_NAME_MAX]; /* uncontrolled port */
	char tap[CONF_NAME_MAX]; /* controlled port */
	char socket[CONF_PATH_MAX]; /* control socket */
	bool sci_set; /* sci = given explicitly */
	uint64_t sci;
	uint16_t sci_port; /* with the interface MAC otherwise */
	bool tap_copy_mac; /* TAP takes the interface's MAC */
	bool offload; /* TAP offloads, a thread per port */
	bool qdisc_bypass; /* PACKET_QDISC_BYPASS on the wire */
	bool packet_rings; /* PACKET_MMAP rings on the wire (with offload) */
	enum cipher_engine cipher_engine; /* auto (default) or openssl */
	struct secy_policy pol;
	char metrics_listen[64]; /* "" = no HTTP metrics */
	enum log_fmt log_fmt;
};

void conf_defaults(struct macsec_conf *conf);
int conf_load(const char *path, struct macsec_conf *conf);
/*
 * Applies one policy key (cipher, protect, validate, replay-protect,
 * replay-window, offset, encrypt, include-sci, es).  Returns 0, 1 if the
 * key is not a policy key, or -1 with a message in err.
 */
int conf_policy_kv(struct secy_policy *pol, const char *key, const char *value,
		   char *err, size_t errlen);
const char *conf_validate_name(enum secy_validate v);

/* export.c — JSON and Prometheus forms; heap strings, NULL if out of memory. */
char *export_json(const struct secy *secy, const char *name);
char *export_metrics(const struct secy *secy, const char *name);

/* show.c — text forms of the SecY for the control socket. */
/* Like `ip macsec show`; name is the controlled port's. */
void show_secy(const struct secy *secy, const char *name, FILE *fp);
/* One line per object, counters as key=value with their MIB names. */
void show_stats(const struct secy *secy, FILE *fp);

/* port.c — the Uncontrolled Port (AF_PACKET) and Controlled Port (TAP). */
#define PORT_BATCH 64
#define PORT_FRAME_MAX (9216 + MACSEC_OVERHEAD + ETH_HDR_LEN)

struct port_batch {
	size_t n;
	size_t len[PORT_BATCH];
	const uint8_t *at[PORT_BATCH]; /* received: where frame i is */
	uint8_t frame[PORT_BATCH][PORT_FRAME_MAX];
};

/*
 * ring.c — slots of a packet socket's memory-mapped rings (TPACKET_V2).
 * The kernel and we hand each slot back and forth through its status
 * word; frames are read and written in place.
 */
#define PRING_BLOCK (64U * 1024) /* preferred block size */
#define PRING_FRAMES_MAX 65536U

struct pring_geom { /* as struct tpacket_req wants it */
	size_t block_size, frame_size;
	unsigned block_nr, frame_nr, per_block;
};

struct pring {
	uint8_t *base;
	struct pring_geom geom;
	unsigned head; /* the next slot to look at */
	unsigned tail, held; /* receive: slots taken, not yet given back */
	unsigned queued; /* transmit: slots marked since the caller reset it */
};

/* A received frame in its slot. */
struct pring_rx {
	const uint8_t *frame;
	size_t len;
	bool truncated; /* longer than the slot: do not use */
	bool outgoing; /* our own transmission */
};

/* At least min_frames slots of frame_max octets each; -1 if impossible. */
int pring_geometry(size_t frame_max, unsigned min_frames, size_t page,
		   struct pring_geom *g);
size_t pring_slot_offset(const struct pring_geom *g, unsigned i);
void pring_init(struct pring *r, uint8_t *base, const struct pring_geom *g);
/* The next frame the kernel handed over: 1, or 0 when there is none. */
int pring_rx_next(struct pring *r, struct pring_rx *f);
/* Gives every slot taken by pring_rx_next() back to the kernel. */
void pring_rx_release(struct pring *r);
/* The free transmit slot at the head (cap: room for the frame), or NULL
 * while the kernel still has it (the ring is full). */
uint8_t *pring_tx_slot(struct pring *r, size_t *cap);
/* Queues the frame of len octets written into that slot for sending. */
void pring_tx_put(struct pring *r, size_t len);

struct wire {
	char name[16]; /* IFNAMSIZ */
	int fd; /* receives; sends too without rings */
	int tx_fd; /* sends: fd, or a socket of its own with rings */
	int ifindex;
	unsigned mtu;
	uint8_t mac[ETH_ADDR_LEN];
	/* PACKET_MMAP rings, when open with rings: fd's, tx_fd's */
	uint8_t *map, *tx_map;
	size_t map_len, tx_map_len;
	struct pring rx, tx;
	bool tx_vnet; /* transmit slots start with a virtio-net header */
	uint8_t *tx_at; /* the slot wire_tx_slot() handed out */
};

/* Opens ifname with a packet socket (promiscuous, no outgoing copies);
 * bypass sends past the interface's queueing discipline; rings maps
 * receive and transmit rings (falls back to plain I/O without them). */
int wire_open(struct wire *w, const char *ifname, bool bypass, bool rings);
void wire_close(struct wire *w);
/* Receives up to PORT_BATCH frames without blocking into b->at[] (in the
 * receive ring, or b->frame[]); -1 on error.  Then wire_recv_done(). */
int wire_recv(struct wire *w, struct port_batch *b);
/* The frames of the last wire_recv() are no longer used. */
void wire_recv_done(struct wire *w);
/* Frames the kernel dropped for want of buffer since the last call. */
uint64_t wire_drops(struct wire *w);
/* Sends every frame of b; returns how many were not sent. */
size_t wire_send(struct wire *w, const struct port_batch *b);
/* With a transmit ring: room for the next frame (waits while the ring is
 * full), NULL on error; wire_tx_put() queues it, wire_tx_flush() sends. */
uint8_t *wire_tx_slot(struct wire *w, size_t *cap);
void wire_tx_put(struct wire *w, size_t len);
int wire_tx_flush(struct wire *w);
/* Sends what is marked in the transmit ring (any thread may call it). */
int wire_tx_send(struct wire *w);

/* Creates (or attaches to) TAP name, sets its MAC (if mac) and MTU, up;
 * with vnet, every read and write starts with a virtio-net header and
 * reads may bring TCP super-frames (TSO, checksum offload). */
int tap_open(const char *name, const uint8_t *mac, unsigned mtu, bool vnet);
/* One read of up to cap octets without blocking: its length, 0 when
 * nothing is queued, -1 on error. */
ssize_t tap_read(int fd, uint8_t *buf, size_t cap);
/* Reads up to PORT_BATCH frames without blocking; -1 on error. */
int tap_recv(int fd, struct port_batch *b);
int tap_send(int fd, const uint8_t *frame, size_t len);

/*
 * offload.c — the TAP's offloads (virtio-net header, TSO, checksums, and
 * receive coalescing).  The SecY never sees a frame above the MTU.
 */
#define VNET_HDR_LEN 10 /* struct virtio_net_hdr */
#define GSO_FRAME_MAX (65535 + ETH_HDR_LEN + 4) /* IP + Ethernet + tag */

/* Walks one TAP super-frame as the MTU-sized frames it stands for. */
struct gso_iter {
	const uint8_t *frame;
	size_t len;
	uint8_t type; /* VIRTIO_NET_HDR_GSO_* */
	bool v6, csum, done;
	size_t csum_start, csum_offset;
	size_t l3, l4, hlen; /* IP header, TCP header, payload offsets */
	size_t mss, off; /* segment payload size, next payload octet */
	unsigned idx;
};

/* Reads the header the TAP put before frame; -1 if malformed/unoffered. */
int gso_begin(struct gso_iter *g, const uint8_t vh[VNET_HDR_LEN],
	      const uint8_t *frame, size_t len);
/* Writes the next frame (checksums complete) into out: 1, or 0 at end. */
int gso_next(struct gso_iter *g, uint8_t *out, size_t cap, size_t *out_len);
/*
 * The same without copying the payload: the next frame is out[0,
 * *out_len) followed by *payload[0, *payload_len), the payload a part of
 * the super-frame (*payload_len may be 0).
 */
int gso_next_parts(struct gso_iter *g, uint8_t *out, size_t cap,
		   size_t *out_len, const uint8_t **payload,
		   size_t *payload_len);
/* A header for a frame written as it is (DATA_VALID: checksums checked). */
void vnet_hdr_plain(uint8_t vh[VNET_HDR_LEN], bool csum_valid);

struct gro_seg {
	bool v6;
	uint8_t flags;
	uint32_t seq;
	size_t l3, l4, hlen, end, plen;
};

/* Coalesces validated TCP segments of one flow (into buf: header+frame). */
struct gro {
	uint8_t *buf;
	size_t cap;
	size_t len; /* frame octets after the header */
	unsigned nseg;
	bool closed; /* PSH or a short segment ended it */
	uint32_t next_seq;
	struct gro_seg head;
};

void gro_init(struct gro *g, uint8_t *buf, size_t cap);
/* Takes frame into the super-frame being built: 0, or -1 if it does not
 * fit it (then gro_finish() and try again) or is no TCP candidate. */
int gro_add(struct gro *g, const uint8_t *frame, size_t len);
/* Completes the super-frame in buf (header first); its length, 0 if none. */
size_t gro_finish(struct gro *g);

/* macsec_ctl_server.c — the control socket (see macsec-sw(8), CONTROL PROTOCOL). */
#define CTL_LINE_MAX 1024
#define CTL_MAX_CLIENTS 8

struct ctl;
struct pollfd;

/*
 * Runs one request line against the SecY and writes the whole response
 * (terminated lines) to fp.  Wipes nothing: the caller owns
 * and wipes line.  Returns 0 for "ok", -1 for "err".
 */
int ctl_exec(struct secy *secy, const char *name, char *line, FILE *fp);
struct ctl *ctl_new(const char *path, struct secy *secy, const char *name);
/* Closes every connection and removes the socket file; NULL-safe. */
void ctl_free(struct ctl *ctl);
/* Fills up to max pollfds; returns how many. */
size_t ctl_pollfds(struct ctl *ctl, struct pollfd *pfd, size_t max);
/* Serves what poll() reported on the n pollfds ctl_pollfds filled. */
void ctl_dispatch(struct ctl *ctl, const struct pollfd *pfd, size_t n);

#endif
