/* SPDX-License-Identifier: MIT */
/*
 * The target's I/O latency histogram layout, shared by the target (which
 * counts), its metrics (Prometheus `le` bounds) and `nvmeof target top`
 * (percentiles from the difference of two snapshots).
 *
 * Log-linear over whole microseconds: values below 8 us have a bucket each,
 * then every power of two is split in 4 equal buckets (at most 25 % wide,
 * so a percentile read at a bucket's middle is within 12.5 %). 96 buckets
 * reach 2^25 us (33 s); the last one also holds everything slower.
 */
#ifndef NVMEOF_COMMON_LATHIST_H
#define NVMEOF_COMMON_LATHIST_H

#include <stdint.h>

#define LATHIST_SUB_BITS 2
#define LATHIST_SUB (1u << LATHIST_SUB_BITS)
#define LATHIST_BUCKETS 96

/* Bucket of a latency of us microseconds: no branch beyond the clamp, no
 * division (it runs once per command on the reactors). */
static inline unsigned int lathist_bucket(uint64_t us)
{
	if (us < 2 * LATHIST_SUB)
		return (unsigned int)us;
	unsigned int shift = 63u - (unsigned int)__builtin_clzll(us) - LATHIST_SUB_BITS;
	uint64_t idx = (uint64_t)shift * LATHIST_SUB + (us >> shift);

	return idx < LATHIST_BUCKETS ? (unsigned int)idx : LATHIST_BUCKETS - 1;
}

/* Smallest latency (us) counted in bucket idx; lathist_low(idx + 1) is the
 * exclusive upper bound of idx (the last bucket has none). */
uint64_t lathist_low(unsigned int idx);

/*
 * The p-th percentile (0 < p <= 100) in microseconds of n bucket counts,
 * interpolated linearly inside the bucket that holds the rank as
 * Prometheus' histogram_quantile does; 0 when the histogram is empty.
 */
double lathist_percentile(const uint64_t *buckets, unsigned int n, double p);

#endif
