/* SPDX-License-Identifier: MIT */
/*
 * Controller lifecycle: creation at admin Connect, queue attach/detach,
 * keep-alive, asynchronous events and teardown.
 *
 * A controller lives while any of its queues is connected. Closing the admin
 * queue (or a keep-alive expiry, or losing access) disconnects the I/O
 * queues; when the last queue is gone the controller is unlinked under the
 * target lock and freed on the admin queue's reactor. Freeing there keeps
 * the order with event deliveries posted to that reactor earlier: those were
 * posted while the controller was still linked, so they run first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "internal.h"
#include "proto/endian.h"

#define LOG_COMP "ctrl"

#define AEN_MASK_NS (1u << 0)
#define AEN_MASK_DISC (1u << 1)
#define AEN_MASK_ANA (1u << 2)

/* ------------------------------------------------------------------ */
/* Queues                                                              */

int nvmf_sq_init(struct nvmf_sq *sq, struct nvmf_tgt *tgt, const struct nvmf_sq_ops *ops,
		 struct reactor *reactor, struct nvmf_port *port)
{
	struct nvmf_sq_priv *priv = nvmf_zalloc(sizeof(*priv));

	sq->ops = ops;
	sq->tgt = tgt;
	sq->reactor = reactor;
	sq->port = port;
	sq->qid = 0;
	sq->sqsize = 0;
	sq->sqhd = 0;
	sq->sqflow_disabled = false;
	sq->c2h_stable = false;
	sq->connected = false;
	sq->ctrl = NULL;
	sq->ctrl_link = NULL;
	if (!priv) {
		/* nvmf_req_parse() would fail every command with Internal Error. */
		log_error(LOG_COMP, "%s: out of memory for queue state", sq->peer);
		return -ENOMEM;
	}
	priv->sq = sq;
	priv->slot = reactor ? reactor_id(reactor) % NVMF_MAX_REACTORS : 0;
	if (port) {
		pthread_mutex_lock(&tgt->lock);
		if (port->removed) {
			pthread_mutex_unlock(&tgt->lock);
			free(priv);
			return -ENOENT;
		}
		priv->port = port;
		priv->port_next = port->sqs;
		port->sqs = priv;
		port->nr_sqs++;
		pthread_mutex_unlock(&tgt->lock);
	}
	sq->ctrl_link = priv;
	return 0;
}

static void ctrl_free_work(void *arg)
{
	struct nvmf_ctrl *ctrl = arg;
	struct nvmf_subsys *subsys = ctrl->subsys;
	struct nvmf_tgt *tgt = ctrl->tgt;

	if (ctrl->reactor)
		reactor_timer_cancel(ctrl->reactor, &ctrl->ka_timer);
	log_notice_rl(LOG_COMP, "host %s disconnected from %s (controller %u, %u I/O queues)",
		      ctrl->hostnqn[0] ? ctrl->hostnqn : "(no NQN)", subsys->nqn, ctrl->cntlid,
		      (unsigned int)ctrl->nr_io_queues);
	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_ctrl **pp = &subsys->ctrls; *pp; pp = &(*pp)->next) {
		if (*pp == ctrl) {
			*pp = ctrl->next;
			break;
		}
	}
	subsys->nr_ctrls_alive--;
	nvmf_subsys_put_locked(subsys);
	pthread_mutex_unlock(&tgt->lock);
	nvmf_ctrl_free(ctrl);
}

void nvmf_ctrl_free(struct nvmf_ctrl *ctrl)
{
	nvmf_host_dhchap_wipe(&ctrl->dhchap);
	pthread_mutex_destroy(&ctrl->ev_lock);
	free(ctrl);
}

