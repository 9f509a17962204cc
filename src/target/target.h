/* SPDX-License-Identifier: MIT */
/*
 * The target's object model (subsystems, namespaces, hosts, ports) and the
 * boundary between a transport and the command layer.
 *
 * Control path: the nvmf_tgt_* / nvmf_subsys_* / nvmf_port_* functions take
 * the target lock and may be called from any thread (config loader, control
 * socket). I/O path: a transport owns its queues (struct nvmf_sq) on one
 * reactor and drives each request through
 *
 *     nvmf_req_parse()  -> (transport moves H2C data in) -> nvmf_req_execute()
 *        -> ... -> sq->ops->complete(req)  (transport sends C2H data + response)
 *
 * parse validates everything (opcode, NSID, LBA range, lengths, queue state)
 * before any buffer is touched and returns an NVMe status; execute does the
 * work and always ends in exactly one complete() call, possibly later on the
 * same reactor thread.
 */
#ifndef NVMEOF_TARGET_H
#define NVMEOF_TARGET_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "common/lathist.h"
#include "proto/nvme_spec.h"
#include "reactor/reactor.h"

/* Limits advertised to hosts; the transport sizes its pools from them. */
#define NVMF_MAX_QUEUE_SIZE 128 /* CAP.MQES + 1 */
#define NVMF_MAX_IO_QUEUES 64
#define NVMF_MDTS_SHIFT 8 /* 2^8 * 4 KiB = 1 MiB per command */
#define NVMF_MAX_XFER (4096u << NVMF_MDTS_SHIFT)
#define NVMF_IO_INCAPSULE 8192 /* in-capsule data on I/O queues (IOCCSZ) */
#define NVMF_MAX_NSID 1024
#define NVMF_KAS_100MS 10 /* KAS: keep-alive granularity of 1 s */
#define NVMF_DISC_KATO_MS 120000 /* discovery controllers connected with KATO 0 */
#define NVMF_ANA_GRP_MAX 128 /* ANAGRPMAX and NANAGRPID, as nvmet's NVMET_MAX_ANAGRPS */
#define NVMF_ANA_DEFAULT_GRPID 1 /* every namespace's group unless configured */

struct nvmf_tgt;
struct nvmf_subsys;
struct nvmf_ctrl;
struct nvmf_port;
struct nvmf_sq;
struct nvmf_req;

/* ------------------------------------------------------------------ */
/* Object model (control path)                                         */

struct nvmf_ns_opts {
	uint32_t nsid; /* 0 = lowest free */
	struct backend *backend; /* ownership passes to the namespace */
	uint8_t uuid[16]; /* all zero = generate */
	uint8_t nguid[16]; /* all zero = generate */
	uint32_t anagrpid; /* ANA group 1..NVMF_ANA_GRP_MAX; 0 = NVMF_ANA_DEFAULT_GRPID */
	bool enabled;
};

/* Secure channel of a port, as nvmet's addr_treq / addr_tsas. */
enum nvmf_port_treq {
	NVMF_PORT_TREQ_NOT_SPECIFIED = 0,
	NVMF_PORT_TREQ_REQUIRED,
	NVMF_PORT_TREQ_NOT_REQUIRED,
};

struct nvmf_port_opts {
	uint16_t portid;
	uint8_t adrfam; /* NVMF_ADRFAM_IPV4 / _IPV6 */
	char traddr[64];
	char trsvcid[32];
	bool tls; /* tsas "tls1.3" (else "none") */
	uint8_t treq; /* enum nvmf_port_treq; with tls: required or not required */
};

/* nvmet's names: "not specified" / "required" / "not required"; "none" / "tls1.3". */
const char *nvmf_port_treq_name(uint8_t treq);
int nvmf_port_treq_parse(const char *s, uint8_t *treq);
/* Settle treq/tls as nvmet does: TLS implies "required" unless "not required"
 * was given; "required" needs TLS. 0 or -EINVAL. */
int nvmf_port_security_check(struct nvmf_port_opts *o);

/*
 * Create the (single) target object. The discovery subsystem exists
 * implicitly. Returns 0 or -errno.
 */
