/* SPDX-License-Identifier: MIT */
/*
 * Controller: bring-up on the admin queue, I/O queue connections, the
 * keep-alive / reconnect thread, and the synchronous admin API.
 *
 * State machine (ctrl->state):
 *   LIVE --(a queue or keep-alive fails)--> RECONNECTING
 *   RECONNECTING --(admin + every I/O queue connected again)--> LIVE
 *   RECONNECTING --(ctrl_loss_tmo expired)--> DEAD
 * A failure bumps ctrl->epoch: each I/O queue, on its next poll, drops a
 * connection of an older epoch and later adopts the one the thread connected
 * for it (the "handoff"), then resends the commands it still owes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "crypto/dhchap.h"
#include "host_internal.h"
#include "proto/endian.h"
#include "common/hex.h"

#define RECOVERY_POLL_MS 100
#define SHUTDOWN_MS 5000 /* CC.SHN at disconnect, all steps together (Linux: shutdown_timeout) */

void nvmeof_ctrl_opts_init(struct nvmeof_ctrl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->trsvcid = NVMEOF_IO_PORT;
	o->nr_io_queues = 1;
	o->queue_size = 128;
	o->kato_ms = 5000;
	o->reconnect_delay_s = 10;
	o->ctrl_loss_tmo_s = 600;
	o->fast_io_fail_tmo_s = -1;
	o->io_timeout_ms = 30000;
	o->admin_timeout_ms = 60000;
	o->connect_timeout_ms = 10000;
	o->tls_identity_version = 1;
	o->tls_kdf = NVMEOF_TLS_KDF_LIBNVME;
}

const char *nvmeof_ctrl_state_name(enum nvmeof_ctrl_state s)
{
	switch (s) {
	case NVMEOF_CTRL_LIVE:
		return "live";
	case NVMEOF_CTRL_RECONNECTING:
		return "reconnecting";
	case NVMEOF_CTRL_DEAD:
		return "dead";
	}
	return "unknown";
}

/* ---- host identity ---- */

int nvmeof_uuid_parse(const char *s, uint8_t uuid[16])
{
	int n = 0;

	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		int hi = hex_digit((unsigned char)s[i]), lo;

		if (hi < 0)
			return -EINVAL;
		i++;
		lo = hex_digit((unsigned char)s[i]);
		if (lo < 0)
			return -EINVAL;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
	}
	if (s[36] != '\0' && s[36] != '\n' && s[36] != ' ')
		return -EINVAL;
	return 0;
}

void nvmeof_uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -ENODATA;
	}
	fclose(f);
	buf[strcspn(buf, "\r\n \t")] = '\0';
	return buf[0] ? 0 : -ENODATA;
}

