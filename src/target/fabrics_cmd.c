/* SPDX-License-Identifier: MIT */
/*
 * Fabrics commands (oF 1.1 section 3): Connect, Property Get/Set, Disconnect.
 *
 * Connect binds a queue to a controller: the admin Connect creates one (with
 * a fresh CNTLID), an I/O Connect finds it by (subsystem, host, CNTLID)
 * among all connections. Failures say which field was wrong: SC 82h with
 * DW0 = byte offset of the field, bit 16 set when the offset is inside the
 * 1024-byte Connect data rather than the SQE.
 */
#include <stddef.h>
#include <string.h>

#include "common/log.h"
#include "internal.h"
#include "proto/endian.h"
#include "proto/nvme_auth.h"

#define LOG_COMP "fabrics"

#define CONNECT_IATTR_DATA (1u << 16)
#define CONNECT_CATTR_DISABLE_SQFLOW (1u << 2)

#define CAP_MQES ((uint64_t)(NVMF_MAX_QUEUE_SIZE - 1))
#define CAP_CQR (1ull << 16)
#define CAP_TO_500MS 15ull
#define CAP_CSS_NVM (1ull << 37)
#define NVMF_CAP_VALUE (CAP_MQES | CAP_CQR | (CAP_TO_500MS << 24) | CAP_CSS_NVM)

static const struct nvmf_connect_sqe *connect_sqe(const struct nvmf_req *req)
{
	return (const struct nvmf_connect_sqe *)&req->cmd;
}

static const struct nvmf_property_sqe *property_sqe(const struct nvmf_req *req)
{
	return (const struct nvmf_property_sqe *)&req->cmd;
}

static uint16_t connect_invalid(struct nvmf_req *req, uint32_t offset)
{
	req->rsp.dw0 = to_le32(offset);
	return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM) | NVME_STATUS_DNR;
}

/* ------------------------------------------------------------------ */
/* Connect                                                             */

/*
 * A queue is bound to one controller, once. Parse refuses a Connect on a
 * connected queue, but the binding is decided here, under the lock, where
 * it is installed: nothing between parse and now may have bound it.
 */
static bool queue_already_bound_locked(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;

	if (!sq->connected && !sq->ctrl)
		return false;
	log_warn_rl(LOG_COMP, "%s: connect refused: queue %u is already bound to controller %u", sq->peer,
		    sq->qid, sq->ctrl ? sq->ctrl->cntlid : 0);
	req->rsp.dw0 = to_le32(offsetof(struct nvmf_connect_sqe, opcode));
	return true;
}

#define STATUS_CTRL_BUSY (NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_CTRL_BUSY) | NVME_STATUS_DNR)

