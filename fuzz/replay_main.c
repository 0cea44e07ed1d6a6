/*
 * replay_main.c — runs a libFuzzer target over files without libFuzzer.
 *
 * `replay_<target> FILE|DIR ...` feeds each file (or each file in each
 * directory) to LLVMFuzzerTestOneInput once.  Built with gcc under
 * ASan/UBSan by `make check`, so the committed corpus and every crasher
 * found so far are checked on every run.  Prints TAP, one line per input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned replay_count;

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL) {
		printf("not ok %u - %s (cannot open)\n", ++replay_count, path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		printf("not ok %u - %s (cannot read)\n", ++replay_count, path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	printf("ok %u - %s\n", ++replay_count, path);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			struct dirent **names;
			int n = scandir(argv[i], &names, NULL, alphasort);
			for (int k = 0; k < n; k++) {
				char path[4096];
				if (names[k]->d_name[0] != '.') {
					snprintf(path, sizeof(path), "%s/%s",
						 argv[i], names[k]->d_name);
					rc |= replay_file(path);
				}
				free(names[k]);
			}
			free(names);
		} else {
			rc |= replay_file(argv[i]);
		}
	}
	printf("1..%u\n", replay_count);
	return rc ? 1 : 0;
}
