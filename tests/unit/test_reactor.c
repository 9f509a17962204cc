/* SPDX-License-Identifier: MIT */
/*
 * The io_uring event loop: timer ordering, re-arming and cancelling,
 * cross-thread posts and stop, deferred-work coalescing, completion dispatch
 * (nop, pipe read, a bad fd, more SQEs than the ring holds) and the
 * spin/sleep statistics. Every test is bounded: a watchdog alarm kills the
 * program if a loop never returns, and loops are stopped by timers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "reactor/reactor.h"

#define MS 1000000ull
#define WATCHDOG_S 20 /* per test; the whole program takes well under that */

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static struct reactor *new_reactor(unsigned int entries, unsigned int spin_us)
{
	struct reactor_opts o = { .ring_entries = entries, .spin_us = spin_us };
	struct reactor *r = NULL;

	assert_int_equal(reactor_create(&o, &r), 0);
	assert_non_null(r);
	return r;
}

static int setup_watchdog(void **state)
{
	(void)state;
	alarm(WATCHDOG_S);
	return 0;
}

static int teardown_watchdog(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

/* A timer that stops the reactor running it: the bound on each loop. */
struct stopper {
	struct reactor_timer t;
	struct reactor *r;
	bool fired;
};

static void stopper_fired(struct reactor_timer *t)
{
	struct stopper *s = container_of(t, struct stopper, t);

	s->fired = true;
	reactor_stop(s->r);
}

static void arm_stopper(struct stopper *s, struct reactor *r, uint64_t delay_ns)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->t.fn = stopper_fired;
	reactor_timer_arm(r, &s->t, delay_ns);
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */

#define MAX_FIRED 512

struct timer_log {
	unsigned int n;
	int order[MAX_FIRED];
	uint64_t fired_at[MAX_FIRED];
	uint64_t deadline[MAX_FIRED];
};

struct tagged_timer {
	struct reactor_timer t;
	int tag;
	struct timer_log *log;
};

static void tagged_fired(struct reactor_timer *t)
{
	struct tagged_timer *tt = container_of(t, struct tagged_timer, t);
	struct timer_log *log = tt->log;

	assert_true(log->n < MAX_FIRED);
	/* A fired timer is disarmed before its callback runs. */
	assert_int_equal(t->heap_index, 0);
	log->order[log->n] = tt->tag;
	log->deadline[log->n] = t->deadline_ns;
	log->fired_at[log->n] = reactor_now_ns();
	log->n++;
}

static void tagged_init(struct tagged_timer *tt, int tag, struct timer_log *log)
{
	memset(tt, 0, sizeof(*tt));
	tt->t.fn = tagged_fired;
	tt->tag = tag;
	tt->log = log;
}

static void test_timers_fire_in_deadline_order(void **state)
{
	struct reactor *r = new_reactor(64, 0);
	struct timer_log log = { 0 };
	struct tagged_timer tt[6];
	struct stopper stop;
	uint64_t start;

	(void)state;
	for (int i = 0; i < 6; i++)
		tagged_init(&tt[i], i, &log);
	start = reactor_now_ns();
	reactor_timer_arm(r, &tt[0].t, 30 * MS);
	reactor_timer_arm(r, &tt[1].t, 10 * MS);
	reactor_timer_arm(r, &tt[2].t, 20 * MS);
	reactor_timer_arm(r, &tt[3].t, 5 * MS);
	/* Re-arming moves: 3 from first to after 0; 4 from last to first. */
	reactor_timer_arm(r, &tt[3].t, 40 * MS);
	reactor_timer_arm(r, &tt[4].t, 500 * MS);
	reactor_timer_arm(r, &tt[4].t, 1 * MS);
	/* Cancelled: never fires; cancelling twice is harmless. */
	reactor_timer_arm(r, &tt[5].t, 15 * MS);
	reactor_timer_cancel(r, &tt[5].t);
	assert_int_equal(tt[5].t.heap_index, 0);
	reactor_timer_cancel(r, &tt[5].t);
	arm_stopper(&stop, r, 80 * MS);

	assert_int_equal(reactor_run(r), 0);
	assert_true(stop.fired);

	static const int want[] = { 4, 1, 2, 0, 3 };
	assert_int_equal(log.n, 5);
	for (unsigned int i = 0; i < log.n; i++) {
		assert_int_equal(log.order[i], want[i]);
		/* Never early. */
		assert_true(log.fired_at[i] >= log.deadline[i]);
	}
	/* The re-armed timer 3 obeyed its new deadline, not the 5 ms one. */
	assert_true(log.deadline[4] >= start + 40 * MS);
	assert_true(log.fired_at[4] >= start + 40 * MS);
	reactor_destroy(r);
}

/* Many timers with pseudo-random deadlines, a third cancelled and some
 * re-armed: the heap must hand them out in non-decreasing deadline order. */
static void test_timers_heap_many(void **state)
{
	enum { N = 300 };
	struct reactor *r = new_reactor(64, 0);
	struct timer_log *log = calloc(1, sizeof(*log));
	struct tagged_timer *tt = calloc(N, sizeof(*tt));
	bool cancelled[N] = { false };
	unsigned int expected = 0, seed = 12345;
	struct stopper stop;

	(void)state;
	assert_non_null(log);
	assert_non_null(tt);
	for (int i = 0; i < N; i++) {
		tagged_init(&tt[i], i, log);
		seed = seed * 1103515245u + 12345u;
		reactor_timer_arm(r, &tt[i].t, (uint64_t)((seed >> 8) % 40000) * 1000);
	}
	for (int i = 0; i < N; i += 3) {
		reactor_timer_cancel(r, &tt[i].t);
		cancelled[i] = true;
	}
	/* Re-arming moves armed timers and revives cancelled ones. */
	for (int i = 1; i < N; i += 7) {
		seed = seed * 1103515245u + 12345u;
		reactor_timer_arm(r, &tt[i].t, (uint64_t)((seed >> 8) % 40000) * 1000);
		cancelled[i] = false;
	}
	for (int i = 0; i < N; i++)
		expected += !cancelled[i];
	arm_stopper(&stop, r, 60 * MS);

	assert_int_equal(reactor_run(r), 0);
	assert_int_equal(log->n, expected);
	for (unsigned int i = 0; i < log->n; i++) {
		assert_false(cancelled[log->order[i]]);
		if (i)
			assert_true(log->deadline[i] >= log->deadline[i - 1]);
	}
	free(tt);
	free(log);
	reactor_destroy(r);
}

/* A timer callback may arm another timer (and itself). */
struct chain_timer {
	struct reactor_timer t;
	struct reactor *r;
	unsigned int count;
};

static void chain_fired(struct reactor_timer *t)
{
	struct chain_timer *c = container_of(t, struct chain_timer, t);

	if (++c->count < 5)
		reactor_timer_arm(c->r, t, 1 * MS);
	else
		reactor_stop(c->r);
}

static void test_timer_rearm_from_callback(void **state)
{
	struct reactor *r = new_reactor(64, 0);
	struct chain_timer c = { .t.fn = chain_fired, .r = r };
	uint64_t start = reactor_now_ns();

	(void)state;
	reactor_timer_arm(r, &c.t, 1 * MS);
	assert_int_equal(reactor_run(r), 0);
	assert_int_equal(c.count, 5);
	assert_true(reactor_now_ns() - start >= 5 * MS);
	reactor_destroy(r);
}

/* ------------------------------------------------------------------ */
/* Cross-thread: post and stop                                         */

struct loop_thread {
	pthread_t th;
	struct reactor *r;
	int ret;
	atomic_bool returned;
};

/*
 * valgrind runs one thread at a time and does not know io_uring_enter can
 * block: a loop asleep in the kernel would freeze the other threads, so
 * under valgrind the loop threads poll instead (a timer that is always
 * due) and nap in usleep(), which lets the other threads in.
 */
static void valgrind_tick(struct reactor_timer *t)
{
	/* A sleeping syscall is where valgrind lets the other threads run. */
	usleep(200);
	reactor_timer_arm(reactor_current(), t, 0);
}

static void *loop_main(void *arg)
{
	struct loop_thread *lt = arg;
	struct reactor_timer tick = { .fn = valgrind_tick };

	if (RUNNING_ON_VALGRIND)
		reactor_timer_arm(lt->r, &tick, 0);
	lt->ret = reactor_run(lt->r);
	/* Do not leave a stack timer in the heap of a reactor still in use. */
	reactor_timer_cancel(lt->r, &tick);
	atomic_store(&lt->returned, true);
	return NULL;
}

static void loop_start(struct loop_thread *lt, struct reactor *r)
{
	memset(lt, 0, sizeof(*lt));
	lt->r = r;
	lt->ret = -1;
	assert_int_equal(pthread_create(&lt->th, NULL, loop_main, lt), 0);
}

/* Join within ms milliseconds or fail (the watchdog catches the rest). */
static void loop_join(struct loop_thread *lt, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	assert_int_equal(pthread_timedjoin_np(lt->th, NULL, &ts), 0);
	assert_int_equal(lt->ret, 0);
}

struct post_ctx {
	struct reactor *r;
	pthread_t reactor_thread;
	atomic_uint ran;
	atomic_uint wrong_thread;
	atomic_uint order_errors;
	unsigned int last_seq[4]; /* per poster, touched on the reactor thread only */
};

struct post_item {
	struct post_ctx *ctx;
	unsigned int poster;
	unsigned int seq;
};

static void post_fn(void *arg)
{
	struct post_item *it = arg;
	struct post_ctx *ctx = it->ctx;

	if (!pthread_equal(pthread_self(), ctx->reactor_thread) || reactor_current() != ctx->r)
		atomic_fetch_add(&ctx->wrong_thread, 1);
	/* Posts from one thread run in the order they were made. */
	if (it->seq != ctx->last_seq[it->poster] + 1)
		atomic_fetch_add(&ctx->order_errors, 1);
	ctx->last_seq[it->poster] = it->seq;
	atomic_fetch_add(&ctx->ran, 1);
}

#define POSTS_PER_THREAD 2000
#define POSTERS 3

struct poster {
	pthread_t th;
	struct post_ctx *ctx;
	unsigned int id;
	struct post_item items[POSTS_PER_THREAD];
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;

	for (unsigned int i = 0; i < POSTS_PER_THREAD; i++) {
		p->items[i] = (struct post_item){ .ctx = p->ctx, .poster = p->id, .seq = i + 1 };
		if (reactor_post(p->ctx->r, post_fn, &p->items[i]) != 0)
			abort();
		if (i % 256 == 0)
			sched_yield();
	}
	return NULL;
}

static void test_post_runs_on_reactor_thread(void **state)
{
	struct reactor *r = new_reactor(64, 50);
	struct post_ctx ctx = { .r = r };
	struct poster *posters = calloc(POSTERS, sizeof(*posters));
	struct loop_thread lt;
	uint64_t deadline;

	(void)state;
	assert_non_null(posters);
	assert_null(reactor_current());
	loop_start(&lt, r);
	ctx.reactor_thread = lt.th;
	/* Let the loop go to sleep first so the posts must wake it. */
	usleep(20000);
	for (unsigned int i = 0; i < POSTERS; i++) {
		posters[i].ctx = &ctx;
		posters[i].id = i;
		assert_int_equal(pthread_create(&posters[i].th, NULL, poster_main, &posters[i]), 0);
	}
	for (unsigned int i = 0; i < POSTERS; i++)
		pthread_join(posters[i].th, NULL);
	deadline = reactor_now_ns() + 5000 * MS;
	while (atomic_load(&ctx.ran) < POSTERS * POSTS_PER_THREAD && reactor_now_ns() < deadline)
		usleep(1000);
	assert_int_equal(atomic_load(&ctx.ran), POSTERS * POSTS_PER_THREAD);
	assert_int_equal(atomic_load(&ctx.wrong_thread), 0);
	assert_int_equal(atomic_load(&ctx.order_errors), 0);
	assert_false(atomic_load(&lt.returned));
	reactor_stop(r);
	loop_join(&lt, 2000);
	/* The caller's thread never became the reactor's. */
	assert_null(reactor_current());
	free(posters);
	reactor_destroy(r);
}

/* A sleeping loop with nothing armed returns promptly after a remote stop. */
static void test_stop_from_other_thread(void **state)
{
	struct reactor *r = new_reactor(64, 0);
	struct reactor_stats st;
	struct loop_thread lt;
	uint64_t t0;

	(void)state;
	loop_start(&lt, r);
	usleep(100000);
	assert_false(atomic_load(&lt.returned));
	t0 = reactor_now_ns();
	reactor_stop(r);
	loop_join(&lt, 1000);
	assert_true(reactor_now_ns() - t0 < 500 * MS);
	reactor_get_stats(r, &st);
	/* It was blocked in the kernel, not spinning, while idle. */
	assert_true(st.sleeps >= 1);
	assert_int_equal(st.busy_polls, 0);
	assert_true(st.idle_ns >= 50 * MS);
	reactor_destroy(r);
}

/* A stop requested before the loop even started makes it return at once. */
static void test_stop_before_run(void **state)
{
	struct reactor *r = new_reactor(64, 50);
	uint64_t t0 = reactor_now_ns();

	(void)state;
	reactor_stop(r);
	assert_int_equal(reactor_run(r), 0);
	assert_true(reactor_now_ns() - t0 < 500 * MS);
	reactor_destroy(r);
}

static void count_post(void *arg)
{
	atomic_fetch_add((atomic_uint *)arg, 1);
}

/* Posts to a reactor that never runs are freed by destroy (ASan/valgrind). */
static void test_destroy_frees_pending_posts(void **state)
{
	struct reactor *r = new_reactor(64, 0);
	atomic_uint ran = 0;

	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(reactor_post(r, count_post, &ran), 0);
	reactor_destroy(r);
	assert_int_equal(atomic_load(&ran), 0);
}

/* Posts queued while the loop stops still run before reactor_run returns. */
struct stop_then_post {
	struct reactor *r;
	atomic_uint ran;
};

static void stop_and_post(void *arg)
{
	struct stop_then_post *s = arg;

	reactor_stop(s->r);
	/* Not on the test's thread: no cmocka assertion here. */
	for (int i = 0; i < 3; i++)
		if (reactor_post(s->r, count_post, &s->ran) != 0)
			abort();
}

static void test_posts_drained_at_stop(void **state)
{
	struct reactor *r = new_reactor(64, 0);
	struct stop_then_post s = { .r = r };
	struct loop_thread lt;

	(void)state;
	loop_start(&lt, r);
	assert_int_equal(reactor_post(r, stop_and_post, &s), 0);
	loop_join(&lt, 2000);
	assert_int_equal(atomic_load(&s.ran), 3);
	reactor_destroy(r);
}

/* ------------------------------------------------------------------ */
/* Deferred work                                                       */

struct defer_ctx {
	struct reactor *r;
	struct reactor_deferred d;
	struct reactor_deferred d2;
	unsigned int runs;
	unsigned int runs2;
	unsigned int runs_at_check;
	bool chain; /* d's callback defers d2 */
	struct reactor_timer kick;
	struct reactor_timer check;
	struct stopper stop;
};

static void defer_fn(struct reactor_deferred *d)
{
	struct defer_ctx *c = container_of(d, struct defer_ctx, d);

	assert_false(d->queued);
	c->runs++;
	if (c->chain)
		reactor_defer(c->r, &c->d2);
}

static void defer2_fn(struct reactor_deferred *d)
{
	struct defer_ctx *c = container_of(d, struct defer_ctx, d2);

	c->runs2++;
}

static void defer_kick(struct reactor_timer *t)
{
	struct defer_ctx *c = container_of(t, struct defer_ctx, kick);

	for (int i = 0; i < 10; i++)
		reactor_defer(c->r, &c->d);
	assert_true(c->d.queued);
	/* Armed from here, not with kick: a reactor that starts late (a loaded
	 * machine) would otherwise run both in one pass, before the deferred work. */
	reactor_timer_arm(c->r, &c->check, 10 * MS);
}

static void defer_check(struct reactor_timer *t)
{
	struct defer_ctx *c = container_of(t, struct defer_ctx, check);

	c->runs_at_check = c->runs;
	/* Already ran: deferring again queues it again. */
	c->chain = true;
	reactor_defer(c->r, &c->d);
	reactor_defer(c->r, &c->d);
	arm_stopper(&c->stop, c->r, 20 * MS);
}

static void test_defer_coalesces(void **state)
{
	struct reactor *r = new_reactor(64, 0);
	struct defer_ctx c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.r = r;
	c.d.fn = defer_fn;
	c.d2.fn = defer2_fn;
	c.kick.fn = defer_kick;
	c.check.fn = defer_check;
	reactor_timer_arm(r, &c.kick, 1 * MS);
	assert_int_equal(reactor_run(r), 0);
	/* Ten defers within one iteration: one run, before the next check. */
	assert_int_equal(c.runs_at_check, 1);
	/* Re-deferred after it ran: ran again, and the work it deferred from
	 * inside its callback ran too. */
	assert_int_equal(c.runs, 2);
	assert_int_equal(c.runs2, 1);
	assert_false(c.d.queued);
	assert_false(c.d2.queued);
	reactor_destroy(r);
}

/* ------------------------------------------------------------------ */
/* Completions                                                         */

struct op {
	struct reactor_completion rc;
	int res;
	unsigned int calls;
	pthread_t thread;
};

static void op_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct op *o = container_of(rc, struct op, rc);

	(void)cqe_flags;
	o->res = res;
	o->calls++;
	o->thread = pthread_self();
}