int nvmf_tgt_create(struct nvmf_tgt **out);
/* The reactors I/O may run on (set once by the daemon before listening);
 * the command layer uses them for quiescence when freeing shared objects. */
void nvmf_tgt_set_reactors(struct nvmf_tgt *tgt, struct reactor **reactors, unsigned int n);
/* Tear down every controller, subsystem, namespace (closing backends) and port. */
void nvmf_tgt_destroy(struct nvmf_tgt *tgt);
/* Flush every namespace backend (shutdown). Returns the first error. */
int nvmf_tgt_sync(struct nvmf_tgt *tgt);

int nvmf_subsys_create(struct nvmf_tgt *tgt, const char *nqn, struct nvmf_subsys **out);
struct nvmf_subsys *nvmf_subsys_find(struct nvmf_tgt *tgt, const char *nqn);
/* Disconnects its controllers, unlinks it from ports, frees it. */
int nvmf_subsys_remove(struct nvmf_tgt *tgt, struct nvmf_subsys *subsys);
void nvmf_subsys_set_allow_any_host(struct nvmf_subsys *subsys, bool allow);
bool nvmf_subsys_allows_any_host(struct nvmf_subsys *subsys);
/* Monitor mode: unlisted hosts are admitted, but each admission is logged and counted. */
void nvmf_subsys_set_monitor(struct nvmf_subsys *subsys, bool monitor);
/* serial: up to 20 ASCII chars, model: up to 40; NULL keeps the default. */
int nvmf_subsys_set_ident(struct nvmf_subsys *subsys, const char *serial, const char *model);
/*
 * Controller IDs handed out, as nvmet's attr_cntlid_min/max (default 1 and
 * 0xffef): targets that export one subsystem together give each a disjoint
 * range so a host sees distinct CNTLIDs. New controllers only. 0 or -EINVAL.
 */
int nvmf_subsys_set_cntlid_range(struct nvmf_subsys *subsys, uint16_t min, uint16_t max);
int nvmf_subsys_add_host(struct nvmf_subsys *subsys, const char *hostnqn);
int nvmf_subsys_remove_host(struct nvmf_subsys *subsys, const char *hostnqn);
/* On success *nsid_out (if not NULL) holds the NSID; connected hosts get an AEN. */
int nvmf_subsys_add_ns(struct nvmf_subsys *subsys, const struct nvmf_ns_opts *opts, uint32_t *nsid_out);
int nvmf_subsys_remove_ns(struct nvmf_subsys *subsys, uint32_t nsid);

int nvmf_port_create(struct nvmf_tgt *tgt, const struct nvmf_port_opts *opts, struct nvmf_port **out);
struct nvmf_port *nvmf_port_find(struct nvmf_tgt *tgt, uint16_t portid);
int nvmf_port_add_subsys(struct nvmf_port *port, struct nvmf_subsys *subsys);
int nvmf_port_remove_subsys(struct nvmf_port *port, struct nvmf_subsys *subsys);
/*
 * Unlinks everything and disconnects the queues that came in on it. The
 * port object lives on until its last holder lets go: every queue that came
 * in on it, and every listener (nvmf_port_hold/nvmf_port_release).
 */
int nvmf_port_remove(struct nvmf_tgt *tgt, struct nvmf_port *port);
/* A listener's reference: -ENOENT once the port is removed. */
int nvmf_port_hold(struct nvmf_port *port);
void nvmf_port_release(struct nvmf_port *port);
int nvmf_port_add_referral(struct nvmf_port *port, const struct nvmf_port_opts *referral);
const struct nvmf_port_opts *nvmf_port_opts(const struct nvmf_port *port);

/*
 * TLS PSK of a host, used for new connections (existing ones keep theirs).
 * key NULL clears it. 0, -EINVAL or -ENOMEM.
 */
struct nvme_tls_key;
int nvmf_tgt_set_host_tls_key(struct nvmf_tgt *tgt, const char *hostnqn, const struct nvme_tls_key *key,
			      unsigned int kdf);
