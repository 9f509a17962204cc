/* SPDX-License-Identifier: MIT */
/* Hex digits and strings (keys, UUIDs, secrets given on a command line). */
#ifndef NVMEOF_COMMON_HEX_H
#define NVMEOF_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1. */
int hex_digit(int c);

/* An even-length hex string into at most cap bytes; the count goes to *len. 0 or -EINVAL. */
int hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *len);

#endif