struct io_ctx {
	struct reactor *r;
	struct op nop, rd, bad, wr;
	int pipefd[2];
	char rbuf[64];
	struct reactor_timer start;
	struct reactor_timer writer;
	struct stopper stop;
};

static void io_start(struct reactor_timer *t)
{
	struct io_ctx *c = container_of(t, struct io_ctx, start);
	struct io_uring_sqe *sqe;

	sqe = reactor_sqe(c->r, &c->nop.rc);
	io_uring_prep_nop(sqe);
	/* The pipe is empty: this read completes only after the writer. */
	sqe = reactor_sqe(c->r, &c->rd.rc);
	io_uring_prep_read(sqe, c->pipefd[0], c->rbuf, sizeof(c->rbuf), 0);
	sqe = reactor_sqe(c->r, &c->bad.rc);
	io_uring_prep_read(sqe, 1000000, c->rbuf, sizeof(c->rbuf), 0);
}

static void io_write(struct reactor_timer *t)
{
	struct io_ctx *c = container_of(t, struct io_ctx, writer);

	/* The read must still be pending: dispatch is per operation. */
	assert_int_equal(c->rd.calls, 0);
	assert_int_equal(c->nop.calls, 1);
	assert_int_equal(write(c->pipefd[1], "reactor", 7), 7);
}