int nvmeof_default_host_id(char hostnqn[NVMEOF_NQN_MAX + 1], uint8_t hostid[16])
{
	char line[512];
	bool have_nqn = false, have_id = false;

	if (read_line("/etc/nvme/hostnqn", line, sizeof(line)) == 0 && strlen(line) <= NVMEOF_NQN_MAX) {
		strcpy(hostnqn, line);
		have_nqn = true;
	}
	if (read_line("/etc/nvme/hostid", line, sizeof(line)) == 0 && nvmeof_uuid_parse(line, hostid) == 0)
		have_id = true;
	if (have_nqn && have_id)
		return 0;
	if (have_nqn) {
		/* Derive the ID from a uuid-based NQN so the pair stays consistent. */
		const char *u = strstr(hostnqn, ":uuid:");

		if (u && nvmeof_uuid_parse(u + 6, hostid) == 0)
			return 0;
	}
	uint8_t u[16];
	char s[37];

	if (getrandom(u, sizeof(u), 0) != sizeof(u))
		return -EIO;
	u[6] = (u[6] & 0x0f) | 0x40; /* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	nvmeof_uuid_format(u, s);
	if (!have_nqn)
		snprintf(hostnqn, NVMEOF_NQN_MAX + 1, "nqn.2014-08.org.nvmexpress:uuid:%s", s);
	memcpy(hostid, u, 16);
	return 0;
}

/* ---- admin queue primitives (caller holds admin_lock) ---- */

static int admin_cmd_locked(struct nvmeof_ctrl *ctrl, struct nvme_sqe *sqe, void *buf, uint32_t len,
			    bool write, int timeout_ms, struct nvmeof_cpl *cpl)
{
	int rc = sync_conn_cmd(&ctrl->admin, sqe, buf, len, write, timeout_ms, cpl);

	if (rc)
		return rc;
	return cpl->status ? -EREMOTEIO : 0;
}

static int prop_get(struct nvmeof_ctrl *ctrl, uint32_t off, bool eight, uint64_t *val, int timeout_ms)
{
	struct nvme_sqe sqe = { 0 };
	struct nvmf_property_sqe *p = (struct nvmf_property_sqe *)&sqe;
	struct nvmeof_cpl cpl;
	int rc;

	p->opcode = NVME_FABRICS_COMMAND;
	p->fctype = NVMF_FCTYPE_PROPERTY_GET;
	p->attrib = eight ? 1 : 0;
	p->offset = to_le32(off);
	rc = admin_cmd_locked(ctrl, &sqe, NULL, 0, false, timeout_ms, &cpl);
	if (rc) {
		log_error(HOST_LOG, "%s: Property Get 0x%x failed: %s (status 0x%x)", ctrl->admin.peer, off,
			  strerror(-rc), cpl.status);
		return rc;
	}
	*val = cpl.dw0 | (eight ? (uint64_t)cpl.dw1 << 32 : 0);
	return 0;
}

static int prop_set(struct nvmeof_ctrl *ctrl, uint32_t off, uint32_t val, int timeout_ms)
{
	struct nvme_sqe sqe = { 0 };
	struct nvmf_property_sqe *p = (struct nvmf_property_sqe *)&sqe;
	struct nvmeof_cpl cpl;
	int rc;

	p->opcode = NVME_FABRICS_COMMAND;
	p->fctype = NVMF_FCTYPE_PROPERTY_SET;
	p->attrib = 0;
	p->offset = to_le32(off);
	p->value = to_le64(val);
	rc = admin_cmd_locked(ctrl, &sqe, NULL, 0, false, timeout_ms, &cpl);
	if (rc)
		log_error(HOST_LOG, "%s: Property Set 0x%x = 0x%x failed: %s (status 0x%x)",
			  ctrl->admin.peer, off, val, strerror(-rc), cpl.status);
	return rc;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Milliseconds left until deadline_ns (at least 1), capped at max. */
static int ms_left(uint64_t deadline_ns, uint32_t max)
{
	uint64_t now = host_now_ns();
	uint64_t ms = deadline_ns > now ? (deadline_ns - now + 999999) / 1000000 : 1;

	return (int)(ms < max ? ms : max);
}

static int wait_csts(struct nvmeof_ctrl *ctrl, uint32_t mask, uint32_t want, uint32_t timeout_ms)
{
	uint64_t deadline = host_now_ns() + (uint64_t)timeout_ms * 1000000;

	for (;;) {
		uint64_t csts;
		int rc = prop_get(ctrl, NVME_REG_CSTS, false, &csts,
				  ms_left(deadline, ctrl->opts.admin_timeout_ms));

		if (rc)
			return rc;
		if (csts & NVME_CSTS_CFS) {
			log_error(HOST_LOG, "%s: controller fatal status (CSTS 0x%x)", ctrl->admin.peer,
				  (unsigned)csts);
			return -EIO;
		}
		if ((csts & mask) == want)
			return 0;
		if (host_now_ns() >= deadline)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

static int identify_locked(struct nvmeof_ctrl *ctrl, uint8_t cns, uint32_t nsid, void *buf,
			   struct nvmeof_cpl *cpl)
{
	struct nvme_sqe sqe = { 0 };

	sqe.opcode = NVME_ADMIN_IDENTIFY;
	sqe.nsid = to_le32(nsid);
	sqe.cdw10 = to_le32(cns);
	return admin_cmd_locked(ctrl, &sqe, buf, NVME_IDENTIFY_SIZE, false,
				(int)ctrl->opts.admin_timeout_ms, cpl);
}

/* Admin queue bring-up: connect, enable, identify, number of queues. */
static int admin_establish(struct nvmeof_ctrl *ctrl, bool initial, struct nvmeof_cpl *cpl_out)
{
	const struct nvmeof_ctrl_opts *o = &ctrl->opts;
	struct nvmeof_cpl cpl = { 0 };
	struct nvme_id_ctrl *id = NULL;
	uint16_t cntlid = NVME_CNTLID_DYNAMIC;
	int rc;

	rc = sync_conn_open(&ctrl->admin, o->traddr, o->trsvcid, 0, o->hdr_digest, o->data_digest,
			    ctrl->tls_cfg, (int)o->connect_timeout_ms);
	if (rc)
		return rc;
	rc = sync_conn_fabrics_connect(&ctrl->admin, o, HOST_ADMIN_SQSIZE, o->kato_ms, &cntlid,
				       (int)o->connect_timeout_ms, &cpl);
	if (cpl_out)
		*cpl_out = cpl;
	if (rc)
		goto fail;
	uint64_t cap;

	rc = prop_get(ctrl, NVME_REG_CAP, true, &cap, (int)o->admin_timeout_ms);
	if (rc)
		goto fail;
	uint32_t mqes = (uint32_t)(cap & 0xffff) + 1;

	ctrl->mpsmin = (uint8_t)((cap >> 48) & 0xf);
	ctrl->cap_to_ms = ((uint32_t)((cap >> 24) & 0xff) + 1) * 500;

	rc = prop_set(ctrl, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20), (int)o->admin_timeout_ms);
	if (!rc)
		rc = wait_csts(ctrl, NVME_CSTS_RDY, NVME_CSTS_RDY, ctrl->cap_to_ms);
	if (rc) {
		log_error(HOST_LOG, "%s: controller did not become ready: %s", ctrl->admin.peer,
			  strerror(-rc));
		goto fail;
	}

	id = aligned_alloc(4096, sizeof(*id));
	if (!id) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = identify_locked(ctrl, NVME_ID_CNS_CTRL, 0, id, &cpl);
	if (rc) {
		log_error(HOST_LOG, "%s: Identify Controller failed: %s", ctrl->admin.peer, strerror(-rc));
		goto fail;
	}
	if (le16(id->cntlid) != cntlid)
		log_warn(HOST_LOG, "%s: Identify CNTLID %u differs from Connect's %u", ctrl->admin.peer,
			 le16(id->cntlid), cntlid);
	if (le16(id->icdoff) != 0) {
		log_error(HOST_LOG, "%s: ICDOFF %u not supported", ctrl->admin.peer, le16(id->icdoff));
		rc = -EPROTO;
		goto fail;
	}
	uint32_t max_xfer = host_mdts_bytes(id->mdts, ctrl->mpsmin, HOST_MAX_XFER);
	uint32_t incapsule = host_incapsule_bytes(le32(id->ioccsz));
	unsigned int qsize = o->queue_size;

	if (qsize > mqes)
		qsize = mqes;
	if (le16(id->maxcmd) && qsize > le16(id->maxcmd))
		qsize = le16(id->maxcmd);
	if (qsize > HOST_MAX_QUEUE_SIZE)
		qsize = HOST_MAX_QUEUE_SIZE;
	if (qsize < 2)
		qsize = 2;

	if (initial) {
		ctrl->cntlid = cntlid;
		ctrl->max_xfer = max_xfer;
		ctrl->incapsule_max = incapsule;
		ctrl->queue_size = qsize;
		memcpy(ctrl->subnqn, id->subnqn, sizeof(ctrl->subnqn));
		ctrl->subnqn[sizeof(ctrl->subnqn) - 1] = '\0';
		if (qsize != o->queue_size)
			log_notice(HOST_LOG, "%s: queue size clamped to %u (MQES %u, MAXCMD %u)",
				   ctrl->admin.peer, qsize, mqes, le16(id->maxcmd));
	} else {
		/* Read by other threads (nvmeof_ctrl_get_info, multipath logs). */
		__atomic_store_n(&ctrl->cntlid, cntlid, __ATOMIC_RELAXED);
		if (max_xfer < ctrl->max_xfer || qsize < ctrl->queue_size) {
			log_error(HOST_LOG, "%s: controller limits shrank across reconnect (max xfer %u<%u or queue size %u<%u)",
				  ctrl->admin.peer, max_xfer, ctrl->max_xfer, qsize, ctrl->queue_size);
			rc = -EPROTO;
			goto fail;
		}
		if (incapsule < ctrl->incapsule_max)
			ctrl->incapsule_max = incapsule;
	}

	if (o->nr_io_queues) {
		uint32_t n = o->nr_io_queues - 1;
		struct nvme_sqe sqe = { 0 };

		sqe.opcode = NVME_ADMIN_SET_FEATURES;
		sqe.cdw10 = to_le32(NVME_FEAT_NUM_QUEUES);
		sqe.cdw11 = to_le32(n | (n << 16));
		rc = admin_cmd_locked(ctrl, &sqe, NULL, 0, false, (int)o->admin_timeout_ms, &cpl);
		if (rc) {
			log_error(HOST_LOG, "%s: Set Features Number of Queues failed: %s (status 0x%x)",
				  ctrl->admin.peer, strerror(-rc), cpl.status);
			goto fail;
		}
		unsigned int nsqa = (cpl.dw0 & 0xffff) + 1, ncqa = (cpl.dw0 >> 16) + 1;
		unsigned int granted = nsqa < ncqa ? nsqa : ncqa;

		if (granted > o->nr_io_queues)
			granted = o->nr_io_queues;
		if (initial) {
			ctrl->nr_io_queues = granted;
			if (granted < o->nr_io_queues)
				log_notice(HOST_LOG, "%s: controller granted %u of %u I/O queues",
					   ctrl->admin.peer, granted, o->nr_io_queues);
		} else if (granted < ctrl->nr_io_queues) {
			log_error(HOST_LOG, "%s: only %u I/O queues granted after reconnect (had %u)",
				  ctrl->admin.peer, granted, ctrl->nr_io_queues);
			rc = -EPROTO;
			goto fail;
		}
	}
	free(id);
	return 0;
fail:
	free(id);
	sync_conn_close(&ctrl->admin);
	return rc;
}

/* New TCP connection for I/O queue qid with Connect done; returns its fd (and *tls). */
static int io_queue_connect(struct nvmeof_ctrl *ctrl, uint16_t qid, struct nvme_tcp_conn_params *params,
			    struct host_tls **tls, struct nvmeof_cpl *cpl)
{
	const struct nvmeof_ctrl_opts *o = &ctrl->opts;
	struct sync_conn sc;
	uint16_t cntlid = ctrl->cntlid;
	int rc;

	rc = sync_conn_open(&sc, o->traddr, o->trsvcid, qid, o->hdr_digest, o->data_digest,
			    ctrl->tls_cfg, (int)o->connect_timeout_ms);
	if (rc)
		return rc;
	rc = sync_conn_fabrics_connect(&sc, o, (uint16_t)ctrl->queue_size, 0, &cntlid,
				       (int)o->connect_timeout_ms, cpl);
	if (!rc)
		rc = sock_set_nonblock(sc.fd, true);
	if (rc) {
		sync_conn_close(&sc);
		return rc;
	}
	*params = sc.params;
	*tls = sc.tls;
	if (qid == 1)
		ctrl->maxh2cdata = sc.params.maxh2cdata;
	return sc.fd;
}

/* ---- namespaces ---- */

static int ns_identify_locked(struct nvmeof_ctrl *ctrl, uint32_t nsid, struct ns_cache_ent *ent)
{
	struct nvme_id_ns *ns = aligned_alloc(4096, sizeof(*ns));
	struct nvmeof_cpl cpl;
	int rc;

	if (!ns)
		return -ENOMEM;
	rc = identify_locked(ctrl, NVME_ID_CNS_NS, nsid, ns, &cpl);
	if (rc == -EREMOTEIO)
		rc = -ENODEV;
	if (!rc && le64(ns->ncap) == 0)
		rc = -ENODEV;
	if (!rc) {
		uint8_t fmt = ns->flbas & 0xf;
		uint8_t lbads = fmt <= ns->nlbaf && fmt < 64 ? ns->lbaf[fmt].lbads : 0;

		if (lbads < 9 || lbads > 16) {
			log_error(HOST_LOG, "%s: nsid %u: unsupported LBA data size 2^%u", ctrl->admin.peer,
				  nsid, lbads);
			rc = -EOPNOTSUPP;
		} else {
			ent->nsid = nsid;
			ent->lba_shift = lbads;
			ent->nsze = le64(ns->nsze);
		}
	}
	free(ns);
	return rc;
}

static void ns_cache_put(struct nvmeof_ctrl *ctrl, const struct ns_cache_ent *ent)
{
	pthread_mutex_lock(&ctrl->ns_lock);
	for (unsigned int i = 0; i < ctrl->nr_ns; i++) {
		if (ctrl->ns[i].nsid == ent->nsid) {
			ctrl->ns[i] = *ent;
			goto out;
		}
	}
	if (ctrl->nr_ns < HOST_MAX_NS_CACHE)
		ctrl->ns[ctrl->nr_ns++] = *ent;
out:
	pthread_mutex_unlock(&ctrl->ns_lock);
}

int ctrl_ns_lba_shift(struct nvmeof_ctrl *ctrl, uint32_t nsid)
{
	int shift = -EINVAL;

	/* Only on a cache miss of the queue's last namespace: not per I/O. */
	pthread_mutex_lock(&ctrl->ns_lock);
	for (unsigned int i = 0; i < ctrl->nr_ns; i++)
		if (ctrl->ns[i].nsid == nsid)
			shift = (int)ctrl->ns[i].lba_shift;
	pthread_mutex_unlock(&ctrl->ns_lock);
	return shift;
}

static void ns_scan_locked(struct nvmeof_ctrl *ctrl)
{
	uint32_t *list = aligned_alloc(4096, NVME_IDENTIFY_SIZE);
	struct nvmeof_cpl cpl;
	unsigned int n = 0;

	if (!list)
		return;
	if (identify_locked(ctrl, NVME_ID_CNS_NS_ACTIVE_LIST, 0, list, &cpl) == 0) {
		for (unsigned int i = 0; i < 1024 && list[i] && n < HOST_MAX_NS_CACHE; i++, n++) {
			struct ns_cache_ent ent;

			if (ns_identify_locked(ctrl, le32(list[i]), &ent) == 0)
				ns_cache_put(ctrl, &ent);
		}
	} else {
		for (uint32_t nsid = 1; nsid <= 16; nsid++) {
			struct ns_cache_ent ent;

			if (ns_identify_locked(ctrl, nsid, &ent) == 0)
				ns_cache_put(ctrl, &ent);
		}
	}
	free(list);
}

/* ---- waiting for the recovery ---- */

void ctrl_event_init(struct nvmeof_ctrl *ctrl)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&ctrl->event_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctrl->event_cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&ctrl->events, 0);
}

void ctrl_event_destroy(struct nvmeof_ctrl *ctrl)
{
	pthread_cond_destroy(&ctrl->event_cond);
	pthread_mutex_destroy(&ctrl->event_lock);
}

void ctrl_notify(struct nvmeof_ctrl *ctrl)
{
	pthread_mutex_lock(&ctrl->event_lock);
	atomic_fetch_add(&ctrl->events, 1);
	pthread_cond_broadcast(&ctrl->event_cond);
	pthread_mutex_unlock(&ctrl->event_lock);
}

void ctrl_wait_event(struct nvmeof_ctrl *ctrl, unsigned int seen, uint64_t deadline_ns)
{
	pthread_mutex_lock(&ctrl->event_lock);
	while (atomic_load(&ctrl->events) == seen) {
		if (deadline_ns == UINT64_MAX) {
			pthread_cond_wait(&ctrl->event_cond, &ctrl->event_lock);
			continue;
		}
		if (host_now_ns() >= deadline_ns)
			break;
		/* event_cond runs on CLOCK_MONOTONIC, the clock of host_now_ns(). */
		struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000),
				       .tv_nsec = (long)(deadline_ns % 1000000000) };

		if (pthread_cond_timedwait(&ctrl->event_cond, &ctrl->event_lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&ctrl->event_lock);
}

uint64_t ctrl_fast_fail_at(struct nvmeof_ctrl *ctrl)
{
	int tmo = ctrl->opts.fast_io_fail_tmo_s;
	uint64_t lost = atomic_load(&ctrl->lost_at_ns);

	if (tmo < 0 || !lost)
		return 0;
	return lost + (uint64_t)tmo * 1000000000ull;
}

/* ---- failure, recovery and keep-alive ---- */

void ctrl_report_failure(struct nvmeof_ctrl *ctrl, unsigned int e)
{
	uint64_t zero = 0;

	atomic_compare_exchange_strong(&ctrl->lost_at_ns, &zero, host_now_ns());
	/* Remember the newest epoch a failure was seen in; older reports are stale. */
	unsigned int cur = atomic_load(&ctrl->failed_epoch);

	while (cur < e && !atomic_compare_exchange_weak(&ctrl->failed_epoch, &cur, e))
		;
	pthread_mutex_lock(&ctrl->lock);
	pthread_cond_broadcast(&ctrl->cond);
	pthread_mutex_unlock(&ctrl->lock);
	ctrl_notify(ctrl);
}

static void clear_handoffs(struct nvmeof_ctrl *ctrl)
{
	for (unsigned int i = 0; i < ctrl->nr_io_queues; i++) {
		struct nvmeof_qpair *qp = &ctrl->qpairs[i];

		pthread_mutex_lock(&qp->handoff_lock);
		host_tls_free(qp->handoff_tls);
		qp->handoff_tls = NULL;
		if (qp->handoff_fd >= 0)
			close(qp->handoff_fd);
		qp->handoff_fd = -1;
		pthread_mutex_unlock(&qp->handoff_lock);
	}
}

/* Drop every connection of the current epoch. Called by the ctrl thread. */
static void ctrl_start_recovery(struct nvmeof_ctrl *ctrl, const char *why)
{
	uint64_t zero = 0;

	atomic_compare_exchange_strong(&ctrl->lost_at_ns, &zero, host_now_ns());
	atomic_store(&ctrl->state, NVMEOF_CTRL_RECONNECTING);
	atomic_fetch_add(&ctrl->epoch, 1);
	log_warn(HOST_LOG, "%s:%s cntlid %u: %s; reconnecting every %d s (ctrl_loss_tmo %d s, fast_io_fail_tmo %d s)",
		 ctrl->opts.traddr, ctrl->opts.trsvcid, ctrl->cntlid, why, ctrl->opts.reconnect_delay_s,
		 ctrl->opts.ctrl_loss_tmo_s, ctrl->opts.fast_io_fail_tmo_s);
	pthread_mutex_lock(&ctrl->admin_lock);
	sync_conn_close(&ctrl->admin);
	pthread_mutex_unlock(&ctrl->admin_lock);
	clear_handoffs(ctrl);
	ctrl_notify(ctrl);
}

/* One reconnect attempt: admin queue, then a fresh connection per I/O queue. */
static int ctrl_reconnect(struct nvmeof_ctrl *ctrl)
{
	unsigned int epoch = atomic_fetch_add(&ctrl->epoch, 1) + 1;
	int rc;

	pthread_mutex_lock(&ctrl->admin_lock);
	rc = admin_establish(ctrl, false, NULL);
	pthread_mutex_unlock(&ctrl->admin_lock);
	if (rc)
		return rc;
	for (unsigned int i = 0; i < ctrl->nr_io_queues; i++) {
		struct nvmeof_qpair *qp = &ctrl->qpairs[i];
		struct nvme_tcp_conn_params params;
		struct nvmeof_cpl cpl;
		struct host_tls *tls = NULL;
		int fd = io_queue_connect(ctrl, qp->qid, &params, &tls, &cpl);

		if (fd < 0) {
			rc = fd;
			goto fail;
		}
		pthread_mutex_lock(&qp->handoff_lock);
		host_tls_free(qp->handoff_tls);
		if (qp->handoff_fd >= 0)
			close(qp->handoff_fd);
		qp->handoff_fd = fd;
		qp->handoff_tls = tls;
		qp->handoff_epoch = epoch;
		qp->handoff_params = params;
		pthread_mutex_unlock(&qp->handoff_lock);
	}
	return 0;
fail:
	clear_handoffs(ctrl);
	pthread_mutex_lock(&ctrl->admin_lock);
	sync_conn_close(&ctrl->admin);
	pthread_mutex_unlock(&ctrl->admin_lock);
	return rc;
}

static int send_keep_alive(struct nvmeof_ctrl *ctrl)
{
	struct nvme_sqe sqe = { 0 };
	struct nvmeof_cpl cpl;
	int rc;

	sqe.opcode = NVME_ADMIN_KEEP_ALIVE;
	pthread_mutex_lock(&ctrl->admin_lock);
	rc = admin_cmd_locked(ctrl, &sqe, NULL, 0, false, (int)ctrl->opts.kato_ms, &cpl);
	pthread_mutex_unlock(&ctrl->admin_lock);
	if (rc && rc != -ECANCELED)
		log_error(HOST_LOG, "%s:%s cntlid %u: keep-alive failed: %s (status 0x%x)",
			  ctrl->opts.traddr, ctrl->opts.trsvcid, ctrl->cntlid, strerror(-rc), cpl.status);
	return rc;
}

static void timed_wait(struct nvmeof_ctrl *ctrl, uint64_t until_ns)
{
	struct timespec ts;
	uint64_t now = host_now_ns();
	uint64_t wait = until_ns > now ? until_ns - now : 0;

	if (wait > (uint64_t)RECOVERY_POLL_MS * 1000000)
		wait = (uint64_t)RECOVERY_POLL_MS * 1000000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(wait / 1000000000);
	ts.tv_nsec += (long)(wait % 1000000000);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&ctrl->cond, &ctrl->lock, &ts);
}

