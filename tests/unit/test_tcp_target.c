/* SPDX-License-Identifier: MIT */
/*
 * The NVMe/TCP target transport end to end: a real target in this process
 * (two reactor threads, a RAM namespace and a namespace whose I/O the test
 * can hold) listening on 127.0.0.1, driven by a raw host with blocking
 * sockets (tcp_harness.h). Covers ICReq/ICResp for every digest combination,
 * admin bring-up, in-capsule and R2T writes, reads, digests on every PDU the
 * target sends, each fatal protocol error (C2HTermReq with the right FES,
 * then EOF), abrupt resets, and the graceful transport shutdown. After
 * every error the target must still serve a fresh connection and must have
 * released the failed one.
 *
 * The graceful-shutdown test stops the transport for good, so it runs last.
 */
#define SUBNQN "nqn.2024-01.io.nvmeof:tcp-transport-test"
#include "tcp_harness.h"

#define HOLD_NSID 2
#define HOLD_SIZE (1u << 20)
#define WATCHDOG_S 30

/* ------------------------------------------------------------------ */
/* A backend whose I/O the test can hold in flight                     */

struct hold_backend {
	struct backend be;
	uint8_t *mem;
	atomic_bool hold; /* next I/O is parked instead of completed */
	_Atomic(struct backend_io *) held;
	_Atomic(struct reactor *) held_on;
	atomic_uint submitted;
};

static void hold_do(struct hold_backend *hb, struct backend_io *io)
{
	if (io->op == BACKEND_READ)
		memcpy(io->buf, hb->mem + io->offset, io->len);
	else if (io->op == BACKEND_WRITE)
		memcpy(hb->mem + io->offset, io->buf, io->len);
	else if (io->op == BACKEND_WRITE_ZEROES || io->op == BACKEND_DISCARD)
		memset(hb->mem + io->offset, 0, io->len);
}

static int hold_submit(struct backend *be, struct reactor *r, struct backend_io *io)
{
	struct hold_backend *hb = (struct hold_backend *)be;

	atomic_fetch_add(&hb->submitted, 1);
	if (io->op != BACKEND_FLUSH && io->offset + io->len > be->size)
		return -EINVAL;
	if (atomic_exchange(&hb->hold, false)) {
		atomic_store(&hb->held_on, r);
		atomic_store(&hb->held, io);
		return 0;
	}
	hold_do(hb, io);
	io->done(io, 0);
	return 0;
}

static void hold_close(struct backend *be)
{
	struct hold_backend *hb = (struct hold_backend *)be;

	free(hb->mem);
	free(hb);
}

static const struct backend_ops hold_ops = {
	.submit = hold_submit,
	.close = hold_close,
};

/* On the reactor that holds the I/O: finish it. */
static void hold_release_cb(void *arg)
{
	struct hold_backend *hb = arg;
	struct backend_io *io = atomic_exchange(&hb->held, NULL);

	if (io) {
		hold_do(hb, io);
		io->done(io, 0);
	}
}

/* ------------------------------------------------------------------ */
/* The target under test: the harness's, plus the held namespace      */

static struct hold_backend *hold_be;

static int target_setup(void **state)
{
	struct nvmf_ns_opts nso;

	(void)state;
	harness_target_create();
	hold_be = calloc(1, sizeof(*hold_be));
	assert_non_null(hold_be);
	hold_be->mem = calloc(1, HOLD_SIZE);
	assert_non_null(hold_be->mem);
	hold_be->be.ops = &hold_ops;
	hold_be->be.kind = BACKEND_RAM;
	hold_be->be.size = HOLD_SIZE;
	hold_be->be.block_size = BLOCK;
	memset(&nso, 0, sizeof(nso));
	nso.nsid = HOLD_NSID;
	nso.backend = &hold_be->be;
	nso.enabled = true;
	assert_int_equal(nvmf_subsys_add_ns(T.subsys, &nso, NULL), 0);
	harness_target_start();
	return 0;
}

static int target_teardown(void **state)
{
	/* A failed test may have left an I/O parked in the backend. */
	if (atomic_load(&hold_be->held))
		reactor_post(atomic_load(&hold_be->held_on), hold_release_cb, hold_be);
	return harness_target_teardown(state);
}

static int test_setup(void **state)
{
	(void)state;
	alarm(WATCHDOG_S);
	wait_conns(0);
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	tcp_harness_close_all();
	alarm(0);
	return 0;
}

/* The target answered with a C2HTermReq carrying fes (and fei unless
 * negative) and the first `copy` bytes of what we sent, then closed. */
static void expect_term(struct host *h, uint16_t fes, long fei, const void *sent, uint32_t copy)
{
	const struct nvme_tcp_term_pdu *t;
	struct rx_pdu p;

	recv_pdu(h, &p, NULL, 0);
	assert_int_equal(p.type, NVME_TCP_C2H_TERM);
	t = (const void *)p.hdr;
	assert_int_equal(le16(t->fes), fes);
	if (fei >= 0)
		assert_int_equal(get_le32(p.hdr + 10), (uint32_t)fei);
	if (sent) {
		assert_int_equal(p.plen, 24 + copy);
		assert_memory_equal(p.hdr + 24, sent, copy);
	}
	expect_eof(h->fd);
}

/* ------------------------------------------------------------------ */
/* Tests: connection setup                                             */

static void test_icreq_icresp_digest_combinations(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++) {
		struct host h;

		host_open(&h, i & 1, i & 2);
		/* The negotiated digests are in force: a Property Get works. */
		assert_int_equal(connect_queue(&h, SUBNQN, 0, NVME_CNTLID_DYNAMIC, NULL), 0);
		prop_get(&h, NVME_REG_VS, false);
		host_close(&h);
	}
	wait_conns(0);
}

static void test_admin_bringup_and_identify(void **state)
{
	struct nvme_id_ctrl *id = calloc(1, sizeof(*id));
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	struct host h;
	uint16_t cntlid;

	(void)state;
	assert_non_null(id);
	cntlid = admin_bringup(&h, SUBNQN, false, false);
	sqe = mk_sqe(&h, NVME_ADMIN_IDENTIFY, 0);
	sqe.cdw10 = to_le32(NVME_ID_CNS_CTRL);
	sqe.sgl.length = to_le32(sizeof(*id));
	cqe = run_cmd(&h, &sqe, NULL, 0, (uint8_t *)id, sizeof(*id));
	assert_int_equal(cqe_status(&cqe), 0);
	assert_int_equal(le16(id->cntlid), cntlid);
	assert_true(le32(id->sgls) & NVME_CTRL_SGLS_SUPPORTED);
	assert_true(le32(id->sgls) & NVME_CTRL_SGLS_OFFSET);
	assert_int_equal(le32(id->ioccsz), (64 + NVMF_IO_INCAPSULE) / 16);
	assert_int_equal(le16(id->icdoff), 0);
	assert_true(le16(id->kas) != 0);
	assert_true(le16(id->maxcmd) >= 32);
	assert_int_equal(id->cntrltype, NVME_CTRL_CNTRLTYPE_IO);
	assert_string_equal(id->subnqn, SUBNQN);
	host_close(&h);
	free(id);
	wait_conns(0);
}