static uint16_t connect_admin(struct nvmf_req *req, const struct nvmf_connect_data *d, uint16_t sqsize)
{
	const struct nvmf_connect_sqe *c = connect_sqe(req);
	struct nvmf_sq *sq = req->sq;
	struct nvmf_tgt *tgt = sq->tgt;
	struct nvmf_subsys *subsys;
	struct nvmf_ctrl *ctrl;
	uint32_t kato = le32(c->kato);
	bool monitored;

	if (le16(d->cntlid) != NVME_CNTLID_DYNAMIC) {
		log_warn_rl(LOG_COMP, "%s: admin connect with cntlid 0x%x (only dynamic supported)", sq->peer,
			 le16(d->cntlid));
		return connect_invalid(req, CONNECT_IATTR_DATA | offsetof(struct nvmf_connect_data, cntlid));
	}

	pthread_mutex_lock(&tgt->lock);
	if (queue_already_bound_locked(req)) {
		pthread_mutex_unlock(&tgt->lock);
		return STATUS_CTRL_BUSY;
	}
	if (strcmp(d->subnqn, NVME_DISC_NQN) == 0) {
		subsys = tgt->disc;
	} else {
		subsys = nvmf_subsys_find_locked(tgt, d->subnqn);
		if (subsys && (!sq->port || !nvmf_port_exports_locked(sq->port, subsys)))
			subsys = NULL;
	}
	if (!subsys) {
		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "%s: connect to unknown or unexported subsystem %s (host %s)", sq->peer,
			 d->subnqn, d->hostnqn);
		return connect_invalid(req, CONNECT_IATTR_DATA | offsetof(struct nvmf_connect_data, subnqn));
	}
	if (sq->tls_hostnqn[0] && strcmp(sq->tls_hostnqn, d->hostnqn) != 0) {
		tgt->audit_refused++;
		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "connect refused: host %s over a TLS session of host %s (peer %s)", d->hostnqn,
			    sq->tls_hostnqn, sq->peer);
		return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR;
	}
	if (!nvmf_subsys_host_allowed_locked(subsys, d->hostnqn, &monitored)) {
		/* A host without a name has no record to count against. */
		struct nvmf_host *host = d->hostnqn[0] ? nvmf_host_get_locked(tgt, d->hostnqn, true) : NULL;

		if (host)
			host->refused++;
		tgt->audit_refused++;
		pthread_mutex_unlock(&tgt->lock);
		if (d->hostnqn[0])
			log_warn_rl(LOG_COMP, "connect refused: host %s is not allowed on %s (peer %s)", d->hostnqn,
				    d->subnqn, sq->peer);
		else
			log_warn_rl(LOG_COMP, "connect refused: empty host NQN on %s, which allows only listed hosts (peer %s)",
				    d->subnqn, sq->peer);
		return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR;
	}
	if (d->hostnqn[0] == '\0')
		log_notice_rl(LOG_COMP, "admitting a host without a host NQN to %s (peer %s)", d->subnqn, sq->peer);
	if (monitored) {
		struct nvmf_host *host = nvmf_host_get_locked(tgt, d->hostnqn, true);

		if (host)
			host->monitored++;
		tgt->audit_monitored++;
		log_notice_rl(LOG_COMP, "monitor mode: admitting unlisted host %s to %s (peer %s)", d->hostnqn,
			   d->subnqn, sq->peer);
	}
	if (subsys->is_discovery && kato == 0)
		kato = NVMF_DISC_KATO_MS; /* reap stale one-shot discovery sessions */
	ctrl = nvmf_ctrl_create_locked(subsys, sq, d, kato);
	if (!ctrl) {
		pthread_mutex_unlock(&tgt->lock);
		log_error_rl(LOG_COMP, "%s: cannot create a controller on %s", sq->peer, d->subnqn);
		return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_CTRL_BUSY) | NVME_STATUS_DNR;
	}
	sq->qid = 0;
	sq->sqsize = (uint16_t)(sqsize + 1);
	sq->sqhd = 0;
	sq->sqflow_disabled = c->cattr & CONNECT_CATTR_DISABLE_SQFLOW;
	sq->ctrl = ctrl;
	sq->connected = true;
	pthread_mutex_unlock(&tgt->lock);

	nvmf_ctrl_start_keep_alive(ctrl);
	/* Notice: who is connected is what an operator asks first; rate-limited
	 * because a reconnecting host would otherwise flood the log. The I/O
	 * queue count is not known yet (Set Features comes later). */
	log_notice_rl(LOG_COMP, "host %s connected to %s (peer %s, controller %u, kato %u ms)",
		      ctrl->hostnqn[0] ? ctrl->hostnqn : "(no NQN)", subsys->nqn, sq->peer, ctrl->cntlid, kato);
	req->rsp.dw0 = to_le32(ctrl->cntlid);
	return 0;
}

