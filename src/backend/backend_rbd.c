/* SPDX-License-Identifier: MIT */
/*
 * Ceph RBD backend: "rbd:POOL/IMAGE" or "rbd:POOL/NAMESPACE/IMAGE" through
 * librbd's asynchronous API.
 *
 * Completions. librbd calls a completion's callback on one of its own
 * threads. The callback only records the result and pushes the request onto
 * a lock-free list owned by the reactor that submitted it, then writes that
 * reactor's eventfd if the list was empty. Each reactor keeps one read of its
 * eventfd queued on its io_uring; when it completes, the reactor takes the
 * whole list and finishes the requests on its own thread. So no reactor ever
 * waits for Ceph, completions never run on librbd's threads, and there is no
 * thread per I/O. (rbd_set_image_notification would give one eventfd per
 * image: completions of every reactor would arrive on whichever reactor read
 * it, and one image opened per reactor would bounce the exclusive lock.)
 * The per-reactor channels live as long as the process.
 *
 * Cache. librbd's cache stays on (its default): the namespace reports a
 * volatile write cache, Flush maps to rbd_aio_flush, and FUA writes are
 * followed by one. Deallocate maps to rbd_aio_discard with partial discards
 * zeroed (rbd_skip_partial_discard = false), so deallocated blocks read back
 * as zeroes; Write Zeroes maps to rbd_aio_write_zeroes.
 *
 * Failures. A client that loses the cluster would wait forever; unless the
 * conf file sets them, rados_osd_op_timeout and rados_mon_op_timeout (15 s,
 * 10 s) make operations fail with -ETIMEDOUT, and client_mount_timeout (10 s)
 * bounds opening an image. The target reports those as retryable errors.
 *
 * Fencing. Images have the exclusive-lock feature: one client writes at a
 * time, and librbd hands the lock over on request, or, when the holder
 * does not answer, only once the holder's watch times out
 * (osd_client_watch_timeout, 30 s). A gateway group's survivor that takes
 * over from a member whose lease expired breaks the lock at once
 * (backend_rbd_break_foreign_lock), but only when its holder is that
 * member's Ceph client: each member records its clients' addresses
 * (backend_rbd_clients) with its lease, and a lock held by any other client
 * (a live member, another application) is left to librbd's hand-over.
 * librbd blocklists the former holder (rbd_blocklist_on_break_lock), so a
 * member that was only frozen cannot write when it wakes. Its I/O then fails with -EBLOCKLISTED (ESHUTDOWN),
 * which the target reports as retryable (Namespace Not Ready); we log it once
 * per cluster handle. A gateway group's member asks whether that happened
 * (backend_rbd_blocklisted, backend_rbd_probe) and leaves the group rather
 * than serve paths that cannot do I/O.
 *
 * Cluster handles. One rados handle per (conf file, client id), shared by
 * the namespaces that use it and shut down with the last of them.
 *
 * Resize. rbd_update_watch calls us on a librbd thread when the image header
 * changes; a new size goes to the resize hook (the namespace, which raises
 * a Namespace Attribute Changed event).
 *
 * Closing. rbd_close and rados_shutdown may wait for the cluster, so a close
 * requested on a reactor (the last command of a removed namespace finished
 * there) is handed to a short-lived thread; elsewhere it runs inline.
 */
#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend_internal.h"
#include "common/log.h"

#define LOG_COMP "rbd"

/* Used unless the conf file sets them (Ceph's defaults wait forever or 300 s). */
#define RBD_OSD_OP_TIMEOUT "15"
#define RBD_MON_OP_TIMEOUT "10"
#define RBD_MOUNT_TIMEOUT "10"

/* ------------------------------------------------------------------ */
/* Path parsing                                                        */

static int rbd_component(const char *path, const char *start, size_t len, const char *what,
			 char *out, char *err, size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "%s: empty %s name (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)",
			 path, what);
		return -EINVAL;
	}
	if (len >= BACKEND_RBD_NAME_MAX) {
		snprintf(err, errlen, "%s: %s name longer than %d bytes", path, what,
			 BACKEND_RBD_NAME_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)start[i];

		if (ch <= ' ' || ch == 0x7f) {
			snprintf(err, errlen, "%s: %s name has a space or control character", path, what);
			return -EINVAL;
		}
		if (ch == '@') {
			snprintf(err, errlen, "%s: snapshots (@SNAP) are not supported", path);
			return -EINVAL;
		}
	}
	memcpy(out, start, len);
	out[len] = '\0';
	return 0;
}

