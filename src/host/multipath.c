/* SPDX-License-Identifier: MIT */
/*
 * Multipath over per-path controllers (see include/nvmeof/host.h).
 *
 * Each path is a full struct nvmeof_ctrl with fast_io_fail_tmo 0: when its
 * connection drops, the commands on it fail at once with -EIO (at the next
 * poll of that queue) and this layer sends them again on another path while
 * the controller reconnects in the background. Commands that no path can
 * take wait in a per-queue FIFO and are retried at every poll.
 *
 * Path choice reads two atomics per path (controller state, loss time) and
 * one for the ANA state: no lock and no allocation per command. The ANA
 * states are written by one background thread that reads each live path's
 * ANA log every ana_poll_ms, and at once when an I/O thread saw an ANA path
 * status or has commands waiting (then at most every MP_REFRESH_MIN_MS).
 * The library does not keep an Asynchronous Event Request outstanding (its
 * admin queue is synchronous), so the ANA change AEN is not used: the poll
 * and the path statuses stand in for it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "host_internal.h"
#include "proto/endian.h"

#define MP_REFRESH_MIN_MS 50
#define MP_ANA_LOG_LEN 4096
#define MP_WAIT_NAP_MS 1 /* nvmeof_mpath_qpair_wait with commands on several paths or waiting */

struct mp_path {
	struct nvmeof_ctrl *ctrl;
	_Atomic uint8_t ana_state;
	uint32_t anagrpid; /* 0: no ANA reporting, always optimized */
};

enum mp_op { MP_OP_READ, MP_OP_WRITE, MP_OP_FLUSH };

struct mp_req {
	nvmeof_cb cb;
	void *cb_arg;
	struct nvmeof_mpath_qpair *mq;
	uint8_t *buf;
	uint64_t slba;
	uint32_t nlb;
	unsigned int io_flags;
	uint8_t op; /* enum mp_op */
	uint8_t path;
	uint16_t idx;
	int err; /* first failure, completed with it when the wait times out */
	uint16_t status;
	uint64_t wait_since; /* 0: not waiting */
};

struct mp_counters {
	_Atomic uint64_t ios, errors, retries;
};

struct nvmeof_mpath_qpair {
	struct nvmeof_mpath *mp;
	struct nvmeof_qpair *qps[NVMEOF_MPATH_MAX_PATHS];
	struct mp_req *reqs;
	uint16_t *free_stack;
	unsigned int nslots, nfree;
	uint16_t *waitq; /* FIFO of waiting requests */
	unsigned int wq_head, wq_tail, wq_mask;
	unsigned int outstanding;
	unsigned int completions;
	unsigned int rr;
	struct mp_counters cnt[NVMEOF_MPATH_MAX_PATHS];
};

struct nvmeof_mpath {
	struct nvmeof_mpath_opts opts;
	uint32_t lba_shift;
	uint64_t nsze;
	unsigned int npaths;
	struct mp_path paths[NVMEOF_MPATH_MAX_PATHS];
	unsigned int nr_qpairs;
	struct nvmeof_mpath_qpair *mqs;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	atomic_uint refresh_req;
	atomic_uint nwaiting; /* commands waiting for a usable path, all queues */
};

#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- pure helpers ---- */

enum mp_class mpath_path_class(enum nvmeof_ctrl_state state, bool failure_pending, uint8_t ana_state)
{
	if (state == NVMEOF_CTRL_DEAD)
		return MP_CLASS_DEAD;
	if (state != NVMEOF_CTRL_LIVE || failure_pending)
		return MP_CLASS_DOWN;
	if (ana_state == NVMEOF_ANA_OPTIMIZED)
		return MP_CLASS_OPTIMIZED;
	if (ana_state == NVMEOF_ANA_NON_OPTIMIZED)
		return MP_CLASS_NON_OPTIMIZED;
	return MP_CLASS_DOWN;
}

int mpath_select(const uint8_t *cls, const unsigned int *depth, unsigned int n, uint32_t skip_mask,
		 enum nvmeof_iopolicy policy, unsigned int *rr)
{
	unsigned int best_cls = MP_CLASS_DOWN, best = n;
	bool all_dead = true;

