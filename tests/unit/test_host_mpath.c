/* SPDX-License-Identifier: MIT */
/* Host multipath decisions: path class, path selection, retry, ANA log parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host/host_internal.h"

enum { O = MP_CLASS_OPTIMIZED, N = MP_CLASS_NON_OPTIMIZED, D = MP_CLASS_DOWN, X = MP_CLASS_DEAD };

static void test_path_class(void **state)
{
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_LIVE, false, NVMEOF_ANA_OPTIMIZED), O);
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_LIVE, false, NVMEOF_ANA_NON_OPTIMIZED), N);
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_LIVE, false, NVMEOF_ANA_INACCESSIBLE), D);
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_LIVE, false, NVMEOF_ANA_PERSISTENT_LOSS), D);
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_LIVE, false, NVMEOF_ANA_CHANGE), D);
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_LIVE, false, 0), D); /* not read yet */
	/* A queue saw its connection fail: down before the controller thread reacts. */
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_LIVE, true, NVMEOF_ANA_OPTIMIZED), D);
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_RECONNECTING, false, NVMEOF_ANA_OPTIMIZED), D);
	assert_int_equal(mpath_path_class(NVMEOF_CTRL_DEAD, false, NVMEOF_ANA_OPTIMIZED), X);
}

static void test_select_optimized_first(void **state)
{
	uint8_t cls[3] = { N, O, N };
	unsigned int depth[3] = { 0, 50, 0 };
	unsigned int rr = 0;

	/* Optimized wins over idle non-optimized paths, whatever the policy. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), 1);
	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_QUEUE_DEPTH, &rr), 1);
	/* Without it, non-optimized paths take the I/O, alternating. */
	cls[1] = D;
	rr = 0;
	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), 2);
	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), 0);
	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), 2);
}

static void test_select_round_robin(void **state)
{
	uint8_t cls[4] = { O, D, O, O };
	unsigned int depth[4] = { 0 };
	unsigned int rr = 3;
	int seq[6];

	for (int i = 0; i < 6; i++)
		seq[i] = mpath_select(cls, depth, 4, 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr);
	int want[6] = { 0, 2, 3, 0, 2, 3 };

	assert_memory_equal(seq, want, sizeof(want));
}

static void test_select_queue_depth(void **state)
{
	uint8_t cls[3] = { O, O, O };
	unsigned int depth[3] = { 7, 3, 5 };
	unsigned int rr = 0;

	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_QUEUE_DEPTH, &rr), 1);
	depth[1] = 9;
	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_QUEUE_DEPTH, &rr), 2);
	/* Ties go round-robin: the first after the last pick. */
	depth[0] = depth[1] = depth[2] = 4;
	rr = 0;
	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_QUEUE_DEPTH, &rr), 1);
	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_QUEUE_DEPTH, &rr), 2);
	/* A non-optimized idle path loses to a busy optimized one. */
	cls[0] = N;
	depth[0] = 0;
	depth[1] = 100;
	depth[2] = 200;
	assert_int_equal(mpath_select(cls, depth, 3, 0, NVMEOF_IOPOLICY_QUEUE_DEPTH, &rr), 1);
}

static void test_select_skip_and_none(void **state)
{
	uint8_t cls[2] = { O, N };
	unsigned int depth[2] = { 0 };
	unsigned int rr = 1;

	/* The path a command just failed on is skipped even if it still looks good. */
	assert_int_equal(mpath_select(cls, depth, 2, 1u << 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), 1);
	assert_int_equal(mpath_select(cls, depth, 2, 3u, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), -EBUSY);
	cls[0] = D;
	cls[1] = X;
	rr = 0;
	assert_int_equal(mpath_select(cls, depth, 2, 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), -EBUSY);
	assert_int_equal(rr, 0); /* unchanged when nothing was picked */
	cls[0] = X;
	assert_int_equal(mpath_select(cls, depth, 2, 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), -ENODEV);
	/* Dead paths count as dead even when skipped. */
	assert_int_equal(mpath_select(cls, depth, 2, 3u, NVMEOF_IOPOLICY_QUEUE_DEPTH, &rr), -ENODEV);
	uint8_t one = O;

	assert_int_equal(mpath_select(&one, depth, 1, 0, NVMEOF_IOPOLICY_ROUND_ROBIN, &rr), 0);
}