/* Commands before Connect are refused with an NVMe status, not a TermReq. */
static void test_command_before_connect(void **state)
{
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	struct host h;

	(void)state;
	host_open(&h, false, false);
	sqe = mk_sqe(&h, NVME_ADMIN_KEEP_ALIVE, 0);
	cqe = run_cmd(&h, &sqe, NULL, 0, NULL, 0);
	assert_true(cqe_status(&cqe) != 0);
	/* The queue is still usable. */
	assert_int_equal(connect_queue(&h, SUBNQN, 0, NVME_CNTLID_DYNAMIC, NULL), 0);
	host_close(&h);
	wait_conns(0);
}

/* ------------------------------------------------------------------ */
/* Tests: I/O                                                          */

#define BIG (64u * 1024)

static void io_roundtrip(bool hdgst, bool ddgst)
{
	static uint8_t out[BIG + 8192], in[BIG + 8192];
	struct session s;

	session_open(&s, hdgst, ddgst);
	fill_pattern(out, sizeof(out), (hdgst ? 1 : 0) + (ddgst ? 2 : 0) + 7);

	/* In-capsule: the largest the target accepts, and a single block. */
	assert_int_equal(write_incapsule(&s.io, RAM_NSID, 0, out, NVMF_IO_INCAPSULE), 0);
	assert_int_equal(write_incapsule(&s.io, RAM_NSID, NVMF_IO_INCAPSULE / BLOCK, out + NVMF_IO_INCAPSULE, BLOCK), 0);
	/* R2T: 64 KiB in four H2CData PDUs, then in uneven pieces. */
	assert_int_equal(write_r2t_chunked(&s.io, RAM_NSID, 100, out + 8192, BIG, 16384), 0);
	assert_int_equal(write_r2t_chunked(&s.io, RAM_NSID, 1000, out + 4096, BIG, 12288), 0);

	memset(in, 0, sizeof(in));
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 0, in, NVMF_IO_INCAPSULE + BLOCK), 0);
	assert_memory_equal(in, out, NVMF_IO_INCAPSULE + BLOCK);
	memset(in, 0, sizeof(in));
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 100, in, BIG), 0);
	assert_memory_equal(in, out + 8192, BIG);
	memset(in, 0, sizeof(in));
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 1000, in, BIG), 0);
	assert_memory_equal(in, out + 4096, BIG);

	/* The admin queue carries data too (Identify via C2HData). */
	{
		struct nvme_sqe sqe = mk_sqe(&s.admin, NVME_ADMIN_IDENTIFY, 0);
		struct nvme_cqe cqe;

		sqe.cdw10 = to_le32(NVME_ID_CNS_CTRL);
		sqe.sgl.length = to_le32(NVME_IDENTIFY_SIZE);
		cqe = run_cmd(&s.admin, &sqe, NULL, 0, in, NVME_IDENTIFY_SIZE);
		assert_int_equal(cqe_status(&cqe), 0);
		assert_int_equal(le16(((struct nvme_id_ctrl *)in)->cntlid), s.cntlid);
	}
	session_close(&s);
	wait_conns(0);
}

static void test_io_no_digest(void **state)
{
	(void)state;
	io_roundtrip(false, false);
}

static void test_io_header_digest(void **state)
{
	(void)state;
	io_roundtrip(true, false);
}

static void test_io_data_digest(void **state)
{
	(void)state;
	io_roundtrip(false, true);
}

static void test_io_both_digests(void **state)
{
	(void)state;
	io_roundtrip(true, true);
}

/* Many commands in one segment: several PDUs parsed per receive. */
static void test_pipelined_commands(void **state)
{
	enum { N = 24 };
	static uint8_t out[N * BLOCK], in[N * BLOCK];
	uint8_t *cmdbuf = calloc(N, 2 * sizeof(struct nvme_tcp_cmd_pdu) + BLOCK + 8);
	size_t used = 0;
	struct session s;
	uint16_t first;

	(void)state;
	assert_non_null(cmdbuf);
	session_open(&s, true, true);
	fill_pattern(out, sizeof(out), 4242);
	first = s.io.cid;
	for (unsigned int i = 0; i < N; i++) {
		struct nvme_tcp_conn_params params = host_params(&s.io);
		struct nvme_tcp_cmd_pdu *pdu = (void *)(cmdbuf + used);
		struct nvme_sqe sqe = mk_rw(&s.io, NVME_CMD_WRITE, RAM_NSID, 2000 + i, BLOCK);
		uint32_t hl;

		sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
		hl = nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &params, BLOCK);
		pdu->sqe = sqe;
		nvme_tcp_set_hdgst(pdu, sizeof(*pdu));
		memcpy(cmdbuf + used + hl, out + i * BLOCK, BLOCK);
		put_le32(cmdbuf + used + hl + BLOCK, crc32c(out + i * BLOCK, BLOCK));
		used += le32(pdu->hdr.plen);
	}
	send_all(s.io.fd, cmdbuf, used);
	for (unsigned int i = 0; i < N; i++) {
		struct rx_pdu p;
		struct nvme_cqe cqe;

		/* Responses may come in any order; all must be successes. */
		recv_pdu(&s.io, &p, NULL, 0);
		assert_int_equal(p.type, NVME_TCP_RSP);
		memcpy(&cqe, p.hdr + 8, sizeof(cqe));
		assert_int_equal(cqe_status(&cqe), 0);
		assert_in_range(le16(cqe.cid), first, first + N - 1);
	}
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 2000, in, sizeof(in)), 0);
	assert_memory_equal(in, out, sizeof(out));
	session_close(&s);
	free(cmdbuf);
	wait_conns(0);
}

/* NVMe-level errors are completions, and the queue goes on. */
static void test_nvme_errors_keep_connection(void **state)
{
	uint8_t buf[BLOCK] = { 0 };
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	struct session s;

	(void)state;
	session_open(&s, false, false);
	/* LBA out of range. */
	assert_int_equal(write_incapsule(&s.io, RAM_NSID, RAM_SIZE / BLOCK, buf, BLOCK),
			 NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE));
	/* In-capsule SGL length disagreeing with the data carried. */
	sqe = mk_rw(&s.io, NVME_CMD_WRITE, RAM_NSID, 0, 2 * BLOCK);
	sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
	cqe = run_cmd(&s.io, &sqe, buf, BLOCK, NULL, 0);
	assert_int_equal(cqe_status(&cqe), NVME_SC_SGL_INVALID_DATA_LEN);
	/* A transport SGL larger than MDTS. */
	sqe = mk_rw(&s.io, NVME_CMD_READ, RAM_NSID, 0, BLOCK);
	sqe.sgl.length = to_le32(NVMF_MAX_XFER + BLOCK);
	cqe = run_cmd(&s.io, &sqe, NULL, 0, NULL, 0);
	assert_true(cqe_status(&cqe) != 0);
	/* Unknown namespace. */
	sqe = mk_rw(&s.io, NVME_CMD_READ, 77, 0, BLOCK);
	cqe = run_cmd(&s.io, &sqe, NULL, 0, buf, BLOCK);
	assert_int_equal(cqe_status(&cqe), NVME_SC_INVALID_NS);
	/* Still fine. */
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 0, buf, BLOCK), 0);
	session_close(&s);
	wait_conns(0);
}

