/*
 * test_mka_util.c — vector loading for the mka-agent unit tests.
 */
#include "test_mka_util.h"

#include "harness.h"
#include "util.h"

#include <stdarg.h>

cJSON *
tv_load(const char *name)
{
	const char *src = getenv("QKDLAB_SRC");
	char path[1024];
	char *text = NULL;
	size_t len;
	cJSON *root;

	snprintf(path, sizeof(path), "%s/tests/vectors/%s",
		 src != NULL ? src : ".", name);
	if (file_read_all(path, 1 << 20, &text, &len) == -1) {
		fprintf(stderr, "cannot read vector file %s\n", path);
		abort();
	}
	root = cJSON_ParseWithLength(text, len);
	free(text);
	if (root == NULL) {
		fprintf(stderr, "%s is not JSON\n", path);
		abort();
	}
	return root;
}

const char *
tv_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(v)) {
		fprintf(stderr, "vector member %s missing\n", key);
		abort();
	}
	return v->valuestring;
}

uint8_t *
tv_hex(const cJSON *obj, const char *key, size_t *len)
{
	char buf[4096];
	const char *s = tv_str(obj, key);
	size_t n = 0;

	/* Some members append a remark after the hex: "ab12 (= ...)". */
	while (s[n] != '\0' && s[n] != ' ' && n < sizeof(buf) - 1) {
		buf[n] = s[n];
		n++;
	}
	buf[n] = '\0';
	return th_unhex(buf, len);
}

const cJSON *
tv_get(const cJSON *obj, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, obj);
	while (obj != NULL && (key = va_arg(ap, const char *)) != NULL)
		obj = cJSON_GetObjectItemCaseSensitive(obj, key);
	va_end(ap);
	if (obj == NULL) {
		fprintf(stderr, "vector path missing\n");
		abort();
	}
	return obj;
}
