/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the target transport's connections end to end: the receive state
 * machine, R2T/H2CData bookkeeping, command completion and the close path,
 * with the real command layer and reactors behind them.
 *
 * One target lives for the whole run: a subsystem that admits any host with
 * a 1 MiB RAM namespace (NSID 1, completes inline) and a 1 MiB file
 * namespace (NSID 2, asynchronous I/O on the reactor's ring, so commands
 * stay in flight while the connection fails or closes), exported with the
 * discovery subsystem on a port that has no listener, and two reactors
 * running on their own threads. Each input is a host program: connections
 * are socketpairs whose other end goes to tcp_conn_adopt(), and the
 * operations below send PDUs on them and read what comes back. At the end every host socket is closed and the
 * transport must release every connection (and the command layer every
 * controller) within RELEASE_TIMEOUT_MS, so leaks and use-after-free show
 * up per input; a connection still held after that aborts: a peer can then
 * make the target hold resources forever.
 *
 * What the target sends is checked as a host would: every PDU must pass the
 * host-side header checks for the negotiated digests, header and data
 * digests must be right, and a C2HData must describe its own payload.
 *
 * Input: a sequence of operations, an opcode byte and its operands (bytes
 * past the end of the input read as zero).
 *   opcode bits 0-3  operation (below)
 *          bits 4-5  connection slot 0-2 (3 = the previous op's slot); a
 *                    slot without a connection gets a new one first, on
 *                    the reactors in turn (at most MAX_CONNS per input)
 *          bit 6     corrupt the header digest of the PDU(s) sent (if any)
 *          bit 7     corrupt the data digest of the PDU(s) sent (if any)
 *   0 RAW     n, n bytes                    send the bytes as they are
 *   1 ICREQ   b                             DGST b&3, HPDA 1 if b&12 == 12,
 *                                           PFV b>>4&1, MAXR2T b>>5
 *   2 CONNECT a, b, cid                     a&3 subsystem (ramdisk, ramdisk,
 *             discovery, unknown), a&4 I/O queue (QID (b&15)+1), a&8 data by
 *             R2T (else in the capsule), a&16 CNTLID b (else 0xffff on the
 *             admin queue, the last admin Connect's result on an I/O queue),
 *             a&32 second host NQN, a&64 CATTR: SQ flow control disabled,
 *             a&128 KATO 0; SQSIZE from b>>4
 *   3 CMD     ctl, len16, 64-byte SQE, data SGL1 per ctl&3: as given (and
 *             len bytes of in-capsule data), in-capsule (len bytes), R2T
 *             (len, ctl&4: len*4) or none; in-capsule data comes from the
 *             input (at most CMD_DATA_MAX bytes)
 *   4 IO      ctl, cid, slba, nlb           NVM command on NSID 1 (ctl&16:
 *             NSID 2, the file): ctl&7 write, read, flush, write zeroes,
 *             compare, DSM, write uncorrectable, write; ctl&8 data in the
 *             capsule (else R2T); ctl&32 SGL length one block more than NLB
 *   5 PROP    ctl, cid                      Property Get/Set (ctl&1) of CAP,
 *             VS, CC, CSTS (ctl>>1&3), 8 bytes if ctl&8; set value per
 *             ctl>>4&3: CC.EN=1, CC.SHN normal, 0, cid * 0x01010101
 *   6 H2C     ctl, p0..p3 (mode 2: 12 bytes) H2CData; ctl&3 mode:
 *             0 deliver the oldest unanswered R2T (waiting for one if none
 *               is known yet) in PDUs of a size from ctl>>4
 *             1 the newest R2T, one PDU, DATAO += (int8)p0, DATAL +=
 *               (int8)p1 * 4, p2 bits: 1 CCCID+1, 2 TTAG+1, 4 TTAG 0xffff,
 *               8 DATAL field one more than the payload
 *             2 every field from the input: CCCID, TTAG (2 each), DATAO,
 *               DATAL (4 each); the payload is DATAL bytes, at most 16 KiB
 *             3 R2T number p0&7 back in history again (a replay), in full
 *             ctl&4: never set LAST_PDU
 *   7 TERM    fes, fei, n                   H2CTermReq copying n (>128:
 *                                           too long) header bytes
 *   8 DRAIN   t                             send what is corked, then read
 *             what the target sends until every command sent got its
 *             response or R2T, at most 20, 0, 2 or 50 ms (t&3)
 *   9 CLOSE   mode, n                       mode&3: close, shutdown(WR),
 *             shutdown(RDWR), close after sending n bytes of the next PDU
 *  10 FRAG    n                             send this slot's PDUs n bytes at
 *             a time (0: whole), each piece read by the target before the next
 *  11 ADMIN   which, cid, arg               an admin command from a table
 *             (Identify, logs, features, Keep Alive, AER, Abort, Disconnect)
 *  12 REOPEN                                close the slot's connection; the
 *                                           next op on the slot opens a new one
 *  13 CORK    b                             b != 0: collect this slot's PDUs
 *             (up to CORK_MAX bytes) to send them in one go; b == 0: send now
 *  14, 15     DRAIN of every slot (t = 0)
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "backend/backend.h"
#include "common/log.h"
#include "proto/crc32c.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"
#include "proto/nvme_tcp.h"
#include "reactor/reactor.h"
#include "target/target.h"
#include "transport/tcp_target.h"
#include "fuzz_common.h"

#define RAM_NQN "nqn.2026-01.io.nvmeof:fuzz-conn"
#define HOST_NQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001"
#define HOST2_NQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000002"
#define NREACTORS 2
#define NSLOTS 3
#define MAX_CONNS 8 /* connections per input */
#define MAX_OPS 256
#define MAX_WAIT 32 /* commands awaiting an answer, per connection */
#define R2T_HISTORY 8
#define CONNECT_HISTORY 4
#define MAX_PDUS_PER_OP 64
#define SEND_STALL_MS 5 /* a peer that reads nothing for this long: give up sending */
#define FRAG_WAIT_US 2000 /* at most this long for the target to read a fragment */
#define RELEASE_TIMEOUT_MS 2000
#define MAX_SEND (NVMF_MAX_XFER * 2 + 4096)
#define CMD_DATA_MAX 16384 /* in-capsule data from the input (the target takes 8 KiB) */
#define CORK_MAX (256u * 1024)

enum op_kind {
	OP_RAW,
	OP_ICREQ,
	OP_CONNECT,
	OP_CMD,
	OP_IO,
	OP_PROP,
	OP_H2C,
	OP_TERM,
	OP_DRAIN,
	OP_CLOSE,
	OP_FRAG,
	OP_ADMIN,
	OP_REOPEN,
	OP_CORK,
};

struct r2t_rec {
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to;
	uint32_t r2tl;
	bool answered;
};

/* The host end of one connection. */
struct host_conn {
	int fd; /* -1: none */
	bool eof; /* the target closed (or we shut down reading) */
	bool wr_closed; /* we cannot send any more */
	bool send_stuck; /* the target stopped reading: drop further sends */
	bool frag_stuck; /* fragments are no longer waited for */
	int cut_after; /* >= 0: close after this many more bytes */
	uint32_t frag;
	bool corked;
	uint8_t *cork_buf; /* CORK_MAX bytes, kept across inputs */
	size_t cork_len;
	/* What we believe was negotiated, for PDUs we build: what we asked
	 * for until the ICResp says otherwise. */
	struct nvme_tcp_conn_params tx;

	/* receive side: parse the target's PDUs as they stream in */
	struct nvme_tcp_conn_params rx; /* from the ICResp */
	bool ic_done; /* ICResp seen */
	bool wait_icresp;
	bool got_term;
	enum { RX_HDR, RX_DATA, RX_DDGST } rx_state;
	uint8_t rhdr[NVME_TCP_MAX_HDR + 8];
	uint32_t rhave, rneed; /* header bytes so far / needed (8 until PLEN is known) */
	uint32_t rdata_left; /* payload bytes to come */
	uint32_t rdata_crc;
	uint8_t rddgst[NVME_TCP_DIGEST_LEN];
	uint32_t rddgst_have;
	bool rddgst_on; /* this PDU carries a data digest */

	uint16_t wait_cid[MAX_WAIT];
	unsigned int nwait;
	struct r2t_rec r2t[R2T_HISTORY];
	unsigned int nr2t; /* total ever seen; r2t[n % R2T_HISTORY] */

	/* the last Connects sent, to learn the CNTLID and deliver their data */
	struct host_connect {
		bool used;
		bool pending; /* no response yet */
		bool admin;
		uint16_t cid;
		struct nvmf_connect_data data;
	} connects[CONNECT_HISTORY];
	unsigned int nconnects;
};

struct input {
	const uint8_t *p;
	size_t size, off;
};

static struct nvmf_tgt *tgt;
static struct nvmf_port *port;
static struct reactor *reactors[NREACTORS];
static pthread_t threads[NREACTORS];
static struct host_conn conns[NSLOTS];
static unsigned int nconns; /* connections opened by this input */
static bool have_cntlid;
static uint16_t cntlid;
static bool connect_sent; /* then check that no controller outlives the input */
static uint8_t *txbuf; /* one PDU being built */
static uint8_t rxbuf[65536];
static bool trace; /* FUZZ_TRACE=1: print what the target sends */

/* ------------------------------------------------------------------ */
/* Setup                                                               */

static void *reactor_main(void *arg)
{
	reactor_run(arg);
	return NULL;
}

static void setup(void)
{
	struct backend_open_opts bo = { .path = NULL, .size = 1u << 20, .block_size = 512 };
	struct nvmf_port_opts po = { .portid = 1, .adrfam = NVMF_ADRFAM_IPV4 };
	struct nvmf_ns_opts no = { .nsid = 1, .enabled = true };
	struct nvmf_ns_opts no2 = { .nsid = 2, .enabled = true };
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	struct nvmf_subsys *s;
	char err[256];
	int fd;

	/* Refused input is logged at error level; run.sh hides stderr
	 * (-close_fd_mask=2), sanitizer reports still show. */
	log_set_level(getenv("FUZZ_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	trace = getenv("FUZZ_TRACE") != NULL;
	snprintf(po.traddr, sizeof(po.traddr), "127.0.0.1");
	snprintf(po.trsvcid, sizeof(po.trsvcid), "4420");
	if (nvmf_tgt_create(&tgt) || nvmf_subsys_create(tgt, RAM_NQN, &s) ||
	    backend_open(&bo, &no.backend, err, sizeof(err)) || nvmf_subsys_add_ns(s, &no, NULL) ||
	    nvmf_port_create(tgt, &po, &port) || nvmf_port_add_subsys(port, s)) {
		fprintf(stderr, "fuzz setup: target creation failed\n");
		abort();
	}
	/* The file namespace: its name goes away at once, the open file stays. */
	snprintf(path, sizeof(path), "%s/fuzz_tcp_conn.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	bo.path = path;
	if (fd < 0 || backend_open(&bo, &no2.backend, err, sizeof(err)) || nvmf_subsys_add_ns(s, &no2, NULL)) {
		fprintf(stderr, "fuzz setup: file namespace %s: %s\n", path, fd < 0 ? strerror(errno) : err);
		abort();
	}
	unlink(path);
	close(fd);
	nvmf_subsys_set_allow_any_host(s, true);
	for (unsigned int i = 0; i < NREACTORS; i++) {
		/* No spinning: the fuzzer and both reactors share few CPUs. */
		struct reactor_opts ro = { .ring_entries = 256, .spin_us = 0 };

		if (reactor_create(&ro, &reactors[i])) {
			fprintf(stderr, "fuzz setup: reactor creation failed\n");
			abort();
		}
		reactor_set_id(reactors[i], i);
	}
	nvmf_tgt_set_reactors(tgt, reactors, NREACTORS);
	for (unsigned int i = 0; i < NREACTORS; i++)
		if (pthread_create(&threads[i], NULL, reactor_main, reactors[i]))
			abort();
	txbuf = malloc(MAX_SEND);
	if (!txbuf)
		abort();
	for (unsigned int i = 0; i < NSLOTS; i++) {
		conns[i].fd = -1;
		conns[i].cork_buf = malloc(CORK_MAX);
		if (!conns[i].cork_buf)
			abort();
	}
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------------ */
/* Input                                                               */

static uint8_t in8(struct input *in)
{
	return in->off < in->size ? in->p[in->off++] : 0;
}

static uint16_t in16(struct input *in)
{
	uint16_t v = in8(in);

	return (uint16_t)(v | in8(in) << 8);
}

static uint32_t in32(struct input *in)
{
	uint32_t v = in16(in);

	return v | (uint32_t)in16(in) << 16;
}

static void in_bytes(struct input *in, void *dst, size_t n)
{
	size_t avail = in->size - in->off < n ? in->size - in->off : n;

	memcpy(dst, in->p + in->off, avail);
	memset((uint8_t *)dst + avail, 0, n - avail);
	in->off += avail;
}

/* ------------------------------------------------------------------ */
/* Receive: parse and check what the target sends                      */

static void wait_del(struct host_conn *c, uint16_t cid)
{
	for (unsigned int i = 0; i < c->nwait; i++) {
		if (c->wait_cid[i] == cid) {
			c->wait_cid[i] = c->wait_cid[--c->nwait];
			return;
		}
	}
}

static void wait_add(struct host_conn *c, uint16_t cid)
{
	for (unsigned int i = 0; i < c->nwait; i++)
		if (c->wait_cid[i] == cid)
			return;
	if (c->nwait < MAX_WAIT)
		c->wait_cid[c->nwait++] = cid;
}

static bool conn_waiting(const struct host_conn *c)
{
	return c->fd >= 0 && !c->eof && !c->got_term && (c->nwait || c->wait_icresp);
}

/* A complete header (with its digest) of a PDU from the target. */
static void rx_header(struct host_conn *c)
{
	const struct nvme_tcp_hdr *h = (const void *)c->rhdr;

	if (trace)
		fprintf(stderr, "fd %d: PDU type %#x flags %#x plen %u\n", c->fd, h->type, h->flags,
			le32(h->plen));
	switch (h->type) {
	case NVME_TCP_ICRESP: {
		const struct nvme_tcp_icresp_pdu *r = (const void *)c->rhdr;

		fuzz_assert(le16(r->pfv) == NVME_TCP_PFV_1_0);
		fuzz_assert(r->cpda == 0);
		fuzz_assert(le32(r->maxdata) >= 4096 && le32(r->maxdata) % 4 == 0);
		memset(&c->rx, 0, sizeof(c->rx));
		c->rx.hdgst = r->digest & NVME_TCP_HDR_DIGEST_ENABLE;
		c->rx.ddgst = r->digest & NVME_TCP_DATA_DIGEST_ENABLE;
		c->rx.maxh2cdata = le32(r->maxdata);
		c->tx = c->rx;
		c->ic_done = true;
		c->wait_icresp = false;
		break;
	}
	case NVME_TCP_C2H_TERM:
		c->got_term = true;
		c->wait_icresp = false;
		c->nwait = 0;
		break;
	case NVME_TCP_RSP: {
		const struct nvme_tcp_rsp_pdu *r = (const void *)c->rhdr;
		uint16_t cid = r->cqe.cid;

		wait_del(c, cid);
		for (unsigned int i = 0; i < CONNECT_HISTORY; i++) {
			struct host_connect *hc = &c->connects[i];

			if (!hc->used || !hc->pending || hc->cid != cid)
				continue;
			hc->pending = false;
			if ((le16(r->cqe.status) >> 1) == 0) {
				if (hc->admin) {
					cntlid = (uint16_t)le32(r->cqe.dw0);
					have_cntlid = true;
				}
			}
			break;
		}
		break;
	}
	case NVME_TCP_C2H_DATA: {
		const struct nvme_tcp_data_pdu *d = (const void *)c->rhdr;

		fuzz_assert(le32(d->datal) == c->rdata_left);
		fuzz_assert(le32(d->datao) + (uint64_t)le32(d->datal) <= NVMF_MAX_XFER);
		/* SUCCESS is only valid on the last PDU, and replaces the response. */
		if (h->flags & NVME_TCP_F_DATA_SUCCESS) {
			fuzz_assert(h->flags & NVME_TCP_F_DATA_LAST);
			wait_del(c, d->cccid);
		}
		break;
	}
	case NVME_TCP_R2T: {
		const struct nvme_tcp_r2t_pdu *r = (const void *)c->rhdr;
		struct r2t_rec *rec = &c->r2t[c->nr2t++ % R2T_HISTORY];

		fuzz_assert(le32(r->r2tl) > 0 && le32(r->r2tl) <= NVMF_MAX_XFER);
		rec->cccid = r->cccid;
		rec->ttag = le16(r->ttag);
		rec->r2to = le32(r->r2to);
		rec->r2tl = le32(r->r2tl);
		rec->answered = false;
		/* The command now waits for us, not the other way round. */
		wait_del(c, r->cccid);
		break;
	}
	default:
		fuzz_assert(!"unexpected PDU type from the target");
	}
}

/* The common header is in: check it as a host would, learn the lengths. */
static void rx_common(struct host_conn *c)
{
	const struct nvme_tcp_hdr *h = (const void *)c->rhdr;
	struct nvme_tcp_check err;
	uint32_t hdr_total, data_len;
	int ret;

	ret = nvme_tcp_check_common(h, NVME_TCP_ROLE_HOST, c->ic_done, &c->rx, NVMF_MAX_XFER, &hdr_total,
				    &data_len, &err);
	if (ret)
		fprintf(stderr, "target sent a bad PDU header: type %#x flags %#x hlen %u pdo %u plen %u (FES %#x FEI %u)\n",
			h->type, h->flags, h->hlen, h->pdo, le32(h->plen), err.fes, err.fei);
	fuzz_assert(ret == 0);
	/* C2H data is never padded: the payload follows the header (digest). */
	fuzz_assert(hdr_total == h->hlen + (c->rx.hdgst && nvme_tcp_type_has_hdgst(h->type) ? NVME_TCP_DIGEST_LEN : 0));
	c->rneed = hdr_total;
	c->rdata_left = data_len;
	c->rdata_crc = CRC32C_SEED;
	c->rddgst_on = data_len && c->rx.ddgst && h->type == NVME_TCP_C2H_DATA;
}

/* Feed bytes the target sent through the host-side PDU parser. */
static void rx_feed(struct host_conn *c, const uint8_t *p, size_t n)
{
	while (n) {
		uint32_t take;

		switch (c->rx_state) {
		case RX_HDR:
			if (c->rneed == 0)
				c->rneed = sizeof(struct nvme_tcp_hdr);
			take = c->rneed - c->rhave < n ? c->rneed - c->rhave : (uint32_t)n;
			memcpy(c->rhdr + c->rhave, p, take);
			c->rhave += take;
			p += take;
			n -= take;
			if (c->rhave < c->rneed)
				break;
			if (c->rhave == sizeof(struct nvme_tcp_hdr)) {
				rx_common(c);
				if (c->rhave < c->rneed)
					break;
			}
			if (c->rx.hdgst && nvme_tcp_type_has_hdgst(c->rhdr[0]))
				fuzz_assert(nvme_tcp_verify_hdgst(c->rhdr, c->rhdr[2]) == 0);
			rx_header(c);
			c->rhave = c->rneed = 0;
			c->rx_state = c->rdata_left ? RX_DATA : RX_HDR;
			break;
		case RX_DATA:
			take = c->rdata_left < n ? c->rdata_left : (uint32_t)n;
			if (c->rddgst_on)
				c->rdata_crc = crc32c_update(c->rdata_crc, p, take);
			c->rdata_left -= take;
			p += take;
			n -= take;
			if (c->rdata_left)
				break;
			c->rddgst_have = 0;
			c->rx_state = c->rddgst_on ? RX_DDGST : RX_HDR;
			break;
		case RX_DDGST:
			c->rddgst[c->rddgst_have++] = *p++;
			n--;
			if (c->rddgst_have < NVME_TCP_DIGEST_LEN)
				break;
			fuzz_assert(get_le32(c->rddgst) == crc32c_final(c->rdata_crc));
			c->rx_state = RX_HDR;
			break;
		}
	}
}

/* Read whatever is there without blocking. Returns true if anything came. */
static bool rx_poll(struct host_conn *c)
{
	bool got = false;

	while (c->fd >= 0 && !c->eof) {
		ssize_t n = recv(c->fd, rxbuf, sizeof(rxbuf), MSG_DONTWAIT);

		if (n > 0) {
			rx_feed(c, rxbuf, (size_t)n);
			got = true;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->eof = true;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	return got;
}

static void cork_flush(struct host_conn *c);

/* Read until nothing is awaited any more, or max_ms passed. */
static void drain(struct host_conn *c, unsigned int max_ms)
{
	uint64_t end = now_us() + max_ms * 1000u;

	cork_flush(c);
	rx_poll(c);
	while (conn_waiting(c)) {
		uint64_t now = now_us();
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

		if (now >= end)
			break;
		if (poll(&pfd, 1, (int)((end - now + 999) / 1000)) <= 0)
			break;
		rx_poll(c);
	}
}

/* ------------------------------------------------------------------ */
/* Send                                                                */

static void conn_close(struct host_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->cork_len = 0;
}

static struct host_conn *conn_get(unsigned int slot)
{
	struct host_conn *c = &conns[slot];
	uint8_t *buf;
	int sv[2];
	int ret;

	if (c->fd >= 0)
		return c;
	if (nconns >= MAX_CONNS)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		perror("socketpair");
		abort();
	}
	buf = c->cork_buf;
	memset(c, 0, sizeof(*c));
	c->cork_buf = buf;
	c->fd = sv[0];
	c->cut_after = -1;
	ret = tcp_conn_adopt(tgt, port, reactors[nconns++ % NREACTORS], sv[1]);
	if (ret) {
		fprintf(stderr, "tcp_conn_adopt: %s\n", strerror(-ret));
		abort();
	}
	return c;
}

/* Wait (bounded) for the target to read everything sent so far, reading
 * its answers meanwhile; an AF_UNIX sender's queue empties as it reads. */
static void wait_consumed(struct host_conn *c)
{
	uint64_t end = now_us() + FRAG_WAIT_US;
	int queued;

	for (;;) {
		rx_poll(c);
		if (c->fd < 0 || ioctl(c->fd, SIOCOUTQ, &queued) || queued == 0)
			return;
		if (now_us() >= end) {
			c->frag_stuck = true;
			return;
		}
		sched_yield();
	}
}

static void send_now(struct host_conn *c, const uint8_t *p, size_t n)
{
	uint64_t stall_end = 0;
	bool split = c->frag && !c->frag_stuck && c->frag < n;
	size_t piece = split ? c->frag : n;
	unsigned int pieces = 0;

	while (n && c->fd >= 0 && !c->wr_closed && !c->send_stuck) {
		size_t want = n < piece ? n : piece;
		ssize_t r;

		if (c->cut_after >= 0 && want > (size_t)c->cut_after)
			want = (size_t)c->cut_after;
		if (want == 0) {
			conn_close(c);
			return;
		}
		r = send(c->fd, p, want, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			stall_end = 0;
			if (c->cut_after >= 0 && (c->cut_after -= (int)r) == 0) {
				conn_close(c);
				return;
			}
			/* Let the target see each piece on its own. */
			if (split && n && !c->frag_stuck && ++pieces <= MAX_PDUS_PER_OP)
				wait_consumed(c);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			/* The target is not reading: it may be waiting for us to
			 * read its responses first. */
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLOUT };
			uint64_t now = now_us();

			if (!stall_end)
				stall_end = now + SEND_STALL_MS * 1000u;
			if (now >= stall_end) {
				c->send_stuck = true;
				return;
			}
			poll(&pfd, 1, 1);
			rx_poll(c);
			continue;
		}
		c->wr_closed = true; /* EPIPE, ECONNRESET: the target closed */
	}
}

static void cork_flush(struct host_conn *c)
{
	size_t n = c->cork_len;

	c->cork_len = 0;
	if (n)
		send_now(c, c->cork_buf, n);
}

static void send_raw(struct host_conn *c, const uint8_t *p, size_t n)
{
	if (!c->corked) {
		send_now(c, p, n);
		return;
	}
	if (c->cork_len + n > CORK_MAX)
		cork_flush(c);
	if (n > CORK_MAX) {
		send_now(c, p, n);
		return;
	}
	memcpy(c->cork_buf + c->cork_len, p, n);
	c->cork_len += n;
}

/* Header digest after the header, data, data digest; PLEN and flags as
 * the negotiated parameters say. Returns the PDU length in txbuf. */
static size_t build_pdu(struct host_conn *c, uint8_t op, uint8_t type, uint8_t flags, const void *hdr,
			uint32_t hlen, const void *data, uint32_t data_len)
{
	struct nvme_tcp_hdr *h = (void *)txbuf;
	uint32_t hbytes;
	size_t len;

	memcpy(txbuf, hdr, hlen);
	hbytes = nvme_tcp_fill_hdr(h, type, flags, &c->tx, data_len);
	if (c->tx.hdgst) {
		nvme_tcp_set_hdgst(txbuf, (uint8_t)hlen);
		if (op & 0x40)
			txbuf[hlen] ^= 0x5a;
	}
	len = hbytes;
	if (data_len) {
		if (data)
			memcpy(txbuf + len, data, data_len);
		len += data_len;
		if (c->tx.ddgst) {
			put_le32(txbuf + len, crc32c(txbuf + hbytes, data_len));
			if (op & 0x80)
				txbuf[len] ^= 0xa5;
			len += NVME_TCP_DIGEST_LEN;
		}
	}
	return len;
}

/* Payload bytes the host sends for cid at offset off: a Connect's data, or
 * a pattern the target cannot tell from real data. */
static void fill_payload(const struct host_conn *c, uint16_t cid, uint32_t off, uint8_t *dst, uint32_t len)
{
	const uint8_t *cd = NULL;

	/* The newest Connect with this CID. */
	for (unsigned int n = 0; n < CONNECT_HISTORY && n < c->nconnects; n++) {
		const struct host_connect *hc = &c->connects[(c->nconnects - 1 - n) % CONNECT_HISTORY];

		if (hc->cid == cid) {
			cd = (const uint8_t *)&hc->data;
			break;
		}
	}
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;

		if (cd && o < sizeof(struct nvmf_connect_data))
			dst[i] = cd[o];
		else
			dst[i] = (uint8_t)(o * 7u + cid);
	}
}

/* Send a CapsuleCmd; len bytes of data follow in the capsule if in_capsule. */
static void send_capsule(struct host_conn *c, uint8_t op, const struct nvme_sqe *sqe, const void *data,
			 uint32_t len)
{
	struct nvme_tcp_cmd_pdu pdu;
	size_t n;

	memset(&pdu, 0, sizeof(pdu));
	pdu.sqe = *sqe;
	n = build_pdu(c, op, NVME_TCP_CMD, 0, &pdu, sizeof(pdu), data, len);
	send_raw(c, txbuf, n);
	if (sqe->opcode != NVME_ADMIN_ASYNC_EVENT)
		wait_add(c, sqe->cid);
	if (sqe->opcode == NVME_FABRICS_COMMAND && ((const struct nvmf_connect_sqe *)sqe)->fctype == NVMF_FCTYPE_CONNECT)
		connect_sent = true;
}

static void set_sgl(struct nvme_sqe *sqe, bool in_capsule, uint32_t len)
{
	memset(&sqe->sgl, 0, sizeof(sqe->sgl));
	if (!len)
		return;
	sqe->sgl.length = to_le32(len);
	sqe->sgl.type = in_capsule ? NVME_SGL_DATA_BLOCK_OFFSET : NVME_SGL_TRANSPORT_DATA_BLOCK;
}

/* A command with data that is generated (not taken from the input). */
static void send_cmd_gen(struct host_conn *c, uint8_t op, struct nvme_sqe *sqe, bool in_capsule, uint32_t len)
{
	static uint8_t data[NVMF_MAX_XFER];

	sqe->flags = NVME_SQE_FLAGS_SGL;
	set_sgl(sqe, in_capsule, len);
	if (in_capsule && len > sizeof(data))
		len = sizeof(data);
	if (in_capsule)
		fill_payload(c, sqe->cid, 0, data, len);
	send_capsule(c, op, sqe, data, in_capsule ? len : 0);
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */

static void op_icreq(struct host_conn *c, struct input *in)
{
	uint8_t b = in8(in);
	struct nvme_tcp_icreq_pdu pdu;

	nvme_tcp_build_icreq(&pdu, b & 1, b & 2, (b & 12) == 12 ? 1 : 0);
	pdu.pfv = to_le16((b >> 4) & 1);
	pdu.maxr2t = to_le32(b >> 5);
	/* Until the ICResp comes, assume the digests we asked for. */
	if (!c->ic_done) {
		c->tx.hdgst = b & 1;
		c->tx.ddgst = b & 2;
		c->wait_icresp = true;
	}
	send_raw(c, (const uint8_t *)&pdu, sizeof(pdu));
}

static void op_connect(struct host_conn *c, uint8_t op, struct input *in)
{
	static const uint16_t sqsizes[16] = { 31, 127, 0, 1, 15, 126, 128, 255,
					      3, 7, 63, 0xffff, 31, 127, 2, 4096 };
	static const char *const nqns[4] = { RAM_NQN, RAM_NQN, NVME_DISC_NQN,
					      "nqn.2026-01.io.nvmeof:nonexistent" };
	uint8_t a = in8(in), b = in8(in), cid = in8(in);
	struct nvmf_connect_sqe s;
	struct host_connect *hc;
	bool io = a & 4;

	memset(&s, 0, sizeof(s));
	s.opcode = NVME_FABRICS_COMMAND;
	s.cid = cid;
	s.fctype = NVMF_FCTYPE_CONNECT;
	s.qid = to_le16(io ? (b & 15) + 1 : 0);
	s.sqsize = to_le16(sqsizes[b >> 4]);
	s.cattr = a & 64 ? 4 : 0;
	s.kato = to_le32(a & 128 ? 0 : 5000);

	hc = &c->connects[c->nconnects++ % CONNECT_HISTORY];
	memset(hc, 0, sizeof(*hc));
	for (int i = 0; i < 16; i++)
		hc->data.hostid[i] = (uint8_t)(0x10 + i + (a & 32 ? 1 : 0));
	if (a & 16)
		hc->data.cntlid = to_le16(b);
	else if (io && have_cntlid)
		hc->data.cntlid = to_le16(cntlid);
	else
		hc->data.cntlid = to_le16(NVME_CNTLID_DYNAMIC);
	snprintf(hc->data.subnqn, sizeof(hc->data.subnqn), "%s", nqns[a & 3]);
	snprintf(hc->data.hostnqn, sizeof(hc->data.hostnqn), "%s", a & 32 ? HOST2_NQN : HOST_NQN);
	hc->used = true;
	hc->pending = true;
	hc->cid = cid;
	hc->admin = !io;
	send_cmd_gen(c, op, (struct nvme_sqe *)&s, !(a & 8), sizeof(hc->data));
}

static void op_cmd(struct host_conn *c, uint8_t op, struct input *in)
{
	static uint8_t data[CMD_DATA_MAX];
	uint8_t ctl = in8(in);
	uint32_t len = in16(in);
	struct nvme_sqe sqe;

	in_bytes(in, &sqe, sizeof(sqe));
	switch (ctl & 3) {
	case 0: /* SGL as given, whatever the data */
		if (len > sizeof(data))
			len = sizeof(data);
		break;
	case 1:
		if (len > sizeof(data))
			len = sizeof(data);
		set_sgl(&sqe, true, len);
		break;
	case 2:
		set_sgl(&sqe, false, ctl & 4 ? len * 4 : len);
		len = 0;
		break;
	case 3:
		set_sgl(&sqe, false, 0);
		len = 0;
		break;
	}
	in_bytes(in, data, len);
	send_capsule(c, op, &sqe, data, len);
}

static void op_io(struct host_conn *c, uint8_t op, struct input *in)
{
	static const uint8_t opcodes[8] = { 0x01, 0x02, 0x00, 0x08, 0x05, 0x09, 0x04, 0x01 };
	uint8_t ctl = in8(in), cid = in8(in), slba = in8(in), nlb = in8(in);
	uint8_t opc = opcodes[ctl & 7];
	uint32_t len = ((uint32_t)nlb + 1) * 512 + (ctl & 32 ? 512 : 0);
	struct nvme_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = opc;
	sqe.cid = cid;
	sqe.nsid = to_le32(ctl & 16 ? 2 : 1);
	sqe.cdw10 = to_le32((uint32_t)slba * 8);
	sqe.cdw12 = to_le32(nlb);
	switch (opc) {
	case 0x00: /* flush */
	case 0x08: /* write zeroes */
	case 0x04: /* write uncorrectable */
		len = 0;
		break;
	case 0x09: /* DSM: one deallocate range (the pattern is the range) */
		sqe.cdw10 = 0;
		sqe.cdw11 = to_le32(4);
		len = 16;
		break;
	default:
		break;
	}
	if (opc == 0x02) {
		/* Read: C2H data, no data from the host. */
		sqe.flags = NVME_SQE_FLAGS_SGL;
		set_sgl(&sqe, false, len);
		send_capsule(c, op, &sqe, NULL, 0);
		return;
	}
	send_cmd_gen(c, op, &sqe, ctl & 8, len);
}

static void op_prop(struct host_conn *c, uint8_t op, struct input *in)
{
	static const uint32_t offsets[4] = { 0x00, 0x08, 0x14, 0x1c };
	uint8_t ctl = in8(in), cid = in8(in);
	const uint64_t values[4] = { 0x460001, 0x464001, 0, cid * 0x01010101ull };
	struct nvmf_property_sqe s;

	memset(&s, 0, sizeof(s));
	s.opcode = NVME_FABRICS_COMMAND;
	s.cid = cid;
	s.fctype = ctl & 1 ? NVMF_FCTYPE_PROPERTY_SET : NVMF_FCTYPE_PROPERTY_GET;
	s.attrib = ctl & 8 ? 1 : 0;
	s.offset = to_le32(offsets[(ctl >> 1) & 3]);
	if (ctl & 1)
		s.value = to_le64(values[(ctl >> 4) & 3]);
	send_cmd_gen(c, op, (struct nvme_sqe *)&s, false, 0);
}

static void op_admin(struct host_conn *c, uint8_t op, struct input *in)
{
	uint8_t which = in8(in), cid = in8(in), arg = in8(in);
	struct nvme_sqe sqe;
	uint32_t c2h = 0;

	memset(&sqe, 0, sizeof(sqe));
	sqe.cid = cid;
	switch (which & 15) {
	case 0: /* Identify Controller */
	case 1: /* Identify Namespace */
	case 2: /* Active NS list */
	case 3: /* NS descriptors */
		sqe.opcode = 0x06;
		sqe.nsid = to_le32((which & 15) == 1 || (which & 15) == 3 ? 1 : 0);
		sqe.cdw10 = to_le32((uint32_t[]){ 1, 0, 2, 3 }[which & 3]);
		c2h = 4096;
		break;
	case 4: /* SMART */
		sqe.opcode = 0x02;
		sqe.nsid = to_le32(NVME_NSID_ALL);
		sqe.cdw10 = to_le32(0x02 | (127u << 16));
		c2h = 512;
		break;
	case 5: /* discovery log, arg KiB */
		c2h = ((uint32_t)(arg & 31) + 1) * 1024;
		sqe.opcode = 0x02;
		sqe.cdw10 = to_le32(0x70 | ((c2h / 4 - 1) << 16));
		break;
	case 6: /* Set Features: number of queues */
		sqe.opcode = 0x09;
		sqe.cdw10 = to_le32(0x07);
		sqe.cdw11 = to_le32(arg * 0x00010001u);
		break;
	case 7: /* Get Features */
		sqe.opcode = 0x0a;
		sqe.cdw10 = to_le32(arg);
		c2h = arg == 0x0c || arg == 0x0e ? 4096 : 0;
		break;
	case 8:
		sqe.opcode = 0x18; /* Keep Alive */
		break;
	case 9:
		sqe.opcode = NVME_ADMIN_ASYNC_EVENT;
		break;
	case 10: /* Abort: SQID 0 (arg&1: 1), CID arg */
		sqe.opcode = 0x08;
		sqe.cdw10 = to_le32((arg & 1) | (uint32_t)arg << 16);
		break;
	case 11: { /* Disconnect */
		struct nvmf_connect_sqe *s = (void *)&sqe;

		s->opcode = NVME_FABRICS_COMMAND;
		s->fctype = NVMF_FCTYPE_DISCONNECT;
		break;
	}
	case 12: /* Set Features: async event configuration */
		sqe.opcode = 0x09;
		sqe.cdw10 = to_le32(0x0b);
		sqe.cdw11 = to_le32((uint32_t)arg << 8);
		break;
	case 13: /* error log */
		sqe.opcode = 0x02;
		sqe.cdw10 = to_le32(0x01 | (1023u << 16));
		c2h = 4096;
		break;
	case 14: /* Set Features: keep alive timer */
		sqe.opcode = 0x09;
		sqe.cdw10 = to_le32(0x0f);
		sqe.cdw11 = to_le32(arg * 100u);
		break;
	case 15: /* changed NS list */
		sqe.opcode = 0x02;
		sqe.cdw10 = to_le32(0x04 | (1023u << 16));
		c2h = 4096;
		break;
	}
	sqe.flags = NVME_SQE_FLAGS_SGL;
	set_sgl(&sqe, false, c2h);
	send_capsule(c, op, &sqe, NULL, 0);
}

/* One H2CData PDU; the payload is generated for cccid unless data is given. */
static void send_h2c(struct host_conn *c, uint8_t op, uint16_t cccid, uint16_t ttag, uint32_t datao,
		     uint32_t datal_field, uint32_t len, bool last)
{
	static uint8_t data[NVMF_MAX_XFER];
	struct nvme_tcp_data_pdu pdu;
	size_t n;

	if (len > sizeof(data))
		len = sizeof(data);
	memset(&pdu, 0, sizeof(pdu));
	pdu.cccid = cccid;
	pdu.ttag = to_le16(ttag);
	pdu.datao = to_le32(datao);
	pdu.datal = to_le32(datal_field);
	fill_payload(c, cccid, datao, data, len);
	n = build_pdu(c, op, NVME_TCP_H2C_DATA, last ? NVME_TCP_F_DATA_LAST : 0, &pdu, sizeof(pdu), data, len);
	send_raw(c, txbuf, n);
}

static struct r2t_rec *oldest_r2t(struct host_conn *c)
{
	unsigned int first = c->nr2t > R2T_HISTORY ? c->nr2t - R2T_HISTORY : 0;

	for (unsigned int i = first; i < c->nr2t; i++)
		if (!c->r2t[i % R2T_HISTORY].answered)
			return &c->r2t[i % R2T_HISTORY];
	return NULL;
}

static void op_h2c(struct host_conn *c, uint8_t op, struct input *in)
{
	static const uint32_t chunks[16] = { 0, 4096, 512, 1024, 8192, 32768, 65536, 1,
					     3, 100, 2048, 16384, 131072, 7, 4, 64 };
	uint8_t ctl = in8(in);
	bool nolast = ctl & 4;
	struct r2t_rec *r, zero = { 0 };

	switch (ctl & 3) {
	case 0: {
		uint32_t chunk = chunks[ctl >> 4], off;
		unsigned int pdus = 0;

		if (!(r = oldest_r2t(c))) {
			/* The R2T may still be on its way. */
			c->nwait ? drain(c, 20) : rx_poll(c);
			if (!(r = oldest_r2t(c)))
				return;
		}
		r->answered = true;
		if (!chunk || chunk > c->tx.maxh2cdata)
			chunk = c->tx.maxh2cdata ? c->tx.maxh2cdata : NVMF_MAX_XFER;
		for (off = 0; off < r->r2tl && pdus < MAX_PDUS_PER_OP; pdus++) {
			uint32_t len = r->r2tl - off < chunk ? r->r2tl - off : chunk;

			send_h2c(c, op, r->cccid, r->ttag, r->r2to + off, len, len,
				 !nolast && off + len == r->r2tl);
			off += len;
		}
		if (off == r->r2tl)
			wait_add(c, r->cccid);
		break;
	}
	case 1: {
		int8_t dofs = (int8_t)in8(in), dlen = (int8_t)in8(in);
		uint8_t bits = in8(in);
		uint32_t datao, len;

		(void)in8(in);
		r = c->nr2t ? &c->r2t[(c->nr2t - 1) % R2T_HISTORY] : &zero;
		datao = r->r2to + (uint32_t)(int32_t)dofs;
		len = r->r2tl + (uint32_t)((int32_t)dlen * 4);
		if ((int32_t)len < 0)
			len = 0;
		send_h2c(c, op, (uint16_t)(r->cccid + (bits & 1)),
			 bits & 4 ? 0xffff : (uint16_t)(r->ttag + ((bits >> 1) & 1)), datao,
			 len + ((bits >> 3) & 1), len, !nolast);
		r->answered = true;
		wait_add(c, r->cccid);
		break;
	}
	case 2: {
		uint16_t cccid = in16(in), ttag = in16(in);
		uint32_t datao = in32(in), datal = in32(in);

		send_h2c(c, op, cccid, ttag, datao, datal, datal > 16384 ? 16384 : datal, !nolast);
		break;
	}
	case 3: {
		unsigned int back = in8(in) & 7;

		(void)in8(in), (void)in8(in), (void)in8(in);
		if (back >= c->nr2t || back >= R2T_HISTORY)
			return;
		r = &c->r2t[(c->nr2t - 1 - back) % R2T_HISTORY];
		send_h2c(c, op, r->cccid, r->ttag, r->r2to, r->r2tl, r->r2tl, !nolast);
		r->answered = true;
		wait_add(c, r->cccid);
		break;
	}
	}
}

static void op_term(struct host_conn *c, struct input *in)
{
	uint8_t buf[24 + 256];
	uint8_t fes = in8(in), fei = in8(in), n = in8(in);

	memset(buf, 0, sizeof(buf));
	buf[0] = NVME_TCP_H2C_TERM;
	buf[2] = 24;
	put_le32(buf + 4, 24u + n);
	buf[8] = fes;
	put_le32(buf + 10, fei);
	for (unsigned int i = 0; i < n; i++)
		buf[24 + i] = (uint8_t)i;
	send_raw(c, buf, 24u + n);
}

static void op_close(struct host_conn *c, struct input *in)
{
	uint8_t mode = in8(in), n = in8(in);

	switch (mode & 3) {
	case 0:
		conn_close(c);
		break;
	case 1:
		shutdown(c->fd, SHUT_WR);
		c->wr_closed = true;
		break;
	case 2:
		shutdown(c->fd, SHUT_RDWR);
		c->wr_closed = true;
		c->eof = true;
		break;
	case 3:
		c->cut_after = n;
		if (n == 0)
			conn_close(c);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Per input                                                           */

static bool ctrls_left(void)
{
	struct json_object *snap = nvmf_tgt_snapshot(tgt), *subs, *ctrls;
	bool left = false;

	if (!snap)
		return false;
	if (json_object_object_get_ex(snap, "subsystems", &subs)) {
		for (size_t i = 0; i < json_object_array_length(subs); i++) {
			struct json_object *s = json_object_array_get_idx(subs, i);

			if (json_object_object_get_ex(s, "controllers", &ctrls) && json_object_array_length(ctrls))
				left = true;
		}
	}
	json_object_put(snap);
	return left;
}

static void barrier_cb(void *arg)
{
	atomic_fetch_add_explicit((atomic_uint *)arg, 1, memory_order_release);
}

/* Let every reactor finish the work queued so far (frees the target defers
 * by a post or to the end of a loop iteration), so that libFuzzer sees as
 * many frees as allocations and does not rerun the input for a leak check. */
static void reactors_settle(uint64_t end)
{
	for (int round = 0; round < 2; round++) {
		atomic_uint done = 0;

		for (unsigned int i = 0; i < NREACTORS; i++)
			if (reactor_post(reactors[i], barrier_cb, &done))
				abort();
		while (atomic_load_explicit(&done, memory_order_acquire) < NREACTORS) {
			if (now_us() >= end) {
				fprintf(stderr, "fuzz: reactors stopped answering\n");
				abort();
			}
			sched_yield();
		}
	}
}

/* Every host end is closed: the target must let go of everything. */
static void wait_released(void)
{
	uint64_t end = now_us() + RELEASE_TIMEOUT_MS * 1000u;
	unsigned int spins = 0;

	while (tcp_transport_connections() || (connect_sent && ctrls_left())) {
		if (now_us() >= end) {
			fprintf(stderr, "fuzz: %u connection(s)%s still held %u ms after the host closed\n",
				tcp_transport_connections(), ctrls_left() ? " and controller(s)" : "",
				RELEASE_TIMEOUT_MS);
			abort();
		}
		/* Usually a matter of microseconds: yield first, then sleep. */
		if (++spins < 50)
			sched_yield();
		else
			usleep(200);
	}
	reactors_settle(end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size, 0 };
	unsigned int slot = 0;

	if (!tgt)
		setup();
	nconns = 0;
	have_cntlid = false;
	connect_sent = false;

	for (int n = 0; n < MAX_OPS && in.off < in.size; n++) {
		uint8_t op = in8(&in);
		struct host_conn *c;

		if (((op >> 4) & 3) != 3)
			slot = (op >> 4) & 3;
		if ((op & 15) >= 14) {
			for (unsigned int i = 0; i < NSLOTS; i++)
				if (conns[i].fd >= 0)
					drain(&conns[i], 20);
			continue;
		}
		if ((op & 15) == OP_REOPEN) {
			conn_close(&conns[slot]);
			continue;
		}
		c = conn_get(slot);
		if (!c)
			break;
		switch ((enum op_kind)(op & 15)) {
		case OP_RAW: {
			uint8_t buf[256];
			uint8_t n = in8(&in);

			in_bytes(&in, buf, n);
			send_raw(c, buf, n);
			break;
		}
		case OP_ICREQ:
			op_icreq(c, &in);
			break;
		case OP_CONNECT:
			op_connect(c, op, &in);
			break;
		case OP_CMD:
			op_cmd(c, op, &in);
			break;
		case OP_IO:
			op_io(c, op, &in);
			break;
		case OP_PROP:
			op_prop(c, op, &in);
			break;
		case OP_H2C:
			op_h2c(c, op, &in);
			break;
		case OP_TERM:
			op_term(c, &in);
			break;
		case OP_DRAIN: {
			static const unsigned int ms[4] = { 20, 0, 2, 50 };

			drain(c, ms[in8(&in) & 3]);
			break;
		}
		case OP_CLOSE:
			op_close(c, &in);
			break;
		case OP_FRAG:
			c->frag = in8(&in);
			c->frag_stuck = false;
			break;
		case OP_ADMIN:
			op_admin(c, op, &in);
			break;
		case OP_CORK:
			c->corked = in8(&in);
			if (!c->corked)
				cork_flush(c);
			break;
		case OP_REOPEN:
			break;
		}
	}

	/* The host goes away. */
	for (unsigned int i = 0; i < NSLOTS; i++) {
		if (conns[i].fd >= 0) {
			cork_flush(&conns[i]);
			rx_poll(&conns[i]);
		}
		conn_close(&conns[i]);
	}
	wait_released();
	return 0;
}
