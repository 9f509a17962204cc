/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the target's command layer the way the TCP transport drives it:
 * every command is an SQE (plus its data) that goes through
 * nvmf_req_parse() and, when parse accepts it, nvmf_req_execute() on a fake
 * queue whose complete() records the result. One target lives for the whole
 * run: an NVM subsystem with a small RAM namespace (any host allowed) and a
 * second one that admits a single host, both on one port, plus the
 * discovery subsystem. Each input opens an admin queue and an I/O queue,
 * runs its commands on them and closes both, so controllers are created
 * and torn down for every input (leaks show up per input).
 *
 * Input: a sequence of records
 *   byte 0    bit 0: I/O queue (else admin queue)
 *             bit 1: for a Connect, replace the data with valid Connect data
 *                    (host NQN, subsystem from bits 2-3, CNTLID of the admin
 *                    queue's controller) so that the fuzzer gets past Connect
 *             bits 2-3: subsystem for bit 1: 0 ramdisk, 1 restricted,
 *                    2 discovery, 3 unknown
 *             bit 4: the queue disconnects after this command
 *   64 bytes  the SQE
 *   N bytes   data, when SGL1 describes host-to-controller data (in-capsule
 *             or fetched by R2T): as many bytes as the SGL length, zero
 *             filled past the end of the input
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/log.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"
#include "reactor/reactor.h"
#include "target/target.h"
#include "fuzz_common.h"

#define RAM_NQN "nqn.2026-01.io.nvmeof:fuzz-ram"
#define RESTRICTED_NQN "nqn.2026-01.io.nvmeof:fuzz-restricted"
#define HOST_NQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001"
#define POOL 16 /* requests per queue; more than the 4 AERs a controller may hold */
#define MAX_RECORDS 64

struct fake_req {
	struct nvmf_req req;
	bool busy;
	bool completed;
};

struct fake_sq {
	struct nvmf_sq sq;
	struct fake_req reqs[POOL];
	bool open;
	bool disconnect_requested;
	unsigned int inflight;
};

static struct nvmf_tgt *tgt;
static struct nvmf_port *port;
static struct reactor *reactor;
static struct fake_sq queues[2];
static uint8_t *data_bufs; /* POOL * 2 buffers of NVMF_MAX_XFER bytes */
static bool trace; /* FUZZ_TRACE=1: print every completion (corpus debugging) */

static void fake_complete(struct nvmf_req *req)
{
	struct fake_req *fr = (struct fake_req *)req;
	struct fake_sq *q = (struct fake_sq *)req->sq;

	fuzz_assert(fr->busy && !fr->completed);
	fr->completed = true;
	fr->busy = false;
	q->inflight--;

	/* What the transport sends: C2H data on success, then the CQE. */
	if (req->status == 0 && req->dir == NVMF_DATA_C2H && req->c2h_len) {
		volatile uint8_t sink = 0;
		const uint8_t *p = req->c2h_data;

		fuzz_assert(p != NULL);
		fuzz_assert(req->c2h_len <= req->data_len);
		for (uint32_t i = 0; i < req->c2h_len; i += 64)
			sink ^= p[i];
		sink ^= p[req->c2h_len - 1];
		(void)sink;
	}
	nvmf_req_release(req); /* "sent" */
	fuzz_assert(req->rsp.cid == req->cmd.cid);
	if (trace)
		fprintf(stderr, "qid %u opcode %#04x fctype %#04x cid %u: status %#06x dw0 %#x c2h %u\n",
			req->sq->qid, req->cmd.opcode, ((const uint8_t *)&req->cmd)[4], req->cmd.cid,
			req->status, le32(req->rsp.dw0), req->status ? 0 : req->c2h_len);
}

static void fake_disconnect(struct nvmf_sq *sq)
{
	((struct fake_sq *)sq)->disconnect_requested = true;
}

static const struct nvmf_sq_ops fake_ops = {
	.complete = fake_complete,
	.disconnect = fake_disconnect,
};

/* Run what the command layer posted to the reactor (deferred work, AEN
 * delivery) without blocking: a stopped reactor drains and returns. */
static void pump(void)
{
	reactor_stop(reactor);
	reactor_run(reactor);
}

static void add_subsys(const char *nqn, bool any_host, uint64_t size)
{
	struct backend_open_opts bo = { .path = NULL, .size = size, .block_size = 512 };
	struct nvmf_ns_opts no = { .nsid = 1, .enabled = true };
	struct nvmf_subsys *s;
	char err[256];

	if (nvmf_subsys_create(tgt, nqn, &s) || backend_open(&bo, &no.backend, err, sizeof(err)) ||
	    nvmf_subsys_add_ns(s, &no, NULL) || nvmf_port_add_subsys(port, s)) {
		fprintf(stderr, "fuzz setup: subsystem %s failed\n", nqn);
		abort();
	}
	nvmf_subsys_set_allow_any_host(s, any_host);
	if (!any_host && nvmf_subsys_add_host(s, HOST_NQN))
		abort();
}

static void setup(void)
{
	struct nvmf_port_opts po = { .portid = 1, .adrfam = NVMF_ADRFAM_IPV4 };

	/* Errors about hostile commands are expected; run.sh hides stderr
	 * (-close_fd_mask=2, sanitizer reports still show). */
	log_set_level(getenv("FUZZ_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	trace = getenv("FUZZ_TRACE") != NULL;
	snprintf(po.traddr, sizeof(po.traddr), "127.0.0.1");
	snprintf(po.trsvcid, sizeof(po.trsvcid), "4420");
	if (reactor_create(NULL, &reactor) || nvmf_tgt_create(&tgt)) {
		fprintf(stderr, "fuzz setup: reactor/target creation failed\n");
		abort();
	}
	nvmf_tgt_set_reactors(tgt, &reactor, 1);
	if (nvmf_port_create(tgt, &po, &port))
		abort();
	add_subsys(RAM_NQN, true, 1u << 20);
	add_subsys(RESTRICTED_NQN, false, 64u << 10);
	data_bufs = aligned_alloc(4096, (size_t)2 * POOL * NVMF_MAX_XFER);
	if (!data_bufs)
		abort();
}

static void open_queue(struct fake_sq *q, unsigned int index)
{
	memset(q, 0, sizeof(*q));
	nvmf_sq_init(&q->sq, tgt, &fake_ops, reactor, port);
	snprintf(q->sq.peer, sizeof(q->sq.peer), "127.0.0.1:%u", 40000 + index);
	snprintf(q->sq.local_addr, sizeof(q->sq.local_addr), "127.0.0.1");
	for (unsigned int i = 0; i < POOL; i++)
		q->reqs[i].req.data = data_bufs + ((size_t)index * POOL + i) * NVMF_MAX_XFER;
	q->open = true;
}

static void close_queue(struct fake_sq *q)
{
	if (!q->open)
		return;
	pump();
	/* Held requests (AERs) belong to the command layer; the transport only
	 * reports the connection gone once nothing else is in flight. */
	nvmf_sq_closed(&q->sq);
	q->open = false;
	pump();
}

static struct fake_req *get_req(struct fake_sq *q)
{
	for (unsigned int i = 0; i < POOL; i++) {
		if (!q->reqs[i].busy) {
			void *data = q->reqs[i].req.data;

			memset(&q->reqs[i], 0, sizeof(q->reqs[i]));
			q->reqs[i].req.data = data;
			return &q->reqs[i];
		}
	}
	return NULL;
}

/* The transport's SGL1 handling: sets data_len / in_capsule or refuses. */
static uint16_t transport_sgl(struct fake_sq *q, struct nvmf_req *req)
{
	const struct nvme_sgl_desc *sgl = &req->cmd.sgl;
	uint32_t len = le32(sgl->length);
	bool fabrics = req->cmd.opcode == NVME_FABRICS_COMMAND;
	uint32_t incapsule_max = (q->sq.qid == 0 || fabrics || !q->sq.connected) ? 8192 : NVMF_IO_INCAPSULE;

	if (len == 0)
		return 0;
	switch (sgl->type) {
	case NVME_SGL_DATA_BLOCK_OFFSET:
		if (le64(sgl->addr) != 0)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_OFFSET) | NVME_STATUS_DNR;
		if (len > incapsule_max)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA_LEN) | NVME_STATUS_DNR;
		req->in_capsule = true;
		break;
	case NVME_SGL_TRANSPORT_DATA_BLOCK:
		if (len > NVMF_MAX_XFER)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA_LEN) | NVME_STATUS_DNR;
		break;
	default:
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE) | NVME_STATUS_DNR;
	}
	req->data_len = len;
	return 0;
}

