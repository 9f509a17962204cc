/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP messages (src/proto/nvme_auth.c): round trips, and decoders
 * refusing short, oversized and inconsistent messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/nvme_auth.h"

static void test_negotiate(void **state)
{
	struct nvme_auth_negotiate m = { .t_id = 7, .nr_hashes = 3, .hashes = { 1, 2, 3 }, .nr_dhgroups = 6,
					 .dhgroups = { 0, 1, 2, 3, 4, 5 } }, d;
	uint8_t buf[128];
	int n;

	(void)state;
	n = nvme_auth_negotiate_encode(buf, sizeof(buf), &m);
	assert_int_equal(n, 72);
	/* The layout Linux sends: idlist[0..2] hashes, idlist[30..35] groups. */
	assert_int_equal(buf[7], 1);
	assert_int_equal(buf[8], 1);
	assert_int_equal(buf[10], 3);
	assert_int_equal(buf[11], 6);
	assert_int_equal(buf[12 + 30 + 5], 5);
	assert_int_equal(nvme_auth_negotiate_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.t_id, 7);
	assert_int_equal(d.nr_hashes, 3);
	assert_memory_equal(d.dhgroups, m.dhgroups, 6);
	assert_int_equal(nvme_auth_negotiate_decode(buf, (size_t)n - 1, &d), -EBADMSG);
	assert_int_equal(nvme_auth_negotiate_decode(buf, (size_t)n + 1, &d), -EBADMSG);
	buf[10] = 31; /* HALEN beyond the list */
	assert_int_equal(nvme_auth_negotiate_decode(buf, (size_t)n, &d), -EBADMSG);
	buf[10] = 3;
	buf[7] = 2; /* two descriptors announced, one sent */
	assert_int_equal(nvme_auth_negotiate_decode(buf, (size_t)n, &d), -EBADMSG);
	buf[7] = 1;
	buf[8] = 2; /* not DH-HMAC-CHAP */
	assert_int_equal(nvme_auth_negotiate_decode(buf, (size_t)n, &d), -EBADMSG);
	assert_int_equal(nvme_auth_negotiate_encode(buf, 71, &m), -ENOSPC);
}

static void test_challenge(void **state)
{
	uint8_t c1[32], dhv[256], buf[400];
	struct nvme_auth_challenge m = { .t_id = 3, .hashid = 1, .dhgid = 1, .hl = 32, .seqnum = 0x11223344,
					 .c1 = c1, .dhv = dhv, .dhvlen = 256 }, d;
	int n;

	(void)state;
	memset(c1, 0xc1, sizeof(c1));
	memset(dhv, 0xd4, sizeof(dhv));
	n = nvme_auth_challenge_encode(buf, sizeof(buf), &m);
	assert_int_equal(n, 16 + 32 + 256);
	assert_int_equal(nvme_auth_challenge_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.seqnum, 0x11223344);
	assert_memory_equal(d.c1, c1, 32);
	assert_memory_equal(d.dhv, dhv, 256);
	/* Receive buffers are larger than the message: trailing bytes are allowed. */
	assert_int_equal(nvme_auth_challenge_decode(buf, sizeof(buf), &d), 0);
	assert_int_equal(nvme_auth_challenge_decode(buf, (size_t)n - 1, &d), -EBADMSG);
	assert_int_equal(nvme_auth_challenge_decode(buf, 15, &d), -EBADMSG);
	buf[6] = 33; /* HL not a hash length */
	assert_int_equal(nvme_auth_challenge_decode(buf, sizeof(buf), &d), -EBADMSG);
	buf[6] = 32;
	buf[10] = 0xff; /* DHVLEN beyond the buffer */
	buf[11] = 0xff;
	assert_int_equal(nvme_auth_challenge_decode(buf, sizeof(buf), &d), -EBADMSG);
	buf[1] = 2;
	assert_int_equal(nvme_auth_challenge_decode(buf, sizeof(buf), &d), -EBADMSG);
}

static void test_reply_success_failure(void **state)
{
	uint8_t r1[48], c2[48], buf[200];
	struct nvme_auth_reply m = { .t_id = 9, .hl = 48, .cvalid = 1, .seqnum = 5, .r1 = r1, .c2 = c2 }, d;
	struct nvme_auth_success1 s = { .t_id = 9, .hl = 48, .rvalid = 1, .r2 = r1 }, sd;
	uint8_t id, rc, exp;
	uint16_t tid;
	int n;

	(void)state;
	memset(r1, 1, sizeof(r1));
	memset(c2, 2, sizeof(c2));
	n = nvme_auth_reply_encode(buf, sizeof(buf), &m);
	assert_int_equal(n, 16 + 96);
	assert_int_equal(nvme_auth_reply_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.cvalid, 1);
	assert_memory_equal(d.c2, c2, 48);
	assert_null(d.dhv);
	assert_int_equal(nvme_auth_reply_decode(buf, (size_t)n - 1, &d), -EBADMSG);
	buf[10] = 1; /* a DH value that was not sent */
	assert_int_equal(nvme_auth_reply_decode(buf, (size_t)n, &d), -EBADMSG);

	n = nvme_auth_success1_encode(buf, sizeof(buf), &s);
	assert_int_equal(n, 64);
	assert_int_equal(nvme_auth_success1_decode(buf, (size_t)n, &sd), 0);
	assert_memory_equal(sd.r2, r1, 48);
	assert_int_equal(nvme_auth_success1_decode(buf, 40, &sd), -EBADMSG);

	n = nvme_auth_success2_encode(buf, sizeof(buf), 9);
	assert_int_equal(n, 16);
	assert_int_equal(nvme_auth_success2_decode(buf, 16, &tid), 0);
	assert_int_equal(tid, 9);
	assert_int_equal(nvme_auth_success2_decode(buf, 15, &tid), -EBADMSG);

	n = nvme_auth_failure_encode(buf, sizeof(buf), NVME_AUTH_FAILURE1, 4, NVME_AUTH_FAIL_FAILED);
	assert_int_equal(n, 8);
	assert_int_equal(nvme_auth_failure_decode(buf, 8, &id, &tid, &rc, &exp), 0);
	assert_int_equal(id, NVME_AUTH_FAILURE1);
	assert_int_equal(rc, NVME_AUTH_RC_FAILED);
	assert_int_equal(exp, NVME_AUTH_FAIL_FAILED);
	assert_int_equal(nvme_auth_failure_decode(buf, 7, &id, &tid, &rc, &exp), -EBADMSG);
	assert_int_equal(nvme_auth_failure_encode(buf, sizeof(buf), NVME_AUTH_SUCCESS2, 4, 1), -EINVAL);
	assert_int_equal(nvme_auth_peek(buf, 7, &id, &rc, &tid), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_reply_success_failure),
	};

	return cmocka_run_group_tests_name("proto_auth", tests, NULL, NULL);
}
