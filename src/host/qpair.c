/* SPDX-License-Identifier: MIT */
/*
 * I/O queue pair engine: one non-blocking TCP connection, a fixed pool of
 * request slots with preallocated PDU headers, a send ring of iovecs flushed
 * with one sendmsg per batch, and a receive buffer parsed by a small state
 * machine (header -> data -> data digest). Nothing here allocates or locks
 * per I/O; the only atomic on the fast path is one load of the controller
 * epoch per poll.
 *
 * Request life: FREE -> (WAITING while disconnected) -> SENT -> FREE, or
 * SENT -> WAIT_CHILDREN for the first part of a split transfer whose other
 * parts are still running. A connection failure moves every SENT request
 * back to WAITING; after the reconnect they are sent again with a new CID.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "host_internal.h"
#include "proto/crc32c.h"
#include "proto/endian.h"

#define RX_BUF_SIZE (256u * 1024)
#define RX_DIRECT_MIN 8192 /* payload left at which we read straight into the caller's buffer */
#define SEND_BATCH_IOV 256
#define RX_READS_PER_POLL 16
#define TLS_EARLY_FLUSH 8 /* queued send entries that go out before the reads are done */
#define TMO_CHECK_NS 100000000ull

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static void qp_drop(struct nvmeof_qpair *qp, int err, bool report);

/* ---- slots ---- */

static struct host_req *req_alloc(struct nvmeof_qpair *qp)
{
	struct host_req *req = &qp->reqs[qp->free_stack[--qp->nfree]];

	req->in_ring = 0;
	req->ddgst_err = false;
	return req;
}

static void req_free(struct nvmeof_qpair *qp, struct host_req *req)
{
	req->state = REQ_FREE;
	qp->free_stack[qp->nfree++] = req->idx;
}

static struct host_req *req_lookup(struct nvmeof_qpair *qp, uint16_t cid)
{
	uint16_t slot = host_cid_slot(cid);

	if (slot >= qp->nslots)
		return NULL;
	struct host_req *req = &qp->reqs[slot];

	if (req->state != REQ_SENT || req->cid != cid)
		return NULL;
	return req;
}

/*
 * One part finished. The caller's callback runs when the last part of the
 * transfer is done, after the slots were freed so it can submit again.
 */
static void req_complete(struct nvmeof_qpair *qp, struct host_req *req, int err, uint16_t status,
			 uint32_t dw0)
{
	struct host_req *parent = &qp->reqs[req->parent];

	if (err && !parent->cpl.err)
		parent->cpl.err = err;
	if (status && !parent->cpl.status)
		parent->cpl.status = status;
	if (req == parent) {
		parent->cpl.dw0 = dw0;
		req->state = REQ_WAIT_CHILDREN;
	} else {
		req_free(qp, req);
	}
	if (--parent->parts_left)
		return;
	nvmeof_cb cb = parent->cb;
	void *arg = parent->cb_arg;
	struct nvmeof_cpl cpl = parent->cpl;

	req_free(qp, parent);
	qp->outstanding--;
	qp->completions++;
	cb(arg, &cpl);
}

/* ---- send side ---- */

static inline void ring_push(struct nvmeof_qpair *qp, void *base, size_t len, struct host_req *req,
			     uint8_t kind)
{
	struct send_ent *e = &qp->ring[qp->ring_tail++ & qp->ring_mask];

	e->iov.iov_base = base;
	e->iov.iov_len = len;
	e->req = req;
	e->kind = kind;
	if (kind != SEND_MID)
		req->in_ring++;
}

static void req_send_cmd(struct nvmeof_qpair *qp, struct host_req *req)
{
	struct nvme_tcp_cmd_pdu *pdu = (struct nvme_tcp_cmd_pdu *)req->cmd_hdr;
	bool inc = !req->c2h && req->len && req->len <= qp->incapsule_max;
	uint32_t hbytes;

	req->gen++;
	req->cid = host_cid_make(req->idx, req->gen);
	req->incapsule = inc;
	req->xfer_next = 0;
	req->r2t_end = 0;
	req->ddgst_err = false;
	pdu->sqe.cid = to_le16(req->cid);
	pdu->sqe.sgl.addr = 0;
	pdu->sqe.sgl.length = to_le32(req->len);
	pdu->sqe.sgl.type = inc ? NVME_SGL_DATA_BLOCK_OFFSET : NVME_SGL_TRANSPORT_DATA_BLOCK;
	hbytes = nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &qp->params, inc ? req->len : 0);
	if (qp->params.hdgst)
		nvme_tcp_set_hdgst(pdu, sizeof(*pdu));
	if (!inc) {
		ring_push(qp, pdu, hbytes, req, SEND_CMD_END);
	} else if (qp->params.ddgst) {
		req->cmd_ddgst = to_le32(crc32c(req->buf, req->len));
		ring_push(qp, pdu, hbytes, NULL, SEND_MID);
		ring_push(qp, req->buf, req->len, NULL, SEND_MID);
		ring_push(qp, &req->cmd_ddgst, 4, req, SEND_CMD_END);
	} else {
		ring_push(qp, pdu, hbytes, NULL, SEND_MID);
		ring_push(qp, req->buf, req->len, req, SEND_CMD_END);
	}
	req->state = REQ_SENT;
	req->deadline_ns = qp->now_ns + qp->io_timeout_ns;
}

