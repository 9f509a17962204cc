/* SPDX-License-Identifier: MIT */
/*
 * Admin commands (Base 5): Identify, Get Log Page, Set/Get Features,
 * Asynchronous Event Request, Keep Alive, Abort. They run on the admin
 * queue's reactor; every C2H payload is built in req->data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "internal.h"
#include "proto/endian.h"

#define LOG_COMP "admin"

#define STATUS_INVALID_FIELD (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR)
#define STATUS_INVALID_NS (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) | NVME_STATUS_DNR)
#define STATUS_BAD_DATA_LEN (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA_LEN) | NVME_STATUS_DNR)
#define STATUS_SEQ_ERROR (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR)

#define ERROR_LOG_SIZE (NVMF_ERR_LOG_ENTRIES * sizeof(struct nvme_error_log_entry))
#define LPA_SMART_PER_NS 0x01
#define LPA_CMD_EFFECTS 0x02
#define LPA_EXTENDED 0x04
#define EFFECTS_CSUPP (1u << 0)
#define EFFECTS_LBCC (1u << 1)
#define FEAT_CAP_CHANGEABLE (1u << 2)
#define NSFEAT_OPTPERF (1u << 4)
#define VWC_PRESENT 0x01
#define VWC_NO_BROADCAST_FLUSH (2u << 1) /* bits 2:1 = 10b */
#define NVMF_ANATT_S 10 /* ANA transition time, seconds (nvmet's) */
#define LSP_RGO(cdw10) ((((cdw10) >> 8) & 0x0f) & NVME_ANA_LOG_RGO)

/* Copy the [offset, offset+len) window of a log of src_len bytes to the
 * host buffer, zero-filling past the end. */
void nvmf_c2h_window(struct nvmf_req *req, const void *src, uint64_t src_len, uint64_t offset, uint32_t len)
{
	memset(req->data, 0, len);
	if (offset < src_len) {
		uint64_t n = src_len - offset < len ? src_len - offset : len;

		memcpy(req->data, (const uint8_t *)src + offset, n);
	}
	req->c2h_data = req->data;
	req->c2h_len = len;
}

static void pad_copy(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n);

	memset(dst, ' ', n);
	memcpy(dst, src, len);
}

/* ------------------------------------------------------------------ */
/* Identify                                                            */

void nvmf_admin_identify_ctrl(struct nvmf_req *req, struct nvme_id_ctrl *id)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	struct nvmf_subsys *subsys = ctrl->subsys;
	struct nvmf_tgt *tgt = ctrl->tgt;
	bool disc = ctrl->is_discovery;

	memset(id, 0, sizeof(*id));
	pthread_mutex_lock(&tgt->lock);
	pad_copy(id->sn, sizeof(id->sn), subsys->serial);
	pad_copy(id->mn, sizeof(id->mn), subsys->model);
	pthread_mutex_unlock(&tgt->lock);
	pad_copy(id->fr, sizeof(id->fr), NVMF_FW_REVISION);
	id->rab = 6;
	/* Multi-port, multi-controller (needed for multipath) and ANA. */
	id->cmic = disc ? 0 : NVME_CTRL_CMIC_MULTI_PORT | NVME_CTRL_CMIC_MULTI_CTRL | NVME_CTRL_CMIC_ANA;
	id->mdts = NVMF_MDTS_SHIFT;
	id->cntlid = to_le16(ctrl->cntlid);
	id->ver = to_le32(NVMF_VS_VALUE);
	id->oaes = to_le32(disc ? NVME_CTRL_OAES_DISC_CHANGE : NVME_CTRL_OAES_NS_ATTR | NVME_CTRL_OAES_ANA_CHANGE);
	id->ctratt = to_le32(NVME_CTRL_CTRATT_HOSTID_128 | NVME_CTRL_CTRATT_TBKAS);
	id->cntrltype = disc ? NVME_CTRL_CNTRLTYPE_DISC : NVME_CTRL_CNTRLTYPE_IO;
	id->acl = NVMF_ACL;
	id->aerl = NVMF_AERL;
	id->frmw = 0x03; /* one slot, slot 1 read-only */
	id->lpa = disc ? LPA_EXTENDED : (LPA_SMART_PER_NS | LPA_CMD_EFFECTS | LPA_EXTENDED);
	id->elpe = NVMF_ERR_LOG_ENTRIES - 1;
	id->kas = to_le16(NVMF_KAS_100MS);
	id->sqes = 0x66;
	id->cqes = 0x44;
	id->maxcmd = to_le16(NVMF_MAX_QUEUE_SIZE);
	if (!disc) {
		id->nn = to_le32(NVMF_MAX_NSID);
		id->mnan = to_le32(NVMF_MAX_NSID);
		/* As nvmet: every state reportable, 10 s to leave "change". */
		id->anacap = NVME_CTRL_ANACAP_ALL_STATES;
		id->anatt = NVMF_ANATT_S;
		id->anagrpmax = to_le32(NVMF_ANA_GRP_MAX);
		id->nanagrpid = to_le32(NVMF_ANA_GRP_MAX);
		id->oncs = to_le16(NVME_CTRL_ONCS_COMPARE | NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES);
		id->vwc = VWC_NO_BROADCAST_FLUSH | (nvmf_subsys_has_volatile_cache(subsys) ? VWC_PRESENT : 0);
		id->ioccsz = to_le32((64 + NVMF_IO_INCAPSULE) / 16);
	} else {
		id->ioccsz = to_le32(64 / 16);
	}
	id->sgls = to_le32(NVME_CTRL_SGLS_SUPPORTED | NVME_CTRL_SGLS_OFFSET);
	snprintf(id->subnqn, sizeof(id->subnqn), "%s", subsys->nqn);
	id->iorcsz = to_le32(1);
	id->icdoff = 0;
	id->fcatt = 0; /* dynamic controller model */
	id->msdbd = 1;
}

