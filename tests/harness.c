/*
 * harness.c — runner behind tests/harness.h (TAP output).
 */
#include "harness.h"

#include <ctype.h>
#include <signal.h>

jmp_buf th_jmp;
int th_failed;
const char *th_skip;

void
th_hexdump(const char *label, const unsigned char *p, size_t n)
{
	printf("#   %-5s ", label);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

unsigned char *
th_unhex(const char *hex, size_t *len)
{
	size_t n = 0, cap = strlen(hex) / 2 + 1;
	unsigned char *out = malloc(cap);
	int hi = -1;

	if (out == NULL)
		abort();
	for (const char *p = hex; *p != '\0'; p++) {
		int v;
		if (isspace((unsigned char)*p))
			continue;
		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			abort();
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0)
		abort();
	*len = n;
	return out;
}

int
th_run(const struct th_case *cases, size_t n)
{
	static int failures;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE,
	       SIG_IGN); /* a closed peer is a test result, not a crash */
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		th_failed = 0;
		th_skip = NULL;
		if (setjmp(th_jmp) == 0)
			cases[i].fn();
		printf("%s %zu - %s%s%s\n", th_failed ? "not ok" : "ok", i + 1,
		       cases[i].name, th_skip != NULL ? " # SKIP " : "",
		       th_skip != NULL ? th_skip : "");
		failures += th_failed;
	}
	return failures == 0 ? 0 : 1;
}