static uint16_t connect_io(struct nvmf_req *req, const struct nvmf_connect_data *d, uint16_t qid,
			   uint16_t sqsize)
{
	const struct nvmf_connect_sqe *c = connect_sqe(req);
	struct nvmf_sq *sq = req->sq;
	struct nvmf_tgt *tgt = sq->tgt;
	uint16_t cntlid = le16(d->cntlid);
	struct nvmf_subsys *subsys;
	struct nvmf_ctrl *ctrl;

	pthread_mutex_lock(&tgt->lock);
	if (queue_already_bound_locked(req)) {
		pthread_mutex_unlock(&tgt->lock);
		return STATUS_CTRL_BUSY;
	}
	if (strcmp(d->subnqn, NVME_DISC_NQN) == 0) {
		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "%s: I/O queue connect to the discovery subsystem", sq->peer);
		return connect_invalid(req, offsetof(struct nvmf_connect_sqe, qid));
	}
	subsys = nvmf_subsys_find_locked(tgt, d->subnqn);
	if (!subsys || !sq->port || !nvmf_port_exports_locked(sq->port, subsys)) {
		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "%s: I/O connect to unknown or unexported subsystem %s", sq->peer, d->subnqn);
		return connect_invalid(req, CONNECT_IATTR_DATA | offsetof(struct nvmf_connect_data, subnqn));
	}
	ctrl = nvmf_ctrl_find_locked(subsys, cntlid);
	if (!ctrl || ctrl->admin_closed) {
		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "%s: I/O connect to unknown controller %u of %s", sq->peer, cntlid, d->subnqn);
		return connect_invalid(req, CONNECT_IATTR_DATA | offsetof(struct nvmf_connect_data, cntlid));
	}
	if (strcmp(ctrl->hostnqn, d->hostnqn) != 0) {
		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "%s: I/O connect for controller %u by host %s, which belongs to %s", sq->peer,
			 cntlid, d->hostnqn, ctrl->hostnqn);
		return connect_invalid(req, CONNECT_IATTR_DATA | offsetof(struct nvmf_connect_data, hostnqn));
	}
	/* A controller lives on one port (its admin queue's): the queues that
	 * hold that port also keep ctrl->port valid. */
	if (ctrl->port != sq->port) {
		uint16_t want = ctrl->port ? ctrl->port->opts.portid : 0;

		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "%s: I/O connect for controller %u through port %u; its admin queue came through port %u",
			    sq->peer, cntlid, sq->port->opts.portid, want);
		return connect_invalid(req, CONNECT_IATTR_DATA | offsetof(struct nvmf_connect_data, cntlid));
	}
	if (qid > ctrl->nr_io_queues) {
		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "%s: qid %u beyond the %u I/O queues granted to controller %u", sq->peer, qid,
			 ctrl->nr_io_queues, cntlid);
		return connect_invalid(req, offsetof(struct nvmf_connect_sqe, qid));
	}
	if (ctrl->sqs[qid]) {
		pthread_mutex_unlock(&tgt->lock);
		log_warn_rl(LOG_COMP, "%s: qid %u of controller %u is already connected", sq->peer, qid, cntlid);
		req->rsp.dw0 = to_le32(offsetof(struct nvmf_connect_sqe, qid));
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR;
	}
	nvmf_ctrl_attach_sq_locked(ctrl, sq, qid);
	sq->qid = qid;
	sq->sqsize = (uint16_t)(sqsize + 1);
	sq->sqhd = 0;
	sq->sqflow_disabled = c->cattr & CONNECT_CATTR_DISABLE_SQFLOW;
	sq->ctrl = ctrl;
	sq->connected = true;
	pthread_mutex_unlock(&tgt->lock);

	log_debug(LOG_COMP, "controller %u: I/O queue %u connected (peer %s, size %u)", cntlid, qid,
		  sq->peer, sqsize + 1);
	req->rsp.dw0 = to_le32(cntlid);
	return 0;
}