static void identify_ns(struct nvme_id_ns *id, const struct nvmf_ns *ns, const struct nvmf_port *port)
{
	const struct backend *be = ns->be;
	uint32_t bs = be->block_size;
	uint16_t per4k = (uint16_t)(bs < 4096 ? 4096 / bs - 1 : 0);
	uint16_t ana = nvmf_ana_admit(port, ns);

	id->nsze = to_le64(ns->nblocks);
	id->ncap = to_le64(ns->nblocks);
	/* As nvmet: no utilization to report through a path that cannot reach it. */
	if (ana != NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_INACCESSIBLE) &&
	    ana != NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_PERSISTENT_LOSS))
		id->nuse = to_le64(ns->nblocks);
	id->anagrpid = to_le32(atomic_load_explicit(&ns->anagrpid, memory_order_relaxed));
	/* Preferred granularities: 4 KiB writes/deallocations, MDTS-sized optimal writes. */
	id->nsfeat = NSFEAT_OPTPERF;
	id->npwg = to_le16(per4k);
	id->npwa = to_le16(per4k);
	id->npdg = to_le16(per4k);
	id->npda = to_le16(per4k);
	id->nows = to_le16((uint16_t)(NVMF_MAX_XFER / bs - 1));
	id->nlbaf = 0;
	id->flbas = 0;
	id->nmic = NVME_NS_NMIC_SHARED;
	/* RAM and file backends deallocate by zeroing or punching holes. */
	if (be->kind != BACKEND_BLOCK)
		id->dlfeat = NVME_NS_DLFEAT_ZEROES | 0x08; /* bit 3: DEAC in Write Zeroes */
	id->nsattr = be->read_only ? 0x01 : 0;
	memcpy(id->nguid, ns->nguid, 16);
	id->lbaf[0].lbads = ns->lbads;
}

static uint8_t *put_desc(uint8_t *p, uint8_t type, uint8_t len, const void *val)
{
	p[0] = type;
	p[1] = len;
	p[2] = p[3] = 0;
	memcpy(p + 4, val, len);
	return p + 4 + len;
}

