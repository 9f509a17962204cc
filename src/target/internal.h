/* SPDX-License-Identifier: MIT */
/*
 * Private structures of the target's command layer, shared by its files:
 *
 *   subsystem.c     target, subsystems, namespaces, hosts, ports, snapshot
 *   ctrl.c          controller lifecycle, queues, keep-alive, AEN, error log
 *   core.c          request dispatch and completion, telemetry
 *   fabrics_cmd.c   Connect, Property Get/Set, Disconnect
 *   admin_cmd.c     Identify, Get Log Page, Features, AER, Keep Alive, Abort
 *   io_cmd.c        NVM command set
 *   discovery.c     discovery log page
 *
 * Locking: everything reachable from struct nvmf_tgt (lists, allow lists,
 * controller queue tables) is guarded by tgt->lock. The I/O path takes no
 * lock: it reads the published namespace table with acquire loads and only
 * writes state owned by its reactor (per-queue and per-reactor counters).
 * Per-controller event state (AERs, changed-namespace list, error log) has
 * its own small mutex because it is touched from the control thread and
 * from every queue's reactor on command errors.
 */
#ifndef NVMEOF_TARGET_INTERNAL_H
#define NVMEOF_TARGET_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "crypto/dhchap.h"
#include "target.h"

#define NVMF_VS_VALUE NVME_VS(1, 3, 0)
#define NVMF_FW_REVISION "0.1"
#define NVMF_DEFAULT_MODEL "nvmeof"
#define NVMF_SERIAL_LEN 20
#define NVMF_MODEL_LEN 40
#define NVMF_AERL 3 /* 0's based: four AERs outstanding */
#define NVMF_ACL 3
#define NVMF_ERR_LOG_ENTRIES 128 /* ELPE + 1 */
#define NVMF_CHANGED_NS_MAX 1024
#define NVMF_EVENT_QUEUE 16
#define NVMF_CNTLID_MIN 1
#define NVMF_CNTLID_MAX 0xffef
#define NVMF_MAX_HOST_RECORDS 4096 /* bounds memory spent on unknown host NQNs */
#define NVMF_ADMIN_MAX_DATA 8192
#define NVMF_QUIESCE_RETRY_NS 1000000ull

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ------------------------------------------------------------------ */
/* Counters: one writer, relaxed atomic accesses so readers on other
 * threads see whole values. */

static inline void ctr_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint64_t ctr_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* dst += src, reading src with relaxed loads (dst is private to the caller
 * or guarded by the target lock). */
void nvmf_counters_fold(struct nvmf_io_counters *dst, const struct nvmf_io_counters *src);
struct json_object *nvmf_counters_json(const struct nvmf_io_counters *c);
struct nvmf_gw;

/* Zeroed allocation honouring the 64-byte alignment of the counter structs. */
void *nvmf_zalloc(size_t size);

/* ------------------------------------------------------------------ */
/* Object model                                                        */

/* DH-HMAC-CHAP credentials of a host (auth.c); a controller holds a copy
 * taken at its Connect. */
struct nvmf_host_dhchap {
	bool has_key;
	bool has_ctrl_key; /* bidirectional: the controller proves itself too */
	uint8_t hash; /* HashID the host must offer; 0 = any */
	int8_t dhgroup; /* DHgID the host must offer; -1 = any */
	struct dhchap_key key;
	struct dhchap_key ctrl_key;
};

struct nvmf_host {
	struct nvmf_io_counters stats; /* folded from closed queues */
	char nqn[NVME_NQN_FIELD];
	uint64_t refused;
	uint64_t monitored;
	struct nvme_tls_key *tls_key; /* TLS PSK (wiped on free); tls_kdf for version 0 identities */
	uint8_t tls_kdf;
	struct nvmf_host_dhchap dhchap;
	struct nvmf_host *next;
};

struct nvmf_host_ref {
	struct nvmf_host *host;
	struct nvmf_host_ref *next;
};

/* Per-reactor slice of a namespace: written only by that reactor;
 * io.inflight counts its commands parsed and not yet released. */
struct nvmf_ns_slot {
	struct nvmf_io_counters io;
} __attribute__((aligned(64)));

