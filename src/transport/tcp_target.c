/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP target transport (TCP spec 1.0) on io_uring.
 *
 * One TCP connection carries one NVMe queue and lives on one reactor. Its
 * receive side is a state machine over the byte stream (common header, rest
 * of header, data, data digest) fed by io_uring recv into a per-connection
 * buffer; several PDUs are parsed per completion, and large H2C payloads are
 * received straight into the request's data buffer when the buffer is empty.
 *
 * Requests come from a pool per connection, one until Connect has completed
 * (a queue admits nothing else meanwhile), then as many as the queue size
 * the host asked for (plus the AERs), set up on first use. Each has its own
 * outgoing PDU headers and an in-capsule data slot (8 KiB, touched only when
 * used), which also takes R2T, read and admin data of up to that size. A
 * larger transfer takes a buffer from its reactor's pool (tcp_buf_pool.h),
 * shared by all the reactor's connections and bounded; when the pool is dry
 * the request waits for one (the connection keeps reading, so requests that
 * hold buffers and wait for their H2C data always progress). A request walks
 *
 *   FREE -> RECV_CAPSULE -> [WAIT_BUF] -> [WAIT_H2C_DATA] -> EXECUTING -> SENDING -> FREE
 *
 * through tcp_req_set_state(), which also keeps the counters the close path
 * waits on. Outgoing PDUs are queued per connection and flushed with one
 * sendmsg per loop iteration (reactor_defer); a request returns to FREE only
 * once its last byte left, so its buffers may be referenced until then.
 *
 * TLS (ports with tsas tls1.3, tcp_tls.h): the first byte tells a TLS
 * handshake record from an ICReq, and each is accepted only where the port
 * allows it. On a TLS connection io_uring moves ciphertext; the receive
 * state machine is fed with decrypted bytes (into rbuf, or straight into a
 * large payload's place), queued PDUs are sealed into records in order, and
 * a request returns to FREE once the ciphertext holding its last byte left.
 *
 * Closing: stop receiving, wait for sends and recvs in flight and for every
 * executing command (backend I/O must not land in freed memory), then detach
 * from the command layer (nvmf_sq_closed), close the socket, free the pool.
 * The connection struct itself is reference counted because other threads
 * may ask for a disconnect at any time.
 */
#include "tcp_target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "proto/crc32c.h"
#include "proto/endian.h"
#include "proto/nvme_tcp.h"
#include "tcp_buf_pool.h"
#include "tcp_tls.h"

/* The kernel fills receive buffers behind memcheck's back (io_uring). */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MARK_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define TCP_AER_SLOTS 4 /* the command layer parks up to four AERs (AERL 3) */
#define TCP_POOL_SIZE (NVMF_MAX_QUEUE_SIZE + TCP_AER_SLOTS)
#define TCP_RBUF_SIZE (64u * 1024)
#define TCP_MAX_IOV 64
#define TCP_DIRECT_RECV_MIN 4096 /* receive payloads this big straight into the request */
#define TCP_HDR_BUF 256 /* PDO is one byte: no header (with digest and pad) is longer */
#define TCP_TERM_LINGER_NS (1ull * 1000000000ull)
#define TCP_LISTEN_BACKLOG 512
#define TCP_ACCEPT_BACKOFF_MIN_MS 50
#define TCP_ACCEPT_BACKOFF_MAX_MS 1000

#define TCP_INCAPSULE_MAX \
	(NVMF_IO_INCAPSULE > NVME_TCP_ADMIN_INCAPSULE ? NVMF_IO_INCAPSULE : NVME_TCP_ADMIN_INCAPSULE)
_Static_assert(TCP_INCAPSULE_MAX <= NVMF_MAX_XFER, "in-capsule data must fit a request buffer");
_Static_assert(TCP_POOL_SIZE <= 0xffff, "TTAG is a pool index");

enum tcp_req_state {
	TCP_REQ_FREE,
	TCP_REQ_RECV_CAPSULE, /* CapsuleCmd header seen, in-capsule data arriving */
	TCP_REQ_WAIT_BUF, /* parsed, waiting for a data buffer from the reactor's pool */
	TCP_REQ_WAIT_H2C_DATA, /* R2T queued/sent, H2CData arriving */
	TCP_REQ_EXECUTING, /* owned by the command layer / backend */
	TCP_REQ_SENDING, /* C2HData and/or CapsuleResp queued or on the wire */
};

/* One outgoing PDU (header, optional data, optional data digest). */
struct tcp_send_item {
	struct tcp_send_item *next;
	struct tcp_req *release; /* request returned to FREE once this item is sent */
	uint64_t tls_end; /* TLS: ciphertext total once its last byte is sealed */
	uint32_t len;
	uint8_t iovcnt;
	struct iovec iov[3];
};

struct tcp_hdr_with_digest {
	union {
		struct nvme_tcp_r2t_pdu r2t;
		struct nvme_tcp_data_pdu data;
		struct nvme_tcp_rsp_pdu rsp;
	};
	uint8_t hdgst[NVME_TCP_DIGEST_LEN];
};

struct tcp_req {
	struct nvmf_req nreq;
	struct tcp_conn *conn;
	uint16_t index; /* pool index, used as TTAG */
	uint16_t next_free;
	enum tcp_req_state state;
	bool aer; /* an AER may stay outstanding forever; closing does not wait for it */
	bool data_in_rbuf; /* in-capsule data still in c->rbuf, not copied (tcp_rx_process) */
	uint16_t sgl_status; /* SGL error found before parse; sent instead of executing */
	uint32_t h2c_received;
	struct tcp_req *h2c_prev, *h2c_next; /* WAIT_H2C_DATA, oldest R2T first */
	uint32_t wait_tick; /* c->watch_ticks when it began waiting for the host's data */
	void *buf; /* data buffer from the reactor's pool, held until FREE */
	uint32_t buf_len; /* what it was got for */
	struct tcp_buf_waiter buf_wait;

	struct tcp_send_item r2t_item;
	struct tcp_send_item c2h_item;
	struct tcp_send_item rsp_item;
	struct tcp_hdr_with_digest r2t_pdu;
	struct tcp_hdr_with_digest c2h_pdu;
	struct tcp_hdr_with_digest rsp_pdu;
	uint8_t ddgst[NVME_TCP_DIGEST_LEN];
};

enum tcp_conn_state {
	TCP_CONN_WAIT_ICREQ,
	TCP_CONN_READY,
	TCP_CONN_TERMINATING, /* TermReq queued: nothing more is read, close when sent */
	TCP_CONN_CLOSING, /* waiting for I/O in flight before releasing */
	TCP_CONN_CLOSED,
};

enum tcp_rx_state {
	TCP_RX_HDR_COMMON, /* the 8-byte common header */
	TCP_RX_HDR_REST, /* rest of the header, header digest, padding up to PDO */
	TCP_RX_DATA, /* payload into rx_dst */
	TCP_RX_DDGST, /* data digest */
	TCP_RX_STOPPED,
};

struct tcp_conn {
	struct nvmf_sq sq;
	struct nvmf_tgt *tgt;
	struct nvmf_port *port;
	struct reactor *reactor;
	int fd;
	atomic_uint refs;
	enum tcp_conn_state state;
	bool draining; /* transport shutdown: no new commands */
	/* Draining admin queue kept open until the I/O queues are gone, so
	 * their commands can finish (closing it tears the controller down). */
	atomic_bool admin_hold;
	bool sq_closed;
	struct nvme_tcp_conn_params params;
	char peer[64];
	char local_addr[48];

	/* receive side */
	enum tcp_rx_state rx_state;
	bool recv_inflight;
	bool recv_direct; /* the recv in flight targets rx_dst, not rbuf */
	bool recv_spec; /* the recv in flight is a guessed H2CData (tcp_rx_arm_spec) */
	bool rx_paused; /* at a CapsuleCmd boundary: no request free, or draining */
	bool in_rx; /* tcp_rx_process() is on the stack */
	uint8_t *rbuf;
	uint32_t rhead, rtail;
	uint8_t hdr[TCP_HDR_BUF];
	uint32_t hdr_have, hdr_need;
	uint32_t pdu_data_len;
	uint8_t *rx_dst;
	uint32_t rx_have, rx_need;
	uint8_t rx_ddgst[NVME_TCP_DIGEST_LEN];
	uint32_t rx_ddgst_have;
	struct tcp_req *rx_req;
	bool rx_is_h2c;
	/* Guessed H2CData placement: header into rbuf, payload into the request. */
	struct tcp_req *h2c_head, *h2c_tail; /* requests owed data, in R2T order */
	struct tcp_req *spec_req; /* the guess of the recv in flight, then of spec_have */
	uint8_t *spec_dst;
	uint32_t spec_have; /* payload bytes already in place for the next H2CData */
	struct iovec spec_iov[2];
	struct msghdr spec_msg;
	struct reactor_completion recv_rc;

	/* send side */
	struct tcp_send_item *tx_head, *tx_tail;
	uint32_t tx_offset; /* bytes of tx_head already sent */
	bool send_inflight;
	struct msghdr msg;
	struct iovec iov[TCP_MAX_IOV];
	struct reactor_completion send_rc;
	struct nvme_tcp_icresp_pdu icresp;
	struct tcp_send_item icresp_item;
	uint8_t term_pdu[sizeof(struct nvme_tcp_term_pdu) + NVME_TCP_TERM_MAX_COPY];
	struct tcp_send_item term_item;

	struct reactor_deferred kick; /* resume rx and flush tx once per iteration */
	struct reactor_timer timer; /* ICReq timeout, TermReq linger, shutdown grace */

	/* request pool: entries are set up on first use, at most pool_limit
	 * of them (one until Connect, then the negotiated queue size) */
	struct tcp_req *reqs;
	uint8_t *pool_map; /* reqs, rbuf and icd, reserved lazily */
	size_t pool_map_len;
	uint8_t *icd; /* in-capsule data slots, TCP_INCAPSULE_MAX per request */
	struct tcp_buf_pool *bufs; /* the reactor's data buffers */
	unsigned int buf_waiting; /* requests in WAIT_BUF */
	uint16_t free_head; /* TCP_POOL_SIZE = empty */
	uint16_t pool_inited;
	uint16_t pool_limit;
	uint64_t connect_timeout_ns; /* (limits, taken at accept) */
	uint64_t icreq_timeout_ns;
	/* C2HData SUCCESS while the host keeps SQ flow control (taken at
	 * accept), and the completions it has hidden from the host's SQHD
	 * since the last CapsuleResp */
	bool c2h_success;
	uint16_t sqhd_unreported;

	/* a peer that stops reading (bytes queued, none sent for too long) or
	 * never sends the data of a command it started */
	struct reactor_timer watchdog;
	uint64_t tx_sends; /* send completions that moved bytes */
	uint64_t tx_sends_checked; /* tx_sends when the watchdog last looked */
	bool tx_pending_checked; /* bytes were queued when it last looked */
	uint32_t watch_ticks; /* watchdog periods so far: a coarse clock for waits */
	uint64_t stall_ns; /* (limits, taken at accept); 0 = no watchdog */
	char peer_ip[48]; /* peer address without the port, for per-address limits */
	unsigned int active; /* requests not FREE */
	unsigned int executing; /* EXECUTING, not counting AERs */
	unsigned int aers; /* AERs EXECUTING */
	unsigned int sending; /* SENDING */

	/* TLS (tcp_tls.h): decided by the first byte on a port that has TLS or
	 * may see a stray ClientHello. Queued items are sealed in order from
	 * tx_seal on; those before tx_unmarked carry their tls_end and are
	 * released once that much ciphertext has been sent. */
	struct tcp_tls *tls;
	bool tls_decided;
	bool port_tls; /* the port offers TLS ... */
	bool port_tls_required; /* ... and refuses plain connections */
	bool tls_rx_blocked; /* reading waits for ciphertext to drain */
	struct tcp_send_item *tx_seal, *tx_unmarked;
	uint32_t tx_seal_off;
	uint64_t tls_sent;
	uint8_t *tls_rx_dst; /* where the recv in flight lands */

	struct tcp_conn *gprev, *gnext; /* global list, under g.lock */
};

struct tcp_listener {
	struct nvmf_tgt *tgt;
	struct nvmf_port *port;
	struct reactor **reactors;
	unsigned int nreactors;
	unsigned int next_reactor;
	int fd;
	char addr[128];
	bool multishot;
	bool armed;
	bool stopping; /* on reactors[0] */
	bool stop_requested; /* under g.lock */
	bool backing_off; /* accepts paused after a resource error */
	uint32_t backoff_ms;
	struct reactor_timer backoff_timer;
	struct reactor_completion accept_rc;
	struct tcp_listener *next; /* global list, under g.lock */
};

/* Transport-wide registry: control-path events only (connect, close, stop). */
static struct {
	pthread_mutex_t lock;
	struct tcp_listener *listeners;
	struct tcp_conn *conns;
	unsigned int nlisteners;
	unsigned int nconns;
	unsigned int admin_holding; /* connections with admin_hold set */
	bool shutting_down;
	void (*done)(void *arg);
	void *done_arg;
	struct tcp_transport_limits limits;
	bool c2h_success;
} g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.limits = TCP_TRANSPORT_LIMITS_DEFAULT,
	.c2h_success = true,
};

