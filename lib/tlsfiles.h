/*
 * tlsfiles.h — checks a daemon's TLS files before it starts, so that a
 * certificate or key that cannot be loaded is reported with the
 * configuration key that names it, the file, and OpenSSL's reason.
 */
#ifndef QKDLAB_TLSFILES_H
#define QKDLAB_TLSFILES_H

/*
 * One configuration's certificate, private key and CA file, each with the
 * name of its configuration key.  A NULL or empty path is not checked.
 */
struct tls_files {
	const char *cert_key, *cert;
	const char *key_key, *key;
	const char *ca_key, *ca;
};

/*
 * Loads each file as OpenSSL will (PEM certificate, unencrypted PEM
 * private key matching the certificate, at least one CA certificate) and
 * logs every failure at error level as "<key> <file>: <what>: <reason>".
 * Returns 0 or -1.
 */
int tls_files_check(const struct tls_files *f);

#endif