static void *ctrl_thread(void *arg)
{
	struct nvmeof_ctrl *ctrl = arg;
	uint64_t ka_period = (uint64_t)ctrl->opts.kato_ms * 1000000 / 2;
	uint64_t next_ka = host_now_ns() + ka_period;
	uint64_t next_attempt = 0;

	sock_set_cancel_fd(ctrl->stop_fd);
	pthread_mutex_lock(&ctrl->lock);
	while (!ctrl->stop) {
		uint64_t now = host_now_ns();
		int state = atomic_load(&ctrl->state);

		if (state == NVMEOF_CTRL_LIVE) {
			if (atomic_load(&ctrl->failed_epoch) == atomic_load(&ctrl->epoch)) {
				ctrl_start_recovery(ctrl, "I/O queue connection failed");
				next_attempt = now;
				continue;
			}
			if (ctrl->opts.kato_ms && now >= next_ka) {
				pthread_mutex_unlock(&ctrl->lock);
				int rc = send_keep_alive(ctrl);

				pthread_mutex_lock(&ctrl->lock);
				next_ka = host_now_ns() + ka_period;
				if (rc && !ctrl->stop) {
					ctrl_start_recovery(ctrl, "keep-alive failed");
					next_attempt = host_now_ns();
				}
				continue;
			}
			timed_wait(ctrl, ctrl->opts.kato_ms ? next_ka : now + 1000000000ull);
		} else if (state == NVMEOF_CTRL_RECONNECTING) {
			uint64_t lost = atomic_load(&ctrl->lost_at_ns);

			if (ctrl->opts.ctrl_loss_tmo_s >= 0 &&
			    now >= lost + (uint64_t)ctrl->opts.ctrl_loss_tmo_s * 1000000000ull) {
				log_error(HOST_LOG, "%s:%s: ctrl_loss_tmo (%d s) expired, controller is dead",
					  ctrl->opts.traddr, ctrl->opts.trsvcid, ctrl->opts.ctrl_loss_tmo_s);
				atomic_fetch_add(&ctrl->epoch, 1);
				atomic_store(&ctrl->state, NVMEOF_CTRL_DEAD);
				ctrl_notify(ctrl);
				continue;
			}
			if (now >= next_attempt) {
				pthread_mutex_unlock(&ctrl->lock);
				int rc = ctrl_reconnect(ctrl);

				pthread_mutex_lock(&ctrl->lock);
				if (rc && ctrl->stop)
					continue; /* cancelled by the disconnect */
				if (rc == 0) {
					atomic_store(&ctrl->failed_epoch, 0);
					atomic_store(&ctrl->lost_at_ns, 0);
					atomic_fetch_add(&ctrl->reconnects, 1);
					atomic_store(&ctrl->state, NVMEOF_CTRL_LIVE);
					ctrl_notify(ctrl);
					log_notice(HOST_LOG, "%s:%s: reconnected, cntlid %u", ctrl->opts.traddr,
						   ctrl->opts.trsvcid, ctrl->cntlid);
					next_ka = host_now_ns() + ka_period;
					continue;
				}
				log_warn(HOST_LOG, "%s:%s: reconnect attempt failed: %s", ctrl->opts.traddr,
					 ctrl->opts.trsvcid, strerror(-rc));
				next_attempt = host_now_ns() + (uint64_t)ctrl->opts.reconnect_delay_s * 1000000000ull;
			}
			timed_wait(ctrl, next_attempt);
		} else {
			timed_wait(ctrl, now + 1000000000ull);
		}
	}
	pthread_mutex_unlock(&ctrl->lock);
	return NULL;
}