/* A host that sends a full queue of large reads before reading anything:
 * the target's sends back up, complete partially, and resume. */
static void test_large_reads_backpressure(void **state)
{
	enum { N = 31, LEN = NVMF_MAX_XFER };
	uint8_t *out = malloc(LEN), *in = malloc(LEN);
	uint16_t cids[N];
	struct session s;

	(void)state;
	assert_non_null(out);
	assert_non_null(in);
	session_open(&s, true, true);
	fill_pattern(out, LEN, 2024);
	assert_int_equal(write_r2t_chunked(&s.io, RAM_NSID, 8192, out, LEN, 32768), 0);
	for (unsigned int i = 0; i < N; i++) {
		struct nvme_sqe sqe = mk_rw(&s.io, NVME_CMD_READ, RAM_NSID, 8192, LEN);

		cids[i] = le16(sqe.cid);
		send_capsule(&s.io, &sqe, NULL, 0);
	}
	/* ~4 MiB of responses are queued before the first byte is read. */
	usleep(50000);
	for (unsigned int i = 0; i < N; i++) {
		struct nvme_cqe cqe;

		memset(in, 0, LEN);
		cqe = wait_rsp(&s.io, cids[i], in, LEN);
		assert_int_equal(cqe_status(&cqe), 0);
		assert_memory_equal(in, out, LEN);
	}
	session_close(&s);
	free(out);
	free(in);
	wait_conns(0);
}

/* More commands than the connection has request slots (a host ignoring
 * SQSIZE): receiving pauses until sends give slots back, nothing is lost. */
static void test_more_commands_than_slots(void **state)
{
	enum { N = 300, LEN = 4096 };
	uint8_t *cmds = calloc(N, sizeof(struct nvme_tcp_cmd_pdu));
	static uint8_t out[LEN], in[LEN];
	struct nvme_tcp_conn_params params;
	struct session s;
	uint16_t first;

	(void)state;
	assert_non_null(cmds);
	session_open(&s, false, false);
	params = host_params(&s.io);
	fill_pattern(out, LEN, 11);
	assert_int_equal(write_incapsule(&s.io, RAM_NSID, 50, out, LEN), 0);
	first = s.io.cid;
	for (unsigned int i = 0; i < N; i++) {
		struct nvme_tcp_cmd_pdu *pdu = (void *)(cmds + i * sizeof(*pdu));

		nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &params, 0);
		pdu->sqe = mk_rw(&s.io, NVME_CMD_READ, RAM_NSID, 50, LEN);
	}
	send_all(s.io.fd, cmds, N * sizeof(struct nvme_tcp_cmd_pdu));
	usleep(50000);
	for (unsigned int i = 0; i < N; i++) {
		struct nvme_cqe cqe;

		memset(in, 0, LEN);
		cqe = wait_rsp(&s.io, (uint16_t)(first + i), in, LEN);
		assert_int_equal(cqe_status(&cqe), 0);
		assert_memory_equal(in, out, LEN);
	}
	session_close(&s);
	free(cmds);
	wait_conns(0);
}

/* Every PDU arrives one byte per segment: the receive state machine must
 * resume at any offset (header, digest, in-capsule data, H2CData). */
static void send_slowly(int fd, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		send_all(fd, buf + i, 1);
}

static void test_byte_at_a_time(void **state)
{
	uint8_t data[2 * BLOCK], in[2 * BLOCK];
	uint8_t buf[sizeof(struct nvme_tcp_cmd_pdu) + 2 * NVME_TCP_DIGEST_LEN + sizeof(data)];
	struct nvme_tcp_cmd_pdu *pdu = (void *)buf;
	struct nvme_tcp_conn_params params;
	struct nvme_tcp_icreq_pdu ic;
	struct nvme_tcp_icresp_pdu icr;
	struct nvme_tcp_data_pdu d;
	uint8_t dg[NVME_TCP_DIGEST_LEN];
	struct nvme_cqe cqe;
	struct session s;
	uint16_t cid, ttag;
	uint32_t hl;

	(void)state;
	/* The ICReq itself, dribbled. */
	memset(&s, 0, sizeof(s));
	s.cntlid = admin_bringup(&s.admin, SUBNQN, true, true);
	s.io.fd = tcp_dial();
	s.io.cid = 0x2000;
	nvme_tcp_build_icreq(&ic, true, true, 0);
	send_slowly(s.io.fd, (const uint8_t *)&ic, sizeof(ic));
	recv_all(s.io.fd, &icr, sizeof(icr));
	assert_int_equal(icr.hdr.type, NVME_TCP_ICRESP);
	s.io.hdgst = s.io.ddgst = true;
	s.io.maxh2c = le32(icr.maxdata);
	assert_int_equal(connect_queue(&s.io, SUBNQN, 1, s.cntlid, NULL), 0);
	params = host_params(&s.io);

	/* In-capsule write, dribbled. */
	fill_pattern(data, sizeof(data), 3);
	memset(buf, 0, sizeof(buf));
	hl = nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &params, sizeof(data));
	pdu->sqe = mk_rw(&s.io, NVME_CMD_WRITE, RAM_NSID, 600, sizeof(data));
	pdu->sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
	nvme_tcp_set_hdgst(pdu, sizeof(*pdu));
	memcpy(buf + hl, data, sizeof(data));
	put_le32(buf + hl + sizeof(data), crc32c(data, sizeof(data)));
	send_slowly(s.io.fd, buf, le32(pdu->hdr.plen));
	cqe = wait_rsp(&s.io, le16(pdu->sqe.cid), NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 600, in, sizeof(in)), 0);
	assert_memory_equal(in, data, sizeof(data));

	/* R2T write whose H2CData PDU is dribbled. */
	fill_pattern(data, sizeof(data), 4);
	ttag = start_r2t_write(&s.io, RAM_NSID, 700, sizeof(data), &cid);
	memset(&d, 0, sizeof(d));
	uint8_t h2c[sizeof(d) + NVME_TCP_DIGEST_LEN];
	hl = nvme_tcp_fill_hdr(&d.hdr, NVME_TCP_H2C_DATA, NVME_TCP_F_DATA_LAST, &params, sizeof(data));
	d.cccid = to_le16(cid);
	d.ttag = to_le16(ttag);
	d.datal = to_le32(sizeof(data));
	memcpy(h2c, &d, sizeof(d));
	nvme_tcp_set_hdgst(h2c, sizeof(d));
	send_slowly(s.io.fd, h2c, hl);
	send_slowly(s.io.fd, data, sizeof(data));
	put_le32(dg, crc32c(data, sizeof(data)));
	send_slowly(s.io.fd, dg, sizeof(dg));
	cqe = wait_rsp(&s.io, cid, NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 700, in, sizeof(in)), 0);
	assert_memory_equal(in, data, sizeof(data));
	session_close(&s);
	wait_conns(0);
}