static void exec_identify(struct nvmf_req *req)
{
	uint8_t cns = le32(req->cmd.cdw10) & 0xff;
	uint32_t nsid = le32(req->cmd.nsid);
	struct nvmf_subsys *subsys = req->sq->ctrl->subsys;
	uint8_t *buf = req->data;

	memset(buf, 0, NVME_IDENTIFY_SIZE);
	switch (cns) {
	case NVME_ID_CNS_CTRL:
		nvmf_admin_identify_ctrl(req, (struct nvme_id_ctrl *)buf);
		break;
	case NVME_ID_CNS_NS:
		/* Unallocated but valid NSIDs report all zeroes (NCAP 0). */
		if (req->ns)
			identify_ns((struct nvme_id_ns *)buf, req->ns, req->sq->port);
		break;
	case NVME_ID_CNS_NS_ACTIVE_LIST: {
		uint32_t *list = (uint32_t *)buf;
		unsigned int n = 0;

		for (uint32_t i = nsid + 1; i <= NVMF_MAX_NSID && n < NVME_IDENTIFY_SIZE / 4; i++)
			if (nvmf_ns_active(subsys, i))
				list[n++] = to_le32(i);
		break;
	}
	case NVME_ID_CNS_NS_DESC_LIST: {
		static const uint8_t zero[16];
		const struct nvmf_ns *ns = req->ns;
		uint8_t csi = 0; /* NVM command set */
		uint8_t *p = buf;

		if (memcmp(ns->nguid, zero, 16))
			p = put_desc(p, NVME_NIDT_NGUID, 16, ns->nguid);
		if (memcmp(ns->uuid, zero, 16))
			p = put_desc(p, NVME_NIDT_UUID, 16, ns->uuid);
		put_desc(p, NVME_NIDT_CSI, 1, &csi);
		break;
	}
	case NVME_ID_CNS_CS_CTRL:
		/* NVM command set specific controller data: no limits to report. */
		break;
	}
	req->c2h_data = buf;
	req->c2h_len = NVME_IDENTIFY_SIZE;
	nvmf_req_complete(req, 0);
}

static uint16_t parse_identify(struct nvmf_req *req)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	uint8_t cns = le32(req->cmd.cdw10) & 0xff;
	uint8_t csi = le32(req->cmd.cdw11) >> 24;
	uint32_t nsid = le32(req->cmd.nsid);
	struct nvmf_ns *ns;

	if (req->data_len != NVME_IDENTIFY_SIZE)
		return STATUS_BAD_DATA_LEN;
	if (ctrl->is_discovery && cns != NVME_ID_CNS_CTRL)
		return STATUS_INVALID_FIELD;
	switch (cns) {
	case NVME_ID_CNS_CTRL:
		break;
	case NVME_ID_CNS_NS:
		if (nsid == 0 || nsid == NVME_NSID_ALL || nsid > NVMF_MAX_NSID)
			return STATUS_INVALID_NS;
		ns = nvmf_ns_active(ctrl->subsys, nsid);
		if (ns)
			nvmf_req_hold_ns(req, ns);
		break;
	case NVME_ID_CNS_NS_ACTIVE_LIST:
		if (nsid >= 0xfffffffeu)
			return STATUS_INVALID_NS;
		break;
	case NVME_ID_CNS_NS_DESC_LIST:
		ns = nvmf_ns_active(ctrl->subsys, nsid);
		if (!ns)
			return STATUS_INVALID_NS;
		nvmf_req_hold_ns(req, ns);
		break;
	case NVME_ID_CNS_CS_CTRL:
		if (csi != 0)
			return STATUS_INVALID_FIELD;
		break;
	default:
		return STATUS_INVALID_FIELD;
	}
	req->dir = NVMF_DATA_C2H;
	req->execute = exec_identify;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Get Log Page                                                        */

uint16_t nvmf_log_req_decode(struct nvmf_req *req, struct nvmf_log_req *lr)
{
	uint32_t cdw10 = le32(req->cmd.cdw10);
	uint32_t cdw11 = le32(req->cmd.cdw11);
	uint64_t numd = (((uint64_t)(cdw11 & 0xffff) << 16) | (cdw10 >> 16)) + 1;

	lr->lid = cdw10 & 0xff;
	lr->rae = cdw10 & (1u << 15);
	lr->offset = (uint64_t)le32(req->cmd.cdw12) | ((uint64_t)le32(req->cmd.cdw13) << 32);
	if (lr->offset & 3)
		return STATUS_INVALID_FIELD;
	if (numd * 4 > NVMF_MAX_XFER)
		return STATUS_INVALID_FIELD;
	lr->len = (uint32_t)(numd * 4);
	if (req->data_len != lr->len)
		return STATUS_BAD_DATA_LEN;
	return 0;
}

