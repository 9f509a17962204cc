/* SPDX-License-Identifier: MIT */
/*
 * Namespace backends: RAM, regular file and (when a loop device can be set
 * up) block device, driven through a real reactor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "common/log.h"
#include "reactor/reactor.h"

static char tmpdir[64];

struct io_result {
	struct backend_io io;
	struct reactor *r;
	int res;
	int calls;
};

static void io_done(struct backend_io *io, int res)
{
	struct io_result *ir = (struct io_result *)((char *)io - offsetof(struct io_result, io));

	ir->res = res;
	ir->calls++;
	reactor_stop(ir->r);
}

/* Run one I/O to completion on a fresh reactor; returns the submit error or done's result. */
static int run_io(struct backend *be, enum backend_op op, uint64_t offset, uint64_t len, void *buf,
		  bool fua)
{
	struct io_result ir = { 0 };
	int ret;

	assert_int_equal(reactor_create(NULL, &ir.r), 0);
	ir.io.op = op;
	ir.io.offset = offset;
	ir.io.len = len;
	ir.io.buf = buf;
	ir.io.fua = fua;
	ir.io.done = io_done;
	ret = backend_submit(be, ir.r, &ir.io);
	if (ret == 0) {
		if (ir.calls == 0)
			assert_int_equal(reactor_run(ir.r), 0);
		assert_int_equal(ir.calls, 1);
		ret = ir.res;
	} else {
		assert_int_equal(ir.calls, 0);
	}
	reactor_destroy(ir.r);
	return ret;
}

static void *alloc_buf(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, 4096, len), 0);
	return p;
}

static void fill(void *buf, size_t len, unsigned int seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

static bool is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void tmp_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", tmpdir, name);
	unlink(out);
}

static struct backend *open_ok(const struct backend_open_opts *opts)
{
	struct backend *be = NULL;
	char err[256];
	int ret = backend_open(opts, &be, err, sizeof(err));

	if (ret != 0)
		fail_msg("backend_open: %s", err);
	return be;
}

/* ------------------------------------------------------------------ */
/* RAM                                                                 */

static void test_ram_read_write_map(void **state)
{
	struct backend_open_opts opts = { .size = 1ull << 30 };
	struct backend *be = open_ok(&opts);
	uint8_t *wbuf = alloc_buf(16384), *rbuf = alloc_buf(16384);

	assert_int_equal(be->kind, BACKEND_RAM);
	assert_int_equal(be->size, 1ull << 30);
	assert_int_equal(be->block_size, 512);
	assert_null(be->path);

	/* Never written: reads zeroes. */
	assert_int_equal(run_io(be, BACKEND_READ, 4096, 16384, rbuf, false), 0);
	assert_true(is_zero(rbuf, 16384));

	fill(wbuf, 16384, 1);
	assert_int_equal(run_io(be, BACKEND_WRITE, (1ull << 30) - 16384, 16384, wbuf, true), 0);
	assert_int_equal(run_io(be, BACKEND_READ, (1ull << 30) - 16384, 16384, rbuf, false), 0);
	assert_memory_equal(rbuf, wbuf, 16384);

	/* map() gives the same bytes without a copy. */
	uint8_t *m = be->ops->map(be, (1ull << 30) - 16384, 16384);
	assert_non_null(m);
	assert_memory_equal(m, wbuf, 16384);
	assert_null(be->ops->map(be, (1ull << 30) - 512, 1024));

	assert_int_equal(run_io(be, BACKEND_FLUSH, 0, 0, NULL, false), 0);
	assert_int_equal(be->ops->sync(be), 0);

	/* Out of range: refused before anything is queued. */
	assert_int_equal(run_io(be, BACKEND_READ, (1ull << 30) - 512, 1024, rbuf, false), -EINVAL);
	assert_int_equal(run_io(be, BACKEND_WRITE, UINT64_MAX - 511, 1024, wbuf, false), -EINVAL);

	backend_close(be);
	free(wbuf);
	free(rbuf);
}

/* Writes from 4 KiB up take the streaming-store path: any source alignment,
 * lengths with a tail under 64 bytes, and the bytes around left alone. */