static void tcp_conn_close(struct tcp_conn *c);
static void tcp_release_admins_locked(void);
static void tcp_conn_close_progress(struct tcp_conn *c);
static void tcp_rx_arm(struct tcp_conn *c);
static int tcp_rx_process(struct tcp_conn *c);
static void tcp_rx_run(struct tcp_conn *c);
static void tcp_sq_complete(struct nvmf_req *nreq);
static void tcp_sq_disconnect(struct nvmf_sq *sq);
static void tcp_reqs_resume_granted(struct tcp_conn *c);
static void tcp_req_buf_granted(struct tcp_buf_waiter *w);
static void tcp_conn_watch(struct tcp_conn *c);
static void tcp_conn_size_pool(struct tcp_conn *c);

static const struct nvmf_sq_ops tcp_sq_ops = {
	.complete = tcp_sq_complete,
	.disconnect = tcp_sq_disconnect,
};

/* Caller holds g.lock: take the shutdown callback if everything is gone. */
static void (*tcp_take_done_locked(void **arg))(void *)
{
	void (*done)(void *) = NULL;

	if (g.shutting_down && g.done && g.nconns == 0 && g.nlisteners == 0) {
		done = g.done;
		*arg = g.done_arg;
		g.done = NULL;
	}
	return done;
}

static uint16_t tcp_qid(const struct tcp_conn *c)
{
	return c->sq.connected ? c->sq.qid : 0;
}

/* ------------------------------------------------------------------ */
/* Connection lifetime                                                 */

