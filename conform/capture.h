/*
 * capture.h — frames from a capture file: classic pcap (tcpdump -w, both
 * byte orders, microsecond or nanosecond time stamps) and pcapng (tshark's
 * default: Section Header, Interface Description, Enhanced and Simple
 * Packet Blocks).  The whole file is read into memory first.
 */
#ifndef QKDLAB_CONFORM_CAPTURE_H
#define QKDLAB_CONFORM_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#define CAPTURE_MAX_FILE (256u << 20)
#define CAPTURE_LINKTYPE_ETHERNET 1

struct capture_frame {
	double ts; /* seconds */
	uint32_t linktype;
	const uint8_t *data; /* points into the file; valid until _free */
	size_t len;
};

struct capture;

/* NULL and a message in err when the file cannot be read or is no capture. */
struct capture *capture_open(const char *path, char *err, size_t errlen);
/* The same over len octets at p (copied). */
struct capture *capture_open_buf(const void *p, size_t len, char *err,
				 size_t errlen);
/* 1 and the next frame, 0 at the end, -1 and err when the file is damaged. */
int capture_next(struct capture *c, struct capture_frame *f, char *err,
		 size_t errlen);
void capture_free(struct capture *c);

#endif
