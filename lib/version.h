/*
 * version.h — the one version string of every qkdlab program.
 *
 * The Makefile sets it (git describe, else the VERSION file); every
 * program prints it for --version as "<program> (qkdlab) <version>".
 */
#ifndef QKDLAB_VERSION_H
#define QKDLAB_VERSION_H

#include <stdio.h>

extern const char qkdlab_version[];

/* Prints "<prog> (qkdlab) <version>\n" to f. */
void version_print(FILE *f, const char *prog);

#endif
