/* SPDX-License-Identifier: MIT */
/*
 * The per-reactor pool of request data buffers: the limit on bytes in use
 * across both buffer sizes, waiters granted in order as buffers come back (a
 * large one not passed by small ones), and cold buffers giving their pages
 * back. Includes the .c file to drive the trim directly.
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

#define SMALL TCP_BUF_SMALL
#define LARGE NVMF_MAX_XFER

struct test_waiter {
	struct tcp_buf_waiter w;
	int woken;
	void *buf;
};

static void test_wake(struct tcp_buf_waiter *w)
{
	struct test_waiter *t = (struct test_waiter *)w;

	assert_non_null(w->buf);
	t->buf = w->buf;
	t->woken++;
}

/* Resident pages of [p, p + len). */
static size_t resident_pages(void *p, size_t len)
{
	size_t pages = len / 4096, n = 0;
	unsigned char vec[LARGE / 4096];

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
	size_t n = LARGE / SMALL; /* small buffers in one large one's bytes */

	(void)state;
	assert_true(n >= 2 && n <= 8);
	assert_ptr_equal(tcp_buf_pool_for(r), p);
	tcp_buf_pool_set_limit(LARGE); /* n small buffers, or one large */
	for (unsigned int i = 0; i < n; i++) {
		bufs[i] = tcp_buf_get(p, i ? SMALL : 4096);
		assert_non_null(bufs[i]);
		memset(bufs[i], (int)i, SMALL); /* whole and writable */
		for (unsigned int j = 0; j < i; j++)
			assert_ptr_not_equal(bufs[i], bufs[j]);
	}
	assert_null(tcp_buf_get(p, SMALL));
	tcp_buf_wait(p, &a.w, SMALL);
	tcp_buf_wait(p, &b.w, SMALL);
	tcp_buf_wait(p, &b.w, SMALL); /* idempotent */
	tcp_buf_wait(p, &c.w, SMALL);
	tcp_buf_cancel_wait(p, &b.w);
	tcp_buf_cancel_wait(p, &b.w); /* harmless */

	/* First come, first granted; one grant per buffer; the granted one is the waiter's. */
	tcp_buf_put(p, bufs[n - 1], SMALL);
	assert_int_equal(a.woken, 1);
	assert_int_equal(c.woken, 0);
	assert_ptr_equal(a.buf, bufs[n - 1]);
	assert_null(tcp_buf_get(p, SMALL)); /* c waits: nobody passes it */
	tcp_buf_put(p, bufs[n - 2], SMALL);
	assert_int_equal(c.woken, 1);
	assert_int_equal(b.woken, 0);
	bufs[n - 1] = a.buf;
	bufs[n - 2] = c.buf;
	assert_int_equal(p->in_use, LARGE);

	/* A large request waits for all of its bytes; small ones queue behind it. */
	struct test_waiter big = { .w.wake = test_wake }, small = { .w.wake = test_wake };

	assert_null(tcp_buf_get(p, SMALL + 4096));
	tcp_buf_wait(p, &big.w, SMALL + 4096);
	tcp_buf_wait(p, &small.w, SMALL);
	for (unsigned int i = 0; i + 1 < n; i++) {
		tcp_buf_put(p, bufs[i], SMALL);
		assert_int_equal(big.woken + small.woken, 0);
		assert_null(tcp_buf_get(p, 4096));
	}
	tcp_buf_put(p, bufs[n - 1], SMALL);
	assert_int_equal(big.woken, 1);
	assert_int_equal(small.woken, 0);
	memset(big.buf, 0x5a, LARGE); /* a whole large buffer */
	assert_int_equal(p->in_use, LARGE);

	/* A waiter that gives up no longer holds back the ones behind it. */
	struct test_waiter big2 = { .w.wake = test_wake };

	tcp_buf_cancel_wait(p, &small.w);
	tcp_buf_wait(p, &big2.w, LARGE);
	tcp_buf_wait(p, &small.w, SMALL);
	tcp_buf_pool_set_limit(LARGE + SMALL);
	assert_null(tcp_buf_get(p, SMALL)); /* still behind big2 */
	tcp_buf_cancel_wait(p, &big2.w);
	assert_int_equal(small.woken, 1);
	assert_int_equal(big2.woken, 0);

	/* A raised limit applies at once. */
	tcp_buf_pool_set_limit(2 * LARGE + SMALL);
	void *more = tcp_buf_get(p, LARGE);

	assert_non_null(more);
	assert_null(tcp_buf_get(p, SMALL));
	tcp_buf_put(p, more, LARGE);
	tcp_buf_put(p, small.buf, SMALL);
	tcp_buf_put(p, big.buf, SMALL + 4096);
	assert_int_equal(p->in_use, 0);

	/* A limit below the largest transfer still lets one through. */
	tcp_buf_pool_set_limit(4096);
	more = tcp_buf_get(p, LARGE);
	assert_non_null(more);
	assert_null(tcp_buf_get(p, 4096));
	tcp_buf_put(p, more, LARGE);
	assert_null(tcp_buf_get(p, LARGE + 1));
}

static void test_cold_buffers_are_trimmed(void **state)
{
	struct tcp_buf_pool *p = tcp_buf_pool_for(r);
	struct tcp_buf_class *k = &p->cls[TCP_BUF_CLASS_SMALL];
	size_t keep = tcp_buf_classes[TCP_BUF_CLASS_SMALL].keep;
	void *bufs[32];

	(void)state;
	tcp_buf_pool_set_limit(0);
	for (unsigned int i = 0; i < 32; i++) {
		bufs[i] = tcp_buf_get(p, SMALL);
		assert_non_null(bufs[i]);
		memset(bufs[i], 0xa5, SMALL);
	}
	for (unsigned int i = 0; i < 32; i++)
		tcp_buf_put(p, bufs[i], SMALL);
	assert_int_not_equal(p->trim_timer.heap_index, 0);

	/* A period in which only the top two are used: the rest is cold. */
	tcp_buf_trim(&p->trim_timer);
	for (unsigned int round = 0; round < 3; round++) {
		void *x = tcp_buf_get(p, SMALL), *y = tcp_buf_get(p, SMALL);

		tcp_buf_put(p, y, SMALL);
		tcp_buf_put(p, x, SMALL);
	}
	tcp_buf_trim(&p->trim_timer);
	assert_int_equal(k->trimmed, k->nfree - 2 - keep);
	/* The bottom of the stack has no resident pages; the top is warm. */
	assert_int_equal(resident_pages(k->stack[0], SMALL), 0);
	assert_int_equal(resident_pages(k->stack[k->nfree - 1], SMALL), SMALL / 4096);
	/* Trimmed buffers handed out again read as zeroes and work. */
	for (unsigned int i = 0; i < 32; i++) {
		bufs[i] = tcp_buf_get(p, SMALL);
		assert_non_null(bufs[i]);
	}
	assert_int_equal(((uint8_t *)bufs[31])[0], 0);
	memset(bufs[31], 1, SMALL);
	for (unsigned int i = 0; i < 32; i++)
		tcp_buf_put(p, bufs[i], SMALL);
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