/* Quiescence check of a retired namespace on one of tgt->reactors. */
struct nvmf_ns_quiesce {
	struct reactor_timer timer;
	struct reactor *reactor;
	struct nvmf_ns *ns;
	unsigned int slot;
};

struct nvmf_ns {
	struct nvmf_ns_slot slot[NVMF_MAX_REACTORS];
	struct nvmf_tgt *tgt;
	uint32_t nsid;
	struct backend *be;
	_Atomic uint64_t nblocks; /* changes when the backend is resized (RBD) */
	uint8_t lbads;
	uint8_t uuid[16];
	uint8_t nguid[16];
	_Atomic uint32_t anagrpid; /* read by the I/O path */
	bool enabled;
	atomic_uint quiesce_left;
	struct nvmf_ns_quiesce quiesce[NVMF_MAX_REACTORS];
	struct nvmf_ns *retire_next; /* tgt->retiring */
};

struct nvmf_subsys {
	struct nvmf_io_counters stats; /* folded from closed queues */
	struct nvmf_tgt *tgt;
	char nqn[NVME_NQN_FIELD];
	char serial[NVMF_SERIAL_LEN + 1];
	char model[NVMF_MODEL_LEN + 1];
	bool allow_any_host;
	bool monitor;
	bool is_discovery;
	bool removed; /* unlinked; freed once its last controller is gone */
	struct nvmf_host_ref *hosts;
	/* Control path view (owns the namespaces) ... */
	struct nvmf_ns *nss[NVMF_MAX_NSID + 1];
	/* ... and what hosts see, read locklessly by the I/O path. */
	_Atomic(struct nvmf_ns *) active[NVMF_MAX_NSID + 1];
	struct nvmf_ctrl *ctrls; /* linked controllers */
	unsigned int nr_ctrls_alive; /* including unlinked ones not yet freed */
	uint16_t next_cntlid;
	uint16_t cntlid_min, cntlid_max; /* nvmet's attr_cntlid_min/max: disjoint ranges for multi-target export */
	struct nvmf_subsys *next;
};

struct nvmf_port {
	struct nvmf_tgt *tgt;
	struct nvmf_port_opts opts;
	struct nvmf_subsys **subsys;
	unsigned int nr_subsys;
	unsigned int cap_subsys;
	struct nvmf_port_opts *referrals;
	unsigned int nr_referrals;
	struct nvmf_sq_priv *sqs; /* every queue that came in on this port */
	unsigned int nr_sqs;
	unsigned int holds; /* listeners (nvmf_port_hold) */
	/* ANA state per group, read locklessly by the I/O path, written under
	 * tgt->lock; ana_listed says which groups the port carries (group 1
	 * always). */
	_Atomic uint8_t ana_state[NVMF_ANA_GRP_MAX + 1];
	bool ana_listed[NVMF_ANA_GRP_MAX + 1];
	bool removed; /* unlinked; freed once its last queue is gone */
	struct nvmf_port *next;
};

/* Command-layer state of one queue (sq->ctrl_link). */
struct nvmf_sq_priv {
	struct nvmf_io_counters stats; /* written by the queue's reactor */
	struct nvmf_sq *sq;
	struct nvmf_port *port;
	struct nvmf_sq_priv *port_next;
	unsigned int slot; /* index into nvmf_ns.slot */
	/* stats.inflight: parsed requests holding a namespace ... */
	struct nvmf_req *held; /* ... linked through held_next/held_prev */
	struct nvmf_auth_sq *auth; /* in-band authentication state, or NULL */
};

struct nvmf_ctrl {
	struct nvmf_io_counters stats; /* folded from closed queues */
	struct nvmf_tgt *tgt;
	struct nvmf_subsys *subsys;
	struct nvmf_host *host;
	struct nvmf_ctrl *next;
	bool linked; /* on subsys->ctrls; cntlid in use */
	bool is_discovery;
	uint16_t cntlid;
	char hostnqn[NVME_NQN_FIELD];
	uint8_t hostid[16];
	struct nvmf_host_dhchap dhchap; /* the host's credentials at Connect */
	char peer[64];
	struct nvmf_port *port; /* port of the admin queue */
	struct reactor *reactor; /* admin queue's reactor */

