/* SPDX-License-Identifier: MIT */
/* The target's log-linear latency histogram: buckets and percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/common/lathist.c"

static void test_buckets_contiguous(void **state)
{
	/* Every value below the last bucket falls inside [low(b), low(b+1)). */
	for (uint64_t us = 0; us < lathist_low(LATHIST_BUCKETS - 1); us += 1 + us / 64) {
		unsigned int b = lathist_bucket(us);

		assert_true(b < LATHIST_BUCKETS - 1);
		assert_true(lathist_low(b) <= us);
		assert_true(us < lathist_low(b + 1));
	}
	for (unsigned int b = 0; b + 1 < LATHIST_BUCKETS; b++)
		assert_true(lathist_low(b) < lathist_low(b + 1));
	/* Below 8 us one bucket per microsecond, then four per octave. */
	assert_int_equal(lathist_bucket(7), 7);
	assert_int_equal(lathist_bucket(8), 8);
	assert_int_equal(lathist_bucket(9), 8);
	assert_int_equal(lathist_bucket(10), 9);
	assert_int_equal(lathist_bucket(16), 12);
	assert_int_equal(lathist_low(36), 1024);
	/* A bucket is at most a quarter of its lower bound wide. */
	for (unsigned int b = 8; b + 1 < LATHIST_BUCKETS; b++)
		assert_true((lathist_low(b + 1) - lathist_low(b)) * 4 <= lathist_low(b));
	/* 2^25 us (33 s) and anything slower land in the last bucket. */
	assert_int_equal(lathist_low(LATHIST_BUCKETS - 1), 7ull << 22);
	assert_int_equal(lathist_bucket(1ull << 25), LATHIST_BUCKETS - 1);
	assert_int_equal(lathist_bucket(UINT64_MAX), LATHIST_BUCKETS - 1);
}

static void test_percentile_empty(void **state)
{
	uint64_t h[LATHIST_BUCKETS] = { 0 };

	assert_true(lathist_percentile(h, LATHIST_BUCKETS, 50) == 0.0);
	assert_true(lathist_percentile(h, 0, 99) == 0.0);
}

static void test_percentile_one_bucket(void **state)
{
	uint64_t h[LATHIST_BUCKETS] = { 0 };

	/* 100 commands in [64, 80) us: ranks spread linearly over the bucket. */
	h[lathist_bucket(70)] = 100;
	assert_int_equal(lathist_low(lathist_bucket(70)), 64);
	assert_true(lathist_percentile(h, LATHIST_BUCKETS, 50) == 64.0 + 16.0 * 50 / 100);
	assert_true(lathist_percentile(h, LATHIST_BUCKETS, 99) == 64.0 + 16.0 * 99 / 100);
	assert_true(lathist_percentile(h, LATHIST_BUCKETS, 100) == 80.0);
}

static void test_percentile_split(void **state)
{
	uint64_t h[LATHIST_BUCKETS] = { 0 };

	/* 98 fast commands (5 us), 2 slow ones (2000 us): p50 is fast, p99 slow. */
	h[lathist_bucket(5)] = 98;
	h[lathist_bucket(2000)] = 2;
	double p50 = lathist_percentile(h, LATHIST_BUCKETS, 50);
	double p99 = lathist_percentile(h, LATHIST_BUCKETS, 99);
	double p98 = lathist_percentile(h, LATHIST_BUCKETS, 98);

	assert_true(p50 >= 5.0 && p50 < 6.0);
	assert_true(p98 >= 5.0 && p98 <= 6.0); /* the top of [5, 6) */
	assert_true(p99 >= 1792.0 && p99 <= 2048.0); /* the bucket [1792, 2048) */
	/* Against a stream of real values: every percentile within its bucket's width. */
	memset(h, 0, sizeof(h));
	for (uint64_t us = 1; us <= 10000; us++)
		h[lathist_bucket(us)]++;
	for (double p = 1; p <= 100; p += 1) {
		double want = p * 100, got = lathist_percentile(h, LATHIST_BUCKETS, p);

		assert_true(got >= want * 0.8 && got <= want * 1.25);
	}
}

static void test_percentile_last_bucket(void **state)
{
	uint64_t h[LATHIST_BUCKETS] = { 0 };

	/* The open-ended last bucket reports its lower bound, never beyond. */
	h[LATHIST_BUCKETS - 1] = 3;
	assert_true(lathist_percentile(h, LATHIST_BUCKETS, 99) == (double)(7ull << 22));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_contiguous),
		cmocka_unit_test(test_percentile_empty),
		cmocka_unit_test(test_percentile_one_bucket),
		cmocka_unit_test(test_percentile_split),
		cmocka_unit_test(test_percentile_last_bucket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