static void tcp_conn_get(struct tcp_conn *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static void tcp_conn_put(struct tcp_conn *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		free(c);
}

/* Queue the per-iteration work; the queued kick holds a reference. */
static void tcp_conn_kick_later(struct tcp_conn *c)
{
	if (c->kick.queued)
		return;
	tcp_conn_get(c);
	reactor_defer(c->reactor, &c->kick);
}

static void tcp_conn_free_resources(struct tcp_conn *c)
{
	if (c->pool_map)
		munmap(c->pool_map, c->pool_map_len);
	c->pool_map = NULL;
	tcp_tls_free(c->tls);
	c->tls = NULL;
	c->reqs = NULL;
	c->rbuf = NULL;
	c->icd = NULL;
}

static void tcp_conn_timer_fired(struct reactor_timer *t)
{
	struct tcp_conn *c = container_of(t, struct tcp_conn, timer);

	if (c->state == TCP_CONN_WAIT_ICREQ)
		log_warn_rl("tcp", "%s: no ICReq within %llu ms, closing", c->peer,
			    (unsigned long long)c->icreq_timeout_ns / 1000000ull);
	else if (c->state == TCP_CONN_READY && !c->sq.connected)
		log_warn_rl("tcp", "%s: no Connect within %llu ms of ICResp, closing", c->peer,
			    (unsigned long long)c->connect_timeout_ns / 1000000ull);
	else if (c->draining && c->state < TCP_CONN_TERMINATING)
		log_warn("tcp", "%s qid %u: commands still active after shutdown grace period, closing",
			 c->peer, tcp_qid(c));
	tcp_conn_close(c);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

static void tcp_h2c_append(struct tcp_conn *c, struct tcp_req *req)
{
	req->h2c_next = NULL;
	req->h2c_prev = c->h2c_tail;
	if (c->h2c_tail)
		c->h2c_tail->h2c_next = req;
	else
		c->h2c_head = req;
	c->h2c_tail = req;
}

static void tcp_h2c_unlink(struct tcp_conn *c, struct tcp_req *req)
{
	if (req->h2c_prev)
		req->h2c_prev->h2c_next = req->h2c_next;
	else
		c->h2c_head = req->h2c_next;
	if (req->h2c_next)
		req->h2c_next->h2c_prev = req->h2c_prev;
	else
		c->h2c_tail = req->h2c_prev;
	req->h2c_prev = req->h2c_next = NULL;
}

static void tcp_req_set_state(struct tcp_req *req, enum tcp_req_state to)
{
	struct tcp_conn *c = req->conn;
	enum tcp_req_state from = req->state;

	if (from == to)
		return;
	if (from == TCP_REQ_FREE)
		c->active++;
	else if (from == TCP_REQ_EXECUTING)
		req->aer ? c->aers-- : c->executing--;
	else if (from == TCP_REQ_SENDING)
		c->sending--;
	else if (from == TCP_REQ_WAIT_BUF)
		c->buf_waiting--;
	else if (from == TCP_REQ_WAIT_H2C_DATA)
		tcp_h2c_unlink(c, req);
	if (to == TCP_REQ_WAIT_BUF)
		c->buf_waiting++;
	else if (to == TCP_REQ_WAIT_H2C_DATA)
		tcp_h2c_append(c, req);
	if (to == TCP_REQ_RECV_CAPSULE || to == TCP_REQ_WAIT_H2C_DATA)
		req->wait_tick = c->watch_ticks; /* the host owes us data from now on */

	if (to == TCP_REQ_EXECUTING) {
		req->aer ? c->aers++ : c->executing++;
	} else if (to == TCP_REQ_SENDING) {
		c->sending++;
	} else if (to == TCP_REQ_FREE) {
		/* Its last byte is out (or it was abandoned): only now may the
		 * namespace, and the memory its data came from, go away. */
		nvmf_req_release(&req->nreq);
		tcp_buf_cancel_wait(c->bufs, &req->buf_wait);
		if (req->buf) {
			req->nreq.data = NULL;
			tcp_buf_put(c->bufs, req->buf, req->buf_len);
			req->buf = NULL;
		}
		c->active--;
		req->next_free = c->free_head;
		c->free_head = req->index;
		/* A receive paused for lack of requests can continue. */
		if (c->rx_paused && c->state < TCP_CONN_TERMINATING)
			tcp_conn_kick_later(c);
	}
	req->state = to;
}

static bool tcp_req_available(const struct tcp_conn *c)
{
	return c->active < c->pool_limit;
}

static struct tcp_req *tcp_req_get(struct tcp_conn *c)
{
	struct tcp_req *req;

	if (!tcp_req_available(c))
		return NULL;
	tcp_conn_watch(c);
	if (c->free_head < TCP_POOL_SIZE) {
		req = &c->reqs[c->free_head];
		c->free_head = req->next_free;
		return req;
	}
	/* First use of this entry: its pages are touched only now. */
	req = &c->reqs[c->pool_inited];
	req->conn = c;
	req->index = c->pool_inited++;
	req->state = TCP_REQ_FREE;
	req->nreq.sq = &c->sq;
	req->buf_wait.wake = tcp_req_buf_granted;
	return req;
}

/* The request's own in-capsule data slot. */
static void *tcp_req_icd(const struct tcp_conn *c, const struct tcp_req *req)
{
	return c->icd + (size_t)req->index * TCP_INCAPSULE_MAX;
}

/* The reactor's pool granted this request a buffer; it continues from the
 * connection's deferred work, not from inside the put that granted it. */
static void tcp_req_buf_granted(struct tcp_buf_waiter *w)
{
	struct tcp_req *req = container_of(w, struct tcp_req, buf_wait);

	req->buf = w->buf;
	req->buf_len = w->len;
	tcp_conn_kick_later(req->conn);
}

/* Requests that are not waiting on anyone but the host (closing). */
static void tcp_req_release_idle(struct tcp_conn *c)
{
	/* The kernel may still write into the buffer of the request a receive
	 * in flight lands in (queued bytes are read even after shutdown): that
	 * one goes once the receive completed (close_progress runs again). */
	const struct tcp_req *landing = !c->recv_inflight ? NULL
					: c->recv_direct ? c->rx_req
					: c->recv_spec	 ? c->spec_req
							 : NULL;

	for (unsigned int i = 0; i < c->pool_inited; i++) {
		enum tcp_req_state s = c->reqs[i].state;

		if (&c->reqs[i] == landing)
			continue;
		if (s == TCP_REQ_RECV_CAPSULE || s == TCP_REQ_WAIT_BUF || s == TCP_REQ_WAIT_H2C_DATA)
			tcp_req_set_state(&c->reqs[i], TCP_REQ_FREE);
	}
}

/* ------------------------------------------------------------------ */
/* Send side                                                           */

static void tcp_tx_queue(struct tcp_conn *c, struct tcp_send_item *item)
{
	item->next = NULL;
	if (c->tx_tail)
		c->tx_tail->next = item;
	else
		c->tx_head = item;
	c->tx_tail = item;
	if (c->tls) {
		if (!c->tx_seal)
			c->tx_seal = item;
		if (!c->tx_unmarked)
			c->tx_unmarked = item;
	}
	tcp_conn_kick_later(c);
}

static void tcp_item_set(struct tcp_send_item *item, struct tcp_req *release, void *hdr,
			 uint32_t hdr_len, void *data, uint32_t data_len, void *ddgst)
{
	item->release = release;
	item->iovcnt = 0;
	item->iov[item->iovcnt++] = (struct iovec){ hdr, hdr_len };
	item->len = hdr_len;
	if (data_len) {
		item->iov[item->iovcnt++] = (struct iovec){ data, data_len };
		item->len += data_len;
		if (ddgst) {
			item->iov[item->iovcnt++] = (struct iovec){ ddgst, NVME_TCP_DIGEST_LEN };
			item->len += NVME_TCP_DIGEST_LEN;
		}
	}
}

static void tcp_send_done(struct reactor_completion *rc, int res, uint32_t cqe_flags);

/* Every item sealed so far gets the ciphertext total that carries its end. */
static void tcp_tls_mark(struct tcp_conn *c)
{
	uint64_t total = tcp_tls_tx_total(c->tls);

	for (struct tcp_send_item *it = c->tx_unmarked; it && it != c->tx_seal; it = it->next)
		it->tls_end = total;
	c->tx_unmarked = c->tx_seal;
}

/* Seal queued plaintext into records while there is room for ciphertext. */
static void tcp_tls_seal_queue(struct tcp_conn *c)
{
	while (c->tx_seal) {
		struct tcp_send_item *item = c->tx_seal;
		uint32_t off = c->tx_seal_off;
		unsigned int i = 0;
		size_t n;

		while (i < item->iovcnt && off >= item->iov[i].iov_len)
			off -= (uint32_t)item->iov[i++].iov_len;
		if (i < item->iovcnt) {
			n = tcp_tls_write(c->tls, (uint8_t *)item->iov[i].iov_base + off, item->iov[i].iov_len - off);
			if (n == 0)
				break;
			c->tx_seal_off += (uint32_t)n;
		}
		if (c->tx_seal_off >= item->len) {
			c->tx_seal = item->next;
			c->tx_seal_off = 0;
		}
		if (tcp_tls_gathered(c->tls) == 0)
			tcp_tls_mark(c);
	}
	if (!c->tx_seal && tcp_tls_seal(c->tls) == 0)
		tcp_tls_mark(c);
}

/* TLS: seal what is queued, send the ciphertext (handshake records too). */
static void tcp_tls_tx_flush(struct tcp_conn *c)
{
	struct io_uring_sqe *sqe;
	uint8_t *buf;
	size_t len;

	if (c->state >= TCP_CONN_CLOSING)
		return;
	if (!c->send_inflight)
		tcp_tls_tx_compact(c->tls);
	if (tcp_tls_established(c->tls) && !tcp_tls_broken(c->tls))
		tcp_tls_seal_queue(c);
	if (c->send_inflight || !(len = tcp_tls_tx_pending(c->tls, &buf)))
		return;
	sqe = reactor_sqe(c->reactor, &c->send_rc);
	io_uring_prep_send(sqe, c->fd, buf, len, MSG_NOSIGNAL);
	c->send_inflight = true;
	tcp_conn_watch(c);
}

static void tcp_tx_flush(struct tcp_conn *c)
{
	struct io_uring_sqe *sqe;
	uint32_t skip = c->tx_offset;
	int n = 0;

	if (c->tls) {
		tcp_tls_tx_flush(c);
		return;
	}
	if (c->send_inflight || !c->tx_head || c->state >= TCP_CONN_CLOSING)
		return;
	for (struct tcp_send_item *item = c->tx_head; item; item = item->next) {
		if (n + item->iovcnt > TCP_MAX_IOV)
			break;
		for (unsigned int i = 0; i < item->iovcnt; i++) {
			if (skip >= item->iov[i].iov_len) {
				skip -= item->iov[i].iov_len;
				continue;
			}
			c->iov[n].iov_base = (uint8_t *)item->iov[i].iov_base + skip;
			c->iov[n].iov_len = item->iov[i].iov_len - skip;
			skip = 0;
			n++;
		}
	}
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = c->iov;
	c->msg.msg_iovlen = (size_t)n;
	sqe = reactor_sqe(c->reactor, &c->send_rc);
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	c->send_inflight = true;
	tcp_conn_watch(c);
}

/*
 * Bytes have been waiting to go out, or a command's data to come in: has the
 * peer made progress? Nothing is timed per I/O: sends are counted and waits
 * are stamped with the number of watchdog periods, so a peer is found stalled
 * after one to two periods, a slow backend or a wait for a buffer never
 * counts against it.
 */
static void tcp_conn_watchdog_fired(struct reactor_timer *t)
{
	struct tcp_conn *c = container_of(t, struct tcp_conn, watchdog);

	if (c->state >= TCP_CONN_CLOSING)
		return;
	c->watch_ticks++;
	if (c->tx_head && c->tx_pending_checked && c->tx_sends == c->tx_sends_checked) {
		log_warn_rl("tcp", "%s qid %u: peer has not read anything for %llu ms, closing", c->peer,
			    tcp_qid(c), c->stall_ns / 1000000ull);
		tcp_conn_close(c);
		return;
	}
	for (unsigned int i = 0; i < c->pool_inited; i++) {
		const struct tcp_req *req = &c->reqs[i];

		if ((req->state == TCP_REQ_RECV_CAPSULE || req->state == TCP_REQ_WAIT_H2C_DATA) &&
		    c->watch_ticks - req->wait_tick >= 2) {
			log_warn_rl("tcp", "%s qid %u: cid %u: data not received within %llu ms, closing", c->peer,
				    tcp_qid(c), le16(req->nreq.cmd.cid), c->stall_ns / 1000000ull);
			tcp_conn_close(c);
			return;
		}
	}
	if (c->tx_head || c->active > c->aers)
		tcp_conn_watch(c);
}

/* Something now waits on the peer: make sure the watchdog looks. */
static void tcp_conn_watch(struct tcp_conn *c)
{
	if (c->stall_ns && !c->watchdog.heap_index) {
		c->tx_sends_checked = c->tx_sends;
		c->tx_pending_checked = c->tx_head != NULL;
		reactor_timer_arm(c->reactor, &c->watchdog, c->stall_ns);
	}
}

/* TLS: items whose last byte's ciphertext has been sent are done. */
static void tcp_tls_tx_advance(struct tcp_conn *c, uint32_t bytes)
{
	tcp_tls_tx_sent(c->tls, bytes);
	c->tls_sent += bytes;
	while (c->tx_head && c->tx_head != c->tx_unmarked && c->tx_head->tls_end <= c->tls_sent) {
		struct tcp_send_item *item = c->tx_head;

		c->tx_head = item->next;
		if (!c->tx_head)
			c->tx_tail = NULL;
		if (item->release)
			tcp_req_set_state(item->release, TCP_REQ_FREE);
	}
}

/* Account res bytes as sent; finished items release their requests. */
static void tcp_tx_advance(struct tcp_conn *c, uint32_t bytes)
{
	if (c->tls) {
		tcp_tls_tx_advance(c, bytes);
		return;
	}
	while (bytes && c->tx_head) {
		struct tcp_send_item *item = c->tx_head;
		uint32_t left = item->len - c->tx_offset;

		if (bytes < left) {
			c->tx_offset += bytes;
			return;
		}
		bytes -= left;
		c->tx_offset = 0;
		c->tx_head = item->next;
		if (!c->tx_head)
			c->tx_tail = NULL;
		if (item->release)
			tcp_req_set_state(item->release, TCP_REQ_FREE);
	}
}

/* Closing: nothing queued will be sent any more. */
static void tcp_tx_drop(struct tcp_conn *c)
{
	while (c->tx_head) {
		struct tcp_send_item *item = c->tx_head;

		c->tx_head = item->next;
		if (item->release)
			tcp_req_set_state(item->release, TCP_REQ_FREE);
	}
	c->tx_tail = NULL;
	c->tx_offset = 0;
	c->tx_seal = c->tx_unmarked = NULL;
	c->tx_seal_off = 0;
}

static size_t tcp_tls_tx_left(struct tcp_conn *c)
{
	uint8_t *buf;

	return c->tls ? tcp_tls_tx_pending(c->tls, &buf) : 0;
}

static bool tcp_conn_drained(const struct tcp_conn *c)
{
	/* An outstanding AER is not work in progress; it is dropped at close. */
	return c->active == c->aers && !c->tx_head;
}

static void tcp_send_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct tcp_conn *c = container_of(rc, struct tcp_conn, send_rc);

	c->send_inflight = false;
	if (c->state >= TCP_CONN_CLOSING) {
		if (res > 0)
			tcp_tx_advance(c, (uint32_t)res);
		tcp_conn_close_progress(c);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		tcp_tx_flush(c);
		return;
	}
	if (res <= 0) {
		if (res != -EPIPE && res != -ECONNRESET)
			log_warn_rl("tcp", "%s qid %u: send failed: %s", c->peer, tcp_qid(c),
				 res ? strerror(-res) : "no progress");
		tcp_conn_close(c);
		return;
	}
	c->tx_sends++;
	tcp_tx_advance(c, (uint32_t)res);
	if (c->state == TCP_CONN_TERMINATING && !c->tx_head && !tcp_tls_tx_left(c)) {
		tcp_conn_close(c);
		return;
	}
	if (c->tls_rx_blocked && c->state < TCP_CONN_TERMINATING) {
		/* Room for ciphertext again: decrypt what was held back. */
		c->tls_rx_blocked = false;
		tcp_rx_run(c);
		if (c->state >= TCP_CONN_CLOSING) {
			tcp_conn_close_progress(c);
			return;
		}
		tcp_rx_arm(c);
	}
	if (c->draining && !atomic_load(&c->admin_hold) && tcp_conn_drained(c)) {
		tcp_conn_close(c);
		return;
	}
	tcp_tx_flush(c);
}

/*
 * Deferred per-iteration work: resume a paused receive, flush the send
 * queue, or finish a close that a completion made possible (deferred so the
 * pool is never freed under a caller that still holds one of its requests).
 */
static void tcp_conn_kick(struct reactor_deferred *d)
{
	struct tcp_conn *c = container_of(d, struct tcp_conn, kick);

	if (c->state < TCP_CONN_TERMINATING && c->buf_waiting)
		tcp_reqs_resume_granted(c);
	if (c->state == TCP_CONN_CLOSING) {
		tcp_conn_close_progress(c);
	} else if (c->state < TCP_CONN_CLOSING) {
		if (c->rx_paused && c->state < TCP_CONN_TERMINATING && !c->draining &&
		    tcp_req_available(c)) {
			c->rx_paused = false;
			tcp_rx_run(c);
			tcp_rx_arm(c);
		}
		if (c->state == TCP_CONN_CLOSING)
			tcp_conn_close_progress(c);
		else
			tcp_tx_flush(c);
	}
	tcp_conn_put(c);
}

/* ------------------------------------------------------------------ */
/* Errors and closing                                                  */

/*
 * Fatal protocol error: tell the host why with a C2HTermReq carrying the
 * offending header, stop reading, and close once it is sent (or soon).
 */
static int tcp_conn_fail(struct tcp_conn *c, uint16_t fes, uint32_t fei, const char *why)
{
	uint32_t copy = c->hdr_have < NVME_TCP_TERM_MAX_COPY ? c->hdr_have : NVME_TCP_TERM_MAX_COPY;
	const struct nvme_tcp_hdr *h = (const void *)c->hdr;
	uint32_t len;

	if (c->state >= TCP_CONN_TERMINATING)
		return -EPROTO;
	log_error_rl("tcp", "%s qid %u: %s (PDU type %#x, FES %#x, FEI %u); terminating connection", c->peer,
		  tcp_qid(c), why, c->hdr_have ? h->type : 0xff, fes, fei);
	len = nvme_tcp_build_term(c->term_pdu, NVME_TCP_C2H_TERM, fes, fei, c->hdr, copy);
	tcp_item_set(&c->term_item, NULL, c->term_pdu, len, NULL, 0, NULL);
	c->state = TCP_CONN_TERMINATING;
	c->rx_state = TCP_RX_STOPPED;
	tcp_tx_queue(c, &c->term_item);
	reactor_timer_arm(c->reactor, &c->timer, TCP_TERM_LINGER_NS);
	return -EPROTO;
}

static void tcp_conn_close(struct tcp_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->state >= TCP_CONN_CLOSING)
		return;
	log_info("tcp", "%s qid %u: closing connection", c->peer, tcp_qid(c));
	c->state = TCP_CONN_CLOSING;
	c->rx_state = TCP_RX_STOPPED;
	reactor_timer_cancel(c->reactor, &c->timer);
	reactor_timer_cancel(c->reactor, &c->watchdog);
	/* Wake a recv/sendmsg parked in the kernel; they complete with 0 / an error. */
	shutdown(c->fd, SHUT_RDWR);
	if (c->recv_inflight || c->send_inflight) {
		sqe = reactor_sqe(c->reactor, NULL);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
	}
	tcp_conn_close_progress(c);
}

