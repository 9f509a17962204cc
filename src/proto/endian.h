/* SPDX-License-Identifier: MIT */
/*
 * Little-endian accessors for wire fields. The wire structures in
 * nvme_spec.h / nvme_tcp.h use native integer types, so every read or write of
 * a multi-byte field goes through these helpers; on a little-endian machine
 * they compile to nothing.
 */
#ifndef NVMEOF_PROTO_ENDIAN_H
#define NVMEOF_PROTO_ENDIAN_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t le16(uint16_t v) { return le16toh(v); }
static inline uint32_t le32(uint32_t v) { return le32toh(v); }
static inline uint64_t le64(uint64_t v) { return le64toh(v); }
static inline uint16_t to_le16(uint16_t v) { return htole16(v); }
static inline uint32_t to_le32(uint32_t v) { return htole32(v); }
static inline uint64_t to_le64(uint64_t v) { return htole64(v); }

/* Unaligned loads/stores from raw byte buffers. */
static inline uint32_t get_le32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline void put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

#endif