/* ---- public API ---- */

static void ctrl_free(struct nvmeof_ctrl *ctrl)
{
	if (ctrl->qpairs) {
		for (unsigned int i = 0; i < ctrl->nr_io_queues; i++)
			qpair_destroy(&ctrl->qpairs[i]);
		free(ctrl->qpairs);
	}
	sync_conn_close(&ctrl->admin);
	host_tls_cfg_free(ctrl->tls_cfg);
	if (ctrl->stop_fd >= 0)
		close(ctrl->stop_fd);
	pthread_mutex_destroy(&ctrl->admin_lock);
	pthread_mutex_destroy(&ctrl->lock);
	pthread_mutex_destroy(&ctrl->ns_lock);
	pthread_cond_destroy(&ctrl->cond);
	ctrl_event_destroy(ctrl);
	dhchap_wipe(ctrl->dhchap_secret, sizeof(ctrl->dhchap_secret));
	dhchap_wipe(ctrl->dhchap_ctrl_secret, sizeof(ctrl->dhchap_ctrl_secret));
	free(ctrl);
}

int nvmeof_ctrl_connect(const struct nvmeof_ctrl_opts *opts, struct nvmeof_ctrl **out,
			struct nvmeof_cpl *cpl)
{
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_cpl local_cpl = { 0 };
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!opts->traddr || !opts->subnqn || strlen(opts->subnqn) > NVMEOF_NQN_MAX ||
	    opts->queue_size < 2 || opts->reconnect_delay_s < 1 || opts->nr_io_queues > 65535)
		return -EINVAL;
	ctrl = calloc(1, sizeof(*ctrl));
	if (!ctrl)
		return -ENOMEM;
	ctrl->opts = *opts;
	snprintf(ctrl->traddr, sizeof(ctrl->traddr), "%s", opts->traddr);
	snprintf(ctrl->trsvcid, sizeof(ctrl->trsvcid), "%s", opts->trsvcid ? opts->trsvcid : NVMEOF_IO_PORT);
	ctrl->opts.traddr = ctrl->traddr;
	ctrl->opts.trsvcid = ctrl->trsvcid;
	snprintf(ctrl->subnqn, sizeof(ctrl->subnqn), "%s", opts->subnqn);
	ctrl->opts.subnqn = ctrl->subnqn;
	/* Kept for reconnects, which authenticate every queue again. */
	if ((opts->dhchap_secret && strlen(opts->dhchap_secret) >= sizeof(ctrl->dhchap_secret)) ||
	    (opts->dhchap_ctrl_secret && strlen(opts->dhchap_ctrl_secret) >= sizeof(ctrl->dhchap_ctrl_secret)) ||
	    (opts->dhchap_secret && opts->dhchap_secret[0] && !dhchap_key_valid(opts->dhchap_secret)) ||
	    (opts->dhchap_ctrl_secret && opts->dhchap_ctrl_secret[0] &&
	     !dhchap_key_valid(opts->dhchap_ctrl_secret))) {
		log_error(HOST_LOG, "a DH-HMAC-CHAP secret is not in the format DHHC-1:HH:base64:");
		free(ctrl);
		return -EINVAL;
	}
	snprintf(ctrl->dhchap_secret, sizeof(ctrl->dhchap_secret), "%s",
		 opts->dhchap_secret ? opts->dhchap_secret : "");
	snprintf(ctrl->dhchap_ctrl_secret, sizeof(ctrl->dhchap_ctrl_secret), "%s",
		 opts->dhchap_ctrl_secret ? opts->dhchap_ctrl_secret : "");
	ctrl->opts.dhchap_secret = ctrl->dhchap_secret;
	ctrl->opts.dhchap_ctrl_secret = ctrl->dhchap_ctrl_secret;
	if (!ctrl->opts.hostnqn[0]) {
		rc = nvmeof_default_host_id(ctrl->opts.hostnqn, ctrl->opts.hostid);
		if (rc) {
			free(ctrl);
			return rc;
		}
	}
	if (opts->tls || opts->tls_key) {
		/* Derived once; the caller's key string is not kept. */
		rc = host_tls_cfg_new(&ctrl->opts, &ctrl->tls_cfg);
		ctrl->opts.tls_key = NULL;
		ctrl->opts.tls_key_identity = NULL;
		ctrl->opts.tls = true;
		if (rc) {
			free(ctrl);
			return rc;
		}
	}
	ctrl->admin.fd = -1;
	ctrl->stop_fd = -1;
	pthread_mutex_init(&ctrl->admin_lock, NULL);
	pthread_mutex_init(&ctrl->lock, NULL);
	pthread_mutex_init(&ctrl->ns_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctrl->cond, &ca);
	pthread_condattr_destroy(&ca);
	ctrl_event_init(ctrl);
	atomic_init(&ctrl->state, NVMEOF_CTRL_LIVE);
	atomic_init(&ctrl->epoch, 1);
	atomic_init(&ctrl->failed_epoch, 0);
	atomic_init(&ctrl->lost_at_ns, 0);
	atomic_init(&ctrl->reconnects, 0);
	ctrl->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctrl->stop_fd < 0) {
		rc = -errno;
		ctrl_free(ctrl);
		return rc;
	}

	pthread_mutex_lock(&ctrl->admin_lock);
	rc = admin_establish(ctrl, true, &local_cpl);
	if (!rc && strcmp(ctrl->opts.subnqn, NVME_DISC_NQN) != 0)
		ns_scan_locked(ctrl);
	pthread_mutex_unlock(&ctrl->admin_lock);
	if (cpl)
		*cpl = local_cpl;
	if (rc) {
		ctrl_free(ctrl);
		return rc;
	}
	if (ctrl->maxh2cdata == 0)
		ctrl->maxh2cdata = ctrl->admin.params.maxh2cdata;

	if (ctrl->nr_io_queues) {
		ctrl->qpairs = calloc(ctrl->nr_io_queues, sizeof(*ctrl->qpairs));
		if (!ctrl->qpairs) {
			rc = -ENOMEM;
			goto fail;
		}
		for (unsigned int i = 0; i < ctrl->nr_io_queues; i++) {
			rc = qpair_init(&ctrl->qpairs[i], ctrl, (uint16_t)(i + 1), ctrl->queue_size);
			if (rc) {
				/* Destroy only what was initialized. */
				for (unsigned int j = 0; j < i; j++)
					qpair_destroy(&ctrl->qpairs[j]);
				free(ctrl->qpairs);
				ctrl->qpairs = NULL;
				goto fail;
			}
		}
		for (unsigned int i = 0; i < ctrl->nr_io_queues; i++) {
			struct nvme_tcp_conn_params params;
			struct host_tls *tls = NULL;
			int fd = io_queue_connect(ctrl, (uint16_t)(i + 1), &params, &tls, &local_cpl);

			if (fd < 0) {
				rc = fd;
				if (cpl)
					*cpl = local_cpl;
				goto fail;
			}
			qpair_attach(&ctrl->qpairs[i], fd, tls, &params);
			ctrl->qpairs[i].epoch = atomic_load(&ctrl->epoch);
		}
	}
	if (ctrl->opts.kato_ms || ctrl->nr_io_queues) {
		rc = pthread_create(&ctrl->thread, NULL, ctrl_thread, ctrl);
		if (rc) {
			rc = -rc;
			goto fail;
		}
		ctrl->thread_started = true;
	}
	log_info(HOST_LOG, "%s:%s: connected to %s, cntlid %u, %u I/O queues of %u, max xfer %u, in-capsule %u",
		 ctrl->traddr, ctrl->trsvcid, ctrl->subnqn, ctrl->cntlid, ctrl->nr_io_queues,
		 ctrl->queue_size, ctrl->max_xfer, ctrl->incapsule_max);
	*out = ctrl;
	return 0;
