/*
 * sdnotify.h — the systemd readiness protocol (sd_notify(3)) without
 * libsystemd: one datagram of "KEY=value" lines to $NOTIFY_SOCKET.
 */
#ifndef QKDLAB_SDNOTIFY_H
#define QKDLAB_SDNOTIFY_H

/*
 * Sends state (e.g. "READY=1\nSTATUS=...") when $NOTIFY_SOCKET is set (a
 * path, or "@name" for the abstract namespace).  Returns 0 when sent or
 * when there is nobody to tell, -1 (logged at debug) on failure: a daemon
 * runs on either way.
 */
int sdnotify(const char *state);

#endif
