/* SPDX-License-Identifier: MIT */
/*
 * The host I/O queue engine against a scripted controller on a socketpair:
 * C2HData with padding and the SUCCESS flag, R2T answered in MAXH2CDATA
 * pieces, MDTS splitting completed as one, in-capsule writes with data
 * digests, Compare (data out, a miscompare status back) and multi-range
 * DSM, a C2HTermReq turning into a failed connection, callers that
 * wait for a reconnect sleeping (not spinning) until it happens, and the
 * controller thread's blocking socket waits being cancelled at disconnect.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/host_internal.h"
#include "proto/crc32c.h"
#include "proto/endian.h"

struct fixture {
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_qpair *qp;
	int peer;
	struct nvme_tcp_conn_params params;
};

struct done {
	int calls;
	struct nvmeof_cpl cpl;
};

static void on_done(void *arg, const struct nvmeof_cpl *cpl)
{
	struct done *d = arg;

	d->calls++;
	d->cpl = *cpl;
}

static struct fixture *setup(uint32_t max_xfer, uint32_t incapsule, uint32_t maxh2c, bool ddgst)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct nvmeof_ctrl *c = calloc(1, sizeof(*c));
	int sv[2];

	nvmeof_ctrl_opts_init(&c->opts);
	strcpy(c->traddr, "test");
	strcpy(c->trsvcid, "0");
	c->opts.traddr = c->traddr;
	c->opts.trsvcid = c->trsvcid;
	c->max_xfer = max_xfer;
	c->incapsule_max = incapsule;
	c->nr_io_queues = 1;
	c->ns[0] = (struct ns_cache_ent){ .nsid = 1, .lba_shift = 9, .nsze = 1 << 20 };
	c->nr_ns = 1;
	c->stop_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->ns_lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	ctrl_event_init(c);
	atomic_init(&c->epoch, 1);
	atomic_init(&c->state, NVMEOF_CTRL_LIVE);
	c->qpairs = calloc(1, sizeof(*c->qpairs));
	assert_int_equal(qpair_init(&c->qpairs[0], c, 1, 32), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(sock_set_nonblock(sv[0], true), 0);
	f->params = (struct nvme_tcp_conn_params){ .ddgst = ddgst, .maxh2cdata = maxh2c };
	qpair_attach(&c->qpairs[0], sv[0], NULL, &f->params);
	c->qpairs[0].epoch = 1;
	f->ctrl = c;
	f->qp = &c->qpairs[0];
	f->peer = sv[1];
	return f;
}

static void teardown(struct fixture *f)
{
	qpair_cancel_all(f->qp, -ECANCELED);
	qpair_destroy(f->qp);
	free(f->ctrl->qpairs);
	ctrl_event_destroy(f->ctrl);
	free(f->ctrl);
	close(f->peer);
	free(f);
}

static void peer_read(struct fixture *f, void *buf, size_t len)
{
	assert_int_equal(sock_recv_all(f->peer, NULL, buf, len, host_now_ns() + 2000000000ull), 0);
}

static void peer_write(struct fixture *f, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	assert_int_equal(sock_send_all(f->peer, NULL, &iov, 1, host_now_ns() + 2000000000ull), 0);
}

/* Read one CapsuleCmd without in-capsule data. */
static struct nvme_sqe read_cmd(struct fixture *f)
{
	struct nvme_tcp_cmd_pdu pdu;

	peer_read(f, &pdu, sizeof(pdu));
	assert_int_equal(pdu.hdr.type, NVME_TCP_CMD);
	assert_int_equal(le32(pdu.hdr.plen), sizeof(pdu));
	assert_int_equal(pdu.sqe.sgl.type, NVME_SGL_TRANSPORT_DATA_BLOCK);
	return pdu.sqe;
}

static void send_rsp(struct fixture *f, uint16_t cid, uint16_t status)
{
	struct nvme_tcp_rsp_pdu r = { 0 };

	r.hdr.type = NVME_TCP_RSP;
	r.hdr.hlen = 24;
	r.hdr.plen = to_le32(24);
	r.cqe.cid = to_le16(cid);
	r.cqe.status = to_le16(NVME_CQE_STATUS(status));
	peer_write(f, &r, sizeof(r));
}

