/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof attach`: every namespace of a subsystem (or, with --discover, of
 * every subsystem the discovery log lists) becomes a file ns<NSID> under a
 * FUSE mount point, so that losetup makes it a block device where the kernel
 * has no nvme-tcp module.
 *
 * Threads: libfuse's multi-threaded loop runs the file operations; each I/O
 * borrows one of the controller's I/O queue pairs for its duration (submit,
 * then nvmeof_qpair_wait until it completed), so a queue pair is owned by one
 * thread at a time as the library requires and the parallelism is the number
 * of queue pairs. A monitor thread re-reads the active namespace lists (and
 * the discovery log) every ATT_POLL_MS, because the host library delivers no
 * asynchronous events yet: namespace and discovery log changes are polled.
 * It also rewrites the registry entry when a controller's state changes.
 *
 * Several -a/-s (multipath): an admin-only controller per path lists the
 * namespaces (the union of the live paths' lists); each namespace is its own
 * nvmeof_mpath over the paths that listed it, whose mpath queue pairs are
 * borrowed the same way, so that a failed path's commands are sent again on
 * another one inside the library and never reach the file as an error.
 *
 * The tree (subsystems and their namespaces) is guarded by one rwlock: file
 * operations read it, the monitor changes it. Namespace and subsystem objects
 * are only marked gone, never freed before exit, so an open file's pointer
 * stays valid; a gone subsystem is disconnected once its last file closes.
 *
 * Alignment: reads at any offset and length are served (whole blocks are read
 * into a bounce buffer); writes must start and end on the namespace's block
 * size and are refused with EINVAL otherwise: a read-modify-write would race
 * with concurrent writes to the same block, and the loop driver, file systems
 * and O_DIRECT users all write whole blocks.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "common/log.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"

#define ATT_POLL_MS 2000 /* namespace list / discovery log poll (no AEN delivery in the library) */
#define ATT_DEFAULT_QUEUES 8
/* st_blksize: tools that size their buffers by it (cp, cmp) issue 128 KiB requests, not 512 B */
#define ATT_IO_HINT (128u * 1024)
#define ATT_DISC_CHUNK 4096u
#define ATT_DISC_MAX 1024u

static struct {
	struct cli_conn conn; /* options as given; per subsystem copies get traddr/subnqn */
	bool discover;
	bool foreground;
	char mountpoint[PATH_MAX];
	char reg_path[PATH_MAX];
	uid_t uid;
	gid_t gid;
	struct timespec start; /* the files' times */
	unsigned int max_inflight; /* FUSE requests in flight: I/O queues of all subsystems */
	struct nvmeof_ctrl *disc; /* --discover: the discovery controller, kept connected */
	uint64_t disc_genctr;
	pthread_rwlock_t tree;
	struct att_subsys *ss[ATT_MAX_SUBSYS];
	unsigned int nr_ss;
	enum nvmeof_iopolicy iopolicy; /* several paths */
	/* monitor thread */
	pthread_mutex_t mon_mu;
	pthread_cond_t mon_cv;
	bool mon_stop;
	char *reg_text; /* last registry written (monitor thread, or before it starts) */
} att = {
	.tree = PTHREAD_RWLOCK_INITIALIZER,
	.mon_mu = PTHREAD_MUTEX_INITIALIZER,
	.mon_cv = PTHREAD_COND_INITIALIZER,
};

/* ---- I/O ---------------------------------------------------------------- */

struct att_io {
	bool done;
	struct nvmeof_cpl cpl;
};

static void att_io_cb(void *arg, const struct nvmeof_cpl *cpl)
{
	struct att_io *io = arg;

	io->cpl = *cpl;
	io->done = true;
}

static struct att_qp *qp_get(struct att_qpool *pool)
{
	pthread_mutex_lock(&pool->mu);
	while (!pool->free)
		pthread_cond_wait(&pool->cv, &pool->mu);
	struct att_qp *q = pool->free;

	pool->free = q->next;
	pthread_mutex_unlock(&pool->mu);
	return q;
}

static void qp_put(struct att_qpool *pool, struct att_qp *q)
{
	pthread_mutex_lock(&pool->mu);
	q->next = pool->free;
	pool->free = q;
	pthread_cond_signal(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
}

/* n queue pairs: qp(i) of a controller, or mq(i) of an mpath. */
static int qpool_init(struct att_qpool *pool, unsigned int n, struct nvmeof_ctrl *ctrl,
		      struct nvmeof_mpath *mp)
{
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->cv, NULL);
	pool->qps = calloc(n ? n : 1, sizeof(*pool->qps));
	for (unsigned int i = 0; pool->qps && i < n; i++) {
		if (ctrl)
			pool->qps[i].qp = nvmeof_ctrl_get_qpair(ctrl, i);
		else
			pool->qps[i].mq = nvmeof_mpath_get_qpair(mp, i);
		pool->qps[i].next = pool->free;
		pool->free = &pool->qps[i];
		pool->n++;
	}
	return pool->n ? 0 : -ENOMEM;
}

static void qpool_free(struct att_qpool *pool)
{
	free(pool->qps);
	pool->qps = NULL;
	pool->free = NULL;
	pool->n = 0;
}

static void qpool_destroy(struct att_qpool *pool)
{
	qpool_free(pool);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv);
}

enum att_op { ATT_READ, ATT_WRITE, ATT_FLUSH };

/* One command on a controller's queue pair; 0 once io completed, -errno if not submitted. */
static int qp_io(struct nvmeof_qpair *qp, uint32_t nsid, enum att_op op, uint64_t slba, uint32_t nlb,
		 void *buf, struct att_io *io)
{
	int rc;

	for (;;) {
		if (op == ATT_READ)
			rc = nvmeof_read(qp, nsid, slba, nlb, buf, att_io_cb, io);
		else if (op == ATT_WRITE)
			rc = nvmeof_write(qp, nsid, slba, nlb, buf, 0, att_io_cb, io);
		else
			rc = nvmeof_flush(qp, nsid, att_io_cb, io);
		if (rc != -EAGAIN)
			break;
		nvmeof_qpair_wait(qp, 10);
	}
	/* Never leave with the command outstanding: its callback writes into io. */
	while (rc == 0 && !io->done) {
		if (nvmeof_qpair_wait(qp, 1000) < 0 && !io->done)
			usleep(1000);
	}
	return rc;
}

/*
 * The same through an mpath: a command whose path fails is sent again on
 * another one, or kept while no path is usable (up to queue_tmo_s); the
 * callback runs once, when it is settled.
 */
static int mq_io(struct nvmeof_mpath_qpair *mq, enum att_op op, uint64_t slba, uint32_t nlb, void *buf,
		 struct att_io *io)
{
	int rc;

	for (;;) {
		if (op == ATT_READ)
			rc = nvmeof_mpath_read(mq, slba, nlb, buf, att_io_cb, io);
		else if (op == ATT_WRITE)
			rc = nvmeof_mpath_write(mq, slba, nlb, buf, 0, att_io_cb, io);
		else
			rc = nvmeof_mpath_flush(mq, att_io_cb, io);
		if (rc != -EAGAIN)
			break;
		nvmeof_mpath_qpair_wait(mq, 10);
	}
	while (rc == 0 && !io->done)
		nvmeof_mpath_qpair_wait(mq, 1000);
	return rc;
}

/*
 * One command, synchronously. While the controller reconnects the command
 * waits in the library (fast_io_fail_tmo -1 by default); once ctrl_loss_tmo
 * expired it completes with -ENODEV, which the file reports as EIO. With
 * several paths it fails over instead and fails only when no path is left.
 */
static int ns_io(struct att_ns *ns, enum att_op op, uint64_t slba, uint32_t nlb, void *buf)
{
	struct att_subsys *ss = ns->ss;
	struct att_qpool *pool = ns->mp ? &ns->pool : &ss->pool;
	struct att_qp *q = qp_get(pool);
	struct att_io io = { 0 };
	int rc = q->mq ? mq_io(q->mq, op, slba, nlb, buf, &io)
		       : qp_io(q->qp, ns->nsid, op, slba, nlb, buf, &io);

	qp_put(pool, q);
	if (rc)
		return -EIO;
	if (io.cpl.err || io.cpl.status) {
		log_error("attach", "%s ns %u: %s failed: %s (status 0x%x)", ss->subnqn, ns->nsid,
			  op == ATT_READ ? "read" : op == ATT_WRITE ? "write" : "flush",
			  io.cpl.err ? strerror(-io.cpl.err) : "NVMe error", io.cpl.status);
		return -EIO;
	}
	return 0;
}

/* ---- the tree ----------------------------------------------------------- */

static struct att_subsys *ss_find(const char *name, size_t len)
{
	for (unsigned int i = 0; i < att.nr_ss; i++) {
		struct att_subsys *ss = att.ss[i];

		if (!ss->gone && strlen(ss->subnqn) == len && memcmp(ss->subnqn, name, len) == 0)
			return ss;
	}
	return NULL;
}

static struct att_ns *ns_find(struct att_subsys *ss, const char *name)
{
	for (unsigned int i = 0; i < ss->nr_ns; i++)
		if (!ss->ns[i]->gone && strcmp(ss->ns[i]->name, name) == 0)
			return ss->ns[i];
	return NULL;
}

/*
 * Resolve a path under the tree lock: "/" (both NULL), a subsystem directory
 * (--discover: "/<subnqn>") or a namespace file ("/ns1", "/<subnqn>/ns1").
 */
static int path_resolve(const char *path, struct att_subsys **ss_out, struct att_ns **ns_out)
{
	*ss_out = NULL;
	*ns_out = NULL;
	if (strcmp(path, "/") == 0)
		return 0;
	path++;
	if (!att.discover) {
		if (att.nr_ss == 0 || strchr(path, '/'))
			return -ENOENT;
		*ss_out = att.ss[0];
		*ns_out = ns_find(att.ss[0], path);
		return *ns_out ? 0 : -ENOENT;
	}
	const char *slash = strchr(path, '/');
	struct att_subsys *ss = ss_find(path, slash ? (size_t)(slash - path) : strlen(path));

	if (!ss)
		return -ENOENT;
	*ss_out = ss;
	if (!slash)
		return 0;
	*ns_out = ns_find(ss, slash + 1);
	return *ns_out ? 0 : -ENOENT;
}

/* ---- FUSE operations ---------------------------------------------------- */

static void *att_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/*
	 * No caching in the kernel: the files are block devices' backing store
	 * and losetup puts the page cache on top already; direct_io (set in
	 * open) avoids a second copy in FUSE's page cache and passes each
	 * request through whole. Attributes and names are not cached either,
	 * so namespaces added or resized on the target show at once.
	 */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	cfg->direct_io = 1;
	conn->max_write = 1u << 20;
	/*
	 * The loop device submits asynchronous direct I/O: let the kernel keep
	 * as many FUSE requests in flight as there are queue pairs to serve
	 * them (its default of 12 would cap the queue depth).
	 */
	conn->max_background = att.max_inflight;
	conn->congestion_threshold = att.max_inflight * 3 / 4;
	return NULL;
}

static void fill_ns_stat(const struct att_ns *ns, struct stat *st)
{
	st->st_mode = S_IFREG | 0600;
	st->st_nlink = 1;
	st->st_size = (off_t)(ns->nsze * ns->lba_size);
	st->st_blksize = ns->lba_size > ATT_IO_HINT ? ns->lba_size : ATT_IO_HINT;
	st->st_blocks = (blkcnt_t)(ns->nsze * ns->lba_size / 512);
}

static int att_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct att_subsys *ss;
	struct att_ns *ns;

	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&att.tree);
	int rc = path_resolve(path, &ss, &ns);

	if (rc == 0) {
		if (ns) {
			fill_ns_stat(ns, st);
		} else {
			st->st_mode = S_IFDIR | 0755;
			st->st_nlink = 2;
		}
		st->st_uid = att.uid;
		st->st_gid = att.gid;
		st->st_atim = st->st_mtim = st->st_ctim = att.start;
	}
	pthread_rwlock_unlock(&att.tree);
	return rc;
}

static int att_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct att_subsys *ss;
	struct att_ns *ns;

	pthread_rwlock_rdlock(&att.tree);
	int rc = path_resolve(path, &ss, &ns);

	if (rc == 0 && ns)
		rc = -ENOTDIR;
	if (rc == 0) {
		fill(buf, ".", NULL, 0, 0);
		fill(buf, "..", NULL, 0, 0);
		if (att.discover && !ss) {
			for (unsigned int i = 0; i < att.nr_ss; i++)
				if (!att.ss[i]->gone)
					fill(buf, att.ss[i]->subnqn, NULL, 0, 0);
		} else {
			if (!ss)
				ss = att.nr_ss ? att.ss[0] : NULL;
			for (unsigned int i = 0; ss && i < ss->nr_ns; i++)
				if (!ss->ns[i]->gone)
					fill(buf, ss->ns[i]->name, NULL, 0, 0);
		}
	}
	pthread_rwlock_unlock(&att.tree);
	return rc;
}

static int att_open(const char *path, struct fuse_file_info *fi)
{
	struct att_subsys *ss;
	struct att_ns *ns;

	if (fi->flags & O_TRUNC)
		return -EPERM; /* a namespace has a fixed size */
	pthread_rwlock_rdlock(&att.tree);
	int rc = path_resolve(path, &ss, &ns);

	if (rc == 0 && !ns)
		rc = -EISDIR;
	if (rc == 0) {
		atomic_fetch_add(&ns->ss->opens, 1);
		atomic_fetch_add(&ns->opens, 1);
		fi->fh = (uint64_t)(uintptr_t)ns;
		fi->direct_io = 1;
		fi->keep_cache = 0;
	}
	pthread_rwlock_unlock(&att.tree);
	return rc;
}

static int att_release(const char *path, struct fuse_file_info *fi)
{
	struct att_ns *ns = (struct att_ns *)(uintptr_t)fi->fh;

	/* A gone subsystem or namespace whose last file closes is disconnected by the monitor. */
	bool last_of_ns = atomic_fetch_sub(&ns->opens, 1) == 1;

	if (atomic_fetch_sub(&ns->ss->opens, 1) == 1 || last_of_ns) {
		pthread_mutex_lock(&att.mon_mu);
		pthread_cond_signal(&att.mon_cv);
		pthread_mutex_unlock(&att.mon_mu);
	}
	return 0;
}

static int att_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct att_ns *ns = (struct att_ns *)(uintptr_t)fi->fh;
	uint64_t fsize = ns->nsze * ns->lba_size;
	uint32_t bs = ns->lba_size;

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= fsize)
		return 0;
	if (size > fsize - (uint64_t)off)
		size = fsize - (uint64_t)off;
	if (size == 0)
		return 0;
	uint64_t first = (uint64_t)off / bs, last = ((uint64_t)off + size - 1) / bs;
	uint32_t nlb = (uint32_t)(last - first + 1);

	if ((uint64_t)off % bs == 0 && size % bs == 0) {
		int rc = ns_io(ns, ATT_READ, first, nlb, buf);

		return rc ? rc : (int)size;
	}
	/* Unaligned: whole blocks into a bounce buffer, copy the part asked for. */
	uint8_t *bounce = malloc((size_t)nlb * bs);

	if (!bounce)
		return -ENOMEM;
	int rc = ns_io(ns, ATT_READ, first, nlb, bounce);

	if (rc == 0)
		memcpy(buf, bounce + (uint64_t)off % bs, size);
	free(bounce);
	return rc ? rc : (int)size;
}

static int att_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct att_ns *ns = (struct att_ns *)(uintptr_t)fi->fh;
	uint64_t fsize = ns->nsze * ns->lba_size;
	uint32_t bs = ns->lba_size;

	if (off < 0)
		return -EINVAL;
	if (size == 0)
		return 0;
	if ((uint64_t)off >= fsize || size > fsize - (uint64_t)off)
		return -ENOSPC;
	if ((uint64_t)off % bs || size % bs)
		return -EINVAL; /* whole blocks only (see the top of this file) */
	int rc = ns_io(ns, ATT_WRITE, (uint64_t)off / bs, (uint32_t)(size / bs), (void *)buf);

	return rc ? rc : (int)size;
}

/* fsync / fdatasync: NVMe Flush makes every completed write durable. */
static int att_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct att_ns *ns = (struct att_ns *)(uintptr_t)fi->fh;

	return ns_io(ns, ATT_FLUSH, 0, 0, NULL);
}

static int att_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct stat st;
	int rc = att_getattr(path, &st, fi);

	if (rc)
		return rc;
	return size == st.st_size ? 0 : -EPERM; /* a namespace has a fixed size */
}

static int att_statfs(const char *path, struct statvfs *sv)
{
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_namemax = 255;
	return 0;
}

static const struct fuse_operations att_ops = {
	.init = att_init,
	.getattr = att_getattr,
	.readdir = att_readdir,
	.open = att_open,
	.release = att_release,
	.read = att_read,
	.write = att_write,
	.fsync = att_fsync,
	.truncate = att_truncate,
	.statfs = att_statfs,
};

/* ---- controllers and namespaces ----------------------------------------- */

/* Active namespace list of a controller (Identify CNS 02h), ascending. */
static int active_nsids(struct nvmeof_ctrl *ctrl, uint32_t *out, unsigned int max)
{
	uint32_t *list = malloc(4096);
	struct nvmeof_cpl cpl;
	unsigned int n = 0;

	if (!list)
		return -ENOMEM;
	int rc = nvmeof_identify(ctrl, NVME_ID_CNS_NS_ACTIVE_LIST, 0, list, &cpl);

	if (rc == 0)
		for (unsigned int i = 0; i < 1024 && n < max && list[i]; i++)
			out[n++] = le32(list[i]);
	free(list);
	return rc ? rc : (int)n;
}

/* A namespace object never published, or at exit: its mpath goes with it. */
static void ns_free(struct att_ns *ns)
{
	if (ns->mp) {
		qpool_destroy(&ns->pool);
		nvmeof_mpath_disconnect(ns->mp);
	}
	free(ns);
}

/*
 * Active namespaces of ss: its controller's list, or with several paths the
 * union of the live paths' lists (masks[i]: the paths listing nsids[i]). A
 * path that is down is not asked (the call would wait for its reconnect);
 * with no path answering this fails, so that nothing is taken as removed.
 */
static int ss_active_nsids(struct att_subsys *ss, uint32_t *nsids, uint32_t *masks)
{
	if (!ss->npaths) {
		int n = active_nsids(ss->ctrl, nsids, ATT_MAX_NS);

		for (int i = 0; i < n; i++)
			masks[i] = 1;
		return n;
	}
	uint32_t list[ATT_MAX_NS];
	bool answered = false;
	int n = 0;

	for (unsigned int p = 0; p < ss->npaths; p++) {
		if (nvmeof_ctrl_get_state(ss->paths[p].ctrl) != NVMEOF_CTRL_LIVE)
			continue;
		int m = active_nsids(ss->paths[p].ctrl, list, ATT_MAX_NS);

		if (m < 0)
			continue;
		answered = true;
		for (int i = 0; i < m; i++) {
			int k = 0;

			while (k < n && nsids[k] != list[i])
				k++;
			if (k == n) {
				if (n == ATT_MAX_NS)
					continue;
				nsids[n] = list[i];
				masks[n++] = 0;
			}
			masks[k] |= 1u << p;
		}
	}
	return answered ? n : -ENOTCONN;
}

/*
 * Several paths: connect namespace ns->nsid through the paths in mask (those
 * that list it now) as one mpath and take its queue pairs. A path that is
 * down now is left out of this namespace: it is served once one path has it.
 */
static int ns_connect_paths(struct att_subsys *ss, struct att_ns *ns, uint32_t mask)
{
	struct nvmeof_ctrl_opts paths[NVMEOF_MPATH_MAX_PATHS];
	struct nvmeof_mpath_opts mo;
	struct nvmeof_cpl cpl = { 0 };
	struct nvmeof_ns_info info;
	unsigned int n = 0, refused = 0;

	for (unsigned int p = 0; p < ss->npaths; p++) {
		if (!((mask >> p) & 1))
			continue;
		cli_conn_path_opts(&att.conn, p, &paths[n]);
		paths[n].subnqn = ss->subnqn;
		paths[n].traddr = ss->paths[p].traddr;
		paths[n++].trsvcid = ss->paths[p].trsvcid;
	}
	nvmeof_mpath_opts_init(&mo);
	mo.nsid = ns->nsid;
	mo.iopolicy = att.iopolicy;
	/* With no usable path, I/O waits as long as a single path's would. */
	mo.queue_tmo_s = att.conn.opts.fast_io_fail_tmo_s >= 0 ? att.conn.opts.fast_io_fail_tmo_s
							       : att.conn.opts.ctrl_loss_tmo_s;
	int rc = nvmeof_mpath_connect(paths, n, &mo, &ns->mp, &refused, &cpl);

	if (rc) {
		log_error("attach", "%s: namespace %u: cannot connect its paths: %s", ss->subnqn, ns->nsid,
			  strerror(-rc));
		return rc;
	}
	if (refused)
		log_warn("attach", "%s: namespace %u: %u of %u paths refused; served through %u",
			 ss->subnqn, ns->nsid, refused, n, nvmeof_mpath_nr_paths(ns->mp));
	nvmeof_mpath_get_ns_info(ns->mp, &info);
	ns->lba_size = info.lba_size;
	ns->nsze = info.nsze;
	rc = qpool_init(&ns->pool, nvmeof_mpath_nr_qpairs(ns->mp), NULL, ns->mp);
	if (rc) {
		qpool_destroy(&ns->pool);
		nvmeof_mpath_disconnect(ns->mp);
		ns->mp = NULL;
	}
	return rc;
}

/*
 * Bring a subsystem's namespace files in line with its active namespace list.
 * New namespaces are identified outside the tree lock (admin commands may
 * wait for a reconnect). Returns true when something changed.
 */
static bool ss_sync_namespaces(struct att_subsys *ss)
{
	uint32_t nsids[ATT_MAX_NS], masks[ATT_MAX_NS];
	int n = ss_active_nsids(ss, nsids, masks);
	bool changed = false;

	if (n < 0)
		return false;
	for (int i = 0; i < n; i++) {
		bool known = false;

		pthread_rwlock_rdlock(&att.tree);
		for (unsigned int j = 0; j < ss->nr_ns; j++)
			if (ss->ns[j]->nsid == nsids[i] && !ss->ns[j]->gone)
				known = true;
		pthread_rwlock_unlock(&att.tree);
		if (known)
			continue;
		struct nvmeof_ns_info info = { 0 };

		if (!ss->npaths && (nvmeof_ns_get_info(ss->ctrl, nsids[i], &info) || info.nsze == 0))
			continue;
		struct att_ns *ns = calloc(1, sizeof(*ns));

		if (!ns)
			break;
		ns->nsid = nsids[i];
		ns->lba_size = info.lba_size;
		ns->nsze = info.nsze;
		ns->ss = ss;
		snprintf(ns->name, sizeof(ns->name), "ns%" PRIu32, ns->nsid);
		if (ss->npaths && (ns_connect_paths(ss, ns, masks[i]) || ns->nsze == 0)) {
			ns_free(ns);
			continue;
		}
		bool added = false;

		pthread_rwlock_wrlock(&att.tree);
		if (ss->nr_ns < ATT_MAX_NS) {
			ss->ns[ss->nr_ns++] = ns;
			added = true;
		}
		pthread_rwlock_unlock(&att.tree);
		if (!added) {
			ns_free(ns);
			continue;
		}
		changed = true;
		log_info("attach", "%s: namespace %u added (%s)", ss->subnqn, nsids[i], ns->name);
	}
	pthread_rwlock_wrlock(&att.tree);
	for (unsigned int j = 0; j < ss->nr_ns; j++) {
		bool active = false;

		for (int i = 0; i < n; i++)
			active |= nsids[i] == ss->ns[j]->nsid;
		if (!active && !ss->ns[j]->gone) {
			ss->ns[j]->gone = true;
			changed = true;
			log_info("attach", "%s: namespace %u removed", ss->subnqn, ss->ns[j]->nsid);
		}
	}
	pthread_rwlock_unlock(&att.tree);
	return changed;
}

/* Connect one subsystem; prints why on failure. */
static int ss_connect(const char *subnqn, const char *traddr, const char *trsvcid,
		      struct att_subsys **out)
{
	struct cli_conn c = att.conn;
	struct att_subsys *ss = calloc(1, sizeof(*ss));

	if (!ss)
		return -ENOMEM;
	snprintf(ss->subnqn, sizeof(ss->subnqn), "%s", subnqn);
	snprintf(ss->traddr, sizeof(ss->traddr), "%s", traddr);
	snprintf(ss->trsvcid, sizeof(ss->trsvcid), "%s", trsvcid);
	c.opts.subnqn = ss->subnqn;
	c.opts.traddr = ss->traddr;
	c.opts.trsvcid = ss->trsvcid;
	/* the secrets live in the copy: point at them (only read during connect) */
	if (c.opts.dhchap_secret)
		c.opts.dhchap_secret = c.dhchap_secret;
	if (c.opts.dhchap_ctrl_secret)
		c.opts.dhchap_ctrl_secret = c.dhchap_ctrl_secret;
	int rc = cli_connect(&c, &ss->ctrl);

	if (rc) {
		free(ss);
		return rc;
	}
	struct nvmeof_ctrl_info info;

	nvmeof_ctrl_get_info(ss->ctrl, &info);
	if (qpool_init(&ss->pool, info.nr_io_queues, ss->ctrl, NULL)) {
		fprintf(stderr, "attach: %s granted no I/O queue\n", subnqn);
		qpool_destroy(&ss->pool);
		nvmeof_ctrl_disconnect(ss->ctrl);
		free(ss);
		return -EPROTO;
	}
	ss_sync_namespaces(ss);
	*out = ss;
	return 0;
}

/*
 * Several paths to subsystem -n: an admin-only controller per path lists the
 * namespaces (and keeps reconnecting); each namespace gets its own mpath.
 * Every path must connect now, as for perf; prints why on failure.
 */
static int ss_connect_paths(struct att_subsys **out)
{
	struct att_subsys *ss = calloc(1, sizeof(*ss));
	int rc = 0;

	if (!ss)
		return -ENOMEM;
	snprintf(ss->subnqn, sizeof(ss->subnqn), "%s", att.conn.opts.subnqn);
	pthread_mutex_init(&ss->pool.mu, NULL);
	pthread_cond_init(&ss->pool.cv, NULL);
	for (unsigned int p = 0; p < att.conn.npaths && rc == 0; p++) {
		struct att_path *ap = &ss->paths[p];
		struct cli_conn c = att.conn;

		cli_conn_path_opts(&att.conn, p, &c.opts);
		snprintf(ap->traddr, sizeof(ap->traddr), "%s", c.opts.traddr);
		snprintf(ap->trsvcid, sizeof(ap->trsvcid), "%s", c.opts.trsvcid);
		c.opts.nr_io_queues = 0;
		rc = cli_connect(&c, &ap->ctrl);
		if (rc == 0)
			ss->npaths++;
	}
	snprintf(ss->traddr, sizeof(ss->traddr), "%s", ss->paths[0].traddr);
	snprintf(ss->trsvcid, sizeof(ss->trsvcid), "%s", ss->paths[0].trsvcid);
	if (rc == 0) {
		ss_sync_namespaces(ss);
		*out = ss;
		return 0;
	}
	for (unsigned int p = 0; p < ss->npaths; p++)
		nvmeof_ctrl_disconnect(ss->paths[p].ctrl);
	qpool_destroy(&ss->pool);
	free(ss);
	return rc;
}

static bool ss_connected(const struct att_subsys *ss)
{
	return ss->ctrl || (ss->npaths && ss->paths[0].ctrl);
}

/* Several paths: disconnect the mpath of every removed namespace without open files. */
static void ss_reap_namespaces(struct att_subsys *ss)
{
	for (unsigned int i = 0; i < ss->nr_ns; i++) {
		struct att_ns *ns = ss->ns[i];
		bool reap;

		/* No new open once gone is set (under the write lock); opens is final at 0. */
		pthread_rwlock_rdlock(&att.tree);
		reap = ns->gone && ns->mp && atomic_load(&ns->opens) == 0;
		pthread_rwlock_unlock(&att.tree);
		if (!reap)
			continue;
		qpool_destroy(&ns->pool);
		nvmeof_mpath_disconnect(ns->mp);
		ns->mp = NULL;
		log_info("attach", "%s: namespace %u disconnected", ss->subnqn, ns->nsid);
	}
}

/* Live while some path is; the registry's "state". */
static enum nvmeof_ctrl_state ss_state(struct att_subsys *ss)
{
	if (!ss->npaths)
		return nvmeof_ctrl_get_state(ss->ctrl);
	for (unsigned int p = 0; p < ss->npaths; p++)
		if (nvmeof_ctrl_get_state(ss->paths[p].ctrl) == NVMEOF_CTRL_LIVE)
			return NVMEOF_CTRL_LIVE;
	return NVMEOF_CTRL_RECONNECTING;
}

/* Flush every namespace, then disconnect (no file of ss may be open). */
static void ss_disconnect(struct att_subsys *ss)
{
	if (ss->npaths) {
		for (unsigned int i = 0; i < ss->nr_ns; i++) {
			struct att_ns *ns = ss->ns[i];

			if (!ns->mp)
				continue;
			if (!ns->gone && nvmeof_mpath_get_state(ns->mp) == NVMEOF_CTRL_LIVE)
				ns_io(ns, ATT_FLUSH, 0, 0, NULL);
			qpool_destroy(&ns->pool);
			nvmeof_mpath_disconnect(ns->mp);
			ns->mp = NULL;
		}
		for (unsigned int p = 0; p < ss->npaths; p++) {
			if (ss->paths[p].ctrl)
				nvmeof_ctrl_disconnect(ss->paths[p].ctrl);
			ss->paths[p].ctrl = NULL;
		}
		return;
	}
	if (!ss->ctrl)
		return;
	if (nvmeof_ctrl_get_state(ss->ctrl) == NVMEOF_CTRL_LIVE)
		for (unsigned int i = 0; i < ss->nr_ns; i++)
			if (!ss->ns[i]->gone)
				ns_io(ss->ns[i], ATT_FLUSH, 0, 0, NULL);
	nvmeof_ctrl_disconnect(ss->ctrl);
	ss->ctrl = NULL;
	qpool_free(&ss->pool);
}

static void ss_add(struct att_subsys *ss)
{
	pthread_rwlock_wrlock(&att.tree);
	att.ss[att.nr_ss++] = ss;
	pthread_rwlock_unlock(&att.tree);
}

/* ---- discovery ---------------------------------------------------------- */

static int disc_read(uint8_t *buf, uint64_t off, uint64_t len)
{
	while (len) {
		uint32_t n = len > ATT_DISC_CHUNK ? ATT_DISC_CHUNK : (uint32_t)len;
		struct nvmeof_cpl cpl;
		int rc = nvmeof_get_log_page(att.disc, NVME_LOG_DISCOVERY, 0, off, buf + off, n, &cpl);

		if (rc)
			return rc;
		off += n;
		len -= n;
	}
	return 0;
}

/* A consistent copy of the discovery log (GENCTR equal before and after). */
static int disc_fetch(uint8_t **out, uint64_t *numrec_out, uint64_t *genctr)
{
	for (int attempt = 0; attempt < 10; attempt++) {
		struct nvmf_disc_log_hdr hdr;
		int rc = disc_read((uint8_t *)&hdr, 0, sizeof(hdr));

		if (rc)
			return rc;
		uint64_t numrec = le64(hdr.numrec);

		if (numrec > ATT_DISC_MAX)
			numrec = ATT_DISC_MAX;
		uint64_t size = sizeof(hdr) + numrec * sizeof(struct nvmf_disc_log_entry);
		uint8_t *buf = calloc(1, size);

		if (!buf)
			return -ENOMEM;
		rc = disc_read(buf, 0, size);
		if (rc) {
			free(buf);
			return rc;
		}
		const struct nvmf_disc_log_hdr *h2 = (const void *)buf;

		if (h2->genctr == hdr.genctr) {
			*out = buf;
			*numrec_out = numrec;
			*genctr = le64(hdr.genctr);
			return 0;
		}
		free(buf);
	}
	return -EAGAIN;
}

static void cstr(char *dst, size_t dlen, const char *src, size_t slen)
{
	size_t n = strnlen(src, slen);

	while (n && src[n - 1] == ' ')
		n--;
	if (n >= dlen)
		n = dlen - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/*
 * Attach every NVMe subsystem the log lists over TCP that is not attached
 * yet (the first entry of a subsystem wins), mark those no longer listed gone.
 * Entries the host may not reach are skipped with the connect's message.
 */
static bool disc_apply(bool initial)
{
	uint8_t *log = NULL;
	uint64_t numrec = 0, genctr = 0;
	bool changed = false;

	if (disc_fetch(&log, &numrec, &genctr))
		return false;
	if (!initial && genctr == att.disc_genctr) {
		free(log);
		return false;
	}
	att.disc_genctr = genctr;
	const struct nvmf_disc_log_entry *e =
		(const void *)(log + sizeof(struct nvmf_disc_log_hdr));

	for (unsigned int i = 0; i < att.nr_ss; i++)
		att.ss[i]->seen = false;
	for (uint64_t i = 0; i < numrec; i++) {
		char nqn[NVMEOF_NQN_MAX + 1], addr[256], svc[32];

		if (e[i].subtype != NVMF_SUBTYPE_NVME || e[i].trtype != NVMF_TRTYPE_TCP)
			continue;
		cstr(nqn, sizeof(nqn), e[i].subnqn, sizeof(e[i].subnqn));
		cstr(addr, sizeof(addr), e[i].traddr, sizeof(e[i].traddr));
		cstr(svc, sizeof(svc), e[i].trsvcid, sizeof(e[i].trsvcid));
		if (!nqn[0] || strchr(nqn, '/') || strcmp(nqn, ".") == 0 || strcmp(nqn, "..") == 0)
			continue;
		pthread_rwlock_rdlock(&att.tree);
		struct att_subsys *have = ss_find(nqn, strlen(nqn));

		pthread_rwlock_unlock(&att.tree);
		if (have) {
			have->seen = true;
			continue;
		}
		if (att.nr_ss >= ATT_MAX_SUBSYS)
			continue;
		struct att_subsys *ss;

		if (ss_connect(nqn, addr, svc, &ss) == 0) {
			ss->seen = true;
			ss_add(ss);
			changed = true;
			log_info("attach", "attached %s at %s:%s", nqn, addr, svc);
		}
	}
	pthread_rwlock_wrlock(&att.tree);
	for (unsigned int i = 0; i < att.nr_ss; i++) {
		if (!att.ss[i]->seen && !att.ss[i]->gone) {
			att.ss[i]->gone = true;
			changed = true;
			log_info("attach", "%s left the discovery log", att.ss[i]->subnqn);
		}
	}
	pthread_rwlock_unlock(&att.tree);
	free(log);
	return changed;
}

/* ---- registry ----------------------------------------------------------- */

static char *registry_text(void)
{
	struct json_object *doc = json_object_new_object(), *subs = json_object_new_array();

	json_object_object_add(doc, "mountpoint", json_object_new_string(att.mountpoint));
	json_object_object_add(doc, "pid", json_object_new_int64(getpid()));
	json_object_object_add(doc, "hostnqn", json_object_new_string(att.conn.opts.hostnqn));
	pthread_rwlock_rdlock(&att.tree);
	for (unsigned int i = 0; i < att.nr_ss; i++) {
		struct att_subsys *ss = att.ss[i];

		if (ss->gone || !ss_connected(ss))
			continue;
		struct json_object *s = json_object_new_object(), *nss = json_object_new_array();
		enum nvmeof_ctrl_state st = ss_state(ss);

		json_object_object_add(s, "subnqn", json_object_new_string(ss->subnqn));
		json_object_object_add(s, "transport", json_object_new_string("tcp"));
		json_object_object_add(s, "traddr", json_object_new_string(ss->traddr));
		json_object_object_add(s, "trsvcid", json_object_new_string(ss->trsvcid));
		json_object_object_add(s, "state",
				       json_object_new_string(st == NVMEOF_CTRL_LIVE ? "live" : "connecting"));
		if (ss->npaths) {
			struct json_object *pa = json_object_new_array();

			for (unsigned int p = 0; p < ss->npaths; p++) {
				struct json_object *po = json_object_new_object();
				enum nvmeof_ctrl_state ps = nvmeof_ctrl_get_state(ss->paths[p].ctrl);

				json_object_object_add(po, "traddr", json_object_new_string(ss->paths[p].traddr));
				json_object_object_add(po, "trsvcid", json_object_new_string(ss->paths[p].trsvcid));
				json_object_object_add(po, "state", json_object_new_string(
									    ps == NVMEOF_CTRL_LIVE ? "live" : "connecting"));
				json_object_array_add(pa, po);
			}
			json_object_object_add(s, "paths", pa);
		}
		for (unsigned int j = 0; j < ss->nr_ns; j++) {
			struct att_ns *ns = ss->ns[j];
			char file[NVMEOF_NQN_MAX + 24];

			if (ns->gone)
				continue;
			struct json_object *n = json_object_new_object();

			if (att.discover)
				snprintf(file, sizeof(file), "%s/%s", ss->subnqn, ns->name);
			else
				snprintf(file, sizeof(file), "%s", ns->name);
			json_object_object_add(n, "nsid", json_object_new_int64(ns->nsid));
			json_object_object_add(n, "file", json_object_new_string(file));
			json_object_object_add(n, "size", json_object_new_int64((int64_t)(ns->nsze * ns->lba_size)));
			json_object_object_add(n, "lba_size", json_object_new_int64(ns->lba_size));
			json_object_array_add(nss, n);
		}
		json_object_object_add(s, "namespaces", nss);
		json_object_array_add(subs, s);
	}
	pthread_rwlock_unlock(&att.tree);
	json_object_object_add(doc, "subsystems", subs);
	char *text = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(doc);
	return text;
}

/* Rewrite the registry entry if its content changed (monitor thread or before it runs). */
static void registry_update(void)
{
	char *text = registry_text();

	if (!text || !att.reg_path[0])
		goto out;
	if (att.reg_text && strcmp(att.reg_text, text) == 0)
		goto out;
	if (att_reg_write(att.reg_path, text) == 0) {
		free(att.reg_text);
		att.reg_text = text;
		return;
	}
out:
	free(text);
}

/* ---- monitor thread ----------------------------------------------------- */

static void *monitor_main(void *arg)
{
	uint64_t last_poll = 0;

	pthread_mutex_lock(&att.mon_mu);
	while (!att.mon_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&att.mon_cv, &att.mon_mu, &ts);
		if (att.mon_stop)
			break;
		pthread_mutex_unlock(&att.mon_mu);

		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;

		if (now_ms - last_poll >= ATT_POLL_MS) {
			last_poll = now_ms;
			if (att.discover)
				disc_apply(false);
			for (unsigned int i = 0; i < att.nr_ss; i++) {
				struct att_subsys *ss = att.ss[i];

				if (!ss->gone && ss_connected(ss) && ss_state(ss) == NVMEOF_CTRL_LIVE)
					ss_sync_namespaces(ss);
			}
		}
		/* Gone subsystems without open files: disconnect. */
		for (unsigned int i = 0; i < att.nr_ss; i++) {
			struct att_subsys *ss = att.ss[i];
			bool reap;

			pthread_rwlock_rdlock(&att.tree);
			reap = ss->gone && ss_connected(ss) && atomic_load(&ss->opens) == 0;
			pthread_rwlock_unlock(&att.tree);
			if (reap)
				ss_disconnect(ss);
			else if (ss->npaths)
				ss_reap_namespaces(ss);
		}
		registry_update();
		pthread_mutex_lock(&att.mon_mu);
	}
	pthread_mutex_unlock(&att.mon_mu);
	return NULL;
}

/* ---- the command -------------------------------------------------------- */

enum { OPT_DISCOVER = OPT_CMD_FIRST, OPT_IOPOLICY };

static const struct option attach_options[] = {
	{ "foreground", no_argument, NULL, 'f' },
	{ "discover", no_argument, NULL, OPT_DISCOVER },
	{ "iopolicy", required_argument, NULL, OPT_IOPOLICY },
	{ 0 },
};

static void attach_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof attach -t tcp -a ADDR -s PORT [-a ADDR2 -s PORT2 ...] -n NQN [options] MOUNTPOINT\n"
		"       nvmeof attach --discover -t tcp -a ADDR [-s PORT (default 8009)] [options] MOUNTPOINT\n"
		"Serve each namespace as a file MOUNTPOINT/ns<NSID> through FUSE (losetup makes it a\n"
		"block device); with --discover, every subsystem of the discovery log in a directory\n"
		"MOUNTPOINT/<NQN>/, following the log's changes. Returns once the files exist and\n"
		"serves them in the background until `nvmeof detach MOUNTPOINT`.\n"
		"  several -a: paths to the subsystem (multipath): I/O goes by ANA state and fails over\n"
		"  to another path without an error; a -s after an -a is its port, a -s before the\n"
		"  first -a the port of every path without its own\n"
		"  -f, --foreground            stay in the foreground, log to stderr (else to syslog)\n"
		"      --iopolicy=P            among paths of equal ANA state: round-robin (default)\n"
		"                              or queue-depth\n"
		"      --discover              -a/-s name a discovery controller: attach every NVMe\n"
		"                              subsystem it lists and follow its changes\n"
		"  --nr-io-queues sets the number of requests in flight per subsystem (default %d);\n"
		"  I/O waits while the target reconnects, for up to --ctrl-loss-tmo, then fails (EIO).\n"
		"  Writes must be whole blocks of the namespace's block size (EINVAL otherwise).\n",
		ATT_DEFAULT_QUEUES);
	cli_conn_usage(f, true);
}

static int attach_opt(void *ctx, int opt, const char *arg)
{
	switch (opt) {
	case 'f':
		att.foreground = true;
		return 0;
	case OPT_DISCOVER:
		att.discover = true;
		return 0;
	case OPT_IOPOLICY:
		if (cli_parse_iopolicy(arg, &att.iopolicy)) {
			fprintf(stderr, "attach: invalid value '%s'\n", arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

/* Is path (a real path) a mount point already? /proc/self/mounts escapes blanks as \ooo. */
static bool is_mount_point(const char *path)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[PATH_MAX + 512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ' '), mp[PATH_MAX + 1];
		size_t n = 0;

		if (!p)
			continue;
		for (p++; *p && *p != ' ' && n < PATH_MAX; n++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
				mp[n] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 4;
			} else {
				mp[n] = *p++;
			}
		}
		mp[n] = 0;
		found = strcmp(mp, path) == 0;
	}
	fclose(f);
	return found;
}

/* Tell the waiting parent how it went: one byte, 0 = files ready. */
static void notify_parent(int fd, uint8_t status)
{
	if (fd < 0)
		return;
	ssize_t n = write(fd, &status, 1);

	(void)n;
	close(fd);
}

static int attach_connect_all(void)
{
	if (!att.discover && att.conn.npaths > 1) {
		struct att_subsys *ss;

		if (ss_connect_paths(&ss))
			return -1;
		ss_add(ss);
		return 0;
	}
	if (!att.discover) {
		struct att_subsys *ss;

		if (ss_connect(att.conn.opts.subnqn, att.conn.opts.traddr, att.conn.opts.trsvcid, &ss))
			return -1;
		ss_add(ss);
		return 0;
	}
	struct cli_conn c = att.conn;

	c.opts.subnqn = att.conn.have_nqn ? att.conn.opts.subnqn : NVME_DISC_NQN;
	c.opts.nr_io_queues = 0;
	if (c.opts.dhchap_secret)
		c.opts.dhchap_secret = c.dhchap_secret;
	if (c.opts.dhchap_ctrl_secret)
		c.opts.dhchap_ctrl_secret = c.dhchap_ctrl_secret;
	if (cli_connect(&c, &att.disc))
		return -1;
	disc_apply(true);
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	static const char default_port[] = NVMEOF_IO_PORT;
	int ready_fd = -1, rc;

	cli_conn_init(&att.conn, default_port);
	/* MOUNTPOINT is the last argument (getopt leaves no room for a positional). */
	const char *mp = NULL;

	if (argc >= 2 && argv[argc - 1][0] != '-') {
		mp = argv[argc - 1];
		argc--;
	}
	att.conn.opts.nr_io_queues = 0; /* not given: ATT_DEFAULT_QUEUES, not the library's 1 */
	att.conn.multipath_ok = true;
	rc = cli_parse(argc, argv, &att.conn, attach_options, "f", true, attach_opt, NULL, attach_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (!att.conn.opts.nr_io_queues)
		att.conn.opts.nr_io_queues = ATT_DEFAULT_QUEUES;
	if (!mp) {
		fprintf(stderr, "attach: MOUNTPOINT (the last argument) is missing\n");
		return 2;
	}
	/* --discover without -s: the discovery port (cli_conn_init's default is the I/O port). */
	if (att.discover && att.conn.opts.trsvcid == default_port)
		att.conn.opts.trsvcid = NVMEOF_DISC_PORT;
	if (cli_conn_finish(&att.conn, "attach", !att.discover))
		return 2;
	if (att.discover && att.conn.npaths > 1) {
		fprintf(stderr, "attach: --discover takes one -a (the discovery controller); for several "
				"paths give them with -n and no --discover\n");
		return 2;
	}
	if (!realpath(mp, att.mountpoint)) {
		fprintf(stderr, "attach: mount point %s: %s (create the directory first)\n", mp, strerror(errno));
		return 2;
	}
	struct stat st;

	if (stat(att.mountpoint, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "attach: mount point %s is not a directory\n", att.mountpoint);
		return 2;
	}
	if (is_mount_point(att.mountpoint)) {
		fprintf(stderr, "attach: %s is a mount point already (`nvmeof detach %s` if it is an "
				"attachment)\n", att.mountpoint, att.mountpoint);
		return 2;
	}
	if (access("/dev/fuse", R_OK | W_OK)) {
		fprintf(stderr, "attach: cannot open /dev/fuse: %s (load the fuse module, or in a container "
				"pass the device: --device /dev/fuse)\n", strerror(errno));
		return 2;
	}
	att.uid = getuid();
	att.gid = getgid();
	clock_gettime(CLOCK_REALTIME, &att.start);

	/*
	 * The library's threads do not survive fork(): fork first, connect and
	 * mount in the child, and let the parent exit only when the child says
	 * the files exist (0) or failed (its messages went to our stderr).
	 */
	if (!att.foreground) {
		int pfd[2];

		if (pipe(pfd)) {
			perror("attach: pipe");
			return 1;
		}
		pid_t pid = fork();

		if (pid < 0) {
			perror("attach: fork");
			return 1;
		}
		if (pid > 0) {
			uint8_t status = 1;

			close(pfd[1]);
			if (read(pfd[0], &status, 1) != 1)
				status = 1;
			return status;
		}
		close(pfd[0]);
		ready_fd = pfd[1];
		setsid();
	}

	if (attach_connect_all()) {
		notify_parent(ready_fd, 1);
		return 1;
	}
	att_reg_path(att.reg_path, sizeof(att.reg_path), (long)getpid());
	att.max_inflight = att.conn.opts.nr_io_queues;
	if (att.discover)
		att.max_inflight *= 2; /* a few subsystems share the workers */

	char fsname[64 + NVMEOF_NQN_MAX];

	snprintf(fsname, sizeof(fsname), "fsname=nvmeof:%s",
		 att.discover ? "discovery" : att.conn.opts.subnqn);
	char *fargv[] = { "nvmeof", "-o", fsname, "-o", "subtype=nvmeof", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(5, fargv);
	struct fuse *fuse = fuse_new(&args, &att_ops, sizeof(att_ops), NULL);

	fuse_opt_free_args(&args); /* fuse_new may have added to them */
	pthread_t mon;
	bool mon_started = false;

	rc = 1;
	if (!fuse) {
		fprintf(stderr, "attach: fuse_new failed\n");
		goto out_disconnect;
	}
	if (fuse_mount(fuse, att.mountpoint)) {
		fprintf(stderr, "attach: cannot mount on %s (already mounted? as non-root, fusermount3 "
				"must be installed)\n", att.mountpoint);
		goto out_destroy;
	}
	struct fuse_session *se = fuse_get_session(fuse);

	if (fuse_set_signal_handlers(se)) {
		fprintf(stderr, "attach: cannot install signal handlers\n");
		goto out_unmount;
	}
	rc = att_reg_mkdir();
	if (rc)
		fprintf(stderr, "attach: warning: registry %s: %s (`nvmeof detach` and `nvmeof list` "
				"will not find this attachment; set NVMEOF_ATTACH_DIR)\n", att_reg_dir(),
			strerror(-rc));
	rc = 1;
	registry_update();
	if (pthread_create(&mon, NULL, monitor_main, NULL) == 0)
		mon_started = true;
	if (att.foreground) {
		printf("attached on %s\n", att.mountpoint);
		fflush(stdout);
	} else {
		int devnull = open("/dev/null", O_RDWR);

		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
			if (devnull > STDERR_FILENO)
				close(devnull);
		}
		/* In the background, the library's and our messages go to syslog. */
		log_use_syslog("nvmeof-attach");
		notify_parent(ready_fd, 0);
		ready_fd = -1;
		(void)!chdir("/");
	}
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();

	/* Each worker holds one queue pair for the duration of its I/O. */
	fuse_loop_cfg_set_max_threads(cfg, att.max_inflight + 2);
	fuse_loop_cfg_set_idle_threads(cfg, att.max_inflight + 2);
	/* Positive: the signal that ended the loop (SIGTERM from detach), a normal end too. */
	rc = fuse_loop_mt(fuse, cfg) < 0 ? 1 : 0;
	fuse_loop_cfg_destroy(cfg);
	if (mon_started) {
		pthread_mutex_lock(&att.mon_mu);
		att.mon_stop = true;
		pthread_cond_signal(&att.mon_cv);
		pthread_mutex_unlock(&att.mon_mu);
		pthread_join(mon, NULL);
	}
	/*
	 * Shutting down already: detach's SIGTERM must not cut the flush and the
	 * registry removal short. Ignored before libfuse's handlers go, which
	 * then leaves them alone (it only resets its own handler).
	 */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	fuse_remove_signal_handlers(se);
out_unmount:
	fuse_unmount(fuse);
out_destroy:
	fuse_destroy(fuse);
out_disconnect:
	for (unsigned int i = 0; i < att.nr_ss; i++) {
		ss_disconnect(att.ss[i]);
		for (unsigned int j = 0; j < att.ss[i]->nr_ns; j++)
			free(att.ss[i]->ns[j]);
		qpool_destroy(&att.ss[i]->pool);
		free(att.ss[i]);
	}
	if (att.disc)
		nvmeof_ctrl_disconnect(att.disc);
	if (att.reg_path[0])
		unlink(att.reg_path);
	free(att.reg_text);
	notify_parent(ready_fd, 1);
	return rc;
}
