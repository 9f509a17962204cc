/* SPDX-License-Identifier: MIT */
/*
 * File and block-device backends: asynchronous I/O through the calling
 * reactor's io_uring, one small state machine per request (io->stage).
 *
 *   READ/WRITE     RW, resubmitted with the remainder after a short transfer;
 *                  a read that hits end of file fills the rest with zeroes.
 *                  FUA writes carry RWF_DSYNC, so one SQE makes them durable.
 *   FLUSH          FLUSH: fdatasync.
 *   WRITE_ZEROES   ZERO_RANGE -> PUNCH -> ZERO_WRITE, each a fallback for the
 *   DISCARD        PUNCH -> ZERO_RANGE -> ZERO_WRITE   one before when the
 *                  file system or device says EOPNOTSUPP (remembered); then
 *                  DSYNC when FUA asked for durability.
 *
 * Direct I/O: a second descriptor opened with O_DIRECT serves requests whose
 * buffer, offset and length are aligned; anything else (or a file system
 * that rejects direct I/O at run time) goes through the buffered descriptor.
 * The kernel keeps the two coherent (a direct read writes back dirty cached
 * pages of its range first, a direct write invalidates them).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend_internal.h"
#include "common/log.h"

/* The kernel fills read buffers behind memcheck's back (io_uring). */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MARK_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define FILE_ZERO_CHUNK (1u << 20) /* bytes written per SQE when zeroing by hand */
#define FILE_MAX_SQE_LEN (1u << 30) /* read/write length per SQE (fits 32 bits) */

enum file_stage {
	FILE_STAGE_RW,
	FILE_STAGE_FLUSH,
	FILE_STAGE_ZERO_RANGE,
	FILE_STAGE_PUNCH,
	FILE_STAGE_ZERO_WRITE,
	FILE_STAGE_DSYNC,
};
#define FILE_STAGE_MASK 0xff
#define FILE_STAGE_DIRECT 0x100 /* this step went to the O_DIRECT descriptor */

struct file_backend {
	struct backend be;
	int fd; /* buffered */
	int fd_direct; /* O_DIRECT, or -1 */
	uint32_t dio_align;
	atomic_bool direct_ok;
	atomic_bool zero_range_ok;
	atomic_bool punch_ok;
	void *zero_buf; /* FILE_ZERO_CHUNK bytes of untouched anonymous memory */
};

static struct file_backend *to_file(struct backend *be)
{
	return (struct file_backend *)be;
}

static struct backend_io *io_of(struct reactor_completion *rc)
{
	return (struct backend_io *)((char *)rc - offsetof(struct backend_io, rc));
}

static int file_pick_fd(struct file_backend *fb, const void *buf, uint64_t off, uint64_t len,
			bool *direct)
{
	uint64_t mask = fb->dio_align - 1;

	*direct = fb->fd_direct >= 0 && atomic_load_explicit(&fb->direct_ok, memory_order_relaxed) &&
		  (((uintptr_t)buf | off | len) & mask) == 0;
	return *direct ? fb->fd_direct : fb->fd;
}

static void file_issue_rw(struct backend_io *io)
{
	struct file_backend *fb = to_file(io->be);
	uint64_t remaining = io->len - io->progress;
	uint64_t off = io->offset + io->progress;
	uint8_t *buf = (uint8_t *)io->buf + io->progress;
	struct io_uring_sqe *sqe;
	bool direct;
	int fd;

	if (remaining > FILE_MAX_SQE_LEN)
		remaining = FILE_MAX_SQE_LEN;
	fd = file_pick_fd(fb, buf, off, remaining, &direct);
	sqe = reactor_sqe(io->reactor, &io->rc);
	if (io->op == BACKEND_READ) {
		io_uring_prep_read(sqe, fd, buf, (unsigned int)remaining, off);
	} else {
		io_uring_prep_write(sqe, fd, buf, (unsigned int)remaining, off);
		if (io->fua)
			sqe->rw_flags = RWF_DSYNC;
	}
	io->stage = FILE_STAGE_RW | (direct ? FILE_STAGE_DIRECT : 0);
}

