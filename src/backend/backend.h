/* SPDX-License-Identifier: MIT */
/*
 * Namespace backends: where a namespace's blocks live.
 *
 * A backend is opened once (control path) and then used concurrently from
 * every reactor thread; submit() runs on the calling reactor, queues its work
 * on that reactor's ring (or does it inline for RAM) and calls io->done on the
 * same thread. Nothing is allocated per I/O: the caller owns `struct
 * backend_io` (embedded in its request).
 */
#ifndef NVMEOF_BACKEND_H
#define NVMEOF_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "reactor/reactor.h"

enum backend_op {
	BACKEND_READ,
	BACKEND_WRITE,
	BACKEND_FLUSH,
	BACKEND_WRITE_ZEROES,
	BACKEND_DISCARD,
};

struct backend_io {
	enum backend_op op;
	bool fua; /* WRITE / WRITE_ZEROES: durable before done */
	uint64_t offset; /* bytes */
	uint64_t len; /* bytes */
	void *buf; /* READ / WRITE: contiguous buffer of len bytes */
	void (*done)(struct backend_io *io, int res); /* res: 0 or -errno */
	/* backend-private */
	struct reactor_completion rc;
	int stage;
	struct backend *be;
	struct reactor *reactor;
	uint64_t progress; /* bytes already transferred (short I/O resumes here) */
	struct backend_io *next; /* completion queue link (RBD) */
	void *priv;
};

enum backend_kind {
	BACKEND_RAM,
	BACKEND_FILE,
	BACKEND_BLOCK,
	BACKEND_RBD,
};

struct backend {
	const struct backend_ops *ops;
	enum backend_kind kind;
	char *path; /* NULL for RAM */
	char *ceph_conf, *ceph_id; /* RBD: as given for this namespace, NULL = daemon default */
	uint64_t size; /* bytes, multiple of block_size */
	uint32_t block_size; /* 512 or 4096 */
	bool volatile_cache; /* Flush/FUA are meaningful */
	bool read_only;
	bool preallocated; /* RAM: every page resident from the start */
};

struct backend_ops {
	/* Queue the I/O on reactor r; io->done is called later on r's thread,
	 * or inline before submit returns. Returns 0, or -errno if nothing was
	 * queued (then done is not called). */
	int (*submit)(struct backend *be, struct reactor *r, struct backend_io *io);
	/*
	 * Optional zero-copy read: a pointer to [offset, offset+len) that stays
	 * valid while the backend is open, or NULL when the backend cannot map.
	 * The bytes are read soon after (a backend may start fetching them).
	 */
	void *(*map)(struct backend *be, uint64_t offset, uint64_t len);
	/* Flush everything synchronously (shutdown). */
	int (*sync)(struct backend *be);
	void (*close)(struct backend *be);
	/*
	 * Optional (backends whose size can change behind our back, RBD):
	 * fn(arg, be, new_size) is called from a backend thread after a
	 * resize; fn = NULL stops the calls (close does it too). A call under
	 * way when the hook is cleared may still be made, so fn must look be
	 * up among the live backends before touching it.
	 */
	void (*set_resize_hook)(struct backend *be,
				void (*fn)(void *arg, struct backend *be, uint64_t size), void *arg);
};

struct backend_open_opts {
	const char *path; /* NULL or "" for RAM; a file or block device otherwise */
	uint64_t size; /* RAM: size; file: create/extend to this size if nonzero */
	uint32_t block_size; /* 0 = 512 (or the device's logical block size) */
	bool direct; /* O_DIRECT for file/block (when alignment allows) */
	bool read_only;
	bool preallocate; /* RAM: commit and touch all of its memory at open, not on first write */
	const char *ceph_conf; /* RBD: Ceph client settings, NULL = daemon default */
	const char *ceph_id; /* RBD: client id without "client.", NULL = daemon default */
};

/* An RBD path, "rbd:POOL/IMAGE" or "rbd:POOL/NAMESPACE/IMAGE". */
#define BACKEND_RBD_PREFIX "rbd:"
#define BACKEND_RBD_NAME_MAX 256
struct backend_rbd_spec {
	char pool[BACKEND_RBD_NAME_MAX];
	char ns[BACKEND_RBD_NAME_MAX]; /* rados namespace, "" = default */
	char image[BACKEND_RBD_NAME_MAX];
};