	for (unsigned int k = 1; k <= n; k++) {
		unsigned int i = (*rr + k) % n; /* round-robin order starting after the last pick */

		if (cls[i] != MP_CLASS_DEAD)
			all_dead = false;
		if ((skip_mask >> i) & 1 || cls[i] >= MP_CLASS_DOWN)
			continue;
		if (cls[i] < best_cls ||
		    (cls[i] == best_cls && policy == NVMEOF_IOPOLICY_QUEUE_DEPTH && depth[i] < depth[best])) {
			best_cls = cls[i];
			best = i;
		}
	}
	if (best == n)
		return all_dead ? -ENODEV : -EBUSY;
	*rr = best;
	return (int)best;
}

enum mp_action mpath_retry_action(int err, uint16_t status)
{
	if (err) {
		/* -ECANCELED: the caller disconnects; -EINVAL and the like: same on any path. */
		if (err == -EIO || err == -ENODEV || err == -ETIMEDOUT || err == -ECONNRESET ||
		    err == -ENOTCONN)
			return MP_RETRY_PATH;
		return MP_COMPLETE;
	}
	if (!status || (status & NVMEOF_STATUS_DNR) || NVMEOF_STATUS_SCT(status) != NVME_SCT_PATH)
		return MP_COMPLETE;
	switch (NVMEOF_STATUS_SC(status)) {
	case NVME_SC_ANA_PERSISTENT_LOSS:
	case NVME_SC_ANA_INACCESSIBLE:
	case NVME_SC_ANA_TRANSITION:
		return MP_RETRY_ANA;
	default:
		/* Internal path error, controller / host pathing errors (Base 4.2.3.2.4). */
		return MP_RETRY_PATH;
	}
}

uint8_t mpath_status_ana_state(uint16_t status)
{
	if (NVMEOF_STATUS_SCT(status) != NVME_SCT_PATH)
		return 0;
	switch (NVMEOF_STATUS_SC(status)) {
	case NVME_SC_ANA_PERSISTENT_LOSS:
		return NVMEOF_ANA_PERSISTENT_LOSS;
	case NVME_SC_ANA_INACCESSIBLE:
		return NVMEOF_ANA_INACCESSIBLE;
	case NVME_SC_ANA_TRANSITION:
		return NVMEOF_ANA_CHANGE;
	default:
		return 0;
	}
}

int mpath_ana_log_state(const void *log, size_t len, uint32_t grpid, uint8_t *state)
{
	const uint8_t *p = log;
	size_t off = sizeof(struct nvme_ana_log_hdr);

	if (len < off)
		return -EPROTO;
	unsigned int ngrps = (unsigned int)p[8] | (unsigned int)p[9] << 8;

	for (unsigned int g = 0; g < ngrps; g++) {
		if (len - off < sizeof(struct nvme_ana_group_desc))
			return -EPROTO;
		uint32_t id = get_le32(p + off), nnsids = get_le32(p + off + 4);

		if (id == grpid) {
			*state = p[off + 16] & 0x0f;
			return 0;
		}
		if (nnsids > (len - off - sizeof(struct nvme_ana_group_desc)) / 4)
			return -EPROTO;
		off += sizeof(struct nvme_ana_group_desc) + (size_t)nnsids * 4;
	}
	return -ENOENT;
}

/* ---- names ---- */

const char *nvmeof_ana_state_name(uint8_t s)
{
	switch (s) {
	case NVMEOF_ANA_OPTIMIZED:
		return "optimized";
	case NVMEOF_ANA_NON_OPTIMIZED:
		return "non-optimized";
	case NVMEOF_ANA_INACCESSIBLE:
		return "inaccessible";
	case NVMEOF_ANA_PERSISTENT_LOSS:
		return "persistent-loss";
	case NVMEOF_ANA_CHANGE:
		return "change";
	default:
		return "unknown";
	}
}

const char *nvmeof_iopolicy_name(enum nvmeof_iopolicy p)
{
	return p == NVMEOF_IOPOLICY_QUEUE_DEPTH ? "queue-depth" : "round-robin";
}

void nvmeof_mpath_opts_init(struct nvmeof_mpath_opts *mo)
{
	memset(mo, 0, sizeof(*mo));
	mo->nsid = 1;
	mo->iopolicy = NVMEOF_IOPOLICY_ROUND_ROBIN;
	mo->queue_tmo_s = 600;
	mo->ana_poll_ms = 1000;
}

/* ---- ANA state ---- */

static const char *path_name(const struct mp_path *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%s cntlid %u", p->ctrl->traddr, p->ctrl->trsvcid,
		 __atomic_load_n(&p->ctrl->cntlid, __ATOMIC_RELAXED));
	return buf;
}