static void test_completions_dispatch(void **state)
{
	struct reactor *r = new_reactor(64, 0);
	struct reactor_stats st;
	struct io_ctx c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.r = r;
	c.nop.rc.fn = op_done;
	c.rd.rc.fn = op_done;
	c.bad.rc.fn = op_done;
	c.nop.res = c.rd.res = c.bad.res = 12345;
	assert_int_equal(pipe2(c.pipefd, O_CLOEXEC), 0);
	c.start.fn = io_start;
	c.writer.fn = io_write;
	reactor_timer_arm(r, &c.start, 0);
	reactor_timer_arm(r, &c.writer, 20 * MS);
	arm_stopper(&c.stop, r, 60 * MS);
	assert_int_equal(reactor_run(r), 0);

	assert_int_equal(c.nop.calls, 1);
	assert_int_equal(c.nop.res, 0);
	assert_int_equal(c.rd.calls, 1);
	assert_int_equal(c.rd.res, 7);
	assert_memory_equal(c.rbuf, "reactor", 7);
	assert_int_equal(c.bad.calls, 1);
	assert_int_equal(c.bad.res, -EBADF);
	assert_true(pthread_equal(c.rd.thread, pthread_self()));

	reactor_get_stats(r, &st);
	assert_true(st.completions >= 3);
	assert_true(st.loops >= st.sleeps + st.busy_polls);
	close(c.pipefd[0]);
	close(c.pipefd[1]);
	reactor_destroy(r);
}