static void file_issue_zero_write(struct backend_io *io)
{
	struct file_backend *fb = to_file(io->be);
	uint64_t remaining = io->len - io->progress;
	uint64_t off = io->offset + io->progress;
	struct io_uring_sqe *sqe;
	bool direct;
	int fd;

	if (remaining > FILE_ZERO_CHUNK)
		remaining = FILE_ZERO_CHUNK;
	fd = file_pick_fd(fb, fb->zero_buf, off, remaining, &direct);
	sqe = reactor_sqe(io->reactor, &io->rc);
	io_uring_prep_write(sqe, fd, fb->zero_buf, (unsigned int)remaining, off);
	if (io->fua)
		sqe->rw_flags = RWF_DSYNC;
	io->stage = FILE_STAGE_ZERO_WRITE | (direct ? FILE_STAGE_DIRECT : 0);
}

static void file_issue_fallocate(struct backend_io *io, enum file_stage stage)
{
	struct file_backend *fb = to_file(io->be);
	int mode = stage == FILE_STAGE_PUNCH ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
					     : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	struct io_uring_sqe *sqe = reactor_sqe(io->reactor, &io->rc);

	io_uring_prep_fallocate(sqe, fb->fd, mode, (off_t)io->offset, (off_t)io->len);
	io->stage = stage;
}

static void file_issue_sync(struct backend_io *io, enum file_stage stage)
{
	struct io_uring_sqe *sqe = reactor_sqe(io->reactor, &io->rc);

	io_uring_prep_fsync(sqe, to_file(io->be)->fd, IORING_FSYNC_DATASYNC);
	io->stage = stage;
}

/* First zeroing method still believed to work, in the op's preferred order. */
static void file_issue_zeroing(struct backend_io *io)
{
	struct file_backend *fb = to_file(io->be);
	bool zr = atomic_load_explicit(&fb->zero_range_ok, memory_order_relaxed);
	bool punch = atomic_load_explicit(&fb->punch_ok, memory_order_relaxed);

	io->progress = 0;
	if (io->op == BACKEND_DISCARD && punch)
		file_issue_fallocate(io, FILE_STAGE_PUNCH);
	else if (zr)
		file_issue_fallocate(io, FILE_STAGE_ZERO_RANGE);
	else if (punch)
		file_issue_fallocate(io, FILE_STAGE_PUNCH);
	else
		file_issue_zero_write(io);
}

static void file_zeroing_done(struct backend_io *io, bool durable)
{
	if (io->fua && !durable)
		file_issue_sync(io, FILE_STAGE_DSYNC);
	else
		io->done(io, 0);
}

static void file_direct_failed(struct file_backend *fb)
{
	if (atomic_exchange(&fb->direct_ok, false))
		log_warn("backend", "%s: direct I/O rejected, using buffered I/O", fb->be.path);
}