	/* tgt->lock */
	struct nvmf_sq *sqs[NVMF_MAX_IO_QUEUES + 1];
	unsigned int nr_sqs;
	uint16_t nr_io_queues; /* granted by Set Features 07h */
	bool io_queue_seen;
	bool admin_closed;

	/* Admin reactor only (CSTS is read by I/O queues' parse). */
	uint32_t cc;
	_Atomic uint32_t csts;
	uint32_t kato_ms;
	struct reactor_timer ka_timer;
	bool ka_expired;
	_Atomic uint64_t last_activity_ns;

	/* ev_lock */
	pthread_mutex_t ev_lock;
	uint32_t aec; /* Async Event Configuration */
	uint32_t aen_masked; /* bit per notice type sent and not yet cleared by a log read */
	struct nvmf_req *aer[NVMF_AERL + 1];
	unsigned int nr_aer;
	uint32_t events[NVMF_EVENT_QUEUE];
	unsigned int nr_events;
	uint32_t changed_ns[NVMF_CHANGED_NS_MAX];
	unsigned int nr_changed_ns;
	bool changed_ns_overflow;
	struct nvme_error_log_entry errlog[NVMF_ERR_LOG_ENTRIES];
	unsigned int errlog_next;
	uint64_t err_count;
};

struct nvmf_tgt {
	pthread_mutex_t lock;
	struct nvmf_subsys *subsystems;
	struct nvmf_subsys *disc;
	struct nvmf_subsys *zombies; /* removed subsystems with live controllers */
	struct nvmf_port *ports;
	struct nvmf_port *zombie_ports;
	struct nvmf_host *hosts;
	unsigned int nr_hosts;
	struct reactor *reactors[NVMF_MAX_REACTORS];
	unsigned int nr_reactors;
	uint64_t genctr;
	uint64_t ana_chgcnt; /* ANA log change count (one for all ports, as nvmet) */
	uint64_t audit_refused;
	uint64_t audit_monitored;
	uint64_t start_ns;
	struct nvmf_ns *retiring;
	struct nvmf_auth_worker *auth_worker; /* DH computations off the reactors (auth.c) */
	/* Gateway group (gateway_group.c): the groups whose states it drives, refused to
	 * set-ana-state and reloads (under lock); gw is set before the control server
	 * starts and cleared after it stopped. */
	bool ana_managed[NVMF_ANA_GRP_MAX + 1];
	/* A managed group is served until this CLOCK_MONOTONIC millisecond (its
	 * lease's end, less a margin; 0 = not leased), whatever its ports' states
	 * say: a member frozen past its lease (SIGSTOP, a VM pause) admits no I/O
	 * on resuming, before its fence thread has run. */
	_Atomic uint64_t ana_lease_until_ms[NVMF_ANA_GRP_MAX + 1];
	struct nvmf_gw *gw;
};

static inline struct nvmf_sq_priv *sq_priv(const struct nvmf_sq *sq)
{
	return (struct nvmf_sq_priv *)sq->ctrl_link;
}

/* The namespace hosts see at nsid, or NULL (any thread, lockless). */
static inline struct nvmf_ns *nvmf_ns_active(struct nvmf_subsys *subsys, uint32_t nsid)
{
	if (nsid == 0 || nsid > NVMF_MAX_NSID)
		return NULL;
	return atomic_load_explicit(&subsys->active[nsid], memory_order_acquire);
}

/* subsystem.c (tgt->lock held by the caller for *_locked) */
struct nvmf_host *nvmf_host_get_locked(struct nvmf_tgt *tgt, const char *nqn, bool create);
/* Whether hostnqn may connect; *monitored tells it is admitted by monitor mode only. */
bool nvmf_subsys_host_allowed_locked(struct nvmf_subsys *subsys, const char *hostnqn, bool *monitored);
bool nvmf_port_exports_locked(const struct nvmf_port *port, const struct nvmf_subsys *subsys);
struct nvmf_subsys *nvmf_subsys_find_locked(struct nvmf_tgt *tgt, const char *nqn);
/* GENCTR bump + discovery-log-changed AEN to discovery controllers. */
void nvmf_tgt_disc_changed_locked(struct nvmf_tgt *tgt);
/* A removed subsystem or port whose last user went away is freed. */
void nvmf_subsys_put_locked(struct nvmf_subsys *subsys);
void nvmf_port_put_locked(struct nvmf_port *port);
bool nvmf_subsys_has_volatile_cache(struct nvmf_subsys *subsys);