/* Next H2CData PDU of the current R2T window (≤ MAXH2CDATA bytes). */
static void req_send_h2c(struct nvmeof_qpair *qp, struct host_req *req)
{
	struct nvme_tcp_data_pdu *d = (struct nvme_tcp_data_pdu *)req->h2c_hdr;
	uint32_t off = req->xfer_next;
	uint32_t chunk = req->r2t_end - off;
	uint32_t hbytes;

	if (chunk > qp->params.maxh2cdata)
		chunk = qp->params.maxh2cdata;
	hbytes = nvme_tcp_fill_hdr(&d->hdr, NVME_TCP_H2C_DATA,
				   off + chunk == req->r2t_end ? NVME_TCP_F_DATA_LAST : 0, &qp->params,
				   chunk);
	d->cccid = to_le16(req->cid);
	d->ttag = to_le16(req->ttag);
	d->datao = to_le32(off);
	d->datal = to_le32(chunk);
	if (qp->params.hdgst)
		nvme_tcp_set_hdgst(d, sizeof(*d));
	ring_push(qp, d, hbytes, NULL, SEND_MID);
	if (qp->params.ddgst) {
		req->h2c_ddgst = to_le32(crc32c(req->buf + off, chunk));
		ring_push(qp, req->buf + off, chunk, NULL, SEND_MID);
		ring_push(qp, &req->h2c_ddgst, 4, req, SEND_H2C_END);
	} else {
		ring_push(qp, req->buf + off, chunk, req, SEND_H2C_END);
	}
	req->xfer_next += chunk;
}

static void pdu_sent(struct nvmeof_qpair *qp, struct host_req *req, uint8_t kind)
{
	req->in_ring--;
	/* The header buffer is free again: the next PDU of this R2T may use it. */
	if (kind == SEND_H2C_END && req->state == REQ_SENT && req->xfer_next < req->r2t_end)
		req_send_h2c(qp, req);
}

static int qp_flush(struct nvmeof_qpair *qp)
{
	/* With TLS, bytes already taken from the ring may still wait in its staging record. */
	while (qp->ring_head != qp->ring_tail || (qp->tls && host_tls_unsent(qp->tls))) {
		uint32_t n = 0;
		ssize_t w;

		for (uint32_t i = qp->ring_head; i != qp->ring_tail && n < SEND_BATCH_IOV; i++)
			qp->iov_scratch[n++] = qp->ring[i & qp->ring_mask].iov;
		if (qp->tls) {
			w = host_tls_sendv(qp->tls, qp->iov_scratch, (int)n);
			if (w == -EAGAIN)
				return 0;
			if (w < 0)
				return (int)w;
		} else {
			struct msghdr msg = { .msg_iov = qp->iov_scratch, .msg_iovlen = n };

			w = sendmsg(qp->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					return 0;
				return -errno;
			}
		}
		size_t left = (size_t)w;

		while (left) {
			struct send_ent *e = &qp->ring[qp->ring_head & qp->ring_mask];

			if (left < e->iov.iov_len) {
				e->iov.iov_base = (uint8_t *)e->iov.iov_base + left;
				e->iov.iov_len -= left;
				break;
			}
			left -= e->iov.iov_len;
			qp->ring_head++;
			if (e->kind != SEND_MID)
				pdu_sent(qp, e->req, e->kind);
		}
	}
	return 0;
}

/* ---- receive side ---- */

static int proto_error(struct nvmeof_qpair *qp, const char *what, uint16_t cid)
{
	log_error(HOST_LOG, "%s:%s qid %u cid %u: protocol error: %s", qp->ctrl->traddr,
		  qp->ctrl->trsvcid, qp->qid, cid, what);
	return -EPROTO;
}

static int handle_rsp(struct nvmeof_qpair *qp)
{
	const struct nvme_tcp_rsp_pdu *r = (const struct nvme_tcp_rsp_pdu *)qp->rx_hdr;
	uint16_t cid = le16(r->cqe.cid);
	struct host_req *req = req_lookup(qp, cid);

	if (!req)
		return proto_error(qp, "completion for a command not outstanding", cid);
	if (req->in_ring)
		return proto_error(qp, "completion before the command was fully sent", cid);
	uint16_t status = NVME_STATUS_FROM_CQE(le16(r->cqe.status)) & 0x47ff;

	if (!status && req->ddgst_err)
		status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	if (!status && req->c2h && req->xfer_next != req->len) {
		log_error(HOST_LOG, "%s:%s qid %u cid %u: short read data (%u of %u bytes)",
			  qp->ctrl->traddr, qp->ctrl->trsvcid, qp->qid, cid, req->xfer_next, req->len);
		status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	}
	req_complete(qp, req, 0, status, le32(r->cqe.dw0));
	return 0;
}

static int handle_r2t(struct nvmeof_qpair *qp)
{
	const struct nvme_tcp_r2t_pdu *r = (const struct nvme_tcp_r2t_pdu *)qp->rx_hdr;
	uint16_t cid = le16(r->cccid);
	struct host_req *req = req_lookup(qp, cid);
	uint32_t r2to = le32(r->r2to), r2tl = le32(r->r2tl);

	if (!req || req->c2h || req->incapsule)
		return proto_error(qp, "R2T for a command that cannot take one", cid);
	if (req->xfer_next < req->r2t_end || req->in_ring)
		return proto_error(qp, "R2T while the previous one is still being answered", cid);
	if (r2tl == 0 || r2to != req->xfer_next || r2to + r2tl > req->len || r2to + r2tl < r2to)
		return proto_error(qp, "R2T offset/length outside the command's data", cid);
	req->ttag = le16(r->ttag);
	req->r2t_end = r2to + r2tl;
	req_send_h2c(qp, req);
	return 0;
}