static void file_complete(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct backend_io *io = io_of(rc);
	struct file_backend *fb = to_file(io->be);
	enum file_stage stage = (enum file_stage)(io->stage & FILE_STAGE_MASK);
	bool direct = io->stage & FILE_STAGE_DIRECT;

	if (res == -EINTR || res == -EAGAIN) {
		/* Nothing happened: issue the same step again. */
		switch (stage) {
		case FILE_STAGE_RW:
			file_issue_rw(io);
			return;
		case FILE_STAGE_ZERO_WRITE:
			file_issue_zero_write(io);
			return;
		case FILE_STAGE_ZERO_RANGE:
		case FILE_STAGE_PUNCH:
			file_issue_fallocate(io, stage);
			return;
		case FILE_STAGE_FLUSH:
		case FILE_STAGE_DSYNC:
			file_issue_sync(io, stage);
			return;
		}
	}

	switch (stage) {
	case FILE_STAGE_RW:
		if (res == -EINVAL && direct) {
			file_direct_failed(fb);
			file_issue_rw(io);
			return;
		}
		if (res < 0) {
			io->done(io, res);
			return;
		}
		if (res == 0) {
			if (io->op == BACKEND_WRITE) {
				io->done(io, -EIO);
				return;
			}
			/* End of file (a shrunken or sparse file): the rest reads as zeroes. */
			memset((uint8_t *)io->buf + io->progress, 0, io->len - io->progress);
			io->progress = io->len;
		}
		if (io->op == BACKEND_READ)
			MARK_DEFINED((uint8_t *)io->buf + io->progress, (size_t)res);
		io->progress += (uint64_t)res;
		if (io->progress < io->len)
			file_issue_rw(io);
		else
			io->done(io, 0);
		return;

	case FILE_STAGE_ZERO_RANGE:
	case FILE_STAGE_PUNCH:
		if (res == -EOPNOTSUPP) {
			atomic_store(stage == FILE_STAGE_PUNCH ? &fb->punch_ok : &fb->zero_range_ok,
				     false);
			log_info("backend", "%s: %s not supported, falling back", fb->be.path,
				 stage == FILE_STAGE_PUNCH ? "hole punching" : "zero range");
			file_issue_zeroing(io);
			return;
		}
		if (res < 0)
			io->done(io, res);
		else
			file_zeroing_done(io, false);
		return;

	case FILE_STAGE_ZERO_WRITE:
		if (res == -EINVAL && direct) {
			file_direct_failed(fb);
			file_issue_zero_write(io);
			return;
		}
		if (res <= 0) {
			io->done(io, res < 0 ? res : -EIO);
			return;
		}
		io->progress += (uint64_t)res;
		if (io->progress < io->len)
			file_issue_zero_write(io);
		else
			file_zeroing_done(io, true);
		return;

	case FILE_STAGE_FLUSH:
	case FILE_STAGE_DSYNC:
		io->done(io, res < 0 ? res : 0);
		return;
	}
	io->done(io, -EIO);
}

static int file_submit(struct backend *be, struct reactor *r, struct backend_io *io)
{
	if (io->op != BACKEND_FLUSH && !backend_range_ok(be, io->offset, io->len))
		return -EINVAL;
	if (be->read_only && io->op != BACKEND_READ && io->op != BACKEND_FLUSH)
		return -EROFS;
	if ((io->op == BACKEND_READ || io->op == BACKEND_WRITE) && !io->buf)
		return -EINVAL;

	io->be = be;
	io->reactor = r;
	io->progress = 0;
	io->rc.fn = file_complete;

	switch (io->op) {
	case BACKEND_READ:
	case BACKEND_WRITE:
		if (io->len == 0)
			break;
		file_issue_rw(io);
		return 0;
	case BACKEND_FLUSH:
		file_issue_sync(io, FILE_STAGE_FLUSH);
		return 0;
	case BACKEND_WRITE_ZEROES:
	case BACKEND_DISCARD:
		if (io->len == 0)
			break;
		file_issue_zeroing(io);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
	io->done(io, 0);
	return 0;
}

static int file_sync(struct backend *be)
{
	return fsync(to_file(be)->fd) < 0 ? -errno : 0;
}

static void file_close(struct backend *be)
{
	struct file_backend *fb = to_file(be);

	if (fb->fd_direct >= 0)
		close(fb->fd_direct);
	if (fb->fd >= 0)
		close(fb->fd);
	if (fb->zero_buf)
		munmap(fb->zero_buf, FILE_ZERO_CHUNK);
	free(fb->be.path);
	free(fb);
}

static const struct backend_ops file_ops = {
	.submit = file_submit,
	.map = NULL,
	.sync = file_sync,
	.close = file_close,
};

/* Size and block size of a block device, checked against the options. */
static int file_probe_block(struct file_backend *fb, const struct backend_open_opts *opts,
			    char *err, size_t errlen)
{
	uint64_t dev_size;
	int lbs;

	if (ioctl(fb->fd, BLKGETSIZE64, &dev_size) < 0 || ioctl(fb->fd, BLKSSZGET, &lbs) < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: cannot read the device geometry: %s", opts->path,
			 strerror(e));
		return -e;
	}
	if (lbs < 512 || lbs > 4096) {
		snprintf(err, errlen, "%s: logical block size %d is not supported", opts->path, lbs);
		return -EINVAL;
	}
	if (opts->block_size && opts->block_size < (uint32_t)lbs) {
		snprintf(err, errlen, "%s: block size %u is smaller than the device's %d bytes",
			 opts->path, opts->block_size, lbs);
		return -EINVAL;
	}
	if (opts->size > dev_size) {
		snprintf(err, errlen, "%s: device has %llu bytes, less than the %llu asked",
			 opts->path, (unsigned long long)dev_size, (unsigned long long)opts->size);
		return -EINVAL;
	}
	fb->be.block_size = opts->block_size ? opts->block_size : (uint32_t)lbs;
	fb->be.size = dev_size / fb->be.block_size * fb->be.block_size;
	fb->dio_align = fb->be.block_size;
	return 0;
}

