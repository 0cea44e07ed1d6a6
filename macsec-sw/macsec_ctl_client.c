/*
 * macsec_ctl_client.c — macsec-ctl: sends one request to macsec-sw's control
 * socket and prints the answer.
 *
 *   macsec-ctl [-s socket] verb [key=value ...]
 *
 * Exit status 0 on "ok", 1 on "err" (message on stderr) or when the
 * daemon cannot be reached, 2 on a bad command line.  For show and stats
 * the lines up to "." are printed; "show --json" asks for show-json (one
 * JSON object).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macsec_sw.h"
#include "secmem.h"
#include "util.h"
#include "version.h"

static void
usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: macsec-ctl [-s socket] request [key=value ...]\n"
	    "\n"
	    "Requests (macsec-sw(8) documents each):\n"
	    "  show [--json] | stats | get-sci\n"
	    "  create-rxsc sci=HEX16            delete-rxsc sci=HEX16\n"
	    "  install-rxsa sci= an= pn= key=HEX [ssci=HEX8 salt=HEX24]\n"
	    "  install-txsa an= pn= key=HEX [ssci=HEX8 salt=HEX24]\n"
	    "  enable-rxsa | disable-rxsa | remove-rxsa | get-rxsa-pn  sci= an=\n"
	    "  enable-txsa | remove-txsa | get-txsa-pn  an=\n"
	    "  set-policy [cipher=] [protect=] [validate=] [replay-protect=]\n"
	    "             [replay-window=] [offset=] [encrypt=] [include-sci=] [es=]\n"
	    "\n"
	    "  -s socket   default " CONF_DEFAULT_SOCKET "\n"
	    "  --version   print the version and exit\n");
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_copy(sun.sun_path, sizeof(sun.sun_path), path) == -1) {
		fprintf(stderr, "macsec-ctl: socket path too long\n");
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "macsec-ctl: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	const char *sock = CONF_DEFAULT_SOCKET;
	char req[CTL_LINE_MAX], *line = NULL;
	size_t len = 0, cap = 0;
	bool multi;
	FILE *in = NULL;
	int i, fd = -1, rc = 2;

	if (argc > 1 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		version_print(stdout, "macsec-ctl");
		return 0;
	}
	i = 1;
	if (argc > 2 && strcmp(argv[1], "-s") == 0) {
		sock = argv[2];
		i = 3;
	}
	if (i >= argc || argv[i][0] == '-') {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "show") == 0 && i + 2 == argc &&
	    strcmp(argv[i + 1], "--json") == 0) {
		static char show_json[] = "show-json";

		argv[i] = show_json;
		argc--;
	}
	multi = strcmp(argv[i], "show") == 0 || strcmp(argv[i], "stats") == 0 ||
		strcmp(argv[i], "show-json") == 0;
	for (req[0] = '\0'; i < argc; i++) {
		if (strchr(argv[i], '\n') != NULL ||
		    strlen(req) + strlen(argv[i]) + 2 >= sizeof(req)) {
			fprintf(stderr, "macsec-ctl: request too long\n");
			goto out;
		}
		strcat(req, argv[i]);
		strcat(req, i + 1 < argc ? " " : "\n");
	}
	rc = 1; /* the command line was good: failures from here are 1 */
	if ((fd = connect_to(sock)) == -1)
		goto out;
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
	    (in = fdopen(fd, "r")) == NULL) {
		fprintf(stderr, "macsec-ctl: write: %s\n", strerror(errno));
		goto out;
	}
	fd = -1;
	if (getline(&line, &cap, in) <= 0) {
		fprintf(stderr, "macsec-ctl: no answer\n");
		goto out;
	}
	if (strncmp(line, "err", 3) == 0) {
		fprintf(stderr, "macsec-ctl: %s", line + (line[3] ? 4 : 3));
		rc = 1;
		goto out;
	}
	if (strncmp(line, "ok", 2) != 0) {
		fprintf(stderr, "macsec-ctl: unexpected answer: %s", line);
		goto out;
	}
	if (!multi) {
		if (line[2] == ' ')
			fputs(line + 3, stdout);
		rc = 0;
		goto out;
	}
	while (getline(&line, &cap, in) > 0) {
		if (strcmp(line, ".\n") == 0) {
			rc = 0;
			goto out;
		}
		fputs(line, stdout);
	}
	fprintf(stderr, "macsec-ctl: answer ended early\n");
out:
	(void)len;
	secmem_wipe(req, sizeof(req)); /* may hold a key */
	free(line);
	if (in != NULL)
		fclose(in);
	if (fd != -1)
		close(fd);
	return rc;
}
