/* SPDX-License-Identifier: MIT */
/* Host transfer arithmetic: MDTS, in-capsule limits, splitting, CIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "host/host_internal.h"

static void test_mdts_bytes(void **state)
{
	assert_int_equal(host_mdts_bytes(0, 0, HOST_MAX_XFER), HOST_MAX_XFER); /* unlimited */
	assert_int_equal(host_mdts_bytes(5, 0, HOST_MAX_XFER), 128 * 1024); /* SPDK default */
	assert_int_equal(host_mdts_bytes(1, 0, HOST_MAX_XFER), 8192);
	assert_int_equal(host_mdts_bytes(1, 1, HOST_MAX_XFER), 16384); /* MPSMIN 8 KiB pages */
	assert_int_equal(host_mdts_bytes(10, 0, HOST_MAX_XFER), HOST_MAX_XFER); /* 4 MiB: at the cap */
	assert_int_equal(host_mdts_bytes(12, 0, HOST_MAX_XFER), HOST_MAX_XFER); /* capped */
	assert_int_equal(host_mdts_bytes(40, 0, HOST_MAX_XFER), HOST_MAX_XFER);
}

static void test_incapsule(void **state)
{
	assert_int_equal(host_incapsule_bytes(0), 0);
	assert_int_equal(host_incapsule_bytes(4), 0); /* SQE only */
	assert_int_equal(host_incapsule_bytes(5), 16);
	assert_int_equal(host_incapsule_bytes(1028), 16384); /* nvmet with 16 KiB inline */
	assert_int_equal(host_incapsule_bytes(0xffffffffu), UINT32_MAX);
}

static void test_max_blocks(void **state)
{
	assert_int_equal(host_max_blocks(128 * 1024, 9), 256);
	assert_int_equal(host_max_blocks(128 * 1024, 12), 32);
	assert_int_equal(host_max_blocks(HOST_MAX_XFER, 9), 8192);
	/* NLB is 16 bits: never more than 65536 blocks per command. */
	assert_int_equal(host_max_blocks(UINT32_MAX, 9), 65536);
	/* A block larger than max_xfer still moves one block per command. */
	assert_int_equal(host_max_blocks(4096, 16), 1);
}

static void test_split_count(void **state)
{
	assert_int_equal(host_split_count(1, 32), 1);
	assert_int_equal(host_split_count(32, 32), 1);
	assert_int_equal(host_split_count(33, 32), 2);
	assert_int_equal(host_split_count(256, 32), 8); /* 1 MiB in 128 KiB commands */
	assert_int_equal(host_split_count(UINT32_MAX, 1), UINT32_MAX);
	assert_int_equal(host_split_count(UINT32_MAX, 65536), 65536);
}

static void test_cid(void **state)
{
	for (unsigned int slot = 0; slot < HOST_MAX_QUEUE_SIZE; slot += 97) {
		for (unsigned int gen = 0; gen < 40; gen++) {
			uint16_t cid = host_cid_make((uint16_t)slot, (uint8_t)gen);

			assert_int_equal(host_cid_slot(cid), slot);
			assert_int_equal(host_cid_gen(cid), gen & 0xf);
		}
	}
	/* Consecutive generations of a slot give different CIDs. */
	assert_int_not_equal(host_cid_make(5, 1), host_cid_make(5, 2));
	assert_int_equal(host_cid_make(HOST_MAX_QUEUE_SIZE - 1, 15), 0xffff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mdts_bytes), cmocka_unit_test(test_incapsule),
		cmocka_unit_test(test_max_blocks), cmocka_unit_test(test_split_count),
		cmocka_unit_test(test_cid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