int backend_rbd_parse_path(const char *path, struct backend_rbd_spec *spec, char *err, size_t errlen)
{
	const char *parts[3], *p, *s;
	size_t lens[3];
	unsigned int n = 0;
	int ret;

	memset(spec, 0, sizeof(*spec));
	if (!backend_path_is_rbd(path)) {
		snprintf(err, errlen, "%s: not an rbd: path", path ? path : "(null)");
		return -EINVAL;
	}
	s = path + strlen(BACKEND_RBD_PREFIX);
	for (p = s;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (n == 3) {
			snprintf(err, errlen, "%s: too many '/' (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)",
				 path);
			return -EINVAL;
		}
		parts[n] = s;
		lens[n++] = (size_t)(p - s);
		if (*p == '\0')
			break;
		s = p + 1;
	}
	if (n == 1) {
		snprintf(err, errlen, "%s: no image (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)", path);
		return -EINVAL;
	}
	if ((ret = rbd_component(path, parts[0], lens[0], "pool", spec->pool, err, errlen)))
		return ret;
	if (n == 3 && (ret = rbd_component(path, parts[1], lens[1], "namespace", spec->ns, err, errlen)))
		return ret;
	return rbd_component(path, parts[n - 1], lens[n - 1], "image", spec->image, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Daemon defaults and shared cluster handles                          */

static pthread_mutex_t rbd_lock = PTHREAD_MUTEX_INITIALIZER;
static char *rbd_default_conf;
static char *rbd_default_id;

int backend_rbd_set_defaults(const char *conf, const char *id)
{
	char *c = conf ? strdup(conf) : NULL, *i = id ? strdup(id) : NULL;

	if ((conf && !c) || (id && !i)) {
		free(c);
		free(i);
		return -ENOMEM;
	}
	pthread_mutex_lock(&rbd_lock);
	free(rbd_default_conf);
	free(rbd_default_id);
	rbd_default_conf = c;
	rbd_default_id = i;
	pthread_mutex_unlock(&rbd_lock);
	return 0;
}

const char *backend_rbd_default_conf(void)
{
	return rbd_default_conf ? rbd_default_conf : "/etc/ceph/ceph.conf";
}

const char *backend_rbd_default_id(void)
{
	return rbd_default_id ? rbd_default_id : "admin";
}

struct rbd_cluster {
	struct rbd_cluster *next;
	char *conf;
	char *id;
	rados_t rados;
	unsigned int refs; /* under rbd_lock */
	atomic_bool blocklisted; /* logged */
};

static struct rbd_cluster *rbd_clusters;
static unsigned long rbd_clusters_gen; /* under rbd_lock: bumped when a handle comes or goes */
static atomic_bool rbd_any_blocklisted; /* some handle was refused as blocklisted */

static void cluster_free(struct rbd_cluster *cl)
{
	if (cl->rados)
		rados_shutdown(cl->rados);
	free(cl->conf);
	free(cl->id);
	free(cl);
}

/* Set a client option unless the conf file did. */
static void cluster_default_opt(rados_t r, const char *key, const char *ceph_default, const char *ours)
{
	char cur[64];

	if (rados_conf_get(r, key, cur, sizeof(cur)) == 0 && strcmp(cur, ceph_default))
		return;
	rados_conf_set(r, key, ours);
}

/*
 * A connected handle for (conf, id), new or shared. Connecting blocks for at
 * most client_mount_timeout; rbd_lock is not held meanwhile, so two first
 * opens may connect twice (the second handle is dropped).
 */
static int cluster_get(const char *conf, const char *id, struct rbd_cluster **out, char *err,
		       size_t errlen)
{
	struct rbd_cluster *cl;
	int ret;

	pthread_mutex_lock(&rbd_lock);
	for (cl = rbd_clusters; cl; cl = cl->next)
		if (!strcmp(cl->conf, conf) && !strcmp(cl->id, id))
			break;
	if (cl) {
		cl->refs++;
		pthread_mutex_unlock(&rbd_lock);
		*out = cl;
		return 0;
	}
	pthread_mutex_unlock(&rbd_lock);

	cl = calloc(1, sizeof(*cl));
	if (!cl || !(cl->conf = strdup(conf)) || !(cl->id = strdup(id))) {
		if (cl)
			cluster_free(cl);
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if ((ret = rados_create(&cl->rados, id)) < 0) {
		cl->rados = NULL;
		snprintf(err, errlen, "ceph client id '%.64s': %s", id, strerror(-ret));
		goto fail;
	}
	if ((ret = rados_conf_read_file(cl->rados, conf)) < 0) {
		snprintf(err, errlen, "ceph conf %.200s: %s", conf, strerror(-ret));
		goto fail;
	}
	cluster_default_opt(cl->rados, "rados_osd_op_timeout", "0", RBD_OSD_OP_TIMEOUT);
	cluster_default_opt(cl->rados, "rados_mon_op_timeout", "0", RBD_MON_OP_TIMEOUT);
	cluster_default_opt(cl->rados, "client_mount_timeout", "300", RBD_MOUNT_TIMEOUT);
	/* Deallocated blocks must read back as zeroes (DLFEAT). */
	rados_conf_set(cl->rados, "rbd_skip_partial_discard", "false");
	if ((ret = rados_connect(cl->rados)) < 0) {
		char tmo[16] = "?";

		rados_conf_get(cl->rados, "client_mount_timeout", tmo, sizeof(tmo));
		snprintf(err, errlen, "cannot connect to the Ceph cluster of %.200s as client.%.64s: %s%s%s%s",
			 conf, id, strerror(-ret),
			 ret == -ETIMEDOUT || ret == -EINTR ? " (no monitor answered within " : "",
			 ret == -ETIMEDOUT || ret == -EINTR ? tmo : "",
			 ret == -ETIMEDOUT || ret == -EINTR ? " s)" : "");
		goto fail;
	}
	cl->refs = 1;
	pthread_mutex_lock(&rbd_lock);
	for (struct rbd_cluster *o = rbd_clusters; o; o = o->next) {
		if (!strcmp(o->conf, conf) && !strcmp(o->id, id)) {
			o->refs++;
			pthread_mutex_unlock(&rbd_lock);
			cluster_free(cl);
			*out = o;
			return 0;
		}
	}
	cl->next = rbd_clusters;
	rbd_clusters = cl;
	rbd_clusters_gen++;
	pthread_mutex_unlock(&rbd_lock);
	log_info(LOG_COMP, "connected to the Ceph cluster of %s as client.%s", conf, id);
	*out = cl;
	return 0;

fail:
	cluster_free(cl);
	return ret;
}

/* Not on a reactor: rados_shutdown waits for the cluster. */
static void cluster_put(struct rbd_cluster *cl)
{
	struct rbd_cluster **pp;

	pthread_mutex_lock(&rbd_lock);
	if (--cl->refs) {
		pthread_mutex_unlock(&rbd_lock);
		return;
	}
	for (pp = &rbd_clusters; *pp != cl; pp = &(*pp)->next)
		;
	*pp = cl->next;
	rbd_clusters_gen++;
	pthread_mutex_unlock(&rbd_lock);
	log_info(LOG_COMP, "disconnecting from the Ceph cluster of %s", cl->conf);
	cluster_free(cl);
}

/* ------------------------------------------------------------------ */
/* Per-reactor completion channels                                     */

struct rbd_chan {
	struct rbd_chan *next; /* rbd_chans */
	struct reactor *reactor;
	int efd;
	uint64_t efd_val; /* target of the queued read */
	struct reactor_completion rc;
	_Atomic(struct backend_io *) head; /* pushed by librbd threads, taken by the reactor */
};

static struct rbd_chan *rbd_chans; /* under rbd_lock; never freed */
static _Thread_local struct rbd_chan *rbd_chan_cur;

static void chan_ready(struct reactor_completion *rc, int res, uint32_t cqe_flags);

static void chan_arm(struct rbd_chan *ch)
{
	struct io_uring_sqe *sqe = reactor_sqe(ch->reactor, &ch->rc);

	io_uring_prep_read(sqe, ch->efd, &ch->efd_val, sizeof(ch->efd_val), 0);
}

/* The channel of reactor r (the calling thread's), made on first use. */
static struct rbd_chan *chan_get(struct reactor *r)
{
	struct rbd_chan *ch = rbd_chan_cur;

	if (ch && ch->reactor == r)
		return ch;
	pthread_mutex_lock(&rbd_lock);
	for (ch = rbd_chans; ch && ch->reactor != r; ch = ch->next)
		;
	pthread_mutex_unlock(&rbd_lock);
	if (!ch) {
		ch = calloc(1, sizeof(*ch));
		if (!ch)
			return NULL;
		ch->efd = eventfd(0, EFD_CLOEXEC);
		if (ch->efd < 0) {
			log_error(LOG_COMP, "eventfd: %s", strerror(errno));
			free(ch);
			return NULL;
		}
		ch->reactor = r;
		ch->rc.fn = chan_ready;
		atomic_init(&ch->head, NULL);
		chan_arm(ch);
		pthread_mutex_lock(&rbd_lock);
		ch->next = rbd_chans;
		rbd_chans = ch;
		pthread_mutex_unlock(&rbd_lock);
	}
	rbd_chan_cur = ch;
	return ch;
}

/* Any thread (librbd's callback thread). */
static void chan_push(struct rbd_chan *ch, struct backend_io *io)
{
	struct backend_io *old = atomic_load_explicit(&ch->head, memory_order_relaxed);

	do
		io->next = old;
	while (!atomic_compare_exchange_weak_explicit(&ch->head, &old, io, memory_order_release,
						      memory_order_relaxed));
	if (!old) {
		uint64_t one = 1;

		/* Only fails if the counter would overflow: it is being read anyway. */
		if (write(ch->efd, &one, sizeof(one)) < 0)
			log_error_rl(LOG_COMP, "eventfd write: %s", strerror(errno));
	}
}

static void rbd_io_finish(struct backend_io *io, int res);

static void chan_ready(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct rbd_chan *ch = (struct rbd_chan *)((char *)rc - offsetof(struct rbd_chan, rc));
	struct backend_io *list, *rev = NULL;

	chan_arm(ch);
	list = atomic_exchange_explicit(&ch->head, NULL, memory_order_acquire);
	/* Pushed newest first: finish in completion order. */
	while (list) {
		struct backend_io *next = list->next;

		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct backend_io *io = rev;

		rev = io->next;
		rbd_io_finish(io, io->stage);
	}
}

/* ------------------------------------------------------------------ */
/* Image I/O                                                           */

struct rbd_backend {
	struct backend be;
	struct rbd_cluster *cl;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	uint64_t watch_handle;
	bool watching;
	_Atomic uint64_t size; /* current image size in whole blocks, bytes */
	pthread_mutex_t hook_lock;
	void (*hook_fn)(void *arg, struct backend *be, uint64_t size);
	void *hook_arg;
};

static struct rbd_backend *to_rbd(struct backend *be)
{
	return (struct rbd_backend *)be;
}

/* The cluster refused us (another gateway broke our image lock): say so once. */
static void rbd_note_result(struct rbd_backend *rb, int res)
{
	if (res == -ESHUTDOWN)
		atomic_store(&rbd_any_blocklisted, true);
	if (res == -ESHUTDOWN && !atomic_exchange(&rb->cl->blocklisted, true))
		log_error(LOG_COMP,
			  "%s: Ceph client blocklisted by the cluster (its image lock was broken, presumably by "
			  "another gateway that took over): I/O on its images fails until the target restarts",
			  rb->be.path);
}

/* librbd thread: record the result, hand the request to its reactor. */
static void rbd_aio_cb(rbd_completion_t c, void *arg)
{
	struct backend_io *io = arg;
	ssize_t res = rbd_aio_get_return_value(c);

	rbd_aio_release(c);
	io->stage = res < 0 ? (int)res : 0;
	if (res < 0)
		rbd_note_result(to_rbd(io->be), (int)res);
	chan_push(io->priv, io);
}

static int rbd_issue(struct backend_io *io, enum backend_op op)
{
	struct rbd_backend *rb = to_rbd(io->be);
	rbd_completion_t c;
	int ret;

	ret = rbd_aio_create_completion(io, rbd_aio_cb, &c);
	if (ret < 0)
		return ret;
	switch (op) {
	case BACKEND_READ:
		ret = rbd_aio_read(rb->image, io->offset, io->len, io->buf, c);
		break;
	case BACKEND_WRITE:
		ret = rbd_aio_write(rb->image, io->offset, io->len, io->buf, c);
		break;
	case BACKEND_FLUSH:
		ret = rbd_aio_flush(rb->image, c);
		break;
	case BACKEND_WRITE_ZEROES:
		ret = rbd_aio_write_zeroes(rb->image, io->offset, io->len, c, 0, 0);
		break;
	case BACKEND_DISCARD:
		ret = rbd_aio_discard(rb->image, io->offset, io->len, c);
		break;
	default:
		ret = -EOPNOTSUPP;
	}
	if (ret < 0) {
		rbd_aio_release(c);
		rbd_note_result(rb, ret);
	}
	return ret;
}

/* On the owning reactor. progress: 0 = the operation, 1 = the flush after a FUA write. */
static void rbd_io_finish(struct backend_io *io, int res)
{
	if (res == 0 && io->fua && io->progress == 0 &&
	    (io->op == BACKEND_WRITE || io->op == BACKEND_WRITE_ZEROES)) {
		io->progress = 1;
		res = rbd_issue(io, BACKEND_FLUSH);
		if (res == 0)
			return;
	}
	io->done(io, res);
}

static int rbd_submit(struct backend *be, struct reactor *r, struct backend_io *io)
{
	struct rbd_backend *rb = to_rbd(be);
	uint64_t size = atomic_load_explicit(&rb->size, memory_order_relaxed);
	struct rbd_chan *ch;

	if (io->op != BACKEND_FLUSH && (io->offset > size || io->len > size - io->offset))
		return -EINVAL;
	if (be->read_only && io->op != BACKEND_READ && io->op != BACKEND_FLUSH)
		return -EROFS;
	if ((io->op == BACKEND_READ || io->op == BACKEND_WRITE) && !io->buf)
		return -EINVAL;
	ch = chan_get(r);
	if (!ch)
		return -ENOMEM;
	io->be = be;
	io->reactor = r;
	io->priv = ch;
	io->progress = 0;
	return rbd_issue(io, io->op);
}

static int rbd_sync(struct backend *be)
{
	return rbd_flush(to_rbd(be)->image);
}

static void rbd_set_resize_hook(struct backend *be,
				void (*fn)(void *arg, struct backend *be, uint64_t size), void *arg)
{
	struct rbd_backend *rb = to_rbd(be);

	pthread_mutex_lock(&rb->hook_lock);
	rb->hook_fn = fn;
	rb->hook_arg = arg;
	pthread_mutex_unlock(&rb->hook_lock);
}

/* librbd thread: the image header changed (resize, features, snapshots...). */
static void rbd_update_cb(void *arg)
{
	struct rbd_backend *rb = arg;
	void (*fn)(void *, struct backend *, uint64_t);
	void *fn_arg;
	uint64_t size, old;

	if (rbd_get_size(rb->image, &size) < 0)
		return;
	size = size / rb->be.block_size * rb->be.block_size;
	old = atomic_exchange(&rb->size, size);
	if (old == size)
		return;
	log_notice(LOG_COMP, "%s: resized from %llu to %llu bytes", rb->be.path, (unsigned long long)old,
		   (unsigned long long)size);
	pthread_mutex_lock(&rb->hook_lock);
	fn = rb->hook_fn;
	fn_arg = rb->hook_arg;
	pthread_mutex_unlock(&rb->hook_lock);
	if (fn)
		fn(fn_arg, &rb->be, size);
}

static void rbd_close_now(struct rbd_backend *rb)
{
	if (rb->watching)
		rbd_update_unwatch(rb->image, rb->watch_handle);
	if (rb->image)
		rbd_close(rb->image);
	if (rb->ioctx)
		rados_ioctx_destroy(rb->ioctx);
	if (rb->cl)
		cluster_put(rb->cl);
	pthread_mutex_destroy(&rb->hook_lock);
	free(rb->be.path);
	free(rb->be.ceph_conf);
	free(rb->be.ceph_id);
	free(rb);
}

static void *rbd_close_thread(void *arg)
{
	rbd_close_now(arg);
	return NULL;
}

static void rbd_backend_close(struct backend *be)
{
	struct rbd_backend *rb = to_rbd(be);
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	rbd_set_resize_hook(be, NULL, NULL);
	if (!reactor_current()) {
		rbd_close_now(rb);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&t, &attr, rbd_close_thread, rb);
	pthread_attr_destroy(&attr);
	if (ret) {
		log_error(LOG_COMP, "%s: no thread to close it (%s); closing on the reactor", be->path,
			  strerror(ret));
		rbd_close_now(rb);
	}
}

static const struct backend_ops rbd_ops = {
	.submit = rbd_submit,
	.map = NULL,
	.sync = rbd_sync,
	.close = rbd_backend_close,
	.set_resize_hook = rbd_set_resize_hook,
};

int backend_rbd_open(const struct backend_open_opts *opts, struct backend **out, char *err,
		     size_t errlen)
{
	uint32_t bs = opts->block_size ? opts->block_size : 512;
	const char *conf, *id;
	struct backend_rbd_spec spec;
	struct rbd_backend *rb;
	char msg[400];
	uint64_t size;
	int ret;

	if ((ret = backend_rbd_parse_path(opts->path, &spec, err, errlen)))
		return ret;
	if (opts->direct) {
		snprintf(err, errlen, "%s: direct I/O does not apply to RBD images", opts->path);
		return -EINVAL;
	}
	if (opts->ceph_id && !strncmp(opts->ceph_id, "client.", 7)) {
		snprintf(err, errlen, "%s: ceph id '%s': give the id without \"client.\"", opts->path,
			 opts->ceph_id);
		return -EINVAL;
	}
	rb = calloc(1, sizeof(*rb));
	if (!rb) {
		snprintf(err, errlen, "%s: %s", opts->path, strerror(ENOMEM));
		return -ENOMEM;
	}
	pthread_mutex_init(&rb->hook_lock, NULL);
	rb->be.path = strdup(opts->path);
	rb->be.ceph_conf = opts->ceph_conf ? strdup(opts->ceph_conf) : NULL;
	rb->be.ceph_id = opts->ceph_id ? strdup(opts->ceph_id) : NULL;
	if (!rb->be.path || (opts->ceph_conf && !rb->be.ceph_conf) || (opts->ceph_id && !rb->be.ceph_id)) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: %s", opts->path, strerror(ENOMEM));
		goto fail;
	}
	pthread_mutex_lock(&rbd_lock);
	conf = opts->ceph_conf ? opts->ceph_conf : backend_rbd_default_conf();
	id = opts->ceph_id ? opts->ceph_id : backend_rbd_default_id();
	/* Copies: the defaults may change while we connect. */
	char conf_buf[4096], id_buf[256];
	snprintf(conf_buf, sizeof(conf_buf), "%s", conf);
	snprintf(id_buf, sizeof(id_buf), "%s", id);
	pthread_mutex_unlock(&rbd_lock);

	if ((ret = cluster_get(conf_buf, id_buf, &rb->cl, msg, sizeof(msg)))) {
		snprintf(err, errlen, "%s: %s", opts->path, msg);
		goto fail;
	}
	if ((ret = rados_ioctx_create(rb->cl->rados, spec.pool, &rb->ioctx)) < 0) {
		rb->ioctx = NULL;
		snprintf(err, errlen, "%s: pool '%s': %s", opts->path, spec.pool,
			 ret == -ENOENT ? "no such pool" : strerror(-ret));
		goto fail;
	}
	if (spec.ns[0])
		rados_ioctx_set_namespace(rb->ioctx, spec.ns);
	ret = opts->read_only ? rbd_open_read_only(rb->ioctx, spec.image, &rb->image, NULL)
			      : rbd_open(rb->ioctx, spec.image, &rb->image, NULL);
	if (ret < 0) {
		rb->image = NULL;
		snprintf(err, errlen, "%s: image '%s'%s%s: %s", opts->path, spec.image,
			 spec.ns[0] ? " in namespace " : "", spec.ns,
			 ret == -ENOENT ? "no such image" : strerror(-ret));
		goto fail;
	}
	if ((ret = rbd_get_size(rb->image, &size)) < 0) {
		snprintf(err, errlen, "%s: cannot read the image size: %s", opts->path, strerror(-ret));
		goto fail;
	}
	size = size / bs * bs;
	if (size == 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: image is smaller than one %u-byte block", opts->path, bs);
		goto fail;
	}
	if (opts->size > size) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: image has %llu bytes, less than the %llu asked (grow it with rbd resize)",
			 opts->path, (unsigned long long)size, (unsigned long long)opts->size);
		goto fail;
	}
	atomic_init(&rb->size, size);
	rb->be.ops = &rbd_ops;
	rb->be.kind = BACKEND_RBD;
	rb->be.size = size;
	rb->be.block_size = bs;
	rb->be.volatile_cache = true;
	rb->be.read_only = opts->read_only;
	ret = rbd_update_watch(rb->image, &rb->watch_handle, rbd_update_cb, rb);
	if (ret < 0)
		log_warn(LOG_COMP, "%s: cannot watch the image (%s): a resize will not be seen",
			 opts->path, strerror(-ret));
	else
		rb->watching = true;
	*out = &rb->be;
	return 0;

fail:
	rbd_close_now(rb);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Fencing                                                             */

/*
 * One Ceph address of a list, as "IP:PORT/NONCE": without its type ("v1:",
 * "v2:", "any:") and without the brackets of an address vector
 * ("[v2:A,v1:B]", split at the comma). An IPv6 address keeps its own
 * brackets ("[::1]:0/5"); an address ends with its nonce, never with ']'.
 */
static const char *addr_strip(const char *a, size_t n, size_t *len)
{
	static const char *const types[] = { "v1:", "v2:", "any:", "none:" };

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			size_t tl = strlen(types[i]);

			if (pass == 0 && n > tl && a[0] == '[' && !strncmp(a + 1, types[i], tl)) {
				a++; /* an address vector's bracket */
				n--;
				break;
			}
			if (pass == 1 && n > tl && !strncmp(a, types[i], tl)) {
				a += tl;
				n -= tl;
				break;
			}
		}
	}
	if (n && a[n - 1] == ']')
		n--;
	*len = n;
	return a;
}

