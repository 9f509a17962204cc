/* SPDX-License-Identifier: MIT */
/*
 * nvmeof host library: a userspace NVMe/TCP initiator.
 *
 * A controller (struct nvmeof_ctrl) is one admin queue plus N I/O queue pairs,
 * each its own TCP connection. The admin queue belongs to a small background
 * thread that sends keep-alives and reconnects after a failure; admin calls
 * here are synchronous and may be made from any thread.
 *
 * An I/O queue pair (struct nvmeof_qpair) is owned by one thread at a time:
 * submit calls queue commands without a system call, nvmeof_qpair_poll()
 * sends everything queued in one batch, reads what arrived and runs the
 * completion callbacks (from inside the poll call). Transfers larger than
 * the controller's MDTS are split and completed to the caller as one.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure. A command that reached the controller reports its NVMe status in
 * struct nvmeof_cpl; transport failures (timeout, connection lost while
 * fast_io_fail_tmo expired, controller gone) arrive as cpl->err.
 */
#ifndef NVMEOF_HOST_H
#define NVMEOF_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NVMEOF_NQN_MAX 223
#define NVMEOF_DISC_PORT "8009"
#define NVMEOF_IO_PORT "4420"

struct nvmeof_ctrl_opts {
	const char *traddr; /* IPv4/IPv6 address or host name */
	const char *trsvcid; /* port, default "4420" */
	const char *subnqn; /* subsystem NQN (the discovery NQN for discovery) */
	char hostnqn[NVMEOF_NQN_MAX + 1]; /* empty: nvmeof_default_host_id() */
	uint8_t hostid[16]; /* all zero: nvmeof_default_host_id() */
	unsigned int nr_io_queues; /* 0: admin queue only (discovery) */
	unsigned int queue_size; /* I/O queue entries, default 128 */
	bool hdr_digest;
	bool data_digest;
	unsigned int kato_ms; /* keep-alive timeout, 0 = none; default 5000 */
	int reconnect_delay_s; /* default 10 */
	int ctrl_loss_tmo_s; /* default 600; -1 = reconnect forever */
	int fast_io_fail_tmo_s; /* default -1 = I/O waits for the reconnect */
	unsigned int io_timeout_ms; /* per command, default 30000 */
	unsigned int admin_timeout_ms; /* per command, default 60000 */
	unsigned int connect_timeout_ms; /* TCP + ICReq + Connect, default 10000 */

	/*
	 * NVMe/TCP secure channel: TLS 1.3 with a pre-shared key on every queue.
	 * tls_key (interchange format "NVMeTLSkey-1:HH:...:", implies tls) is the
	 * configured PSK: the PSK identity and the TLS PSK are derived from it
	 * for hostnqn and subnqn as the Linux host does. With tls_key_identity
	 * that identity is sent instead and the key's bytes are the TLS PSK as
	 * they are. Both strings are only read during nvmeof_ctrl_connect().
	 */
	bool tls;
	const char *tls_key;
	const char *tls_key_identity;
	unsigned int tls_identity_version; /* 0: "NVMe0R.." or 1 (default): "NVMe1R.. ... DIGEST" */
	unsigned int tls_kdf; /* enum nvmeof_tls_kdf: HKDF label encoding of the derivation */

	/*
	 * DH-HMAC-CHAP secrets in the interchange format ("DHHC-1:HH:...:"),
	 * NULL for none. Every queue authenticates after its Connect when the
	 * controller asks for it (as the Linux host does); with a controller
	 * secret it always does, and the controller must prove its own key
	 * (bidirectional). A refusal fails the connection with -EACCES.
	 */
	const char *dhchap_secret;
	const char *dhchap_ctrl_secret;
};

enum nvmeof_tls_kdf {
	NVMEOF_TLS_KDF_LIBNVME = 0, /* libnvme <= 1.13 (nvme-cli 2.13, Linux 6.12 setups): default */
	NVMEOF_TLS_KDF_RFC8446 = 1, /* RFC 8446 HkdfLabel (later libnvme) */
};

