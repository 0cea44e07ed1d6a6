/*
 * version.c — the version string, compiled with -DQKDLAB_VERSION from the
 * Makefile so that only this object is rebuilt when it changes.
 */
#include "version.h"

#ifndef QKDLAB_VERSION
#define QKDLAB_VERSION "unknown"
#endif

const char qkdlab_version[] = QKDLAB_VERSION;

void
version_print(FILE *f, const char *prog)
{
	fprintf(f, "%s (qkdlab) %s\n", prog, qkdlab_version);
}