/* Whether addr is one of the addresses in list (separated by spaces or commas). */
static bool addr_listed(const char *list, const char *addr)
{
	size_t an, tn;
	const char *a = addr_strip(addr, strlen(addr), &an);

	if (!an)
		return false;
	for (const char *t = list + strspn(list, " ,"); *t; t += strspn(t, " ,")) {
		size_t n = strcspn(t, " ,");
		const char *s = addr_strip(t, n, &tn);

		if (tn == an && !memcmp(s, a, an))
			return true;
		t += n;
	}
	return false;
}

/* Is the lock owner's address ours? */
static bool owner_is_us(rados_t rados, const char *owner)
{
	char *mine = NULL;
	bool us;

	if (rados_getaddrs(rados, &mine) < 0 || !mine)
		return false;
	us = addr_listed(mine, owner);
	free(mine);
	return us;
}

int backend_rbd_clients(char *out, size_t outlen, unsigned long *gen)
{
	size_t len = 0;
	int n = 0, ret = 0;

	out[0] = '\0';
	pthread_mutex_lock(&rbd_lock);
	*gen = rbd_clusters_gen;
	for (struct rbd_cluster *cl = rbd_clusters; cl && ret == 0; cl = cl->next) {
		char *a = NULL;
		int w;

		if ((ret = rados_getaddrs(cl->rados, &a)) < 0 || !a) {
			ret = ret < 0 ? ret : -ENOMEM;
			break;
		}
		w = snprintf(out + len, outlen - len, "%s%s", n ? " " : "", a);
		free(a);
		if (w < 0 || (size_t)w >= outlen - len)
			ret = -ENOSPC;
		else
			len += (size_t)w;
		n++;
	}
	pthread_mutex_unlock(&rbd_lock);
	if (ret < 0)
		out[0] = '\0';
	return ret < 0 ? ret : n;
}