/*
 * Size of a regular file: grown (sparsely) to the size asked, never shrunk;
 * a larger file is exported whole.
 */
static int file_probe_regular(struct file_backend *fb, const struct backend_open_opts *opts,
			      char *err, size_t errlen)
{
	uint32_t bs = opts->block_size ? opts->block_size : 512;
	struct stat st;
	uint64_t size;

	if (fstat(fb->fd, &st) < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", opts->path, strerror(e));
		return -e;
	}
	size = (uint64_t)st.st_size;
	if (opts->size > size) {
		uint64_t want = (opts->size + bs - 1) / bs * bs;

		if (opts->read_only) {
			snprintf(err, errlen, "%s: file has %llu bytes, less than the %llu asked",
				 opts->path, (unsigned long long)size,
				 (unsigned long long)opts->size);
			return -EINVAL;
		}
		if (want > INT64_MAX || ftruncate(fb->fd, (off_t)want) < 0) {
			int e = want > INT64_MAX ? EFBIG : errno;

			snprintf(err, errlen, "%s: cannot grow to %llu bytes: %s", opts->path,
				 (unsigned long long)want, strerror(e));
			return -e;
		}
		size = want;
	}
	size = size / bs * bs;
	if (size == 0) {
		snprintf(err, errlen, "%s: file is smaller than one %u-byte block (set a size to grow it)",
			 opts->path, bs);
		return -EINVAL;
	}
	fb->be.block_size = bs;
	fb->be.size = size;
	fb->dio_align = bs;
	return 0;
}

int backend_file_open(const struct backend_open_opts *opts, bool is_block, struct backend **out,
		      char *err, size_t errlen)
{
	int flags = (opts->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct file_backend *fb;
	int ret;

	fb = calloc(1, sizeof(*fb));
	if (!fb) {
		snprintf(err, errlen, "%s: %s", opts->path, strerror(ENOMEM));
		return -ENOMEM;
	}
	fb->fd = fb->fd_direct = -1;
	fb->be.path = strdup(opts->path);
	if (!fb->be.path) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: %s", opts->path, strerror(ENOMEM));
		goto err;
	}

	fb->fd = open(opts->path, flags | (!is_block && opts->size && !opts->read_only ? O_CREAT : 0),
		      0644);
	if (fb->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", opts->path, strerror(-ret));
		goto err;
	}
	ret = is_block ? file_probe_block(fb, opts, err, errlen)
		       : file_probe_regular(fb, opts, err, errlen);
	if (ret < 0)
		goto err;

	/* Block devices go around the page cache whenever alignment allows. */
	if (is_block || opts->direct) {
		fb->fd_direct = open(opts->path, flags | O_DIRECT);
		if (fb->fd_direct < 0)
			log_notice("backend", "%s: O_DIRECT not available (%s), using buffered I/O",
				   opts->path, strerror(errno));
	}
	atomic_init(&fb->direct_ok, fb->fd_direct >= 0);
	atomic_init(&fb->zero_range_ok, true);
	atomic_init(&fb->punch_ok, true);

	/* Never written, so every page is the shared zero page. */
	fb->zero_buf = mmap(NULL, FILE_ZERO_CHUNK, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (fb->zero_buf == MAP_FAILED) {
		fb->zero_buf = NULL;
		ret = -errno;
		snprintf(err, errlen, "%s: %s", opts->path, strerror(-ret));
		goto err;
	}

	fb->be.ops = &file_ops;
	fb->be.kind = is_block ? BACKEND_BLOCK : BACKEND_FILE;
	fb->be.volatile_cache = true;
	fb->be.read_only = opts->read_only;
	*out = &fb->be;
	return 0;

err:
	file_close(&fb->be);
	return ret;
}
