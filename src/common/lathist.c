/* SPDX-License-Identifier: MIT */
#include "common/lathist.h"


uint64_t lathist_low(unsigned int idx)
{
	if (idx < 2 * LATHIST_SUB)
		return idx;
	unsigned int shift = idx / LATHIST_SUB - 1;

	return (uint64_t)(idx % LATHIST_SUB + LATHIST_SUB) << shift;
}

double lathist_percentile(const uint64_t *buckets, unsigned int n, double p)
{
	uint64_t total = 0, seen = 0;

	if (n > LATHIST_BUCKETS)
		n = LATHIST_BUCKETS;
	for (unsigned int i = 0; i < n; i++)
		total += buckets[i];
	if (!total)
		return 0.0;
	if (p > 100.0)
		p = 100.0;
	/* Nearest rank; the epsilon keeps 99 % of 100 at rank 99. */
	double want = p / 100.0 * (double)total - 1e-9;
	double rank = (double)(uint64_t)(want > 0 ? want : 0); /* ceil without libm */
	if (rank < want)
		rank += 1.0;
	if (rank < 1.0)
		rank = 1.0;
	for (unsigned int i = 0; i < n; i++) {
		if (!buckets[i])
			continue;
		if ((double)(seen + buckets[i]) >= rank) {
			double lo = (double)lathist_low(i);
			if (i + 1 >= LATHIST_BUCKETS)
				return lo; /* open-ended: its lower bound is all we know */
			double hi = (double)lathist_low(i + 1);
			return lo + (hi - lo) * (rank - (double)seen) / (double)buckets[i];
		}
		seen += buckets[i];
	}
	return (double)lathist_low(n - 1);
}
