/*
 * privdrop.h — give up what a daemon no longer needs once it has started.
 *
 * The daemons start as root to bind ports, open packet sockets and TAPs and
 * read their keys.  Afterwards each calls priv_drop() with the capabilities
 * it still uses (often none): no_new_privs is set, every other capability
 * leaves the bounding, permitted, effective and inheritable sets, and the
 * ambient set is cleared.  The uid stays 0, so root-owned files (the key
 * store, logs) stay reachable through their owner bits, but nothing that
 * needs a capability (other users' files, raw sockets, mounts, ptrace,
 * module loading...) is possible any more.
 */
#ifndef QKDLAB_PRIVDROP_H
#define QKDLAB_PRIVDROP_H

#include <stddef.h>

/*
 * keep: capability numbers (CAP_NET_RAW, ...) to retain.  Without
 * capabilities to begin with (not root) only no_new_privs is set.
 * Returns 0, or -1 (logged) if the kernel refused.
 */
int priv_drop(const char *who, const int *keep, size_t nkeep);

#endif
