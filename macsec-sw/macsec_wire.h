/*
 * macsec_wire.h — IEEE 802.1AE-2018 frame layout constants.
 *
 * A MACsec frame on the wire (clause 8.1, Figure 9-1):
 *
 *   DA(6) SA(6) | SecTAG: EtherType 88-E5(2) TCI/AN(1) SL(1) PN(4) [SCI(8)]
 *               | Secure Data | ICV(16)
 *
 * The MPDU is everything after DA and SA.  Lengths below count octets.
 */
#ifndef QKDLAB_MACSEC_WIRE_H
#define QKDLAB_MACSEC_WIRE_H

#define MACSEC_ETHERTYPE 0x88e5 /* 9.3 MACsec EtherType */
#define EAPOL_ETHERTYPE 0x888e /* IEEE 802.1X PAE EtherType */

#define ETH_ADDR_LEN 6
#define ETH_ADDRS_LEN 12 /* DA + SA */
#define ETH_HDR_LEN 14 /* DA + SA + EtherType */

/* TCI bits, octet 3 of the SecTAG (9.5, Figure 9-3). */
#define MACSEC_TCI_V 0x80 /* version, must be 0 */
#define MACSEC_TCI_ES 0x40 /* end station: SCI = SA MAC || 00-01 */
#define MACSEC_TCI_SC 0x20 /* SCI is explicitly encoded */
#define MACSEC_TCI_SCB 0x10 /* single copy broadcast: port 00-00 */
#define MACSEC_TCI_E 0x08 /* encryption */
#define MACSEC_TCI_C 0x04 /* changed text */
#define MACSEC_AN_MASK 0x03 /* association number (9.6) */
#define MACSEC_TCI_MASK 0xfc

#define MACSEC_SL_MASK 0x3f /* 9.7: short length, bits 1-6 */
#define MACSEC_SL_RESERVED 0xc0 /* 9.7: bits 7-8, must be 0 */
#define MACSEC_SL_LIMIT 48 /* SL = 0 when Secure Data >= 48 */

#define MACSEC_SECTAG_LEN 8 /* EtherType..PN, no SCI */
#define MACSEC_SECTAG_SCI_LEN 16 /* with the explicit SCI */
#define MACSEC_SCI_LEN 8
#define MACSEC_ICV_LEN 16 /* all four clause-14 suites */
#define MACSEC_MIN_MPDU 17 /* 9.12 a) */
/* Worst-case growth of a frame by protection (SecTAG with SCI + ICV). */
#define MACSEC_OVERHEAD (MACSEC_SECTAG_SCI_LEN + MACSEC_ICV_LEN)

#define MACSEC_AN_COUNT 4
#define MACSEC_ES_PORT 0x0001 /* 9.9: port of an ES-implied SCI */
#define MACSEC_SCI_RESERVED 0xffffffffffffffffULL /* 9.9 */

/* Clause 14: salt and SSCI of the XPN suites. */
#define MACSEC_SALT_LEN 12
#define MACSEC_SSCI_LEN 4
#define MACSEC_IV_LEN 12
#define MACSEC_KEY_MAX 32

#endif
