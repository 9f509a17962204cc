/* SPDX-License-Identifier: MIT */
/*
 * A real NVMe/TCP target in this process and a raw host to drive it, for
 * the transport tests: nvmf_tgt with one subsystem (any host, one RAM
 * namespace), two reactor threads, a listener on 127.0.0.1, and a host
 * written with blocking sockets that checks every PDU it gets independently
 * of the target's own helpers, as strictly as a Linux host does.
 *
 * The including test names its subsystem (#define SUBNQN before the
 * #include). A test that needs more than the RAM namespace builds the
 * target in two steps: harness_target_create, its own additions, then
 * harness_target_start.
 *
 * Every socket the host opens is remembered, so that the fixture can close
 * what a test that failed half-way left open (tcp_harness_close_all) and
 * the next test still starts from an idle target.
 */
#ifndef TESTS_UNIT_TCP_HARNESS_H
#define TESTS_UNIT_TCP_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "backend/backend.h"
#include "common/log.h"
#include "proto/crc32c.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"
#include "proto/nvme_tcp.h"
#include "reactor/reactor.h"
#include "target/target.h"
#include "transport/tcp_target.h"

#ifndef SUBNQN
#error "define SUBNQN, the test subsystem's NQN, before including tcp_harness.h"
#endif
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:6b1f3c2a-0d4e-4f5a-8b9c-1d2e3f405162"
#define RAM_NSID 1
#define RAM_SIZE (16u << 20)
#define BLOCK 512u
#define NREACTORS 2
#define MAX_HOST_FDS 64

#define MS 1000000ull

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Blocking socket calls give up after this long (valgrind runs far slower). */
static inline int sock_timeout_s(void)
{
	return RUNNING_ON_VALGRIND ? 30 : 5;
}

/* ------------------------------------------------------------------ */
/* The target under test                                               */

static struct {
	struct nvmf_tgt *tgt;
	struct nvmf_subsys *subsys;
	struct nvmf_port *port;
	struct tcp_listener *listener;
	struct reactor *reactors[NREACTORS];
	pthread_t threads[NREACTORS];
	unsigned int nthreads;
	uint16_t tcp_port;
	bool shut_down; /* tcp_transport_shutdown was called */
	atomic_int shutdown_calls;
	int host_fds[MAX_HOST_FDS]; /* sockets the host has open; -1 = free */
} T;

/*
 * valgrind runs one thread at a time and does not know io_uring_enter can
 * block: a reactor asleep in the kernel would freeze the whole program.
 * Under valgrind each reactor therefore polls (a timer that is always due)
 * and naps in usleep(), which lets the other threads in.
 */
static struct reactor_timer valgrind_ticks[NREACTORS];

static inline void valgrind_tick(struct reactor_timer *t)
{
	usleep(200);
	reactor_timer_arm(reactor_current(), t, 0);
}

static inline void *reactor_main(void *arg)
{
	struct reactor *r = arg;

	if (RUNNING_ON_VALGRIND) {
		valgrind_ticks[reactor_id(r)].fn = valgrind_tick;
		reactor_timer_arm(r, &valgrind_ticks[reactor_id(r)], 0);
	}
	reactor_run(r);
	return NULL;
}

/* A free port on 127.0.0.1 (the port object wants a fixed trsvcid). */
static inline uint16_t pick_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* A port object on 127.0.0.1:<free port> exporting the test subsystem. */
static inline struct nvmf_port *harness_port_create(uint16_t portid, uint16_t *tcp_port)
{
	struct nvmf_port_opts po;
	struct nvmf_port *port;

	*tcp_port = pick_free_port();
	memset(&po, 0, sizeof(po));
	po.portid = portid;
	po.adrfam = NVMF_ADRFAM_IPV4;
	snprintf(po.traddr, sizeof(po.traddr), "127.0.0.1");
	snprintf(po.trsvcid, sizeof(po.trsvcid), "%u", *tcp_port);
	assert_int_equal(nvmf_port_create(T.tgt, &po, &port), 0);
	assert_int_equal(nvmf_port_add_subsys(port, T.subsys), 0);
	return port;
}