/* More SQEs than the ring has room for in one go: reactor_sqe submits when
 * full, and every completion is still dispatched exactly once. */
#define FLOOD 300

struct flood_ctx {
	struct reactor *r;
	struct op ops[FLOOD];
	unsigned int done;
	struct reactor_timer start;
	struct stopper stop;
};

static void flood_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	op_done(rc, res, cqe_flags);
}

static void flood_start(struct reactor_timer *t)
{
	struct flood_ctx *c = container_of(t, struct flood_ctx, start);

	for (unsigned int i = 0; i < FLOOD; i++) {
		struct io_uring_sqe *sqe = reactor_sqe(c->r, &c->ops[i].rc);

		assert_non_null(sqe);
		io_uring_prep_nop(sqe);
	}
}

static void test_ring_overflow_submits(void **state)
{
	struct reactor *r = new_reactor(8, 0);
	struct flood_ctx *c = calloc(1, sizeof(*c));

	(void)state;
	assert_non_null(c);
	c->r = r;
	for (unsigned int i = 0; i < FLOOD; i++) {
		c->ops[i].rc.fn = flood_done;
		c->ops[i].res = -1;
	}
	c->start.fn = flood_start;
	reactor_timer_arm(r, &c->start, 0);
	arm_stopper(&c->stop, r, 50 * MS);
	assert_int_equal(reactor_run(r), 0);
	for (unsigned int i = 0; i < FLOOD; i++) {
		assert_int_equal(c->ops[i].calls, 1);
		assert_int_equal(c->ops[i].res, 0);
	}
	free(c);
	reactor_destroy(r);
}