static void exec_connect(struct nvmf_req *req)
{
	const struct nvmf_connect_sqe *c = connect_sqe(req);
	struct nvmf_auth_sq *auth;
	struct nvmf_connect_data d;
	uint16_t qid = le16(c->qid);
	uint16_t sqsize = le16(c->sqsize);
	uint16_t status;

	if (le16(c->recfmt) != 0) {
		log_warn_rl(LOG_COMP, "%s: connect record format %u", req->sq->peer, le16(c->recfmt));
		req->rsp.dw0 = to_le32(offsetof(struct nvmf_connect_sqe, recfmt));
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_FORMAT) |
					       NVME_STATUS_DNR);
		return;
	}
	memcpy(&d, req->data, sizeof(d));
	/* Hostile input: the NQNs are used as C strings from here on. */
	d.subnqn[NVME_NQN_FIELD - 1] = '\0';
	d.hostnqn[NVME_NQN_FIELD - 1] = '\0';

	/* They also reach logs and the control socket: printable names only
	 * (an empty host NQN is a host without a name, see connect_admin). */
	if (!nvmf_nqn_valid(d.subnqn) || (d.hostnqn[0] && !nvmf_nqn_valid(d.hostnqn))) {
		bool sub = !nvmf_nqn_valid(d.subnqn);

		log_warn_rl(LOG_COMP, "%s: connect refused: the %s NQN is not printable ASCII of at most %d characters",
			    req->sq->peer, sub ? "subsystem" : "host", NVME_NQN_MAX);
		nvmf_req_complete(req, connect_invalid(req, CONNECT_IATTR_DATA |
								 (sub ? offsetof(struct nvmf_connect_data, subnqn) :
									offsetof(struct nvmf_connect_data, hostnqn))));
		return;
	}
	if (sqsize == 0 || sqsize > NVMF_MAX_QUEUE_SIZE - 1) {
		log_warn_rl(LOG_COMP, "%s: connect qid %u with sqsize %u", req->sq->peer, qid, sqsize);
		nvmf_req_complete(req, connect_invalid(req, offsetof(struct nvmf_connect_sqe, sqsize)));
		return;
	}
	/* Taken before the target lock: whether the host must authenticate is
	 * only known once the queue is bound. */
	auth = nvmf_auth_sq_alloc();
	if (!auth) {
		log_error_rl(LOG_COMP, "%s: connect refused: out of memory", req->sq->peer);
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		return;
	}
	status = qid == 0 ? connect_admin(req, &d, sqsize) : connect_io(req, &d, qid, sqsize);
	/* ATR: the host authenticates this queue before anything else. */
	if (status == 0 && nvmf_auth_queue_connected(req->sq, &auth))
		req->rsp.dw0 = to_le32(le32(req->rsp.dw0) | NVMF_CONNECT_AUTHREQ_ATR);
	nvmf_auth_sq_free(NULL, auth);
	nvmf_req_complete(req, status);
}

/* ------------------------------------------------------------------ */
/* Properties (admin queue)                                            */

static bool cc_enable_valid(const struct nvmf_ctrl *ctrl, uint32_t cc)
{
	if (NVME_CC_MPS(cc) != 0 || NVME_CC_AMS(cc) != 0 || NVME_CC_CSS(cc) != 0)
		return false;
	/* Discovery controllers have no I/O queues; Linux still sets the sizes. */
	if (ctrl->is_discovery)
		return true;
	return NVME_CC_IOSQES(cc) == 6 && NVME_CC_IOCQES(cc) == 4;
}

/* Controller reset (CC.EN 1->0 or shutdown): drop readiness, give back AERs. */
static void ctrl_reset(struct nvmf_ctrl *ctrl)
{
	atomic_fetch_and(&ctrl->csts, ~NVME_CSTS_RDY);
	nvmf_ctrl_abort_aers(ctrl);
}

static void cc_write(struct nvmf_ctrl *ctrl, uint32_t cc)
{
	uint32_t old = ctrl->cc;

	ctrl->cc = cc;
	if ((cc & NVME_CC_EN) && !(old & NVME_CC_EN)) {
		/* A fresh enable starts from a clean CSTS (clears an old CFS). */
		if (cc_enable_valid(ctrl, cc)) {
			atomic_store(&ctrl->csts, NVME_CSTS_RDY);
		} else {
			log_warn_rl(LOG_COMP, "controller %u: invalid CC 0x%08x on enable", ctrl->cntlid, cc);
			atomic_store(&ctrl->csts, NVME_CSTS_CFS);
		}
	}
	if (!(cc & NVME_CC_EN) && (old & NVME_CC_EN))
		ctrl_reset(ctrl);
	if (NVME_CC_SHN(cc) && !NVME_CC_SHN(old)) {
		ctrl_reset(ctrl);
		atomic_fetch_or(&ctrl->csts, NVME_CSTS_SHST_CMPLT);
	}
	if (!NVME_CC_SHN(cc) && NVME_CC_SHN(old))
		atomic_fetch_and(&ctrl->csts, ~NVME_CSTS_SHST_MASK);
}

