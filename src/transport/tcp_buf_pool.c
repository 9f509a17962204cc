/* SPDX-License-Identifier: MIT */
/*
 * Per-reactor request data buffers (see tcp_buf_pool.h).
 *
 * Buffers are carved from mappings of TCP_BUF_CHUNK buffers each, reserved
 * lazily (MAP_NORESERVE): a page costs memory only once a transfer has
 * touched it. The free list is LIFO so the buffers in use stay the same few,
 * already resident ones. The limit bounds the buffers in use at a time, and
 * so what is ever carved; mappings live as long as the process.
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

struct tcp_buf {
	struct tcp_buf *next;
};

struct tcp_buf_pool {
	struct reactor *reactor;
	struct tcp_buf *free;
	size_t carved; /* buffers mapped so far */
	size_t in_use; /* handed out, not yet returned */
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

static bool tcp_buf_carve(struct tcp_buf_pool *p)
{
	size_t n = TCP_BUF_CHUNK;
	uint8_t *map;

	map = mmap(NULL, n * NVMF_MAX_XFER, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (map == MAP_FAILED)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct tcp_buf *b = (struct tcp_buf *)(map + i * NVMF_MAX_XFER);

		b->next = p->free;
		p->free = b;
	}
	p->carved += n;
	return true;
}

void *tcp_buf_get(struct tcp_buf_pool *p)
{
	struct tcp_buf *b;

	if (p->in_use >= atomic_load_explicit(&bp.limit_bufs, memory_order_relaxed))
		return NULL;
	if (!p->free && !tcp_buf_carve(p))
		return NULL;
	b = p->free;
	p->free = b->next;
	p->in_use++;
	return b;
}

void tcp_buf_put(struct tcp_buf_pool *p, void *buf)
{
	struct tcp_buf *b = buf;
	struct tcp_buf_waiter *w = p->wait_head;

	b->next = p->free;
	p->free = b;
	p->in_use--;
	if (w) {
		p->wait_head = w->next;
		if (!p->wait_head)
			p->wait_tail = NULL;
		w->next = NULL;
		w->queued = false;
		w->wake(w);
	}
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