/* ------------------------------------------------------------------ */
/* Statistics: spin vs sleep                                           */

/*
 * A ping-pong: each completion submits the next operation, a NOP, or with
 * gap_us a timeout of that long (a backend that answers slowly).
 */
struct pingpong {
	struct reactor *r;
	struct reactor_completion rc;
	/* With echo, each completion also queues a NOP that completes inside
	 * the next submit: the loop's own work, as a response send is. */
	struct reactor_completion echo_rc;
	bool echo;
	unsigned int echoes;
	unsigned int count, target, gap_us;
	struct __kernel_timespec gap;
	struct reactor_timer start;
	struct stopper stop;
};

static void pingpong_next(struct pingpong *p)
{
	struct io_uring_sqe *sqe = reactor_sqe(p->r, &p->rc);

	if (!p->gap_us) {
		io_uring_prep_nop(sqe);
		return;
	}
	p->gap = (struct __kernel_timespec){ .tv_nsec = (long long)p->gap_us * 1000 };
	io_uring_prep_timeout(sqe, &p->gap, 0, 0);
}

static void pingpong_echo_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct pingpong *p = container_of(rc, struct pingpong, echo_rc);

	(void)cqe_flags;
	assert_int_equal(res, 0);
	p->echoes++;
}

static void pingpong_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct pingpong *p = container_of(rc, struct pingpong, rc);

	(void)cqe_flags;
	assert_int_equal(res, p->gap_us ? -ETIME : 0);
	if (++p->count >= p->target) {
		reactor_stop(p->r);
		return;
	}
	if (p->echo) {
		p->echo_rc.fn = pingpong_echo_done;
		io_uring_prep_nop(reactor_sqe(p->r, &p->echo_rc));
	}
	pingpong_next(p);
}

