/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP TLS pre-shared keys (NVMe/TCP transport 1.0c §3.6, TP 8011):
 * the configured PSK in its interchange format, the retained PSK derived
 * from it for a host, and the TLS PSK and identity for a host/subsystem
 * pair, computed exactly as the Linux host (libnvme) does, so that a PSK
 * configured on both ends yields the same TLS 1.3 external PSK.
 *
 *   configured  NVMeTLSkey-1:HH:BASE64(PSK || CRC32-LE(PSK)):
 *               HH 00: use as the retained PSK as is; 01: SHA-256 (32 bytes);
 *               02: SHA-384 (48 bytes)
 *   retained    HKDF-Expand(HKDF-Extract(0, configured), "HostNQN" label, L)
 *   identity 0  "NVMe0RHH HOSTNQN SUBNQN"
 *   identity 1  "NVMe1RHH HOSTNQN SUBNQN DIGEST",
 *               DIGEST = base64(HMAC(retained, "HOSTNQN SUBNQN NVMe-over-Fabrics"))
 *   TLS PSK     HKDF-Expand(HKDF-Extract(0, retained), "nvme-tls-psk" label, L)
 *               with the context "identity 0" or "HH DIGEST"
 *
 * Two encodings of the HKDF label exist in the field: libnvme up to 1.13
 * (nvme-cli 2.13, Debian trixie) writes the length little-endian and no
 * length bytes before label and context; later libnvme writes RFC 8446's
 * HkdfLabel. A version 1 identity carries a digest that tells them apart;
 * a version 0 identity does not, so its encoding is configured.
 */
#ifndef NVMEOF_CRYPTO_TLS_PSK_H
#define NVMEOF_CRYPTO_TLS_PSK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NVME_TLS_PSK_MAX 48
#define NVME_TLS_KEY_STR_MAX 128 /* interchange string of a 48-byte key, with NUL */
#define NVME_TLS_IDENTITY_MAX 512 /* two NQNs (223 each), prefix, digest */

/* A configured PSK, decoded from its interchange format. */
struct nvme_tls_key {
	uint8_t hmac; /* HH: 0 (as is), 1 (SHA-256), 2 (SHA-384) */
	uint8_t len; /* 32 or 48 */
	uint8_t key[NVME_TLS_PSK_MAX];
};

enum nvme_tls_kdf {
	NVME_TLS_KDF_LIBNVME = 0, /* libnvme <= 1.13's label encoding (the default) */
	NVME_TLS_KDF_RFC8446 = 1, /* RFC 8446 HkdfLabel */
};

/* Decode "NVMeTLSkey-1:HH:...:" (CRC checked). 0 or -EINVAL; *out wiped on error. */
int nvme_tls_key_parse(const char *str, struct nvme_tls_key *out);
/* Encode key in the interchange format; out needs NVME_TLS_KEY_STR_MAX. 0 or -EINVAL. */
int nvme_tls_key_format(const struct nvme_tls_key *key, char *out, size_t outlen);
/* A new random key: hmac 1 (32 bytes) or 2 (48 bytes). 0, -EINVAL or -EIO. */
int nvme_tls_key_generate(uint8_t hmac, struct nvme_tls_key *out);
/* Wipe a key. */
void nvme_tls_key_clear(struct nvme_tls_key *key);

/* The cipher hash of the TLS PSK (and the HH of the identity): 1 = SHA-256, 2 = SHA-384. */
unsigned int nvme_tls_key_cipher(const struct nvme_tls_key *key);
/* "TLS_AES_128_GCM_SHA256" or "TLS_AES_256_GCM_SHA384" for that hash. */
const char *nvme_tls_key_ciphersuite(const struct nvme_tls_key *key);

/*
 * Identity (version 0 or 1) and TLS PSK for hostnqn talking to subnqn.
 * identity needs NVME_TLS_IDENTITY_MAX bytes; psk NVME_TLS_PSK_MAX, its
 * length (key->len) goes to *psk_len. 0 or -EINVAL (bad NQN, version).
 */
int nvme_tls_psk_derive(const struct nvme_tls_key *key, unsigned int version, enum nvme_tls_kdf kdf,
			const char *hostnqn, const char *subnqn, char *identity, uint8_t *psk,
			size_t *psk_len);

/* The fields of a PSK identity as it came from a peer. */
struct nvme_tls_identity {
	unsigned int version; /* 0 or 1 */
	bool generated; /* 'G': from DH-HMAC-CHAP secure concatenation */
	unsigned int cipher; /* HH: 1 or 2 */
	char hostnqn[224];
	char subnqn[224];
	char digest[96]; /* version 1 only */
};

/* Split a peer's identity (len bytes, not NUL-terminated). 0 or -EINVAL. */
int nvme_tls_identity_parse(const uint8_t *id, size_t len, struct nvme_tls_identity *out);

/*
 * Server side: the TLS PSK for a parsed identity from a configured key.
 * A version 1 identity's digest must match the key under one of the two
 * label encodings (which one is then used); version 0 uses v0_kdf.
 * 0, -EACCES (key does not fit the identity: other hash, digest mismatch,
 * generated PSK) or -EINVAL.
 */
int nvme_tls_psk_for_identity(const struct nvme_tls_key *key, const struct nvme_tls_identity *id,
			      enum nvme_tls_kdf v0_kdf, uint8_t *psk, size_t *psk_len);

#endif