/* A copy of hostnqn's key and KDF (enum nvme_tls_kdf). 0 or -ENOKEY. Wipe it after use. */
int nvmf_tgt_get_host_tls_key(struct nvmf_tgt *tgt, const char *hostnqn, struct nvme_tls_key *key,
			      unsigned int *kdf);
/*
 * The TLS handshake on port: the key for hostnqn, provided the host may
 * reach subnqn there (an exported subsystem that allows it, or the
 * discovery NQN). 0, -ENOKEY (no key), -EACCES (not allowed). Any thread.
 */
int nvmf_port_tls_key_lookup(struct nvmf_port *port, const char *hostnqn, const char *subnqn,
			     struct nvme_tls_key *key, unsigned int *kdf);
/*
 * Asymmetric Namespace Access, as nvmet: every namespace belongs to one ANA
 * group; each port holds a state per group. Group 1 exists on every port,
 * optimized unless set otherwise; another group is part of a port once a
 * state was set for it there, and is inaccessible on ports where it is not.
 * States use nvmet's names: "optimized", "non-optimized", "inaccessible",
 * "persistent-loss", "change".
 */
const char *nvmf_ana_state_name(uint8_t state);
/* 0, or -EINVAL for an unknown name. */
int nvmf_ana_state_parse(const char *s, uint8_t *state);
/*
 * Set group grpid's state on port (adding the group to it). Live: I/O to the
 * group through this port is admitted or refused by the new state from now
 * on, the ANA change count goes up and controllers connected through the
 * port get an ANA change event. 0, -EINVAL (grpid or state), -ENOENT (port
 * removed).
 */
int nvmf_port_set_ana_state(struct nvmf_port *port, uint32_t grpid, uint8_t state);
/* The gateway group this target is a member of, NULL if none. */
const char *nvmf_tgt_gateway_group(struct nvmf_tgt *tgt);
/* Whether a gateway group drives grpid's state (set-ana-state and reloads leave it alone). */
bool nvmf_port_ana_managed(struct nvmf_port *port, uint32_t grpid);
/* Take group grpid (not group 1) off port: it is inaccessible there again. */
int nvmf_port_clear_ana_group(struct nvmf_port *port, uint32_t grpid);
/* The state of grpid on port, and whether the port lists the group (-EINVAL: grpid). */
int nvmf_port_get_ana_state(struct nvmf_port *port, uint32_t grpid, uint8_t *state, bool *listed);
/* Move namespace nsid to group grpid (live, as nvmet's ana_grpid attribute). */
int nvmf_subsys_set_ns_anagrpid(struct nvmf_subsys *subsys, uint32_t nsid, uint32_t grpid);

/* Iterate ports (control path): index 0..n-1, NULL past the end. */
struct nvmf_port *nvmf_tgt_port_at(struct nvmf_tgt *tgt, unsigned int index);

/*
 * DH-HMAC-CHAP credentials of a host NQN, in the forms nvmetcli writes:
 * key and ctrl_key "DHHC-1:HH:...:" (empty: none), hash "hmac(sha256)" ...
 * and dhgroup "null", "ffdhe2048" ... (empty: any). Setting validates
 * everything (-EINVAL, with *what naming the bad field) and replaces the
 * host's credentials; an empty key removes them. Controllers keep the copy
 * they took at Connect: only new connections see a change.
 */
struct nvmf_dhchap_cfg {
	char key[128];
	char ctrl_key[128];
	char hash[16];
	char dhgroup[16];
};
int nvmf_tgt_set_host_dhchap(struct nvmf_tgt *tgt, const char *hostnqn, const struct nvmf_dhchap_cfg *cfg,
			     const char **what);
/* The credentials for saving a config (-ENOENT: the host has no key).
 * The caller wipes *out (nvmf_dhchap_cfg_wipe). */
int nvmf_tgt_get_host_dhchap(struct nvmf_tgt *tgt, const char *hostnqn, struct nvmf_dhchap_cfg *out);
void nvmf_dhchap_cfg_wipe(struct nvmf_dhchap_cfg *cfg);

