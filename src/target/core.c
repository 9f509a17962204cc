/* SPDX-License-Identifier: MIT */
/*
 * Request dispatch (transport boundary) and telemetry.
 *
 * A request moves parse -> (data in) -> execute -> complete. parse picks the
 * family by queue and opcode; each family validates its command before any
 * buffer is touched. complete fills the CQE (CID, SQID, SQHD, status),
 * accounts the command in counters that only this reactor writes, and
 * hands the request back to the transport.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "internal.h"
#include "proto/endian.h"

#define LOG_COMP "target"

/* ------------------------------------------------------------------ */
/* Counters                                                            */

void nvmf_counters_fold(struct nvmf_io_counters *dst, const struct nvmf_io_counters *src)
{
	dst->reads += ctr_get(&src->reads);
	dst->writes += ctr_get(&src->writes);
	dst->others += ctr_get(&src->others);
	dst->read_bytes += ctr_get(&src->read_bytes);
	dst->write_bytes += ctr_get(&src->write_bytes);
	dst->errors += ctr_get(&src->errors);
	dst->latency_us_sum += ctr_get(&src->latency_us_sum);
	dst->inflight += ctr_get(&src->inflight);
	for (unsigned int i = 0; i < NVMF_LAT_BUCKETS; i++)
		dst->latency_us_hist[i] += ctr_get(&src->latency_us_hist[i]);
}

struct json_object *nvmf_counters_json(const struct nvmf_io_counters *c)
{
	struct json_object *j = json_object_new_object();
	struct json_object *hist = json_object_new_array();

	json_object_object_add(j, "reads", json_object_new_int64((int64_t)c->reads));
	json_object_object_add(j, "writes", json_object_new_int64((int64_t)c->writes));
	json_object_object_add(j, "others", json_object_new_int64((int64_t)c->others));
	json_object_object_add(j, "read_bytes", json_object_new_int64((int64_t)c->read_bytes));
	json_object_object_add(j, "write_bytes", json_object_new_int64((int64_t)c->write_bytes));
	json_object_object_add(j, "errors", json_object_new_int64((int64_t)c->errors));
	json_object_object_add(j, "latency_us_sum", json_object_new_int64((int64_t)c->latency_us_sum));
	json_object_object_add(j, "inflight", json_object_new_int64((int64_t)c->inflight));
	for (unsigned int i = 0; i < NVMF_LAT_BUCKETS; i++)
		json_object_array_add(hist, json_object_new_int64((int64_t)c->latency_us_hist[i]));
	json_object_object_add(j, "latency_us_hist", hist);
	return j;
}

static void account(struct nvmf_io_counters *c, const struct nvmf_req *req, bool io_queue,
		    uint16_t status, uint64_t lat_us, bool have_lat)
{
	uint8_t opc = req->cmd.opcode;

	if (io_queue && opc == NVME_CMD_READ) {
		ctr_add(&c->reads, 1);
		if (!status)
			ctr_add(&c->read_bytes, req->data_len);
	} else if (io_queue && opc == NVME_CMD_WRITE) {
		ctr_add(&c->writes, 1);
		if (!status)
			ctr_add(&c->write_bytes, req->data_len);
	} else {
		ctr_add(&c->others, 1);
	}
	if (status)
		ctr_add(&c->errors, 1);
	if (have_lat) {
		ctr_add(&c->latency_us_sum, lat_us);
		ctr_add(&c->latency_us_hist[lathist_bucket(lat_us)], 1);
	}
}

/* ------------------------------------------------------------------ */
/* Namespace references held by requests                               */

void nvmf_req_hold_ns(struct nvmf_req *req, struct nvmf_ns *ns)
{
	struct nvmf_sq_priv *priv = sq_priv(req->sq);

	req->ns = ns;
	ctr_add(&ns->slot[priv->slot].io.inflight, 1);
	ctr_add(&priv->stats.inflight, 1);
	/* Linked so that a queue closed with requests abandoned mid-transfer
	 * still gives their references back. */
	req->held_prev = NULL;
	req->held_next = priv->held;
	if (priv->held)
		priv->held->held_prev = req;
	priv->held = req;
}

static void req_drop_ns(struct nvmf_req *req)
{
	struct nvmf_sq_priv *priv = sq_priv(req->sq);

	if (!req->ns)
		return;
	ctr_add(&req->ns->slot[priv->slot].io.inflight, (uint64_t)-1);
	ctr_add(&priv->stats.inflight, (uint64_t)-1);
	if (req->held_prev)
		req->held_prev->held_next = req->held_next;
	else
		priv->held = req->held_next;
	if (req->held_next)
		req->held_next->held_prev = req->held_prev;
	req->held_prev = req->held_next = NULL;
	req->ns = NULL;
}