static void smart_put128(uint8_t field[16], uint64_t v)
{
	memset(field, 0, 16);
	put_le64(field, v);
}

static void build_smart(struct nvmf_req *req, struct nvme_smart_log *log)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	struct nvmf_io_counters st;
	uint64_t hours = (reactor_now_ns() - ctrl->tgt->start_ns) / 3600000000000ull;

	memset(log, 0, sizeof(*log));
	memset(&st, 0, sizeof(st));
	if (req->ns) {
		for (unsigned int i = 0; i < NVMF_MAX_REACTORS; i++)
			nvmf_counters_fold(&st, &req->ns->slot[i].io);
	} else {
		pthread_mutex_lock(&ctrl->tgt->lock);
		nvmf_ctrl_stats_locked(ctrl, &st);
		pthread_mutex_unlock(&ctrl->tgt->lock);
	}
	log->avail_spare = 100;
	log->spare_thresh = 10;
	/* Data units are thousands of 512-byte units, rounded up (Base 5.16.1.3). */
	smart_put128(log->data_units_read, (st.read_bytes / 512 + 999) / 1000);
	smart_put128(log->data_units_written, (st.write_bytes / 512 + 999) / 1000);
	smart_put128(log->host_reads, st.reads);
	smart_put128(log->host_writes, st.writes);
	smart_put128(log->power_cycles, 1);
	smart_put128(log->power_on_hours, hours);
	smart_put128(log->num_err_log_entries, ctrl->err_count);
}

static void build_effects(uint32_t *acs, uint32_t *iocs)
{
	static const uint8_t admin[] = { NVME_ADMIN_GET_LOG_PAGE, NVME_ADMIN_IDENTIFY, NVME_ADMIN_ABORT,
					 NVME_ADMIN_SET_FEATURES, NVME_ADMIN_GET_FEATURES,
					 NVME_ADMIN_ASYNC_EVENT, NVME_ADMIN_KEEP_ALIVE };

	for (unsigned int i = 0; i < sizeof(admin); i++)
		acs[admin[i]] = to_le32(EFFECTS_CSUPP);
	iocs[NVME_CMD_FLUSH] = to_le32(EFFECTS_CSUPP);
	iocs[NVME_CMD_READ] = to_le32(EFFECTS_CSUPP);
	iocs[NVME_CMD_COMPARE] = to_le32(EFFECTS_CSUPP);
	iocs[NVME_CMD_WRITE] = to_le32(EFFECTS_CSUPP | EFFECTS_LBCC);
	iocs[NVME_CMD_WRITE_ZEROES] = to_le32(EFFECTS_CSUPP | EFFECTS_LBCC);
	iocs[NVME_CMD_DSM] = to_le32(EFFECTS_CSUPP | EFFECTS_LBCC);
}

