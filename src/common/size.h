/* SPDX-License-Identifier: MIT */
/* Byte sizes as people type them: "4096", "64k", "512M", "1GiB", "2T". */
#ifndef NVMEOF_COMMON_SIZE_H
#define NVMEOF_COMMON_SIZE_H

#include <stdint.h>

/*
 * Decimal digits, optionally followed by one of K, M, G, T, P (powers of
 * 1024, either case) and then "B" or "iB". Zero is accepted (callers that
 * need a positive size check it). Returns 0, -EINVAL when the text is not a
 * size, or -ERANGE when the value exceeds INT64_MAX.
 */
int parse_size(const char *s, uint64_t *out);

#endif
