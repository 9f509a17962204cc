/* SPDX-License-Identifier: MIT */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned int hist_bucket(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (unsigned int)v;
	unsigned int msb = 63u - (unsigned int)__builtin_clzll(v);
	unsigned int shift = msb - HIST_SUB_BITS;

	/* v >> shift lies in [HIST_SUB, 2*HIST_SUB): the position inside the octave. */
	return shift * HIST_SUB + (unsigned int)(v >> shift);
}

uint64_t hist_bucket_low(unsigned int idx)
{
	if (idx < 2 * HIST_SUB)
		return idx;
	unsigned int shift = idx / HIST_SUB - 1;
	uint64_t sub = idx % HIST_SUB + HIST_SUB;

	return sub << shift;
}

uint64_t hist_bucket_high(unsigned int idx)
{
	if (idx < 2 * HIST_SUB)
		return idx;
	unsigned int shift = idx / HIST_SUB - 1;

	return hist_bucket_low(idx) + ((uint64_t)1 << shift) - 1;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (!h->count)
		return 0;
	/* Nearest rank; the epsilon keeps 99.99 % of 10000 at rank 9999. */
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count - 1e-9);
	uint64_t seen = 0;

	if (rank <= 1)
		return h->min;
	if (rank >= h->count)
		return h->max;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
			uint64_t v = lo + (hi - lo) / 2;

			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