/* ctrl.c */
struct nvmf_ctrl *nvmf_ctrl_create_locked(struct nvmf_subsys *subsys, struct nvmf_sq *admin_sq,
					  const struct nvmf_connect_data *data, uint32_t kato_ms);
struct nvmf_ctrl *nvmf_ctrl_find_locked(struct nvmf_subsys *subsys, uint16_t cntlid);
void nvmf_ctrl_attach_sq_locked(struct nvmf_ctrl *ctrl, struct nvmf_sq *sq, uint16_t qid);
/* Ask the transport to close every queue of ctrl (thread-safe). */
void nvmf_ctrl_disconnect_locked(struct nvmf_ctrl *ctrl, const char *why);
void nvmf_ctrl_start_keep_alive(struct nvmf_ctrl *ctrl);
void nvmf_ctrl_keep_alive(struct nvmf_ctrl *ctrl);
void nvmf_ctrl_ka_expired(struct reactor_timer *t);
/* Events raised on any thread; delivered on the admin queue's reactor. */
void nvmf_ctrl_ns_changed_locked(struct nvmf_ctrl *ctrl, uint32_t nsid);
void nvmf_ctrl_disc_changed_locked(struct nvmf_ctrl *ctrl);
void nvmf_ctrl_ana_changed_locked(struct nvmf_ctrl *ctrl);
/* Park an AER (admin reactor); returns a status to fail it with, or 0. */
uint16_t nvmf_ctrl_queue_aer(struct nvmf_ctrl *ctrl, struct nvmf_req *req);
void nvmf_ctrl_deliver_events(void *arg);
/* Complete held AERs with ABORT_SQ_DELETED (controller reset). */
void nvmf_ctrl_abort_aers(struct nvmf_ctrl *ctrl);
void nvmf_ctrl_log_error(struct nvmf_ctrl *ctrl, const struct nvmf_req *req, uint16_t status);
/* Copy of the changed-NS list; clears it (and the AEN mask) when clear. */
void nvmf_ctrl_take_changed_ns(struct nvmf_ctrl *ctrl, uint32_t *list, bool clear);
void nvmf_ctrl_unmask_aen(struct nvmf_ctrl *ctrl, uint32_t notice);
void nvmf_ctrl_copy_errlog(struct nvmf_ctrl *ctrl, struct nvme_error_log_entry *out);
/* Live + folded counters of a controller (tgt->lock held). */
void nvmf_ctrl_stats_locked(struct nvmf_ctrl *ctrl, struct nvmf_io_counters *out);
void nvmf_ctrl_free(struct nvmf_ctrl *ctrl);

/* core.c */
void nvmf_req_hold_ns(struct nvmf_req *req, struct nvmf_ns *ns);
/* Drop every namespace reference still held by requests of sq (closing). */
void nvmf_sq_drop_held(struct nvmf_sq *sq);

/* Command families: parse returns 0 (req->execute set) or a status. */
uint16_t nvmf_fabrics_parse(struct nvmf_req *req);
uint16_t nvmf_admin_parse(struct nvmf_req *req);
uint16_t nvmf_io_parse(struct nvmf_req *req);
uint16_t nvmf_disc_parse(struct nvmf_req *req);
void nvmf_admin_identify_ctrl(struct nvmf_req *req, struct nvme_id_ctrl *id);

/* auth.c: DH-HMAC-CHAP on every queue of a controller whose host has a key. */
struct nvmf_auth_sq;
/* Authentication Send / Receive (fctype 05h / 06h). */
uint16_t nvmf_auth_parse(struct nvmf_req *req);
/* Per-queue state for a Connect, allocated before the target lock is taken. */
struct nvmf_auth_sq *nvmf_auth_sq_alloc(void);
/* The queue was just bound to sq->ctrl (its reactor): if the controller
 * needs authentication, install *auth (taking it, *auth = NULL) and arm the
 * transaction's deadline. Returns whether the host must authenticate (ATR). */
