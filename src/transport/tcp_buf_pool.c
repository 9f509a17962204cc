/* SPDX-License-Identifier: MIT */
/*
 * Per-reactor request data buffers (see tcp_buf_pool.h).
 *
 * Each size class carves its buffers from mappings of a few buffers each,
 * reserved lazily (MAP_NORESERVE): a page costs memory only once a transfer
 * has touched it. Free buffers are kept on a stack per class, so the ones in
 * use stay the same few, already resident ones, and the bottom of the stack
 * is what has gone cold. Once a second, a class that had buffers to spare
 * gives the pages of the cold ones back to the kernel (MADV_DONTNEED),
 * keeping a few warm: after a burst, the memory goes back to what is in use.
 * The limit bounds the bytes of buffers in use at a time, and so what is
 * ever carved.
 */
#include "tcp_buf_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "target/target.h"
#include "tcp_target.h"

#define TCP_BUF_TRIM_NS 1000000000ull

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

_Static_assert(TCP_BUF_SMALL <= NVMF_MAX_XFER, "the small buffers are the smaller ones");

enum { TCP_BUF_CLASS_SMALL, TCP_BUF_CLASS_LARGE, TCP_BUF_CLASSES };

static const struct {
	size_t size;
	size_t chunk; /* buffers per mapping */
	size_t keep; /* free buffers kept resident */
} tcp_buf_classes[TCP_BUF_CLASSES] = {
	[TCP_BUF_CLASS_SMALL] = { TCP_BUF_SMALL, (1u << 20) / TCP_BUF_SMALL, 8 },
	[TCP_BUF_CLASS_LARGE] = { NVMF_MAX_XFER, 2, 2 },
};

struct tcp_buf_class {
	void **stack; /* free buffers; the top is the most recently used */
	size_t nfree;
	size_t cap;
	size_t carved; /* buffers mapped so far */
	size_t low_free; /* fewest free buffers since the last trim */
	size_t trimmed; /* stack[0, trimmed) have no resident pages */
};

struct tcp_buf_pool {
	struct reactor *reactor;
	struct tcp_buf_class cls[TCP_BUF_CLASSES];
	size_t in_use; /* bytes handed out, not yet returned */
	struct reactor_timer trim_timer;
	struct tcp_buf_waiter *wait_head, *wait_tail;
};

static struct {
	pthread_mutex_t lock;
	struct tcp_buf_pool pools[NVMF_MAX_REACTORS];
	unsigned int npools;
	atomic_size_t limit; /* bytes */
} bp = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.limit = (size_t)TCP_DEFAULT_BUFFER_MIB << 20,
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
	/* A reactor must be able to move the largest transfer at all. */
	atomic_store(&bp.limit, !bytes ? SIZE_MAX : bytes < NVMF_MAX_XFER ? NVMF_MAX_XFER : bytes);
}

static unsigned int tcp_buf_class_of(size_t len)
{
	return len <= TCP_BUF_SMALL ? TCP_BUF_CLASS_SMALL : TCP_BUF_CLASS_LARGE;
}