static void path_set_ana(struct mp_path *p, uint8_t st, const char *why)
{
	uint8_t old = atomic_exchange(&p->ana_state, st);

	if (old != st) {
		char n[320];

		log_notice(HOST_LOG, "path %s: ANA group %u %s -> %s (%s)", path_name(p, n, sizeof(n)),
			   p->anagrpid, nvmeof_ana_state_name(old), nvmeof_ana_state_name(st), why);
	}
}

/* Read path p's ANA log (blocking admin command); called by the ANA thread. */
static void path_refresh_ana(struct mp_path *p)
{
	uint8_t *log;
	uint8_t st;
	struct nvmeof_cpl cpl;
	char n[320];
	int rc;

	if (!p->anagrpid || atomic_load(&p->ctrl->state) != NVMEOF_CTRL_LIVE)
		return;
	log = malloc(MP_ANA_LOG_LEN);
	if (!log)
		return;
	rc = ctrl_get_log_nowait(p->ctrl, NVME_LOG_ANA, log, MP_ANA_LOG_LEN, &cpl);
	if (rc == 0) {
		rc = mpath_ana_log_state(log, MP_ANA_LOG_LEN, p->anagrpid, &st);
		if (rc == -ENOENT)
			st = NVMEOF_ANA_INACCESSIBLE; /* the group is not reported on this port */
		if (rc == 0 || rc == -ENOENT)
			path_set_ana(p, st, "ANA log");
		else
			log_warn_rl(HOST_LOG, "path %s: malformed ANA log", path_name(p, n, sizeof(n)));
	} else if (rc != -EAGAIN && rc != -ECANCELED && rc != -ECONNRESET) {
		log_warn_rl(HOST_LOG, "path %s: cannot read the ANA log: %s (status 0x%x)",
			    path_name(p, n, sizeof(n)), strerror(-rc), cpl.status);
	}
	free(log);
}

static void mp_request_refresh(struct nvmeof_mpath *mp)
{
	if (atomic_exchange(&mp->refresh_req, 1) == 0) {
		pthread_mutex_lock(&mp->lock);
		pthread_cond_signal(&mp->cond);
		pthread_mutex_unlock(&mp->lock);
	}
}

static void cond_wait_until(struct nvmeof_mpath *mp, uint64_t until_ns)
{
	struct timespec ts = { (time_t)(until_ns / 1000000000ull), (long)(until_ns % 1000000000ull) };

	pthread_cond_timedwait(&mp->cond, &mp->lock, &ts);
}

static void *mp_ana_thread(void *arg)
{
	struct nvmeof_mpath *mp = arg;
	uint64_t period = (uint64_t)mp->opts.ana_poll_ms * 1000000ull;
	uint64_t next = host_now_ns() + period;

	pthread_mutex_lock(&mp->lock);
	while (!mp->stop) {
		uint64_t now = host_now_ns();

		if (now < next && !atomic_load(&mp->refresh_req)) {
			cond_wait_until(mp, next);
			continue;
		}
		atomic_store(&mp->refresh_req, 0);
		pthread_mutex_unlock(&mp->lock);
		for (unsigned int i = 0; i < mp->npaths; i++)
			path_refresh_ana(&mp->paths[i]);
		pthread_mutex_lock(&mp->lock);
		/* While commands wait for a path, look again soon: a state change ends the wait. */
		next = host_now_ns() + (atomic_load(&mp->nwaiting) ? MP_REFRESH_MIN_MS * 1000000ull : period);
		/* Pace requested refreshes: at most one per MP_REFRESH_MIN_MS. */
		uint64_t pace = host_now_ns() + MP_REFRESH_MIN_MS * 1000000ull;

		while (!mp->stop && host_now_ns() < pace)
			cond_wait_until(mp, pace);
	}
	pthread_mutex_unlock(&mp->lock);
	return NULL;
}

/* ---- path choice and dispatch ---- */

static inline uint8_t path_class(struct mp_path *p)
{
	struct nvmeof_ctrl *c = p->ctrl;

	return (uint8_t)mpath_path_class((enum nvmeof_ctrl_state)atomic_load_explicit(&c->state, memory_order_relaxed),
					 atomic_load_explicit(&c->lost_at_ns, memory_order_relaxed) != 0,
					 atomic_load_explicit(&p->ana_state, memory_order_relaxed));
}