unsigned long backend_rbd_clients_gen(void)
{
	unsigned long gen;

	pthread_mutex_lock(&rbd_lock);
	gen = rbd_clusters_gen;
	pthread_mutex_unlock(&rbd_lock);
	return gen;
}

/* The client ("client.4123") whose lock on the image header is at addr, for the log. */
static void owner_client(rbd_image_t image, const char *addr, char *out, size_t outlen)
{
	char tag[128], clients[1024], cookies[1024], addrs[1024];
	size_t tl = sizeof(tag), cl = sizeof(clients), kl = sizeof(cookies), al = sizeof(addrs);
	int excl = 0;
	ssize_t n = rbd_list_lockers(image, &excl, tag, &tl, clients, &cl, cookies, &kl, addrs, &al);
	const char *c = clients, *a = addrs;

	out[0] = '\0';
	for (ssize_t i = 0; i < n && c < clients + cl && a < addrs + al; i++) {
		if (strstr(a, addr) || strstr(addr, a)) {
			size_t len = strnlen(c, outlen - 1);

			memcpy(out, c, len);
			out[len] = '\0';
			return;
		}
		c += strlen(c) + 1;
		a += strlen(a) + 1;
	}
}

/*
 * The shared cluster handle (the namespaces' own, so it is the client whose
 * locks and I/O are in question) and an I/O context on PATH's pool and
 * namespace; *spec holds the parsed path. 0 or -errno with err set.
 */
