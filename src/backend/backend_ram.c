/* SPDX-License-Identifier: MIT */
/*
 * RAM backend: one anonymous mapping, reserved lazily (MAP_NORESERVE), so a
 * large namespace costs memory only where it was written. Every operation
 * completes inline; reads can be served zero-copy through map().
 *
 * Preallocated, the mapping is committed and every page faulted in at open:
 * the memory is all taken (or the open fails) before any host writes, and
 * no I/O pays a page fault (a first touch costs the reactor a fault and a
 * page clear, about as much as the I/O itself). Deallocation then clears
 * the bytes instead of dropping the pages.
 *
 * volatile_cache is false: there is no cache that a Flush could write back
 * (the data is lost at exit whatever happens), and with VWC=0 the host skips
 * Flush commands altogether.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#ifdef __SANITIZE_THREAD__
void AnnotateBenignRaceSized(const char *file, int line, const volatile void *mem, size_t size,
			     const char *desc);
#endif

struct ram_backend {
	struct backend be;
	uint8_t *mem;
	size_t map_len;
	size_t page_size;
};

static struct ram_backend *to_ram(struct backend *be)
{
	return (struct ram_backend *)be;
}

/* Deallocated blocks read back as zeroes: drop whole pages, clear the edges. */
static void ram_zero(struct ram_backend *ram, uint64_t offset, uint64_t len)
{
	uint64_t end = offset + len;
	uint64_t page_mask = ram->page_size - 1;
	uint64_t first_page = (offset + page_mask) & ~page_mask;
	uint64_t last_page = end & ~page_mask;

	if (first_page >= last_page) {
		memset(ram->mem + offset, 0, len);
		return;
	}
	memset(ram->mem + offset, 0, first_page - offset);
	if (ram->be.preallocated || madvise(ram->mem + first_page, last_page - first_page, MADV_DONTNEED) < 0)
		memset(ram->mem + first_page, 0, last_page - first_page);
	memset(ram->mem + last_page, 0, end - last_page);
}