static bool have_admin_cntlid;
static uint16_t admin_cntlid;

static void valid_connect_data(struct nvmf_req *req, unsigned int which)
{
	struct nvmf_connect_data *cd = req->data;
	static const char *const nqns[4] = { RAM_NQN, RESTRICTED_NQN, NVME_DISC_NQN,
					      "nqn.2026-01.io.nvmeof:nonexistent" };
	if (req->data_len < sizeof(*cd))
		return;
	memset(cd, 0, sizeof(*cd));
	for (int i = 0; i < 16; i++)
		cd->hostid[i] = (uint8_t)(0x10 + i);
	cd->cntlid = to_le16(NVME_CNTLID_DYNAMIC);
	/* An I/O queue joins the admin queue's controller. */
	if (((const struct nvmf_connect_sqe *)&req->cmd)->qid != 0 && have_admin_cntlid)
		cd->cntlid = to_le16(admin_cntlid);
	snprintf(cd->subnqn, sizeof(cd->subnqn), "%s", nqns[which & 3]);
	snprintf(cd->hostnqn, sizeof(cd->hostnqn), "%s", HOST_NQN);
}

static size_t run_record(const uint8_t *in, size_t avail)
{
	uint8_t ctl = in[0];
	struct fake_sq *q = &queues[ctl & 1];
	struct fake_req *fr;
	struct nvmf_req *req;
	size_t used = 1 + sizeof(struct nvme_sqe);
	uint16_t status;

	if (!q->open)
		return avail; /* closed: nothing more to do for this input */
	fr = get_req(q);
	if (!fr)
		return used;
	req = &fr->req;
	req->sq = &q->sq;
	memcpy(&req->cmd, in + 1, sizeof(req->cmd));

	status = transport_sgl(q, req);
	if (!status && req->data_len) {
		/* The bytes the host sends: in the capsule, or later after R2T
		 * (taken from the input only if parse wants them). */
		size_t n = avail - used < req->data_len ? avail - used : req->data_len;

		memcpy(req->data, in + used, n);
		memset((uint8_t *)req->data + n, 0, req->data_len - n);
		if (req->in_capsule)
			used += n;
	}

	fr->busy = true;
	q->inflight++;
	if (!status) {
		status = nvmf_req_parse(req);
		if (!status && req->dir == NVMF_DATA_H2C) {
			if (!req->in_capsule)
				used += req->data_len < avail - used ? req->data_len : avail - used;
			if (ctl & 2)
				valid_connect_data(req, (ctl >> 2) & 3);
		}
	}
	if (status) {
		nvmf_req_complete(req, status);
	} else {
		/* Parse must not ask for data the SGL does not describe. */
		if (req->dir != NVMF_DATA_NONE)
			fuzz_assert(req->data_len > 0);
		fuzz_assert(req->execute != NULL);
		nvmf_req_execute(req);
	}
	pump();

	/* Remember the CNTLID the admin Connect returned, for I/O Connects. */
	if (q == &queues[0] && fr->completed && req->cmd.opcode == NVME_FABRICS_COMMAND &&
	    ((const struct nvmf_connect_sqe *)&req->cmd)->fctype == NVMF_FCTYPE_CONNECT && req->status == 0) {
		admin_cntlid = (uint16_t)le32(req->rsp.dw0);
		have_admin_cntlid = true;
	}

	if ((ctl & 16) || q->disconnect_requested)
		close_queue(q);
	return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (!tgt)
		setup();
	have_admin_cntlid = false;
	open_queue(&queues[0], 0);
	open_queue(&queues[1], 1);

	for (int n = 0; n < MAX_RECORDS && size - off >= 1 + sizeof(struct nvme_sqe); n++)
		off += run_record(data + off, size - off);

	/* The host goes away: I/O queue first, then the admin queue. */
	close_queue(&queues[1]);
	close_queue(&queues[0]);
	for (int i = 0; i < 2; i++)
		for (unsigned int r = 0; r < POOL; r++)
			fuzz_assert(!queues[i].reqs[r].busy || !queues[i].reqs[r].completed);
	return 0;
}