static void pingpong_start(struct reactor_timer *t)
{
	pingpong_next(container_of(t, struct pingpong, start));
}

static void run_pingpong(unsigned int spin_us, unsigned int gap_us, bool echo, unsigned int n,
			 struct reactor_stats *st)
{
	struct reactor *r = new_reactor(64, spin_us);
	struct pingpong p;

	memset(&p, 0, sizeof(p));
	p.r = r;
	p.echo = echo;
	p.rc.fn = pingpong_done;
	p.target = n;
	p.gap_us = gap_us;
	p.start.fn = pingpong_start;
	reactor_timer_arm(r, &p.start, 1 * MS);
	/* Bound: the chain normally ends within a few hundred milliseconds. */
	arm_stopper(&p.stop, r, 10000 * MS);
	assert_int_equal(reactor_run(r), 0);
	assert_int_equal(p.count, n);
	assert_int_equal(p.echoes, echo ? n - 1 : 0);
	assert_false(p.stop.fired);
	reactor_get_stats(r, st);
	reactor_destroy(r);
}

static void test_stats_no_spin_sleeps(void **state)
{
	struct reactor_stats st;

	(void)state;
	run_pingpong(0, 0, false, 200, &st);
	assert_int_equal(st.busy_polls, 0);
	/* Every round trip went through a blocking wait. */
	assert_true(st.sleeps >= 200);
	assert_true(st.completions >= 200);
	assert_true(st.loops >= st.sleeps);
	assert_true(st.idle_ns > 0);
}