/* Two R2T writes in flight on one queue, their H2CData interleaved. */
static void test_interleaved_r2t_writes(void **state)
{
	static uint8_t a[32768], b[32768], in[32768];
	uint16_t cid_a, cid_b, ttag_a, ttag_b;
	struct nvme_cqe cqe;
	struct session s;

	(void)state;
	session_open(&s, true, false);
	fill_pattern(a, sizeof(a), 101);
	fill_pattern(b, sizeof(b), 202);
	ttag_a = start_r2t_write(&s.io, RAM_NSID, 3000, sizeof(a), &cid_a);
	ttag_b = start_r2t_write(&s.io, RAM_NSID, 3100, sizeof(b), &cid_b);
	assert_true(ttag_a != ttag_b);
	send_h2c(&s.io, cid_b, ttag_b, b, 0, 8192, false);
	send_h2c(&s.io, cid_a, ttag_a, a, 0, 16384, false);
	send_h2c(&s.io, cid_b, ttag_b, b, 8192, 24576, true);
	cqe = wait_rsp(&s.io, cid_b, NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
	send_h2c(&s.io, cid_a, ttag_a, a, 16384, 16384, true);
	cqe = wait_rsp(&s.io, cid_a, NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 3000, in, sizeof(in)), 0);
	assert_memory_equal(in, a, sizeof(a));
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 3100, in, sizeof(in)), 0);
	assert_memory_equal(in, b, sizeof(b));
	session_close(&s);
	wait_conns(0);
}

/*
 * While the host owes data for R2Ts, the target receives the next PDU's
 * header into its buffer and what follows into the oldest waiting write.
 * Whatever comes instead (a command with in-capsule data, the other
 * write's data, a header in pieces) must come out as if received plainly.
 * The pauses let the target arm that receive before the next PDU arrives.
 */
static void guessed_h2c_placement(bool hdgst, bool ddgst)
{
	static uint8_t a[65536], b[65536], c[8192], in[65536];
	uint16_t cid_a, cid_b, ttag_a, ttag_b;
	const struct timespec pause = { 0, 20 * 1000000 };
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	struct session s;

	session_open(&s, hdgst, ddgst);
	fill_pattern(a, sizeof(a), 11);
	fill_pattern(b, sizeof(b), 22);
	fill_pattern(c, sizeof(c), 33);
	ttag_a = start_r2t_write(&s.io, RAM_NSID, 4000, sizeof(a), &cid_a);
	ttag_b = start_r2t_write(&s.io, RAM_NSID, 4200, sizeof(b), &cid_b);
	nanosleep(&pause, NULL);
	/* Guess a, get a command with 8 KiB in capsule. */
	sqe = mk_rw(&s.io, NVME_CMD_WRITE, RAM_NSID, 4400, sizeof(c));
	sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
	send_capsule(&s.io, &sqe, c, sizeof(c));
	cqe = wait_rsp(&s.io, le16(sqe.cid), NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
	nanosleep(&pause, NULL);
	/* Guess a, get b's first half; then a's first half (a hit). */
	send_h2c(&s.io, cid_b, ttag_b, b, 0, 32768, false);
	nanosleep(&pause, NULL);
	send_h2c(&s.io, cid_a, ttag_a, a, 0, 32768, false);
	nanosleep(&pause, NULL);
	/* A header byte by byte while a guess is armed. */
	{
		uint8_t pdu[sizeof(struct nvme_tcp_data_pdu) + 2 * NVME_TCP_DIGEST_LEN + 32768];
		struct nvme_tcp_conn_params p = host_params(&s.io);
		struct nvme_tcp_data_pdu *d = (void *)pdu;
		uint32_t hlen = nvme_tcp_fill_hdr(&d->hdr, NVME_TCP_H2C_DATA, NVME_TCP_F_DATA_LAST, &p, 32768);
		uint32_t n = hlen;

		d->cccid = to_le16(cid_a);
		d->ttag = to_le16(ttag_a);
		d->datao = to_le32(32768);
		d->datal = to_le32(32768);
		if (hdgst)
			nvme_tcp_set_hdgst(d, sizeof(*d));
		memcpy(pdu + n, a + 32768, 32768);
		n += 32768;
		if (ddgst) {
			put_le32(pdu + n, crc32c(a + 32768, 32768));
			n += NVME_TCP_DIGEST_LEN;
		}
		for (uint32_t i = 0; i < hlen; i++) {
			send_all(s.io.fd, pdu + i, 1);
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		}
		send_all(s.io.fd, pdu + hlen, n - hlen);
	}
	cqe = wait_rsp(&s.io, cid_a, NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
	send_h2c(&s.io, cid_b, ttag_b, b, 32768, 32768, true);
	cqe = wait_rsp(&s.io, cid_b, NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);

	assert_int_equal(read_blocks(&s.io, RAM_NSID, 4000, in, sizeof(a)), 0);
	assert_memory_equal(in, a, sizeof(a));
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 4200, in, sizeof(b)), 0);
	assert_memory_equal(in, b, sizeof(b));
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 4400, in, sizeof(c)), 0);
	assert_memory_equal(in, c, sizeof(c));
	session_close(&s);
	wait_conns(0);
}

static void test_guessed_h2c_placement(void **state)
{
	(void)state;
	guessed_h2c_placement(false, false);
}

static void test_guessed_h2c_placement_digests(void **state)
{
	(void)state;
	guessed_h2c_placement(true, true);
}

/* Connect with SQ flow control disabled (CATTR bit 2): a successful read
 * ends with C2HData LAST|SUCCESS and no CapsuleResp; failures still get one. */
