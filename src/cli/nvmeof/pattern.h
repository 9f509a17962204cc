/* SPDX-License-Identifier: MIT */
/*
 * Verify pattern: every block starts with a header naming its LBA and a
 * generation number, and the rest is filled with words derived from both,
 * so a misplaced, stale or corrupted block is told apart and reported with
 * its LBA.
 */
#ifndef NVMEOF_CLI_PATTERN_H
#define NVMEOF_CLI_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define PATTERN_MAGIC 0x4e564d454f465056ull /* "NVMEOFPV" */

struct pattern_err {
	uint64_t lba; /* the block that failed */
	uint64_t found_lba; /* what its header says */
	uint32_t found_gen;
	uint32_t word; /* first bad 8-byte word inside the block */
};

/* block_size must be a multiple of 8 and ≥ 32. */
void pattern_fill(void *buf, uint32_t block_size, uint64_t slba, uint32_t nblocks, uint32_t gen);

/* 0 if every block matches, else -EILSEQ with *err describing the first bad block. */
int pattern_check(const void *buf, uint32_t block_size, uint64_t slba, uint32_t nblocks,
		  uint32_t gen, struct pattern_err *err);

#endif