void nvmf_sq_closed(struct nvmf_sq *sq)
{
	struct nvmf_sq_priv *priv = sq_priv(sq);
	struct nvmf_tgt *tgt = sq->tgt;
	struct nvmf_ctrl *ctrl = sq->ctrl;
	bool free_ctrl = false;

	if (!priv)
		return;
	if (ctr_get(&priv->stats.inflight))
		log_debug(LOG_COMP, "%s qid %u: closed with %llu abandoned requests holding a namespace",
			  sq->peer, sq->qid, (unsigned long long)ctr_get(&priv->stats.inflight));
	nvmf_sq_drop_held(sq);

	pthread_mutex_lock(&tgt->lock);
	if (ctrl && sq->connected && ctrl->sqs[sq->qid] == sq) {
		nvmf_counters_fold(&ctrl->stats, &priv->stats);
		nvmf_counters_fold(&ctrl->subsys->stats, &priv->stats);
		if (ctrl->host)
			nvmf_counters_fold(&ctrl->host->stats, &priv->stats);
		ctrl->sqs[sq->qid] = NULL;
		ctrl->nr_sqs--;
		if (sq->qid == 0) {
			ctrl->admin_closed = true;
			/* Parked AERs belong to this connection's pool: forget them. */
			pthread_mutex_lock(&ctrl->ev_lock);
			ctrl->nr_aer = 0;
			pthread_mutex_unlock(&ctrl->ev_lock);
			if (ctrl->reactor)
				reactor_timer_cancel(ctrl->reactor, &ctrl->ka_timer);
			nvmf_ctrl_disconnect_locked(ctrl, "admin queue closed");
		}
		if (ctrl->nr_sqs == 0 && ctrl->linked) {
			ctrl->linked = false;
			free_ctrl = true;
		}
	}
	if (priv->port) {
		struct nvmf_port *port = priv->port;

		for (struct nvmf_sq_priv **pp = &port->sqs; *pp; pp = &(*pp)->port_next) {
			if (*pp == priv) {
				*pp = priv->port_next;
				break;
			}
		}
		port->nr_sqs--;
		nvmf_port_put_locked(port);
	}
	if (free_ctrl && ctrl->reactor && reactor_post(ctrl->reactor, ctrl_free_work, ctrl) == 0)
		free_ctrl = false;
	pthread_mutex_unlock(&tgt->lock);

	sq->ctrl_link = NULL;
	sq->connected = false;
	sq->ctrl = NULL;
	nvmf_auth_sq_free(sq, priv->auth);
	free(priv);
	if (free_ctrl)
		ctrl_free_work(ctrl); /* no reactor (or post failed): nothing can be queued for it */
}

void nvmf_sq_shutdown(struct nvmf_sq *sq)
{
	if (sq->connected && sq->qid == 0 && sq->ctrl)
		nvmf_ctrl_abort_aers(sq->ctrl);
}

/* ------------------------------------------------------------------ */
/* Creation and lookup                                                 */

static bool cntlid_in_use(const struct nvmf_subsys *subsys, uint16_t cntlid)
{
	for (const struct nvmf_ctrl *c = subsys->ctrls; c; c = c->next)
		if (c->cntlid == cntlid)
			return true;
	return false;
}

struct nvmf_ctrl *nvmf_ctrl_create_locked(struct nvmf_subsys *subsys, struct nvmf_sq *admin_sq,
					  const struct nvmf_connect_data *data, uint32_t kato_ms)
{
	unsigned int span = (unsigned int)subsys->cntlid_max - subsys->cntlid_min + 1;
	struct nvmf_ctrl *ctrl;
	uint16_t cntlid = 0;

	/* Rotate through the range so a just-freed CNTLID is not handed out
	 * again at once; never one that a live controller holds. */
	for (unsigned int i = 0; i < span; i++) {
		uint16_t c = subsys->next_cntlid;

		if (c < subsys->cntlid_min || c > subsys->cntlid_max)
			c = subsys->cntlid_min;
		subsys->next_cntlid = c >= subsys->cntlid_max ? subsys->cntlid_min : (uint16_t)(c + 1);
		if (!cntlid_in_use(subsys, c)) {
			cntlid = c;
			break;
		}
	}
	if (!cntlid)
		return NULL;
	ctrl = nvmf_zalloc(sizeof(*ctrl));
	if (!ctrl)
		return NULL;
	pthread_mutex_init(&ctrl->ev_lock, NULL);
	ctrl->tgt = subsys->tgt;
	ctrl->subsys = subsys;
	ctrl->is_discovery = subsys->is_discovery;
	ctrl->cntlid = cntlid;
	memcpy(ctrl->hostnqn, data->hostnqn, sizeof(ctrl->hostnqn));
	ctrl->hostnqn[NVME_NQN_FIELD - 1] = '\0';
	memcpy(ctrl->hostid, data->hostid, sizeof(ctrl->hostid));
	snprintf(ctrl->peer, sizeof(ctrl->peer), "%s", admin_sq->peer);
	ctrl->host = nvmf_host_get_locked(subsys->tgt, ctrl->hostnqn, true);
	/* Credentials as they are now: later changes affect new controllers only.
	 * Discovery controllers serve hosts that carry no key. */
	if (ctrl->host && !subsys->is_discovery)
		ctrl->dhchap = ctrl->host->dhchap;
	else
		ctrl->dhchap.dhgroup = -1;
	ctrl->port = admin_sq->port;
	ctrl->reactor = admin_sq->reactor;
	ctrl->kato_ms = kato_ms;
	ctrl->nr_io_queues = NVMF_MAX_IO_QUEUES;
	atomic_init(&ctrl->csts, 0);
	atomic_init(&ctrl->last_activity_ns, reactor_now_ns());
	ctrl->sqs[0] = admin_sq;
	ctrl->nr_sqs = 1;
	ctrl->linked = true;
	ctrl->next = subsys->ctrls;
	subsys->ctrls = ctrl;
	subsys->nr_ctrls_alive++;
	return ctrl;
}