/* The target with its RAM namespace and its port, not yet started. */
static inline void harness_target_create(void)
{
	struct backend_open_opts bo = { .path = NULL, .size = RAM_SIZE, .block_size = BLOCK };
	struct nvmf_ns_opts nso;
	struct backend *be;
	char err[256];

	for (unsigned int i = 0; i < MAX_HOST_FDS; i++)
		T.host_fds[i] = -1;
	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(nvmf_tgt_create(&T.tgt), 0);
	assert_int_equal(nvmf_subsys_create(T.tgt, SUBNQN, &T.subsys), 0);
	nvmf_subsys_set_allow_any_host(T.subsys, true);
	assert_int_equal(backend_open(&bo, &be, err, sizeof(err)), 0);
	memset(&nso, 0, sizeof(nso));
	nso.nsid = RAM_NSID;
	nso.backend = be;
	nso.enabled = true;
	assert_int_equal(nvmf_subsys_add_ns(T.subsys, &nso, NULL), 0);
	T.port = harness_port_create(1, &T.tcp_port);
}

/* Reactor threads and the listener: the target serves from here on. */
static inline void harness_target_start(void)
{
	for (unsigned int i = 0; i < NREACTORS; i++) {
		struct reactor_opts ro = { .ring_entries = 256, .spin_us = 20 };

		assert_int_equal(reactor_create(&ro, &T.reactors[i]), 0);
		reactor_set_id(T.reactors[i], i);
	}
	nvmf_tgt_set_reactors(T.tgt, T.reactors, NREACTORS);
	for (unsigned int i = 0; i < NREACTORS; i++) {
		assert_int_equal(pthread_create(&T.threads[i], NULL, reactor_main, T.reactors[i]), 0);
		T.nthreads++;
	}
	assert_int_equal(tcp_listener_start(T.tgt, T.port, T.reactors, NREACTORS, &T.listener), 0);
}

static inline int harness_target_setup(void **state)
{
	(void)state;
	harness_target_create();
	harness_target_start();
	return 0;
}

static inline void harness_shutdown_done(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static inline bool wait_until(atomic_int *v, int want, unsigned int ms)
{
	uint64_t end = now_ns() + ms * MS;

	while (atomic_load(v) < want && now_ns() < end)
		usleep(1000);
	return atomic_load(v) >= want;
}

/* Start the graceful transport shutdown, once; T.shutdown_calls counts its
 * completions. */
static inline void harness_shutdown(void)
{
	if (T.shut_down)
		return;
	T.shut_down = true;
	tcp_transport_shutdown(harness_shutdown_done, &T.shutdown_calls);
}

static inline int harness_target_teardown(void **state)
{
	(void)state;
	alarm(60);
	harness_shutdown();
	wait_until(&T.shutdown_calls, 1, 10000);
	for (unsigned int i = 0; i < T.nthreads; i++)
		reactor_stop(T.reactors[i]);
	for (unsigned int i = 0; i < T.nthreads; i++)
		pthread_join(T.threads[i], NULL);
	nvmf_tgt_destroy(T.tgt);
	for (unsigned int i = 0; i < NREACTORS; i++)
		reactor_destroy(T.reactors[i]);
	alarm(0);
	return 0;
}

/* Wait (bounded) until the transport tracks `want` connections. */
static inline bool conns_settle(unsigned int want, unsigned int ms)
{
	uint64_t end = now_ns() + ms * MS;

	while (tcp_transport_connections() != want && now_ns() < end)
		usleep(1000);
	return tcp_transport_connections() == want;
}

static inline void wait_conns(unsigned int want)
{
	conns_settle(want, RUNNING_ON_VALGRIND ? 20000 : 3000);
	assert_int_equal(tcp_transport_connections(), want);
}

/* ------------------------------------------------------------------ */
/* Host sockets                                                        */

static inline void host_fd_track(int fd)
{
	for (unsigned int i = 0; i < MAX_HOST_FDS; i++) {
		if (T.host_fds[i] < 0) {
			T.host_fds[i] = fd;
			return;
		}
	}
}

static inline void host_fd_close(int fd)
{
	for (unsigned int i = 0; i < MAX_HOST_FDS; i++)
		if (T.host_fds[i] == fd)
			T.host_fds[i] = -1;
	close(fd);
}

/* Fixture cleanup: close whatever a failed test left open. */
static inline void tcp_harness_close_all(void)
{
	for (unsigned int i = 0; i < MAX_HOST_FDS; i++) {
		if (T.host_fds[i] >= 0)
			close(T.host_fds[i]);
		T.host_fds[i] = -1;
	}
}

/* Connect an existing socket to 127.0.0.1:port with the host's options.
 * rcvbuf > 0 shrinks the receive buffer first (before the handshake, so
 * the advertised window stays small). Returns 0 or -errno. */
static inline int tcp_dial_fd(int fd, uint16_t port, int rcvbuf)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = sock_timeout_s() };
	int one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ? -errno : 0;
}