static int pool_ioctx_open(const char *path, const char *ceph_conf, const char *ceph_id,
			   struct backend_rbd_spec *spec, struct rbd_cluster **cl, rados_ioctx_t *ioctx,
			   char *err, size_t errlen)
{
	char conf[4096], id[256], msg[400];
	int ret;

	*cl = NULL;
	*ioctx = NULL;
	if ((ret = backend_rbd_parse_path(path, spec, err, errlen)))
		return ret;
	pthread_mutex_lock(&rbd_lock);
	snprintf(conf, sizeof(conf), "%s", ceph_conf ? ceph_conf : backend_rbd_default_conf());
	snprintf(id, sizeof(id), "%s", ceph_id ? ceph_id : backend_rbd_default_id());
	pthread_mutex_unlock(&rbd_lock);
	if ((ret = cluster_get(conf, id, cl, msg, sizeof(msg)))) {
		snprintf(err, errlen, "%s", msg);
		*cl = NULL;
		return ret;
	}
	if ((ret = rados_ioctx_create((*cl)->rados, spec->pool, ioctx)) < 0) {
		*ioctx = NULL;
		snprintf(err, errlen, "pool '%s': %s", spec->pool, strerror(-ret));
		cluster_put(*cl);
		*cl = NULL;
		return ret;
	}
	if (spec->ns[0])
		rados_ioctx_set_namespace(*ioctx, spec->ns);
	return 0;
}

