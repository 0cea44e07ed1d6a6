/*
 * tlsfiles.c — load-test of certificate, key and CA files with a reason.
 */
#include "tlsfiles.h"

#include "log.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* OpenSSL's reason for the last failure, or fallback when it has none. */
static const char *
tlsfiles_reason(char *buf, size_t cap, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *lib, *why;

	if (e == 0) {
		snprintf(buf, cap, "%s", fallback);
	} else {
		lib = ERR_lib_error_string(e);
		why = ERR_reason_error_string(e);
		snprintf(buf, cap, "%s%s%s", lib != NULL ? lib : "",
			 lib != NULL ? ": " : "", why != NULL ? why : fallback);
	}
	ERR_clear_error();
	return buf;
}

/* No passphrase prompt: a daemon has no terminal to ask on. */
static int
tlsfiles_no_pass(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return 0;
}

static FILE *
tlsfiles_open(const char *key, const char *path)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		log_err("%s %s: cannot open: %s", key, path, strerror(errno));
	return f;
}

static X509 *
tlsfiles_cert(const char *key, const char *path)
{
	char why[256];
	FILE *f;
	X509 *x;

	if ((f = tlsfiles_open(key, path)) == NULL)
		return NULL;
	ERR_clear_error();
	x = PEM_read_X509(f, NULL, tlsfiles_no_pass, NULL);
	fclose(f);
	if (x == NULL)
		log_err("%s %s: cannot load the certificate: %s", key, path,
			tlsfiles_reason(why, sizeof(why),
					"no PEM certificate"));
	return x;
}

static EVP_PKEY *
tlsfiles_key(const char *key, const char *path)
{
	char why[256];
	EVP_PKEY *pk;
	FILE *f;

	if ((f = tlsfiles_open(key, path)) == NULL)
		return NULL;
	ERR_clear_error();
	pk = PEM_read_PrivateKey(f, NULL, tlsfiles_no_pass, NULL);
	fclose(f);
	if (pk == NULL)
		log_err("%s %s: cannot load the private key (PEM, not "
			"encrypted): %s",
			key, path,
			tlsfiles_reason(why, sizeof(why),
					"no PEM private key"));
	return pk;
}

static int
tlsfiles_ca(const char *key, const char *path)
{
	char why[256];
	X509 *x;
	FILE *f;
	int n = 0;

	if ((f = tlsfiles_open(key, path)) == NULL)
		return -1;
	ERR_clear_error();
	while ((x = PEM_read_X509(f, NULL, tlsfiles_no_pass, NULL)) != NULL) {
		X509_free(x);
		n++;
	}
	fclose(f);
	/* Reading stops at the end of the file with "no start line". */
	if (n > 0 &&
	    ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return 0;
	}
	log_err("%s %s: cannot load CA certificates: %s", key, path,
		tlsfiles_reason(why, sizeof(why), "no PEM certificate"));
	return -1;
}

static int
tlsfiles_set(const char *path)
{
	return path != NULL && path[0] != '\0';
}

int
tls_files_check(const struct tls_files *f)
{
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	char why[256];
	int rc = 0;

	if (tlsfiles_set(f->cert) &&
	    (x = tlsfiles_cert(f->cert_key, f->cert)) == NULL)
		rc = -1;
	if (tlsfiles_set(f->key) &&
	    (pk = tlsfiles_key(f->key_key, f->key)) == NULL)
		rc = -1;
	if (x != NULL && pk != NULL) {
		ERR_clear_error();
		if (X509_check_private_key(x, pk) != 1) {
			log_err("%s %s does not belong to %s %s: %s",
				f->key_key, f->key, f->cert_key, f->cert,
				tlsfiles_reason(why, sizeof(why),
						"key values mismatch"));
			rc = -1;
		}
	}
	if (tlsfiles_set(f->ca) && tlsfiles_ca(f->ca_key, f->ca) == -1)
		rc = -1;
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}