/* C2HData with `pad` bytes between header and data (PDO = 24 + pad). */
static void send_c2h(struct fixture *f, uint16_t cid, uint32_t off, const uint8_t *data, uint32_t len,
		     uint8_t flags, uint32_t pad)
{
	uint8_t hdr[64] = { 0 };
	struct nvme_tcp_data_pdu *d = (struct nvme_tcp_data_pdu *)hdr;
	uint32_t dd = f->params.ddgst ? 4 : 0;

	d->hdr.type = NVME_TCP_C2H_DATA;
	d->hdr.flags = flags | (dd ? NVME_TCP_F_DDGST : 0);
	d->hdr.hlen = 24;
	d->hdr.pdo = (uint8_t)(24 + pad);
	d->hdr.plen = to_le32(24 + pad + len + dd);
	d->cccid = to_le16(cid);
	d->datao = to_le32(off);
	d->datal = to_le32(len);
	peer_write(f, hdr, 24 + pad);
	peer_write(f, data, len);
	if (dd) {
		uint32_t crc = to_le32(crc32c(data, len));

		peer_write(f, &crc, 4);
	}
}

static void poll_until(struct fixture *f, struct done *d, int calls)
{
	for (int i = 0; i < 2000 && d->calls < calls; i++) {
		nvmeof_qpair_poll(f->qp, 0);
		usleep(500);
	}
}