static inline bool backend_path_is_rbd(const char *path)
{
	return path && !strncmp(path, BACKEND_RBD_PREFIX, sizeof(BACKEND_RBD_PREFIX) - 1);
}

/* Parse an "rbd:" path: 0, or -EINVAL with "PATH: reason" in err. */
int backend_rbd_parse_path(const char *path, struct backend_rbd_spec *spec, char *err, size_t errlen);

/*
 * Fencing (gateway groups): if the Ceph client expected (a gateway member
 * whose lease expired) holds the exclusive lock of the image at the rbd:
 * path, break it; librbd blocklists that client
 * (rbd_blocklist_on_break_lock), so it cannot write any more. expected lists
 * that member's client addresses as backend_rbd_clients gives them; a holder
 * not among them (a live member, another application) is left alone.
 * expected NULL: any client but ours is broken (a member that recorded no
 * addresses). ceph_conf and ceph_id as in backend_open_opts (NULL = daemon
 * default). Blocks for up to the client's operation timeouts: never on a
 * reactor. Returns 1 with the former holder in owner; 0 when there was
 * nothing to break, the reason in err and the holder, if any (ours, or a
 * shared lock's), in owner; -EBUSY when the holder is not the expected
 * client, named in owner, not broken; or another -errno with the reason in
 * err.
 */
int backend_rbd_break_foreign_lock(const char *path, const char *ceph_conf, const char *ceph_id,
				   const char *expected, char *owner, size_t ownerlen, char *err, size_t errlen);

/*
 * The Ceph clients that serve this process's RBD images (one per shared
 * cluster handle) by address, as the exclusive lock names its holder:
 * rados_getaddrs' strings separated by spaces, "" when there is none. A
 * gateway member records them with its lease, so that the member that takes
 * over breaks the image locks of these clients only. *gen changes whenever a
 * handle comes or goes. Returns how many, or -errno (-ENOSPC: out too small)
 * with out "". Does not block on the cluster.
 */
int backend_rbd_clients(char *out, size_t outlen, unsigned long *gen);

/* The current handle generation, as backend_rbd_clients sets *gen. */
unsigned long backend_rbd_clients_gen(void);

/*
 * Whether the cluster refused an RBD operation of this process because its
 * Ceph client is blocklisted (another gateway broke its image lock): once
 * true, it stays true, as the client stays blocklisted.
 */
bool backend_rbd_blocklisted(void);

/*
 * Ask the cluster whether the Ceph client that serves the image at the rbd:
 * path is blocklisted: one read through the namespaces' shared handle.
 * Blocks for up to the client's operation timeouts: never on a reactor.
 * Returns 0, -ESHUTDOWN when blocklisted, or another -errno (reason in err).
 */
int backend_rbd_probe(const char *path, const char *ceph_conf, const char *ceph_id, char *err, size_t errlen);

/*
 * Daemon-wide Ceph client settings for RBD namespaces that name none
 * (default /etc/ceph/ceph.conf and id admin). Call before opening any.
 */
int backend_rbd_set_defaults(const char *conf, const char *id);
const char *backend_rbd_default_conf(void);
const char *backend_rbd_default_id(void);

/*
 * Open the right backend for opts->path: RAM when no path, RBD for
 * "rbd:POOL/IMAGE", block device for a block special file, regular file
 * otherwise. Returns 0 or -errno with a message in errbuf. Opening an RBD
 * image talks to the cluster: it blocks the caller (the control thread,
 * never a reactor) for at most the client's mount timeout.
 */
int backend_open(const struct backend_open_opts *opts, struct backend **out, char *errbuf,
		 size_t errlen);
void backend_close(struct backend *be);

static inline void backend_set_resize_hook(struct backend *be,
					   void (*fn)(void *arg, struct backend *be, uint64_t size),
					   void *arg)
{
	if (be->ops->set_resize_hook)
		be->ops->set_resize_hook(be, fn, arg);
}

static inline int backend_submit(struct backend *be, struct reactor *r, struct backend_io *io)
{
	return be->ops->submit(be, r, io);
}

#endif