static void test_retry_action(void **state)
{
	uint16_t path = (uint16_t)(NVME_SCT_PATH << 8);

	assert_int_equal(mpath_retry_action(0, 0), MP_COMPLETE);
	/* ANA statuses: inaccessible, persistent loss, transition. */
	assert_int_equal(mpath_retry_action(0, path | 0x02), MP_RETRY_ANA);
	assert_int_equal(mpath_retry_action(0, path | 0x01), MP_RETRY_ANA);
	assert_int_equal(mpath_retry_action(0, path | 0x03), MP_RETRY_ANA);
	/* Other path statuses: internal path error, controller / host pathing errors. */
	assert_int_equal(mpath_retry_action(0, path | 0x00), MP_RETRY_PATH);
	assert_int_equal(mpath_retry_action(0, path | 0x60), MP_RETRY_PATH);
	assert_int_equal(mpath_retry_action(0, path | 0x70), MP_RETRY_PATH);
	/* DNR: the controller says a retry will not help. */
	assert_int_equal(mpath_retry_action(0, path | 0x02 | NVMEOF_STATUS_DNR), MP_COMPLETE);
	/* Errors of the command itself are the same on every path. */
	assert_int_equal(mpath_retry_action(0, 0x0080), MP_COMPLETE); /* LBA out of range */
	assert_int_equal(mpath_retry_action(0, 0x0281), MP_COMPLETE); /* unrecovered read error */
	assert_int_equal(mpath_retry_action(0, 0x0004), MP_COMPLETE); /* data transfer error */
	/* Transport failures of the path. */
	assert_int_equal(mpath_retry_action(-EIO, 0), MP_RETRY_PATH);
	assert_int_equal(mpath_retry_action(-ENODEV, 0), MP_RETRY_PATH);
	assert_int_equal(mpath_retry_action(-ETIMEDOUT, 0), MP_RETRY_PATH);
	assert_int_equal(mpath_retry_action(-ECONNRESET, 0), MP_RETRY_PATH);
	/* The caller disconnecting, or a bad request: completed as is. */
	assert_int_equal(mpath_retry_action(-ECANCELED, 0), MP_COMPLETE);
	assert_int_equal(mpath_retry_action(-EINVAL, 0), MP_COMPLETE);
}

static void test_status_ana_state(void **state)
{
	uint16_t path = (uint16_t)(NVME_SCT_PATH << 8);

	assert_int_equal(mpath_status_ana_state(path | 0x01), NVMEOF_ANA_PERSISTENT_LOSS);
	assert_int_equal(mpath_status_ana_state(path | 0x02), NVMEOF_ANA_INACCESSIBLE);
	assert_int_equal(mpath_status_ana_state(path | 0x03), NVMEOF_ANA_CHANGE);
	assert_int_equal(mpath_status_ana_state(path | 0x60), 0);
	assert_int_equal(mpath_status_ana_state(0x0002), 0);
}

/* An ANA log: groups (id, state, nsid count) with their NSID lists. */
static size_t build_log(uint8_t *buf, size_t cap, const uint32_t (*g)[3], unsigned int n)
{
	size_t off = 16;

	memset(buf, 0, cap);
	buf[8] = (uint8_t)n;
	for (unsigned int i = 0; i < n; i++) {
		memcpy(buf + off, &g[i][0], 4);
		memcpy(buf + off + 4, &g[i][2], 4);
		buf[off + 16] = (uint8_t)g[i][1];
		off += 32;
		for (uint32_t k = 0; k < g[i][2]; k++, off += 4)
			memcpy(buf + off, &(uint32_t){ k + 1 }, 4);
	}
	return off;
}

static void test_ana_log(void **state)
{
	uint8_t log[512];
	uint8_t st = 0;
	const uint32_t groups[3][3] = { { 1, NVMEOF_ANA_INACCESSIBLE, 2 }, { 7, NVMEOF_ANA_OPTIMIZED, 0 },
					{ 9, NVMEOF_ANA_NON_OPTIMIZED, 3 } };
	size_t len = build_log(log, sizeof(log), groups, 3);

	assert_int_equal(mpath_ana_log_state(log, len, 1, &st), 0);
	assert_int_equal(st, NVMEOF_ANA_INACCESSIBLE);
	assert_int_equal(mpath_ana_log_state(log, len, 7, &st), 0);
	assert_int_equal(st, NVMEOF_ANA_OPTIMIZED);
	assert_int_equal(mpath_ana_log_state(log, len, 9, &st), 0);
	assert_int_equal(st, NVMEOF_ANA_NON_OPTIMIZED);
	assert_int_equal(mpath_ana_log_state(log, len, 4, &st), -ENOENT);
	/* Reserved bits above the state are ignored. */
	log[16 + 16] |= 0xf0;
	assert_int_equal(mpath_ana_log_state(log, len, 1, &st), 0);
	assert_int_equal(st, NVMEOF_ANA_INACCESSIBLE);
	/* Truncated: a descriptor or an NSID list past the end. */
	assert_int_equal(mpath_ana_log_state(log, 8, 1, &st), -EPROTO);
	assert_int_equal(mpath_ana_log_state(log, 16 + 32 + 4, 9, &st), -EPROTO);
	assert_int_equal(mpath_ana_log_state(log, 16 + 20, 1, &st), -EPROTO);
	/* A huge NSID count must not wrap the offset. */
	uint32_t big = 0xffffffffu;

	memcpy(log + 16 + 4, &big, 4);
	assert_int_equal(mpath_ana_log_state(log, len, 9, &st), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_class),
		cmocka_unit_test(test_select_optimized_first),
		cmocka_unit_test(test_select_round_robin),
		cmocka_unit_test(test_select_queue_depth),
		cmocka_unit_test(test_select_skip_and_none),
		cmocka_unit_test(test_retry_action),
		cmocka_unit_test(test_status_ana_state),
		cmocka_unit_test(test_ana_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