/* Validity of an NQN string as the spec defines it (length, prefix). */
bool nvmf_nqn_valid(const char *nqn);

/*
 * Snapshot of the whole target as a json-c object (caller puts it):
 * { "subsystems": [ { "nqn", "serial", "model", "allow_any_host", "monitor",
 *       "cntlid_min", "cntlid_max",
 *       "hosts": [nqn...], "namespaces": [ { "nsid", "path", "size",
 *       "block_size", "uuid", "nguid", "ana_grpid", "enabled", "stats": {...} } ],
 *       "controllers": [ { "cntlid", "hostnqn", "hostid", "peer",
 *       "queues", "kato_ms", "stats": {...} } ], "stats": {...} } ],
 *   "ports": [ { "portid", "adrfam", "traddr", "trsvcid",
 *       "subsystems": [nqn...], "referrals": [...],
 *       "ana_groups": [ { "grpid", "state" } ] } ],
 *   "hosts": [ { "nqn", "stats": {...}, "refused": N } ],
 *   "audit": { "refused": N, "monitored_admissions": N } }
 * where each "stats" is nvmf_io_counters as JSON (see below).
 */
struct json_object;
struct json_object *nvmf_tgt_snapshot(struct nvmf_tgt *tgt);

/* ------------------------------------------------------------------ */
/* Telemetry                                                           */

#define NVMF_MAX_REACTORS 64
#define NVMF_LAT_BUCKETS LATHIST_BUCKETS /* log-linear, see common/lathist.h */

/*
 * Counters with a single writer (one reactor thread); readers on other
 * threads sum copies and tolerate a slightly stale view. Keys in JSON:
 * reads, writes, others, read_bytes, write_bytes, errors, latency_us_sum,
 * latency_us_hist (array, bucket i = [lathist_low(i), lathist_low(i + 1)) us),
 * inflight (a gauge: I/O commands parsed and not yet released, the queue
 * depth; every other field only grows).
 */
struct nvmf_io_counters {
	uint64_t reads;
	uint64_t writes;
	uint64_t others;
	uint64_t read_bytes;
	uint64_t write_bytes;
	uint64_t errors;
	uint64_t latency_us_sum;
	uint64_t inflight;
	uint64_t latency_us_hist[NVMF_LAT_BUCKETS];
} __attribute__((aligned(64)));

/* ------------------------------------------------------------------ */
/* Transport boundary (I/O path)                                       */

enum nvmf_data_dir {
	NVMF_DATA_NONE,
	NVMF_DATA_H2C, /* host to controller: write, admin commands with data in */
	NVMF_DATA_C2H, /* controller to host: read, identify, log pages */
};

struct nvmf_sq_ops {
	/* Send the response (and C2H data first when req->dir is C2H and the
	 * status is success). Called on the sq's reactor. */
	void (*complete)(struct nvmf_req *req);
	/* Close this queue's connection. Thread-safe: may be called from any
	 * thread; the transport hops to its own reactor. */
	void (*disconnect)(struct nvmf_sq *sq);
};

/* A submission queue as the command layer sees it; the transport embeds it. */
struct nvmf_sq {
	const struct nvmf_sq_ops *ops;
	struct nvmf_tgt *tgt;
	struct reactor *reactor;
	struct nvmf_port *port; /* the port the connection came in on */
	char peer[64]; /* "addr:port" of the host, for logs and audit */
	char local_addr[48]; /* local IP the host reached, for the discovery log */
	uint16_t qid; /* valid once connected */
	uint16_t sqsize; /* entries (1's based), valid once connected */
	uint16_t sqhd;
	bool sqflow_disabled; /* Connect CATTR bit 2 */
	bool c2h_stable; /* C2H bytes must not change until sent (data digest): no zero-copy */
	bool connected;
	char tls_hostnqn[NVME_NQN_FIELD]; /* host a TLS PSK identity proved ("" = none): Connect must name it */
	struct nvmf_ctrl *ctrl; /* set by Connect */
	void *ctrl_link; /* command layer's private per-queue state */
};