static inline void cnt_inc(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

static void mp_complete(void *arg, const struct nvmeof_cpl *cpl);

/* 0 sent, -EBUSY no usable path now, -ENODEV all dead, -EAGAIN queue full, -EINVAL. */
static int mp_dispatch(struct nvmeof_mpath_qpair *mq, struct mp_req *req, uint32_t skip)
{
	struct nvmeof_mpath *mp = mq->mp;
	uint8_t cls[NVMEOF_MPATH_MAX_PATHS];
	unsigned int depth[NVMEOF_MPATH_MAX_PATHS];

	for (;;) {
		int p;

		if (mp->npaths == 1) {
			/* One path: no choice to make. */
			uint8_t c = path_class(&mp->paths[0]);

			if (c >= MP_CLASS_DOWN || skip)
				return c == MP_CLASS_DEAD ? -ENODEV : -EBUSY;
			p = 0;
		} else {
			for (unsigned int i = 0; i < mp->npaths; i++) {
				cls[i] = path_class(&mp->paths[i]);
				depth[i] = mq->qps[i]->outstanding;
			}
			p = mpath_select(cls, depth, mp->npaths, skip, mp->opts.iopolicy, &mq->rr);
			if (p < 0)
				return p;
		}
		int rc;

		if (req->op == MP_OP_WRITE)
			rc = nvmeof_write(mq->qps[p], mp->opts.nsid, req->slba, req->nlb, req->buf,
					  req->io_flags, mp_complete, req);
		else if (req->op == MP_OP_READ)
			rc = nvmeof_read(mq->qps[p], mp->opts.nsid, req->slba, req->nlb, req->buf,
					 mp_complete, req);
		else
			rc = nvmeof_flush(mq->qps[p], mp->opts.nsid, mp_complete, req);
		if (rc == 0) {
			req->path = (uint8_t)p;
			return 0;
		}
		if (rc == -EAGAIN || rc == -EINVAL)
			return rc;
		skip |= 1u << p; /* -EIO, -ENODEV, -ESHUTDOWN: this path is down */
	}
}

static void mp_finish(struct nvmeof_mpath_qpair *mq, struct mp_req *req, const struct nvmeof_cpl *cpl)
{
	nvmeof_cb cb = req->cb;
	void *arg = req->cb_arg;

	mq->free_stack[mq->nfree++] = req->idx;
	mq->outstanding--;
	mq->completions++;
	cb(arg, cpl);
}

static void mp_park(struct nvmeof_mpath_qpair *mq, struct mp_req *req)
{
	if (!req->wait_since)
		req->wait_since = host_now_ns();
	atomic_fetch_add(&mq->mp->nwaiting, 1);
	mq->waitq[mq->wq_tail++ & mq->wq_mask] = req->idx;
	mp_request_refresh(mq->mp);
}

/* A command failed on its path: try the others, else wait. */
static void mp_retry(struct nvmeof_mpath_qpair *mq, struct mp_req *req, uint32_t skip)
{
	int rc = mp_dispatch(mq, req, skip);

	if (rc == 0)
		return;
	if (rc == -EBUSY || rc == -EAGAIN) {
		mp_park(mq, req);
		return;
	}
	struct nvmeof_cpl cpl = { .err = rc == -ENODEV ? -ENODEV : req->err, .status = req->status };

	if (!cpl.err && !cpl.status)
		cpl.err = rc;
	mp_finish(mq, req, &cpl);
}

static void mp_complete(void *arg, const struct nvmeof_cpl *cpl)
{
	struct mp_req *req = arg;
	struct nvmeof_mpath_qpair *mq = req->mq;
	struct mp_path *p = &mq->mp->paths[req->path];
	enum mp_action act = mpath_retry_action(cpl->err, cpl->status);

	if (act == MP_COMPLETE) {
		cnt_inc(&mq->cnt[req->path].ios);
		if (cpl->err || cpl->status)
			cnt_inc(&mq->cnt[req->path].errors);
		mp_finish(mq, req, cpl);
		return;
	}
	if (!req->err && !req->status) {
		req->err = cpl->err;
		req->status = cpl->status;
	}
	cnt_inc(&mq->cnt[req->path].retries);
	if (act == MP_RETRY_ANA) {
		path_set_ana(p, mpath_status_ana_state(cpl->status), "path status");
		mp_request_refresh(mq->mp);
	}
	mp_retry(mq, req, 1u << req->path);
}

/* Retry the waiting commands in order; expire those that waited queue_tmo_s. */
static void mp_run_waitq(struct nvmeof_mpath_qpair *mq)
{
	struct nvmeof_mpath *mp = mq->mp;
	unsigned int n = mq->wq_tail - mq->wq_head;
	uint64_t now = host_now_ns();
	uint64_t tmo = mp->opts.queue_tmo_s < 0 ? UINT64_MAX : (uint64_t)mp->opts.queue_tmo_s * 1000000000ull;

	/* Each request is looked at once: a retry that parks again goes behind the others. */
	for (unsigned int k = 0; k < n; k++) {
		struct mp_req *req = &mq->reqs[mq->waitq[mq->wq_head++ & mq->wq_mask]];
		int rc = mp_dispatch(mq, req, 0);

		if (rc == 0) {
			atomic_fetch_sub(&mp->nwaiting, 1);
			continue;
		}
		if (rc == -ENODEV || now - req->wait_since >= tmo) {
			atomic_fetch_sub(&mp->nwaiting, 1);
			struct nvmeof_cpl cpl = { .err = rc == -ENODEV ? -ENODEV : req->err,
						  .status = req->status };

			if (!cpl.err && !cpl.status)
				cpl.err = -EIO;
			mp_finish(mq, req, &cpl);
			continue;
		}
		mq->waitq[mq->wq_tail++ & mq->wq_mask] = req->idx;
	}
}

/* ---- public I/O ---- */

static int mp_submit(struct nvmeof_mpath_qpair *mq, enum mp_op op, uint64_t slba, uint32_t nlb, void *buf,
		     unsigned int io_flags, nvmeof_cb cb, void *cb_arg)
{
	if (unlikely(!mq || !cb || (op != MP_OP_FLUSH && (!nlb || !buf))))
		return -EINVAL;
	if (unlikely(!mq->nfree))
		return -EAGAIN;
	struct mp_req *req = &mq->reqs[mq->free_stack[--mq->nfree]];

	req->cb = cb;
	req->cb_arg = cb_arg;
	req->buf = buf;
	req->slba = slba;
	req->nlb = nlb;
	req->io_flags = io_flags;
	req->op = (uint8_t)op;
	req->err = 0;
	req->status = 0;
	req->wait_since = 0;
	mq->outstanding++;
	int rc = mp_dispatch(mq, req, 0);

	if (rc == 0)
		return 0;
	if (rc == -EBUSY) {
		req->err = -EIO; /* what the caller gets if no path comes back in time */
		mp_park(mq, req);
		return 0;
	}
	mq->outstanding--;
	mq->free_stack[mq->nfree++] = req->idx;
	return rc;
}

int nvmeof_mpath_read(struct nvmeof_mpath_qpair *mq, uint64_t slba, uint32_t nlb, void *buf,
		      nvmeof_cb cb, void *cb_arg)
{
	return mp_submit(mq, MP_OP_READ, slba, nlb, buf, 0, cb, cb_arg);
}

int nvmeof_mpath_write(struct nvmeof_mpath_qpair *mq, uint64_t slba, uint32_t nlb, const void *buf,
		       unsigned int io_flags, nvmeof_cb cb, void *cb_arg)
{
	return mp_submit(mq, MP_OP_WRITE, slba, nlb, (void *)buf, io_flags, cb, cb_arg);
}

int nvmeof_mpath_flush(struct nvmeof_mpath_qpair *mq, nvmeof_cb cb, void *cb_arg)
{
	return mp_submit(mq, MP_OP_FLUSH, 0, 0, NULL, 0, cb, cb_arg);
}

int nvmeof_mpath_qpair_poll(struct nvmeof_mpath_qpair *mq, unsigned int max)
{
	struct nvmeof_mpath *mp = mq->mp;

	mq->completions = 0;
	for (unsigned int i = 0; i < mp->npaths; i++) {
		struct nvmeof_qpair *qp = mq->qps[i];

		/* An idle queue has nothing to receive: no system call for it. */
		if (qp->outstanding)
			nvmeof_qpair_poll(qp, max);
	}
	if (unlikely(mq->wq_head != mq->wq_tail))
		mp_run_waitq(mq);
	return (int)mq->completions;
}

int nvmeof_mpath_qpair_wait(struct nvmeof_mpath_qpair *mq, int timeout_ms)
{
	struct nvmeof_mpath *mp = mq->mp;
	struct nvmeof_qpair *busy = NULL;
	unsigned int nbusy = 0;

	for (unsigned int i = 0; i < mp->npaths; i++)
		if (mq->qps[i]->outstanding) {
			busy = mq->qps[i];
			nbusy++;
		}
	/*
	 * Commands on one path only and none waiting: sleep in that queue (a
	 * failure there completes them at once, fast_io_fail_tmo being 0, and
	 * mp_complete sends them on). Else no single queue to sleep in: a
	 * short nap between polls bounds both the latency and the spinning.
	 */
	if (nbusy == 1 && mq->wq_head == mq->wq_tail) {
		mq->completions = 0;
		nvmeof_qpair_wait(busy, timeout_ms);
		if (unlikely(mq->wq_head != mq->wq_tail))
			mp_run_waitq(mq);
		return (int)mq->completions;
	}
	int n = nvmeof_mpath_qpair_poll(mq, 0);

	if (n || !mq->outstanding || timeout_ms == 0)
		return n;
	struct timespec ts = { 0, MP_WAIT_NAP_MS * 1000000L };

	nanosleep(&ts, NULL);
	return nvmeof_mpath_qpair_poll(mq, 0);
}

unsigned int nvmeof_mpath_qpair_outstanding(const struct nvmeof_mpath_qpair *mq) { return mq->outstanding; }

/* ---- paths ---- */

struct ns_ident {
	char subnqn[257];
	uint8_t nguid[16];
	uint8_t eui64[8];
	uint8_t uuid[16];
	uint32_t anagrpid;
	bool ana;
};

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static int read_ident(struct nvmeof_ctrl *ctrl, uint32_t nsid, struct ns_ident *id)
{
	uint8_t *buf = malloc(4096);
	struct nvmeof_cpl cpl;
	int rc;

	if (!buf)
		return -ENOMEM;
	memset(id, 0, sizeof(*id));
	rc = nvmeof_identify(ctrl, NVME_ID_CNS_CTRL, 0, buf, &cpl);
	if (rc)
		goto out;
	const struct nvme_id_ctrl *ic = (const void *)buf;

	memcpy(id->subnqn, ic->subnqn, 256);
	id->ana = (ic->cmic & NVME_CTRL_CMIC_ANA) != 0;
	rc = nvmeof_identify(ctrl, NVME_ID_CNS_NS, nsid, buf, &cpl);
	if (rc)
		goto out;
	const struct nvme_id_ns *in = (const void *)buf;

	memcpy(id->nguid, in->nguid, 16);
	memcpy(id->eui64, in->eui64, 8);
	id->anagrpid = id->ana ? le32(in->anagrpid) : 0;
	/* The descriptor list carries the UUID; a controller without it is fine. */
	if (nvmeof_identify(ctrl, NVME_ID_CNS_NS_DESC_LIST, nsid, buf, &cpl) == 0) {
		for (size_t off = 0; off + 4 <= 4096;) {
			uint8_t type = buf[off], len = buf[off + 1];

			if (!type || off + 4 + len > 4096)
				break;
			if (type == NVME_NIDT_UUID && len == 16)
				memcpy(id->uuid, buf + off + 4, 16);
			off += 4 + len;
		}
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Why path b is not the namespace of path a, NULL if it is. */
static const char *ident_mismatch(const struct ns_ident *a, const struct ns_ident *b)
{
	if (strcmp(a->subnqn, b->subnqn) != 0)
		return "subsystem NQN differs";
	if (all_zero(a->nguid, 16) && all_zero(a->eui64, 8) && all_zero(a->uuid, 16))
		return "namespace has no NGUID, EUI-64 or UUID to tell it is the same";
	if (memcmp(a->nguid, b->nguid, 16) != 0)
		return "namespace NGUID differs";
	if (memcmp(a->eui64, b->eui64, 8) != 0)
		return "namespace EUI-64 differs";
	if (memcmp(a->uuid, b->uuid, 16) != 0)
		return "namespace UUID differs";
	return NULL;
}

static void mq_free(struct nvmeof_mpath_qpair *mq)
{
	free(mq->reqs);
	free(mq->free_stack);
	free(mq->waitq);
}

static int mq_init(struct nvmeof_mpath *mp, struct nvmeof_mpath_qpair *mq, unsigned int idx,
		   unsigned int nslots)
{
	unsigned int ring = 1;

	while (ring < nslots)
		ring <<= 1;
	mq->mp = mp;
	mq->nslots = nslots;
	mq->reqs = calloc(nslots, sizeof(*mq->reqs));
	mq->free_stack = calloc(nslots, sizeof(*mq->free_stack));
	mq->waitq = calloc(ring, sizeof(*mq->waitq));
	mq->wq_mask = ring - 1;
	if (!mq->reqs || !mq->free_stack || !mq->waitq)
		return -ENOMEM;
	for (unsigned int i = 0; i < nslots; i++) {
		mq->reqs[i].idx = (uint16_t)i;
		mq->reqs[i].mq = mq;
		mq->free_stack[nslots - 1 - i] = (uint16_t)i;
	}
	mq->nfree = nslots;
	for (unsigned int p = 0; p < mp->npaths; p++)
		mq->qps[p] = nvmeof_ctrl_get_qpair(mp->paths[p].ctrl, idx);
	return 0;
}

void nvmeof_mpath_disconnect(struct nvmeof_mpath *mp)
{
	if (!mp)
		return;
	if (mp->thread_started) {
		pthread_mutex_lock(&mp->lock);
		mp->stop = true;
		pthread_cond_broadcast(&mp->cond);
		pthread_mutex_unlock(&mp->lock);
		pthread_join(mp->thread, NULL);
	}
	/* Paths first: their cancelled commands complete into the mpath requests. */
	for (unsigned int i = 0; i < mp->npaths; i++)
		nvmeof_ctrl_disconnect(mp->paths[i].ctrl);
	for (unsigned int i = 0; mp->mqs && i < mp->nr_qpairs; i++) {
		struct nvmeof_mpath_qpair *mq = &mp->mqs[i];

		while (mq->wq_head != mq->wq_tail) {
			struct mp_req *req = &mq->reqs[mq->waitq[mq->wq_head++ & mq->wq_mask]];
			struct nvmeof_cpl cpl = { .err = -ECANCELED };

			mp_finish(mq, req, &cpl);
		}
		mq_free(mq);
	}
	free(mp->mqs);
	pthread_mutex_destroy(&mp->lock);
	pthread_cond_destroy(&mp->cond);
	free(mp);
}

int nvmeof_mpath_connect(const struct nvmeof_ctrl_opts *paths, unsigned int npaths,
			 const struct nvmeof_mpath_opts *mo, struct nvmeof_mpath **out,
			 unsigned int *refused, struct nvmeof_cpl *cpl)
{
	struct nvmeof_mpath *mp;
	struct ns_ident first, id;
	pthread_condattr_t ca;
	unsigned int nq = UINT_MAX, qsize = UINT_MAX;
	int rc;

	*out = NULL;
	if (refused)
		*refused = 0;
	if (!npaths || npaths > NVMEOF_MPATH_MAX_PATHS || !mo->nsid || mo->ana_poll_ms == 0)
		return -EINVAL;
	mp = calloc(1, sizeof(*mp));
	if (!mp)
		return -ENOMEM;
	mp->opts = *mo;
	pthread_mutex_init(&mp->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mp->cond, &ca);
	pthread_condattr_destroy(&ca);

	for (unsigned int i = 0; i < npaths; i++) {
		struct nvmeof_ctrl_opts o = paths[i];
		struct nvmeof_ctrl *ctrl;
		struct nvmeof_ns_info ns;
		struct nvmeof_ctrl_info info;

		o.fast_io_fail_tmo_s = 0; /* fail over at once; waiting is done here */
		rc = nvmeof_ctrl_connect(&o, &ctrl, cpl);
		if (rc) {
			log_error(HOST_LOG, "path %s:%s: cannot connect: %s", o.traddr,
				  o.trsvcid ? o.trsvcid : NVMEOF_IO_PORT, strerror(-rc));
			goto fail;
		}
		nvmeof_ctrl_get_info(ctrl, &info);
		rc = nvmeof_ns_get_info(ctrl, mo->nsid, &ns);
		if (rc == 0)
			rc = read_ident(ctrl, mo->nsid, &id);
		if (rc == 0 && info.nr_io_queues == 0)
			rc = -EINVAL;
		if (rc) {
			log_error(HOST_LOG, "path %s:%s: namespace %u: %s", ctrl->traddr, ctrl->trsvcid,
				  mo->nsid, strerror(-rc));
			nvmeof_ctrl_disconnect(ctrl);
			goto fail;
		}
		const char *why = mp->npaths ? ident_mismatch(&first, &id) : NULL;

		if (!why && mp->npaths && (ns.lba_size != 1u << mp->lba_shift || ns.nsze != mp->nsze))
			why = "namespace size or block size differs";
		if (why) {
			log_error(HOST_LOG, "path %s:%s refused: not the same namespace as path %s:%s (%s)",
				  ctrl->traddr, ctrl->trsvcid, mp->paths[0].ctrl->traddr,
				  mp->paths[0].ctrl->trsvcid, why);
			nvmeof_ctrl_disconnect(ctrl);
			if (refused)
				(*refused)++;
			continue;
		}
		if (!mp->npaths) {
			first = id;
			mp->lba_shift = (uint32_t)__builtin_ctz(ns.lba_size);
			mp->nsze = ns.nsze;
		}
		struct mp_path *p = &mp->paths[mp->npaths++];

		p->ctrl = ctrl;
		p->anagrpid = id.anagrpid;
		atomic_init(&p->ana_state, id.anagrpid ? 0 : NVMEOF_ANA_OPTIMIZED);
		path_refresh_ana(p);
		if (info.nr_io_queues < nq)
			nq = info.nr_io_queues;
		if (info.queue_size < qsize)
			qsize = info.queue_size;
	}
	mp->nr_qpairs = nq;
	mp->mqs = calloc(nq, sizeof(*mp->mqs));
	if (!mp->mqs) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned int q = 0; q < nq; q++) {
		rc = mq_init(mp, &mp->mqs[q], q, qsize);
		if (rc)
			goto fail;
	}
	rc = pthread_create(&mp->thread, NULL, mp_ana_thread, mp);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	mp->thread_started = true;
	*out = mp;
	return 0;
fail:
	nvmeof_mpath_disconnect(mp);
	return rc;
}

unsigned int nvmeof_mpath_nr_paths(struct nvmeof_mpath *mp) { return mp->npaths; }

struct nvmeof_ctrl *nvmeof_mpath_get_ctrl(struct nvmeof_mpath *mp, unsigned int i)
{
	return i < mp->npaths ? mp->paths[i].ctrl : NULL;
}

unsigned int nvmeof_mpath_nr_qpairs(struct nvmeof_mpath *mp) { return mp->nr_qpairs; }

struct nvmeof_mpath_qpair *nvmeof_mpath_get_qpair(struct nvmeof_mpath *mp, unsigned int idx)
{
	return idx < mp->nr_qpairs ? &mp->mqs[idx] : NULL;
}

void nvmeof_mpath_get_path_info(struct nvmeof_mpath *mp, unsigned int i, struct nvmeof_path_info *info)
{
	struct mp_path *p = &mp->paths[i];

	memset(info, 0, sizeof(*info));
	info->traddr = p->ctrl->traddr;
	info->trsvcid = p->ctrl->trsvcid;
	info->cntlid = __atomic_load_n(&p->ctrl->cntlid, __ATOMIC_RELAXED);
	info->state = nvmeof_ctrl_get_state(p->ctrl);
	info->ana_state = atomic_load(&p->ana_state);
	info->anagrpid = p->anagrpid;
	for (unsigned int q = 0; q < mp->nr_qpairs; q++) {
		info->ios += atomic_load_explicit(&mp->mqs[q].cnt[i].ios, memory_order_relaxed);
		info->errors += atomic_load_explicit(&mp->mqs[q].cnt[i].errors, memory_order_relaxed);
		info->retries += atomic_load_explicit(&mp->mqs[q].cnt[i].retries, memory_order_relaxed);
	}
}

void nvmeof_mpath_get_ns_info(struct nvmeof_mpath *mp, struct nvmeof_ns_info *info)
{
	info->nsid = mp->opts.nsid;
	info->lba_size = 1u << mp->lba_shift;
	info->nsze = mp->nsze;
}

enum nvmeof_ctrl_state nvmeof_mpath_get_state(struct nvmeof_mpath *mp)
{
	bool all_dead = true;

	for (unsigned int i = 0; i < mp->npaths; i++) {
		enum nvmeof_ctrl_state s = nvmeof_ctrl_get_state(mp->paths[i].ctrl);

		if (s == NVMEOF_CTRL_LIVE)
			return s;
		if (s != NVMEOF_CTRL_DEAD)
			all_dead = false;
	}
	return all_dead ? NVMEOF_CTRL_DEAD : NVMEOF_CTRL_RECONNECTING;
}

int nvmeof_mpath_wait(struct nvmeof_mpath *mp, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : host_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		bool all_dead = true;

		for (unsigned int i = 0; i < mp->npaths; i++) {
			uint8_t c = path_class(&mp->paths[i]);

			if (c < MP_CLASS_DOWN)
				return 0;
			if (c != MP_CLASS_DEAD)
				all_dead = false;
		}
		if (all_dead)
			return -ENODEV;
		uint64_t now = host_now_ns();

		if (now >= deadline)
			return -EAGAIN;
		/* States change on other threads without a signal to us: short sleeps. */
		uint64_t step = deadline - now < 2000000ull ? deadline - now : 2000000ull;
		struct timespec ts = { 0, (long)step };

		nanosleep(&ts, NULL);
	}
}