static void test_read_c2h_success_and_padding(void **state)
{
	struct fixture *f = setup(1 << 20, 0, 1 << 20, true);
	uint8_t *buf = calloc(1, 8192), data[8192];
	struct done d = { 0 };

	for (int i = 0; i < 8192; i++)
		data[i] = (uint8_t)(i * 7);
	assert_int_equal(nvmeof_read(f->qp, 1, 100, 16, buf, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	struct nvme_sqe sqe = read_cmd(f);

	assert_int_equal(sqe.opcode, NVME_CMD_READ);
	assert_int_equal(le32(sqe.cdw10), 100);
	assert_int_equal(le32(sqe.cdw12) & 0xffff, 15);
	assert_int_equal(le32(sqe.sgl.length), 8192);
	/* Two PDUs, the first padded, the last with LAST|SUCCESS and no CapsuleResp. */
	send_c2h(f, le16(sqe.cid), 0, data, 3000, 0, 8);
	send_c2h(f, le16(sqe.cid), 3000, data + 3000, 5192,
		 NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS, 0);
	poll_until(f, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.err, 0);
	assert_int_equal(d.cpl.status, 0);
	assert_memory_equal(buf, data, 8192);
	assert_int_equal(nvmeof_qpair_outstanding(f->qp), 0);

	/* A corrupted data digest completes the command with Data Transfer Error. */
	memset(&d, 0, sizeof(d));
	assert_int_equal(nvmeof_read(f->qp, 1, 0, 1, buf, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	sqe = read_cmd(f);
	f->params.ddgst = true;
	{
		uint8_t hdr[24] = { 0 };
		struct nvme_tcp_data_pdu *p = (struct nvme_tcp_data_pdu *)hdr;
		uint32_t bad = 0x12345678;

		p->hdr.type = NVME_TCP_C2H_DATA;
		p->hdr.flags = NVME_TCP_F_DDGST | NVME_TCP_F_DATA_LAST;
		p->hdr.hlen = 24;
		p->hdr.pdo = 24;
		p->hdr.plen = to_le32(24 + 512 + 4);
		p->cccid = sqe.cid;
		p->datal = to_le32(512);
		peer_write(f, hdr, 24);
		peer_write(f, data, 512);
		peer_write(f, &bad, 4);
	}
	send_rsp(f, le16(sqe.cid), 0);
	poll_until(f, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.status, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR));
	free(buf);
	teardown(f);
}

static void test_write_r2t_maxh2cdata(void **state)
{
	struct fixture *f = setup(1 << 20, 0, 16384, false);
	uint8_t *data = malloc(65536), *got = calloc(1, 65536);
	struct done d = { 0 };

	for (int i = 0; i < 65536; i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	assert_int_equal(nvmeof_write(f->qp, 1, 8, 128, data, NVMEOF_IO_FUA, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	struct nvme_sqe sqe = read_cmd(f);

	assert_int_equal(sqe.opcode, NVME_CMD_WRITE);
	assert_true(le32(sqe.cdw12) & NVME_RW_FUA);
	assert_int_equal(le32(sqe.sgl.length), 65536);

	/* Two R2Ts: [0, 40K) and [40K, 64K); each answered in ≤ 16 KiB pieces. */
	uint32_t windows[2][2] = { { 0, 40960 }, { 40960, 24576 } };

	for (int w = 0; w < 2; w++) {
		struct nvme_tcp_r2t_pdu r = { 0 };

		r.hdr.type = NVME_TCP_R2T;
		r.hdr.hlen = 24;
		r.hdr.plen = to_le32(24);
		r.cccid = sqe.cid;
		r.ttag = to_le16((uint16_t)(0x40 + w));
		r.r2to = to_le32(windows[w][0]);
		r.r2tl = to_le32(windows[w][1]);
		peer_write(f, &r, sizeof(r));
		uint32_t off = windows[w][0], end = windows[w][0] + windows[w][1];

		while (off < end) {
			struct nvme_tcp_data_pdu h;

			for (int i = 0; i < 100; i++)
				nvmeof_qpair_poll(f->qp, 0);
			peer_read(f, &h, sizeof(h));
			assert_int_equal(h.hdr.type, NVME_TCP_H2C_DATA);
			assert_int_equal(le16(h.cccid), le16(sqe.cid));
			assert_int_equal(le16(h.ttag), 0x40 + w);
			assert_int_equal(le32(h.datao), off);
			uint32_t len = le32(h.datal);

			assert_true(len <= 16384 && len > 0);
			assert_int_equal(le32(h.hdr.plen), 24 + len);
			peer_read(f, got + off, len);
			off += len;
			assert_int_equal(!!(h.hdr.flags & NVME_TCP_F_DATA_LAST), off == end);
		}
	}
	assert_memory_equal(got, data, 65536);
	send_rsp(f, le16(sqe.cid), 0);
	poll_until(f, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.status, 0);
	free(data);
	free(got);
	teardown(f);
}

static void test_mdts_split_one_completion(void **state)
{
	struct fixture *f = setup(8192, 0, 1 << 20, false);
	uint8_t *buf = calloc(1, 20480), *data = malloc(20480);
	struct done d = { 0 };

	for (int i = 0; i < 20480; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(nvmeof_read(f->qp, 1, 1000, 40, buf, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	uint32_t expect_slba[3] = { 1000, 1016, 1032 }, expect_nlb[3] = { 16, 16, 8 };
	struct nvme_sqe s[3];

	for (int i = 0; i < 3; i++) {
		s[i] = read_cmd(f);
		assert_int_equal(le32(s[i].cdw10), expect_slba[i]);
		assert_int_equal((le32(s[i].cdw12) & 0xffff) + 1, expect_nlb[i]);
	}
	/* Complete out of order; the caller hears once, after the last part. */
	uint32_t off[3] = { 0, 8192, 16384 };

	for (int k = 2; k >= 0; k--) {
		send_c2h(f, le16(s[k].cid), 0, data + off[k], expect_nlb[k] * 512, NVME_TCP_F_DATA_LAST, 0);
		send_rsp(f, le16(s[k].cid), k == 1 ? NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_READ_ERROR) : 0);
		for (int i = 0; i < 50; i++)
			nvmeof_qpair_poll(f->qp, 0);
		assert_int_equal(d.calls, k == 0 ? 1 : 0);
	}
	assert_int_equal(d.cpl.err, 0);
	assert_int_equal(d.cpl.status, NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_READ_ERROR));
	assert_memory_equal(buf, data, 20480);
	assert_int_equal(nvmeof_qpair_free_slots(f->qp), 32);
	/* A transfer needing more commands than the queue has is refused. */
	uint8_t *big = malloc(33 * 8192);

	assert_int_equal(nvmeof_read(f->qp, 1, 0, 33 * 16, big, on_done, &d), -EINVAL);
	free(big);
	free(buf);
	free(data);
	teardown(f);
}

static void test_incapsule_write_digest(void **state)
{
	struct fixture *f = setup(1 << 20, 8192, 1 << 20, true);
	uint8_t data[4096];
	struct done d = { 0 };
	struct nvme_tcp_cmd_pdu pdu;
	uint8_t got[4096];
	uint32_t dg;

	for (int i = 0; i < 4096; i++)
		data[i] = (uint8_t)(255 - i);
	assert_int_equal(nvmeof_write(f->qp, 1, 3, 8, data, 0, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	peer_read(f, &pdu, sizeof(pdu));
	assert_int_equal(pdu.sqe.sgl.type, NVME_SGL_DATA_BLOCK_OFFSET);
	assert_int_equal(pdu.hdr.pdo, 72);
	assert_int_equal(le32(pdu.hdr.plen), 72 + 4096 + 4);
	assert_true(pdu.hdr.flags & NVME_TCP_F_DDGST);
	peer_read(f, got, sizeof(got));
	peer_read(f, &dg, 4);
	assert_memory_equal(got, data, 4096);
	assert_int_equal(le32(dg), crc32c(data, 4096));
	send_rsp(f, le16(pdu.sqe.cid), 0);
	poll_until(f, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.status, 0);
	teardown(f);
}

/* Compare sends its data like a write and hands a miscompare status to the caller. */
static void test_compare_failure_status(void **state)
{
	struct fixture *f = setup(1 << 20, 8192, 1 << 20, false);
	uint8_t data[1024], got[1024];
	struct done d = { 0 };
	struct nvme_tcp_cmd_pdu pdu;
	uint16_t miscompare = NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED) | NVME_STATUS_DNR;

	(void)state;
	memset(data, 0xa5, sizeof(data));
	assert_int_equal(nvmeof_compare(f->qp, 1, 7, 2, data, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	peer_read(f, &pdu, sizeof(pdu));
	assert_int_equal(pdu.sqe.opcode, NVME_CMD_COMPARE);
	assert_int_equal(le32(pdu.sqe.cdw10), 7);
	assert_int_equal(le32(pdu.sqe.cdw12), 1);
	assert_int_equal(le32(pdu.hdr.plen), 72 + sizeof(got));
	peer_read(f, got, sizeof(got));
	assert_memory_equal(got, data, sizeof(got));
	send_rsp(f, le16(pdu.sqe.cid), miscompare);
	poll_until(f, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.status, miscompare);
	assert_int_equal(nvmeof_compare(f->qp, 1, 0, 1, NULL, on_done, &d), -EINVAL);
	teardown(f);
}

/* DSM sends every range in one command: NR is 0's based, the attributes in cdw11. */
static void test_dsm_ranges(void **state)
{
	struct fixture *f = setup(1 << 20, 8192, 1 << 20, false);
	struct nvmeof_dsm_range r[2] = {
		{ .nlb = to_le32(8), .slba = to_le64(16) },
		{ .nlb = to_le32(4), .slba = to_le64(100) },
	};
	struct nvmeof_dsm_range got[2];
	struct done d = { 0 };
	struct nvme_tcp_cmd_pdu pdu;

	(void)state;
	assert_int_equal(nvmeof_dsm(f->qp, 1, NVMEOF_DSM_AD, r, 2, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	peer_read(f, &pdu, sizeof(pdu));
	assert_int_equal(pdu.sqe.opcode, NVME_CMD_DSM);
	assert_int_equal(le32(pdu.sqe.cdw10), 1);
	assert_int_equal(le32(pdu.sqe.cdw11), NVME_DSM_ATTR_DEALLOCATE);
	assert_int_equal(le32(pdu.hdr.plen), 72 + sizeof(got));
	peer_read(f, got, sizeof(got));
	assert_memory_equal(got, r, sizeof(got));
	send_rsp(f, le16(pdu.sqe.cid), 0);
	poll_until(f, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.status, 0);
	assert_int_equal(nvmeof_dsm(f->qp, 1, NVMEOF_DSM_AD, r, 0, on_done, &d), -EINVAL);
	assert_int_equal(nvmeof_dsm(f->qp, 1, NVMEOF_DSM_AD, r, 257, on_done, &d), -EINVAL);
	teardown(f);
}

static void test_term_req_fails_connection(void **state)
{
	struct fixture *f = setup(1 << 20, 0, 1 << 20, false);
	uint8_t buf[512], term[24];
	struct done d = { 0 };

	f->ctrl->opts.fast_io_fail_tmo_s = 0; /* fail waiting I/O at once */
	assert_int_equal(nvmeof_read(f->qp, 1, 0, 1, buf, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	(void)read_cmd(f);
	nvme_tcp_build_term(term, NVME_TCP_C2H_TERM, NVME_TCP_FES_INVALID_PDU_HDR, 2, NULL, 0);
	peer_write(f, term, sizeof(term));
	poll_until(f, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.err, -EIO);
	assert_int_equal(atomic_load(&f->ctrl->failed_epoch), 1);
	assert_int_equal(f->qp->fd, -1);
	/* New I/O while disconnected past fast_io_fail_tmo fails immediately. */
	assert_int_equal(nvmeof_read(f->qp, 1, 0, 1, buf, on_done, &d), -EIO);
	teardown(f);
}

static void test_unknown_cid_is_protocol_error(void **state)
{
	struct fixture *f = setup(1 << 20, 0, 1 << 20, false);
	uint8_t buf[512];
	struct done d = { 0 };

	assert_int_equal(nvmeof_read(f->qp, 1, 0, 1, buf, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	struct nvme_sqe sqe = read_cmd(f);

	send_rsp(f, (uint16_t)(le16(sqe.cid) ^ 0x1000), 0); /* stale generation */
	for (int i = 0; i < 100 && f->qp->fd >= 0; i++) {
		nvmeof_qpair_poll(f->qp, 0);
		usleep(200);
	}
	assert_int_equal(f->qp->fd, -1);
	assert_int_equal(d.calls, 0); /* waits for the reconnect (fast_io_fail_tmo off) */
	assert_int_equal(nvmeof_qpair_outstanding(f->qp), 1);
	teardown(f); /* cancels it */
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.err, -ECANCELED);
}


/* ---- waiting for a reconnect ---- */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Break the queue's connection the way a dead target does. */
static void lose_connection(struct fixture *f)
{
	close(f->peer);
	f->peer = -1;
	for (int i = 0; i < 100 && f->qp->fd >= 0; i++) {
		nvmeof_qpair_poll(f->qp, 0);
		usleep(200);
	}
	assert_int_equal(f->qp->fd, -1);
}

/*
 * Plays the controller thread: after delay_ms hands the queue a new
 * connection and marks the controller live again (or dead), then answers
 * the command the queue resends. No cmocka asserts off the main thread.
 */
struct reconnector {
	struct fixture *f;
	int delay_ms;
	bool die;
	int rc;
};

static void *reconnect_later(void *arg)
{
	struct reconnector *r = arg;
	struct nvmeof_ctrl *c = r->f->ctrl;
	struct nvmeof_qpair *qp = r->f->qp;
	int sv[2];

	usleep((useconds_t)r->delay_ms * 1000);
	if (r->die) {
		atomic_fetch_add(&c->epoch, 1);
		atomic_store(&c->state, NVMEOF_CTRL_DEAD);
		ctrl_notify(c);
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || sock_set_nonblock(sv[0], true)) {
		r->rc = -errno;
		return NULL;
	}
	pthread_mutex_lock(&qp->handoff_lock);
	qp->handoff_fd = sv[0];
	qp->handoff_epoch = atomic_load(&c->epoch);
	qp->handoff_params = r->f->params;
	pthread_mutex_unlock(&qp->handoff_lock);
	atomic_store(&c->failed_epoch, 0);
	atomic_store(&c->lost_at_ns, 0);
	atomic_store(&c->state, NVMEOF_CTRL_LIVE);
	ctrl_notify(c);

	struct nvme_tcp_cmd_pdu pdu;
	struct nvme_tcp_rsp_pdu rsp = { 0 };

	r->rc = sock_recv_all(sv[1], NULL, &pdu, sizeof(pdu), host_now_ns() + 2000000000ull);
	if (r->rc == 0) {
		rsp.hdr.type = NVME_TCP_RSP;
		rsp.hdr.hlen = 24;
		rsp.hdr.plen = to_le32(24);
		rsp.cqe.cid = pdu.sqe.cid;
		struct iovec iov = { &rsp, sizeof(rsp) };

		r->rc = sock_send_all(sv[1], NULL, &iov, 1, host_now_ns() + 2000000000ull);
	}
	r->f->peer = sv[1];
	return NULL;
}

/* A request waiting for the reconnect: qpair_wait sleeps until the handoff, then completes it. */
static void test_wait_sleeps_until_reconnect(void **state)
{
	struct fixture *f = setup(1 << 20, 0, 1 << 20, false);
	struct reconnector r = { .f = f, .delay_ms = 300 };
	struct done d = { 0 };
	pthread_t th;

	f->ctrl->thread_started = true;
	assert_int_equal(nvmeof_flush(f->qp, 1, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	(void)read_cmd(f);
	lose_connection(f);
	atomic_store(&f->ctrl->state, NVMEOF_CTRL_RECONNECTING);
	assert_int_equal(pthread_create(&th, NULL, reconnect_later, &r), 0);

	uint64_t t0 = host_now_ns(), cpu0 = thread_cpu_ns();
	int n = nvmeof_qpair_wait(f->qp, 5000);
	uint64_t waited = host_now_ns() - t0, cpu = thread_cpu_ns() - cpu0;

	pthread_join(th, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(n, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.cpl.err, 0);
	assert_int_equal(d.cpl.status, 0);
	assert_true(waited >= 250000000ull && waited < 2000000000ull);
	assert_true(cpu < waited / 10); /* slept, did not spin */
	f->ctrl->thread_started = false;
	teardown(f);
}

/* qpair_wait on a disconnected queue ends when the controller dies, with -ENODEV. */
static void test_wait_ends_when_controller_dies(void **state)
{
	struct fixture *f = setup(1 << 20, 0, 1 << 20, false);
	struct reconnector r = { .f = f, .delay_ms = 200, .die = true };
	uint8_t buf[512];
	struct done d = { 0 };
	pthread_t th;

	assert_int_equal(nvmeof_read(f->qp, 1, 0, 1, buf, on_done, &d), 0);
	nvmeof_qpair_poll(f->qp, 0);
	(void)read_cmd(f);
	lose_connection(f);
	atomic_store(&f->ctrl->state, NVMEOF_CTRL_RECONNECTING);
	assert_int_equal(pthread_create(&th, NULL, reconnect_later, &r), 0);
	uint64_t t0 = host_now_ns(), cpu0 = thread_cpu_ns();

	assert_int_equal(nvmeof_qpair_wait(f->qp, 5000), 1);
	uint64_t waited = host_now_ns() - t0;

	assert_true(thread_cpu_ns() - cpu0 < waited / 10);
	assert_true(waited < 2000000000ull);
	pthread_join(th, NULL);
	assert_int_equal(d.cpl.err, -ENODEV);
	teardown(f);
}

/* nvmeof_ctrl_wait_recovery: at once when live, sleeps while reconnecting, then the outcome. */
static void test_wait_recovery(void **state)
{
	struct fixture *f = setup(1 << 20, 0, 1 << 20, false);
	struct nvmeof_ctrl *c = f->ctrl;
	struct reconnector r = { .f = f, .delay_ms = 200, .die = true };
	pthread_t th;

	c->thread_started = true;
	assert_int_equal(nvmeof_ctrl_wait_recovery(c, 1000), 0);

	/* A failure reported, recovery not started yet: that is waited for too. */
	atomic_store(&c->failed_epoch, 1);
	uint64_t t0 = host_now_ns(), cpu0 = thread_cpu_ns();

	assert_int_equal(nvmeof_ctrl_wait_recovery(c, 300), -EAGAIN);
	uint64_t waited = host_now_ns() - t0;

	assert_true(waited >= 300000000ull);
	assert_true(thread_cpu_ns() - cpu0 < waited / 10);

	atomic_store(&c->state, NVMEOF_CTRL_RECONNECTING);
	assert_int_equal(nvmeof_ctrl_wait_recovery(c, 0), -EAGAIN);
	assert_int_equal(pthread_create(&th, NULL, reconnect_later, &r), 0);
	t0 = host_now_ns();
	assert_int_equal(nvmeof_ctrl_wait_recovery(c, -1), -ENODEV);
	assert_true(host_now_ns() - t0 < 2000000000ull);
	pthread_join(th, NULL);
	assert_int_equal(nvmeof_ctrl_wait_recovery(c, -1), -ENODEV);
	c->thread_started = false;
	teardown(f);
}

/* fast_io_fail_tmo expiring ends one wait early (to fail the I/O), not every later one. */
static void test_wait_recovery_fast_fail(void **state)
{
	struct fixture *f = setup(1 << 20, 0, 1 << 20, false);
	struct nvmeof_ctrl *c = f->ctrl;
	uint64_t t0 = host_now_ns();

	c->thread_started = true;
	c->opts.fast_io_fail_tmo_s = 1;
	atomic_store(&c->state, NVMEOF_CTRL_RECONNECTING);
	atomic_store(&c->lost_at_ns, t0 - 800000000ull); /* expires 200 ms from now */
	assert_int_equal(nvmeof_ctrl_wait_recovery(c, 5000), -EAGAIN);
	uint64_t waited = host_now_ns() - t0;

	assert_true(waited >= 200000000ull && waited < 1000000000ull);
	t0 = host_now_ns();
	assert_int_equal(nvmeof_ctrl_wait_recovery(c, 300), -EAGAIN);
	assert_true(host_now_ns() - t0 >= 300000000ull);
	c->thread_started = false;
	teardown(f);
}


/* A thread's cancel fd ends its blocking socket waits, but data already there wins. */
static void test_sock_wait_cancelled(void **state)
{
	int sv[2], efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t one = 1;
	uint8_t b[4];

	assert_true(efd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sock_set_cancel_fd(efd);
	assert_int_equal(sock_recv_all(sv[0], NULL, b, 4, host_now_ns() + 50000000ull), -ETIMEDOUT);
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	uint64_t t0 = host_now_ns();

	assert_int_equal(sock_recv_all(sv[0], NULL, b, 4, host_now_ns() + 5000000000ull), -ECANCELED);
	assert_true(host_now_ns() - t0 < 1000000000ull);
	assert_int_equal(write(sv[1], "abcd", 4), 4);
	assert_int_equal(sock_recv_all(sv[0], NULL, b, 4, host_now_ns() + 5000000000ull), 0);
	sock_set_cancel_fd(-1);
	close(sv[0]);
	close(sv[1]);
	close(efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_c2h_success_and_padding),
		cmocka_unit_test(test_write_r2t_maxh2cdata),
		cmocka_unit_test(test_mdts_split_one_completion),
		cmocka_unit_test(test_incapsule_write_digest),
		cmocka_unit_test(test_compare_failure_status),
		cmocka_unit_test(test_dsm_ranges),
		cmocka_unit_test(test_term_req_fails_connection),
		cmocka_unit_test(test_unknown_cid_is_protocol_error),
		cmocka_unit_test(test_wait_sleeps_until_reconnect),
		cmocka_unit_test(test_wait_ends_when_controller_dies),
		cmocka_unit_test(test_wait_recovery),
		cmocka_unit_test(test_wait_recovery_fast_fail),
		cmocka_unit_test(test_sock_wait_cancelled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