static void test_c2h_success_without_sq_flow_control(void **state)
{
	uint8_t out[4096], in[4096];
	struct nvmf_connect_data d;
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	struct rx_pdu p;
	struct session s;

	(void)state;
	s.cntlid = admin_bringup(&s.admin, SUBNQN, true, true);
	host_open(&s.io, true, true);
	sqe = mk_connect(&s.io, 1, 31, 0);
	((struct nvmf_connect_sqe *)&sqe)->cattr = 1u << 2;
	fill_connect_data(&d, SUBNQN, HOSTNQN, s.cntlid);
	cqe = run_cmd(&s.io, &sqe, &d, sizeof(d), NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);

	fill_pattern(out, sizeof(out), 55);
	assert_int_equal(write_incapsule(&s.io, RAM_NSID, 900, out, sizeof(out)), 0);
	sqe = mk_rw(&s.io, NVME_CMD_READ, RAM_NSID, 900, sizeof(in));
	send_capsule(&s.io, &sqe, NULL, 0);
	recv_pdu(&s.io, &p, in, sizeof(in));
	assert_int_equal(p.type, NVME_TCP_C2H_DATA);
	assert_true(p.flags & NVME_TCP_F_DATA_LAST);
	assert_true(p.flags & NVME_TCP_F_DATA_SUCCESS);
	assert_int_equal(p.datal, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	/* The next PDU belongs to the next command: no CapsuleResp in between. */
	sqe = mk_rw(&s.io, NVME_CMD_READ, 77, 0, BLOCK);
	send_capsule(&s.io, &sqe, NULL, 0);
	recv_pdu(&s.io, &p, NULL, 0);
	assert_int_equal(p.type, NVME_TCP_RSP);
	memcpy(&cqe, p.hdr + 8, sizeof(cqe));
	assert_int_equal(le16(cqe.cid), le16(sqe.cid));
	assert_int_equal(cqe_status(&cqe), NVME_SC_INVALID_NS);
	session_close(&s);
	wait_conns(0);
}

/*
 * n QD1 reads of 4 KiB on s's I/O queue: each must return the data; set
 * rsp[i] when read i ended with a CapsuleResp (its SQHD in sqhd[i]) rather
 * than a C2HData flagged SUCCESS.
 */
static void reads_note_rsps(struct session *s, const uint8_t *want, unsigned int n, bool *rsp, uint16_t *sqhd)
{
	uint8_t in[4096];

	for (unsigned int i = 0; i < n; i++) {
		struct nvme_sqe sqe = mk_rw(&s->io, NVME_CMD_READ, RAM_NSID, 900, sizeof(in));
		struct rx_pdu p;

		send_capsule(&s->io, &sqe, NULL, 0);
		memset(in, 0, sizeof(in));
		recv_pdu(&s->io, &p, in, sizeof(in));
		assert_int_equal(p.type, NVME_TCP_C2H_DATA);
		assert_true(p.flags & NVME_TCP_F_DATA_LAST);
		assert_memory_equal(in, want, sizeof(in));
		rsp[i] = !(p.flags & NVME_TCP_F_DATA_SUCCESS);
		if (rsp[i]) {
			struct nvme_cqe cqe;

			recv_pdu(&s->io, &p, NULL, 0);
			assert_int_equal(p.type, NVME_TCP_RSP);
			memcpy(&cqe, p.hdr + 8, sizeof(cqe));
			assert_int_equal(le16(cqe.cid), le16(sqe.cid));
			assert_int_equal(cqe_status(&cqe), 0);
			sqhd[i] = le16(cqe.sqhd);
		}
	}
}

/* With SQ flow control kept (the default Connect), reads end with SUCCESS
 * too, but a CapsuleResp still comes after fewer than half a queue of them
 * and its SQHD counts every command completed, so that a host throttling on
 * SQHD never waits for good. */
static void test_c2h_success_with_sq_flow_control(void **state)
{
	enum { READS = 40, DEPTH = 32 };
	uint8_t out[4096];
	uint16_t sqhd[READS];
	bool rsp[READS];
	int last = -1;
	unsigned int rsps = 0;
	struct session s;

	(void)state;
	session_open_ex(&s, SUBNQN, false, false, DEPTH, 0);
	fill_pattern(out, sizeof(out), 56);
	assert_int_equal(write_incapsule(&s.io, RAM_NSID, 900, out, sizeof(out)), 0);
	reads_note_rsps(&s, out, READS, rsp, sqhd);
	for (int i = 0; i < READS; i++) {
		if (!rsp[i])
			continue;
		/* At most DEPTH / 2 - 1 SUCCESSes in a row. */
		assert_true(i - last <= DEPTH / 2);
		if (last >= 0)
			assert_int_equal(sqhd[i], (sqhd[last] + i - last) % DEPTH);
		last = i;
		rsps++;
	}
	/* Most reads saved their CapsuleResp. */
	assert_true(rsps >= 2 && rsps <= READS / 4);
	session_close(&s);
	wait_conns(0);
}

/* --c2h-success off: SUCCESS only for hosts without SQ flow control. */
static void test_c2h_success_off(void **state)
{
	enum { READS = 20 };
	uint8_t out[4096];
	uint16_t sqhd[READS];
	bool rsp[READS];
	struct session s;

	(void)state;
	tcp_transport_set_c2h_success(false);
	session_open(&s, false, false);
	tcp_transport_set_c2h_success(true);
	fill_pattern(out, sizeof(out), 57);
	assert_int_equal(write_incapsule(&s.io, RAM_NSID, 900, out, sizeof(out)), 0);
	reads_note_rsps(&s, out, READS, rsp, sqhd);
	for (int i = 0; i < READS; i++) {
		assert_true(rsp[i]);
		if (i)
			assert_int_equal(sqhd[i], (sqhd[i - 1] + 1) % 32);
	}
	session_close(&s);
	wait_conns(0);
}

/* An outstanding AER never completes by itself; closing must not wait for it. */
static void test_close_with_aer_outstanding(void **state)
{
	struct nvme_sqe sqe;
	struct session s;

	(void)state;
	session_open(&s, false, false);
	sqe = mk_sqe(&s.admin, NVME_ADMIN_ASYNC_EVENT, 0);
	send_capsule(&s.admin, &sqe, NULL, 0);
	/* Still answering other commands with the AER parked. */
	prop_get(&s.admin, NVME_REG_CAP, true);
	session_close(&s);
	wait_conns(0);
	assert_target_serves();
}

/* ------------------------------------------------------------------ */
/* Tests: fatal protocol errors                                        */

static void test_err_pdu_before_icreq(void **state)
{
	struct nvme_tcp_cmd_pdu pdu;
	struct host h = { .cid = 1 };
	struct nvme_tcp_conn_params params = { 0 };

	(void)state;
	h.fd = tcp_dial();
	memset(&pdu, 0, sizeof(pdu));
	nvme_tcp_fill_hdr(&pdu.hdr, NVME_TCP_CMD, 0, &params, 0);
	pdu.sqe = mk_sqe(&h, NVME_ADMIN_KEEP_ALIVE, 0);
	send_all(h.fd, &pdu, sizeof(pdu));
	expect_term(&h, NVME_TCP_FES_PDU_SEQ_ERR, -1, &pdu, 8);
	host_close(&h);
	wait_conns(0);
	assert_target_serves();
}

static void test_err_icreq_twice(void **state)
{
	struct nvme_tcp_icreq_pdu req;
	struct host h;

	(void)state;
	host_open(&h, false, false);
	nvme_tcp_build_icreq(&req, false, false, 0);
	send_all(h.fd, &req, sizeof(req));
	expect_term(&h, NVME_TCP_FES_PDU_SEQ_ERR, -1, &req, 8);
	host_close(&h);
	wait_conns(0);
	assert_target_serves();
}

static void test_err_icreq_bad_pfv(void **state)
{
	struct nvme_tcp_icreq_pdu req;
	struct host h = { 0 };

	(void)state;
	h.fd = tcp_dial();
	nvme_tcp_build_icreq(&req, false, false, 0);
	req.pfv = to_le16(1);
	send_all(h.fd, &req, sizeof(req));
	expect_term(&h, NVME_TCP_FES_UNSUPPORTED_PARAM, offsetof(struct nvme_tcp_icreq_pdu, pfv), &req,
		    sizeof(req));
	host_close(&h);

	/* We never pad C2H data, so a host asking for alignment is refused. */
	h.fd = tcp_dial();
	nvme_tcp_build_icreq(&req, false, false, 1);
	send_all(h.fd, &req, sizeof(req));
	expect_term(&h, NVME_TCP_FES_UNSUPPORTED_PARAM, offsetof(struct nvme_tcp_icreq_pdu, hpda), &req,
		    sizeof(req));
	host_close(&h);
	wait_conns(0);
	assert_target_serves();
}

static void test_err_unknown_pdu_type(void **state)
{
	static const uint8_t types[] = { 0x08, 0x0a, 0x7f, NVME_TCP_RSP, NVME_TCP_C2H_DATA, NVME_TCP_R2T };

	(void)state;
	for (size_t i = 0; i < sizeof(types); i++) {
		uint8_t pdu[24] = { types[i], 0, 24, 0, 24, 0, 0, 0 };
		struct host h;

		host_open(&h, false, false);
		send_all(h.fd, pdu, sizeof(pdu));
		expect_term(&h, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, type), pdu, 8);
		host_close(&h);
	}
	wait_conns(0);
	assert_target_serves();
}