static void tcp_conn_close_progress(struct tcp_conn *c)
{
	void (*done)(void *) = NULL;
	void *done_arg = NULL;
	uint16_t qid;

	if (c->state != TCP_CONN_CLOSING || c->in_rx)
		return;
	if (!c->send_inflight)
		tcp_tx_drop(c);
	tcp_req_release_idle(c);
	if (c->recv_inflight || c->send_inflight || c->executing)
		return;

	c->state = TCP_CONN_CLOSED;
	qid = tcp_qid(c);
	/* Detach from the controller; an outstanding AER is dropped there
	 * (complete() on a closed connection just frees the request). */
	c->sq_closed = true;
	nvmf_sq_closed(&c->sq);
	if (c->aers)
		log_debug("tcp", "%s qid %u: %u AER(s) abandoned at close", c->peer, qid, c->aers);
	close(c->fd);
	c->fd = -1;
	tcp_conn_free_resources(c);
	log_info("tcp", "%s qid %u: connection closed", c->peer, qid);

	pthread_mutex_lock(&g.lock);
	if (c->gprev)
		c->gprev->gnext = c->gnext;
	else
		g.conns = c->gnext;
	if (c->gnext)
		c->gnext->gprev = c->gprev;
	g.nconns--;
	if (atomic_exchange(&c->admin_hold, false))
		g.admin_holding--;
	tcp_release_admins_locked();
	done = tcp_take_done_locked(&done_arg);
	pthread_mutex_unlock(&g.lock);
	tcp_conn_put(c);
	if (done)
		done(done_arg);
}

static void tcp_conn_disconnect_cb(void *arg)
{
	struct tcp_conn *c = arg;

	if (c->state < TCP_CONN_CLOSING)
		tcp_conn_close(c);
	tcp_conn_put(c);
}

/* Graceful: finish what is in flight, read no new command, then close. */
static void tcp_conn_drain_cb(void *arg)
{
	struct tcp_conn *c = arg;

	if (c->state < TCP_CONN_TERMINATING && !c->draining) {
		c->draining = true;
		if (c->sq.connected && c->sq.qid == 0) {
			pthread_mutex_lock(&g.lock);
			if (g.nconns - g.admin_holding > 1) {
				atomic_store(&c->admin_hold, true);
				g.admin_holding++;
			}
			pthread_mutex_unlock(&g.lock);
		}
		if (!atomic_load(&c->admin_hold) && tcp_conn_drained(c) && !c->send_inflight)
			tcp_conn_close(c);
		else
			reactor_timer_arm(c->reactor, &c->timer, TCP_SHUTDOWN_GRACE_MS * 1000000ull);
	}
	tcp_conn_put(c);
}

/* The I/O queues are gone: a held admin queue may close once idle. */
static void tcp_conn_admin_release_cb(void *arg)
{
	struct tcp_conn *c = arg;

	if (c->state < TCP_CONN_TERMINATING && tcp_conn_drained(c) && !c->send_inflight)
		tcp_conn_close(c);
	tcp_conn_put(c);
}

/* Caller holds g.lock. */
static void tcp_conn_post_locked(struct tcp_conn *c, void (*fn)(void *))
{
	tcp_conn_get(c);
	if (reactor_post(c->reactor, fn, c) < 0) {
		log_error("tcp", "%s: cannot reach the connection's reactor", c->peer);
		tcp_conn_put(c);
	}
}

/* Caller holds g.lock: once only held admin queues remain, let them go. */
static void tcp_release_admins_locked(void)
{
	if (!g.shutting_down || !g.admin_holding || g.nconns != g.admin_holding)
		return;
	for (struct tcp_conn *c = g.conns; c; c = c->gnext) {
		if (atomic_exchange(&c->admin_hold, false)) {
			g.admin_holding--;
			tcp_conn_post_locked(c, tcp_conn_admin_release_cb);
		}
	}
}

static void tcp_sq_disconnect(struct nvmf_sq *sq)
{
	struct tcp_conn *c = container_of(sq, struct tcp_conn, sq);

	/* Always asynchronous, even on the owner: callers may be deep in the
	 * command layer holding state this connection's close would touch. */
	tcp_conn_get(c);
	if (reactor_post(c->reactor, tcp_conn_disconnect_cb, c) < 0) {
		log_error("tcp", "%s qid %u: disconnect could not be queued", c->peer, tcp_qid(c));
		tcp_conn_put(c);
	}
}

/* ------------------------------------------------------------------ */
/* Command completion (called by the command layer on this reactor)    */

static void tcp_sq_complete(struct nvmf_req *nreq)
{
	struct tcp_req *req = container_of(nreq, struct tcp_req, nreq);
	struct tcp_conn *c = req->conn;
	bool c2h = nreq->dir == NVMF_DATA_C2H && nreq->status == 0 && nreq->c2h_len;
	bool skip_rsp = false;
	uint32_t hlen;

	if (req->state == TCP_REQ_FREE || req->state == TCP_REQ_SENDING) {
		log_error("tcp", "%s qid %u: cid %u completed twice", c->peer, tcp_qid(c), le16(nreq->cmd.cid));
		return;
	}
	if (c->state >= TCP_CONN_TERMINATING) {
		tcp_req_set_state(req, TCP_REQ_FREE);
		if (c->state == TCP_CONN_CLOSING)
			tcp_conn_kick_later(c);
		return;
	}
	if (c->sq.connected && c->pool_limit == 1) {
		/* This is the Connect that bound the queue. */
		reactor_timer_cancel(c->reactor, &c->timer);
		tcp_conn_size_pool(c);
	}

	if (c2h) {
		struct nvme_tcp_data_pdu *d = &req->c2h_pdu.data;
		uint8_t flags = NVME_TCP_F_DATA_LAST;

		/* SUCCESS replaces the CapsuleResp when there is no status and
		 * no result to tell. Without SQ flow control the host misses
		 * nothing. With it, the host learns SQHD only from CapsuleResps,
		 * so one still goes out after fewer than sqsize / 2 SUCCESSes: a
		 * host that believes its SQ full (n outstanding, u unreported,
		 * n + u >= sqsize - 1, u < sqsize / 2) still has at least
		 * sqsize / 2 commands to complete, enough to bring that one. */
		if (nreq->rsp.dw0 == 0 && nreq->rsp.dw1 == 0) {
			if (c->sq.sqflow_disabled) {
				skip_rsp = true;
			} else if (c->c2h_success && c->sqhd_unreported + 1u < c->sq.sqsize / 2u) {
				c->sqhd_unreported++;
				skip_rsp = true;
			}
			if (skip_rsp)
				flags |= NVME_TCP_F_DATA_SUCCESS;
		}
		memset(d, 0, sizeof(*d));
		hlen = nvme_tcp_fill_hdr(&d->hdr, NVME_TCP_C2H_DATA, flags, &c->params, nreq->c2h_len);
		d->cccid = nreq->cmd.cid;
		d->datao = 0;
		d->datal = to_le32(nreq->c2h_len);
		if (c->params.hdgst)
			nvme_tcp_set_hdgst(d, sizeof(*d));
		if (c->params.ddgst)
			put_le32(req->ddgst, crc32c(nreq->c2h_data, nreq->c2h_len));
		tcp_item_set(&req->c2h_item, skip_rsp ? req : NULL, d, hlen, nreq->c2h_data, nreq->c2h_len,
			     c->params.ddgst ? req->ddgst : NULL);
		tcp_tx_queue(c, &req->c2h_item);
	}
	if (!skip_rsp) {
		struct nvme_tcp_rsp_pdu *r = &req->rsp_pdu.rsp;

		c->sqhd_unreported = 0;

		hlen = nvme_tcp_fill_hdr(&r->hdr, NVME_TCP_RSP, 0, &c->params, 0);
		r->cqe = nreq->rsp;
		if (c->params.hdgst)
			nvme_tcp_set_hdgst(r, sizeof(*r));
		tcp_item_set(&req->rsp_item, req, r, hlen, NULL, 0, NULL);
		tcp_tx_queue(c, &req->rsp_item);
	}
	tcp_req_set_state(req, TCP_REQ_SENDING);
}

/* ------------------------------------------------------------------ */
/* Receive side                                                        */

static void tcp_req_execute(struct tcp_req *req)
{
	tcp_req_set_state(req, TCP_REQ_EXECUTING);
	nvmf_req_execute(&req->nreq);
}

static void tcp_req_send_r2t(struct tcp_conn *c, struct tcp_req *req)
{
	struct nvme_tcp_r2t_pdu *r = &req->r2t_pdu.r2t;
	uint32_t hlen;

	/* One R2T for the whole transfer: the host allows one outstanding
	 * (MAXR2T 0) and NVMF_MAX_XFER fits MAXH2CDATA. */
	memset(r, 0, sizeof(*r));
	hlen = nvme_tcp_fill_hdr(&r->hdr, NVME_TCP_R2T, 0, &c->params, 0);
	r->cccid = req->nreq.cmd.cid;
	r->ttag = to_le16(req->index);
	r->r2to = 0;
	r->r2tl = to_le32(req->nreq.data_len);
	if (c->params.hdgst)
		nvme_tcp_set_hdgst(r, sizeof(*r));
	req->h2c_received = 0;
	tcp_item_set(&req->r2t_item, NULL, r, hlen, NULL, 0, NULL);
	tcp_req_set_state(req, TCP_REQ_WAIT_H2C_DATA);
	tcp_tx_queue(c, &req->r2t_item);
}

/* Parsed, with somewhere to put its data: fetch that data or execute. */
static void tcp_req_start(struct tcp_conn *c, struct tcp_req *req)
{
	struct nvmf_req *nreq = &req->nreq;

	if (req->buf)
		nreq->data = req->buf;
	if (nreq->dir == NVMF_DATA_H2C && !nreq->in_capsule && nreq->data_len) {
		tcp_req_send_r2t(c, req);
		return;
	}
	tcp_req_execute(req);
}

