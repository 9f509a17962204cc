/* SPDX-License-Identifier: MIT */
/*
 * NVM command set I/O commands: Read, Write (FUA), Flush, Write Zeroes,
 * Dataset Management (deallocate) and Compare, mapped onto backend I/O.
 *
 * parse checks the namespace, the LBA range and that the SGL length equals
 * what the command moves, and takes a reference on the namespace so it
 * cannot be freed before the command completes. No lock, no allocation on
 * the Read/Write path; reads come zero-copy from backends that can map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "internal.h"
#include "proto/endian.h"

#define LOG_COMP "io"

#define STATUS_INVALID_FIELD (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR)
#define STATUS_INVALID_NS (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) | NVME_STATUS_DNR)
#define STATUS_BAD_DATA_LEN (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA_LEN) | NVME_STATUS_DNR)
#define STATUS_LBA_RANGE (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR)
#define STATUS_WRITE_PROTECTED (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_NS_WRITE_PROTECTED) | NVME_STATUS_DNR)
#define STATUS_INTERNAL NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL)
#define STATUS_WRITE_FAULT NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT)
#define STATUS_READ_ERROR NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_READ_ERROR)
#define STATUS_NS_NOT_READY NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_NS_NOT_READY)
#define STATUS_COMPARE_FAILED (NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED) | NVME_STATUS_DNR)

#define WZ_STEP_FALLBACK 1 /* Write Zeroes retried without deallocation */

static uint64_t rw_slba(const struct nvmf_req *req)
{
	return (uint64_t)le32(req->cmd.cdw10) | ((uint64_t)le32(req->cmd.cdw11) << 32);
}

static uint32_t rw_nlb(const struct nvmf_req *req)
{
	return (le32(req->cmd.cdw12) & NVME_RW_NLB_MASK) + 1;
}

static bool range_ok(const struct nvmf_ns *ns, uint64_t slba, uint64_t nlb)
{
	return slba < ns->nblocks && nlb <= ns->nblocks - slba;
}

static void io_log_error(struct nvmf_req *req, const char *what, int res)
{
	struct nvmf_sq *sq = req->sq;

	log_error(LOG_COMP, "%s qid %u cid %u opcode 0x%02x nsid %u: %s failed: %s", sq->peer, sq->qid,
		  le16(req->cmd.cid), req->cmd.opcode, le32(req->cmd.nsid), what, strerror(-res));
}

/* The backend's storage is unreachable for now (a network backend such as RBD). */
static bool backend_err_transient(int res)
{
	return res == -ETIMEDOUT || res == -ENOTCONN || res == -ESHUTDOWN || res == -ECONNREFUSED ||
	       res == -ECONNRESET || res == -EHOSTUNREACH || res == -ENETUNREACH;
}

static uint16_t backend_status(struct nvmf_req *req, int res)
{
	/* Namespace Not Ready with DNR clear: the host may retry the command. */
	if (backend_err_transient(res)) {
		log_warn_rl(LOG_COMP, "%s qid %u cid %u nsid %u: storage unreachable (%s): Namespace Not Ready",
			    req->sq->peer, req->sq->qid, le16(req->cmd.cid), le32(req->cmd.nsid),
			    strerror(-res));
		return STATUS_NS_NOT_READY;
	}
	switch (req->bio.op) {
	case BACKEND_READ:
		io_log_error(req, "read", res);
		return STATUS_READ_ERROR;
	case BACKEND_WRITE:
	case BACKEND_WRITE_ZEROES:
	case BACKEND_FLUSH:
		io_log_error(req, "write", res);
		return STATUS_WRITE_FAULT;
	default:
		io_log_error(req, "deallocate", res);
		return STATUS_INTERNAL;
	}
}

static void bio_submit(struct nvmf_req *req, enum backend_op op, uint64_t offset, uint64_t len, void *buf,
		       bool fua, void (*done)(struct backend_io *, int))
{
	struct backend_io *bio = &req->bio;
	int ret;

	bio->op = op;
	bio->fua = fua;
	bio->offset = offset;
	bio->len = len;
	bio->buf = buf;
	bio->done = done;
	bio->stage = 0;
	ret = backend_submit(req->ns->be, req->sq->reactor, bio);
	if (ret < 0)
		nvmf_req_complete(req, backend_status(req, ret));
}

static void io_done(struct backend_io *bio, int res)
{
	struct nvmf_req *req = container_of(bio, struct nvmf_req, bio);

	nvmf_req_complete(req, res < 0 ? backend_status(req, res) : 0);
}

/* ------------------------------------------------------------------ */
/* Read / Write / Compare                                              */

