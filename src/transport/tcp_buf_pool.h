/* SPDX-License-Identifier: MIT */
/*
 * Request data buffers shared by the connections of one reactor.
 *
 * A command that moves data needs a buffer of up to NVMF_MAX_XFER bytes
 * from the moment its capsule arrives until its last byte is sent. Giving
 * each connection a buffer per queue entry would let every peer make the
 * target hold queue size x NVMF_MAX_XFER, however many connections it
 * opens; one pool per reactor, carved on demand and bounded in bytes, caps
 * what all of them together can hold. Buffers come in two sizes, so that
 * the many small transfers do not each hold (and count as) a whole
 * NVMF_MAX_XFER: up to TCP_BUF_SMALL bytes, and up to NVMF_MAX_XFER. A
 * request that finds the pool at its limit waits (its connection stops
 * reading); waiters are served first come, first served, a large one
 * holding back the small ones behind it until enough has come back.
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

#define TCP_BUF_SMALL (128u << 10) /* the smaller buffer size */

struct tcp_buf_waiter {
	/* buf is granted (w->buf holds it, of w->len bytes): the waiter owns it now */
	void (*wake)(struct tcp_buf_waiter *w);
	struct tcp_buf_waiter *next;
	size_t len; /* wanted */
	void *buf; /* granted */
	bool queued;
};

/* The pool of reactor r (created on first use); NULL if out of memory. */
struct tcp_buf_pool *tcp_buf_pool_for(struct reactor *r);

/* Bytes of buffers one reactor may have in use at a time (0 = no limit). */
void tcp_buf_pool_set_limit(size_t bytes);

/*
 * A buffer of at least len (<= NVMF_MAX_XFER) bytes, or NULL when the pool
 * is at its limit or others are waiting.
 */
void *tcp_buf_get(struct tcp_buf_pool *p, size_t len);
/* Give back a buffer got for len bytes; grants what now fits to waiters, in order. */
void tcp_buf_put(struct tcp_buf_pool *p, void *buf, size_t len);

/* Be granted a buffer of len bytes (w->wake, once) when one fits; idempotent. */
void tcp_buf_wait(struct tcp_buf_pool *p, struct tcp_buf_waiter *w, size_t len);
/* No longer interested (closing); harmless when not waiting. */
void tcp_buf_cancel_wait(struct tcp_buf_pool *p, struct tcp_buf_waiter *w);

#endif
