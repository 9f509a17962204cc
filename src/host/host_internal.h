/* SPDX-License-Identifier: MIT */
/*
 * Host library internals: the blocking "sync" connection used by the admin
 * queue and by Connect on new I/O connections, the non-blocking I/O queue
 * engine, and the controller that ties them together.
 */
#ifndef NVMEOF_HOST_INTERNAL_H
#define NVMEOF_HOST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "nvmeof/host.h"
#include "proto/nvme_spec.h"
#include "proto/nvme_tcp.h"

#define HOST_LOG "host"
#define HOST_ADMIN_SQSIZE 32
#define HOST_MAX_XFER (4u << 20) /* our own cap on one command's data */
#define HOST_MAX_NLB 65536u /* NLB is a 16-bit 0's based field */
#define HOST_MAX_QUEUE_SIZE 4096u /* CID: 12 bits slot index, 4 bits generation */
#define HOST_CID_SLOT_BITS 12
#define HOST_HDR_BUF 128 /* CapsuleCmd 72 + digest 4, padded to CPDA ≤ 128 */
#define HOST_MAX_NS_CACHE 64

static inline uint64_t host_now_ns(void);

/* ---- split.c: pure helpers (unit tested) ---- */

/* Largest blocks per read/write command: min(NLB field, max_xfer / lba). */
uint32_t host_max_blocks(uint32_t max_xfer, uint32_t lba_shift);
/* Number of commands a transfer of nlb blocks needs (nlb ≥ 1). */
uint32_t host_split_count(uint32_t nlb, uint32_t max_blocks);
/* MDTS (units of the minimum page size 2^(12+mpsmin)) to bytes; 0 = unlimited -> cap. */
uint32_t host_mdts_bytes(uint8_t mdts, uint8_t mpsmin, uint32_t cap);
/* In-capsule data limit from IOCCSZ (16-byte units): ioccsz*16 - 64, 0 if smaller. */
uint32_t host_incapsule_bytes(uint32_t ioccsz);
/* CID from slot and generation, and back. */
static inline uint16_t host_cid_make(uint16_t slot, uint8_t gen)
{
	return (uint16_t)(slot | ((unsigned)(gen & 0xf) << HOST_CID_SLOT_BITS));
}
static inline uint16_t host_cid_slot(uint16_t cid) { return cid & ((1u << HOST_CID_SLOT_BITS) - 1); }
static inline uint8_t host_cid_gen(uint16_t cid) { return (uint8_t)(cid >> HOST_CID_SLOT_BITS); }

/* ---- tls.c: TLS 1.3 with a pre-shared key, client side ---- */
struct host_tls_cfg; /* PSK, identity and libssl context of one controller */
struct host_tls; /* one connection's TLS session */

/* From opts->tls_key (+ identity options, hostnqn, subnqn). 0, -EINVAL, -ENOMEM. */
int host_tls_cfg_new(const struct nvmeof_ctrl_opts *opts, struct host_tls_cfg **out);
void host_tls_cfg_free(struct host_tls_cfg *cfg); /* wipes the PSK */
const char *host_tls_cfg_identity(const struct host_tls_cfg *cfg);
/*
 * Client handshake on connected fd before deadline_ns (the thread's cancel
 * fd honoured). -ECONNREFUSED when the controller did not accept the PSK
 * (logged as such), -ETIMEDOUT, -ECANCELED, -ENOMEM.
 */
int host_tls_handshake(int fd, const struct host_tls_cfg *cfg, const char *peer, uint16_t qid,
		       uint64_t deadline_ns, struct host_tls **out);
void host_tls_free(struct host_tls *tls); /* does not close fd */
/*
 * Like sendmsg(MSG_DONTWAIT): bytes of iov now owned by the TLS layer (sent
 * or staged), -EAGAIN (wait for host_tls_want()) or -errno. Staged bytes go
 * out on a later call (iovcnt may be 0): loop while host_tls_unsent().
 */
