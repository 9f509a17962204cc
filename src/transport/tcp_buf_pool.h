/* SPDX-License-Identifier: MIT */
/*
 * Request data buffers shared by the connections of one reactor.
 *
 * A command that moves data needs a buffer of up to NVMF_MAX_XFER bytes
 * from the moment its capsule arrives until its last byte is sent. Giving
 * each connection a buffer per queue entry would let every peer make the
 * target hold queue size x 128 KiB, however many connections it opens; one
 * pool per reactor, carved on demand and bounded, caps what all of them
 * together can hold. A connection that finds the pool empty waits (it stops
 * reading) and is woken when a buffer comes back.
 *
 * tcp_buf_pool_for() and tcp_buf_pool_set_limit() are thread-safe; the
 * rest runs on the pool's reactor only, and takes no lock.
 */
#ifndef NVMEOF_TRANSPORT_TCP_BUF_POOL_H
#define NVMEOF_TRANSPORT_TCP_BUF_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/reactor.h"

struct tcp_buf_pool;

struct tcp_buf_waiter {
	void (*wake)(struct tcp_buf_waiter *w); /* a buffer was returned: try again */
	struct tcp_buf_waiter *next;
	bool queued;
};

/* The pool of reactor r (created on first use); NULL if out of memory. */
struct tcp_buf_pool *tcp_buf_pool_for(struct reactor *r);

/* Bytes of buffers one reactor may have in use at a time (0 = no limit). */
void tcp_buf_pool_set_limit(size_t bytes);

/* A buffer of NVMF_MAX_XFER bytes, or NULL when the pool is at its limit. */
void *tcp_buf_get(struct tcp_buf_pool *p);
/* Give a buffer back; wakes the longest waiter. */
void tcp_buf_put(struct tcp_buf_pool *p, void *buf);

/* Be woken (once) when a buffer is returned; idempotent. */
void tcp_buf_wait(struct tcp_buf_pool *p, struct tcp_buf_waiter *w);
/* No longer interested (closing); harmless when not waiting. */
void tcp_buf_cancel_wait(struct tcp_buf_pool *p, struct tcp_buf_waiter *w);

#endif
