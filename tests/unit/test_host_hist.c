/* SPDX-License-Identifier: MIT */
/* perf's log-linear latency histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../src/cli/nvmeof/hist.c"

static void test_bucket_bounds(void **state)
{
	/* Every value falls inside its bucket, buckets are contiguous. */
	uint64_t vals[] = { 0, 1, 31, 63, 64, 65, 100, 1000, 4095, 4096, 123456789, 1ull << 40,
			    UINT64_MAX };

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		unsigned int b = hist_bucket(vals[i]);

		assert_true(b < HIST_BUCKETS);
		assert_true(hist_bucket_low(b) <= vals[i]);
		assert_true(hist_bucket_high(b) >= vals[i]);
	}
	for (unsigned int b = 0; b + 1 < HIST_BUCKETS; b++)
		assert_true(hist_bucket_high(b) + 1 == hist_bucket_low(b + 1));
	/* Relative bucket width ≤ 1/32. */
	for (unsigned int b = 64; b < HIST_BUCKETS; b++) {
		uint64_t lo = hist_bucket_low(b), w = hist_bucket_high(b) - lo + 1;

		assert_true(w * 32 <= lo);
	}
}

static void test_percentiles_uniform(void **state)
{
	struct hist *h = malloc(sizeof(*h));

	hist_init(h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_add(h, v * 1000); /* 1 us .. 100 ms */
	assert_int_equal(h->count, 100000);
	assert_int_equal(h->min, 1000);
	assert_int_equal(h->max, 100000000);
	double p50 = (double)hist_percentile(h, 50), p99 = (double)hist_percentile(h, 99);
	double p999 = (double)hist_percentile(h, 99.9);

	assert_true(p50 > 50e6 * 0.97 && p50 < 50e6 * 1.03);
	assert_true(p99 > 99e6 * 0.97 && p99 < 99e6 * 1.03);
	assert_true(p999 > 99.9e6 * 0.97 && p999 <= 100e6);
	assert_int_equal(hist_percentile(h, 100), 100000000);
	assert_true(hist_mean(h) > 50.0004e6 && hist_mean(h) < 50.0006e6);
	free(h);
}

static void test_percentile_tail_and_merge(void **state)
{
	struct hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	hist_init(a);
	hist_init(b);
	assert_int_equal(hist_percentile(a, 50), 0); /* empty */
	for (int i = 0; i < 9999; i++)
		hist_add(a, 10000);
	hist_add(b, 5000000); /* one outlier in another thread */
	hist_merge(a, b);
	assert_int_equal(a->count, 10000);
	assert_int_equal(a->max, 5000000);
	assert_int_equal(a->min, 10000);
	/* Nearest rank: p99.99 of 10000 samples is the 9999th, p100 the outlier. */
	uint64_t p9999 = hist_percentile(a, 99.99);

	assert_true(p9999 >= 10000 && p9999 < 10400);
	assert_int_equal(hist_percentile(a, 100), 5000000);
	hist_add(a, 6000000);
	/* Now rank 10000 of 10001 is the first outlier, reported within one bucket (3.2 %). */
	p9999 = hist_percentile(a, 99.99);
	assert_true(p9999 > 5000000 * 0.968 && p9999 < 5000000 * 1.032);
	uint64_t p99 = hist_percentile(a, 99);

	assert_true(p99 >= 10000 && p99 < 10400);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_percentiles_uniform),
		cmocka_unit_test(test_percentile_tail_and_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