ssize_t host_tls_sendv(struct host_tls *tls, const struct iovec *iov, int iovcnt);
bool host_tls_unsent(const struct host_tls *tls);
/* Like recv(MSG_DONTWAIT): bytes, -EAGAIN, -ECONNRESET (closed), -EPROTO, -errno. */
ssize_t host_tls_recv(struct host_tls *tls, void *buf, size_t len);
/* Decrypted or received bytes buffered in the layer: poll() on the fd would not see them. */
bool host_tls_pending(const struct host_tls *tls);
/* Poll events the last -EAGAIN waits for. */
short host_tls_want(const struct host_tls *tls);

/* ---- sock.c ---- */
int sock_connect(const char *addr, const char *port, int timeout_ms, char *peer, size_t peerlen);
/* Blocking with a deadline; through tls when it is not NULL. */
int sock_send_all(int fd, struct host_tls *tls, const struct iovec *iov, int iovcnt,
		  uint64_t deadline_ns);
int sock_recv_all(int fd, struct host_tls *tls, void *buf, size_t len, uint64_t deadline_ns);
/* Wait for events on fd (or the cancel fd, -ECANCELED) until deadline_ns. */
int sock_wait_fd(int fd, short events, uint64_t deadline_ns);
int sock_set_nonblock(int fd, bool on);
/*
 * The calling thread's blocking waits above (connect, send, receive) end
 * with -ECANCELED as soon as fd is readable; -1 = none. The controller
 * thread names its stop eventfd, so that a disconnect never waits for a
 * keep-alive or a reconnect attempt to time out.
 */
void sock_set_cancel_fd(int fd);

/* ---- sync.c: one command at a time, blocking ---- */
struct sync_conn {
	int fd;
	struct host_tls *tls; /* NULL: plain TCP */
	uint16_t qid;
	uint16_t next_cid;
	struct nvme_tcp_conn_params params;
	char peer[64];
};

/* tls: NULL for plain TCP, else the TLS handshake precedes the ICReq. */
int sync_conn_open(struct sync_conn *sc, const char *addr, const char *port, uint16_t qid,
		   bool hdgst, bool ddgst, const struct host_tls_cfg *tls, int timeout_ms);
void sync_conn_close(struct sync_conn *sc);
/*
 * Send sqe (cid and SGL are filled here) with data to or from buf, wait for
 * its completion. Returns 0 with *cpl filled (cpl->status may be nonzero),
 * or -errno on a transport failure (the connection is then unusable).
 */
int sync_conn_cmd(struct sync_conn *sc, struct nvme_sqe *sqe, void *buf, uint32_t len,
		  bool write, int timeout_ms, struct nvmeof_cpl *cpl);
/* Fabrics Connect on sc (qid from sc). *cntlid in/out. */
int sync_conn_fabrics_connect(struct sync_conn *sc, const struct nvmeof_ctrl_opts *opts,
			      uint16_t sqsize, uint32_t kato_ms, uint16_t *cntlid,
			      int timeout_ms, struct nvmeof_cpl *cpl);

/* ---- qpair.c ---- */
enum req_state {
	REQ_FREE,
	REQ_WAITING, /* allocated, not on the wire: waits for a connection */
	REQ_SENT, /* command on the wire, completion pending */
	REQ_WAIT_CHILDREN, /* own command done, other parts of the split still running */
};

struct host_req {
	uint8_t cmd_hdr[HOST_HDR_BUF]; /* CapsuleCmd PDU header (+digest, padding) */
	uint8_t h2c_hdr[HOST_HDR_BUF]; /* the H2CData PDU being sent */
	uint32_t cmd_ddgst; /* little-endian data digests */
	uint32_t h2c_ddgst;
	uint8_t *buf;
	uint32_t len; /* data bytes of this command */
	uint16_t idx;
	uint8_t gen;
	uint8_t state;
	bool c2h; /* controller-to-host data */
	bool incapsule;
	bool ddgst_err;
	uint8_t in_ring; /* PDUs of this request still in the send ring */
	uint16_t cid; /* CID of the current send attempt */
	uint32_t xfer_next; /* read: next expected DATAO; write: bytes already sent */
	uint32_t r2t_end; /* end of the current R2T window */
	uint16_t ttag;
	uint16_t parent; /* slot of the first part of a split transfer */
	uint16_t parts_left; /* on the parent: parts not yet completed */
	uint64_t deadline_ns;
	struct nvmeof_cpl cpl; /* on the parent: aggregated */
	nvmeof_cb cb;
	void *cb_arg;
	struct nvme_dsm_range dsm; /* payload of a deallocate */
};

