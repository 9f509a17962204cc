/* SPDX-License-Identifier: MIT */
#include "pattern.h"

#include <errno.h>
#include <string.h>

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t block_seed(uint64_t lba, uint32_t gen)
{
	return mix64(lba * 0x9e3779b97f4a7c15ull ^ ((uint64_t)gen << 17) ^ PATTERN_MAGIC);
}

void pattern_fill(void *buf, uint32_t block_size, uint64_t slba, uint32_t nblocks, uint32_t gen)
{
	uint8_t *p = buf;
	uint32_t words = block_size / 8;

	for (uint32_t b = 0; b < nblocks; b++, p += block_size) {
		uint64_t *w = (uint64_t *)(void *)p;
		uint64_t lba = slba + b;
		uint64_t seed = block_seed(lba, gen);

		w[0] = PATTERN_MAGIC;
		w[1] = lba;
		w[2] = gen;
		w[3] = ~lba;
		for (uint32_t i = 4; i < words; i++)
			w[i] = seed + i * 0x9e3779b97f4a7c15ull;
	}
}

int pattern_check(const void *buf, uint32_t block_size, uint64_t slba, uint32_t nblocks,
		  uint32_t gen, struct pattern_err *err)
{
	const uint8_t *p = buf;
	uint32_t words = block_size / 8;

	for (uint32_t b = 0; b < nblocks; b++, p += block_size) {
		const uint64_t *w = (const uint64_t *)(const void *)p;
		uint64_t lba = slba + b;
		uint64_t seed = block_seed(lba, gen);
		uint32_t bad = UINT32_MAX;

		if (w[0] != PATTERN_MAGIC)
			bad = 0;
		else if (w[1] != lba)
			bad = 1;
		else if (w[2] != gen)
			bad = 2;
		else if (w[3] != ~lba)
			bad = 3;
		else
			for (uint32_t i = 4; i < words; i++)
				if (w[i] != seed + i * 0x9e3779b97f4a7c15ull) {
					bad = i;
					break;
				}
		if (bad != UINT32_MAX) {
			err->lba = lba;
			err->found_lba = w[0] == PATTERN_MAGIC ? w[1] : UINT64_MAX;
			err->found_gen = w[0] == PATTERN_MAGIC ? (uint32_t)w[2] : 0;
			err->word = bad;
			return -EILSEQ;
		}
	}
	return 0;
}
