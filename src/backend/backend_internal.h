/* SPDX-License-Identifier: MIT */
/* Shared between backend.c (which picks the kind) and the backend kinds. */
#ifndef NVMEOF_BACKEND_INTERNAL_H
#define NVMEOF_BACKEND_INTERNAL_H

#include <stddef.h>

#include "backend.h"

/*
 * Each opener gets validated options (block_size is 0 or a power of two in
 * 512..4096) and writes "PATH: reason" into err on failure.
 */
int backend_ram_open(const struct backend_open_opts *opts, struct backend **out, char *err,
		     size_t errlen);
int backend_file_open(const struct backend_open_opts *opts, bool is_block, struct backend **out,
		      char *err, size_t errlen);
int backend_rbd_open(const struct backend_open_opts *opts, struct backend **out, char *err,
		     size_t errlen);

/* Is [offset, offset + len) inside the backend? (overflow-safe) */
static inline bool backend_range_ok(const struct backend *be, uint64_t offset, uint64_t len)
{
	return offset <= be->size && len <= be->size - offset;
}

#endif