int backend_rbd_break_foreign_lock(const char *path, const char *ceph_conf, const char *ceph_id,
				   const char *expected, char *owner, size_t ownerlen, char *err, size_t errlen)
{
	struct backend_rbd_spec spec;
	struct rbd_cluster *cl = NULL;
	rados_ioctx_t ioctx = NULL;
	rbd_image_t image = NULL;
	rbd_lock_mode_t mode = RBD_LOCK_MODE_EXCLUSIVE;
	char client[128];
	char *owners[4];
	size_t nowners = sizeof(owners) / sizeof(owners[0]);
	int ret;

	owner[0] = '\0';
	err[0] = '\0';
	/* The namespaces' shared handle: so the holder we break is never this process. */
	if ((ret = pool_ioctx_open(path, ceph_conf, ceph_id, &spec, &cl, &ioctx, err, errlen)))
		return ret;
	/* An image handle of our own (the namespace may go meanwhile); opening takes no lock. */
	if ((ret = rbd_open(ioctx, spec.image, &image, NULL)) < 0) {
		image = NULL;
		snprintf(err, errlen, "opening the image: %s", strerror(-ret));
		goto out;
	}
	ret = rbd_lock_get_owners(image, &mode, owners, &nowners);
	if (ret == -ENOENT || (ret == 0 && nowners == 0)) {
		snprintf(err, errlen, "nobody holds it");
		ret = 0;
		goto out;
	}
	if (ret < 0) {
		snprintf(err, errlen, "reading the lock owner: %s", strerror(-ret));
		goto out;
	}
	owner_client(image, owners[0], client, sizeof(client));
	if (client[0])
		snprintf(owner, ownerlen, "%s (%s)", client, owners[0]);
	else
		snprintf(owner, ownerlen, "%s", owners[0]);
	if (mode != RBD_LOCK_MODE_EXCLUSIVE || owner_is_us(cl->rados, owners[0])) {
		snprintf(err, errlen, "%s", mode != RBD_LOCK_MODE_EXCLUSIVE ? "a shared lock"
									    : "this process's Ceph client holds it");
		rbd_lock_get_owners_cleanup(owners, nowners);
		ret = 0;
		goto out;
	}
	if (expected && !addr_listed(expected, owners[0])) {
		snprintf(err, errlen, "held by %s, not by the expected client (%s)", owner,
			 expected[0] ? expected : "none recorded");
		rbd_lock_get_owners_cleanup(owners, nowners);
		ret = -EBUSY;
		goto out;
	}
	ret = rbd_lock_break(image, RBD_LOCK_MODE_EXCLUSIVE, owners[0]);
	rbd_lock_get_owners_cleanup(owners, nowners);
	if (ret == 0) {
		ret = 1;
	} else if (ret == -ENOENT) {
		snprintf(err, errlen, "%s released it meanwhile", owner);
		ret = 0;
		owner[0] = '\0';
	} else {
		snprintf(err, errlen, "breaking the lock held by %s: %s", owner, strerror(-ret));
	}
out:
	if (image)
		rbd_close(image);
	if (ioctx)
		rados_ioctx_destroy(ioctx);
	cluster_put(cl);
	return ret;
}

bool backend_rbd_blocklisted(void)
{
	return atomic_load(&rbd_any_blocklisted);
}

int backend_rbd_probe(const char *path, const char *ceph_conf, const char *ceph_id, char *err, size_t errlen)
{
	struct backend_rbd_spec spec;
	struct rbd_cluster *cl = NULL;
	rados_ioctx_t ioctx = NULL;
	uint64_t size;
	time_t mtime;
	int ret;

	/* The namespaces' shared handle: the one whose I/O would be refused. */
	if ((ret = pool_ioctx_open(path, ceph_conf, ceph_id, &spec, &cl, &ioctx, err, errlen)))
		return ret;
	/* An OSD refuses every operation of a blocklisted client, even on a missing object. */
	ret = rados_stat(ioctx, "rbd_directory", &size, &mtime);
	if (ret == -ESHUTDOWN) {
		atomic_store(&rbd_any_blocklisted, true);
		snprintf(err, errlen, "Ceph client blocklisted");
	} else if (ret < 0 && ret != -ENOENT) {
		snprintf(err, errlen, "%s", strerror(-ret));
	} else {
		ret = 0;
	}
	rados_ioctx_destroy(ioctx);
	cluster_put(cl);
	return ret;
}