static int handle_c2h_hdr(struct nvmeof_qpair *qp, uint32_t data_len)
{
	const struct nvme_tcp_data_pdu *d = (const struct nvme_tcp_data_pdu *)qp->rx_hdr;
	uint16_t cid = le16(d->cccid);
	struct host_req *req = req_lookup(qp, cid);
	uint32_t datao = le32(d->datao), datal = le32(d->datal);

	if (!req || !req->c2h)
		return proto_error(qp, "C2HData for a command that reads nothing", cid);
	if (datal != data_len || datao != req->xfer_next || datao + datal > req->len ||
	    datao + datal < datao)
		return proto_error(qp, "C2HData offset/length outside the command's data", cid);
	if ((d->hdr.flags & NVME_TCP_F_DATA_SUCCESS) &&
	    (!(d->hdr.flags & NVME_TCP_F_DATA_LAST) || datao + datal != req->len))
		return proto_error(qp, "C2HData SUCCESS without LAST_PDU or before the end", cid);
	qp->rx_req = req;
	qp->rx_dst = req->buf + datao;
	qp->rx_data_left = datal;
	qp->rx_crc = CRC32C_SEED;
	qp->rx_flags = d->hdr.flags;
	qp->rx_state = RX_DATA;
	return 0;
}

static void c2h_done(struct nvmeof_qpair *qp)
{
	struct host_req *req = qp->rx_req;
	const struct nvme_tcp_data_pdu *d = (const struct nvme_tcp_data_pdu *)qp->rx_hdr;

	req->xfer_next += le32(d->datal);
	qp->rx_state = RX_HDR;
	qp->rx_hdr_got = 0;
	qp->rx_hdr_need = sizeof(struct nvme_tcp_hdr);
	if (qp->rx_flags & NVME_TCP_F_DATA_SUCCESS) {
		/* No CapsuleResp follows: the controller reported success here. */
		req_complete(qp, req, 0,
			     req->ddgst_err ? NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR) : 0, 0);
	}
}

static void data_received(struct nvmeof_qpair *qp, uint32_t n)
{
	if (qp->params.ddgst)
		qp->rx_crc = crc32c_update(qp->rx_crc, qp->rx_dst, n);
	qp->rx_dst += n;
	qp->rx_data_left -= n;
	if (qp->rx_data_left == 0) {
		if (qp->params.ddgst) {
			qp->rx_state = RX_DDGST;
			qp->rx_ddgst_got = 0;
		} else {
			c2h_done(qp);
		}
	}
}

static int handle_header(struct nvmeof_qpair *qp, uint32_t data_len)
{
	uint8_t type = qp->rx_hdr[0];

	if (qp->params.hdgst && nvme_tcp_type_has_hdgst(type) &&
	    nvme_tcp_verify_hdgst(qp->rx_hdr, qp->rx_hdr[2]))
		return proto_error(qp, "header digest mismatch", 0);
	qp->rx_hdr_got = 0;
	qp->rx_hdr_need = sizeof(struct nvme_tcp_hdr);
	switch (type) {
	case NVME_TCP_RSP:
		return handle_rsp(qp);
	case NVME_TCP_R2T:
		return handle_r2t(qp);
	case NVME_TCP_C2H_DATA:
		return handle_c2h_hdr(qp, data_len);
	case NVME_TCP_C2H_TERM: {
		const struct nvme_tcp_term_pdu *t = (const struct nvme_tcp_term_pdu *)qp->rx_hdr;

		log_error(HOST_LOG, "%s:%s qid %u: controller terminated the connection (C2HTermReq fes %u fei %u)",
			  qp->ctrl->traddr, qp->ctrl->trsvcid, qp->qid, le16(t->fes),
			  get_le32(qp->rx_hdr + 10));
		return -ECONNRESET;
	}
	default:
		return proto_error(qp, "unexpected PDU type", 0);
	}
}

