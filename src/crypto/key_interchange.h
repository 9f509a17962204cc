/* SPDX-License-Identifier: MIT */
/*
 * The interchange format NVMe uses for secrets in text: TLS PSKs
 * ("NVMeTLSkey-1:HH:...:") and DH-HMAC-CHAP secrets ("DHHC-1:HH:...:"),
 * both PREFIX:HH:BASE64(KEY || CRC32(KEY) little-endian):
 */
#ifndef NVMEOF_CRYPTO_KEY_INTERCHANGE_H
#define NVMEOF_CRYPTO_KEY_INTERCHANGE_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE 802.3, as gzip) of buf. */
uint32_t nvme_key_crc32(const uint8_t *buf, size_t len);

/*
 * Decode str of the form PREFIX:HH:BASE64:, with PREFIX given without its
 * colon. The key (without CRC) goes to key (at most max bytes), its length
 * to *len (also on a CRC mismatch), HH to *hh. 0, -EBADMSG (CRC mismatch)
 * or -EINVAL (prefix, HH, base64, length);
 * nothing of the key is left in temporaries.
 */
int nvme_key_interchange_decode(const char *str, const char *prefix, uint8_t *hh, uint8_t *key,
				size_t max, size_t *len);

/* Encode; 0 or -EINVAL (out too small). */
int nvme_key_interchange_encode(const char *prefix, uint8_t hh, const uint8_t *key, size_t len,
				char *out, size_t outlen);

#endif