static void test_ram_large_writes_any_alignment(void **state)
{
	struct backend_open_opts opts = { .size = 1ull << 20, .preallocate = true };
	struct backend *be = open_ok(&opts);
	size_t len = 3 * 4096 + 512 + 8;
	uint8_t *wbuf = alloc_buf(len + 64), *rbuf = alloc_buf(len + 1024);
	static const size_t src_skew[] = { 0, 1, 8, 24, 63 };

	for (size_t i = 0; i < sizeof(src_skew) / sizeof(src_skew[0]); i++) {
		const uint8_t *src = wbuf + src_skew[i];
		uint8_t *m;

		assert_int_equal(run_io(be, BACKEND_WRITE_ZEROES, 0, 1ull << 20, NULL, false), 0);
		fill(wbuf, len + 64, (unsigned int)i + 5);
		assert_int_equal(run_io(be, BACKEND_WRITE, 8192, len, (void *)src, true), 0);
		assert_int_equal(run_io(be, BACKEND_READ, 8192 - 512, len + 1024, rbuf, false), 0);
		assert_true(is_zero(rbuf, 512));
		assert_memory_equal(rbuf + 512, src, len);
		assert_true(is_zero(rbuf + 512 + len, 512));
		m = be->ops->map(be, 8192, len);
		assert_non_null(m);
		assert_memory_equal(m, src, len);
	}
	backend_close(be);
	free(wbuf);
	free(rbuf);
}