struct send_ent {
	struct iovec iov;
	struct host_req *req; /* set on the last iovec of a PDU */
	uint8_t kind; /* SEND_MID, SEND_CMD_END, SEND_H2C_END */
};

enum { SEND_MID, SEND_CMD_END, SEND_H2C_END };

enum rx_state { RX_HDR, RX_DATA, RX_DDGST, RX_TERM };

struct nvmeof_qpair {
	struct nvmeof_ctrl *ctrl;
	uint16_t qid;
	int fd; /* -1 while disconnected */
	struct host_tls *tls; /* with fd when the connection is TLS */
	unsigned int epoch; /* ctrl epoch this qpair last synced to */
	struct nvme_tcp_conn_params params;
	uint32_t incapsule_max;
	uint32_t max_xfer;

	struct host_req *reqs;
	uint16_t *free_stack;
	unsigned int nslots, nfree;
	unsigned int outstanding; /* caller-visible requests not yet completed */

	struct send_ent *ring;
	uint32_t ring_mask, ring_head, ring_tail;
	struct iovec *iov_scratch;

	uint8_t *rxbuf;
	uint32_t rx_cap, rx_start, rx_end;
	enum rx_state rx_state;
	uint8_t rx_hdr[256];
	uint32_t rx_hdr_got, rx_hdr_need;
	struct host_req *rx_req;
	uint32_t rx_data_left;
	uint8_t *rx_dst;
	uint32_t rx_crc;
	uint8_t rx_ddgst[4];
	uint32_t rx_ddgst_got;
	uint8_t rx_flags;

	uint64_t now_ns; /* cached per poll */
	uint64_t next_tmo_check_ns;
	uint64_t io_timeout_ns;
	unsigned int completions; /* counted during one poll */
	unsigned int max_completions;
	bool closing; /* being torn down: no new submissions */
	bool failing; /* inside qp_fail_requests */

	uint32_t cache_nsid; /* last namespace looked up */
	uint32_t cache_lba_shift;

	/* Connection handed over by the controller thread after a reconnect. */
	pthread_mutex_t handoff_lock;
	int handoff_fd;
	struct host_tls *handoff_tls;
	unsigned int handoff_epoch;
	struct nvme_tcp_conn_params handoff_params;
};

int qpair_init(struct nvmeof_qpair *qp, struct nvmeof_ctrl *ctrl, uint16_t qid, unsigned int nslots);
void qpair_destroy(struct nvmeof_qpair *qp);
/* Adopt a connected fd and its TLS session or NULL (Connect already done). */
void qpair_attach(struct nvmeof_qpair *qp, int fd, struct host_tls *tls,
		  const struct nvme_tcp_conn_params *params);
/* Complete everything outstanding with err (teardown). */
void qpair_cancel_all(struct nvmeof_qpair *qp, int err);

/* ---- ctrl.c ---- */
struct ns_cache_ent {
	uint32_t nsid;
	uint32_t lba_shift;
	uint64_t nsze;
};

struct nvmeof_ctrl {
	struct nvmeof_ctrl_opts opts; /* tls_key and tls_key_identity NULL: only tls_cfg keeps the secret */
	struct host_tls_cfg *tls_cfg; /* NULL without TLS */
	char traddr[256];
	char trsvcid[32];
	char subnqn[NVME_NQN_FIELD];
	char dhchap_secret[128]; /* opts.dhchap_* point here */
	char dhchap_ctrl_secret[128];
	uint16_t cntlid;
	uint32_t max_xfer;
	uint32_t incapsule_max;
	uint32_t maxh2cdata;
	unsigned int nr_io_queues;
	unsigned int queue_size;
	uint8_t mpsmin;
	uint32_t cap_to_ms;

	pthread_mutex_t admin_lock; /* serializes admin commands */
	struct sync_conn admin;

	struct nvmeof_qpair *qpairs;

	_Atomic int state; /* enum nvmeof_ctrl_state */
	atomic_uint epoch; /* bumped when all connections must be dropped */
	atomic_uint failed_epoch; /* newest epoch in which a queue saw its connection fail */
	_Atomic uint64_t lost_at_ns; /* 0 while live */
	atomic_uint reconnects;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* protects stop and the condition */
	pthread_cond_t cond;
	bool stop;
	int stop_fd; /* eventfd, readable once disconnect began: cancels the thread's socket waits */