/* Parse what is in rxbuf. */
static int rx_consume(struct nvmeof_qpair *qp)
{
	while (qp->rx_start < qp->rx_end) {
		uint32_t avail = qp->rx_end - qp->rx_start;
		uint8_t *src = qp->rxbuf + qp->rx_start;
		uint32_t n;
		int rc;

		switch (qp->rx_state) {
		case RX_HDR:
			n = qp->rx_hdr_need - qp->rx_hdr_got;
			if (n > avail)
				n = avail;
			memcpy(qp->rx_hdr + qp->rx_hdr_got, src, n);
			qp->rx_hdr_got += n;
			qp->rx_start += n;
			if (qp->rx_hdr_got < qp->rx_hdr_need)
				break;
			if (qp->rx_hdr_need == sizeof(struct nvme_tcp_hdr)) {
				struct nvme_tcp_check chk;
				uint32_t hdr_total;

				rc = nvme_tcp_check_common((struct nvme_tcp_hdr *)qp->rx_hdr, NVME_TCP_ROLE_HOST,
							   true, &qp->params, qp->max_xfer, &hdr_total,
							   &qp->rx_data_left, &chk);
				if (rc) {
					log_error(HOST_LOG, "%s:%s qid %u: invalid PDU header (type %u): fes %u fei %u",
						  qp->ctrl->traddr, qp->ctrl->trsvcid, qp->qid, qp->rx_hdr[0],
						  chk.fes, chk.fei);
					return rc;
				}
				if (hdr_total > sizeof(qp->rx_hdr))
					return proto_error(qp, "PDU header too long", 0);
				qp->rx_hdr_need = hdr_total;
				if (hdr_total > qp->rx_hdr_got)
					break;
			}
			rc = handle_header(qp, qp->rx_data_left);
			if (rc)
				return rc;
			break;
		case RX_DATA:
			n = qp->rx_data_left < avail ? qp->rx_data_left : avail;
			memcpy(qp->rx_dst, src, n);
			qp->rx_start += n;
			data_received(qp, n);
			break;
		case RX_DDGST:
			n = 4 - qp->rx_ddgst_got;
			if (n > avail)
				n = avail;
			memcpy(qp->rx_ddgst + qp->rx_ddgst_got, src, n);
			qp->rx_ddgst_got += n;
			qp->rx_start += n;
			if (qp->rx_ddgst_got == 4) {
				if (get_le32(qp->rx_ddgst) != crc32c_final(qp->rx_crc)) {
					log_error(HOST_LOG, "%s:%s qid %u cid %u: data digest error",
						  qp->ctrl->traddr, qp->ctrl->trsvcid, qp->qid, qp->rx_req->cid);
					qp->rx_req->ddgst_err = true;
				}
				c2h_done(qp);
			}
			break;
		case RX_TERM:
			return -ECONNRESET;
		}
		if (qp->fd < 0)
			return 0;
	}
	qp->rx_start = qp->rx_end = 0;
	return 0;
}