/* Fault every page in, writable; 0 or -1 with errno. */
static int ram_populate(struct ram_backend *ram)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
	if (madvise(ram->mem, ram->map_len, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	/* An older kernel: touch each page (the memory is committed already). */
	for (size_t off = 0; off < ram->map_len; off += ram->page_size)
		((volatile uint8_t *)ram->mem)[off] = 0;
	return 0;
}

/* Below this, a non-temporal copy and its fence cost more than they spare. */
#define RAM_STREAM_MIN 4096

/*
 * Write data into the namespace. From 4 KiB up the stores bypass the cache:
 * written blocks are seldom read back soon, and a cached copy first reads
 * every cold destination line from memory (read for ownership). Measured on
 * random blocks of a 1 GiB namespace: 4 KiB copies 15 %, 128 KiB copies
 * about half, faster (bench/README, "Huge pages, streaming stores").
 */
static void ram_store(uint8_t *dst, const uint8_t *src, size_t len)
{
#if defined(__x86_64__)
	if (len >= RAM_STREAM_MIN && ((uintptr_t)dst & 15) == 0) {
		size_t body = len & ~(size_t)63;

		for (size_t off = 0; off < body; off += 64) {
			__m128i a = _mm_loadu_si128((const __m128i *)(src + off));
			__m128i b = _mm_loadu_si128((const __m128i *)(src + off + 16));
			__m128i c = _mm_loadu_si128((const __m128i *)(src + off + 32));
			__m128i d = _mm_loadu_si128((const __m128i *)(src + off + 48));

			_mm_stream_si128((__m128i *)(dst + off), a);
			_mm_stream_si128((__m128i *)(dst + off + 16), b);
			_mm_stream_si128((__m128i *)(dst + off + 32), c);
			_mm_stream_si128((__m128i *)(dst + off + 48), d);
		}
		memcpy(dst + body, src + body, len - body);
		/* Streaming stores are weakly ordered: make them visible before
		 * the completion (and any reader it lets in) is. */
		_mm_sfence();
		return;
	}
#endif
	memcpy(dst, src, len);
}

static int ram_submit(struct backend *be, struct reactor *r, struct backend_io *io)
{
	struct ram_backend *ram = to_ram(be);

	if (io->op != BACKEND_FLUSH && !backend_range_ok(be, io->offset, io->len))
		return -EINVAL;
	if (be->read_only && io->op != BACKEND_READ && io->op != BACKEND_FLUSH)
		return -EROFS;

	switch (io->op) {
	case BACKEND_READ:
		memcpy(io->buf, ram->mem + io->offset, io->len);
		break;
	case BACKEND_WRITE:
		ram_store(ram->mem + io->offset, io->buf, io->len);
		break;
	case BACKEND_WRITE_ZEROES:
	case BACKEND_DISCARD:
		ram_zero(ram, io->offset, io->len);
		break;
	case BACKEND_FLUSH:
		break;
	default:
		return -EOPNOTSUPP;
	}
	io->done(io, 0);
	return 0;
}

/*
 * A mapped block goes out in the connection's sendmsg at the end of the
 * reactor's loop iteration, after the rest of the received batch has been
 * parsed: fetching its lines now overlaps the memory reads of a batch of
 * small reads, which the socket copy would otherwise take one after the other
 * (at 4 KiB QD128 the copy fell from 49 % to 19 % of the reactor's samples,
 * the prefetch itself taking 17 %: bench/README, "Prefetching small reads").
 * Into L2, which holds a batch, rather than L1, which the reactor's own data
 * needs. Large reads are sequential, which the hardware prefetches anyway.
 */
#define RAM_PREFETCH_MAX 8192

static void *ram_map(struct backend *be, uint64_t offset, uint64_t len)
{
	uint8_t *p;

	if (!backend_range_ok(be, offset, len))
		return NULL;
	p = to_ram(be)->mem + offset;
	if (len <= RAM_PREFETCH_MAX)
		for (uint64_t off = 0; off < len; off += 64)
			__builtin_prefetch(p + off, 0, 1);
	return p;
}

static int ram_sync(struct backend *be)
{
	return 0;
}

static void ram_close(struct backend *be)
{
	struct ram_backend *ram = to_ram(be);

	munmap(ram->mem, ram->map_len);
	free(ram);
}

static const struct backend_ops ram_ops = {
	.submit = ram_submit,
	.map = ram_map,
	.sync = ram_sync,
	.close = ram_close,
};

int backend_ram_open(const struct backend_open_opts *opts, struct backend **out, char *err,
		     size_t errlen)
{
	uint32_t bs = opts->block_size ? opts->block_size : 512;
	struct ram_backend *ram;
	uint64_t size;
	long page = sysconf(_SC_PAGESIZE);

	if (opts->size == 0) {
		snprintf(err, errlen, "ram: a RAM namespace needs a size");
		return -EINVAL;
	}
	if (opts->size > (UINT64_MAX >> 2)) {
		snprintf(err, errlen, "ram: size %llu is too large", (unsigned long long)opts->size);
		return -EINVAL;
	}
	size = (opts->size + bs - 1) / bs * bs;

	ram = calloc(1, sizeof(*ram));
	if (!ram) {
		snprintf(err, errlen, "ram: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	ram->page_size = page > 0 ? (size_t)page : 4096;
	ram->map_len = (size + ram->page_size - 1) / ram->page_size * ram->page_size;
	ram->mem = mmap(NULL, ram->map_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | (opts->preallocate ? 0 : MAP_NORESERVE), -1, 0);
	if (ram->mem == MAP_FAILED) {
		int e = errno;

		snprintf(err, errlen, "ram: cannot map %llu bytes: %s", (unsigned long long)size,
			 strerror(e));
		free(ram);
		return -e;
	}
	/* A preallocated namespace is resident anyway: huge pages spare the
	 * TLB misses of random access (a cold 4 KiB copy costs ~1/4 less).
	 * A lazy one keeps small pages, so a write commits 4 KiB, not 2 MiB. */
	if (opts->preallocate)
		(void)madvise(ram->mem, ram->map_len, MADV_HUGEPAGE);
	if (opts->preallocate && ram_populate(ram) < 0) {
		int e = errno;

		snprintf(err, errlen, "ram: cannot preallocate %llu bytes: %s", (unsigned long long)size,
			 strerror(e));
		munmap(ram->mem, ram->map_len);
		free(ram);
		return -e;
	}
#ifdef __SANITIZE_THREAD__
	/*
	 * The namespace's bytes are the hosts' data: commands on different
	 * queues (reactors) may read and write the same blocks at once, and
	 * NVMe leaves the outcome of such overlapping commands undefined. Tell
	 * ThreadSanitizer so; races on anything else are still reported.
	 */
	AnnotateBenignRaceSized(__FILE__, __LINE__, ram->mem, ram->map_len, "RAM namespace data");
#endif
	ram->be.ops = &ram_ops;
	ram->be.kind = BACKEND_RAM;
	ram->be.path = NULL;
	ram->be.size = size;
	ram->be.block_size = bs;
	ram->be.volatile_cache = false;
	ram->be.preallocated = opts->preallocate;
	ram->be.read_only = opts->read_only;
	*out = &ram->be;
	return 0;
}