static void test_err_wrong_hlen(void **state)
{
	struct nvme_tcp_cmd_pdu pdu;
	struct host h;

	(void)state;
	host_open(&h, false, false);
	memset(&pdu, 0, sizeof(pdu));
	pdu.hdr.type = NVME_TCP_CMD;
	pdu.hdr.hlen = 24;
	pdu.hdr.plen = to_le32(sizeof(pdu));
	pdu.sqe = mk_sqe(&h, NVME_ADMIN_KEEP_ALIVE, 0);
	send_all(h.fd, &pdu, sizeof(pdu));
	expect_term(&h, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, hlen), &pdu, 8);
	host_close(&h);
	wait_conns(0);
	assert_target_serves();
}

static void test_err_bad_header_digest(void **state)
{
	uint8_t buf[sizeof(struct nvme_tcp_cmd_pdu) + NVME_TCP_DIGEST_LEN];
	struct nvme_tcp_cmd_pdu *pdu = (void *)buf;
	struct nvme_tcp_conn_params params;
	struct host h;

	(void)state;
	host_open(&h, true, false);
	params = host_params(&h);
	memset(buf, 0, sizeof(buf));
	nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &params, 0);
	pdu->sqe = mk_connect(&h, 0, 31, 0);
	nvme_tcp_set_hdgst(pdu, sizeof(*pdu));
	buf[sizeof(*pdu)] ^= 0x01;
	send_all(h.fd, buf, sizeof(buf));
	expect_term(&h, NVME_TCP_FES_HDR_DIGEST_ERR, -1, buf, sizeof(buf));
	host_close(&h);

	/* A missing HDGSTF flag once negotiated is fatal as well. */
	host_open(&h, true, false);
	memset(buf, 0, sizeof(buf));
	nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &params, 0);
	pdu->hdr.flags &= (uint8_t)~NVME_TCP_F_HDGST;
	pdu->sqe = mk_sqe(&h, NVME_ADMIN_KEEP_ALIVE, 0);
	nvme_tcp_set_hdgst(pdu, sizeof(*pdu));
	send_all(h.fd, buf, sizeof(buf));
	expect_term(&h, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, flags), buf, 8);
	host_close(&h);
	wait_conns(0);
	assert_target_serves();
}

/* A corrupted write payload closes the connection (no TermReq status fits). */
static void test_err_bad_data_digest(void **state)
{
	uint8_t data[BLOCK];
	struct nvme_tcp_conn_params params;
	uint8_t *buf = calloc(1, sizeof(struct nvme_tcp_cmd_pdu) + BLOCK + NVME_TCP_DIGEST_LEN);
	struct nvme_tcp_cmd_pdu *pdu = (void *)buf;
	struct session s;
	uint32_t hl;

	(void)state;
	assert_non_null(buf);
	session_open(&s, false, true);
	params = host_params(&s.io);
	fill_pattern(data, sizeof(data), 5);
	hl = nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &params, BLOCK);
	pdu->sqe = mk_rw(&s.io, NVME_CMD_WRITE, RAM_NSID, 0, BLOCK);
	pdu->sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
	memcpy(buf + hl, data, BLOCK);
	put_le32(buf + hl + BLOCK, ~crc32c(data, BLOCK));
	send_all(s.io.fd, buf, le32(pdu->hdr.plen));
	expect_eof(s.io.fd);
	session_close(&s);
	free(buf);
	wait_conns(0);
	assert_target_serves();
}

static void test_err_h2c_unknown_ttag(void **state)
{
	static const uint16_t ttags[] = { 0x7777, 3 };
	uint8_t data[BLOCK] = { 0 };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct nvme_tcp_conn_params params;
		struct nvme_tcp_data_pdu d;
		struct host h;

		/* No R2T outstanding: any TTAG is unknown. */
		host_open(&h, false, false);
		params = host_params(&h);
		memset(&d, 0, sizeof(d));
		nvme_tcp_fill_hdr(&d.hdr, NVME_TCP_H2C_DATA, NVME_TCP_F_DATA_LAST, &params, sizeof(data));
		d.cccid = to_le16(1);
		d.ttag = to_le16(ttags[i]);
		d.datal = to_le32(sizeof(data));
		/* The header alone is refused; no payload follows. */
		send_all(h.fd, &d, sizeof(d));
		expect_term(&h, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_data_pdu, ttag), &d, sizeof(d));
		host_close(&h);
	}
	wait_conns(0);
	assert_target_serves();
}

/* H2CData outside [R2TO, R2TO + R2TL): past the end, or not where the
 * last one stopped. */