struct nvmf_ctrl *nvmf_ctrl_find_locked(struct nvmf_subsys *subsys, uint16_t cntlid)
{
	for (struct nvmf_ctrl *c = subsys->ctrls; c; c = c->next)
		if (c->linked && c->cntlid == cntlid)
			return c;
	return NULL;
}

void nvmf_ctrl_attach_sq_locked(struct nvmf_ctrl *ctrl, struct nvmf_sq *sq, uint16_t qid)
{
	ctrl->sqs[qid] = sq;
	ctrl->nr_sqs++;
	if (qid)
		ctrl->io_queue_seen = true;
}

void nvmf_ctrl_disconnect_locked(struct nvmf_ctrl *ctrl, const char *why)
{
	log_info(LOG_COMP, "controller %u (host %s, peer %s): %s, disconnecting its queues",
		 ctrl->cntlid, ctrl->hostnqn, ctrl->peer, why);
	for (unsigned int q = 0; q <= NVMF_MAX_IO_QUEUES; q++) {
		struct nvmf_sq *sq = ctrl->sqs[q];

		if (sq)
			sq->ops->disconnect(sq);
	}
}

void nvmf_ctrl_stats_locked(struct nvmf_ctrl *ctrl, struct nvmf_io_counters *out)
{
	*out = ctrl->stats;
	for (unsigned int q = 0; q <= NVMF_MAX_IO_QUEUES; q++)
		if (ctrl->sqs[q] && sq_priv(ctrl->sqs[q]))
			nvmf_counters_fold(out, &sq_priv(ctrl->sqs[q])->stats);
}

/* ------------------------------------------------------------------ */
/* Keep-alive (admin reactor)                                          */

void nvmf_ctrl_start_keep_alive(struct nvmf_ctrl *ctrl)
{
	if (!ctrl->reactor)
		return;
	ctrl->ka_timer.fn = nvmf_ctrl_ka_expired;
	if (ctrl->kato_ms == 0 || ctrl->ka_expired) {
		reactor_timer_cancel(ctrl->reactor, &ctrl->ka_timer);
		return;
	}
	atomic_store_explicit(&ctrl->last_activity_ns, reactor_now_ns(), memory_order_relaxed);
	reactor_timer_arm(ctrl->reactor, &ctrl->ka_timer, (uint64_t)ctrl->kato_ms * 1000000ull);
}

void nvmf_ctrl_keep_alive(struct nvmf_ctrl *ctrl)
{
	atomic_store_explicit(&ctrl->last_activity_ns, reactor_now_ns(), memory_order_relaxed);
}

void nvmf_ctrl_ka_expired(struct reactor_timer *t)
{
	struct nvmf_ctrl *ctrl = container_of(t, struct nvmf_ctrl, ka_timer);
	uint64_t kato_ns = (uint64_t)ctrl->kato_ms * 1000000ull;
	uint64_t now = reactor_now_ns();
	uint64_t last = atomic_load_explicit(&ctrl->last_activity_ns, memory_order_relaxed);

	if (kato_ns == 0 || ctrl->admin_closed)
		return;
	if (now < last + kato_ns) {
		/* Something arrived since the timer was armed: wait for the rest. */
		reactor_timer_arm(ctrl->reactor, &ctrl->ka_timer, last + kato_ns - now);
		return;
	}
	ctrl->ka_expired = true;
	log_warn(LOG_COMP, "keep-alive timeout: controller %u of %s, host %s, peer %s (kato %u ms)",
		 ctrl->cntlid, ctrl->subsys->nqn, ctrl->hostnqn, ctrl->peer, ctrl->kato_ms);
	pthread_mutex_lock(&ctrl->tgt->lock);
	nvmf_ctrl_disconnect_locked(ctrl, "keep-alive expired");
	pthread_mutex_unlock(&ctrl->tgt->lock);
}

/* ------------------------------------------------------------------ */
/* Asynchronous events                                                 */

