/* SPDX-License-Identifier: MIT */
/*
 * One event loop per thread, on io_uring.
 *
 * Every asynchronous operation (socket recv/send, file read/write, timeout) is
 * an io_uring SQE whose user_data points at a `struct reactor_completion`
 * embedded in the object that owns the operation; when the CQE arrives the
 * reactor calls completion->fn(completion, cqe->res, cqe->flags). No
 * allocation happens per operation.
 *
 * Adaptive polling: while operations are in flight and completions keep
 * arriving, the loop busy-polls the completion ring (a spin window of
 * `spin_us` after the last completion) instead of sleeping in the kernel,
 * which saves the ~60 µs of waking an idle vCPU per round trip. When nothing
 * has completed within the window the loop blocks in io_uring_enter, so an
 * idle target uses no CPU. reactor_stats tells how the time was split.
 *
 * Threading: a reactor and everything it owns are touched only by its own
 * thread, with two exceptions: reactor_post() may be called from any thread to
 * run a function on the reactor's thread (control path only; it takes a lock),
 * and reactor_get_stats() may read the counters from any thread.
 */
#ifndef NVMEOF_REACTOR_H
#define NVMEOF_REACTOR_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct reactor;

struct reactor_completion {
	void (*fn)(struct reactor_completion *c, int res, uint32_t cqe_flags);
};

/* A one-shot timer; embed it, arm it, it fires once on the owning reactor. */
struct reactor_timer {
	void (*fn)(struct reactor_timer *t);
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	uint32_t heap_index; /* 0 = not armed */
};

struct reactor_stats {
	uint64_t loops;
	uint64_t completions;
	uint64_t busy_polls; /* loop iterations that spun instead of sleeping */
	uint64_t spin_misses; /* spins whose window ran out without a completion */
	uint64_t sleeps; /* times the loop blocked in the kernel */
	uint64_t busy_ns; /* time spent handling or spinning */
	uint64_t idle_ns; /* time spent blocked */
};

struct reactor_opts {
	unsigned int ring_entries; /* SQ size; CQ is twice that. Default 1024 */
	unsigned int spin_us; /* adaptive polling window; 0 = never spin. Default 50 */
	/* CPU slice the running thread asks the scheduler for, 100-100000 us
	 * (wake-up latency under competing load); 0 = the kernel's. Default 100 */
	unsigned int slice_us;
	/* Give the running thread this nice value (-20..19; needs CAP_SYS_NICE
	 * to go below its own), else it keeps its own. */
	bool set_nice;
	int nice;
};

/* Create a reactor for the calling thread (or a thread that will run it). */
int reactor_create(const struct reactor_opts *opts, struct reactor **out);
void reactor_destroy(struct reactor *r);

/*
 * Run until reactor_stop(); returns 0 or a negative errno. Posts and deferred
 * work queued by then run before it returns. A reactor may be run again after
 * reactor_run returned, but always on the same thread: the ring accepts
 * submissions only from the thread that first ran it.
 */
int reactor_run(struct reactor *r);
/*
 * Thread-safe: make the loop return after its current iteration or, if it is
 * not running, make the next reactor_run return at once (after running what
 * was posted). Each return consumes the request, so the reactor can run
 * again; requests made before the loop notices them do not add up and end
 * one run.
 */
void reactor_stop(struct reactor *r);

/* The reactor running on this thread, or NULL. */
struct reactor *reactor_current(void);

/* Index of this reactor (0..n-1) as set by the creator, for logs. */
unsigned int reactor_id(const struct reactor *r);
void reactor_set_id(struct reactor *r, unsigned int id);

/*
 * Get an SQE to fill; never NULL (submits pending SQEs when the ring is full).
 * Submission is batched: SQEs are handed to the kernel once per loop
 * iteration, or earlier by reactor_flush().
 */
struct io_uring_sqe *reactor_sqe(struct reactor *r, struct reactor_completion *c);
int reactor_flush(struct reactor *r);

/* The underlying ring, e.g. for registering files or buffers. */
struct io_uring *reactor_ring(struct reactor *r);

/* Timers (owning thread only). Re-arming an armed timer moves it. */
void reactor_timer_arm(struct reactor *r, struct reactor_timer *t, uint64_t delay_ns);
void reactor_timer_cancel(struct reactor *r, struct reactor_timer *t);
uint64_t reactor_now_ns(void);
/*
 * When the reactor began handling its current batch of completions: a
 * timestamp for work that arrived in that batch without a clock read per
 * item (e.g. a command's start). Outside a batch, the time now.
 */
uint64_t reactor_batch_start_ns(const struct reactor *r);

/*
 * Deferred work (owning thread only): d->fn runs once, on the reactor's
 * thread, before the loop next hands SQEs to the kernel. Lets a producer
 * that may be called many times per iteration (e.g. queueing PDUs on a
 * connection) coalesce its work into one submission. Deferring an already
 * queued item does nothing.
 */
struct reactor_deferred {
	void (*fn)(struct reactor_deferred *d);
	struct reactor_deferred *next;
	bool queued;
};
void reactor_defer(struct reactor *r, struct reactor_deferred *d);

/* Run fn(arg) on r's thread soon. Thread-safe. Returns 0 or -ENOMEM. */
int reactor_post(struct reactor *r, void (*fn)(void *arg), void *arg);

void reactor_get_stats(const struct reactor *r, struct reactor_stats *st);

#endif