/* NVMe completion as the caller sees it. */
struct nvmeof_cpl {
	int err; /* 0, or -errno when the command did not complete on the controller */
	uint16_t status; /* (SCT << 8) | SC, plus NVMEOF_STATUS_DNR; 0 = success */
	uint32_t dw0; /* command specific result */
	uint32_t dw1; /* upper half of 64-bit results (Property Get) */
};

#define NVMEOF_STATUS_DNR 0x4000
#define NVMEOF_STATUS_SCT(s) (((s) >> 8) & 0x7)
#define NVMEOF_STATUS_SC(s) ((s) & 0xff)

/* Generic admin command: the fields of the SQE a caller may choose. */
struct nvmeof_admin_cmd {
	uint8_t opcode;
	uint32_t nsid;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

enum nvmeof_ctrl_state {
	NVMEOF_CTRL_LIVE,
	NVMEOF_CTRL_RECONNECTING,
	NVMEOF_CTRL_DEAD, /* ctrl_loss_tmo expired: every I/O fails with -ENODEV */
};

struct nvmeof_ctrl_info {
	uint16_t cntlid;
	uint32_t max_xfer; /* bytes per command (MDTS, capped by the library) */
	uint32_t incapsule_max; /* bytes of write data sent inside the command capsule */
	uint32_t maxh2cdata; /* from ICResp of the first I/O queue (admin if none) */
	unsigned int nr_io_queues; /* granted by the controller */
	unsigned int queue_size; /* after clamping to CAP.MQES and MAXCMD */
	enum nvmeof_ctrl_state state;
	unsigned int reconnects; /* successful reconnections so far */
};

struct nvmeof_ns_info {
	uint32_t nsid;
	uint32_t lba_size; /* bytes */
	uint64_t nsze; /* blocks */
};

/* I/O flags */
#define NVMEOF_IO_FUA (1u << 0) /* write / write zeroes: durable before completion */
#define NVMEOF_IO_DEAC (1u << 1) /* write zeroes: deallocate too */

struct nvmeof_ctrl;
struct nvmeof_qpair;

typedef void (*nvmeof_cb)(void *cb_arg, const struct nvmeof_cpl *cpl);

/* Defaults (documented above); traddr and subnqn stay NULL. */
void nvmeof_ctrl_opts_init(struct nvmeof_ctrl_opts *opts);

/*
 * Host NQN and ID: /etc/nvme/hostnqn and /etc/nvme/hostid if present, else a
 * random UUID with nqn "nqn.2014-08.org.nvmexpress:uuid:<uuid>" and the same
 * UUID as host ID (newer kernels require that pairing).
 */
int nvmeof_default_host_id(char hostnqn[NVMEOF_NQN_MAX + 1], uint8_t hostid[16]);

/* Parse / print "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
int nvmeof_uuid_parse(const char *s, uint8_t uuid[16]);
void nvmeof_uuid_format(const uint8_t uuid[16], char out[37]);

/*
 * Connect the admin queue and nr_io_queues I/O queues, enable the controller
 * and start keep-alives. Fails with -ECONNREFUSED, -ETIMEDOUT, -EPROTO,
 * -EREMOTEIO (the controller refused Connect: cpl, if given, says why), ...
 */
int nvmeof_ctrl_connect(const struct nvmeof_ctrl_opts *opts, struct nvmeof_ctrl **out,
			struct nvmeof_cpl *cpl);

/*
 * Shut the controller down (CC.SHN, wait for CSTS.SHST), close every
 * connection and free everything. No qpair may be in use concurrently;
 * requests still outstanding complete with -ECANCELED.
 */
void nvmeof_ctrl_disconnect(struct nvmeof_ctrl *ctrl);

void nvmeof_ctrl_get_info(struct nvmeof_ctrl *ctrl, struct nvmeof_ctrl_info *info);
const char *nvmeof_ctrl_state_name(enum nvmeof_ctrl_state state);
/* Current state: one atomic load, cheap enough for a polling loop. */
enum nvmeof_ctrl_state nvmeof_ctrl_get_state(struct nvmeof_ctrl *ctrl);

/*
 * Sleep while the controller recovers from a lost connection (reconnecting,
 * or a queue failed and the reconnect is about to start). Returns 0 once it
 * is live again, at once and without a system call if nothing failed;
 * -ENODEV if it is dead; -EAGAIN after timeout_ms (-1 = no limit) or when
 * fast_io_fail_tmo expires, so that the caller can poll its queues (which
 * fails the waiting I/O) and call again. Sleeps on a condition the reconnect
 * thread signals: a caller never spins while a reconnect is pending.
 */
int nvmeof_ctrl_wait_recovery(struct nvmeof_ctrl *ctrl, int timeout_ms);

/*
 * Synchronous admin command. data/len: buffer for the transfer, host to
 * controller when write is true (at most 8 KiB). Returns 0, -EREMOTEIO when
 * the controller completed it with an error status (in *cpl), or -errno.
 */
int nvmeof_admin(struct nvmeof_ctrl *ctrl, const struct nvmeof_admin_cmd *cmd, void *data,
		 uint32_t len, bool write, struct nvmeof_cpl *cpl);

/* Identify (4096 bytes into buf). */
int nvmeof_identify(struct nvmeof_ctrl *ctrl, uint8_t cns, uint32_t nsid, void *buf,
		    struct nvmeof_cpl *cpl);
/* Get Log Page from byte offset lpo (dword aligned), len a multiple of 4. */
int nvmeof_get_log_page(struct nvmeof_ctrl *ctrl, uint8_t lid, uint32_t nsid, uint64_t lpo,
			void *buf, uint32_t len, struct nvmeof_cpl *cpl);
int nvmeof_get_features(struct nvmeof_ctrl *ctrl, uint8_t fid, uint32_t cdw11, uint32_t *dw0,
			struct nvmeof_cpl *cpl);
int nvmeof_set_features(struct nvmeof_ctrl *ctrl, uint8_t fid, uint32_t cdw11, uint32_t *dw0,
			struct nvmeof_cpl *cpl);

/*
 * Identify namespace nsid and remember its block size for I/O. Namespaces
 * active at connect time are already known; call this for ones added later.
 * -ENODEV if the namespace is not active.
 */
int nvmeof_ns_get_info(struct nvmeof_ctrl *ctrl, uint32_t nsid, struct nvmeof_ns_info *info);

/* I/O queue pair idx (0 .. nr_io_queues-1), NULL if out of range. */
struct nvmeof_qpair *nvmeof_ctrl_get_qpair(struct nvmeof_ctrl *ctrl, unsigned int idx);

/*
 * Asynchronous I/O. nlb is a block count (1-based). The buffer must stay
 * valid until the callback ran. -EAGAIN: not enough free queue entries (poll
 * and retry), -EINVAL: bad arguments or unknown namespace, -ENODEV: the
 * controller is dead, -EIO: disconnected and fast_io_fail_tmo expired.
 */
int nvmeof_read(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf,
		nvmeof_cb cb, void *cb_arg);
int nvmeof_write(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
		 const void *buf, unsigned int io_flags, nvmeof_cb cb, void *cb_arg);
int nvmeof_write_zeroes(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
			unsigned int io_flags, nvmeof_cb cb, void *cb_arg);
int nvmeof_deallocate(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
		      nvmeof_cb cb, void *cb_arg);
int nvmeof_flush(struct nvmeof_qpair *qp, uint32_t nsid, nvmeof_cb cb, void *cb_arg);

/*
 * Compare: the controller reads nlb blocks at slba and compares them with
 * buf; a mismatch completes with status (SCT 2, SC 0x85) Compare Failure.
 */
int nvmeof_compare(struct nvmeof_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
		   const void *buf, nvmeof_cb cb, void *cb_arg);

/* One Dataset Management range, little-endian as it goes on the wire. */
struct nvmeof_dsm_range {
	uint32_t cattr; /* context attributes */
	uint32_t nlb; /* blocks (1-based) */
	uint64_t slba;
};

#define NVMEOF_DSM_IDR (1u << 0) /* integral dataset for read */
#define NVMEOF_DSM_IDW (1u << 1) /* integral dataset for write */
#define NVMEOF_DSM_AD (1u << 2) /* deallocate */

/*
 * Dataset Management with nr (1..256) ranges and attributes attr (cdw11,
 * NVMEOF_DSM_*). ranges must stay valid until the callback ran.
 */
int nvmeof_dsm(struct nvmeof_qpair *qp, uint32_t nsid, uint32_t attr,
	       const struct nvmeof_dsm_range *ranges, unsigned int nr, nvmeof_cb cb, void *cb_arg);

/*
 * Send what was queued, receive and complete up to max commands (0 = no
 * limit) without blocking. Returns the number of caller-visible completions.
 */
int nvmeof_qpair_poll(struct nvmeof_qpair *qp, unsigned int max);

/*
 * Like poll, but sleeps up to timeout_ms (-1 = forever) for a completion.
 * While the queue is disconnected it sleeps until the reconnect hands it a
 * new connection, the controller dies or fast_io_fail_tmo expires.
 */
int nvmeof_qpair_wait(struct nvmeof_qpair *qp, int timeout_ms);

/* Requests submitted and not yet completed to the caller. */
unsigned int nvmeof_qpair_outstanding(const struct nvmeof_qpair *qp);

/* Free queue entries (a split transfer takes several). */
unsigned int nvmeof_qpair_free_slots(const struct nvmeof_qpair *qp);

/*
 * Multipath: one namespace reached through several controllers of one
 * subsystem (paths), e.g. two target instances or two ports. Every path is
 * a struct nvmeof_ctrl of its own (keep-alive, reconnect, ctrl_loss_tmo);
 * the paths must report the same subsystem NQN and the same namespace
 * identifiers (NGUID, EUI-64, UUID), else the path is refused.
 *
 * I/O goes to a path whose ANA state for the namespace's group is
 * optimized, else non-optimized; never to an inaccessible, persistent-loss
 * or changing one, nor to a path whose connection is down. Among equals the
 * iopolicy picks: round-robin or least queue depth. ANA states come from the
 * ANA log page of each path, read at connect, every ana_poll_ms and at once
 * when a command completes with an ANA path status.
 *
 * A command that completes with a path status (SCT 3, DNR clear) or fails
 * because its path's connection died is sent again on another usable path;
 * with none usable it waits (polled by nvmeof_mpath_qpair_poll) until one
 * becomes usable or queue_tmo_s passes (then it completes with the first
 * error it saw), or every path is dead (-ENODEV). A command is completed to
 * the caller exactly once. A single path is multipath with one path.
 *
 * An mpath qpair is owned by one thread like a qpair; it polls the queues of
 * the same index on every path.
 */
#define NVMEOF_MPATH_MAX_PATHS 8

enum nvmeof_iopolicy {
	NVMEOF_IOPOLICY_ROUND_ROBIN = 0, /* next usable path of the best ANA state, per command */
	NVMEOF_IOPOLICY_QUEUE_DEPTH = 1, /* fewest outstanding commands on this queue index */
};

/* ANA states as in the ANA log (Base 5.16.1.13); 0 = not known yet. */
enum nvmeof_ana_state {
	NVMEOF_ANA_OPTIMIZED = 0x01,
	NVMEOF_ANA_NON_OPTIMIZED = 0x02,
	NVMEOF_ANA_INACCESSIBLE = 0x03,
	NVMEOF_ANA_PERSISTENT_LOSS = 0x04,
	NVMEOF_ANA_CHANGE = 0x0f,
};

struct nvmeof_mpath_opts {
	uint32_t nsid; /* default 1 */
	enum nvmeof_iopolicy iopolicy; /* default round-robin */
	int queue_tmo_s; /* how long a command waits for a usable path; -1 = until all paths are dead; default 600 */
	unsigned int ana_poll_ms; /* ANA log re-read period, default 1000 */
};

struct nvmeof_path_info {
	const char *traddr;
	const char *trsvcid;
	uint16_t cntlid;
	enum nvmeof_ctrl_state state;
	uint8_t ana_state; /* enum nvmeof_ana_state, 0 unknown */
	uint32_t anagrpid; /* 0: the controller does not report ANA (treated as optimized) */
	uint64_t ios; /* commands completed to the caller through this path */
	uint64_t errors; /* of those, completed with an error */
	uint64_t retries; /* commands that failed here and were sent again elsewhere (or waited) */
};

struct nvmeof_mpath;
struct nvmeof_mpath_qpair;

void nvmeof_mpath_opts_init(struct nvmeof_mpath_opts *mo);
const char *nvmeof_ana_state_name(uint8_t state);
const char *nvmeof_iopolicy_name(enum nvmeof_iopolicy p);

/*
 * Connect paths[0..npaths-1] (each as nvmeof_ctrl_connect; their
 * fast_io_fail_tmo_s is set to 0 since waiting is done here instead).
 * A path that cannot connect fails the call (cpl and the log say which); a
 * path whose subsystem or namespace identity differs from the first path's
 * is refused: logged as an error and left out (*refused counts them, may be
 * NULL). Every path must grant at least one I/O queue.
 */
int nvmeof_mpath_connect(const struct nvmeof_ctrl_opts *paths, unsigned int npaths,
			 const struct nvmeof_mpath_opts *mo, struct nvmeof_mpath **out,
			 unsigned int *refused, struct nvmeof_cpl *cpl);
/* Disconnect every path; no mpath qpair may be in use concurrently. */
void nvmeof_mpath_disconnect(struct nvmeof_mpath *mp);

unsigned int nvmeof_mpath_nr_paths(struct nvmeof_mpath *mp);
/* Path i's controller, for admin commands. */
struct nvmeof_ctrl *nvmeof_mpath_get_ctrl(struct nvmeof_mpath *mp, unsigned int i);
/* Counters are summed over the qpairs; safe to call while I/O runs. */
void nvmeof_mpath_get_path_info(struct nvmeof_mpath *mp, unsigned int i, struct nvmeof_path_info *info);
/* Namespace info (from the first path). */
void nvmeof_mpath_get_ns_info(struct nvmeof_mpath *mp, struct nvmeof_ns_info *info);
/* LIVE if a path is live, DEAD if all are, else RECONNECTING. */
enum nvmeof_ctrl_state nvmeof_mpath_get_state(struct nvmeof_mpath *mp);
/*
 * 0 at once if some path can take I/O; else sleeps up to timeout_ms for one
 * (-EAGAIN), -ENODEV if every path is dead.
 */
int nvmeof_mpath_wait(struct nvmeof_mpath *mp, int timeout_ms);

/* Queues: as many as the path with the fewest I/O queues; NULL if out of range. */
unsigned int nvmeof_mpath_nr_qpairs(struct nvmeof_mpath *mp);
struct nvmeof_mpath_qpair *nvmeof_mpath_get_qpair(struct nvmeof_mpath *mp, unsigned int idx);

/*
 * As nvmeof_read / nvmeof_write on the mpath's namespace. -EAGAIN: no free
 * entry (poll and retry), -ENODEV: every path is dead, -EINVAL.
 */
int nvmeof_mpath_read(struct nvmeof_mpath_qpair *mq, uint64_t slba, uint32_t nlb, void *buf,
		      nvmeof_cb cb, void *cb_arg);
int nvmeof_mpath_write(struct nvmeof_mpath_qpair *mq, uint64_t slba, uint32_t nlb, const void *buf,
		       unsigned int io_flags, nvmeof_cb cb, void *cb_arg);
/*
 * As nvmeof_flush on the mpath's namespace, on one usable path; failed over
 * and retried like a write (a Flush commits the writes completed before it,
 * whichever path they took, as the paths share the namespace).
 */
int nvmeof_mpath_flush(struct nvmeof_mpath_qpair *mq, nvmeof_cb cb, void *cb_arg);
/* Poll every path's queue that has work, retry waiting commands; completions to the caller. */
int nvmeof_mpath_qpair_poll(struct nvmeof_mpath_qpair *mq, unsigned int max);
/*
 * Like poll, but sleeps up to timeout_ms for a completion when all of the
 * qpair's commands are on one path (a synchronous caller's case); with
 * commands on several paths or waiting for one, it naps about 1 ms between
 * polls instead. Returns the completions to the caller.
 */
int nvmeof_mpath_qpair_wait(struct nvmeof_mpath_qpair *mq, int timeout_ms);
unsigned int nvmeof_mpath_qpair_outstanding(const struct nvmeof_mpath_qpair *mq);

#ifdef __cplusplus
}
#endif

#endif