fail:
	ctrl_free(ctrl);
	return rc;
}

void nvmeof_ctrl_disconnect(struct nvmeof_ctrl *ctrl)
{
	if (!ctrl)
		return;
	if (ctrl->thread_started) {
		uint64_t one = 1;

		pthread_mutex_lock(&ctrl->lock);
		ctrl->stop = true;
		pthread_cond_broadcast(&ctrl->cond);
		pthread_mutex_unlock(&ctrl->lock);
		/* Ends a keep-alive or reconnect attempt in progress at once. */
		if (write(ctrl->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn(HOST_LOG, "%s:%s: cannot cancel the controller thread's I/O: %s",
				 ctrl->traddr, ctrl->trsvcid, strerror(errno));
		pthread_join(ctrl->thread, NULL);
	}
	for (unsigned int i = 0; ctrl->qpairs && i < ctrl->nr_io_queues; i++)
		qpair_cancel_all(&ctrl->qpairs[i], -ECANCELED);
	pthread_mutex_lock(&ctrl->admin_lock);
	if (ctrl->admin.fd >= 0 && atomic_load(&ctrl->state) == NVMEOF_CTRL_LIVE) {
		/* One budget for all of it: a hung controller must not hold the caller for minutes. */
		uint64_t deadline = host_now_ns() + (uint64_t)SHUTDOWN_MS * 1000000;
		uint32_t max = ctrl->opts.admin_timeout_ms;
		uint64_t cc;

		/* Normal shutdown: CC.SHN = 01b, then wait for CSTS.SHST = complete. */
		if (prop_get(ctrl, NVME_REG_CC, false, &cc, ms_left(deadline, max)) == 0 &&
		    prop_set(ctrl, NVME_REG_CC, ((uint32_t)cc & ~(3u << 14)) | (1u << 14),
			     ms_left(deadline, max)) == 0 &&
		    wait_csts(ctrl, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT,
			      (uint32_t)ms_left(deadline, max)) != 0)
			log_warn(HOST_LOG, "%s:%s: shutdown did not complete", ctrl->traddr, ctrl->trsvcid);
	}
	pthread_mutex_unlock(&ctrl->admin_lock);
	ctrl_free(ctrl);
}

void nvmeof_ctrl_get_info(struct nvmeof_ctrl *ctrl, struct nvmeof_ctrl_info *info)
{
	info->cntlid = __atomic_load_n(&ctrl->cntlid, __ATOMIC_RELAXED);
	info->max_xfer = ctrl->max_xfer;
	info->incapsule_max = ctrl->incapsule_max;
	info->maxh2cdata = ctrl->maxh2cdata;
	info->nr_io_queues = ctrl->nr_io_queues;
	info->queue_size = ctrl->queue_size;
	info->state = (enum nvmeof_ctrl_state)atomic_load(&ctrl->state);
	info->reconnects = atomic_load(&ctrl->reconnects);
}

struct nvmeof_qpair *nvmeof_ctrl_get_qpair(struct nvmeof_ctrl *ctrl, unsigned int idx)
{
	return idx < ctrl->nr_io_queues ? &ctrl->qpairs[idx] : NULL;
}

enum nvmeof_ctrl_state nvmeof_ctrl_get_state(struct nvmeof_ctrl *ctrl)
{
	return (enum nvmeof_ctrl_state)atomic_load(&ctrl->state);
}

/* A queue reported a failure the controller thread has not acted on yet. */
static bool ctrl_failure_pending(struct nvmeof_ctrl *ctrl)
{
	return ctrl->thread_started && atomic_load(&ctrl->failed_epoch) == atomic_load(&ctrl->epoch);
}

int nvmeof_ctrl_wait_recovery(struct nvmeof_ctrl *ctrl, int timeout_ms)
{
	uint64_t start = 0, deadline = UINT64_MAX;

	for (;;) {
		/* Read before the checks: a change after them ends the wait at once. */
		unsigned int seen = atomic_load(&ctrl->events);
		int state = atomic_load(&ctrl->state);

		if (state == NVMEOF_CTRL_DEAD)
			return -ENODEV;
		if (state == NVMEOF_CTRL_LIVE && !ctrl_failure_pending(ctrl))
			return 0;
		uint64_t now = host_now_ns();

		if (!start) {
			start = now;
			if (timeout_ms >= 0)
				deadline = start + (uint64_t)timeout_ms * 1000000;
		}
		if (now >= deadline)
			return -EAGAIN;
		/* Wake when fast_io_fail_tmo expires, once: then the caller's poll fails the I/O. */
		uint64_t until = deadline, ff = ctrl_fast_fail_at(ctrl);

		if (ff > start && ff < until)
			until = ff;
		ctrl_wait_event(ctrl, seen, until);
		if (until != deadline && host_now_ns() >= until)
			return -EAGAIN;
	}
}

/* Wait (bounded) for the admin queue to be usable; caller then takes admin_lock. */
static int admin_wait_live(struct nvmeof_ctrl *ctrl)
{
	uint64_t deadline = host_now_ns() + (uint64_t)ctrl->opts.admin_timeout_ms * 1000000;

	for (;;) {
		unsigned int seen = atomic_load(&ctrl->events);
		int state = atomic_load(&ctrl->state);

		if (state == NVMEOF_CTRL_LIVE)
			return 0;
		if (state == NVMEOF_CTRL_DEAD)
			return -ENODEV;
		if (host_now_ns() >= deadline)
			return -ETIMEDOUT;
		ctrl_wait_event(ctrl, seen, deadline);
	}
}

int nvmeof_admin(struct nvmeof_ctrl *ctrl, const struct nvmeof_admin_cmd *cmd, void *data,
		 uint32_t len, bool write, struct nvmeof_cpl *cpl)
{
	struct nvme_sqe sqe = { 0 };
	struct nvmeof_cpl local;
	bool lost = false;
	unsigned int epoch = 0;
	int rc;

	if (!cpl)
		cpl = &local;
	memset(cpl, 0, sizeof(*cpl));
	if ((len && !data) || (write && len > NVME_TCP_ADMIN_INCAPSULE))
		return -EINVAL;
	sqe.opcode = cmd->opcode;
	sqe.nsid = to_le32(cmd->nsid);
	sqe.cdw10 = to_le32(cmd->cdw10);
	sqe.cdw11 = to_le32(cmd->cdw11);
	sqe.cdw12 = to_le32(cmd->cdw12);
	sqe.cdw13 = to_le32(cmd->cdw13);
	sqe.cdw14 = to_le32(cmd->cdw14);
	sqe.cdw15 = to_le32(cmd->cdw15);
	rc = admin_wait_live(ctrl);
	if (rc)
		return rc;
	pthread_mutex_lock(&ctrl->admin_lock);
	if (ctrl->admin.fd < 0) {
		rc = -ENOTCONN;
	} else {
		rc = admin_cmd_locked(ctrl, &sqe, data, len, write, (int)ctrl->opts.admin_timeout_ms, cpl);
		if (rc && rc != -EREMOTEIO) {
			cpl->err = rc;
			lost = true;
			epoch = atomic_load(&ctrl->epoch);
		}
	}
	pthread_mutex_unlock(&ctrl->admin_lock);
	/*
	 * The admin connection is gone: let the thread recover. Reported after
	 * the unlock: the thread takes admin_lock while holding ctrl->lock
	 * (ctrl_start_recovery), and ctrl_report_failure takes ctrl->lock.
	 */
	if (lost)
		ctrl_report_failure(ctrl, epoch);
	return rc;
}

int ctrl_get_log_nowait(struct nvmeof_ctrl *ctrl, uint8_t lid, void *buf, uint32_t len,
			struct nvmeof_cpl *cpl)
{
	struct nvme_sqe sqe = { 0 };
	uint32_t numd = len / 4 - 1;
	unsigned int epoch;
	int rc;

	memset(cpl, 0, sizeof(*cpl));
	if (len < 4 || len % 4)
		return -EINVAL;
	sqe.opcode = NVME_ADMIN_GET_LOG_PAGE;
	sqe.cdw10 = to_le32(lid | (numd & 0xffff) << 16);
	sqe.cdw11 = to_le32(numd >> 16);
	/* A reconnect holds admin_lock for a whole connect attempt: never wait behind it. */
	for (;;) {
		if (atomic_load(&ctrl->state) != NVMEOF_CTRL_LIVE || atomic_load(&ctrl->lost_at_ns))
			return -EAGAIN;
		if (pthread_mutex_trylock(&ctrl->admin_lock) == 0)
			break;
		sleep_ms(1);
	}
	if (ctrl->admin.fd < 0) {
		rc = -EAGAIN;
	} else {
		rc = admin_cmd_locked(ctrl, &sqe, buf, len, false, (int)ctrl->opts.admin_timeout_ms, cpl);
		if (rc && rc != -EREMOTEIO)
			cpl->err = rc;
	}
	epoch = atomic_load(&ctrl->epoch);
	pthread_mutex_unlock(&ctrl->admin_lock);
	if (rc && rc != -EREMOTEIO && rc != -EAGAIN)
		ctrl_report_failure(ctrl, epoch);
	return rc;
}

int nvmeof_identify(struct nvmeof_ctrl *ctrl, uint8_t cns, uint32_t nsid, void *buf,
		    struct nvmeof_cpl *cpl)
{
	struct nvmeof_admin_cmd cmd = { .opcode = NVME_ADMIN_IDENTIFY, .nsid = nsid, .cdw10 = cns };

	return nvmeof_admin(ctrl, &cmd, buf, NVME_IDENTIFY_SIZE, false, cpl);
}

int nvmeof_get_log_page(struct nvmeof_ctrl *ctrl, uint8_t lid, uint32_t nsid, uint64_t lpo,
			void *buf, uint32_t len, struct nvmeof_cpl *cpl)
{
	if (len < 4 || len % 4 || lpo % 4)
		return -EINVAL;
	uint32_t numd = len / 4 - 1;
	struct nvmeof_admin_cmd cmd = {
		.opcode = NVME_ADMIN_GET_LOG_PAGE,
		.nsid = nsid,
		.cdw10 = lid | (numd & 0xffff) << 16,
		.cdw11 = numd >> 16,
		.cdw12 = (uint32_t)lpo,
		.cdw13 = (uint32_t)(lpo >> 32),
	};

	return nvmeof_admin(ctrl, &cmd, buf, len, false, cpl);
}

/* Get and Set Features differ only in the opcode. */
static int features_cmd(struct nvmeof_ctrl *ctrl, uint8_t opcode, uint8_t fid, uint32_t cdw11,
			uint32_t *dw0, struct nvmeof_cpl *cpl)
{
	struct nvmeof_admin_cmd cmd = { .opcode = opcode, .cdw10 = fid, .cdw11 = cdw11 };
	struct nvmeof_cpl local;
	int rc;

	if (!cpl)
		cpl = &local;
	rc = nvmeof_admin(ctrl, &cmd, NULL, 0, false, cpl);
	if (!rc && dw0)
		*dw0 = cpl->dw0;
	return rc;
}

int nvmeof_get_features(struct nvmeof_ctrl *ctrl, uint8_t fid, uint32_t cdw11, uint32_t *dw0,
			struct nvmeof_cpl *cpl)
{
	return features_cmd(ctrl, NVME_ADMIN_GET_FEATURES, fid, cdw11, dw0, cpl);
}

int nvmeof_set_features(struct nvmeof_ctrl *ctrl, uint8_t fid, uint32_t cdw11, uint32_t *dw0,
			struct nvmeof_cpl *cpl)
{
	return features_cmd(ctrl, NVME_ADMIN_SET_FEATURES, fid, cdw11, dw0, cpl);
}

int nvmeof_ns_get_info(struct nvmeof_ctrl *ctrl, uint32_t nsid, struct nvmeof_ns_info *info)
{
	struct ns_cache_ent ent;
	int rc;

	if (nsid == 0 || nsid == NVME_NSID_ALL)
		return -EINVAL;
	rc = admin_wait_live(ctrl);
	if (rc)
		return rc;
	pthread_mutex_lock(&ctrl->admin_lock);
	rc = ctrl->admin.fd < 0 ? -ENOTCONN : ns_identify_locked(ctrl, nsid, &ent);
	pthread_mutex_unlock(&ctrl->admin_lock);
	if (rc)
		return rc;
	ns_cache_put(ctrl, &ent);
	info->nsid = nsid;
	info->lba_size = 1u << ent.lba_shift;
	info->nsze = ent.nsze;
	return 0;
}
