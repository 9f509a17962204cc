/* SPDX-License-Identifier: MIT */
#include "crc32c.h"

#include <isa-l/crc.h>

uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* crc32_iscsi takes an int length: feed huge buffers in pieces. */
	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;

		crc = crc32_iscsi((unsigned char *)p, (int)n, crc);
		p += n;
		len -= n;
	}
	return crc;
}

uint32_t crc32c_iov(const struct iovec *iov, int iovcnt)
{
	uint32_t crc = CRC32C_SEED;

	for (int i = 0; i < iovcnt; i++)
		crc = crc32c_update(crc, iov[i].iov_base, iov[i].iov_len);
	return crc32c_final(crc);
}