/* The whole capsule (SQE + in-capsule data) is in: parse and go. */
static void tcp_capsule_ready(struct tcp_conn *c, struct tcp_req *req)
{
	struct nvmf_req *nreq = &req->nreq;
	bool in_rbuf = req->data_in_rbuf;
	uint16_t status;

	req->data_in_rbuf = false;
	if (req->sgl_status) {
		log_debug("tcp", "%s qid %u: cid %u opcode %#x: bad SGL, status %#x", c->peer, tcp_qid(c),
			  le16(nreq->cmd.cid), nreq->cmd.opcode, req->sgl_status);
		nvmf_req_complete(nreq, req->sgl_status);
		return;
	}
	status = nvmf_req_parse(nreq);
	if (status) {
		nvmf_req_complete(nreq, status);
		return;
	}
	/* Data parsed where it lay in rbuf: a Write that the backend copies
	 * before execute returns (RAM) takes it from there, the one copy it
	 * needs; anything else gets its own copy before rbuf is reused. */
	if (in_rbuf && !nvmf_req_data_used_inline(nreq)) {
		memcpy(tcp_req_icd(c, req), nreq->data, nreq->data_len);
		nreq->data = tcp_req_icd(c, req);
	}
	/* Only an AER on the admin queue may stay outstanding indefinitely. */
	req->aer = c->sq.connected && c->sq.qid == 0 && nreq->cmd.opcode == NVME_ADMIN_ASYNC_EVENT;
	/* Data up to the in-capsule size (Connect, Identify, small reads) fits
	 * the request's own slot; only larger transfers draw on the pool. */
	if (nreq->dir != NVMF_DATA_NONE && !nreq->in_capsule) {
		if (nreq->data_len <= TCP_INCAPSULE_MAX) {
			nreq->data = tcp_req_icd(c, req);
		} else if ((req->buf = tcp_buf_get(c->bufs, nreq->data_len))) {
			req->buf_len = nreq->data_len;
		} else {
			tcp_req_set_state(req, TCP_REQ_WAIT_BUF);
			tcp_buf_wait(c->bufs, &req->buf_wait, nreq->data_len);
			return;
		}
	}
	tcp_req_start(c, req);
}

/* Resume requests whose buffer was granted while they waited. */
static void tcp_reqs_resume_granted(struct tcp_conn *c)
{
	for (unsigned int i = 0; i < c->pool_inited && c->buf_waiting; i++) {
		struct tcp_req *req = &c->reqs[i];

		if (req->state == TCP_REQ_WAIT_BUF && req->buf)
			tcp_req_start(c, req);
	}
}

/*
 * Fill a fresh request from the CapsuleCmd header in c->hdr. SGL problems
 * are NVMe errors for this command only (sent once any in-capsule data was
 * consumed), not transport errors.
 */
static void tcp_req_init_from_capsule(struct tcp_conn *c, struct tcp_req *req)
{
	const struct nvme_tcp_cmd_pdu *pdu = (const void *)c->hdr;
	struct nvmf_req *nreq = &req->nreq;
	const struct nvme_sgl_desc *sgl;
	uint32_t icdata = c->pdu_data_len;
	uint32_t len;

	memcpy(&nreq->cmd, &pdu->sqe, sizeof(nreq->cmd));
	memset(&nreq->rsp, 0, sizeof(nreq->rsp));
	nreq->status = 0;
	nreq->data_len = 0;
	nreq->in_capsule = false;
	nreq->data = icdata ? tcp_req_icd(c, req) : NULL;
	nreq->dir = NVMF_DATA_NONE;
	nreq->execute = NULL;
	nreq->ns = NULL;
	nreq->c2h_data = NULL;
	nreq->c2h_len = 0;
	nreq->start_ns = reactor_batch_start_ns(c->reactor);
	nreq->transport_ctx = req;
	req->aer = false;
	req->data_in_rbuf = false;
	req->sgl_status = 0;
	req->h2c_received = 0;

	sgl = &nreq->cmd.sgl;
	len = le32(sgl->length);
	switch (sgl->type) {
	case NVME_SGL_DATA_BLOCK_OFFSET:
		if (le64(sgl->addr) != 0)
			req->sgl_status = NVME_SC_SGL_INVALID_OFFSET | NVME_STATUS_DNR;
		else if (len != icdata)
			req->sgl_status = NVME_SC_SGL_INVALID_DATA_LEN | NVME_STATUS_DNR;
		nreq->in_capsule = icdata != 0;
		nreq->data_len = len;
		break;
	case NVME_SGL_TRANSPORT_DATA_BLOCK:
		if (len > NVMF_MAX_XFER || icdata)
			req->sgl_status = NVME_SC_SGL_INVALID_DATA_LEN | NVME_STATUS_DNR;
		nreq->data_len = len;
		break;
	default:
		/* A zero-length descriptor of any type just means "no data". */
		if (len || icdata)
			req->sgl_status = NVME_SC_SGL_INVALID_TYPE | NVME_STATUS_DNR;
		break;
	}
	if (req->sgl_status)
		nreq->data_len = 0;
	tcp_req_set_state(req, TCP_REQ_RECV_CAPSULE);
}

static int tcp_rx_h2c_data(struct tcp_conn *c)
{
	const struct nvme_tcp_data_pdu *d = (const void *)c->hdr;
	uint16_t ttag = le16(d->ttag);
	uint32_t datao = le32(d->datao);
	uint32_t datal = le32(d->datal);
	struct tcp_req *req;

	if (ttag >= c->pool_inited || c->reqs[ttag].state != TCP_REQ_WAIT_H2C_DATA)
		return tcp_conn_fail(c, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_data_pdu, ttag),
				     "H2CData with unknown TTAG");
	req = &c->reqs[ttag];
	if (req->nreq.cmd.cid != d->cccid)
		return tcp_conn_fail(c, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_data_pdu, cccid),
				     "H2CData CCCID does not match the TTAG's command");
	if (datal != c->pdu_data_len)
		return tcp_conn_fail(c, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_data_pdu, datal),
				     "H2CData DATAL disagrees with PLEN");
	if (datal > c->params.maxh2cdata)
		return tcp_conn_fail(c, NVME_TCP_FES_DATA_LIMIT_EXCEEDED,
				     offsetof(struct nvme_tcp_data_pdu, datal), "H2CData DATAL above MAXH2CDATA");
	if (datao != req->h2c_received || datal > req->nreq.data_len - datao)
		return tcp_conn_fail(c, NVME_TCP_FES_DATA_OUT_OF_RANGE,
				     offsetof(struct nvme_tcp_data_pdu, datao), "H2CData outside the R2T window");
	c->rx_req = req;
	c->rx_is_h2c = true;
	c->rx_dst = (uint8_t *)req->nreq.data + datao;
	c->rx_have = 0;
	c->rx_need = datal;
	c->rx_state = TCP_RX_DATA;
	return 0;
}

/* The full header (with digest and padding) is in c->hdr. */
static int tcp_rx_header(struct tcp_conn *c)
{
	const struct nvme_tcp_hdr *h = (const void *)c->hdr;

	if (c->params.hdgst && nvme_tcp_type_has_hdgst(h->type) && nvme_tcp_verify_hdgst(c->hdr, h->hlen))
		return tcp_conn_fail(c, NVME_TCP_FES_HDR_DIGEST_ERR, h->hlen, "header digest mismatch");

	switch (h->type) {
	case NVME_TCP_ICREQ: {
		struct nvme_tcp_check err;

		if (nvme_tcp_accept_icreq((const void *)c->hdr, NVMF_MAX_XFER, &c->icresp, &c->params, &err))
			return tcp_conn_fail(c, err.fes, err.fei, "ICReq rejected");
		tcp_item_set(&c->icresp_item, NULL, &c->icresp, sizeof(c->icresp), NULL, 0, NULL);
		tcp_tx_queue(c, &c->icresp_item);
		c->state = TCP_CONN_READY;
		/* Digests are over bytes that must not change before they are sent. */
		c->sq.c2h_stable = c->params.ddgst;
		if (c->connect_timeout_ns)
			reactor_timer_arm(c->reactor, &c->timer, c->connect_timeout_ns);
		else
			reactor_timer_cancel(c->reactor, &c->timer);
		log_debug("tcp", "%s: ICReq accepted (hdgst %d ddgst %d)", c->peer, c->params.hdgst,
			  c->params.ddgst);
		c->rx_state = TCP_RX_HDR_COMMON;
		return 0;
	}
	case NVME_TCP_H2C_TERM: {
		const struct nvme_tcp_term_pdu *t = (const void *)c->hdr;

		log_warn_rl("tcp", "%s qid %u: host terminated the connection (FES %#x)", c->peer, tcp_qid(c),
			 le16(t->fes));
		tcp_conn_close(c);
		return -ECONNABORTED;
	}
	case NVME_TCP_CMD: {
		struct tcp_req *req = tcp_req_get(c);

		/* tcp_rx_process checked that one is free before consuming the header. */
		if (!req)
			return tcp_conn_fail(c, NVME_TCP_FES_PDU_SEQ_ERR, 0, "no free request");
		tcp_req_init_from_capsule(c, req);
		if (c->pdu_data_len) {
			c->rx_req = req;
			c->rx_is_h2c = false;
			c->rx_dst = req->nreq.data;
			c->rx_have = 0;
			c->rx_need = c->pdu_data_len;
			c->rx_state = TCP_RX_DATA;
			return 0;
		}
		c->rx_state = TCP_RX_HDR_COMMON;
		tcp_capsule_ready(c, req);
		return 0;
	}
	case NVME_TCP_H2C_DATA:
		return tcp_rx_h2c_data(c);
	default:
		/* check_common only lets the types above through. */
		return tcp_conn_fail(c, NVME_TCP_FES_INVALID_PDU_HDR, 0, "unexpected PDU type");
	}
}

/* Payload (and its digest) complete. */
static int tcp_rx_payload_done(struct tcp_conn *c)
{
	struct tcp_req *req = c->rx_req;

	if (c->params.ddgst && get_le32(c->rx_ddgst) != crc32c(c->rx_dst, c->rx_need)) {
		/* As nvmet: a corrupted write payload is fatal for the connection;
		 * TCP 1.0 has no TermReq status for it, so just close. */
		log_error_rl("tcp", "%s qid %u: cid %u: data digest mismatch, closing connection", c->peer,
			  tcp_qid(c), le16(req->nreq.cmd.cid));
		tcp_conn_close(c);
		return -EBADMSG;
	}
	c->rx_state = TCP_RX_HDR_COMMON;
	c->rx_req = NULL;
	if (!c->rx_is_h2c) {
		tcp_capsule_ready(c, req);
		return 0;
	}
	req->h2c_received += c->rx_need;
	if (req->h2c_received == req->nreq.data_len)
		tcp_req_execute(req);
	return 0;
}

static uint32_t tcp_rx_take(struct tcp_conn *c, void *dst, uint32_t want)
{
	uint32_t avail = c->rtail - c->rhead;
	uint32_t n = want < avail ? want : avail;

	memcpy(dst, c->rbuf + c->rhead, n);
	c->rhead += n;
	return n;
}

/*
 * In-capsule Write data that is wholly in rbuf, with its digest: it can be
 * parsed and executed where it lies, since rbuf is neither refilled nor
 * compacted before tcp_rx_process returns, and the capsule is complete (so
 * it executes) within this call. tcp_capsule_ready copies it out unless
 * the backend consumes it inline. Only I/O queue Writes: their parse never
 * looks at the data.
 */
static bool tcp_rx_data_in_place(const struct tcp_conn *c)
{
	const struct tcp_req *req = c->rx_req;

	return !c->rx_is_h2c && tcp_qid(c) != 0 && req->nreq.cmd.opcode == NVME_CMD_WRITE && !req->sgl_status &&
	       c->rtail - c->rhead >= c->rx_need + (c->params.ddgst ? NVME_TCP_DIGEST_LEN : 0);
}

/*
 * Advance the receive state machine over everything buffered. Returns 0
 * when more bytes are needed (or receiving is paused), negative when the
 * connection failed (already handled).
 */