	/*
	 * Callers waiting for the recovery to make progress sleep here; never
	 * held across anything that blocks, so a waiter's timeout holds.
	 */
	pthread_mutex_t event_lock;
	pthread_cond_t event_cond;
	atomic_uint events; /* bumped on a state change or a reported failure */

	pthread_mutex_t ns_lock;
	struct ns_cache_ent ns[HOST_MAX_NS_CACHE];
	unsigned int nr_ns;
};

/* A connection of `epoch` failed: starts the reconnect logic (stale epochs are ignored). */
void ctrl_report_failure(struct nvmeof_ctrl *ctrl, unsigned int epoch);
/* Wake everyone in ctrl_wait_event(): the state changed or a queue failed. */
void ctrl_notify(struct nvmeof_ctrl *ctrl);
/*
 * Sleep until ctrl->events differs from `seen` (read it before checking the
 * condition waited for) or until deadline_ns (CLOCK_MONOTONIC, UINT64_MAX =
 * none). Spurious returns are possible: callers re-check and loop.
 */
void ctrl_wait_event(struct nvmeof_ctrl *ctrl, unsigned int seen, uint64_t deadline_ns);
/* When fast_io_fail_tmo expires for the current loss, 0 if it cannot (live, or -1). */
uint64_t ctrl_fast_fail_at(struct nvmeof_ctrl *ctrl);
/* Shared by the controller and the unit tests' hand-built controllers. */
void ctrl_event_init(struct nvmeof_ctrl *ctrl);
void ctrl_event_destroy(struct nvmeof_ctrl *ctrl);
/*
 * Get Log Page (nsid 0, offset 0) that returns -EAGAIN at once rather than
 * wait while the controller is not live or a reconnect holds the admin queue.
 */
int ctrl_get_log_nowait(struct nvmeof_ctrl *ctrl, uint8_t lid, void *buf, uint32_t len,
			struct nvmeof_cpl *cpl);
/* Block size shift for nsid, or -EINVAL if unknown. */
int ctrl_ns_lba_shift(struct nvmeof_ctrl *ctrl, uint32_t nsid);

/* ---- multipath.c: pure helpers (unit tested) ---- */

/* Usability class of a path: lower is better; MP_CLASS_DOWN and above take no I/O. */
enum mp_class {
	MP_CLASS_OPTIMIZED = 0,
	MP_CLASS_NON_OPTIMIZED = 1,
	MP_CLASS_DOWN = 2, /* connection down, or ANA inaccessible / persistent loss / change */
	MP_CLASS_DEAD = 3, /* ctrl_loss_tmo expired */
};

/* Class from the controller state, whether a failure is pending, and the ANA state. */
enum mp_class mpath_path_class(enum nvmeof_ctrl_state state, bool failure_pending, uint8_t ana_state);
/*
 * Path for the next command among n (cls[i], depth[i] its outstanding
 * commands), skipping those in skip_mask: the best class first, then the
 * policy; *rr is the round-robin cursor (the last path picked). Returns the
 * index, -EBUSY if none is usable now, -ENODEV if every path is dead.
 */
int mpath_select(const uint8_t *cls, const unsigned int *depth, unsigned int n, uint32_t skip_mask,
		 enum nvmeof_iopolicy policy, unsigned int *rr);

enum mp_action {
	MP_COMPLETE, /* success, or an error another path would not change */
	MP_RETRY_ANA, /* ANA path status: re-read that path's ANA log, try another path */
	MP_RETRY_PATH, /* the path failed (connection lost, controller gone): try another */
};
enum mp_action mpath_retry_action(int err, uint16_t status);
/* ANA state a path status implies for the path it came from (0: none). */
uint8_t mpath_status_ana_state(uint16_t status);
/*
 * The state of group grpid in an ANA log of len bytes; -ENOENT if absent,
 * -EPROTO if the log is malformed.
 */
int mpath_ana_log_state(const void *log, size_t len, uint32_t grpid, uint8_t *state);

#include <time.h>
static inline uint64_t host_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
