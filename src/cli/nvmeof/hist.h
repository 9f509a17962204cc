/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram: 32 buckets per power of two (≤ 3.1 % error),
 * values in nanoseconds, fixed size, no allocation. One per thread, merged
 * at the end.
 */
#ifndef NVMEOF_CLI_HIST_H
#define NVMEOF_CLI_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
unsigned int hist_bucket(uint64_t v);
uint64_t hist_bucket_low(unsigned int idx);
uint64_t hist_bucket_high(unsigned int idx);

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->buckets[hist_bucket(v)]++;
}

void hist_merge(struct hist *dst, const struct hist *src);
/* Value at percentile p (0 < p ≤ 100), the bucket's midpoint clamped to [min, max]; 0 if empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

#endif