/* One command in flight; the transport owns a fixed pool of these per queue. */
struct nvmf_req {
	struct nvmf_sq *sq;
	struct nvme_sqe cmd;
	struct nvme_cqe rsp; /* dw0/dw1 result filled by the command layer */
	uint16_t status; /* (SCT << 8) | SC, with NVME_STATUS_DNR */

	/* Set by the transport from SGL1 before parse. */
	uint32_t data_len; /* bytes described by the SGL */
	bool in_capsule; /* data came inside the capsule */
	void *data; /* NVMF_MAX_XFER-byte buffer owned by the transport */

	/* Set by parse. */
	enum nvmf_data_dir dir;
	void (*execute)(struct nvmf_req *req);
	struct nvmf_ns *ns;

	/*
	 * C2H data to send: execute points req->c2h_data at req->data or at a
	 * zero-copy mapping (RAM backend), with c2h_len bytes.
	 */
	void *c2h_data;
	uint32_t c2h_len;

	struct backend_io bio; /* for the backend; done() recovers req by container_of */
	uint64_t start_ns; /* for latency telemetry */
	void *transport_ctx; /* transport-private */

	/* Command-layer private state of multi-step commands (DSM, Compare). */
	uint32_t exec_step;
	void *exec_buf;
	/* Command-layer private: requests holding a namespace, per queue. */
	struct nvmf_req *held_prev;
	struct nvmf_req *held_next;
};

/*
 * Initialise the command-layer view of a new queue (before any command),
 * from any thread. The queue holds port until nvmf_sq_closed(). Returns 0,
 * -ENOENT if port is being removed, or -ENOMEM; on failure nothing is held
 * and nvmf_sq_closed() is harmless.
 */
int nvmf_sq_init(struct nvmf_sq *sq, struct nvmf_tgt *tgt, const struct nvmf_sq_ops *ops,
		 struct reactor *reactor, struct nvmf_port *port);

/*
 * Pick the handler and validate the command. Fills req->dir, req->execute
 * and returns 0, or an NVMe status (with DNR as appropriate) to be sent
 * without executing. The transport must have set data_len / in_capsule.
 * If dir is H2C and the data is not in the capsule the transport fetches
 * data_len bytes into req->data (R2T/H2CData) before executing.
 */
uint16_t nvmf_req_parse(struct nvmf_req *req);

/* Run the command; ends with sq->ops->complete(req). */
void nvmf_req_execute(struct nvmf_req *req);

/*
 * After a successful parse: true when execute() has finished with req->data
 * by the time it returns (a Write to a backend that completes inline, RAM),
 * so the data may lie in memory the transport reuses right after.
 */
bool nvmf_req_data_used_inline(const struct nvmf_req *req);

/* Finish a request with a status; fills the CQE and calls complete(). */
void nvmf_req_complete(struct nvmf_req *req, uint16_t status);

/*
 * The transport's connection is gone (peer closed, protocol error, shutdown)
 * and no request of this queue is in flight any more: detach from the
 * controller. Called on the sq's reactor. For the admin queue this tears the
 * controller down (its I/O queues are disconnected).
 */
void nvmf_sq_closed(struct nvmf_sq *sq);

/*
 * The connection is going away. The command layer parks some requests
 * indefinitely (Asynchronous Event Requests on the admin queue); this
 * completes them now with ABORT_SQ_DELETED so that the transport can wait
 * for its in-flight count to drain before nvmf_sq_closed(). Called on the
 * sq's reactor; harmless when nothing is parked. (A transport that drops
 * parked AERs and calls nvmf_sq_closed() directly is handled too: they are
 * forgotten without being completed.)
 */
void nvmf_sq_shutdown(struct nvmf_sq *sq);

/*
 * The transport is done with the request: its last byte is on the wire, or
 * it was abandoned (connection closed). Drops the references parse took:
 * the namespace, and with it any memory that C2H data points into, stays
 * alive until then (namespace removal waits for it). Harmless on a request
 * that holds nothing; nvmf_sq_closed() releases whatever is still held.
 */
void nvmf_req_release(struct nvmf_req *req);

#endif
