/* SPDX-License-Identifier: MIT */
/* perf --verify pattern: encode LBA + generation, catch and locate corruption. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cli/nvmeof/pattern.c"

static void test_roundtrip(void **state)
{
	uint8_t *buf = malloc(8 * 4096);
	struct pattern_err e;

	for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
		pattern_fill(buf, bs, 1000, 8, 7);
		assert_int_equal(pattern_check(buf, bs, 1000, 8, 7, &e), 0);
	}
	free(buf);
}

static void test_detects_and_locates(void **state)
{
	uint8_t *buf = malloc(16 * 512);
	struct pattern_err e;

	pattern_fill(buf, 512, 200, 16, 3);
	/* Stale generation. */
	assert_int_equal(pattern_check(buf, 512, 200, 16, 4, &e), -EILSEQ);
	assert_int_equal(e.lba, 200);
	assert_int_equal(e.found_gen, 3);
	/* Wrong place: data written for LBA 200 read back as LBA 201. */
	assert_int_equal(pattern_check(buf, 512, 201, 16, 3, &e), -EILSEQ);
	assert_int_equal(e.lba, 201);
	assert_int_equal(e.found_lba, 200);
	/* One flipped bit deep inside block 9. */
	buf[9 * 512 + 300] ^= 0x10;
	assert_int_equal(pattern_check(buf, 512, 200, 16, 3, &e), -EILSEQ);
	assert_int_equal(e.lba, 209);
	assert_int_equal(e.word, 300 / 8);
	/* Zeroed block (never written). */
	pattern_fill(buf, 512, 200, 16, 3);
	memset(buf + 512, 0, 512);
	assert_int_equal(pattern_check(buf, 512, 200, 16, 3, &e), -EILSEQ);
	assert_int_equal(e.lba, 201);
	assert_int_equal(e.word, 0);
	free(buf);
}

static void test_blocks_differ(void **state)
{
	uint64_t a[64], b[64];

	pattern_fill(a, 512, 5, 1, 1);
	pattern_fill(b, 512, 5, 1, 2);
	assert_memory_not_equal(a + 4, b + 4, 60 * 8);
	pattern_fill(b, 512, 6, 1, 1);
	assert_memory_not_equal(a + 4, b + 4, 60 * 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_detects_and_locates),
		cmocka_unit_test(test_blocks_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
