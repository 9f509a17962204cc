/* SPDX-License-Identifier: MIT */
/* CRC32C (Castagnoli) as NVMe/TCP digests use it, computed by ISA-L. */
#ifndef NVMEOF_PROTO_CRC32C_H
#define NVMEOF_PROTO_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define CRC32C_SEED 0xffffffffu

/* Continue a running CRC (start from CRC32C_SEED); finish with crc32c_final. */
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len);

static inline uint32_t crc32c_final(uint32_t crc) { return ~crc; }

/* Digest of one buffer: seed, update, final. */
static inline uint32_t crc32c(const void *buf, size_t len)
{
	return crc32c_final(crc32c_update(CRC32C_SEED, buf, len));
}

/* Digest over a scatter list. */
uint32_t crc32c_iov(const struct iovec *iov, int iovcnt);

#endif