void nvmf_sq_drop_held(struct nvmf_sq *sq)
{
	struct nvmf_sq_priv *priv = sq_priv(sq);

	while (priv && priv->held)
		req_drop_ns(priv->held);
}

void nvmf_req_release(struct nvmf_req *req)
{
	if (sq_priv(req->sq))
		req_drop_ns(req);
	free(req->exec_buf);
	req->exec_buf = NULL;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

uint16_t nvmf_req_parse(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_ctrl *ctrl = sq->ctrl;

	req->dir = NVMF_DATA_NONE;
	req->execute = NULL;
	req->ns = NULL;
	req->c2h_data = NULL;
	req->c2h_len = 0;
	req->exec_step = 0;
	req->exec_buf = NULL;
	req->rsp.dw0 = 0;
	req->rsp.dw1 = 0;
	req->status = 0;

	if (!sq_priv(sq))
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL) | NVME_STATUS_DNR;
	/* Fused operations are not supported (ONCS/FUSES advertise none). */
	if (req->cmd.flags & 0x03)
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
	if (req->cmd.opcode == NVME_FABRICS_COMMAND)
		return nvmf_fabrics_parse(req);
	if (!sq->connected || !ctrl) {
		log_warn_rl(LOG_COMP, "%s: opcode %#x refused: the queue is not connected", sq->peer,
			    req->cmd.opcode);
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR;
	}
	if (nvmf_auth_pending(sq)) {
		log_warn_rl(LOG_COMP, "%s qid %u: opcode %#x refused: host %s has not authenticated", sq->peer,
			    sq->qid, req->cmd.opcode, ctrl->hostnqn);
		return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_AUTH_REQUIRED) | NVME_STATUS_DNR;
	}

	/* Traffic-based keep-alive (CTRATT.TBKAS): any command counts. The
	 * shared stamp is written at most every 10 ms (far below any KATO, which
	 * has 1 s granularity) to keep its cache line quiet. */
	{
		uint64_t now = req->start_ns ? req->start_ns : reactor_now_ns();
		uint64_t last = atomic_load_explicit(&ctrl->last_activity_ns, memory_order_relaxed);

		if (now > last + 10000000ull)
			atomic_store_explicit(&ctrl->last_activity_ns, now, memory_order_relaxed);
	}
	if (sq->qid == 0)
		return ctrl->is_discovery ? nvmf_disc_parse(req) : nvmf_admin_parse(req);
	return nvmf_io_parse(req);
}

void nvmf_req_execute(struct nvmf_req *req)
{
	uint16_t status;

	if (!req->execute) {
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL) | NVME_STATUS_DNR);
		return;
	}
	/* ANA state checked at parse is checked again here, where the I/O
	 * reaches the backend: a write parsed before its group turned
	 * inaccessible on this port (its data still in flight) must not land
	 * after the host was told to use another path. */
	if (req->ns && req->sq->qid != 0 && (status = nvmf_ana_admit(req->sq->port, req->ns))) {
		nvmf_req_complete(req, status);
		return;
	}
	req->execute(req);
}

void nvmf_req_complete(struct nvmf_req *req, uint16_t status)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_sq_priv *priv = sq_priv(sq);

	req->status = status;
	req->rsp.cid = req->cmd.cid;
	req->rsp.sqid = to_le16(sq->qid);
	if (sq->sqflow_disabled) {
		req->rsp.sqhd = to_le16(0xffff);
	} else {
		if (sq->sqsize)
			sq->sqhd = (uint16_t)((sq->sqhd + 1) % sq->sqsize);
		req->rsp.sqhd = to_le16(sq->sqhd);
	}
	req->rsp.status = to_le16(NVME_CQE_STATUS(status));
	if (status)
		req->c2h_len = 0;

	if (priv) {
		bool io_queue = sq->connected && sq->qid != 0;
		/* An AER waits for an event, not for service: its "latency" would
		 * be the time until the next event and swamp the percentiles. */
		bool have_lat = req->start_ns != 0 && (io_queue || req->cmd.opcode != NVME_ADMIN_ASYNC_EVENT);
		uint64_t lat_us = 0;

		if (have_lat) {
			uint64_t now = reactor_now_ns();

			lat_us = now > req->start_ns ? (now - req->start_ns) / 1000 : 0;
		}
		account(&priv->stats, req, io_queue, status, lat_us, have_lat);
		/* The namespace stays held until the transport releases the
		 * request: C2H data may point into its memory. */
		if (req->ns)
			account(&req->ns->slot[priv->slot].io, req, true, status, lat_us, have_lat);
		if (status && sq->ctrl)
			nvmf_ctrl_log_error(sq->ctrl, req, status);
	}
	free(req->exec_buf);
	req->exec_buf = NULL;
	sq->ops->complete(req);
}
