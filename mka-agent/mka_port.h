/*
 * mka_port.h — the uncontrolled port as mka-agent sees it: an AF_PACKET
 * socket bound to one interface for EtherType 0x888E (EAPOL), joined to
 * the EAPOL destination group address.
 */
#ifndef QKDLAB_MKA_PORT_H
#define QKDLAB_MKA_PORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mka_port {
	int fd;
	int ifindex;
	uint8_t mac[6];
	char name[16];
};

/* Opens the socket, reads the MAC; joins group if it is multicast. */
int mka_port_open(struct mka_port *p, const char *ifname,
		  const uint8_t group[6]);
void mka_port_close(struct mka_port *p);
/* One received frame (not our own outgoing ones); 0 if none was ready. */
ssize_t mka_port_recv(struct mka_port *p, uint8_t *buf, size_t cap);
/* Matches struct mka_kay_conf.tx. */
int mka_port_send(void *arg, const uint8_t *frame, size_t len);

#endif
