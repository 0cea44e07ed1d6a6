/*
 * kme_store_files.c — the modes of the store's files.  The store holds
 * key bytes, so the database and its -wal and -shm files are private to
 * kme-sim like a private key.
 */
#include "kme.h"
#include "kme_store_int.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The store holds key bytes: the database and its -wal and -shm files
 * must be private, like a private key; so is the fetch journal, which
 * holds key IDs only.  An existing one that group or
 * others can reach is refused, not repaired: its keys may have leaked.
 */
int
kme_store_check_files(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-fetches" };
	bool private = true;
	struct stat sb;
	char p[4096];
	int rc = 0;

	for (size_t i = 0; i < ARRAY_LEN(suffix); i++) {
		if (snprintf(p, sizeof(p), "%s%s", path, suffix[i]) >=
		    (int)sizeof(p)) {
			log_err("store: database path too long: %s", path);
			return -1;
		}
		if (stat(p, &sb) == -1 && errno == ENOENT)
			continue;
		if (i == 0 && S_ISDIR(sb.st_mode)) {
			log_err(
			    "store: database %s is a directory; set database to "
			    "the path of a file (kme-sim creates it)",
			    p);
			return -1;
		}
		if (file_check_private(p) == -1) {
			private = false;
			rc = -1;
		}
	}
	if (!private)
		log_err("store: refusing database %s: key material must be "
			"private to kme-sim (mode 0600)",
			path);
	return rc;
}

/* A new database file (or fetch journal) is created 0600 whatever the
 * umask; SQLite gives its -wal and -shm files the mode of the database
 * file. */
int
kme_store_create_private(const char *path)
{
	int fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd == -1 && errno == EEXIST)
		return 0;
	if (fd == -1) {
		log_warn("store: cannot create %s", path);
		return -1;
	}
	if (fchmod(fd, 0600) == -1) {
		log_warn("store: chmod 600 %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