bool nvmf_auth_queue_connected(struct nvmf_sq *sq, struct nvmf_auth_sq **auth);
/* Commands other than Connect and Authentication Send/Receive must wait. */
bool nvmf_auth_pending(const struct nvmf_sq *sq);
void nvmf_auth_sq_free(struct nvmf_sq *sq, struct nvmf_auth_sq *auth);
/* Stop the DH worker thread (target teardown, after the reactors). */
void nvmf_auth_worker_stop(struct nvmf_tgt *tgt);
void nvmf_host_dhchap_wipe(struct nvmf_host_dhchap *d);

/* discovery.c: bytes [offset, offset+len) of the discovery log for ctrl,
 * written to buf (tgt->lock held). */
void nvmf_disc_log_read_locked(struct nvmf_ctrl *ctrl, const struct nvmf_sq *sq, uint8_t *buf,
			       uint64_t offset, uint32_t len, uint64_t *log_size);

/* ana.c */
void nvmf_port_ana_init(struct nvmf_port *port);
/* As nvmf_port_set_ana_state, for the gateway group's own groups. */
int nvmf_port_set_ana_state_gw(struct nvmf_port *port, uint32_t grpid, uint8_t state);

/* gateway_group.c */
struct json_object *nvmf_gw_snapshot(struct nvmf_gw *gw);
/* Status for I/O to ns through port: 0, or the SCT 3 ANA status the host
 * retries on another path (no DNR). Lockless; the I/O path calls it at
 * parse and again right before the backend is reached. */
static inline uint64_t nvmf_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* grpid's state on port (1..NVMF_ANA_GRP_MAX), inaccessible once a gateway group's lease ran out. */
static inline uint8_t nvmf_port_ana_state_now(const struct nvmf_port *port, uint32_t grpid)
{
	uint8_t state = atomic_load_explicit(&port->ana_state[grpid], memory_order_acquire);
	uint64_t until = atomic_load_explicit(&port->tgt->ana_lease_until_ms[grpid], memory_order_acquire);

	if (until && state != NVME_ANA_INACCESSIBLE && nvmf_mono_ms() >= until)
		return NVME_ANA_INACCESSIBLE;
	return state;
}

static inline uint16_t nvmf_ana_admit(const struct nvmf_port *port, const struct nvmf_ns *ns)
{
	uint32_t grpid = atomic_load_explicit(&ns->anagrpid, memory_order_acquire);
	uint8_t state;

	if (!port || grpid == 0 || grpid > NVMF_ANA_GRP_MAX)
		return 0;
	state = nvmf_port_ana_state_now(port, grpid);
	switch (state) {
	case NVME_ANA_INACCESSIBLE:
		return NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_INACCESSIBLE);
	case NVME_ANA_PERSISTENT_LOSS:
		return NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_PERSISTENT_LOSS);
	case NVME_ANA_CHANGE:
		return NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_TRANSITION);
	default:
		return 0;
	}
}
/*
 * The ANA log page for controllers of subsys on port (tgt->lock held):
 * writes at most cap bytes to buf and returns the log's full size. rgo:
 * Return Groups Only (no NSID lists). Lists group 1, every group some port
 * carries, and every group a namespace of subsys is in, ascending.
 */
size_t nvmf_ana_log_build_locked(struct nvmf_subsys *subsys, struct nvmf_port *port, bool rgo, uint8_t *buf,
				 size_t cap);
/* Largest ANA log: header, every group, every NSID. */
#define NVMF_ANA_LOG_MAX \
	(sizeof(struct nvme_ana_log_hdr) + NVMF_ANA_GRP_MAX * sizeof(struct nvme_ana_group_desc) + NVMF_MAX_NSID * 4)

/* Shared Get Log Page header decoding (admin_cmd.c). */
struct nvmf_log_req {
	uint8_t lid;
	bool rae;
	uint64_t offset;
	uint32_t len;
};
uint16_t nvmf_log_req_decode(struct nvmf_req *req, struct nvmf_log_req *lr);
void nvmf_exec_get_features(struct nvmf_req *req);
void nvmf_exec_set_features(struct nvmf_req *req);
void nvmf_exec_aer(struct nvmf_req *req);
void nvmf_exec_keep_alive(struct nvmf_req *req);
uint16_t nvmf_features_parse(struct nvmf_req *req);
void nvmf_c2h_window(struct nvmf_req *req, const void *src, uint64_t src_len, uint64_t offset, uint32_t len);

#endif