static inline int tcp_dial_port(uint16_t port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(tcp_dial_fd(fd, port, rcvbuf), 0);
	host_fd_track(fd);
	return fd;
}

static inline int tcp_dial(void)
{
	return tcp_dial_port(T.tcp_port, 0);
}

static inline void set_rcv_timeout_ms(int fd, unsigned int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Send everything or report the error (-errno) without failing the test. */
static inline int send_try(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static inline void send_all(int fd, const void *buf, size_t len)
{
	int ret = send_try(fd, buf, len);

	if (ret)
		fail_msg("send: %s", strerror(-ret));
}

/* Receive exactly len bytes. Returns len, or the bytes received before EOF
 * (0 = EOF at once), or -errno (a reset, or a timeout as -EAGAIN). */
static inline ssize_t recv_some(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, p + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static inline void recv_all(int fd, void *buf, size_t len)
{
	ssize_t n = recv_some(fd, buf, len);

	if (n < 0)
		fail_msg("recv: %s with %zu bytes of the PDU still to come", strerror((int)-n), len);
	if ((size_t)n < len)
		fail_msg("recv: EOF with %zu of %zu bytes of the PDU still to come", len - (size_t)n, len);
}

/* The target closed the connection: EOF (or a reset) and nothing else. */
static inline void expect_eof(int fd)
{
	uint8_t b;
	ssize_t n;

	do
		n = recv(fd, &b, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == ECONNRESET)
		return;
	if (n != 0)
		fail_msg("expected EOF, got %zd (%s)", n, n < 0 ? strerror(errno) : "data");
}

/* ------------------------------------------------------------------ */
/* The raw host                                                        */

struct host {
	int fd;
	bool hdgst, ddgst;
	uint32_t maxh2c;
	uint16_t cid;
};

static inline void host_icreq(struct host *h, bool hdgst, bool ddgst)
{
	struct nvme_tcp_icreq_pdu req;
	struct nvme_tcp_icresp_pdu resp;
	uint8_t want = (hdgst ? NVME_TCP_HDR_DIGEST_ENABLE : 0) | (ddgst ? NVME_TCP_DATA_DIGEST_ENABLE : 0);

	nvme_tcp_build_icreq(&req, hdgst, ddgst, 0);
	send_all(h->fd, &req, sizeof(req));
	recv_all(h->fd, &resp, sizeof(resp));
	/* What a Linux host insists on. */
	assert_int_equal(resp.hdr.type, NVME_TCP_ICRESP);
	assert_int_equal(resp.hdr.flags, 0);
	assert_int_equal(resp.hdr.hlen, 128);
	assert_int_equal(resp.hdr.pdo, 0);
	assert_int_equal(le32(resp.hdr.plen), 128);
	assert_int_equal(le16(resp.pfv), 0);
	assert_int_equal(resp.cpda, 0);
	assert_int_equal(resp.digest, want);
	assert_true(le32(resp.maxdata) >= 4096);
	assert_int_equal(le32(resp.maxdata) % 4, 0);
	for (size_t i = 0; i < sizeof(resp.rsvd); i++)
		assert_int_equal(resp.rsvd[i], 0);
	h->hdgst = hdgst;
	h->ddgst = ddgst;
	h->maxh2c = le32(resp.maxdata);
}

static inline void host_open_ex(struct host *h, uint16_t port, bool hdgst, bool ddgst, int rcvbuf)
{
	memset(h, 0, sizeof(*h));
	h->fd = tcp_dial_port(port, rcvbuf);
	h->cid = 0x1000; /* like Linux: a generation in the upper bits */
	host_icreq(h, hdgst, ddgst);
}

static inline void host_open(struct host *h, bool hdgst, bool ddgst)
{
	host_open_ex(h, T.tcp_port, hdgst, ddgst, 0);
}

static inline void host_close(struct host *h)
{
	if (h->fd >= 0)
		host_fd_close(h->fd);
	h->fd = -1;
}

/* Close with SO_LINGER 0: the peer sees a reset, as after a host crash. */
static inline void host_reset(struct host *h)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(h->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	host_close(h);
}

static inline struct nvme_tcp_conn_params host_params(const struct host *h)
{
	struct nvme_tcp_conn_params p = { .hdgst = h->hdgst, .ddgst = h->ddgst, .maxh2cdata = h->maxh2c };

	return p;
}

/* One PDU from the target, validated independently of the target's own
 * helpers: header length, PDO without padding, flags and both digests. */
struct rx_pdu {
	uint8_t hdr[NVME_TCP_MAX_HDR + NVME_TCP_TERM_MAX_COPY];
	uint8_t type;
	uint8_t flags;
	uint32_t plen;
	uint16_t cccid; /* C2HData, R2T, CapsuleResp */
	uint32_t datao, datal; /* C2HData */
};

/* Where C2HData payloads land: one buffer of len bytes (n == 0), or n
 * buffers of len bytes each, for CIDs cid0 .. cid0 + n - 1. */
struct dsink {
	uint8_t *buf;
	uint32_t len;
	uint16_t cid0;
	uint32_t n;
};

/* Where the stream may end while reading a PDU (the target closing). */
enum rx_eof {
	RX_EOF_NEVER, /* an EOF fails the test */
	RX_EOF_AT_BOUNDARY, /* only before a PDU's first byte */
	RX_EOF_ANYWHERE, /* also inside a PDU (a disconnect may cut it) */
};

/* Receive len bytes of the PDU being read; false: the stream ended where
 * `mode` allows it. */
static inline bool rx_bytes(int fd, void *buf, size_t len, enum rx_eof mode, bool first)
{
	ssize_t n = recv_some(fd, buf, len);

	if (n == (ssize_t)len)
		return true;
	if ((n >= 0 || n == -ECONNRESET) &&
	    (mode == RX_EOF_ANYWHERE || (mode == RX_EOF_AT_BOUNDARY && first && n <= 0)))
		return false;
	if (n < 0)
		fail_msg("recv: %s with %zu bytes of the PDU still to come", strerror((int)-n), len);
	fail_msg("recv: EOF with %zu of %zu bytes of the PDU still to come", len - (size_t)n, len);
	return false;
}

/*
 * Read one PDU and check it. Returns false when the stream ended where
 * `mode` allows; anything else that is not a whole, well-formed PDU fails
 * the test.
 */
static inline bool recv_pdu_ex(struct host *h, struct rx_pdu *p, const struct dsink *sink, enum rx_eof mode)
{
	const struct nvme_tcp_hdr *ch = (const void *)p->hdr;
	uint32_t hd = h->hdgst ? NVME_TCP_DIGEST_LEN : 0;
	uint32_t dd = h->ddgst ? NVME_TCP_DIGEST_LEN : 0;

	memset(p, 0, sizeof(*p));
	if (!rx_bytes(h->fd, p->hdr, sizeof(*ch), mode, true))
		return false;
	p->type = ch->type;
	p->flags = ch->flags;
	p->plen = le32(ch->plen);
	switch (p->type) {
	case NVME_TCP_C2H_TERM:
		assert_int_equal(ch->hlen, 24);
		assert_int_equal(ch->pdo, 0);
		assert_int_equal(ch->flags, 0);
		assert_in_range(p->plen, 24, 24 + NVME_TCP_TERM_MAX_COPY);
		return rx_bytes(h->fd, p->hdr + 8, p->plen - 8, mode, false);
	case NVME_TCP_RSP:
	case NVME_TCP_R2T:
		assert_int_equal(ch->hlen, 24);
		assert_int_equal(ch->pdo, 0);
		assert_int_equal(!!(ch->flags & NVME_TCP_F_HDGST), !!hd);
		assert_int_equal(ch->flags & NVME_TCP_F_DDGST, 0);
		assert_int_equal(p->plen, 24 + hd);
		if (!rx_bytes(h->fd, p->hdr + 8, p->plen - 8, mode, false))
			return false;
		if (hd)
			assert_int_equal(get_le32(p->hdr + 24), crc32c(p->hdr, 24));
		p->cccid = p->type == NVME_TCP_RSP ? le16(((const struct nvme_tcp_rsp_pdu *)p->hdr)->cqe.cid)
						    : le16(((const struct nvme_tcp_r2t_pdu *)p->hdr)->cccid);
		return true;
	case NVME_TCP_C2H_DATA: {
		const struct nvme_tcp_data_pdu *d = (const void *)p->hdr;
		uint8_t digest[NVME_TCP_DIGEST_LEN];
		uint8_t *dst;
		uint32_t want;

		assert_int_equal(ch->hlen, 24);
		assert_int_equal(!!(ch->flags & NVME_TCP_F_HDGST), !!hd);
		assert_int_equal(!!(ch->flags & NVME_TCP_F_DDGST), !!dd);
		/* Linux ignores PDO: the data must follow the header directly. */
		assert_int_equal(ch->pdo, 24 + hd);
		if (!rx_bytes(h->fd, p->hdr + 8, 24 + hd - 8, mode, false))
			return false;
		if (hd)
			assert_int_equal(get_le32(p->hdr + 24), crc32c(p->hdr, 24));
		p->cccid = le16(d->cccid);
		p->datao = le32(d->datao);
		p->datal = le32(d->datal);
		assert_true(p->datal > 0);
		assert_int_equal(p->plen, 24 + hd + p->datal + dd);
		if (sink->n) {
			if ((uint16_t)(p->cccid - sink->cid0) >= sink->n)
				fail_msg("C2HData for unexpected cid %#x", p->cccid);
			dst = sink->buf + (size_t)(uint16_t)(p->cccid - sink->cid0) * sink->len;
		} else {
			dst = sink->buf;
		}
		if (p->datao > sink->len || p->datal > sink->len - p->datao)
			fail_msg("C2HData cid %#x [%u, +%u) beyond the %u-byte transfer", p->cccid, p->datao,
				 p->datal, sink->len);
		if (!rx_bytes(h->fd, dst + p->datao, p->datal, mode, false))
			return false;
		if (!dd)
			return true;
		if (!rx_bytes(h->fd, digest, sizeof(digest), mode, false))
			return false;
		want = crc32c(dst + p->datao, p->datal);
		if (get_le32(digest) != want)
			fail_msg("C2HData cid %#x [%u, +%u): data digest %#010x does not match the bytes received "
				 "(CRC32C %#010x)",
				 p->cccid, p->datao, p->datal, get_le32(digest), want);
		return true;
	}
	default:
		fail_msg("unexpected PDU type %#x from the target", p->type);
	}
	return false;
}

static inline void recv_pdu(struct host *h, struct rx_pdu *p, uint8_t *dbuf, uint32_t dcap)
{
	struct dsink sink = { .buf = dbuf, .len = dcap };

	recv_pdu_ex(h, p, &sink, RX_EOF_NEVER);
}

static inline struct nvme_sqe mk_sqe(struct host *h, uint8_t opcode, uint32_t nsid)
{
	struct nvme_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = opcode;
	sqe.flags = NVME_SQE_FLAGS_SGL;
	sqe.cid = to_le16(h->cid++);
	sqe.nsid = to_le32(nsid);
	sqe.sgl.type = NVME_SGL_TRANSPORT_DATA_BLOCK;
	return sqe;
}

/* A CapsuleCmd with optional in-capsule data, built with the PDU helpers. */
static inline void send_capsule(struct host *h, const struct nvme_sqe *sqe, const void *data, uint32_t len)
{
	struct nvme_tcp_conn_params params = host_params(h);
	size_t total = sizeof(struct nvme_tcp_cmd_pdu) + 2 * NVME_TCP_DIGEST_LEN + len;
	uint8_t *buf = calloc(1, total);
	struct nvme_tcp_cmd_pdu *pdu = (void *)buf;
	uint32_t hl;

	assert_non_null(buf);
	hl = nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &params, len);
	pdu->sqe = *sqe;
	if (h->hdgst)
		nvme_tcp_set_hdgst(pdu, sizeof(*pdu));
	if (len) {
		memcpy(buf + hl, data, len);
		if (h->ddgst)
			put_le32(buf + hl + len, crc32c(data, len));
	}
	assert_int_equal(le32(pdu->hdr.plen), hl + len + (len && h->ddgst ? NVME_TCP_DIGEST_LEN : 0));
	send_all(h->fd, buf, le32(pdu->hdr.plen));
	free(buf);
}

/*
 * Collect C2HData for cid into dbuf (dlen bytes expected) and its
 * CapsuleResp. Returns the CQE (a SUCCESS-flagged last C2HData stands for
 * a zero CQE). Checks the data arrived complete and in order.
 */
static inline struct nvme_cqe wait_rsp(struct host *h, uint16_t cid, uint8_t *dbuf, uint32_t dlen)
{
	struct rx_pdu p;
	struct nvme_cqe cqe;
	uint32_t got = 0;

	for (;;) {
		recv_pdu(h, &p, dbuf, dlen);
		if (p.type == NVME_TCP_C2H_DATA) {
			assert_int_equal(p.cccid, cid);
			assert_int_equal(p.datao, got);
			got += p.datal;
			if (p.flags & NVME_TCP_F_DATA_SUCCESS) {
				assert_true(p.flags & NVME_TCP_F_DATA_LAST);
				assert_int_equal(got, dlen);
				memset(&cqe, 0, sizeof(cqe));
				cqe.cid = to_le16(cid);
				return cqe;
			}
			continue;
		}
		if (p.type == NVME_TCP_C2H_TERM)
			fail_msg("target terminated the connection (FES %#x)",
				 le16(((struct nvme_tcp_term_pdu *)p.hdr)->fes));
		assert_int_equal(p.type, NVME_TCP_RSP);
		memcpy(&cqe, p.hdr + 8, sizeof(cqe));
		assert_int_equal(le16(cqe.cid), cid);
		/* Data only comes with success, and then all of it. */
		if (NVME_STATUS_FROM_CQE(le16(cqe.status)) == 0)
			assert_int_equal(got, dlen);
		return cqe;
	}
}

static inline uint16_t cqe_status(const struct nvme_cqe *cqe)
{
	return NVME_STATUS_FROM_CQE(le16(cqe->status)) & 0x7ff; /* SCT/SC without DNR/More */
}

static inline struct nvme_cqe run_cmd(struct host *h, struct nvme_sqe *sqe, const void *out, uint32_t out_len,
				      uint8_t *in, uint32_t in_len)
{
	send_capsule(h, sqe, out, out_len);
	return wait_rsp(h, le16(sqe->cid), in, in_len);
}

static inline struct nvme_sqe mk_connect(struct host *h, uint16_t qid, uint16_t sqsize, uint32_t kato_ms)
{
	struct nvme_sqe sqe = mk_sqe(h, NVME_FABRICS_COMMAND, 0);
	struct nvmf_connect_sqe *c = (void *)&sqe;

	c->fctype = NVMF_FCTYPE_CONNECT;
	c->sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
	c->sgl.addr = 0;
	c->sgl.length = to_le32(sizeof(struct nvmf_connect_data));
	c->qid = to_le16(qid);
	c->sqsize = to_le16(sqsize);
	c->kato = to_le32(kato_ms);
	return sqe;
}

static inline void fill_connect_data(struct nvmf_connect_data *d, const char *subnqn, const char *hostnqn,
				     uint16_t cntlid)
{
	static const uint8_t hostid[16] = { 0x6b, 0x1f, 0x3c, 0x2a, 0x0d, 0x4e, 0x4f, 0x5a,
					    0x8b, 0x9c, 0x1d, 0x2e, 0x3f, 0x40, 0x51, 0x62 };

	memset(d, 0, sizeof(*d));
	memcpy(d->hostid, hostid, sizeof(hostid));
	d->cntlid = to_le16(cntlid);
	snprintf(d->subnqn, sizeof(d->subnqn), "%s", subnqn);
	snprintf(d->hostnqn, sizeof(d->hostnqn), "%s", hostnqn);
}

/* Connect a queue of sqsize + 1 entries with in-capsule data; returns the
 * status (SCT/SC). */
static inline uint16_t connect_queue_sq(struct host *h, const char *subnqn, const char *hostnqn, uint16_t qid,
					uint16_t cntlid, uint16_t sqsize, uint16_t *cntlid_out)
{
	struct nvme_sqe sqe = mk_connect(h, qid, sqsize, 0);
	struct nvmf_connect_data d;
	struct nvme_cqe cqe;

	fill_connect_data(&d, subnqn, hostnqn, cntlid);
	cqe = run_cmd(h, &sqe, &d, sizeof(d), NULL, 0);
	if (cntlid_out)
		*cntlid_out = (uint16_t)le32(cqe.dw0);
	return cqe_status(&cqe);
}

static inline uint16_t connect_queue_as(struct host *h, const char *subnqn, const char *hostnqn, uint16_t qid,
					uint16_t cntlid, uint16_t *cntlid_out)
{
	return connect_queue_sq(h, subnqn, hostnqn, qid, cntlid, 31, cntlid_out);
}

static inline uint16_t connect_queue(struct host *h, const char *subnqn, uint16_t qid, uint16_t cntlid,
				     uint16_t *cntlid_out)
{
	return connect_queue_as(h, subnqn, HOSTNQN, qid, cntlid, cntlid_out);
}

static inline uint64_t prop_get(struct host *h, uint32_t offset, bool eight)
{
	struct nvme_sqe sqe = mk_sqe(h, NVME_FABRICS_COMMAND, 0);
	struct nvmf_property_sqe *p = (void *)&sqe;
	struct nvme_cqe cqe;

	p->fctype = NVMF_FCTYPE_PROPERTY_GET;
	p->attrib = eight ? 1 : 0;
	p->offset = to_le32(offset);
	cqe = run_cmd(h, &sqe, NULL, 0, NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
	return (uint64_t)le32(cqe.dw0) | ((uint64_t)le32(cqe.dw1) << 32);
}

static inline void prop_set(struct host *h, uint32_t offset, uint32_t value)
{
	struct nvme_sqe sqe = mk_sqe(h, NVME_FABRICS_COMMAND, 0);
	struct nvmf_property_sqe *p = (void *)&sqe;
	struct nvme_cqe cqe;

	p->fctype = NVMF_FCTYPE_PROPERTY_SET;
	p->attrib = 0;
	p->offset = to_le32(offset);
	p->value = to_le64(value);
	cqe = run_cmd(h, &sqe, NULL, 0, NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
}

/* Admin queue up to CSTS.RDY, as a Linux host does it. Returns CNTLID. */
static inline uint16_t admin_bringup(struct host *h, const char *subnqn, bool hdgst, bool ddgst)
{
	uint16_t cntlid = 0;
	uint64_t cap;

	host_open(h, hdgst, ddgst);
	assert_int_equal(connect_queue(h, subnqn, 0, NVME_CNTLID_DYNAMIC, &cntlid), 0);
	assert_true(cntlid != NVME_CNTLID_DYNAMIC);
	cap = prop_get(h, NVME_REG_CAP, true);
	assert_true((cap & 0xffff) + 1 >= 32); /* MQES covers an SQSIZE of 31 */
	prop_set(h, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20));
	assert_true(prop_get(h, NVME_REG_CSTS, false) & NVME_CSTS_RDY);
	return cntlid;
}

static inline struct nvme_sqe mk_rw(struct host *h, uint8_t opcode, uint32_t nsid, uint64_t slba, uint32_t len)
{
	struct nvme_sqe sqe = mk_sqe(h, opcode, nsid);

	sqe.cdw10 = to_le32((uint32_t)slba);
	sqe.cdw11 = to_le32((uint32_t)(slba >> 32));
	sqe.cdw12 = to_le32(len / BLOCK - 1);
	sqe.sgl.length = to_le32(len);
	return sqe;
}

static inline uint16_t write_incapsule(struct host *h, uint32_t nsid, uint64_t slba, const void *buf, uint32_t len)
{
	struct nvme_sqe sqe = mk_rw(h, NVME_CMD_WRITE, nsid, slba, len);
	struct nvme_cqe cqe;

	sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
	cqe = run_cmd(h, &sqe, buf, len, NULL, 0);
	return cqe_status(&cqe);
}

/* One H2CData PDU: [datao, datao+len) of buf. Returns 0 or -errno. */
static inline int send_h2c_try(struct host *h, uint16_t cccid, uint16_t ttag, const uint8_t *buf, uint32_t datao,
			       uint32_t len, bool last)
{
	struct nvme_tcp_conn_params params = host_params(h);
	size_t total = sizeof(struct nvme_tcp_data_pdu) + 2 * NVME_TCP_DIGEST_LEN + len;
	uint8_t *pdu = calloc(1, total);
	struct nvme_tcp_data_pdu *d = (void *)pdu;
	uint32_t hl;
	int ret;

	assert_non_null(pdu);
	hl = nvme_tcp_fill_hdr(&d->hdr, NVME_TCP_H2C_DATA, last ? NVME_TCP_F_DATA_LAST : 0, &params, len);
	d->cccid = to_le16(cccid);
	d->ttag = to_le16(ttag);
	d->datao = to_le32(datao);
	d->datal = to_le32(len);
	if (h->hdgst)
		nvme_tcp_set_hdgst(d, sizeof(*d));
	memcpy(pdu + hl, buf + datao, len);
	if (h->ddgst)
		put_le32(pdu + hl + len, crc32c(buf + datao, len));
	ret = send_try(h->fd, pdu, le32(d->hdr.plen));
	free(pdu);
	return ret;
}

static inline void send_h2c(struct host *h, uint16_t cccid, uint16_t ttag, const uint8_t *buf, uint32_t datao,
			    uint32_t len, bool last)
{
	assert_int_equal(send_h2c_try(h, cccid, ttag, buf, datao, len, last), 0);
}

/* Send a command whose data goes by R2T and wait for the R2T; returns the TTAG. */
static inline uint16_t start_r2t(struct host *h, struct nvme_sqe *sqe, uint32_t len)
{
	const struct nvme_tcp_r2t_pdu *r2t;
	struct rx_pdu p;

	send_capsule(h, sqe, NULL, 0);
	recv_pdu(h, &p, NULL, 0);
	assert_int_equal(p.type, NVME_TCP_R2T);
	r2t = (const void *)p.hdr;
	assert_int_equal(r2t->cccid, sqe->cid);
	assert_int_equal(le32(r2t->r2to), 0);
	assert_int_equal(le32(r2t->r2tl), len);
	return le16(r2t->ttag);
}

/* A write with a transport SGL, up to its R2T; returns the TTAG, *cid the
 * command's CID. */
static inline uint16_t start_r2t_write(struct host *h, uint32_t nsid, uint64_t slba, uint32_t len, uint16_t *cid)
{
	struct nvme_sqe sqe = mk_rw(h, NVME_CMD_WRITE, nsid, slba, len);

	*cid = le16(sqe.cid);
	return start_r2t(h, &sqe, len);
}

/* R2T write answered with H2CData PDUs of at most `chunk` bytes. */
static inline uint16_t write_r2t_chunked(struct host *h, uint32_t nsid, uint64_t slba, const uint8_t *buf,
					 uint32_t len, uint32_t chunk)
{
	uint16_t cid, ttag = start_r2t_write(h, nsid, slba, len, &cid);
	struct nvme_cqe cqe;

	assert_true(chunk <= h->maxh2c);
	for (uint32_t off = 0; off < len; off += chunk) {
		uint32_t n = len - off < chunk ? len - off : chunk;

		send_h2c(h, cid, ttag, buf, off, n, off + n == len);
	}
	cqe = wait_rsp(h, cid, NULL, 0);
	return cqe_status(&cqe);
}

/* R2T write answered with H2CData PDUs of at most MAXH2CDATA bytes. */
static inline uint16_t write_r2t(struct host *h, uint32_t nsid, uint64_t slba, const uint8_t *buf, uint32_t len)
{
	return write_r2t_chunked(h, nsid, slba, buf, len, h->maxh2c);
}

static inline uint16_t read_blocks(struct host *h, uint32_t nsid, uint64_t slba, uint8_t *buf, uint32_t len)
{
	struct nvme_sqe sqe = mk_rw(h, NVME_CMD_READ, nsid, slba, len);
	struct nvme_cqe cqe = run_cmd(h, &sqe, NULL, 0, buf, len);

	return cqe_status(&cqe);
}

static inline void fill_pattern(uint8_t *buf, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++) {
		seed = seed * 1664525u + 1013904223u;
		buf[i] = (uint8_t)(seed >> 24);
	}
}

/* Admin + one I/O queue (qid 1), ready for I/O. */
struct session {
	struct host admin;
	struct host io;
	uint16_t cntlid;
};

/* The I/O queue has io_depth entries; io_rcvbuf > 0 gives its socket a
 * small receive buffer. */
static inline void session_open_ex(struct session *s, const char *subnqn, bool hdgst, bool ddgst, uint16_t io_depth,
				   int io_rcvbuf)
{
	s->cntlid = admin_bringup(&s->admin, subnqn, hdgst, ddgst);
	host_open_ex(&s->io, T.tcp_port, hdgst, ddgst, io_rcvbuf);
	assert_int_equal(connect_queue_sq(&s->io, subnqn, HOSTNQN, 1, s->cntlid, io_depth - 1, NULL), 0);
}

static inline void session_open(struct session *s, bool hdgst, bool ddgst)
{
	session_open_ex(s, SUBNQN, hdgst, ddgst, 32, 0);
}

static inline void session_close(struct session *s)
{
	host_close(&s->io);
	host_close(&s->admin);
}

/* A fresh connection is served: the target survived whatever came before. */
static inline void assert_target_serves(void)
{
	struct session s;
	uint8_t out[BLOCK], in[BLOCK];

	session_open(&s, false, false);
	fill_pattern(out, sizeof(out), 99);
	assert_int_equal(write_incapsule(&s.io, RAM_NSID, 4000, out, sizeof(out)), 0);
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 4000, in, sizeof(in)), 0);
	assert_memory_equal(in, out, sizeof(out));
	session_close(&s);
	wait_conns(0);
}

#endif
