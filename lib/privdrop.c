/*
 * privdrop.c — capability reduction through the raw kernel interface
 * (prctl and capset), so no libcap is needed.
 */
#include "privdrop.h"

#include "log.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool
priv_kept(int cap, const int *keep, size_t nkeep)
{
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == cap)
			return true;
	return false;
}

int
priv_drop(const char *who, const int *keep, size_t nkeep)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int last = CAP_LAST_CAP;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_warn("%s: cannot set no_new_privs", who);
		return -1;
	}
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) == -1) {
		log_warn("%s: capget", who);
		return -1;
	}
	if (data[0].permitted == 0 && data[1].permitted == 0)
		return 0; /* nothing to give up */
	/* The running kernel may know more capabilities than our headers. */
	while (prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
		last++;
	/*
	 * The bounding set needs CAP_SETPCAP (a container may not grant it);
	 * with no_new_privs set it only matters for a later exec anyway.
	 */
	for (int cap = 0;
	     (data[0].effective & (1u << CAP_SETPCAP)) && cap <= last; cap++) {
		if (priv_kept(cap, keep, nkeep))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL) {
			log_warn(
			    "%s: cannot drop capability %d from the bounding set",
			    who, cap);
			return -1;
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof(data));
	for (size_t i = 0; i < nkeep; i++) {
		int cap = keep[i];

		if (cap < 0 || cap > 63)
			continue;
		data[cap / 32].permitted |= UINT32_C(1) << (cap % 32);
		data[cap / 32].effective |= UINT32_C(1) << (cap % 32);
	}
	if (syscall(SYS_capset, &hdr, data) == -1) {
		log_warn("%s: capset", who);
		return -1;
	}
	log_debug("%s: capabilities dropped (%zu kept), no_new_privs set", who,
		  nkeep);
	return 0;
}