static void exec_get_log_page(struct nvmf_req *req)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	struct nvmf_log_req lr;
	uint16_t status;

	status = nvmf_log_req_decode(req, &lr);
	if (status)
		goto out;
	switch (lr.lid) {
	case NVME_LOG_ERROR: {
		struct nvme_error_log_entry *log = calloc(NVMF_ERR_LOG_ENTRIES, sizeof(*log));

		if (!log) {
			status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL);
			break;
		}
		if (lr.offset >= ERROR_LOG_SIZE) {
			free(log);
			status = STATUS_INVALID_FIELD;
			break;
		}
		nvmf_ctrl_copy_errlog(ctrl, log);
		nvmf_c2h_window(req, log, ERROR_LOG_SIZE, lr.offset, lr.len);
		free(log);
		break;
	}
	case NVME_LOG_SMART: {
		struct nvme_smart_log log;

		if (lr.offset >= sizeof(log)) {
			status = STATUS_INVALID_FIELD;
			break;
		}
		build_smart(req, &log);
		nvmf_c2h_window(req, &log, sizeof(log), lr.offset, lr.len);
		break;
	}
	case NVME_LOG_FW_SLOT: {
		uint8_t log[512] = { 0 };

		if (lr.offset >= sizeof(log)) {
			status = STATUS_INVALID_FIELD;
			break;
		}
		log[0] = 1; /* AFI: slot 1 active */
		pad_copy((char *)&log[8], 8, NVMF_FW_REVISION);
		nvmf_c2h_window(req, log, sizeof(log), lr.offset, lr.len);
		break;
	}
	case NVME_LOG_CHANGED_NS: {
		uint32_t list[NVMF_CHANGED_NS_MAX];

		if (lr.offset >= sizeof(list)) {
			status = STATUS_INVALID_FIELD;
			break;
		}
		nvmf_ctrl_take_changed_ns(ctrl, list, !lr.rae);
		nvmf_c2h_window(req, list, sizeof(list), lr.offset, lr.len);
		break;
	}
	case NVME_LOG_CMD_EFFECTS: {
		uint32_t log[1024] = { 0 };

		if (lr.offset >= sizeof(log)) {
			status = STATUS_INVALID_FIELD;
			break;
		}
		build_effects(log, log + 256);
		nvmf_c2h_window(req, log, sizeof(log), lr.offset, lr.len);
		break;
	}
	case NVME_LOG_ANA: {
		uint8_t *log = malloc(NVMF_ANA_LOG_MAX);
		size_t size;

		if (!log) {
			status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL);
			break;
		}
		pthread_mutex_lock(&ctrl->tgt->lock);
		size = nvmf_ana_log_build_locked(ctrl->subsys, req->sq->port, LSP_RGO(le32(req->cmd.cdw10)), log,
						 NVMF_ANA_LOG_MAX);
		pthread_mutex_unlock(&ctrl->tgt->lock);
		/* The page spans what Identify sizes it to (every group, MNAN NSIDs),
		 * zeroes past the descriptors: libnvme reads it in 4 KiB pieces. */
		if (lr.offset >= NVMF_ANA_LOG_MAX) {
			free(log);
			status = STATUS_INVALID_FIELD;
			break;
		}
		if (!lr.rae)
			nvmf_ctrl_unmask_aen(ctrl, NVME_AER_NOTICE_ANA_CHANGE);
		nvmf_c2h_window(req, log, size, lr.offset, lr.len);
		free(log);
		break;
	}
	case NVME_LOG_DISCOVERY: {
		uint64_t size;

		pthread_mutex_lock(&ctrl->tgt->lock);
		nvmf_disc_log_read_locked(ctrl, req->sq, req->data, lr.offset, lr.len, &size);
		pthread_mutex_unlock(&ctrl->tgt->lock);
		if (lr.offset > size) {
			status = STATUS_INVALID_FIELD;
			break;
		}
		if (!lr.rae)
			nvmf_ctrl_unmask_aen(ctrl, NVME_AER_NOTICE_DISC_CHANGED);
		req->c2h_data = req->data;
		req->c2h_len = lr.len;
		break;
	}
	default:
		status = NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE) | NVME_STATUS_DNR;
		break;
	}
out:
	nvmf_req_complete(req, status);
}

static uint16_t parse_get_log_page(struct nvmf_req *req)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	struct nvmf_log_req lr;
	uint16_t status = nvmf_log_req_decode(req, &lr);
	uint32_t nsid = le32(req->cmd.nsid);

	if (status)
		return status;
	if (ctrl->is_discovery != (lr.lid == NVME_LOG_DISCOVERY))
		return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE) | NVME_STATUS_DNR;
	if (lr.lid == NVME_LOG_SMART && nsid != 0 && nsid != NVME_NSID_ALL) {
		struct nvmf_ns *ns = nvmf_ns_active(ctrl->subsys, nsid);

		if (!ns)
			return STATUS_INVALID_NS;
		nvmf_req_hold_ns(req, ns);
	}
	req->dir = NVMF_DATA_C2H;
	req->execute = exec_get_log_page;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Features                                                            */