static int tcp_rx_process(struct tcp_conn *c)
{
	for (;;) {
		switch (c->rx_state) {
		case TCP_RX_HDR_COMMON: {
			const struct nvme_tcp_hdr *h = (const void *)c->hdr;
			struct nvme_tcp_check err;
			uint32_t max_data;
			int ret;

			if (c->hdr_have == 0) {
				if (c->rhead == c->rtail)
					return 0;
				/* Hold back a new command while draining or while the
				 * pool is empty (requests wait for their send). */
				if (c->rbuf[c->rhead] == NVME_TCP_CMD &&
				    (c->draining || !tcp_req_available(c))) {
					if (!c->draining && c->sending == 0) {
						c->hdr_have = tcp_rx_take(c, c->hdr, sizeof(*h));
						return tcp_conn_fail(c, NVME_TCP_FES_PDU_SEQ_ERR, 0,
								     "host exceeded the queue depth");
					}
					c->rx_paused = true;
					return 0;
				}
			}
			c->hdr_have += tcp_rx_take(c, c->hdr + c->hdr_have, sizeof(*h) - c->hdr_have);
			if (c->hdr_have < sizeof(*h))
				return 0;
			max_data = h->type == NVME_TCP_H2C_DATA ? c->params.maxh2cdata : TCP_INCAPSULE_MAX;
			ret = nvme_tcp_check_common(h, NVME_TCP_ROLE_TARGET, c->state != TCP_CONN_WAIT_ICREQ,
						    &c->params, max_data, &c->hdr_need, &c->pdu_data_len, &err);
			if (ret)
				return tcp_conn_fail(c, err.fes, err.fei, "invalid PDU header");
			if (c->hdr_need > TCP_HDR_BUF)
				return tcp_conn_fail(c, NVME_TCP_FES_INVALID_PDU_HDR,
						     offsetof(struct nvme_tcp_hdr, pdo), "header too long");
			c->rx_state = TCP_RX_HDR_REST;
			break;
		}
		case TCP_RX_HDR_REST: {
			int ret;

			c->hdr_have += tcp_rx_take(c, c->hdr + c->hdr_have, c->hdr_need - c->hdr_have);
			if (c->hdr_have < c->hdr_need)
				return 0;
			ret = tcp_rx_header(c);
			c->hdr_have = 0;
			if (ret)
				return ret;
			break;
		}
		case TCP_RX_DATA:
			if (c->spec_have) {
				/* tcp_rx_spec_landed matched this header: its payload is in place. */
				if (c->rx_req != c->spec_req || c->rx_have || c->spec_have > c->rx_need)
					return tcp_conn_fail(c, NVME_TCP_FES_PDU_SEQ_ERR, 0, "H2CData placement lost");
				c->rx_have = c->spec_have;
				c->spec_have = 0;
				c->spec_req = NULL;
			}
			if (c->rx_have == 0 && tcp_rx_data_in_place(c)) {
				c->rx_dst = c->rbuf + c->rhead;
				c->rx_req->nreq.data = c->rx_dst;
				c->rx_req->data_in_rbuf = true;
				c->rhead += c->rx_need;
				c->rx_have = c->rx_need;
			}
			c->rx_have += tcp_rx_take(c, c->rx_dst + c->rx_have, c->rx_need - c->rx_have);
			if (c->rx_have < c->rx_need)
				return 0;
			if (c->params.ddgst) {
				c->rx_ddgst_have = 0;
				c->rx_state = TCP_RX_DDGST;
				break;
			}
			if (tcp_rx_payload_done(c))
				return -EPROTO;
			break;
		case TCP_RX_DDGST:
			c->rx_ddgst_have += tcp_rx_take(c, c->rx_ddgst + c->rx_ddgst_have,
							NVME_TCP_DIGEST_LEN - c->rx_ddgst_have);
			if (c->rx_ddgst_have < NVME_TCP_DIGEST_LEN)
				return 0;
			if (tcp_rx_payload_done(c))
				return -EPROTO;
			break;
		case TCP_RX_STOPPED:
			return 0;
		}
	}
}

/* ------------------------------------------------------------------ */
/* TLS                                                                 */

static int tcp_tls_key_for(void *arg, const struct nvme_tls_identity *id, struct nvme_tls_key *key,
			   unsigned int *kdf)
{
	struct tcp_conn *c = arg;

	return nvmf_port_tls_key_lookup(c->port, id->hostnqn, id->subnqn, key, kdf);
}

/*
 * The first byte tells a TLS record (handshake, 0x16) from an ICReq (PDU
 * type 0): each is accepted only where the port's treq/tsas allow it.
 */
static int tcp_tls_decide(struct tcp_conn *c)
{
	uint8_t first = c->rbuf[c->rhead];
	int ret;

	c->tls_decided = true;
	if (first != 0x16) {
		if (!c->port_tls_required)
			return 0;
		log_warn_rl("tcp", "%s: refused: plain NVMe/TCP (first byte %#x) on a port that requires TLS",
			    c->peer, first);
		return -EACCES;
	}
	if (!c->port_tls) {
		log_warn_rl("tcp", "%s: refused: TLS handshake on a port without TLS", c->peer);
		return -EPROTO;
	}
	ret = tcp_tls_new(&c->tls, tcp_tls_key_for, c, c->peer);
	if (ret) {
		log_error_rl("tcp", "%s: cannot set up TLS: %s", c->peer, strerror(-ret));
		return ret;
	}
	ret = tcp_tls_rx_push(c->tls, c->rbuf + c->rhead, c->rtail - c->rhead);
	c->rhead = c->rtail = 0;
	if (ret)
		log_warn_rl("tcp", "%s: refused: more than %u bytes before the TLS handshake", c->peer,
			    TCP_TLS_RX_CAP);
	/* Items queued from here on are sealed. */
	c->tx_seal = c->tx_unmarked = c->tx_head;
	return ret;
}

/* Handshake failed: let the alert out, then close (or at the linger deadline). */
static void tcp_tls_fail(struct tcp_conn *c)
{
	c->state = TCP_CONN_TERMINATING;
	c->rx_state = TCP_RX_STOPPED;
	if (!tcp_tls_tx_left(c)) {
		tcp_conn_close(c);
		return;
	}
	reactor_timer_arm(c->reactor, &c->timer, TCP_TERM_LINGER_NS);
	tcp_tx_flush(c);
}

/* Decrypt into the receive buffer (or straight into a large payload's place) and parse. */
static void tcp_tls_rx_pump(struct tcp_conn *c)
{
	int ret;

	if (!tcp_tls_established(c->tls)) {
		ret = tcp_tls_handshake(c->tls);
		if (ret == -EAGAIN) {
			tcp_tx_flush(c);
			return;
		}
		if (ret) {
			tcp_tls_fail(c);
			return;
		}
		log_info("tcp", "%s: TLS 1.3 established (%s), identity %s", c->peer, tcp_tls_cipher(c->tls),
			 tcp_tls_identity(c->tls));
		snprintf(c->sq.tls_hostnqn, sizeof(c->sq.tls_hostnqn), "%s", tcp_tls_hostnqn(c->tls));
	}
	while (c->state < TCP_CONN_TERMINATING && !c->rx_paused && c->rx_state != TCP_RX_STOPPED) {
		bool direct = c->rx_state == TCP_RX_DATA && c->rhead == c->rtail &&
			      c->rx_need - c->rx_have >= TCP_DIRECT_RECV_MIN;
		uint8_t *dst;
		size_t len, got;

		if (direct) {
			dst = c->rx_dst + c->rx_have;
			len = c->rx_need - c->rx_have;
		} else {
			if (c->rhead == c->rtail) {
				c->rhead = c->rtail = 0;
			} else if (c->rtail > TCP_RBUF_SIZE / 2) {
				memmove(c->rbuf, c->rbuf + c->rhead, c->rtail - c->rhead);
				c->rtail -= c->rhead;
				c->rhead = 0;
			}
			dst = c->rbuf + c->rtail;
			len = TCP_RBUF_SIZE - c->rtail;
		}
		ret = tcp_tls_read(c->tls, dst, len, &got);
		if (ret == -EAGAIN)
			break;
		if (ret == -ENOBUFS) {
			c->tls_rx_blocked = true;
			break;
		}
		if (ret) {
			if (ret == -ECONNRESET)
				log_info("tcp", "%s qid %u: peer closed the TLS session", c->peer, tcp_qid(c));
			tcp_conn_close(c);
			return;
		}
		if (direct)
			c->rx_have += (uint32_t)got;
		else
			c->rtail += (uint32_t)got;
		if (tcp_rx_process(c) < 0)
			return;
	}
	/* A KeyUpdate answer may be waiting. */
	tcp_tx_flush(c);
}

static void tcp_rx_run(struct tcp_conn *c)
{
	c->in_rx = true;
	if (c->tls)
		tcp_tls_rx_pump(c);
	else
		tcp_rx_process(c);
	c->in_rx = false;
}

static void tcp_recv_done(struct reactor_completion *rc, int res, uint32_t cqe_flags);

static uint32_t tcp_h2c_hdr_len(const struct tcp_conn *c)
{
	return (uint32_t)sizeof(struct nvme_tcp_data_pdu) + (c->params.hdgst ? NVME_TCP_DIGEST_LEN : 0);
}

/*
 * At a PDU boundary with nothing buffered while the host owes data for an
 * R2T, the next PDU is most likely that data: hosts answer R2Ts in order.
 * Receive its header into rbuf and what follows straight into the oldest
 * waiting request's buffer, so that the payload is not copied out of rbuf.
 * tcp_rx_spec_landed keeps it there if the header says it is that data and
 * otherwise moves it into rbuf behind the header (at most the copy that
 * receiving into rbuf makes anyway), so a wrong guess changes nothing.
 */
static bool tcp_rx_arm_spec(struct tcp_conn *c)
{
	struct tcp_req *owed = c->h2c_head;
	uint32_t hlen = tcp_h2c_hdr_len(c), left, len;
	struct io_uring_sqe *sqe;

	if (!owed || c->state != TCP_CONN_READY || c->rx_state != TCP_RX_HDR_COMMON || c->hdr_have ||
	    c->rhead != c->rtail || c->params.cpda_bytes || c->spec_have)
		return false;
	left = owed->nreq.data_len - owed->h2c_received;
	len = left < c->params.maxh2cdata ? left : c->params.maxh2cdata;
	/* A wrong guess must fit into rbuf behind the header. */
	if (len > TCP_RBUF_SIZE - hlen)
		len = TCP_RBUF_SIZE - hlen;
	if (len < TCP_DIRECT_RECV_MIN)
		return false;
	c->rhead = c->rtail = 0;
	c->spec_req = owed;
	c->spec_dst = (uint8_t *)owed->nreq.data + owed->h2c_received;
	c->spec_iov[0] = (struct iovec){ .iov_base = c->rbuf, .iov_len = hlen };
	c->spec_iov[1] = (struct iovec){ .iov_base = c->spec_dst, .iov_len = len };
	memset(&c->spec_msg, 0, sizeof(c->spec_msg));
	c->spec_msg.msg_iov = c->spec_iov;
	c->spec_msg.msg_iovlen = 2;
	sqe = reactor_sqe(c->reactor, &c->recv_rc);
	io_uring_prep_recvmsg(sqe, c->fd, &c->spec_msg, 0);
	c->recv_direct = false;
	c->recv_spec = true;
	c->recv_inflight = true;
	return true;
}