static void ctrl_post_events(struct nvmf_ctrl *ctrl)
{
	if (!ctrl->reactor) {
		nvmf_ctrl_deliver_events(ctrl);
		return;
	}
	if (reactor_post(ctrl->reactor, nvmf_ctrl_deliver_events, ctrl) < 0)
		log_error(LOG_COMP, "controller %u: cannot post event delivery", ctrl->cntlid);
}

/* ev_lock held. Returns whether an event was queued. */
static bool ctrl_queue_event(struct nvmf_ctrl *ctrl, uint32_t aec_bit, uint32_t mask, uint32_t dw0)
{
	if (!(ctrl->aec & aec_bit) || (ctrl->aen_masked & mask) || ctrl->nr_events == NVMF_EVENT_QUEUE)
		return false;
	ctrl->aen_masked |= mask;
	ctrl->events[ctrl->nr_events++] = dw0;
	return true;
}

void nvmf_ctrl_ns_changed_locked(struct nvmf_ctrl *ctrl, uint32_t nsid)
{
	bool queued;

	if (!ctrl->linked || ctrl->admin_closed || ctrl->is_discovery)
		return;
	pthread_mutex_lock(&ctrl->ev_lock);
	if (!ctrl->changed_ns_overflow) {
		bool present = false;

		for (unsigned int i = 0; i < ctrl->nr_changed_ns; i++)
			present |= ctrl->changed_ns[i] == nsid;
		if (!present) {
			if (ctrl->nr_changed_ns == NVMF_CHANGED_NS_MAX)
				ctrl->changed_ns_overflow = true;
			else
				ctrl->changed_ns[ctrl->nr_changed_ns++] = nsid;
		}
	}
	queued = ctrl_queue_event(ctrl, NVME_CTRL_OAES_NS_ATTR, AEN_MASK_NS,
				  NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_CHANGED,
					       NVME_LOG_CHANGED_NS));
	pthread_mutex_unlock(&ctrl->ev_lock);
	if (queued)
		ctrl_post_events(ctrl);
}

void nvmf_ctrl_disc_changed_locked(struct nvmf_ctrl *ctrl)
{
	bool queued;

	if (!ctrl->linked || ctrl->admin_closed)
		return;
	pthread_mutex_lock(&ctrl->ev_lock);
	queued = ctrl_queue_event(ctrl, NVME_CTRL_OAES_DISC_CHANGE, AEN_MASK_DISC,
				  NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_DISC_CHANGED,
					       NVME_LOG_DISCOVERY));
	pthread_mutex_unlock(&ctrl->ev_lock);
	if (queued)
		ctrl_post_events(ctrl);
}

void nvmf_ctrl_ana_changed_locked(struct nvmf_ctrl *ctrl)
{
	bool queued;

	if (!ctrl->linked || ctrl->admin_closed || ctrl->is_discovery)
		return;
	pthread_mutex_lock(&ctrl->ev_lock);
	queued = ctrl_queue_event(ctrl, NVME_CTRL_OAES_ANA_CHANGE, AEN_MASK_ANA,
				  NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_ANA_CHANGE, NVME_LOG_ANA));
	pthread_mutex_unlock(&ctrl->ev_lock);
	if (queued)
		ctrl_post_events(ctrl);
}

void nvmf_ctrl_deliver_events(void *arg)
{
	struct nvmf_ctrl *ctrl = arg;

	for (;;) {
		struct nvmf_req *req;
		uint32_t dw0;

		pthread_mutex_lock(&ctrl->ev_lock);
		if (ctrl->nr_aer == 0 || ctrl->nr_events == 0 || ctrl->admin_closed) {
			pthread_mutex_unlock(&ctrl->ev_lock);
			return;
		}
		req = ctrl->aer[0];
		memmove(&ctrl->aer[0], &ctrl->aer[1], --ctrl->nr_aer * sizeof(ctrl->aer[0]));
		dw0 = ctrl->events[0];
		memmove(&ctrl->events[0], &ctrl->events[1], --ctrl->nr_events * sizeof(ctrl->events[0]));
		pthread_mutex_unlock(&ctrl->ev_lock);
		req->rsp.dw0 = to_le32(dw0);
		nvmf_req_complete(req, 0);
	}
}

uint16_t nvmf_ctrl_queue_aer(struct nvmf_ctrl *ctrl, struct nvmf_req *req)
{
	pthread_mutex_lock(&ctrl->ev_lock);
	if (ctrl->nr_aer > NVMF_AERL) {
		pthread_mutex_unlock(&ctrl->ev_lock);
		return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_AER_LIMIT) | NVME_STATUS_DNR;
	}
	ctrl->aer[ctrl->nr_aer++] = req;
	pthread_mutex_unlock(&ctrl->ev_lock);
	nvmf_ctrl_deliver_events(ctrl);
	return 0;
}