void nvmf_exec_set_features(struct nvmf_req *req)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	uint8_t fid = le32(req->cmd.cdw10) & 0xff;
	uint32_t val = le32(req->cmd.cdw11);
	uint16_t status = 0;

	switch (fid) {
	case NVME_FEAT_NUM_QUEUES: {
		uint32_t nsqr = val & 0xffff, ncqr = val >> 16;
		uint32_t nsqa, ncqa;

		if (nsqr == 0xffff || ncqr == 0xffff) {
			status = STATUS_INVALID_FIELD;
			break;
		}
		nsqa = nsqr + 1 < NVMF_MAX_IO_QUEUES ? nsqr + 1 : NVMF_MAX_IO_QUEUES;
		ncqa = ncqr + 1 < NVMF_MAX_IO_QUEUES ? ncqr + 1 : NVMF_MAX_IO_QUEUES;
		pthread_mutex_lock(&ctrl->tgt->lock);
		if (ctrl->io_queue_seen) {
			status = STATUS_SEQ_ERROR;
		} else {
			ctrl->nr_io_queues = (uint16_t)(nsqa < ncqa ? nsqa : ncqa);
			req->rsp.dw0 = to_le32((ncqa - 1) << 16 | (nsqa - 1));
		}
		pthread_mutex_unlock(&ctrl->tgt->lock);
		break;
	}
	case NVME_FEAT_ASYNC_EVENT: {
		uint32_t allowed = ctrl->is_discovery ? NVME_CTRL_OAES_DISC_CHANGE
						      : NVME_CTRL_OAES_NS_ATTR | NVME_CTRL_OAES_ANA_CHANGE;

		if (val & ~allowed) {
			status = STATUS_INVALID_FIELD;
			break;
		}
		pthread_mutex_lock(&ctrl->ev_lock);
		ctrl->aec = val;
		pthread_mutex_unlock(&ctrl->ev_lock);
		break;
	}
	case NVME_FEAT_KATO:
		ctrl->kato_ms = val ? val : (ctrl->is_discovery ? NVMF_DISC_KATO_MS : 0);
		nvmf_ctrl_start_keep_alive(ctrl);
		break;
	case NVME_FEAT_VOLATILE_WC:
		/* The cache cannot be turned off; accept only the current state. */
		if (!(val & 1))
			status = STATUS_INVALID_FIELD;
		break;
	default:
		status = STATUS_INVALID_FIELD;
		break;
	}
	nvmf_req_complete(req, status);
}

void nvmf_exec_get_features(struct nvmf_req *req)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	uint32_t cdw10 = le32(req->cmd.cdw10);
	uint8_t fid = cdw10 & 0xff;
	uint8_t sel = (cdw10 >> 8) & 7;
	uint32_t dw0 = 0;

	if (sel == 3) {
		/* Supported capabilities: which of ours can be changed. */
		if (fid == NVME_FEAT_NUM_QUEUES || fid == NVME_FEAT_ASYNC_EVENT || fid == NVME_FEAT_KATO)
			dw0 = FEAT_CAP_CHANGEABLE;
		req->rsp.dw0 = to_le32(dw0);
		nvmf_req_complete(req, 0);
		return;
	}
	switch (fid) {
	case NVME_FEAT_VOLATILE_WC:
		dw0 = 1;
		break;
	case NVME_FEAT_NUM_QUEUES: {
		uint32_t n;

		pthread_mutex_lock(&ctrl->tgt->lock);
		n = ctrl->nr_io_queues;
		pthread_mutex_unlock(&ctrl->tgt->lock);
		dw0 = (n - 1) << 16 | (n - 1);
		break;
	}
	case NVME_FEAT_ASYNC_EVENT:
		pthread_mutex_lock(&ctrl->ev_lock);
		dw0 = ctrl->aec;
		pthread_mutex_unlock(&ctrl->ev_lock);
		break;
	case NVME_FEAT_KATO:
		dw0 = ctrl->kato_ms;
		break;
	case NVME_FEAT_HOST_ID:
		memcpy(req->data, ctrl->hostid, sizeof(ctrl->hostid));
		req->c2h_data = req->data;
		req->c2h_len = sizeof(ctrl->hostid);
		break;
	default:
		/* Arbitration, power management, temperature threshold, error
		 * recovery, interrupt coalescing, write atomicity: all zero. */
		break;
	}
	req->rsp.dw0 = to_le32(dw0);
	nvmf_req_complete(req, 0);
}