/* n bytes of a tcp_rx_arm_spec receive arrived: keep the payload in place or move it to rbuf. */
static void tcp_rx_spec_landed(struct tcp_conn *c, uint32_t n)
{
	uint32_t hlen = (uint32_t)c->spec_iov[0].iov_len;
	uint32_t hbytes = n < hlen ? n : hlen, dbytes = n - hbytes;
	const struct nvme_tcp_data_pdu *d = (const void *)c->rbuf;
	struct tcp_req *owed = c->spec_req;

	MARK_DEFINED(c->rbuf, hbytes);
	c->rtail = hbytes;
	if (!dbytes) {
		c->spec_req = NULL;
		return;
	}
	MARK_DEFINED(c->spec_dst, dbytes);
	if (d->hdr.type == NVME_TCP_H2C_DATA && d->hdr.hlen == sizeof(*d) && d->hdr.pdo == hlen &&
	    owed->state == TCP_REQ_WAIT_H2C_DATA && le16(d->ttag) == owed->index && d->cccid == owed->nreq.cmd.cid &&
	    le32(d->datao) == owed->h2c_received) {
		uint32_t datal = le32(d->datal);

		/* The payload stays; what came behind it (digest, next PDU) goes to rbuf. */
		c->spec_have = dbytes < datal ? dbytes : datal;
		memcpy(c->rbuf + hbytes, c->spec_dst + c->spec_have, dbytes - c->spec_have);
		c->rtail += dbytes - c->spec_have;
		if (!c->spec_have)
			c->spec_req = NULL;
		return;
	}
	memcpy(c->rbuf + hbytes, c->spec_dst, dbytes);
	c->rtail += dbytes;
	c->spec_req = NULL;
}

static void tcp_rx_arm(struct tcp_conn *c)
{
	struct io_uring_sqe *sqe;
	void *dst;
	uint32_t len;

	if (c->recv_inflight || c->rx_paused || c->rx_state == TCP_RX_STOPPED || c->state >= TCP_CONN_TERMINATING)
		return;
	if (c->tls) {
		/* Ciphertext into the TLS layer's buffer; plaintext comes out in tcp_tls_rx_pump. */
		len = (uint32_t)tcp_tls_rx_space(c->tls, &c->tls_rx_dst);
		if (!len || c->tls_rx_blocked)
			return;
		sqe = reactor_sqe(c->reactor, &c->recv_rc);
		io_uring_prep_recv(sqe, c->fd, c->tls_rx_dst, len, 0);
		c->recv_inflight = true;
		return;
	}
	if (tcp_rx_arm_spec(c))
		return;
	if (c->rx_state == TCP_RX_DATA && c->rhead == c->rtail &&
	    c->rx_need - c->rx_have >= TCP_DIRECT_RECV_MIN) {
		/* Large payload and nothing buffered: land it in place, exactly
		 * up to its end so the next PDU still goes to rbuf. */
		dst = c->rx_dst + c->rx_have;
		len = c->rx_need - c->rx_have;
		c->recv_direct = true;
		c->recv_spec = false;
	} else {
		if (c->rhead == c->rtail) {
			c->rhead = c->rtail = 0;
		} else if (c->rtail > TCP_RBUF_SIZE / 2) {
			memmove(c->rbuf, c->rbuf + c->rhead, c->rtail - c->rhead);
			c->rtail -= c->rhead;
			c->rhead = 0;
		}
		dst = c->rbuf + c->rtail;
		len = TCP_RBUF_SIZE - c->rtail;
		c->recv_direct = false;
		c->recv_spec = false;
	}
	sqe = reactor_sqe(c->reactor, &c->recv_rc);
	io_uring_prep_recv(sqe, c->fd, dst, len, 0);
	c->recv_inflight = true;
}

static void tcp_recv_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct tcp_conn *c = container_of(rc, struct tcp_conn, recv_rc);

	c->recv_inflight = false;
	if (c->state >= TCP_CONN_TERMINATING) {
		tcp_conn_close_progress(c);
		return;
	}
	if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
		tcp_rx_arm(c);
		return;
	}
	if (res <= 0) {
		if (res == 0 || res == -ECONNRESET)
			log_info("tcp", "%s qid %u: peer closed the connection", c->peer, tcp_qid(c));
		else
			log_warn_rl("tcp", "%s qid %u: recv failed: %s", c->peer, tcp_qid(c), strerror(-res));
		tcp_conn_close(c);
		return;
	}
	if (c->tls) {
		MARK_DEFINED(c->tls_rx_dst, (size_t)res);
		tcp_tls_rx_commit(c->tls, (size_t)res);
	} else if (c->recv_direct) {
		MARK_DEFINED(c->rx_dst + c->rx_have, (size_t)res);
		c->rx_have += (uint32_t)res;
	} else if (c->recv_spec) {
		tcp_rx_spec_landed(c, (uint32_t)res);
	} else {
		MARK_DEFINED(c->rbuf + c->rtail, (size_t)res);
		c->rtail += (uint32_t)res;
	}
	if (!c->tls_decided && tcp_tls_decide(c)) {
		tcp_conn_close(c);
		return;
	}

	tcp_rx_run(c);
	if (c->state >= TCP_CONN_CLOSING) {
		tcp_conn_close_progress(c);
		return;
	}
	tcp_rx_arm(c);
}

/* ------------------------------------------------------------------ */
/* New connections                                                     */

static void tcp_format_addr(const struct sockaddr_storage *ss, char *buf, size_t len, bool with_port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
		if (with_port)
			snprintf(buf, len, "%s:%u", ip, port);
		else
			snprintf(buf, len, "%s", ip);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
		if (with_port)
			snprintf(buf, len, "[%s]:%u", ip, port);
		else
			snprintf(buf, len, "%s", ip);
	} else {
		snprintf(buf, len, "?");
	}
}

/* On the connection's own reactor. */
static void tcp_conn_start(void *arg)
{
	struct tcp_conn *c = arg;

	log_info("tcp", "%s: new connection to %s (reactor %u)", c->peer, c->local_addr, reactor_id(c->reactor));
	if (c->icreq_timeout_ns)
		reactor_timer_arm(c->reactor, &c->timer, c->icreq_timeout_ns);
	tcp_rx_arm(c);
}

static size_t page_round(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

static void tcp_conn_watchdog_fired(struct reactor_timer *t);

/*
 * Request entries, receive buffer and in-capsule data slots in one mapping
 * whose pages are only backed once touched: an idle peer costs a page or
 * two, not the pool sized for a full queue.
 */
static struct tcp_conn *tcp_conn_alloc(void)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));
	size_t reqs_len = page_round((size_t)TCP_POOL_SIZE * sizeof(struct tcp_req));
	size_t rbuf_len = page_round(TCP_RBUF_SIZE);

	if (!c)
		return NULL;
	c->pool_map_len = reqs_len + rbuf_len + (size_t)TCP_POOL_SIZE * TCP_INCAPSULE_MAX;
	c->pool_map = mmap(NULL, c->pool_map_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->pool_map == MAP_FAILED) {
		free(c);
		return NULL;
	}
	c->reqs = (struct tcp_req *)c->pool_map;
	c->rbuf = c->pool_map + reqs_len;
	c->icd = c->rbuf + rbuf_len;
	c->free_head = TCP_POOL_SIZE;
	/* Until Connect has completed, a queue admits that one command. */
	c->pool_limit = 1;
	atomic_init(&c->refs, 1);
	c->fd = -1;
	c->state = TCP_CONN_WAIT_ICREQ;
	c->rx_state = TCP_RX_HDR_COMMON;
	c->recv_rc.fn = tcp_recv_done;
	c->send_rc.fn = tcp_send_done;
	c->kick.fn = tcp_conn_kick;
	c->timer.fn = tcp_conn_timer_fired;
	c->watchdog.fn = tcp_conn_watchdog_fired;
	return c;
}

/* Connect completed: as many requests as the queue the host asked for. */
static void tcp_conn_size_pool(struct tcp_conn *c)
{
	unsigned int limit = c->sq.sqsize + 1u + (c->sq.qid == 0 ? TCP_AER_SLOTS : 0);

	c->pool_limit = (uint16_t)(limit > TCP_POOL_SIZE ? TCP_POOL_SIZE : limit);
}

static void tcp_conn_destroy_unstarted(struct tcp_conn *c)
{
	tcp_conn_free_resources(c);
	free(c);
}

/* Caller holds g.lock: would one more connection from ip exceed a limit? */
static const char *tcp_limit_reached_locked(const char *ip)
{
	unsigned int same = 0;

	if (g.limits.max_connections && g.nconns >= g.limits.max_connections)
		return "connection limit";
	if (!g.limits.max_per_addr)
		return NULL;
	for (struct tcp_conn *o = g.conns; o; o = o->gnext)
		if (strcmp(o->peer_ip, ip) == 0 && ++same >= g.limits.max_per_addr)
			return "per-address connection limit";
	return NULL;
}

int tcp_conn_adopt(struct nvmf_tgt *tgt, struct nvmf_port *port, struct reactor *r, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *limit;
	struct tcp_conn *c;
	int one = 1, ret;

	/* Fails harmlessly on a socketpair. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = tcp_conn_alloc();
	if (!c) {
		log_error_rl("tcp", "out of memory for a new connection");
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->tgt = tgt;
	c->port = port;
	if (port) {
		const struct nvmf_port_opts *po = nvmf_port_opts(port);

		c->port_tls = po->tls;
		c->port_tls_required = po->tls && po->treq != NVMF_PORT_TREQ_NOT_REQUIRED;
	}
	/* A plain port decides too: a ClientHello there is refused, not parsed as PDUs. */
	c->reactor = r;
	c->bufs = tcp_buf_pool_for(r);
	if (!c->bufs) {
		log_error_rl("tcp", "no buffer pool for reactor %u", reactor_id(r));
		close(fd);
		tcp_conn_destroy_unstarted(c);
		return -ENOMEM;
	}
	snprintf(c->peer, sizeof(c->peer), "?");
	snprintf(c->peer_ip, sizeof(c->peer_ip), "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		tcp_format_addr(&ss, c->peer, sizeof(c->peer), true);
		tcp_format_addr(&ss, c->peer_ip, sizeof(c->peer_ip), false);
	}
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		tcp_format_addr(&ss, c->local_addr, sizeof(c->local_addr), false);
	snprintf(c->sq.peer, sizeof(c->sq.peer), "%s", c->peer);
	snprintf(c->sq.local_addr, sizeof(c->sq.local_addr), "%s", c->local_addr);

	/* The queue holds the port from now on: a port removed before this
	 * point refuses it, one removed later waits for it to close. */
	ret = nvmf_sq_init(&c->sq, tgt, &tcp_sq_ops, r, port);
	if (ret) {
		log_notice_rl("tcp", "%s: connection dropped: %s", c->peer,
			    ret == -ENOENT ? "its port is being removed" : strerror(-ret));
		close(fd);
		tcp_conn_destroy_unstarted(c);
		return ret;
	}

	pthread_mutex_lock(&g.lock);
	c->icreq_timeout_ns = (uint64_t)g.limits.icreq_timeout_ms * 1000000ull;
	c->connect_timeout_ns = (uint64_t)g.limits.connect_timeout_ms * 1000000ull;
	c->stall_ns = (uint64_t)g.limits.stall_timeout_ms * 1000000ull;
	c->c2h_success = g.c2h_success;
	limit = g.shutting_down ? NULL : tcp_limit_reached_locked(c->peer_ip);
	if (g.shutting_down || limit) {
		ret = g.shutting_down ? -ESHUTDOWN : -EMFILE;
		pthread_mutex_unlock(&g.lock);
		if (limit)
			log_warn_rl("tcp", "%s: connection refused: %s reached", c->peer, limit);
		goto undo;
	}
	c->gnext = g.conns;
	if (g.conns)
		g.conns->gprev = c;
	g.conns = c;
	g.nconns++;
	/* FIFO posts: a later drain/disconnect for c runs after the start. */
	if (reactor_post(c->reactor, tcp_conn_start, c) < 0) {
		g.conns = c->gnext;
		if (g.conns)
			g.conns->gprev = NULL;
		g.nconns--;
		pthread_mutex_unlock(&g.lock);
		log_error_rl("tcp", "%s: cannot hand the connection to a reactor", c->peer);
		ret = -ENOMEM;
		goto undo;
	}
	pthread_mutex_unlock(&g.lock);
	return 0;
undo:
	nvmf_sq_closed(&c->sq);
	close(fd);
	tcp_conn_destroy_unstarted(c);
	return ret;
}

