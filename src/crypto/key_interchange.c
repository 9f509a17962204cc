/* SPDX-License-Identifier: MIT */
#include "key_interchange.h"
#include "common/hex.h"

#include <errno.h>
#include <isa-l.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define KEY_RAW_MAX 96 /* the longest secret (64 bytes) plus its CRC, rounded up */

uint32_t nvme_key_crc32(const uint8_t *buf, size_t len)
{
	return crc32_gzip_refl(0, buf, len);
}

int nvme_key_interchange_decode(const char *str, const char *prefix, uint8_t *hh, uint8_t *key,
				size_t max, size_t *len)
{
	size_t plen = strlen(prefix), b64len;
	uint8_t raw[KEY_RAW_MAX + 4];
	const char *b64, *end;
	int n, d0, d1, ret = -EINVAL;
	uint32_t crc;

	if (!str || strncmp(str, prefix, plen) != 0 || str[plen] != ':')
		return -EINVAL;
	str += plen + 1;
	d0 = hex_digit(str[0]);
	d1 = hex_digit(str[1]);
	if (d0 < 0 || d1 < 0 || str[2] != ':')
		return -EINVAL;
	b64 = str + 3;
	end = strchr(b64, ':');
	if (!end || end[1] != '\0')
		return -EINVAL;
	b64len = (size_t)(end - b64);
	if (b64len == 0 || b64len % 4 || b64len / 4 * 3 > sizeof(raw))
		return -EINVAL;
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64len);
	if (n < 0)
		goto out;
	/* EVP_DecodeBlock counts padding as data. */
	if (b64[b64len - 1] == '=')
		n--;
	if (b64[b64len - 2] == '=')
		n--;
	if (n < 4 + 1 || (size_t)n - 4 > max)
		goto out;
	n -= 4;
	crc = (uint32_t)raw[n] | (uint32_t)raw[n + 1] << 8 | (uint32_t)raw[n + 2] << 16 |
	      (uint32_t)raw[n + 3] << 24;
	*len = (size_t)n;
	if (crc != nvme_key_crc32(raw, (size_t)n)) {
		ret = -EBADMSG;
		goto out;
	}
	memcpy(key, raw, (size_t)n);
	*hh = (uint8_t)(d0 * 16 + d1);
	ret = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return ret;
}

int nvme_key_interchange_encode(const char *prefix, uint8_t hh, const uint8_t *key, size_t len,
				char *out, size_t outlen)
{
	uint8_t raw[KEY_RAW_MAX + 4];
	char b64[(sizeof(raw) + 2) / 3 * 4 + 1];
	uint32_t crc;
	int n, ret = -EINVAL;

	if (len == 0 || len > KEY_RAW_MAX)
		return -EINVAL;
	memcpy(raw, key, len);
	crc = nvme_key_crc32(key, len);
	raw[len] = (uint8_t)crc;
	raw[len + 1] = (uint8_t)(crc >> 8);
	raw[len + 2] = (uint8_t)(crc >> 16);
	raw[len + 3] = (uint8_t)(crc >> 24);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)len + 4);
	n = snprintf(out, outlen, "%s:%02x:%s:", prefix, hh, b64);
	if (n > 0 && (size_t)n < outlen)
		ret = 0;
	else if (outlen)
		out[0] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return ret;
}