/* One TLS read: a record at most, so allow more of them per poll. */
static ssize_t qp_tls_read(struct nvmeof_qpair *qp)
{
	ssize_t r;

	if (qp->rx_state == RX_DATA && qp->rx_data_left >= RX_DIRECT_MIN) {
		r = host_tls_recv(qp->tls, qp->rx_dst, qp->rx_data_left);
		if (r > 0) {
			qp->rx_start = qp->rx_end = 0;
			data_received(qp, (uint32_t)r);
		}
	} else {
		r = host_tls_recv(qp->tls, qp->rxbuf, qp->rx_cap);
		if (r > 0) {
			qp->rx_start = 0;
			qp->rx_end = (uint32_t)r;
		}
	}
	if (r == -ECONNRESET)
		return 0;
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static int qp_recv(struct nvmeof_qpair *qp)
{
	int max_reads = qp->tls ? RX_READS_PER_POLL * 4 : RX_READS_PER_POLL;

	for (int reads = 0; reads < max_reads; reads++) {
		size_t want = 0; /* a plain read that returns less drained the socket */
		ssize_t r;

		if (qp->completions >= qp->max_completions)
			return 0;
		if (qp->tls) {
			r = qp_tls_read(qp);
		} else if (qp->rx_state == RX_DATA && qp->rx_data_left >= RX_DIRECT_MIN) {
			/* Large payload: straight into the caller's buffer, the rest behind it. */
			struct iovec iov[2] = { { qp->rx_dst, qp->rx_data_left },
						{ qp->rxbuf, qp->rx_cap } };

			want = (size_t)qp->rx_data_left + qp->rx_cap;
			r = readv(qp->fd, iov, 2);
			if (r > 0) {
				uint32_t d = (uint32_t)r < qp->rx_data_left ? (uint32_t)r : qp->rx_data_left;

				qp->rx_start = 0;
				qp->rx_end = (uint32_t)r - d;
				data_received(qp, d);
			}
		} else {
			want = qp->rx_cap;
			r = recv(qp->fd, qp->rxbuf, qp->rx_cap, MSG_DONTWAIT);
			if (r > 0) {
				qp->rx_start = 0;
				qp->rx_end = (uint32_t)r;
			}
		}
		if (r == 0) {
			log_error(HOST_LOG, "%s:%s qid %u: connection closed by the controller",
				  qp->ctrl->traddr, qp->ctrl->trsvcid, qp->qid);
			return -ECONNRESET;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			int rc = -errno;

			log_error(HOST_LOG, "%s:%s qid %u: receive failed: %s", qp->ctrl->traddr,
				  qp->ctrl->trsvcid, qp->qid, strerror(-rc));
			return rc;
		}
		int rc = rx_consume(qp);

		if (rc)
			return rc;
		/* Short read: the socket is empty; asking again would only cost an EAGAIN. */
		if (want && (size_t)r < want)
			return 0;
		/*
		 * TLS: a read takes one record, so draining the socket before
		 * sending lets the controller idle while we decrypt the whole
		 * batch (the queue then runs in lock-step). Send new commands
		 * once a few are queued: still one record per several commands.
		 */
		if (qp->tls && qp->ring_tail - qp->ring_head >= TLS_EARLY_FLUSH) {
			rc = qp_flush(qp);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- connection state ---- */

static void rx_reset(struct nvmeof_qpair *qp)
{
	qp->rx_state = RX_HDR;
	qp->rx_hdr_got = 0;
	qp->rx_hdr_need = sizeof(struct nvme_tcp_hdr);
	qp->rx_start = qp->rx_end = 0;
	qp->rx_req = NULL;
}

/* Close the connection; commands on the wire wait for the next one. */
static void qp_drop(struct nvmeof_qpair *qp, int err, bool report)
{
	if (qp->fd < 0)
		return;
	host_tls_free(qp->tls);
	qp->tls = NULL;
	close(qp->fd);
	qp->fd = -1;
	qp->ring_head = qp->ring_tail = 0;
	rx_reset(qp);
	for (unsigned int i = 0; i < qp->nslots; i++) {
		struct host_req *req = &qp->reqs[i];

		req->in_ring = 0;
		if (req->state == REQ_SENT)
			req->state = REQ_WAITING;
	}
	if (report) {
		log_warn(HOST_LOG, "%s:%s qid %u: connection lost (%s), %u requests waiting",
			 qp->ctrl->traddr, qp->ctrl->trsvcid, qp->qid, strerror(-err), qp->outstanding);
		ctrl_report_failure(qp->ctrl, qp->epoch);
	}
}

/* Complete every request in one of the given states with err. */
static void qp_fail_requests(struct nvmeof_qpair *qp, int err, bool sent_too)
{
	/* Callbacks may submit again, which re-enters qp_sync: fail only once. */
	if (qp->failing)
		return;
	qp->failing = true;
	for (unsigned int i = 0; i < qp->nslots; i++) {
		struct host_req *req = &qp->reqs[i];

		if (req->state == REQ_WAITING || (sent_too && req->state == REQ_SENT))
			req_complete(qp, req, err, 0, 0);
	}
	qp->failing = false;
}

static bool fast_fail_expired(struct nvmeof_qpair *qp)
{
	uint64_t at = ctrl_fast_fail_at(qp->ctrl);

	return at && qp->now_ns >= at;
}

static void qp_sync_slow(struct nvmeof_qpair *qp, unsigned int epoch)
{
	if (epoch != qp->epoch) {
		qp_drop(qp, -ECONNRESET, false);
		qp->epoch = epoch;
	}
	if (qp->fd >= 0)
		return;
	int fd = -1;
	struct host_tls *tls = NULL;
	struct nvme_tcp_conn_params params;

	pthread_mutex_lock(&qp->handoff_lock);
	if (qp->handoff_fd >= 0 && qp->handoff_epoch == qp->epoch) {
		fd = qp->handoff_fd;
		tls = qp->handoff_tls;
		params = qp->handoff_params;
		qp->handoff_fd = -1;
		qp->handoff_tls = NULL;
	}
	pthread_mutex_unlock(&qp->handoff_lock);
	if (fd >= 0) {
		log_info(HOST_LOG, "%s:%s qid %u: reconnected, resending %u requests", qp->ctrl->traddr,
			 qp->ctrl->trsvcid, qp->qid, qp->outstanding);
		qpair_attach(qp, fd, tls, &params);
		return;
	}
	int state = atomic_load(&qp->ctrl->state);

	if (state == NVMEOF_CTRL_DEAD)
		qp_fail_requests(qp, -ENODEV, true);
	else if (fast_fail_expired(qp))
		qp_fail_requests(qp, -EIO, false);
}

static inline void qp_sync(struct nvmeof_qpair *qp)
{
	unsigned int epoch = atomic_load_explicit(&qp->ctrl->epoch, memory_order_acquire);

	if (unlikely(epoch != qp->epoch || qp->fd < 0))
		qp_sync_slow(qp, epoch);
}

static void qp_check_timeouts(struct nvmeof_qpair *qp)
{
	qp->next_tmo_check_ns = qp->now_ns + TMO_CHECK_NS;
	for (unsigned int i = 0; i < qp->nslots; i++) {
		struct host_req *req = &qp->reqs[i];

		if (req->state == REQ_SENT && qp->now_ns >= req->deadline_ns) {
			uint8_t opc = ((struct nvme_tcp_cmd_pdu *)req->cmd_hdr)->sqe.opcode;

			log_error(HOST_LOG, "%s:%s qid %u cid %u opcode 0x%02x: timed out after %llu ms",
				  qp->ctrl->traddr, qp->ctrl->trsvcid, qp->qid, req->cid, opc,
				  (unsigned long long)(qp->io_timeout_ns / 1000000));
			qp_drop(qp, -ETIMEDOUT, true);
			return;
		}
	}
}

void qpair_attach(struct nvmeof_qpair *qp, int fd, struct host_tls *tls,
		  const struct nvme_tcp_conn_params *params)
{
	qp->fd = fd;
	qp->tls = tls;
	qp->params = *params;
	qp->ring_head = qp->ring_tail = 0;
	rx_reset(qp);
	qp->now_ns = host_now_ns();
	for (unsigned int i = 0; i < qp->nslots; i++)
		if (qp->reqs[i].state == REQ_WAITING)
			req_send_cmd(qp, &qp->reqs[i]);
}

int qpair_init(struct nvmeof_qpair *qp, struct nvmeof_ctrl *ctrl, uint16_t qid, unsigned int nslots)
{
	uint32_t ring = 16;

	memset(qp, 0, sizeof(*qp));
	qp->ctrl = ctrl;
	qp->qid = qid;
	qp->fd = -1;
	qp->handoff_fd = -1;
	qp->nslots = nslots;
	qp->max_xfer = ctrl->max_xfer;
	qp->incapsule_max = ctrl->incapsule_max;
	qp->io_timeout_ns = (uint64_t)ctrl->opts.io_timeout_ms * 1000000;
	qp->cache_nsid = 0;
	qp->max_completions = UINT_MAX;
	pthread_mutex_init(&qp->handoff_lock, NULL);
	/* Per request at most one command PDU and one H2CData PDU, 3 iovecs each. */
	while (ring < nslots * 6 + 16)
		ring <<= 1;
	qp->ring_mask = ring - 1;
	qp->reqs = aligned_alloc(64, ((sizeof(*qp->reqs) * nslots + 63) / 64) * 64);
	qp->free_stack = calloc(nslots, sizeof(*qp->free_stack));
	qp->ring = calloc(ring, sizeof(*qp->ring));
	qp->iov_scratch = calloc(SEND_BATCH_IOV, sizeof(*qp->iov_scratch));
	qp->rx_cap = RX_BUF_SIZE;
	qp->rxbuf = malloc(qp->rx_cap);
	if (!qp->reqs || !qp->free_stack || !qp->ring || !qp->iov_scratch || !qp->rxbuf) {
		qpair_destroy(qp);
		return -ENOMEM;
	}
	memset(qp->reqs, 0, sizeof(*qp->reqs) * nslots);
	for (unsigned int i = 0; i < nslots; i++) {
		qp->reqs[i].idx = (uint16_t)i;
		qp->free_stack[nslots - 1 - i] = (uint16_t)i;
	}
	qp->nfree = nslots;
	rx_reset(qp);
	return 0;
}

void qpair_destroy(struct nvmeof_qpair *qp)
{
	host_tls_free(qp->tls);
	qp->tls = NULL;
	if (qp->fd >= 0)
		close(qp->fd);
	qp->fd = -1;
	host_tls_free(qp->handoff_tls);
	qp->handoff_tls = NULL;
	if (qp->handoff_fd >= 0)
		close(qp->handoff_fd);
	qp->handoff_fd = -1;
	free(qp->reqs);
	free(qp->free_stack);
	free(qp->ring);
	free(qp->iov_scratch);
	free(qp->rxbuf);
	qp->reqs = NULL;
	qp->free_stack = NULL;
	qp->ring = NULL;
	qp->iov_scratch = NULL;
	qp->rxbuf = NULL;
	pthread_mutex_destroy(&qp->handoff_lock);
}

void qpair_cancel_all(struct nvmeof_qpair *qp, int err)
{
	qp->closing = true;
	qp_drop(qp, err, false);
	qp_fail_requests(qp, err, true);
}

/* ---- submission ---- */

static int ns_shift(struct nvmeof_qpair *qp, uint32_t nsid)
{
	if (likely(nsid == qp->cache_nsid))
		return (int)qp->cache_lba_shift;
	int shift = ctrl_ns_lba_shift(qp->ctrl, nsid);

	if (shift >= 0) {
		qp->cache_nsid = nsid;
		qp->cache_lba_shift = (uint32_t)shift;
	}
	return shift;
}

static int qp_usable(struct nvmeof_qpair *qp)
{
	if (unlikely(qp->closing))
		return -ESHUTDOWN;
	qp_sync(qp);
	if (likely(qp->fd >= 0))
		return 0;
	if (atomic_load(&qp->ctrl->state) == NVMEOF_CTRL_DEAD)
		return -ENODEV;
	qp->now_ns = host_now_ns();
	return fast_fail_expired(qp) ? -EIO : 0;
}

struct io_desc {
	uint8_t opcode;
	uint32_t nsid;
	uint64_t slba;
	uint32_t nlb;
	uint8_t *buf; /* NULL for commands without data */
	bool c2h;
	uint32_t cdw12_flags;
	uint32_t lba_shift;
	uint32_t max_blocks;
};

static void fill_rw_sqe(struct host_req *req, const struct io_desc *d, uint64_t slba, uint32_t nlb)
{
	struct nvme_sqe *sqe = &((struct nvme_tcp_cmd_pdu *)req->cmd_hdr)->sqe;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = d->opcode;
	sqe->flags = NVME_SQE_FLAGS_SGL;
	sqe->nsid = to_le32(d->nsid);
	sqe->cdw10 = to_le32((uint32_t)slba);
	sqe->cdw11 = to_le32((uint32_t)(slba >> 32));
	sqe->cdw12 = to_le32((nlb - 1) | d->cdw12_flags);
}

static int submit_split(struct nvmeof_qpair *qp, const struct io_desc *d, nvmeof_cb cb, void *arg)
{
	uint32_t parts = host_split_count(d->nlb, d->max_blocks);
	struct host_req *parent = NULL;
	uint64_t slba = d->slba;
	uint32_t left = d->nlb;

	if (parts > qp->nslots)
		return -EINVAL;
	if (parts > qp->nfree)
		return -EAGAIN;
	for (uint32_t i = 0; i < parts; i++) {
		struct host_req *req = req_alloc(qp);
		uint32_t nlb = left < d->max_blocks ? left : d->max_blocks;

		if (!parent) {
			parent = req;
			parent->parts_left = (uint16_t)parts;
			parent->cpl = (struct nvmeof_cpl){ 0 };
			parent->cb = cb;
			parent->cb_arg = arg;
		}
		req->parent = parent->idx;
		req->c2h = d->c2h;
		req->buf = d->buf ? d->buf + ((slba - d->slba) << d->lba_shift) : NULL;
		req->len = d->buf ? nlb << d->lba_shift : 0;
		fill_rw_sqe(req, d, slba, nlb);
		slba += nlb;
		left -= nlb;
		/* Completions only run inside poll, so sending part by part is safe. */
		if (qp->fd >= 0)
			req_send_cmd(qp, req);
		else
			req->state = REQ_WAITING;
	}
	qp->outstanding++;
	return 0;
}

static int submit_rw(struct nvmeof_qpair *qp, uint8_t opcode, uint32_t nsid, uint64_t slba,
		     uint32_t nlb, void *buf, bool c2h, uint32_t flags, nvmeof_cb cb, void *arg)
{
	struct io_desc d;
	int shift, rc;

	if (unlikely(!qp || !nlb || !cb || !buf))
		return -EINVAL;
	shift = ns_shift(qp, nsid);
	if (unlikely(shift < 0))
		return shift;
	rc = qp_usable(qp);
	if (unlikely(rc))
		return rc;
	if (unlikely(((uint64_t)nlb << shift) > UINT32_MAX))
		return -EINVAL;
	d.opcode = opcode;
	d.nsid = nsid;
	d.slba = slba;
	d.nlb = nlb;
	d.buf = buf;
	d.c2h = c2h;
	d.cdw12_flags = flags;
	d.lba_shift = (uint32_t)shift;
	d.max_blocks = host_max_blocks(qp->max_xfer, (uint32_t)shift);
	return submit_split(qp, &d, cb, arg);
}

int nvmeof_read(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf,
		nvmeof_cb cb, void *cb_arg)
{
	return submit_rw(qp, NVME_CMD_READ, nsid, slba, nlb, buf, true, 0, cb, cb_arg);
}

int nvmeof_write(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
		 const void *buf, unsigned int io_flags, nvmeof_cb cb, void *cb_arg)
{
	return submit_rw(qp, NVME_CMD_WRITE, nsid, slba, nlb, (void *)buf, false,
			 (io_flags & NVMEOF_IO_FUA) ? NVME_RW_FUA : 0, cb, cb_arg);
}

int nvmeof_write_zeroes(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
			unsigned int io_flags, nvmeof_cb cb, void *cb_arg)
{
	struct io_desc d = { 0 };
	int rc;

	if (!qp || !nlb || !cb)
		return -EINVAL;
	if (ns_shift(qp, nsid) < 0)
		return -EINVAL;
	rc = qp_usable(qp);
	if (rc)
		return rc;
	d.opcode = NVME_CMD_WRITE_ZEROES;
	d.nsid = nsid;
	d.slba = slba;
	d.nlb = nlb;
	d.cdw12_flags = ((io_flags & NVMEOF_IO_FUA) ? NVME_RW_FUA : 0) |
			((io_flags & NVMEOF_IO_DEAC) ? NVME_WZ_DEAC : 0);
	d.max_blocks = HOST_MAX_NLB;
	return submit_split(qp, &d, cb, cb_arg);
}

static struct host_req *alloc_single(struct nvmeof_qpair *qp, nvmeof_cb cb, void *arg)
{
	struct host_req *req = req_alloc(qp);

	req->parent = req->idx;
	req->parts_left = 1;
	req->cpl = (struct nvmeof_cpl){ 0 };
	req->cb = cb;
	req->cb_arg = arg;
	req->state = REQ_WAITING;
	qp->outstanding++;
	return req;
}

int nvmeof_deallocate(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
		      nvmeof_cb cb, void *cb_arg)
{
	int rc;

	if (!qp || !nlb || !cb || ns_shift(qp, nsid) < 0)
		return -EINVAL;
	rc = qp_usable(qp);
	if (rc)
		return rc;
	if (!qp->nfree)
		return -EAGAIN;
	struct host_req *req = alloc_single(qp, cb, cb_arg);
	struct nvme_sqe *sqe = &((struct nvme_tcp_cmd_pdu *)req->cmd_hdr)->sqe;

	req->dsm.cattr = 0;
	req->dsm.nlb = to_le32(nlb);
	req->dsm.slba = to_le64(slba);
	req->buf = (uint8_t *)&req->dsm;
	req->len = sizeof(req->dsm);
	req->c2h = false;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = NVME_CMD_DSM;
	sqe->flags = NVME_SQE_FLAGS_SGL;
	sqe->nsid = to_le32(nsid);
	sqe->cdw10 = 0; /* one range (0's based) */
	sqe->cdw11 = to_le32(NVME_DSM_ATTR_DEALLOCATE);
	if (qp->fd >= 0)
		req_send_cmd(qp, req);
	return 0;
}

int nvmeof_compare(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
		   const void *buf, nvmeof_cb cb, void *cb_arg)
{
	/* Host-to-controller data like a write; split parts report the first mismatch. */
	return submit_rw(qp, NVME_CMD_COMPARE, nsid, slba, nlb, (void *)buf, false, 0, cb, cb_arg);
}

int nvmeof_dsm(struct nvmeof_qpair *qp, uint32_t nsid, uint32_t attr,
	       const struct nvmeof_dsm_range *ranges, unsigned int nr, nvmeof_cb cb, void *cb_arg)
{
	int rc;

	_Static_assert(sizeof(struct nvmeof_dsm_range) == 16, "DSM range is 16 bytes");
	if (!qp || !ranges || !nr || nr > 256 || !cb || ns_shift(qp, nsid) < 0)
		return -EINVAL;
	rc = qp_usable(qp);
	if (rc)
		return rc;
	if (!qp->nfree)
		return -EAGAIN;
	struct host_req *req = alloc_single(qp, cb, cb_arg);
	struct nvme_sqe *sqe = &((struct nvme_tcp_cmd_pdu *)req->cmd_hdr)->sqe;

	req->buf = (uint8_t *)(uintptr_t)ranges;
	req->len = nr * (uint32_t)sizeof(*ranges);
	req->c2h = false;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = NVME_CMD_DSM;
	sqe->flags = NVME_SQE_FLAGS_SGL;
	sqe->nsid = to_le32(nsid);
	sqe->cdw10 = to_le32(nr - 1);
	sqe->cdw11 = to_le32(attr);
	if (qp->fd >= 0)
		req_send_cmd(qp, req);
	return 0;
}

int nvmeof_flush(struct nvmeof_qpair *qp, uint32_t nsid, nvmeof_cb cb, void *cb_arg)
{
	int rc;

	if (!qp || !cb)
		return -EINVAL;
	rc = qp_usable(qp);
	if (rc)
		return rc;
	if (!qp->nfree)
		return -EAGAIN;
	struct host_req *req = alloc_single(qp, cb, cb_arg);
	struct nvme_sqe *sqe = &((struct nvme_tcp_cmd_pdu *)req->cmd_hdr)->sqe;

	req->buf = NULL;
	req->len = 0;
	req->c2h = false;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = NVME_CMD_FLUSH;
	sqe->flags = NVME_SQE_FLAGS_SGL;
	sqe->nsid = to_le32(nsid);
	if (qp->fd >= 0)
		req_send_cmd(qp, req);
	return 0;
}

/* ---- polling ---- */

int nvmeof_qpair_poll(struct nvmeof_qpair *qp, unsigned int max)
{
	int rc;

	qp->now_ns = host_now_ns();
	qp->completions = 0;
	qp->max_completions = max ? max : UINT_MAX;
	qp_sync(qp);
	if (qp->fd >= 0 && (rc = qp_flush(qp)) != 0) {
		log_error(HOST_LOG, "%s:%s qid %u: send failed: %s", qp->ctrl->traddr, qp->ctrl->trsvcid,
			  qp->qid, strerror(-rc));
		qp_drop(qp, rc, true);
	}
	if (qp->fd >= 0 && (rc = qp_recv(qp)) != 0)
		qp_drop(qp, rc, true);
	/* Callbacks may have queued new commands: send them in the same batch. */
	if (qp->fd >= 0 && (rc = qp_flush(qp)) != 0) {
		log_error(HOST_LOG, "%s:%s qid %u: send failed: %s", qp->ctrl->traddr, qp->ctrl->trsvcid,
			  qp->qid, strerror(-rc));
		qp_drop(qp, rc, true);
	}
	if (qp->fd >= 0 && qp->now_ns >= qp->next_tmo_check_ns)
		qp_check_timeouts(qp);
	return (int)qp->completions;
}

int nvmeof_qpair_wait(struct nvmeof_qpair *qp, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : host_now_ns() + (uint64_t)timeout_ms * 1000000;

	for (;;) {
		/* Read before the poll: a reconnect finishing after it ends the sleep at once. */
		unsigned int seen = atomic_load(&qp->ctrl->events);
		int n = nvmeof_qpair_poll(qp, 0);

		if (n != 0 || qp->outstanding == 0)
			return n;
		uint64_t now = host_now_ns();

		if (now >= deadline)
			return 0;
		if (qp->fd >= 0) {
			uint64_t left_ms = (deadline - now + 999999) / 1000000;
			int ms = left_ms > 100 ? 100 : (int)left_ms; /* re-check timeouts and the epoch */
			struct pollfd pfd = { .fd = qp->fd, .events = POLLIN };

			if (qp->ring_head != qp->ring_tail)
				pfd.events |= POLLOUT;
			if (qp->tls) {
				/* Records libssl already holds: no wait; it may also need to write. */
				if (host_tls_pending(qp->tls))
					ms = 0;
				if (host_tls_unsent(qp->tls))
					pfd.events |= POLLOUT;
				pfd.events |= host_tls_want(qp->tls);
			}
			poll(&pfd, 1, ms);
		} else {
			/*
			 * Disconnected: nothing can complete before the controller
			 * thread hands over a new connection or gives up, both of which
			 * wake us, or fast_io_fail_tmo fails the waiting requests.
			 */
			uint64_t until = deadline, ff = ctrl_fast_fail_at(qp->ctrl);

			if (ff > now && ff < until)
				until = ff;
			ctrl_wait_event(qp->ctrl, seen, until);
		}
	}
}

unsigned int nvmeof_qpair_outstanding(const struct nvmeof_qpair *qp) { return qp->outstanding; }

unsigned int nvmeof_qpair_free_slots(const struct nvmeof_qpair *qp) { return qp->nfree; }
