/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof attach` / `nvmeof detach`: namespaces as files through FUSE.
 * attach.c serves the files, attach_reg.c keeps the registry of attachments
 * that `detach` (and `nvmeof list`) read.
 */
#ifndef NVMEOF_CLI_ATTACH_H
#define NVMEOF_CLI_ATTACH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "nvmeof/host.h"

#define ATT_MAX_NS 256 /* namespace files per subsystem */
#define ATT_MAX_SUBSYS 64 /* subsystems per attachment (--discover) */
#define ATT_REG_DIR_DEFAULT "/run/nvmeof/attach"

struct att_subsys;

/* An I/O queue pair a FUSE worker borrows for one request: one of qp, mq is set. */
struct att_qp {
	struct nvmeof_qpair *qp;
	struct nvmeof_mpath_qpair *mq;
	struct att_qp *next;
};

/* The queue pairs of a controller (one path) or of an mpath (several). */
struct att_qpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct att_qp *free;
	struct att_qp *qps; /* array of n */
	unsigned int n;
};

/* One namespace file. Never freed before the process exits: an open file keeps its pointer. */
struct att_ns {
	uint32_t nsid;
	uint32_t lba_size;
	uint64_t nsze; /* blocks */
	char name[16]; /* "ns<NSID>" */
	bool gone; /* removed from the directory (under att.tree) */
	struct att_subsys *ss;
	/* Several paths: the namespace's own mpath (its I/O queues on every path). */
	struct nvmeof_mpath *mp; /* a removed one's is disconnected once no file is open */
	struct att_qpool pool;
	atomic_int opens; /* open files of this namespace */
};

/* A path of a multipath attachment: an admin-only controller lists its namespaces. */
struct att_path {
	char traddr[256];
	char trsvcid[32];
	struct nvmeof_ctrl *ctrl;
};

struct att_subsys {
	char subnqn[NVMEOF_NQN_MAX + 1];
	char traddr[256];
	char trsvcid[32];
	struct nvmeof_ctrl *ctrl; /* one path; NULL once disconnected (reaped) */
	struct att_qpool pool; /* ctrl's I/O queues */
	unsigned int npaths; /* several paths (no ctrl): traddr/trsvcid are the first's */
	struct att_path paths[NVMEOF_MPATH_MAX_PATHS];
	struct att_ns *ns[ATT_MAX_NS];
	unsigned int nr_ns;
	atomic_int opens; /* open files on this subsystem */
	bool gone; /* no longer in the discovery log (under att.tree) */
	bool seen; /* scratch for the discovery log walk (monitor thread only) */
};

/* attach_reg.c: write <dir>/<pid>.json atomically; remove it. */
const char *att_reg_dir(void);
int att_reg_path(char *out, size_t len, long pid);
int att_reg_mkdir(void); /* create the registry directory and its parents */
int att_reg_write(const char *path, const char *text);

int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);

#endif