/* Resident pages of [p, p + len), len a multiple of the page size. */
static size_t resident_pages(void *p, size_t len)
{
	unsigned char vec[256];
	size_t n = 0;

	assert_true(len / 4096 <= sizeof(vec));
	assert_int_equal(mincore(p, len, vec), 0);
	for (size_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	return n;
}

static void ram_zeroes_and_discard(bool preallocate)
{
	struct backend_open_opts opts = { .size = 1 << 20, .preallocate = preallocate };
	struct backend *be = open_ok(&opts);
	uint8_t *buf = alloc_buf(65536), *ref = alloc_buf(65536);

	fill(ref, 65536, 2);
	assert_int_equal(run_io(be, BACKEND_WRITE, 0, 65536, ref, false), 0);

	/* Unaligned to pages on both ends: edges cleared by hand, whole pages dropped. */
	assert_int_equal(run_io(be, BACKEND_WRITE_ZEROES, 512, 3 * 4096 + 1024, NULL, false), 0);
	memset(ref + 512, 0, 3 * 4096 + 1024);
	/* Within one page. */
	assert_int_equal(run_io(be, BACKEND_DISCARD, 40960 + 1024, 1024, NULL, false), 0);
	memset(ref + 40960 + 1024, 0, 1024);
	/* Exactly whole pages: dropped, unless preallocated (then kept, cleared). */
	assert_int_equal(run_io(be, BACKEND_DISCARD, 49152, 8192, NULL, false), 0);
	memset(ref + 49152, 0, 8192);
	assert_int_equal(resident_pages(be->ops->map(be, 49152, 8192), 8192), preallocate ? 2 : 0);

	assert_int_equal(run_io(be, BACKEND_READ, 0, 65536, buf, false), 0);
	assert_memory_equal(buf, ref, 65536);

	/* Written again after being dropped. */
	fill(ref + 49152, 8192, 3);
	assert_int_equal(run_io(be, BACKEND_WRITE, 49152, 8192, ref + 49152, false), 0);
	assert_int_equal(run_io(be, BACKEND_READ, 0, 65536, buf, false), 0);
	assert_memory_equal(buf, ref, 65536);

	backend_close(be);
	free(buf);
	free(ref);
}

static void test_ram_zeroes_and_discard(void **state)
{
	(void)state;
	ram_zeroes_and_discard(false);
}

static void test_ram_preallocated_zeroes_and_discard(void **state)
{
	(void)state;
	ram_zeroes_and_discard(true);
}

/* Preallocated: every page resident before any I/O (lazily: none). */
static void test_ram_preallocate(void **state)
{
	struct backend_open_opts opts = { .size = 1 << 20 };
	struct backend *be = open_ok(&opts);

	(void)state;
	assert_false(be->preallocated);
	assert_int_equal(resident_pages(be->ops->map(be, 0, 1 << 20), 1 << 20), 0);
	backend_close(be);
	opts.preallocate = true;
	be = open_ok(&opts);
	assert_true(be->preallocated);
	assert_int_equal(resident_pages(be->ops->map(be, 0, 1 << 20), 1 << 20), (1 << 20) / 4096);
	assert_true(is_zero(be->ops->map(be, 0, 1 << 20), 1 << 20));
	backend_close(be);
}

static void test_ram_size_and_options(void **state)
{
	struct backend_open_opts opts = { .size = 1000 };
	struct backend *be = open_ok(&opts);
	char err[256];
	uint8_t buf[4096];

	assert_int_equal(be->size, 1024); /* rounded up to the block size */
	backend_close(be);

	opts = (struct backend_open_opts){ .path = "", .size = 5000, .block_size = 4096 };
	be = open_ok(&opts);
	assert_int_equal(be->size, 8192);
	assert_int_equal(be->block_size, 4096);
	backend_close(be);

	opts = (struct backend_open_opts){ .size = 8192, .read_only = true };
	be = open_ok(&opts);
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(run_io(be, BACKEND_WRITE, 0, 4096, buf, false), -EROFS);
	assert_int_equal(run_io(be, BACKEND_WRITE_ZEROES, 0, 4096, NULL, false), -EROFS);
	assert_int_equal(run_io(be, BACKEND_READ, 0, 4096, buf, false), 0);
	assert_true(is_zero(buf, 4096));
	backend_close(be);

	opts = (struct backend_open_opts){ .size = 0 };
	assert_int_equal(backend_open(&opts, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs a size"));

	opts = (struct backend_open_opts){ .size = 4096, .block_size = 1000 };
	assert_int_equal(backend_open(&opts, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "block size 1000"));
}

/* ------------------------------------------------------------------ */
/* Regular file                                                        */

static void test_file_missing(void **state)
{
	struct backend_open_opts opts = { 0 };
	struct backend *be;
	char path[128], err[256], want[256];

	tmp_path(path, sizeof(path), "missing.img");
	opts.path = path;
	assert_int_equal(backend_open(&opts, &be, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);

	/* An existing empty file without a size to grow to. */
	close(open(path, O_CREAT | O_WRONLY, 0644));
	assert_int_equal(backend_open(&opts, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));

	opts.path = tmpdir; /* a directory */
	assert_int_equal(backend_open(&opts, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file or block device"));
}

static void file_exercise(bool direct)
{
	struct backend_open_opts opts = { .size = 1 << 20, .direct = direct };
	uint8_t *buf = alloc_buf(131072), *ref = alloc_buf(131072);
	struct backend *be;
	char path[128];
	struct stat st;

	tmp_path(path, sizeof(path), direct ? "direct.img" : "file.img");
	opts.path = path;
	be = open_ok(&opts);
	assert_int_equal(be->kind, BACKEND_FILE);
	assert_string_equal(be->path, path);
	assert_int_equal(be->size, 1 << 20);
	assert_true(be->volatile_cache);
	assert_null(be->ops->map);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);

	/* A fresh (sparse) file reads zeroes. */
	assert_int_equal(run_io(be, BACKEND_READ, 0, 131072, buf, false), 0);
	assert_true(is_zero(buf, 131072));

	fill(ref, 131072, 4);
	assert_int_equal(run_io(be, BACKEND_WRITE, 65536, 131072, ref, false), 0);
	assert_int_equal(run_io(be, BACKEND_WRITE, 0, 4096, ref, true), 0); /* FUA */
	/* Unaligned buffer: served by the buffered descriptor when direct. */
	assert_int_equal(run_io(be, BACKEND_WRITE, 512 * 9, 512, ref + 1, false), 0);
	assert_int_equal(run_io(be, BACKEND_FLUSH, 0, 0, NULL, false), 0);

	assert_int_equal(run_io(be, BACKEND_READ, 65536, 131072, buf, false), 0);
	assert_memory_equal(buf, ref, 131072);
	assert_int_equal(run_io(be, BACKEND_READ, 0, 4096, buf, false), 0);
	assert_memory_equal(buf, ref, 4096);
	assert_int_equal(run_io(be, BACKEND_READ, 512 * 9, 512, buf + 3, false), 0);
	assert_memory_equal(buf + 3, ref + 1, 512);

	/* Zeroes and discard read back as zeroes; neighbours are untouched. */
	assert_int_equal(run_io(be, BACKEND_WRITE_ZEROES, 65536 + 512, 8192, NULL, true), 0);
	assert_int_equal(run_io(be, BACKEND_DISCARD, 65536 + 65536, 16384, NULL, false), 0);
	assert_int_equal(run_io(be, BACKEND_READ, 65536, 131072, buf, false), 0);
	memset(ref + 512, 0, 8192);
	memset(ref + 65536, 0, 16384);
	assert_memory_equal(buf, ref, 131072);

	/* Out of range. */
	assert_int_equal(run_io(be, BACKEND_READ, (1 << 20) - 512, 1024, buf, false), -EINVAL);
	assert_int_equal(run_io(be, BACKEND_DISCARD, 1 << 20, 512, NULL, false), -EINVAL);
	assert_int_equal(be->ops->sync(be), 0);
	backend_close(be);

	/* Data survives close and reopen; the size comes from the file. */
	opts = (struct backend_open_opts){ .path = path, .direct = direct };
	be = open_ok(&opts);
	assert_int_equal(be->size, 1 << 20);
	assert_int_equal(run_io(be, BACKEND_READ, 65536, 131072, buf, false), 0);
	assert_memory_equal(buf, ref, 131072);
	backend_close(be);

	/* Read-only: writes refused, reads work. */
	opts.read_only = true;
	be = open_ok(&opts);
	assert_int_equal(run_io(be, BACKEND_WRITE, 0, 512, ref, false), -EROFS);
	assert_int_equal(run_io(be, BACKEND_DISCARD, 0, 512, NULL, false), -EROFS);
	assert_int_equal(run_io(be, BACKEND_READ, 65536, 4096, buf, false), 0);
	assert_memory_equal(buf, ref, 4096);
	backend_close(be);

	unlink(path);
	free(buf);
	free(ref);
}

static void test_file_buffered(void **state)
{
	file_exercise(false);
}

static void test_file_direct(void **state)
{
	file_exercise(true);
}

static void test_file_grow_never_shrink(void **state)
{
	struct backend_open_opts opts = { 0 };
	uint8_t data[8192], buf[8192];
	struct backend *be;
	char path[128];
	struct stat st;
	int fd;

	tmp_path(path, sizeof(path), "grow.img");
	fill(data, sizeof(data), 5);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	close(fd);

	/* Larger than asked: kept whole. */
	opts.path = path;
	opts.size = 4096;
	be = open_ok(&opts);
	assert_int_equal(be->size, 8192);
	backend_close(be);

	/* Smaller than asked: grown, data kept. */
	opts.size = 20000;
	be = open_ok(&opts);
	assert_int_equal(be->size, 20480); /* rounded up to whole blocks */
	assert_int_equal(run_io(be, BACKEND_READ, 0, 8192, buf, false), 0);
	assert_memory_equal(buf, data, 8192);
	backend_close(be);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 20480);

	/* 4096-byte blocks: a trailing partial block is not exported. */
	fd = open(path, O_WRONLY);
	assert_int_equal(ftruncate(fd, 10000), 0);
	close(fd);
	opts = (struct backend_open_opts){ .path = path, .block_size = 4096 };
	be = open_ok(&opts);
	assert_int_equal(be->size, 8192);
	assert_int_equal(be->block_size, 4096);
	backend_close(be);
	unlink(path);
}

/* A read reaching past end of file (shrunk behind our back): data, then zeroes. */
static void test_file_short_read_eof(void **state)
{
	struct backend_open_opts opts = { .size = 65536 };
	uint8_t data[8192], buf[8192];
	struct backend *be;
	char path[128];
	int fd;

	tmp_path(path, sizeof(path), "short.img");
	opts.path = path;
	be = open_ok(&opts);
	fill(data, sizeof(data), 6);
	assert_int_equal(run_io(be, BACKEND_WRITE, 0, 8192, data, false), 0);

	fd = open(path, O_WRONLY);
	assert_int_equal(ftruncate(fd, 3000), 0);
	close(fd);

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(run_io(be, BACKEND_READ, 0, 8192, buf, false), 0);
	assert_memory_equal(buf, data, 3000);
	assert_true(is_zero(buf + 3000, 8192 - 3000));
	backend_close(be);
	unlink(path);
}

/*
 * Short and interrupted transfers: queue an I/O on a reactor that never runs,
 * then feed its completion handler the result the kernel could have given,
 * and let a second reactor carry out what the backend issues next.
 */
static struct io_result *stage_io(struct backend *be, enum backend_op op, uint64_t offset,
				  uint64_t len, void *buf, bool fua)
{
	struct io_result *ir = calloc(1, sizeof(*ir));
	struct reactor *dummy;

	assert_int_equal(reactor_create(NULL, &dummy), 0);
	ir->io.op = op;
	ir->io.offset = offset;
	ir->io.len = len;
	ir->io.buf = buf;
	ir->io.fua = fua;
	ir->io.done = io_done;
	assert_int_equal(backend_submit(be, dummy, &ir->io), 0);
	reactor_destroy(dummy); /* the queued SQE is never submitted */
	assert_int_equal(reactor_create(NULL, &ir->r), 0);
	ir->io.reactor = ir->r;
	return ir;
}

/* Drop whatever the last step queued, as if it had never reached the kernel. */
static void restage(struct io_result *ir)
{
	reactor_destroy(ir->r);
	assert_int_equal(reactor_create(NULL, &ir->r), 0);
	ir->io.reactor = ir->r;
}

static int finish_io(struct io_result *ir)
{
	int res;

	if (ir->calls == 0)
		assert_int_equal(reactor_run(ir->r), 0);
	assert_int_equal(ir->calls, 1);
	res = ir->res;
	reactor_destroy(ir->r);
	free(ir);
	return res;
}

static void test_file_short_write_resumes(void **state)
{
	struct backend_open_opts opts = { .size = 65536 };
	uint8_t *data = alloc_buf(16384), *buf = alloc_buf(16384);
	struct io_result *ir;
	struct backend *be;
	char path[128];

	tmp_path(path, sizeof(path), "shortw.img");
	opts.path = path;
	be = open_ok(&opts);
	fill(data, 16384, 7);

	/* The kernel "wrote" 5000 bytes: only the remainder must be issued. */
	ir = stage_io(be, BACKEND_WRITE, 16384, 16384, data, false);
	ir->io.rc.fn(&ir->io.rc, 5000, 0);
	assert_int_equal(ir->calls, 0);
	assert_int_equal(finish_io(ir), 0);
	assert_int_equal(run_io(be, BACKEND_READ, 16384, 16384, buf, false), 0);
	assert_true(is_zero(buf, 5000));
	assert_memory_equal(buf + 5000, data + 5000, 16384 - 5000);

	/* Interrupted: the same step again. */
	ir = stage_io(be, BACKEND_WRITE, 0, 4096, data, true);
	ir->io.rc.fn(&ir->io.rc, -EINTR, 0);
	assert_int_equal(finish_io(ir), 0);
	assert_int_equal(run_io(be, BACKEND_READ, 0, 4096, buf, false), 0);
	assert_memory_equal(buf, data, 4096);

	/* A short read resumes too. */
	memset(buf, 0, 16384);
	ir = stage_io(be, BACKEND_READ, 16384, 16384, buf, false);
	ir->io.rc.fn(&ir->io.rc, 12288, 0);
	assert_int_equal(finish_io(ir), 0);
	assert_true(is_zero(buf, 12288)); /* the part "already read" is left alone */
	assert_memory_equal(buf + 12288, data + 12288, 4096);

	/* A write that makes no progress is an error, not a loop. */
	ir = stage_io(be, BACKEND_WRITE, 0, 4096, data, false);
	ir->io.rc.fn(&ir->io.rc, 0, 0);
	assert_int_equal(finish_io(ir), -EIO);

	/* Errors are passed up. */
	ir = stage_io(be, BACKEND_READ, 0, 4096, buf, false);
	ir->io.rc.fn(&ir->io.rc, -EIO, 0);
	assert_int_equal(finish_io(ir), -EIO);

	backend_close(be);
	unlink(path);
	free(data);
	free(buf);
}

/* Zeroing falls back from fallocate to writing zeroes when unsupported. */
static void test_file_zeroes_fallback(void **state)
{
	struct backend_open_opts opts = { .size = 4 << 20 };
	uint8_t *data = alloc_buf(3 << 20), *buf = alloc_buf(3 << 20);
	struct io_result *ir;
	struct backend *be;
	char path[128];

	tmp_path(path, sizeof(path), "zfb.img");
	opts.path = path;
	be = open_ok(&opts);
	fill(data, 3 << 20, 8);
	assert_int_equal(run_io(be, BACKEND_WRITE, 0, 3 << 20, data, false), 0);

	/* ZERO_RANGE then PUNCH "unsupported": zeroes are written (in chunks). */
	ir = stage_io(be, BACKEND_WRITE_ZEROES, 4096, (2 << 20) + 8192, NULL, true);
	ir->io.rc.fn(&ir->io.rc, -EOPNOTSUPP, 0);
	assert_int_equal(ir->calls, 0);
	restage(ir); /* the punch it queued "fails" too */
	ir->io.rc.fn(&ir->io.rc, -EOPNOTSUPP, 0);
	assert_int_equal(ir->calls, 0);
	assert_int_equal(finish_io(ir), 0);

	/* Remembered: later requests go straight to writing zeroes. */
	assert_int_equal(run_io(be, BACKEND_DISCARD, (3 << 20) - 4096, 4096, NULL, false), 0);

	assert_int_equal(run_io(be, BACKEND_READ, 0, 3 << 20, buf, false), 0);
	memset(data + 4096, 0, (2 << 20) + 8192);
	memset(data + (3 << 20) - 4096, 0, 4096);
	assert_memory_equal(buf, data, 3 << 20);

	backend_close(be);
	unlink(path);
	free(data);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Block device (loop)                                                 */

static int loop_attach(const char *file, char *dev, size_t len)
{
	char cmd[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "losetup -f --show '%s' 2>/dev/null", file);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(dev, (int)len, p)) {
		pclose(p);
		return -1;
	}
	dev[strcspn(dev, "\n")] = '\0';
	return pclose(p) == 0 && dev[0] == '/' ? 0 : -1;
}

static void test_block_device(void **state)
{
	uint8_t *data = alloc_buf(65536), *buf = alloc_buf(65536);
	struct backend_open_opts opts = { 0 };
	char file[128], dev[64], cmd[128], err[256];
	struct backend *be;
	int fd;

	tmp_path(file, sizeof(file), "loop.img");
	fd = open(file, O_CREAT | O_RDWR, 0644);
	assert_int_equal(ftruncate(fd, 8 << 20), 0);
	close(fd);
	if (loop_attach(file, dev, sizeof(dev)) < 0) {
		unlink(file);
		free(data);
		free(buf);
		skip();
	}

	opts.path = dev;
	be = open_ok(&opts);
	assert_int_equal(be->kind, BACKEND_BLOCK);
	assert_int_equal(be->size, 8 << 20);
	assert_int_equal(be->block_size, 512);

	fill(data, 65536, 9);
	assert_int_equal(run_io(be, BACKEND_WRITE, 1 << 20, 65536, data, true), 0);
	assert_int_equal(run_io(be, BACKEND_WRITE, 0, 512, data + 1, false), 0); /* unaligned buf */
	assert_int_equal(run_io(be, BACKEND_FLUSH, 0, 0, NULL, false), 0);
	assert_int_equal(run_io(be, BACKEND_WRITE_ZEROES, (1 << 20) + 4096, 4096, NULL, false), 0);
	assert_int_equal(run_io(be, BACKEND_DISCARD, (1 << 20) + 16384, 8192, NULL, false), 0);
	assert_int_equal(run_io(be, BACKEND_READ, 1 << 20, 65536, buf, false), 0);
	memset(data + 4096, 0, 4096);
	memset(data + 16384, 0, 8192);
	assert_memory_equal(buf, data, 65536);
	assert_int_equal(be->ops->sync(be), 0);
	backend_close(be);

	/* A size larger than the device is refused; block size below the device's too. */
	opts.size = 16 << 20;
	assert_int_equal(backend_open(&opts, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, dev));

	snprintf(cmd, sizeof(cmd), "losetup -d %s", dev);
	assert_int_equal(system(cmd), 0);
	unlink(file);
	free(data);
	free(buf);
}

static int setup(void **state)
{
	log_set_level(LOG_LVL_ERROR); /* fallbacks provoked here log warnings */
	snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/test_backend.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_read_write_map),
		cmocka_unit_test(test_ram_large_writes_any_alignment),
		cmocka_unit_test(test_ram_zeroes_and_discard),
		cmocka_unit_test(test_ram_preallocated_zeroes_and_discard),
		cmocka_unit_test(test_ram_preallocate),
		cmocka_unit_test(test_ram_size_and_options),
		cmocka_unit_test(test_file_missing),
		cmocka_unit_test(test_file_buffered),
		cmocka_unit_test(test_file_direct),
		cmocka_unit_test(test_file_grow_never_shrink),
		cmocka_unit_test(test_file_short_read_eof),
		cmocka_unit_test(test_file_short_write_resumes),
		cmocka_unit_test(test_file_zeroes_fallback),
		cmocka_unit_test(test_block_device),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