uint16_t nvmf_features_parse(struct nvmf_req *req)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	uint32_t cdw10 = le32(req->cmd.cdw10);
	uint8_t fid = cdw10 & 0xff;
	bool disc = ctrl->is_discovery;

	if (req->cmd.opcode == NVME_ADMIN_SET_FEATURES) {
		if (cdw10 & (1u << 31))
			return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_SAVEABLE) | NVME_STATUS_DNR;
		if (req->data_len != 0)
			return STATUS_BAD_DATA_LEN;
		switch (fid) {
		case NVME_FEAT_NUM_QUEUES:
		case NVME_FEAT_VOLATILE_WC:
			if (disc)
				return STATUS_INVALID_FIELD;
			break;
		case NVME_FEAT_ASYNC_EVENT:
		case NVME_FEAT_KATO:
			break;
		case NVME_FEAT_HOST_ID:
			/* The host ID is fixed by Connect for a fabrics controller. */
			return STATUS_SEQ_ERROR;
		default:
			return STATUS_INVALID_FIELD;
		}
		req->execute = nvmf_exec_set_features;
		return 0;
	}

	if (((cdw10 >> 8) & 7) > 3)
		return STATUS_INVALID_FIELD;
	switch (fid) {
	case NVME_FEAT_HOST_ID:
		if (!(le32(req->cmd.cdw11) & 1)) /* only the 128-bit host identifier */
			return STATUS_INVALID_FIELD;
		if (req->data_len != 16)
			return STATUS_BAD_DATA_LEN;
		req->dir = NVMF_DATA_C2H;
		break;
	case NVME_FEAT_ARBITRATION:
	case NVME_FEAT_POWER_MGMT:
	case NVME_FEAT_TEMP_THRESH:
	case NVME_FEAT_ERR_RECOVERY:
	case NVME_FEAT_IRQ_COALESCE:
	case NVME_FEAT_WRITE_ATOMIC:
	case NVME_FEAT_VOLATILE_WC:
	case NVME_FEAT_NUM_QUEUES:
		if (disc)
			return STATUS_INVALID_FIELD;
		/* fall through */
	case NVME_FEAT_ASYNC_EVENT:
	case NVME_FEAT_KATO:
		if (req->data_len != 0)
			return STATUS_BAD_DATA_LEN;
		break;
	default:
		return STATUS_INVALID_FIELD;
	}
	req->execute = nvmf_exec_get_features;
	return 0;
}

/* ------------------------------------------------------------------ */
/* AER, Keep Alive, Abort                                              */

void nvmf_exec_aer(struct nvmf_req *req)
{
	uint16_t status = nvmf_ctrl_queue_aer(req->sq->ctrl, req);

	if (status)
		nvmf_req_complete(req, status);
}

void nvmf_exec_keep_alive(struct nvmf_req *req)
{
	nvmf_ctrl_keep_alive(req->sq->ctrl);
	nvmf_req_complete(req, 0);
}

static void exec_abort(struct nvmf_req *req)
{
	/* Commands are never aborted: DW0 bit 0 = "not aborted". */
	req->rsp.dw0 = to_le32(1);
	nvmf_req_complete(req, 0);
}

uint16_t nvmf_admin_parse(struct nvmf_req *req)
{
	struct nvmf_ctrl *ctrl = req->sq->ctrl;

	if (!(atomic_load_explicit(&ctrl->csts, memory_order_relaxed) & NVME_CSTS_RDY))
		return STATUS_SEQ_ERROR;
	switch (req->cmd.opcode) {
	case NVME_ADMIN_IDENTIFY:
		return parse_identify(req);
	case NVME_ADMIN_GET_LOG_PAGE:
		return parse_get_log_page(req);
	case NVME_ADMIN_SET_FEATURES:
	case NVME_ADMIN_GET_FEATURES:
		return nvmf_features_parse(req);
	case NVME_ADMIN_ASYNC_EVENT:
		req->execute = nvmf_exec_aer;
		return 0;
	case NVME_ADMIN_KEEP_ALIVE:
		req->execute = nvmf_exec_keep_alive;
		return 0;
	case NVME_ADMIN_ABORT:
		req->execute = exec_abort;
		return 0;
	default:
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
}