static void test_stats_spin_busy_polls(void **state)
{
	struct reactor_stats st;

	(void)state;
	run_pingpong(2000, 0, false, 200, &st);
	assert_true(st.busy_polls > 0);
	assert_true(st.completions >= 200);
	/* With completions flowing the loop mostly stayed on the CPU. */
	assert_true(st.busy_polls > st.sleeps);
	assert_true(st.loops >= st.sleeps + st.busy_polls);
	assert_true(st.busy_ns > 0);
}

/*
 * Completions slower than the spin window (a backend milliseconds away):
 * spinning would only burn the window before every sleep. After a window
 * runs out the loop sleeps instead, for longer each time it runs out again.
 */
static void test_spin_backs_off_when_windows_run_out(void **state)
{
	const unsigned int n = 300;
	struct reactor_stats st;

	(void)state;
	/* 300 us between completions against a 100 us window. */
	run_pingpong(100, 300, false, n, &st);
	/* Without the back-off every one of the 300 waits spun 100 us first. */
	assert_true(st.spin_misses >= 1);
	assert_true(st.busy_polls < n / 10);
	assert_true(st.spin_misses <= st.busy_polls);
	/* Each completion needed a wait, slept or (rarely, after a hit) spun. */
	assert_true(st.sleeps > st.busy_polls);
	assert_true(st.sleeps + st.busy_polls >= n);
	assert_true(st.loops >= st.sleeps + st.busy_polls);
}

/*
 * The same slow completions, each followed by work of the loop's own that
 * completes at once (a response send): finding that completion is no sign
 * that spinning pays, and must not undo the back-off. It did: the reactor
 * of an RBD namespace spun before nearly every librbd completion.
 */
static void test_spin_back_off_ignores_own_completions(void **state)
{
	const unsigned int n = 300;
	struct reactor_stats st;

	(void)state;
	run_pingpong(100, 300, true, n, &st);
	assert_true(st.spin_misses >= 1);
	assert_true(st.busy_polls < n / 5);
	assert_true(st.sleeps + st.busy_polls >= n);
}

/* Spinning must not delay a timer: the spin window ends at a deadline. */
struct spin_timer_ctx {
	struct pingpong p;
	struct reactor_timer t;
	uint64_t armed_at, fired_at;
};

static void spin_timer_fired(struct reactor_timer *t)
{
	struct spin_timer_ctx *c = container_of(t, struct spin_timer_ctx, t);

	c->fired_at = reactor_now_ns();
	reactor_stop(c->p.r);
}

static void spin_pingpong_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct pingpong *p = container_of(rc, struct pingpong, rc);

	(void)cqe_flags;
	(void)res;
	p->count++;
	io_uring_prep_nop(reactor_sqe(p->r, &p->rc));
}

