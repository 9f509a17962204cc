/* SPDX-License-Identifier: MIT */
/*
 * The event loop: one io_uring per reactor thread.
 *
 * Each loop iteration runs due timers, hands every SQE prepared since the
 * last iteration to the kernel in one io_uring_enter, then either spins on
 * the completion ring (something completed within the last spin_us) or
 * blocks until a completion or the next timer deadline. Completions are
 * reaped in batches and dispatched through their reactor_completion.
 *
 * Cross-thread work (reactor_post, reactor_stop) goes through a locked list
 * and an eventfd that the ring itself reads, so a sleeping reactor wakes up
 * without a second wait primitive.
 *
 * Under valgrind the loop sleeps differently; see reactor_wait_in_poll().
 */
#include "reactor.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define REACTOR_DEFAULT_ENTRIES 1024
#define REACTOR_DEFAULT_SPIN_US 50
/*
 * Spinning pays when the next completion comes within the window (a network
 * round trip on a busy queue); when windows keep running out (completions
 * from a backend milliseconds away, e.g. RBD), each one is CPU taken from the
 * threads that produce them. Skip at most this many waits after misses.
 */
#define REACTOR_SPIN_BACKOFF_MAX 64
#define REACTOR_DEFAULT_SLICE_US 100
#define REACTOR_CQE_BATCH 64

struct reactor_post_item {
	void (*fn)(void *arg);
	void *arg;
	struct reactor_post_item *next;
};

struct reactor {
	struct io_uring ring;
	unsigned int id;
	unsigned int spin_us;
	unsigned int slice_us;
	bool set_nice;
	int nice;
	bool sched_applied; /* by the thread that runs it */
	bool ring_disabled; /* created R_DISABLED; enabled by the running thread */
	bool deferred_taskrun;
	bool wait_in_poll; /* sleep in ppoll(), not io_uring_enter (valgrind) */
	atomic_bool stop; /* a reactor_stop() not yet consumed by a return */

	/* Timers: binary min-heap on deadline, 1-based (index 0 = not armed). */
	struct reactor_timer **heap;
	uint32_t heap_len;
	uint32_t heap_cap;

	/* reactor_post queue, filled by any thread, drained by the owner. */
	pthread_mutex_t post_lock;
	struct reactor_post_item *post_head;
	struct reactor_post_item *post_tail;
	int event_fd;
	uint64_t event_buf;
	struct reactor_completion event_rc;
	bool event_armed;

	/*
	 * SQEs handed out while the submission ring was full and could not be
	 * flushed (CQ overflow): they wait here, in order, and go to the ring
	 * before anything newer. Completions are never run from inside
	 * reactor_sqe(), whose callers may be half-way through changing state.
	 */
	struct io_uring_sqe *backlog;
	unsigned int backlog_len;
	unsigned int backlog_cap;

	/* reactor_defer list, run before each submission */
	struct reactor_deferred *defer_head;
	struct reactor_deferred *defer_tail;

	/* Written by the owning thread only, read by any (reactor_get_stats). */
	struct {
		_Atomic uint64_t loops, completions, busy_polls, spin_misses, sleeps, busy_ns, idle_ns;
	} stats;
	uint64_t batch_start_ns; /* while reaping: when the batch began; else 0 */
};

static _Thread_local struct reactor *current_reactor;

uint64_t reactor_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t reactor_batch_start_ns(const struct reactor *r)
{
	return r->batch_start_ns ? r->batch_start_ns : reactor_now_ns();
}

struct reactor *reactor_current(void)
{
	return current_reactor;
}

unsigned int reactor_id(const struct reactor *r)
{
	return r->id;
}

void reactor_set_id(struct reactor *r, unsigned int id)
{
	r->id = id;
}

struct io_uring *reactor_ring(struct reactor *r)
{
	return &r->ring;
}

/* One writer: a relaxed load and store, no locked read-modify-write. */
static void stat_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}