static void exec_property_get(struct nvmf_req *req)
{
	const struct nvmf_property_sqe *p = property_sqe(req);
	struct nvmf_ctrl *ctrl = req->sq->ctrl;
	uint32_t offset = le32(p->offset);
	bool eight = (p->attrib & 7) == 1;
	uint64_t value;

	if ((p->attrib & 7) > 1)
		goto invalid;
	if (eight) {
		if (offset != NVME_REG_CAP)
			goto invalid;
		value = NVMF_CAP_VALUE;
	} else {
		switch (offset) {
		case NVME_REG_VS:
			value = NVMF_VS_VALUE;
			break;
		case NVME_REG_CC:
			value = ctrl->cc;
			break;
		case NVME_REG_CSTS:
			value = atomic_load(&ctrl->csts);
			break;
		default:
			goto invalid;
		}
	}
	req->rsp.dw0 = to_le32((uint32_t)value);
	req->rsp.dw1 = to_le32((uint32_t)(value >> 32));
	nvmf_req_complete(req, 0);
	return;
invalid:
	nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR);
}

static void exec_property_set(struct nvmf_req *req)
{
	const struct nvmf_property_sqe *p = property_sqe(req);

	/* Only CC is writable, and only as a 4-byte property. */
	if ((p->attrib & 7) != 0 || le32(p->offset) != NVME_REG_CC) {
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR);
		return;
	}
	cc_write(req->sq->ctrl, (uint32_t)le64(p->value));
	nvmf_req_complete(req, 0);
}

/* ------------------------------------------------------------------ */
/* Disconnect (I/O queue, oF 1.1)                                      */

static void exec_disconnect(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;

	nvmf_req_complete(req, 0);
	sq->ops->disconnect(sq);
}

uint16_t nvmf_fabrics_parse(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;
	uint8_t fctype = connect_sqe(req)->fctype;

	if (fctype == NVMF_FCTYPE_CONNECT) {
		if (sq->connected) {
			log_warn_rl(LOG_COMP, "%s: connect refused: queue %u is already connected", sq->peer, sq->qid);
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR;
		}
		if (req->data_len != sizeof(struct nvmf_connect_data)) {
			log_warn_rl(LOG_COMP, "%s: connect refused: %u bytes of connect data, not %zu", sq->peer,
				    req->data_len, sizeof(struct nvmf_connect_data));
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA_LEN) | NVME_STATUS_DNR;
		}
		req->dir = NVMF_DATA_H2C;
		req->execute = exec_connect;
		return 0;
	}
	if (!sq->connected || !sq->ctrl) {
		log_warn_rl(LOG_COMP, "%s: fabrics command %#x refused: the queue is not connected", sq->peer,
			    fctype);
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR;
	}
	if (fctype == NVMF_FCTYPE_AUTH_SEND || fctype == NVMF_FCTYPE_AUTH_RECV)
		return nvmf_auth_parse(req);
	if (nvmf_auth_pending(sq)) {
		log_warn_rl(LOG_COMP, "%s qid %u: fabrics command %#x refused: host %s has not authenticated",
			    sq->peer, sq->qid, fctype, sq->ctrl->hostnqn);
		return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_AUTH_REQUIRED) | NVME_STATUS_DNR;
	}
	switch (fctype) {
	case NVMF_FCTYPE_PROPERTY_GET:
	case NVMF_FCTYPE_PROPERTY_SET:
		if (sq->qid != 0)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
		if (req->data_len != 0)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA_LEN) | NVME_STATUS_DNR;
		req->execute = fctype == NVMF_FCTYPE_PROPERTY_GET ? exec_property_get : exec_property_set;
		return 0;
	case NVMF_FCTYPE_DISCONNECT:
		if (sq->qid == 0)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
		req->execute = exec_disconnect;
		return 0;
	default:
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
}