void nvmf_ctrl_abort_aers(struct nvmf_ctrl *ctrl)
{
	struct nvmf_req *reqs[NVMF_AERL + 1];
	unsigned int n;

	pthread_mutex_lock(&ctrl->ev_lock);
	n = ctrl->nr_aer;
	memcpy(reqs, ctrl->aer, n * sizeof(reqs[0]));
	ctrl->nr_aer = 0;
	pthread_mutex_unlock(&ctrl->ev_lock);
	for (unsigned int i = 0; i < n; i++)
		nvmf_req_complete(reqs[i], NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_SQ_DELETED));
}

void nvmf_ctrl_take_changed_ns(struct nvmf_ctrl *ctrl, uint32_t *list, bool clear)
{
	memset(list, 0, NVMF_CHANGED_NS_MAX * sizeof(*list));
	pthread_mutex_lock(&ctrl->ev_lock);
	if (ctrl->changed_ns_overflow) {
		list[0] = to_le32(NVME_NSID_ALL);
	} else {
		for (unsigned int i = 0; i < ctrl->nr_changed_ns; i++)
			list[i] = to_le32(ctrl->changed_ns[i]);
	}
	if (clear) {
		ctrl->nr_changed_ns = 0;
		ctrl->changed_ns_overflow = false;
		ctrl->aen_masked &= ~AEN_MASK_NS;
	}
	pthread_mutex_unlock(&ctrl->ev_lock);
}

void nvmf_ctrl_unmask_aen(struct nvmf_ctrl *ctrl, uint32_t notice)
{
	pthread_mutex_lock(&ctrl->ev_lock);
	if (notice == NVME_AER_NOTICE_DISC_CHANGED)
		ctrl->aen_masked &= ~AEN_MASK_DISC;
	else if (notice == NVME_AER_NOTICE_NS_CHANGED)
		ctrl->aen_masked &= ~AEN_MASK_NS;
	else if (notice == NVME_AER_NOTICE_ANA_CHANGE)
		ctrl->aen_masked &= ~AEN_MASK_ANA;
	pthread_mutex_unlock(&ctrl->ev_lock);
}

/* ------------------------------------------------------------------ */
/* Error log                                                           */

void nvmf_ctrl_log_error(struct nvmf_ctrl *ctrl, const struct nvmf_req *req, uint16_t status)
{
	struct nvme_error_log_entry *e;
	uint8_t opc = req->cmd.opcode;

	pthread_mutex_lock(&ctrl->ev_lock);
	e = &ctrl->errlog[ctrl->errlog_next];
	ctrl->errlog_next = (ctrl->errlog_next + 1) % NVMF_ERR_LOG_ENTRIES;
	memset(e, 0, sizeof(*e));
	e->error_count = to_le64(++ctrl->err_count);
	e->sqid = to_le16(req->sq->qid);
	e->cid = req->cmd.cid;
	e->status = to_le16(NVME_CQE_STATUS(status));
	e->param_error_location = to_le16(0xffff);
	e->nsid = req->cmd.nsid;
	if (req->sq->qid && (opc == NVME_CMD_READ || opc == NVME_CMD_WRITE || opc == NVME_CMD_COMPARE ||
			     opc == NVME_CMD_WRITE_ZEROES))
		e->lba = to_le64((uint64_t)le32(req->cmd.cdw10) | ((uint64_t)le32(req->cmd.cdw11) << 32));
	e->trtype = NVMF_TRTYPE_TCP;
	pthread_mutex_unlock(&ctrl->ev_lock);
}

void nvmf_ctrl_copy_errlog(struct nvmf_ctrl *ctrl, struct nvme_error_log_entry *out)
{
	/* Newest first, as many as were recorded; the rest stays zero. */
	pthread_mutex_lock(&ctrl->ev_lock);
	uint64_t n = ctrl->err_count < NVMF_ERR_LOG_ENTRIES ? ctrl->err_count : NVMF_ERR_LOG_ENTRIES;

	for (uint64_t i = 0; i < n; i++) {
		unsigned int idx = (ctrl->errlog_next + NVMF_ERR_LOG_ENTRIES - 1 - (unsigned int)i) %
				   NVMF_ERR_LOG_ENTRIES;

		out[i] = ctrl->errlog[idx];
	}
	pthread_mutex_unlock(&ctrl->ev_lock);
}