void reactor_get_stats(const struct reactor *r, struct reactor_stats *st)
{
	/* Each counter is exact; together they are a moving picture, not a snapshot. */
	st->loops = atomic_load_explicit(&r->stats.loops, memory_order_relaxed);
	st->completions = atomic_load_explicit(&r->stats.completions, memory_order_relaxed);
	st->busy_polls = atomic_load_explicit(&r->stats.busy_polls, memory_order_relaxed);
	st->spin_misses = atomic_load_explicit(&r->stats.spin_misses, memory_order_relaxed);
	st->sleeps = atomic_load_explicit(&r->stats.sleeps, memory_order_relaxed);
	st->busy_ns = atomic_load_explicit(&r->stats.busy_ns, memory_order_relaxed);
	st->idle_ns = atomic_load_explicit(&r->stats.idle_ns, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Ring setup                                                          */

/*
 * Try the cheapest task-run mode the kernel supports. DEFER_TASKRUN requires
 * SINGLE_ISSUER, whose owner is fixed when the ring is enabled, so the ring is
 * created disabled and enabled by the thread that runs the loop. Older
 * kernels reject unknown flags with EINVAL: fall back step by step.
 *
 * A loop that waits in ppoll() (valgrind) uses the plain ring: deferred task
 * work runs only inside io_uring_enter, so a ppoll() on a DEFER_TASKRUN ring
 * sleeps through completions, whereas the default mode interrupts the
 * sleeping owner to post them.
 */
static int reactor_ring_init(struct reactor *r, unsigned int entries)
{
	static const unsigned int flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
			IORING_SETUP_R_DISABLED,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
			IORING_SETUP_R_DISABLED,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	int ret = -EINVAL;

	size_t n_sets = sizeof(flag_sets) / sizeof(flag_sets[0]);

	for (size_t i = r->wait_in_poll ? n_sets - 1 : 0; i < n_sets; i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 2;
		ret = io_uring_queue_init_params(entries, &r->ring, &p);
		if (ret == 0) {
			r->ring_disabled = flag_sets[i] & IORING_SETUP_R_DISABLED;
			r->deferred_taskrun = flag_sets[i] & IORING_SETUP_DEFER_TASKRUN;
			return 0;
		}
		if (ret != -EINVAL)
			break;
	}
	return ret;
}

static void reactor_event_arm(struct reactor *r);

/* liburing 2.3 declares io_uring_enable_rings() but does not export it. */
static int reactor_enable_ring(struct reactor *r)
{
	if (syscall(__NR_io_uring_register, r->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -errno;
	return 0;
}

static void reactor_drain_posts(struct reactor *r)
{
	struct reactor_post_item *item;

	pthread_mutex_lock(&r->post_lock);
	item = r->post_head;
	r->post_head = r->post_tail = NULL;
	pthread_mutex_unlock(&r->post_lock);

	while (item) {
		struct reactor_post_item *next = item->next;

		item->fn(item->arg);
		free(item);
		item = next;
	}
}

static void reactor_event_done(struct reactor_completion *c, int res, uint32_t cqe_flags)
{
	struct reactor *r = (struct reactor *)((char *)c - offsetof(struct reactor, event_rc));

	r->event_armed = false;
	if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED)
		log_error("reactor", "reactor %u: eventfd read failed: %s", r->id, strerror(-res));
	reactor_drain_posts(r);
	if (!atomic_load_explicit(&r->stop, memory_order_acquire))
		reactor_event_arm(r);
}

static void reactor_event_arm(struct reactor *r)
{
	struct io_uring_sqe *sqe;

	if (r->event_armed)
		return;
	sqe = reactor_sqe(r, &r->event_rc);
	io_uring_prep_read(sqe, r->event_fd, &r->event_buf, sizeof(r->event_buf), 0);
	r->event_armed = true;
}

int reactor_create(const struct reactor_opts *opts, struct reactor **out)
{
	unsigned int entries = opts && opts->ring_entries ? opts->ring_entries : REACTOR_DEFAULT_ENTRIES;
	struct reactor *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->spin_us = opts ? opts->spin_us : REACTOR_DEFAULT_SPIN_US;
	r->slice_us = opts ? opts->slice_us : REACTOR_DEFAULT_SLICE_US;
	r->set_nice = opts && opts->set_nice;
	r->nice = opts ? opts->nice : 0;
	r->wait_in_poll = RUNNING_ON_VALGRIND;
	atomic_init(&r->stop, false);
	r->event_rc.fn = reactor_event_done;
	pthread_mutex_init(&r->post_lock, NULL);

	r->event_fd = eventfd(0, EFD_CLOEXEC);
	if (r->event_fd < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = reactor_ring_init(r, entries);
	if (ret < 0) {
		log_error("reactor", "io_uring setup failed: %s", strerror(-ret));
		goto err_fd;
	}
	*out = r;
	return 0;

err_fd:
	close(r->event_fd);
err_free:
	pthread_mutex_destroy(&r->post_lock);
	free(r);
	return ret;
}

void reactor_destroy(struct reactor *r)
{
	struct reactor_post_item *item, *next;

	if (!r)
		return;
	io_uring_queue_exit(&r->ring);
	close(r->event_fd);
	/* Posts that never ran: their owners are already gone at this point. */
	for (item = r->post_head; item; item = next) {
		next = item->next;
		free(item);
	}
	pthread_mutex_destroy(&r->post_lock);
	free(r->heap);
	free(r->backlog);
	free(r);
}

/* ------------------------------------------------------------------ */
/* Submission                                                          */

/* Move backlogged SQEs into the ring while it has room; true when empty. */
static bool reactor_drain_backlog(struct reactor *r)
{
	unsigned int done = 0;

	if (r->backlog_len == 0)
		return true;
	while (done < r->backlog_len) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

		if (!sqe) {
			if (io_uring_submit(&r->ring) <= 0)
				break;
			continue;
		}
		*sqe = r->backlog[done++];
	}
	r->backlog_len -= done;
	memmove(r->backlog, r->backlog + done, r->backlog_len * sizeof(*r->backlog));
	return r->backlog_len == 0;
}

struct io_uring_sqe *reactor_sqe(struct reactor *r, struct reactor_completion *c)
{
	struct io_uring_sqe *sqe = NULL;

	if (r->backlog_len == 0 || reactor_drain_backlog(r)) {
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe) {
			int ret = io_uring_submit(&r->ring);

			if (ret < 0 && ret != -EAGAIN && ret != -EBUSY && ret != -EINTR)
				log_error("reactor", "reactor %u: submit failed: %s", r->id, strerror(-ret));
			sqe = io_uring_get_sqe(&r->ring);
		}
	}
	if (!sqe) {
		/* Rare (the kernel is refusing submissions until the CQ is
		 * reaped): park the SQE; the loop submits it after reaping. */
		if (r->backlog_len == r->backlog_cap) {
			unsigned int cap = r->backlog_cap ? 2 * r->backlog_cap : 64;
			struct io_uring_sqe *b = realloc(r->backlog, cap * sizeof(*b));

			if (!b) {
				log_error("reactor", "reactor %u: out of memory for the SQE backlog", r->id);
				abort();
			}
			r->backlog = b;
			r->backlog_cap = cap;
		}
		sqe = &r->backlog[r->backlog_len++];
	}
	memset(sqe, 0, sizeof(*sqe));
	io_uring_sqe_set_data(sqe, c);
	return sqe;
}

int reactor_flush(struct reactor *r)
{
	int ret;

	reactor_drain_backlog(r);
	ret = io_uring_submit(&r->ring);

	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */

static void heap_swap(struct reactor *r, uint32_t a, uint32_t b)
{
	struct reactor_timer *t = r->heap[a];

	r->heap[a] = r->heap[b];
	r->heap[b] = t;
	r->heap[a]->heap_index = a;
	r->heap[b]->heap_index = b;
}

static void heap_up(struct reactor *r, uint32_t i)
{
	while (i > 1 && r->heap[i / 2]->deadline_ns > r->heap[i]->deadline_ns) {
		heap_swap(r, i, i / 2);
		i /= 2;
	}
}

static void heap_down(struct reactor *r, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i, m = i;

		if (l <= r->heap_len && r->heap[l]->deadline_ns < r->heap[m]->deadline_ns)
			m = l;
		if (l + 1 <= r->heap_len && r->heap[l + 1]->deadline_ns < r->heap[m]->deadline_ns)
			m = l + 1;
		if (m == i)
			return;
		heap_swap(r, i, m);
		i = m;
	}
}

static void heap_remove(struct reactor *r, struct reactor_timer *t)
{
	uint32_t i = t->heap_index;

	t->heap_index = 0;
	if (i != r->heap_len) {
		r->heap[i] = r->heap[r->heap_len];
		r->heap[i]->heap_index = i;
		r->heap_len--;
		heap_down(r, i);
		heap_up(r, i);
	} else {
		r->heap_len--;
	}
}

void reactor_timer_cancel(struct reactor *r, struct reactor_timer *t)
{
	if (t->heap_index)
		heap_remove(r, t);
}

void reactor_timer_arm(struct reactor *r, struct reactor_timer *t, uint64_t delay_ns)
{
	reactor_timer_cancel(r, t);
	if (r->heap_len + 1 >= r->heap_cap) {
		uint32_t cap = r->heap_cap ? r->heap_cap * 2 : 64;
		struct reactor_timer **heap = realloc(r->heap, cap * sizeof(*heap));

		if (!heap) {
			/* Cannot grow: fire as soon as possible rather than never. */
			log_error("reactor", "reactor %u: timer heap allocation failed", r->id);
			abort();
		}
		r->heap = heap;
		r->heap_cap = cap;
	}
	t->deadline_ns = reactor_now_ns() + delay_ns;
	r->heap[++r->heap_len] = t;
	t->heap_index = r->heap_len;
	heap_up(r, r->heap_len);
}

static void reactor_run_timers(struct reactor *r, uint64_t now)
{
	while (r->heap_len && r->heap[1]->deadline_ns <= now) {
		struct reactor_timer *t = r->heap[1];

		heap_remove(r, t);
		t->fn(t);
	}
}

/* ------------------------------------------------------------------ */
/* Deferred work                                                       */

void reactor_defer(struct reactor *r, struct reactor_deferred *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = NULL;
	if (r->defer_tail)
		r->defer_tail->next = d;
	else
		r->defer_head = d;
	r->defer_tail = d;
}

static void reactor_run_deferred(struct reactor *r)
{
	/* Work deferred while running the list runs in this pass too. */
	while (r->defer_head) {
		struct reactor_deferred *d = r->defer_head;

		r->defer_head = d->next;
		if (!r->defer_head)
			r->defer_tail = NULL;
		d->queued = false;
		d->next = NULL;
		d->fn(d);
	}
}

/* ------------------------------------------------------------------ */
/* Cross-thread                                                        */

static void reactor_wake(struct reactor *r)
{
	uint64_t one = 1;

	if (write(r->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("reactor", "reactor %u: eventfd write failed: %s", r->id, strerror(errno));
}

int reactor_post(struct reactor *r, void (*fn)(void *arg), void *arg)
{
	struct reactor_post_item *item = malloc(sizeof(*item));

	if (!item)
		return -ENOMEM;
	item->fn = fn;
	item->arg = arg;
	item->next = NULL;
	pthread_mutex_lock(&r->post_lock);
	if (r->post_tail)
		r->post_tail->next = item;
	else
		r->post_head = item;
	r->post_tail = item;
	pthread_mutex_unlock(&r->post_lock);
	reactor_wake(r);
	return 0;
}

void reactor_stop(struct reactor *r)
{
	atomic_store_explicit(&r->stop, true, memory_order_release);
	reactor_wake(r);
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */

static unsigned int reactor_reap(struct reactor *r)
{
	struct io_uring_cqe *cqes[REACTOR_CQE_BATCH];
	unsigned int total = 0;

	for (;;) {
		struct {
			struct reactor_completion *rc;
			int res;
			uint32_t flags;
		} batch[REACTOR_CQE_BATCH];
		unsigned int n = io_uring_peek_batch_cqe(&r->ring, cqes, REACTOR_CQE_BATCH);
		unsigned int k = 0;

		if (n == 0)
			break;
		/* Copy and release the CQEs first: handlers may submit and reap. */
		for (unsigned int i = 0; i < n; i++) {
			if (cqes[i]->user_data == 0 || cqes[i]->user_data == LIBURING_UDATA_TIMEOUT)
				continue;
			batch[k].rc = io_uring_cqe_get_data(cqes[i]);
			batch[k].res = cqes[i]->res;
			batch[k].flags = cqes[i]->flags;
			k++;
		}
		io_uring_cq_advance(&r->ring, n);
		for (unsigned int i = 0; i < k; i++)
			batch[i].rc->fn(batch[i].rc, batch[i].res, batch[i].flags);
		total += n;
		/* Completions the full CQ could not take wait in the kernel's
		 * overflow list; the next peek flushes them, so take them now
		 * rather than after another wait (or never, if this is the
		 * iteration that stops the loop). */
		if (n < REACTOR_CQE_BATCH && !io_uring_cq_has_overflow(&r->ring))
			break;
	}
	return total;
}

static bool reactor_stopping(struct reactor *r)
{
	return atomic_load_explicit(&r->stop, memory_order_acquire);
}

/*
 * The blocking wait when running under valgrind. valgrind (3.19) does not
 * know that io_uring_enter can block: it runs the call holding the lock that
 * serialises the program's threads, with every signal masked. A loop asleep
 * in io_uring_enter thus freezes the whole process, including the thread
 * whose reactor_post() would wake it, and SIGTERM stays pending forever. So
 * hand the SQEs over without waiting and sleep in ppoll() on the ring fd,
 * which valgrind knows may block: it lets the other threads run and
 * delivers signals meanwhile. The ring fd polls readable once a CQE is
 * posted (or the CQ overflowed; reaping flushes it).
 */
static int reactor_wait_in_poll(struct reactor *r, const struct __kernel_timespec *timeout)
{
	struct pollfd pfd = { .fd = r->ring.ring_fd, .events = POLLIN };
	struct timespec ts;
	int ret = io_uring_submit(&r->ring);

	if (ret < 0)
		return ret;
	if (io_uring_cq_ready(&r->ring))
		return 0;
	if (timeout) {
		ts.tv_sec = (time_t)timeout->tv_sec;
		ts.tv_nsec = (long)timeout->tv_nsec;
	}
	if (ppoll(&pfd, 1, timeout ? &ts : NULL, NULL) < 0)
		return -errno;
	return 0;
}

/* sched_setattr(2)'s argument; glibc has no wrapper. */
struct reactor_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

/*
 * Scheduling of the thread that runs the reactor, when it is an ordinary
 * (SCHED_OTHER) one; a policy the operator chose is left alone.
 * - A short CPU slice (Linux 6.12+; older kernels ignore it): a reactor
 *   sleeps whenever nothing flows, and when another task keeps its CPU busy
 *   each wake-up would wait for that task's slice (milliseconds) to end; with
 *   a shorter slice of its own the woken reactor preempts it at once.
 * - Optionally a nice value: with a higher priority the reactor keeps its CPU
 *   while I/O flows however busy the machine is (the kernel's own NVMe/TCP
 *   target does its I/O work at nice -20), and takes nothing while idle.
 *   Raising it needs CAP_SYS_NICE; without, the nice value stays.
 */
static void reactor_apply_sched(struct reactor *r)
{
	struct reactor_sched_attr a = { .size = sizeof(a), .sched_policy = SCHED_OTHER };
	int cur;

	if (r->sched_applied || (!r->slice_us && !r->set_nice) || sched_getscheduler(0) != SCHED_OTHER)
		return;
	r->sched_applied = true;
	errno = 0;
	cur = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	if (errno)
		return;
	a.sched_nice = r->set_nice ? r->nice : cur;
	a.sched_runtime = (uint64_t)r->slice_us * 1000;
	if (syscall(SYS_sched_setattr, 0, &a, 0) == 0)
		return;
	if (errno == EPERM && a.sched_nice < cur) {
		static atomic_bool told;

		if (!atomic_exchange(&told, true))
			log_notice("reactor", "reactor threads stay at nice %d (nice %d needs CAP_SYS_NICE)", cur,
				   r->nice);
		a.sched_nice = cur;
		if (syscall(SYS_sched_setattr, 0, &a, 0) == 0)
			return;
	}
	log_info("reactor", "reactor %u: scheduling (nice %d, slice %u us) not set: %s", r->id, a.sched_nice,
		 r->slice_us, strerror(errno));
}

int reactor_run(struct reactor *r)
{
	uint64_t spin_ns = (uint64_t)r->spin_us * 1000;
	uint64_t last_completion = 0;
	/* Spin back-off: a window that ran out without a completion sends the
	 * next spin_skip waits to sleep; the count doubles with each such miss
	 * and halves with each spin that had to wait for what it found. One
	 * found at once proves nothing: it is mostly the loop's own work (a
	 * send that completed inside the submit), and counting it as a hit
	 * kept a reactor spinning for completions that come from other
	 * threads of this process (librbd), on the CPUs they needed. */
	unsigned int spin_backoff = 0, spin_skip = 0;
	uint64_t now;
	int ret;

	current_reactor = r;
	reactor_apply_sched(r);
	if (r->ring_disabled) {
		ret = reactor_enable_ring(r);
		if (ret < 0) {
			log_error("reactor", "reactor %u: enabling ring failed: %s", r->id, strerror(-ret));
			current_reactor = NULL;
			return ret;
		}
		r->ring_disabled = false;
	}
	reactor_event_arm(r);
	reactor_drain_posts(r);

	now = reactor_now_ns();
	/* Consume the stop request that ends this run, so the reactor can run
	 * again; one made after this point stays for the next run. */
	while (!atomic_exchange_explicit(&r->stop, false, memory_order_acq_rel)) {
		uint64_t t_start = now;
		unsigned int n;

		stat_add(&r->stats.loops, 1);
		reactor_run_timers(r, now);
		reactor_run_deferred(r);
		reactor_drain_backlog(r);

		if (spin_ns && last_completion && now - last_completion < spin_ns && !spin_skip) {
			/* Completions are flowing: stay on the CPU and poll. */
			struct io_uring_cqe *cqe;
			bool found, waited;

			ret = io_uring_submit(&r->ring);
			if (ret < 0 && ret != -EBUSY && ret != -EAGAIN && ret != -EINTR)
				log_error("reactor", "reactor %u: submit failed: %s", r->id, strerror(-ret));
			stat_add(&r->stats.busy_polls, 1);
			waited = false;
			while (!(found = io_uring_peek_cqe(&r->ring, &cqe) == 0)) {
				waited = true;
				now = reactor_now_ns();
				if (now - last_completion >= spin_ns || reactor_stopping(r) ||
				    (r->heap_len && r->heap[1]->deadline_ns <= now))
					break;
				/* valgrind runs one thread at a time: let the
				 * others in, one of them may be what we wait for. */
				if (r->wait_in_poll)
					sched_yield();
			}
			if (found) {
				if (waited)
					spin_backoff /= 2;
			} else if (now - last_completion >= spin_ns) {
				stat_add(&r->stats.spin_misses, 1);
				spin_backoff = spin_backoff ? spin_backoff * 2 : 1;
				if (spin_backoff > REACTOR_SPIN_BACKOFF_MAX)
					spin_backoff = REACTOR_SPIN_BACKOFF_MAX;
				spin_skip = spin_backoff;
			}
			now = reactor_now_ns();
			stat_add(&r->stats.busy_ns, now - t_start);
		} else {
			struct __kernel_timespec ts, *tsp = NULL;
			struct io_uring_cqe *cqe;
			uint64_t t_block;

			if (r->heap_len) {
				uint64_t wait = r->heap[1]->deadline_ns > now ? r->heap[1]->deadline_ns - now : 0;

				ts.tv_sec = (long long)(wait / 1000000000ull);
				ts.tv_nsec = (long long)(wait % 1000000000ull);
				tsp = &ts;
			}
			t_block = reactor_now_ns();
			stat_add(&r->stats.busy_ns, t_block - t_start);
			if (r->wait_in_poll)
				ret = reactor_wait_in_poll(r, tsp);
			else
				ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, tsp, NULL);
			if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
				log_error("reactor", "reactor %u: wait failed: %s", r->id, strerror(-ret));
			now = reactor_now_ns();
			stat_add(&r->stats.idle_ns, now - t_block);
			stat_add(&r->stats.sleeps, 1);
			if (spin_skip)
				spin_skip--;
		}

		t_start = now;
		r->batch_start_ns = now;
		n = reactor_reap(r);
		r->batch_start_ns = 0;
		if (n) {
			stat_add(&r->stats.completions, n);
			now = reactor_now_ns();
			last_completion = now;
			stat_add(&r->stats.busy_ns, now - t_start);
		}
	}

	/* Posts that arrived meanwhile run once more, so their owners can
	 * release what they carried; then the last SQEs go to the kernel. */
	reactor_drain_posts(r);
	reactor_run_deferred(r);
	reactor_drain_backlog(r);
	io_uring_submit(&r->ring);
	current_reactor = NULL;
	return 0;
}