static void exec_read(struct nvmf_req *req)
{
	struct nvmf_ns *ns = req->ns;
	uint64_t off = rw_slba(req) << ns->lbads;
	uint32_t len = req->data_len;
	/* Zero-copy only where the bytes need not stay put until sent. */
	void *map = ns->be->ops->map && !req->sq->c2h_stable ? ns->be->ops->map(ns->be, off, len) : NULL;

	if (map) {
		req->c2h_data = map;
		req->c2h_len = len;
		nvmf_req_complete(req, 0);
		return;
	}
	req->c2h_data = req->data;
	req->c2h_len = len;
	bio_submit(req, BACKEND_READ, off, len, req->data, false, io_done);
}

static void exec_write(struct nvmf_req *req)
{
	struct nvmf_ns *ns = req->ns;

	bio_submit(req, BACKEND_WRITE, rw_slba(req) << ns->lbads, req->data_len, req->data,
		   le32(req->cmd.cdw12) & NVME_RW_FUA, io_done);
}

bool nvmf_req_data_used_inline(const struct nvmf_req *req)
{
	/* The RAM backend copies and calls done() before submit returns. */
	return req->execute == exec_write && req->ns && req->ns->be->kind == BACKEND_RAM;
}

static void compare_done(struct backend_io *bio, int res)
{
	struct nvmf_req *req = container_of(bio, struct nvmf_req, bio);

	if (res < 0) {
		nvmf_req_complete(req, backend_status(req, res));
		return;
	}
	nvmf_req_complete(req, memcmp(req->exec_buf, req->data, req->data_len) ? STATUS_COMPARE_FAILED : 0);
}

static void exec_compare(struct nvmf_req *req)
{
	struct nvmf_ns *ns = req->ns;
	uint64_t off = rw_slba(req) << ns->lbads;
	uint32_t len = req->data_len;
	const void *map = ns->be->ops->map ? ns->be->ops->map(ns->be, off, len) : NULL;

	if (map) {
		nvmf_req_complete(req, memcmp(map, req->data, len) ? STATUS_COMPARE_FAILED : 0);
		return;
	}
	/* Compare is rare: a scratch buffer per command is acceptable here. */
	req->exec_buf = malloc(len);
	if (!req->exec_buf) {
		nvmf_req_complete(req, STATUS_INTERNAL);
		return;
	}
	bio_submit(req, BACKEND_READ, off, len, req->exec_buf, false, compare_done);
}

/* ------------------------------------------------------------------ */
/* Flush / Write Zeroes                                                */

static void exec_flush(struct nvmf_req *req)
{
	bio_submit(req, BACKEND_FLUSH, 0, 0, NULL, false, io_done);
}

static void wz_done(struct backend_io *bio, int res)
{
	struct nvmf_req *req = container_of(bio, struct nvmf_req, bio);

	if (res == -EOPNOTSUPP && bio->op == BACKEND_DISCARD) {
		/* Deallocation is only allowed, not required: write the zeroes. */
		req->exec_step = WZ_STEP_FALLBACK;
		bio_submit(req, BACKEND_WRITE_ZEROES, bio->offset, bio->len, NULL,
			   le32(req->cmd.cdw12) & NVME_RW_FUA, io_done);
		return;
	}
	io_done(bio, res);
}

static void exec_write_zeroes(struct nvmf_req *req)
{
	struct nvmf_ns *ns = req->ns;
	uint32_t cdw12 = le32(req->cmd.cdw12);
	uint64_t off = rw_slba(req) << ns->lbads;
	uint64_t len = (uint64_t)rw_nlb(req) << ns->lbads;
	/* DEAC may deallocate when deallocated blocks read back as zeroes. */
	bool discard = (cdw12 & NVME_WZ_DEAC) && ns->be->kind != BACKEND_BLOCK && !(cdw12 & NVME_RW_FUA);

	bio_submit(req, discard ? BACKEND_DISCARD : BACKEND_WRITE_ZEROES, off, len, NULL,
		   cdw12 & NVME_RW_FUA, wz_done);
}

/* ------------------------------------------------------------------ */
/* Dataset Management                                                  */

static void dsm_next(struct nvmf_req *req);

static void dsm_done(struct backend_io *bio, int res)
{
	struct nvmf_req *req = container_of(bio, struct nvmf_req, bio);

	/* Deallocation is advisory; a backend that cannot do it is not an error. */
	if (res < 0 && res != -EOPNOTSUPP) {
		nvmf_req_complete(req, backend_status(req, res));
		return;
	}
	dsm_next(req);
}

static void dsm_next(struct nvmf_req *req)
{
	const struct nvme_dsm_range *r = req->data;
	uint32_t nr = (le32(req->cmd.cdw10) & 0xff) + 1;
	struct nvmf_ns *ns = req->ns;

	while (req->exec_step < nr && le32(r[req->exec_step].nlb) == 0)
		req->exec_step++;
	if (req->exec_step == nr) {
		nvmf_req_complete(req, 0);
		return;
	}
	r += req->exec_step++;
	bio_submit(req, BACKEND_DISCARD, le64(r->slba) << ns->lbads, (uint64_t)le32(r->nlb) << ns->lbads,
		   NULL, false, dsm_done);
}

