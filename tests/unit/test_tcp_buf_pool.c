/* SPDX-License-Identifier: MIT */
/*
 * The per-reactor pool of request data buffers: the limit on buffers in
 * use, waiters woken in order as buffers come back, and cold buffers giving
 * their pages back. Includes the .c file to drive the trim directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/transport/tcp_buf_pool.c"

static struct reactor *r;

struct test_waiter {
	struct tcp_buf_waiter w;
	int woken;
};

static void test_wake(struct tcp_buf_waiter *w)
{
	((struct test_waiter *)w)->woken++;
}

/* Resident pages of [p, p + len). */
static size_t resident_pages(void *p, size_t len)
{
	size_t pages = len / 4096, n = 0;
	unsigned char vec[NVMF_MAX_XFER / 4096];

	assert_int_equal(mincore(p, len, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}

static void test_limit_and_waiters(void **state)
{
	struct tcp_buf_pool *p = tcp_buf_pool_for(r);
	struct test_waiter a = { .w.wake = test_wake }, b = { .w.wake = test_wake }, c = { .w.wake = test_wake };
	void *bufs[8];

	(void)state;
	assert_ptr_equal(tcp_buf_pool_for(r), p);
	tcp_buf_pool_set_limit(1u << 20); /* eight buffers */
	for (unsigned int i = 0; i < 8; i++) {
		bufs[i] = tcp_buf_get(p);
		assert_non_null(bufs[i]);
		memset(bufs[i], (int)i, NVMF_MAX_XFER); /* whole and writable */
		for (unsigned int j = 0; j < i; j++)
			assert_ptr_not_equal(bufs[i], bufs[j]);
	}
	assert_null(tcp_buf_get(p));
	tcp_buf_wait(p, &a.w);
	tcp_buf_wait(p, &b.w);
	tcp_buf_wait(p, &b.w); /* idempotent */
	tcp_buf_wait(p, &c.w);
	tcp_buf_cancel_wait(p, &b.w);
	tcp_buf_cancel_wait(p, &b.w); /* harmless */

	/* First come, first woken; one wake per buffer. */
	tcp_buf_put(p, bufs[7]);
	assert_int_equal(a.woken, 1);
	assert_int_equal(c.woken, 0);
	bufs[7] = tcp_buf_get(p);
	assert_non_null(bufs[7]);
	tcp_buf_put(p, bufs[6]);
	assert_int_equal(c.woken, 1);
	assert_int_equal(b.woken, 0);
	tcp_buf_put(p, bufs[7]);
	assert_int_equal(a.woken + b.woken + c.woken, 2);

	/* A raised limit applies at once. */
	tcp_buf_pool_set_limit(2u << 20);
	bufs[6] = tcp_buf_get(p);
	bufs[7] = tcp_buf_get(p);
	void *more = tcp_buf_get(p);

	assert_non_null(more);
	tcp_buf_put(p, more);
	for (unsigned int i = 0; i < 8; i++)
		tcp_buf_put(p, bufs[i]);
	assert_int_equal(p->in_use, 0);
}

static void test_cold_buffers_are_trimmed(void **state)
{
	struct tcp_buf_pool *p = tcp_buf_pool_for(r);
	void *bufs[32];

	(void)state;
	tcp_buf_pool_set_limit(0);
	for (unsigned int i = 0; i < 32; i++) {
		bufs[i] = tcp_buf_get(p);
		assert_non_null(bufs[i]);
		memset(bufs[i], 0xa5, NVMF_MAX_XFER);
	}
	for (unsigned int i = 0; i < 32; i++)
		tcp_buf_put(p, bufs[i]);
	assert_int_not_equal(p->trim_timer.heap_index, 0);

	/* A period in which only the top two are used: the rest is cold. */
	tcp_buf_trim(&p->trim_timer);
	for (unsigned int round = 0; round < 3; round++) {
		void *x = tcp_buf_get(p), *y = tcp_buf_get(p);

		tcp_buf_put(p, y);
		tcp_buf_put(p, x);
	}
	tcp_buf_trim(&p->trim_timer);
	assert_int_equal(p->trimmed, p->nfree - 2 - TCP_BUF_KEEP);
	/* The bottom of the stack has no resident pages; the top is warm. */
	assert_int_equal(resident_pages(p->stack[0], NVMF_MAX_XFER), 0);
	assert_int_equal(resident_pages(p->stack[p->nfree - 1], NVMF_MAX_XFER), NVMF_MAX_XFER / 4096);
	/* Trimmed buffers handed out again read as zeroes and work. */
	for (unsigned int i = 0; i < 32; i++) {
		bufs[i] = tcp_buf_get(p);
		assert_non_null(bufs[i]);
	}
	assert_int_equal(((uint8_t *)bufs[31])[0], 0);
	memset(bufs[31], 1, NVMF_MAX_XFER);
	for (unsigned int i = 0; i < 32; i++)
		tcp_buf_put(p, bufs[i]);
	reactor_timer_cancel(r, &p->trim_timer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_and_waiters),
		cmocka_unit_test(test_cold_buffers_are_trimmed),
	};
	struct reactor_opts ro = { .ring_entries = 8 };
	int ret;

	assert_int_equal(reactor_create(&ro, &r), 0);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	reactor_destroy(r);
	return ret;
}
