/*
 * unixsock.h — a daemon's listening Unix stream socket at a fixed path.
 *
 * A path another live process answers on is refused (its socket is not
 * ours to take over or delete); a socket file nobody answers on is stale
 * (left by a killed daemon) and is replaced.
 */
#ifndef QKDLAB_UNIXSOCK_H
#define QKDLAB_UNIXSOCK_H

/*
 * Binds and listens on path with the given mode (umask during bind, then
 * chmod), non-blocking and close-on-exec.  who names the program in the
 * refusal ("another mka-agent is listening there").  Logs every failure;
 * returns the socket or -1.
 */
int unixsock_listen(const char *path, unsigned mode, int backlog,
		    const char *who);

#endif
