/* SPDX-License-Identifier: MIT */
/*
 * Per-reactor request data buffers (see tcp_buf_pool.h).
 *
 * Buffers are carved from mappings of TCP_BUF_CHUNK buffers each, reserved
 * lazily (MAP_NORESERVE): a page costs memory only once a transfer has
 * touched it. Free buffers are kept on a stack, so the ones in use stay the
 * same few, already resident ones, and the bottom of the stack is what has
 * gone cold. Once a second, a pool that had buffers to spare gives the
 * pages of the cold ones back to the kernel (MADV_DONTNEED), keeping
 * TCP_BUF_KEEP warm: after a burst, the memory goes back to what is in use.
 * The limit bounds the buffers in use at a time, and so what is ever carved.
 */
#include "tcp_buf_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "target/target.h"
#include "tcp_target.h"

#define TCP_BUF_CHUNK 8 /* buffers per mapping: 1 MiB */
#define TCP_BUF_KEEP 8 /* free buffers kept resident */
#define TCP_BUF_TRIM_NS 1000000000ull

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct tcp_buf_pool {
	struct reactor *reactor;
	void **stack; /* free buffers; the top is the most recently used */
	size_t nfree;
	size_t cap;
	size_t carved; /* buffers mapped so far */
	size_t in_use; /* handed out, not yet returned */
	size_t low_free; /* fewest free buffers since the last trim */
	size_t trimmed; /* stack[0, trimmed) have no resident pages */
	struct reactor_timer trim_timer;
	struct tcp_buf_waiter *wait_head, *wait_tail;
};

static struct {
	pthread_mutex_t lock;
	struct tcp_buf_pool pools[NVMF_MAX_REACTORS];
	unsigned int npools;
	atomic_size_t limit_bufs;
} bp = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.limit_bufs = ((size_t)TCP_DEFAULT_BUFFER_MIB << 20) / NVMF_MAX_XFER,
};

static void tcp_buf_trim(struct reactor_timer *t);

struct tcp_buf_pool *tcp_buf_pool_for(struct reactor *r)
{
	struct tcp_buf_pool *p = NULL;

	pthread_mutex_lock(&bp.lock);
	for (unsigned int i = 0; i < bp.npools; i++)
		if (bp.pools[i].reactor == r)
			p = &bp.pools[i];
	if (!p && bp.npools < NVMF_MAX_REACTORS) {
		p = &bp.pools[bp.npools++];
		p->reactor = r;
		p->trim_timer.fn = tcp_buf_trim;
	}
	pthread_mutex_unlock(&bp.lock);
	return p;
}

void tcp_buf_pool_set_limit(size_t bytes)
{
	size_t n = bytes ? bytes / NVMF_MAX_XFER : SIZE_MAX;

	/* A reactor must be able to move data at all. */
	atomic_store(&bp.limit_bufs, n ? n : 1);
}

/* The stack is empty: map a chunk of fresh buffers onto it. */
static bool tcp_buf_carve(struct tcp_buf_pool *p)
{
	size_t n = TCP_BUF_CHUNK;
	uint8_t *map;

	/* Every buffer ever carved may be free at once. */
	if (p->carved + n > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		void **stack;

		while (cap < p->carved + n)
			cap *= 2;
		stack = realloc(p->stack, cap * sizeof(*stack));
		if (!stack)
			return false;
		p->stack = stack;
		p->cap = cap;
	}
	map = mmap(NULL, n * NVMF_MAX_XFER, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (map == MAP_FAILED)
		return false;
	/* Untouched, so they count as trimmed: nothing resident to give back. */
	for (size_t i = 0; i < n; i++)
		p->stack[i] = map + i * NVMF_MAX_XFER;
	p->nfree = n;
	p->trimmed = n;
	p->carved += n;
	return true;
}

void *tcp_buf_get(struct tcp_buf_pool *p)
{
	if (p->in_use >= atomic_load_explicit(&bp.limit_bufs, memory_order_relaxed))
		return NULL;
	if (!p->nfree && !tcp_buf_carve(p))
		return NULL;
	p->nfree--;
	if (p->trimmed > p->nfree)
		p->trimmed = p->nfree;
	if (p->low_free > p->nfree)
		p->low_free = p->nfree;
	p->in_use++;
	return p->stack[p->nfree];
}

void tcp_buf_put(struct tcp_buf_pool *p, void *buf)
{
	struct tcp_buf_waiter *w = p->wait_head;

	/* nfree < carved <= cap: there is always room. */
	p->stack[p->nfree++] = buf;
	p->in_use--;
	if (!p->trim_timer.heap_index && p->nfree > p->trimmed + TCP_BUF_KEEP) {
		p->low_free = p->nfree;
		reactor_timer_arm(p->reactor, &p->trim_timer, TCP_BUF_TRIM_NS);
	}
	if (w) {
		p->wait_head = w->next;
		if (!p->wait_head)
			p->wait_tail = NULL;
		w->next = NULL;
		w->queued = false;
		w->wake(w);
	}
}

/* Buffers that stayed at the bottom of the stack for a whole period are
 * cold: give their pages back, all but TCP_BUF_KEEP. */
static void tcp_buf_trim(struct reactor_timer *t)
{
	struct tcp_buf_pool *p = container_of(t, struct tcp_buf_pool, trim_timer);
	size_t cold = p->low_free > TCP_BUF_KEEP ? p->low_free - TCP_BUF_KEEP : 0;

	for (size_t i = p->trimmed; i < cold; i++)
		madvise(p->stack[i], NVMF_MAX_XFER, MADV_DONTNEED);
	if (cold > p->trimmed)
		p->trimmed = cold;
	p->low_free = p->nfree;
	if (p->nfree > p->trimmed + TCP_BUF_KEEP)
		reactor_timer_arm(p->reactor, &p->trim_timer, TCP_BUF_TRIM_NS);
}

void tcp_buf_wait(struct tcp_buf_pool *p, struct tcp_buf_waiter *w)
{
	if (w->queued)
		return;
	w->queued = true;
	w->next = NULL;
	if (p->wait_tail)
		p->wait_tail->next = w;
	else
		p->wait_head = w;
	p->wait_tail = w;
}

void tcp_buf_cancel_wait(struct tcp_buf_pool *p, struct tcp_buf_waiter *w)
{
	struct tcp_buf_waiter *prev = NULL;

	if (!w->queued)
		return;
	for (struct tcp_buf_waiter *it = p->wait_head; it; prev = it, it = it->next) {
		if (it != w)
			continue;
		if (prev)
			prev->next = w->next;
		else
			p->wait_head = w->next;
		if (p->wait_tail == w)
			p->wait_tail = prev;
		break;
	}
	w->next = NULL;
	w->queued = false;
}
