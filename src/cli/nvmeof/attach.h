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

/* One namespace file. Never freed before the process exits: an open file keeps its pointer. */
struct att_ns {
	uint32_t nsid;
	uint32_t lba_size;
	uint64_t nsze; /* blocks */
	char name[16]; /* "ns<NSID>" */
	bool gone; /* removed from the directory (under att.tree) */
	struct att_subsys *ss;
};

/* An I/O queue pair a FUSE worker borrows for one request. */
struct att_qp {
	struct nvmeof_qpair *qp;
	struct att_qp *next;
};

struct att_subsys {
	char subnqn[NVMEOF_NQN_MAX + 1];
	char traddr[256];
	char trsvcid[32];
	struct nvmeof_ctrl *ctrl; /* NULL once disconnected (reaped) */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct att_qp *free_qps;
	struct att_qp *qps; /* array of nqps */
	unsigned int nqps;
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