static void exec_dsm(struct nvmf_req *req)
{
	const struct nvme_dsm_range *r = req->data;
	uint32_t nr = (le32(req->cmd.cdw10) & 0xff) + 1;

	/* Validate every range before touching any. */
	for (uint32_t i = 0; i < nr; i++) {
		if (!range_ok(req->ns, le64(r[i].slba), le32(r[i].nlb)) && le32(r[i].nlb) != 0) {
			nvmf_req_complete(req, STATUS_LBA_RANGE);
			return;
		}
	}
	if (!(le32(req->cmd.cdw11) & NVME_DSM_ATTR_DEALLOCATE)) {
		nvmf_req_complete(req, 0); /* IDR/IDW are hints */
		return;
	}
	req->exec_step = 0;
	dsm_next(req);
}

/* ------------------------------------------------------------------ */
/* Parse                                                               */

static uint16_t parse_rw(struct nvmf_req *req, struct nvmf_ns *ns)
{
	uint64_t slba = rw_slba(req);
	uint64_t nlb = rw_nlb(req);
	uint64_t len = nlb << ns->lbads;

	if (!range_ok(ns, slba, nlb))
		return STATUS_LBA_RANGE;
	if (len > NVMF_MAX_XFER)
		return STATUS_INVALID_FIELD;
	if (req->data_len != len)
		return STATUS_BAD_DATA_LEN;
	switch (req->cmd.opcode) {
	case NVME_CMD_READ:
		req->dir = NVMF_DATA_C2H;
		req->execute = exec_read;
		break;
	case NVME_CMD_WRITE:
		if (ns->be->read_only)
			return STATUS_WRITE_PROTECTED;
		req->dir = NVMF_DATA_H2C;
		req->execute = exec_write;
		break;
	default:
		req->dir = NVMF_DATA_H2C;
		req->execute = exec_compare;
		break;
	}
	return 0;
}

uint16_t nvmf_io_parse(struct nvmf_req *req)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	uint32_t nsid = le32(req->cmd.nsid);
	struct nvmf_ns *ns;
	uint16_t status;

	if (!(atomic_load_explicit(&ctrl->csts, memory_order_relaxed) & NVME_CSTS_RDY))
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR;
	switch (req->cmd.opcode) {
	case NVME_CMD_READ:
	case NVME_CMD_WRITE:
	case NVME_CMD_COMPARE:
	case NVME_CMD_FLUSH:
	case NVME_CMD_WRITE_ZEROES:
	case NVME_CMD_DSM:
		break;
	default:
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
	/* Broadcast Flush is not supported (Identify VWC bits 2:1 = 10b). */
	ns = nvmf_ns_active(ctrl->subsys, nsid);
	if (!ns)
		return STATUS_INVALID_NS;
	/* Not reachable through this port's ANA state: the host retries elsewhere. */
	if ((status = nvmf_ana_admit(req->sq->port, ns)))
		return status;

	switch (req->cmd.opcode) {
	case NVME_CMD_READ:
	case NVME_CMD_WRITE:
	case NVME_CMD_COMPARE:
		status = parse_rw(req, ns);
		break;
	case NVME_CMD_FLUSH:
		status = req->data_len ? STATUS_BAD_DATA_LEN : 0;
		req->execute = exec_flush;
		break;
	case NVME_CMD_WRITE_ZEROES:
		if (!range_ok(ns, rw_slba(req), rw_nlb(req)))
			status = STATUS_LBA_RANGE;
		else if (req->data_len)
			status = STATUS_BAD_DATA_LEN;
		else if (ns->be->read_only)
			status = STATUS_WRITE_PROTECTED;
		else
			status = 0;
		req->execute = exec_write_zeroes;
		break;
	default: { /* DSM */
		uint32_t nr = (le32(req->cmd.cdw10) & 0xff) + 1;

		/* At least NR ranges: Linux always sends a full 256-range (4 KiB)
		 * buffer whatever NR says. */
		if (req->data_len < nr * sizeof(struct nvme_dsm_range))
			status = STATUS_BAD_DATA_LEN;
		else if ((le32(req->cmd.cdw11) & NVME_DSM_ATTR_DEALLOCATE) && ns->be->read_only)
			status = STATUS_WRITE_PROTECTED;
		else
			status = 0;
		req->dir = NVMF_DATA_H2C;
		req->execute = exec_dsm;
		break;
	}
	}
	if (status) {
		req->execute = NULL;
		req->dir = NVMF_DATA_NONE;
		return status;
	}
	nvmf_req_hold_ns(req, ns);
	return 0;
}