static void tcp_listener_accepted(struct tcp_listener *l, int fd)
{
	tcp_conn_adopt(l->tgt, l->port, l->reactors[l->next_reactor++ % l->nreactors], fd);
}

void tcp_transport_get_limits(struct tcp_transport_limits *out)
{
	pthread_mutex_lock(&g.lock);
	*out = g.limits;
	pthread_mutex_unlock(&g.lock);
}

void tcp_transport_set_limits(const struct tcp_transport_limits *limits)
{
	pthread_mutex_lock(&g.lock);
	g.limits = *limits;
	pthread_mutex_unlock(&g.lock);
	tcp_buf_pool_set_limit((size_t)limits->buffer_mib << 20);
}

void tcp_transport_set_c2h_success(bool on)
{
	pthread_mutex_lock(&g.lock);
	g.c2h_success = on;
	pthread_mutex_unlock(&g.lock);
}

/* ------------------------------------------------------------------ */
/* Listeners                                                           */

static void tcp_accept_done(struct reactor_completion *rc, int res, uint32_t cqe_flags);

static void tcp_listener_arm(struct tcp_listener *l)
{
	struct io_uring_sqe *sqe = reactor_sqe(l->reactors[0], &l->accept_rc);

	if (l->multishot)
		io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	l->armed = true;
}

static void tcp_listener_finish(struct tcp_listener *l)
{
	void (*done)(void *) = NULL;
	void *done_arg = NULL;

	close(l->fd);
	log_notice("tcp", "stopped listening on %s", l->addr);
	pthread_mutex_lock(&g.lock);
	for (struct tcp_listener **pp = &g.listeners; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	g.nlisteners--;
	done = tcp_take_done_locked(&done_arg);
	pthread_mutex_unlock(&g.lock);
	nvmf_port_release(l->port);
	free(l->reactors);
	free(l);
	if (done)
		done(done_arg);
}

static void tcp_accept_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct tcp_listener *l = container_of(rc, struct tcp_listener, accept_rc);

	if (!(cqe_flags & IORING_CQE_F_MORE))
		l->armed = false;
	if (res >= 0) {
		if (l->stopping)
			close(res);
		else
			tcp_listener_accepted(l, res);
	} else if (res == -EINVAL && l->multishot && !l->stopping) {
		log_info("tcp", "%s: multishot accept unsupported, using single accepts", l->addr);
		l->multishot = false;
	} else if (res == -ECONNABORTED || res == -EINTR || res == -EAGAIN) {
		/* The peer gave up before we took it: nothing to pause for. */
	} else if (res != -ECANCELED && !l->stopping) {
		/* Out of descriptors or memory: retrying at once would spin on
		 * this reactor, which also serves I/O. Pause, doubling up to 1 s. */
		l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : TCP_ACCEPT_BACKOFF_MIN_MS;
		if (l->backoff_ms > TCP_ACCEPT_BACKOFF_MAX_MS)
			l->backoff_ms = TCP_ACCEPT_BACKOFF_MAX_MS;
		log_warn_rl("tcp", "%s: accept failed: %s; pausing accepts for %u ms", l->addr, strerror(-res),
			    l->backoff_ms);
		if (!l->backing_off && l->armed) {
			struct io_uring_sqe *sqe = reactor_sqe(l->reactors[0], NULL);

			io_uring_prep_cancel(sqe, &l->accept_rc, 0);
		}
		l->backing_off = true;
	}
	if (res >= 0)
		l->backoff_ms = 0;
	if (l->armed)
		return;
	if (l->stopping)
		tcp_listener_finish(l);
	else if (l->backing_off)
		reactor_timer_arm(l->reactors[0], &l->backoff_timer, (uint64_t)l->backoff_ms * 1000000ull);
	else
		tcp_listener_arm(l);
}

static void tcp_listener_backoff_done(struct reactor_timer *t)
{
	struct tcp_listener *l = container_of(t, struct tcp_listener, backoff_timer);

	l->backing_off = false;
	if (l->stopping)
		return; /* the stop finished it */
	if (!l->armed)
		tcp_listener_arm(l);
}

static void tcp_listener_begin(void *arg)
{
	struct tcp_listener *l = arg;

	if (l->stopping) {
		tcp_listener_finish(l);
		return;
	}
	tcp_listener_arm(l);
}

static void tcp_listener_stop_cb(void *arg)
{
	struct tcp_listener *l = arg;
	struct io_uring_sqe *sqe;

	l->stopping = true;
	reactor_timer_cancel(l->reactors[0], &l->backoff_timer);
	if (!l->armed) {
		tcp_listener_finish(l);
		return;
	}
	/* The accept's final CQE (-ECANCELED) frees the listener; the cancel
	 * itself carries no completion so nothing refers to l afterwards. */
	sqe = reactor_sqe(l->reactors[0], NULL);
	io_uring_prep_cancel(sqe, &l->accept_rc, 0);
}

static int tcp_listen_socket(const struct nvmf_port_opts *o, char *desc, size_t desclen)
{
	struct addrinfo hints, *ai = NULL;
	char host[64];
	const char *node;
	size_t hl;
	int fd, ret, one = 1;

	/* Accept "[::1]" as well as "::1". */
	snprintf(host, sizeof(host), "%s", o->traddr);
	hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	node = host[0] ? host : NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = o->adrfam == NVMF_ADRFAM_IPV6 ? AF_INET6 :
			  o->adrfam == NVMF_ADRFAM_IPV4 ? AF_INET : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (strchr(host, ':'))
		snprintf(desc, desclen, "[%s]:%s", host, o->trsvcid);
	else
		snprintf(desc, desclen, "%s:%s", node ? host : "*", o->trsvcid);

	ret = getaddrinfo(node, o->trsvcid, &hints, &ai);
	if (ret) {
		log_error("tcp", "cannot listen on %s: invalid address: %s", desc, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "::" must not also grab the IPv4 port a separate 0.0.0.0 port wants. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, TCP_LISTEN_BACKLOG) < 0) {
		ret = -errno;
		close(fd);
		goto err;
	}
	freeaddrinfo(ai);
	return fd;
err:
	log_error("tcp", "cannot listen on %s: %s", desc, strerror(-ret));
	freeaddrinfo(ai);
	return ret;
}

int tcp_listener_start(struct nvmf_tgt *tgt, struct nvmf_port *port, struct reactor **reactors,
		       unsigned int nreactors, struct tcp_listener **out)
{
	const struct nvmf_port_opts *o = nvmf_port_opts(port);
	struct tcp_listener *l;
	int fd;

	if (!nreactors)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->reactors = calloc(nreactors, sizeof(*reactors));
	if (!l->reactors) {
		free(l);
		return -ENOMEM;
	}
	memcpy(l->reactors, reactors, nreactors * sizeof(*reactors));
	l->nreactors = nreactors;
	l->tgt = tgt;
	l->port = port;
	l->multishot = true;
	l->accept_rc.fn = tcp_accept_done;
	l->backoff_timer.fn = tcp_listener_backoff_done;

	/* Accepts refer to the port until the listener is finished. */
	if (nvmf_port_hold(port)) {
		free(l->reactors);
		free(l);
		return -ENOENT;
	}
	fd = tcp_listen_socket(o, l->addr, sizeof(l->addr));
	if (fd < 0) {
		nvmf_port_release(port);
		free(l->reactors);
		free(l);
		return fd;
	}
	l->fd = fd;

	pthread_mutex_lock(&g.lock);
	if (g.shutting_down) {
		pthread_mutex_unlock(&g.lock);
		close(fd);
		nvmf_port_release(port);
		free(l->reactors);
		free(l);
		return -ESHUTDOWN;
	}
	l->next = g.listeners;
	g.listeners = l;
	g.nlisteners++;
	/* Once posted, l belongs to its reactor (a shutdown may free it at
	 * once): everything that reads it happens before. */
	log_notice("tcp", "listening on %s (port id %u)", l->addr, o->portid);
	if (out)
		*out = l;
	if (reactor_post(reactors[0], tcp_listener_begin, l) < 0) {
		g.listeners = l->next;
		g.nlisteners--;
		pthread_mutex_unlock(&g.lock);
		if (out)
			*out = NULL;
		close(fd);
		nvmf_port_release(port);
		free(l->reactors);
		free(l);
		return -ENOMEM;
	}
	pthread_mutex_unlock(&g.lock);
	return 0;
}

/* Caller holds g.lock. */
static void tcp_listener_stop_locked(struct tcp_listener *l)
{
	if (l->stop_requested)
		return;
	l->stop_requested = true;
	if (reactor_post(l->reactors[0], tcp_listener_stop_cb, l) < 0)
		log_error("tcp", "%s: cannot stop listener (out of memory)", l->addr);
}

static void tcp_port_disconnect_locked(struct nvmf_port *port)
{
	for (struct tcp_conn *c = g.conns; c; c = c->gnext)
		if (c->port == port)
			tcp_conn_post_locked(c, tcp_conn_disconnect_cb);
}

void tcp_listener_stop(struct tcp_listener *l, bool disconnect)
{
	struct tcp_listener *it;

	pthread_mutex_lock(&g.lock);
	/* A listener already stopped (e.g. by a transport shutdown) is gone. */
	for (it = g.listeners; it && it != l; it = it->next)
		;
	if (!it) {
		pthread_mutex_unlock(&g.lock);
		return;
	}
	if (disconnect)
		tcp_port_disconnect_locked(l->port);
	tcp_listener_stop_locked(l);
	pthread_mutex_unlock(&g.lock);
}

void tcp_port_disconnect_all(struct nvmf_port *port)
{
	pthread_mutex_lock(&g.lock);
	tcp_port_disconnect_locked(port);
	pthread_mutex_unlock(&g.lock);
}

void tcp_transport_shutdown(void (*done)(void *arg), void *arg)
{
	void (*now)(void *) = NULL;
	void *now_arg = NULL;

	pthread_mutex_lock(&g.lock);
	g.shutting_down = true;
	g.done = done;
	g.done_arg = arg;
	for (struct tcp_listener *l = g.listeners; l; l = l->next)
		tcp_listener_stop_locked(l);
	for (struct tcp_conn *c = g.conns; c; c = c->gnext)
		tcp_conn_post_locked(c, tcp_conn_drain_cb);
	now = tcp_take_done_locked(&now_arg);
	pthread_mutex_unlock(&g.lock);
	if (now)
		now(now_arg);
}

unsigned int tcp_transport_connections(void)
{
	unsigned int n;

	pthread_mutex_lock(&g.lock);
	n = g.nconns;
	pthread_mutex_unlock(&g.lock);
	return n;
}