static void test_timer_fires_while_spinning(void **state)
{
	/* A 1 s spin window with constant traffic: only the timer ends the run. */
	struct reactor *r = new_reactor(64, 1000000);
	struct spin_timer_ctx c;
	struct stopper guard;
	struct reactor_stats st;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.p.r = r;
	c.p.rc.fn = spin_pingpong_done;
	c.p.start.fn = pingpong_start;
	c.t.fn = spin_timer_fired;
	reactor_timer_arm(r, &c.p.start, 0);
	c.armed_at = reactor_now_ns();
	reactor_timer_arm(r, &c.t, 20 * MS);
	arm_stopper(&guard, r, 3000 * MS);
	assert_int_equal(reactor_run(r), 0);
	assert_false(guard.fired);
	assert_true(c.fired_at >= c.armed_at + 20 * MS);
	assert_true(c.fired_at - c.armed_at < 500 * MS);
	assert_true(c.p.count > 0);
	reactor_get_stats(r, &st);
	assert_true(st.busy_polls > 0);
	reactor_destroy(r);
}

static void test_ids_and_current(void **state)
{
	struct reactor *r = new_reactor(0, 0);

	(void)state;
	reactor_set_id(r, 7);
	assert_int_equal(reactor_id(r), 7);
	assert_non_null(reactor_ring(r));
	assert_null(reactor_current());
	reactor_destroy(r);
	reactor_destroy(NULL);
}

/* sched_getattr(2)'s result (no glibc wrapper). */
struct test_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

struct slice_probe {
	struct reactor *r;
	uint64_t runtime_ns;
	int nice;
};

static void read_slice(void *arg)
{
	struct slice_probe *p = arg;
	struct test_sched_attr a = { 0 };

	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) == 0) {
		p->runtime_ns = a.runtime;
		p->nice = a.nice;
	}
	reactor_stop(p->r);
}

static void *run_niced(void *arg)
{
	struct slice_probe *p = arg;

	assert_int_equal(setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 3), 0);
	reactor_run(p->r);
	return NULL;
}

/* Run a reactor made with o on a thread at nice 3; what its thread saw. */
static struct slice_probe probe_sched(const struct reactor_opts *o)
{
	struct slice_probe p = { 0 };
	pthread_t th;

	assert_int_equal(reactor_create(o, &p.r), 0);
	assert_int_equal(reactor_post(p.r, read_slice, &p), 0);
	assert_int_equal(pthread_create(&th, NULL, run_niced, &p), 0);
	pthread_join(th, NULL);
	reactor_destroy(p.r);
	return p;
}

/* The thread running a reactor asks for its CPU slice, and keeps its nice value unless given one. */
static void test_sched_slice(void **state)
{
	struct reactor_opts o = { .ring_entries = 64, .slice_us = 300 };
	struct test_sched_attr a = { 0 };
	struct slice_probe p;

	(void)state;
	/* Kernels before 6.12 neither keep nor report a fair task's slice. */
	assert_int_equal(syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0), 0);
	if (a.runtime == 0)
		skip();
	p = probe_sched(&o);
	assert_int_equal(p.runtime_ns, 300000);
	assert_int_equal(p.nice, 3);

	/* A nice value of its own (a higher one needs no privilege). */
	o.set_nice = true;
	o.nice = 5;
	p = probe_sched(&o);
	assert_int_equal(p.runtime_ns, 300000);
	assert_int_equal(p.nice, 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_watchdog, teardown_watchdog)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_timers_fire_in_deadline_order),
		T(test_timers_heap_many),
		T(test_timer_rearm_from_callback),
		T(test_post_runs_on_reactor_thread),
		T(test_stop_from_other_thread),
		T(test_stop_before_run),
		T(test_destroy_frees_pending_posts),
		T(test_posts_drained_at_stop),
		T(test_defer_coalesces),
		T(test_completions_dispatch),
		T(test_ring_overflow_submits),
		T(test_stats_no_spin_sleeps),
		T(test_spin_backs_off_when_windows_run_out),
		T(test_spin_back_off_ignores_own_completions),
		T(test_stats_spin_busy_polls),
		T(test_timer_fires_while_spinning),
		T(test_ids_and_current),
		T(test_sched_slice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