static void test_err_h2c_beyond_r2t_window(void **state)
{
	static const struct {
		uint32_t datao, datal;
		uint16_t fes;
	} bad[] = {
		{ 0, 8192 + 4096, NVME_TCP_FES_DATA_OUT_OF_RANGE }, /* longer than the command */
		{ 4096, 4096, NVME_TCP_FES_DATA_OUT_OF_RANGE }, /* skips the first 4 KiB */
		{ 8192, 512, NVME_TCP_FES_DATA_OUT_OF_RANGE }, /* starts at the end */
		{ 0, NVMF_MAX_XFER + 4, NVME_TCP_FES_DATA_LIMIT_EXCEEDED }, /* above MAXH2CDATA */
	};
	uint8_t data[8192] = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nvme_tcp_conn_params params;
		struct nvme_tcp_data_pdu d;
		struct session s;
		uint16_t cid, ttag;

		session_open(&s, false, false);
		params = host_params(&s.io);
		ttag = start_r2t_write(&s.io, RAM_NSID, 0, sizeof(data), &cid);
		memset(&d, 0, sizeof(d));
		nvme_tcp_fill_hdr(&d.hdr, NVME_TCP_H2C_DATA, NVME_TCP_F_DATA_LAST, &params, bad[i].datal);
		d.cccid = to_le16(cid);
		d.ttag = to_le16(ttag);
		d.datao = to_le32(bad[i].datao);
		d.datal = to_le32(bad[i].datal);
		send_all(s.io.fd, &d, sizeof(d));
		expect_term(&s.io, bad[i].fes, -1, &d, bad[i].fes == NVME_TCP_FES_DATA_OUT_OF_RANGE ? sizeof(d) : 8);
		/* The admin queue and the controller are unaffected. */
		prop_get(&s.admin, NVME_REG_CAP, true);
		session_close(&s);
		wait_conns(0);
	}
	assert_target_serves();
}

/* H2CData whose CCCID does not belong to its TTAG. */
static void test_err_h2c_wrong_cccid(void **state)
{
	struct nvme_tcp_conn_params params;
	struct nvme_tcp_data_pdu d;
	struct session s;
	uint16_t cid, ttag;

	(void)state;
	session_open(&s, false, false);
	params = host_params(&s.io);
	ttag = start_r2t_write(&s.io, RAM_NSID, 0, 4096, &cid);
	memset(&d, 0, sizeof(d));
	nvme_tcp_fill_hdr(&d.hdr, NVME_TCP_H2C_DATA, NVME_TCP_F_DATA_LAST, &params, 4096);
	d.cccid = to_le16((uint16_t)(cid + 1));
	d.ttag = to_le16(ttag);
	d.datal = to_le32(4096);
	send_all(s.io.fd, &d, sizeof(d));
	expect_term(&s.io, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_data_pdu, cccid), &d, sizeof(d));
	session_close(&s);
	wait_conns(0);
	assert_target_serves();
}

static void test_err_incapsule_too_large(void **state)
{
	(void)state;
	for (int queue = 0; queue < 2; queue++) {
		struct nvme_tcp_conn_params params;
		struct nvme_tcp_cmd_pdu pdu;
		struct session s;
		struct host *h;
		uint32_t len = NVMF_IO_INCAPSULE + BLOCK;

		/* On a fresh admin queue and on a connected I/O queue. */
		if (queue == 0) {
			host_open(&s.io, false, false);
			h = &s.io;
		} else {
			session_open(&s, false, false);
			h = &s.io;
		}
		params = host_params(h);
		memset(&pdu, 0, sizeof(pdu));
		nvme_tcp_fill_hdr(&pdu.hdr, NVME_TCP_CMD, 0, &params, len);
		pdu.sqe = mk_rw(h, NVME_CMD_WRITE, RAM_NSID, 0, len);
		pdu.sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
		/* The header alone must be enough to refuse it. */
		send_all(h->fd, &pdu, sizeof(pdu));
		expect_term(h, NVME_TCP_FES_DATA_LIMIT_EXCEEDED, offsetof(struct nvme_tcp_hdr, plen), &pdu, 8);
		if (queue == 0)
			host_close(&s.io);
		else
			session_close(&s);
	}
	wait_conns(0);
	assert_target_serves();
}

static void test_err_garbage(void **state)
{
	uint8_t junk[256];

	(void)state;
	fill_pattern(junk, sizeof(junk), 0xbad);
	junk[0] = 0xa5; /* not a PDU type */
	for (int after_ic = 0; after_ic < 2; after_ic++) {
		struct host h;

		if (after_ic) {
			host_open(&h, true, true);
		} else {
			memset(&h, 0, sizeof(h));
			h.fd = tcp_dial();
		}
		send_all(h.fd, junk, sizeof(junk));
		expect_term(&h, NVME_TCP_FES_INVALID_PDU_HDR, 0, junk, 8);
		host_close(&h);
	}
	/* A valid type with absurd lengths: a 4 GiB capsule, data inside the header. */
	{
		static const struct {
			uint8_t pdo;
			uint16_t fes;
			uint32_t fei;
		} cases[] = {
			{ 0xff, NVME_TCP_FES_DATA_LIMIT_EXCEEDED, offsetof(struct nvme_tcp_hdr, plen) },
			{ 0x10, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, pdo) },
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint8_t pdu[72] = { NVME_TCP_CMD, 0, 72, cases[i].pdo, 0xff, 0xff, 0xff, 0xff };
			struct host h;

			host_open(&h, false, false);
			send_all(h.fd, pdu, sizeof(pdu));
			expect_term(&h, cases[i].fes, cases[i].fei, pdu, 8);
			host_close(&h);
		}
	}
	wait_conns(0);
	assert_target_serves();
}

/* The host gives up with an H2CTermReq: the target closes without reply. */
static void test_host_termreq(void **state)
{
	uint8_t term[sizeof(struct nvme_tcp_term_pdu) + NVME_TCP_TERM_MAX_COPY];
	struct session s;
	uint32_t len;

	(void)state;
	session_open(&s, false, false);
	len = nvme_tcp_build_term(term, NVME_TCP_H2C_TERM, NVME_TCP_FES_HDR_DIGEST_ERR, 0, NULL, 0);
	send_all(s.io.fd, term, len);
	expect_eof(s.io.fd);
	session_close(&s);
	wait_conns(0);
	assert_target_serves();
}

/* ------------------------------------------------------------------ */
/* Tests: abrupt disconnects                                           */

/* RST in the middle of an R2T write: the request dies with the queue, the
 * controller lives on, and the queue can be connected again. */
static void test_reset_mid_r2t_write(void **state)
{
	static uint8_t out[BIG], in[BIG];
	struct session s;
	uint16_t cid, ttag;

	(void)state;
	session_open(&s, false, false);
	fill_pattern(out, sizeof(out), 31337);
	ttag = start_r2t_write(&s.io, RAM_NSID, 300, BIG, &cid);
	send_h2c(&s.io, cid, ttag, out, 0, 16384, false);
	send_h2c(&s.io, cid, ttag, out, 16384, 8000, false);
	host_reset(&s.io);
	wait_conns(1);

	/* The admin queue still answers, and qid 1 is free again. */
	assert_true(prop_get(&s.admin, NVME_REG_CSTS, false) & NVME_CSTS_RDY);
	host_open(&s.io, false, false);
	assert_int_equal(connect_queue(&s.io, SUBNQN, 1, s.cntlid, NULL), 0);
	assert_int_equal(write_r2t_chunked(&s.io, RAM_NSID, 300, out, BIG, BIG), 0);
	assert_int_equal(read_blocks(&s.io, RAM_NSID, 300, in, BIG), 0);
	assert_memory_equal(in, out, BIG);
	session_close(&s);
	wait_conns(0);
	assert_target_serves();
}