/* The class's stack is empty: map a chunk of fresh buffers onto it. */
static bool tcp_buf_carve(struct tcp_buf_class *k, unsigned int ci)
{
	size_t n = tcp_buf_classes[ci].chunk, size = tcp_buf_classes[ci].size;
	uint8_t *map;

	/* Every buffer ever carved may be free at once. */
	if (k->carved + n > k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 64;
		void **stack;

		while (cap < k->carved + n)
			cap *= 2;
		stack = realloc(k->stack, cap * sizeof(*stack));
		if (!stack)
			return false;
		k->stack = stack;
		k->cap = cap;
	}
	map = mmap(NULL, n * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return false;
	/* Untouched, so they count as trimmed: nothing resident to give back. */
	for (size_t i = 0; i < n; i++)
		k->stack[i] = map + i * size;
	k->nfree = n;
	k->trimmed = n;
	k->carved += n;
	return true;
}

/* A buffer for len bytes if the limit allows, whoever waits. */
static void *tcp_buf_take(struct tcp_buf_pool *p, size_t len)
{
	unsigned int ci = tcp_buf_class_of(len);
	struct tcp_buf_class *k = &p->cls[ci];
	size_t size = tcp_buf_classes[ci].size;

	if (len > NVMF_MAX_XFER || p->in_use + size > atomic_load_explicit(&bp.limit, memory_order_relaxed))
		return NULL;
	if (!k->nfree && !tcp_buf_carve(k, ci))
		return NULL;
	k->nfree--;
	if (k->trimmed > k->nfree)
		k->trimmed = k->nfree;
	if (k->low_free > k->nfree)
		k->low_free = k->nfree;
	p->in_use += size;
	return k->stack[k->nfree];
}

void *tcp_buf_get(struct tcp_buf_pool *p, size_t len)
{
	/* Behind those already waiting: a large request is not starved by small ones. */
	return p->wait_head ? NULL : tcp_buf_take(p, len);
}

/* Grant in order while the oldest waiter's request fits. */
static void tcp_buf_grant(struct tcp_buf_pool *p)
{
	struct tcp_buf_waiter *w;

	while ((w = p->wait_head) && (w->buf = tcp_buf_take(p, w->len))) {
		p->wait_head = w->next;
		if (!p->wait_head)
			p->wait_tail = NULL;
		w->next = NULL;
		w->queued = false;
		w->wake(w);
	}
}

static bool tcp_buf_has_spare(const struct tcp_buf_pool *p)
{
	for (unsigned int ci = 0; ci < TCP_BUF_CLASSES; ci++)
		if (p->cls[ci].nfree > p->cls[ci].trimmed + tcp_buf_classes[ci].keep)
			return true;
	return false;
}

void tcp_buf_put(struct tcp_buf_pool *p, void *buf, size_t len)
{
	unsigned int ci = tcp_buf_class_of(len);
	struct tcp_buf_class *k = &p->cls[ci];

	/* nfree < carved <= cap: there is always room. */
	k->stack[k->nfree++] = buf;
	p->in_use -= tcp_buf_classes[ci].size;
	if (!p->trim_timer.heap_index && tcp_buf_has_spare(p)) {
		for (unsigned int i = 0; i < TCP_BUF_CLASSES; i++)
			p->cls[i].low_free = p->cls[i].nfree;
		reactor_timer_arm(p->reactor, &p->trim_timer, TCP_BUF_TRIM_NS);
	}
	tcp_buf_grant(p);
}

/* Buffers that stayed at the bottom of a stack for a whole period are
 * cold: give their pages back, all but the class's few kept warm. */
static void tcp_buf_trim(struct reactor_timer *t)
{
	struct tcp_buf_pool *p = container_of(t, struct tcp_buf_pool, trim_timer);

	for (unsigned int ci = 0; ci < TCP_BUF_CLASSES; ci++) {
		struct tcp_buf_class *k = &p->cls[ci];
		size_t keep = tcp_buf_classes[ci].keep;
		size_t cold = k->low_free > keep ? k->low_free - keep : 0;

		for (size_t i = k->trimmed; i < cold; i++)
			madvise(k->stack[i], tcp_buf_classes[ci].size, MADV_DONTNEED);
		if (cold > k->trimmed)
			k->trimmed = cold;
		k->low_free = k->nfree;
	}
	if (tcp_buf_has_spare(p))
		reactor_timer_arm(p->reactor, &p->trim_timer, TCP_BUF_TRIM_NS);
}

void tcp_buf_wait(struct tcp_buf_pool *p, struct tcp_buf_waiter *w, size_t len)
{
	if (w->queued)
		return;
	w->queued = true;
	w->len = len;
	w->buf = NULL;
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
	bool was_head = p->wait_head == w;

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
	/* It may have been what held the next ones back. */
	if (was_head)
		tcp_buf_grant(p);
}