/* RST on the admin queue while an I/O queue waits for H2C data: the
 * controller goes away and takes its I/O queue with it. */
static void test_reset_admin_with_io_pending(void **state)
{
	struct session s;
	uint16_t cid;

	(void)state;
	session_open(&s, true, true);
	start_r2t_write(&s.io, RAM_NSID, 0, 32768, &cid);
	host_reset(&s.admin);
	expect_eof(s.io.fd);
	host_close(&s.io);
	wait_conns(0);
	assert_target_serves();
}

/* Hosts that vanish at every stage of the handshake leave nothing behind. */
static void test_close_at_every_stage(void **state)
{
	(void)state;
	for (int stage = 0; stage < 5; stage++) {
		struct nvme_tcp_icreq_pdu req;
		struct host h;

		memset(&h, 0, sizeof(h));
		h.fd = tcp_dial();
		if (stage == 1) {
			nvme_tcp_build_icreq(&req, false, false, 0);
			send_all(h.fd, &req, 40); /* a partial ICReq */
		} else if (stage >= 2) {
			host_icreq(&h, false, false);
			h.cid = 1;
			if (stage >= 3)
				assert_int_equal(connect_queue(&h, SUBNQN, 0, NVME_CNTLID_DYNAMIC, NULL), 0);
			if (stage == 4) {
				struct nvme_sqe sqe = mk_sqe(&h, NVME_ADMIN_IDENTIFY, 0);

				sqe.cdw10 = to_le32(NVME_ID_CNS_CTRL);
				sqe.sgl.length = to_le32(NVME_IDENTIFY_SIZE);
				send_capsule(&h, &sqe, NULL, 0); /* and never read the answer */
			}
		}
		if (stage % 2)
			host_reset(&h);
		else
			host_close(&h);
	}
	wait_conns(0);
	assert_target_serves();
}

/* ------------------------------------------------------------------ */
/* Graceful shutdown (last: the transport stays down)                  */

static void test_shutdown_waits_for_inflight(void **state)
{
	uint8_t out[4096], in[BLOCK];
	struct backend_io *io = NULL;
	struct reactor *on;
	struct session s;
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	uint64_t end;
	uint16_t aer_cid;
	bool refused = false;

	(void)state;
	session_open(&s, true, true);
	fill_pattern(out, sizeof(out), 777);
	/* Prove the held namespace works, then park one write in it. */
	assert_int_equal(write_incapsule(&s.io, HOLD_NSID, 8, out, BLOCK), 0);
	assert_int_equal(read_blocks(&s.io, HOLD_NSID, 8, in, BLOCK), 0);
	assert_memory_equal(in, out, BLOCK);
	/* An AER parked on the admin queue must not hold the shutdown up. */
	sqe = mk_sqe(&s.admin, NVME_ADMIN_ASYNC_EVENT, 0);
	aer_cid = le16(sqe.cid);
	send_capsule(&s.admin, &sqe, NULL, 0);
	prop_get(&s.admin, NVME_REG_CAP, true);
	atomic_store(&hold_be->hold, true);
	sqe = mk_rw(&s.io, NVME_CMD_WRITE, HOLD_NSID, 16, sizeof(out));
	sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
	send_capsule(&s.io, &sqe, out, sizeof(out));
	end = now_ns() + 3000 * MS;
	while (!(io = atomic_load(&hold_be->held)) && now_ns() < end)
		usleep(1000);
	assert_non_null(io);
	assert_int_equal(tcp_transport_connections(), 2);

	harness_shutdown();

	/* The listener goes away at once... */
	end = now_ns() + 2000 * MS;
	while (!refused && now_ns() < end) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		refused = tcp_dial_fd(fd, T.tcp_port, 0) == -ECONNREFUSED;
		close(fd);
		if (!refused)
			usleep(5000);
	}
	assert_true(refused);
	/* ...but the connections wait for the command in flight. */
	usleep(200000);
	assert_int_equal(atomic_load(&T.shutdown_calls), 0);
	assert_int_equal(tcp_transport_connections(), 2);

	on = atomic_load(&hold_be->held_on);
	assert_non_null(on);
	assert_int_equal(reactor_post(on, hold_release_cb, hold_be), 0);
	cqe = wait_rsp(&s.io, le16(sqe.cid), NULL, 0);
	assert_int_equal(cqe_status(&cqe), 0);
	assert_memory_equal(hold_be->mem + 16 * BLOCK, out, sizeof(out));
	expect_eof(s.io.fd);
	/* The parked AER may be given back (aborted) or dropped; then EOF. */
	for (;;) {
		uint8_t b;
		ssize_t n = recv(s.admin.fd, &b, 1, MSG_PEEK);

		if (n <= 0)
			break;
		cqe = wait_rsp(&s.admin, aer_cid, NULL, 0);
		assert_int_equal(cqe_status(&cqe), NVME_SC_ABORT_SQ_DELETED);
	}
	expect_eof(s.admin.fd);
	assert_true(wait_until(&T.shutdown_calls, 1, 3000));
	assert_int_equal(tcp_transport_connections(), 0);
	/* Called once. */
	usleep(50000);
	assert_int_equal(atomic_load(&T.shutdown_calls), 1);
	session_close(&s);
}

#define TT(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TT(test_icreq_icresp_digest_combinations),
		TT(test_admin_bringup_and_identify),
		TT(test_command_before_connect),
		TT(test_io_no_digest),
		TT(test_io_header_digest),
		TT(test_io_data_digest),
		TT(test_io_both_digests),
		TT(test_pipelined_commands),
		TT(test_nvme_errors_keep_connection),
		TT(test_large_reads_backpressure),
		TT(test_more_commands_than_slots),
		TT(test_byte_at_a_time),
		TT(test_interleaved_r2t_writes),
		TT(test_guessed_h2c_placement),
		TT(test_guessed_h2c_placement_digests),
		TT(test_c2h_success_without_sq_flow_control),
		TT(test_c2h_success_with_sq_flow_control),
		TT(test_c2h_success_off),
		TT(test_close_with_aer_outstanding),
		TT(test_err_pdu_before_icreq),
		TT(test_err_icreq_twice),
		TT(test_err_icreq_bad_pfv),
		TT(test_err_unknown_pdu_type),
		TT(test_err_wrong_hlen),
		TT(test_err_bad_header_digest),
		TT(test_err_bad_data_digest),
		TT(test_err_h2c_unknown_ttag),
		TT(test_err_h2c_beyond_r2t_window),
		TT(test_err_h2c_wrong_cccid),
		TT(test_err_incapsule_too_large),
		TT(test_err_garbage),
		TT(test_host_termreq),
		TT(test_reset_mid_r2t_write),
		TT(test_reset_admin_with_io_pending),
		TT(test_close_at_every_stage),
		TT(test_shutdown_waits_for_inflight),
	};

	return cmocka_run_group_tests(tests, target_setup, target_teardown);
}
