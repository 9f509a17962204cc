/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof perf`: closed-loop load generator in the spirit of SPDK perf.
 *
 * Each thread owns some I/O queues and keeps queue-depth I/Os in flight on
 * each, resubmitting from the completion callback. Buffers and I/O contexts
 * are allocated up front; latency goes into a per-thread log-linear
 * histogram; nothing is allocated or locked per I/O.
 *
 * --verify: the region is split between I/O contexts so no two I/Os ever
 * touch the same block concurrently. Each context first writes its blocks
 * (generation 1), the timed workload then bumps the generation on every
 * write and checks LBA + generation of every block it reads, and a final
 * pass reads everything back. A mismatch is reported with its LBA.
 *
 * -T ends the timed run whatever the controller's state. While it
 * reconnects nothing can complete, so the threads sleep in the library's
 * wait instead of polling; at the end, I/O still in flight gets a short grace
 * on a live controller and none on a lost one, and is reported as not
 * completed.
 *
 * Several -a/-s pairs are paths to one namespace (multipath): the library
 * picks the path per I/O by ANA state and fails over; perf reports each
 * path's I/Os, errors and retries, and the longest gap between two
 * completions of the timed run (the stall a failover caused).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/log.h"
#include "proto/nvme_spec.h"
#include "proto/nvme_status.h"
#include "hist.h"
#include "pattern.h"

enum perf_pattern { PAT_READ, PAT_WRITE, PAT_RANDREAD, PAT_RANDWRITE, PAT_RANDRW };
static const char *const pattern_names[] = { "read", "write", "randread", "randwrite", "randrw" };

enum phase { PH_PREFILL, PH_RUN, PH_READBACK, PH_DONE };

#define PERF_DRAIN_NS 1000000000ull /* in-flight I/O may finish this long after the end */
#define PERF_WAIT_MAX_MS 250 /* longest sleep while reconnecting: a signal is seen by then */

struct perf_cfg {
	uint32_t qd;
	uint64_t io_size;
	enum perf_pattern pattern;
	int mix; /* read percent for randrw */
	double time_s;
	uint64_t count; /* 0 = time based */
	unsigned int queues;
	unsigned int threads;
	uint32_t nsid;
	bool verify;
	int progress; /* -1 auto (tty), 0 off, 1 on */
	bool json;
	uint64_t size; /* region in bytes, 0 = namespace (64 MiB cap with --verify) */
	uint64_t seed;
	enum nvmeof_iopolicy iopolicy;
	bool discover; /* -a/-s are discovery controllers: the paths are their entries for -n */
	bool no_busy_poll; /* sleep in poll(2) until a completion instead of spinning */
};

struct perf_thread;

#define PERF_GAPS 4 /* longest completion gaps remembered */

struct perf_gap {
	uint64_t ns;
	double end_unix; /* wall clock when it ended */
};

struct perf_io {
	struct perf_thread *t;
	struct nvmeof_mpath_qpair *qp;
	uint8_t *buf;
	uint64_t lba;
	uint64_t submit_ns;
	bool is_read;
	bool busy;
	bool idle; /* nothing more to do in this phase */
	uint64_t retry_ns; /* parked after a submission error until then */
	/* verify: units owned by this context are ctx, ctx+nctx, ... */
	uint32_t ctx;
	uint64_t own_units;
	uint64_t cursor; /* prefill / readback position */
	uint32_t *gens; /* per owned unit; 0 = unknown */
	uint64_t unit_k; /* owned-unit index of the I/O in flight */
	uint32_t gen; /* generation written / expected */
};

struct perf_thread {
	unsigned int id;
	pthread_t tid;
	const struct perf_cfg *cfg;
	struct nvmeof_mpath *mp;
	struct nvmeof_mpath_qpair **qps;
	unsigned int nqps;
	struct perf_io *ios;
	unsigned int nios;
	uint64_t rng;
	uint64_t seq_cursor;
	struct hist hist;
	enum phase phase;
	bool running; /* new I/O may start */
	uint64_t errors;
	uint64_t verify_errors;
	uint64_t unfinished; /* I/Os still outstanding when the thread gave up on them */
	_Atomic uint64_t done_ios; /* read by the progress printer */
	_Atomic uint64_t done_bytes;
	_Atomic uint64_t done_errors;
	atomic_bool finished; /* set last by the thread, polled by the main loop */
	bool dead;
	uint64_t last_cpl_ns; /* timed run: previous completion */
	struct perf_gap gaps[PERF_GAPS]; /* longest first */
};

/* Shared, read-mostly state. */
static struct {
	uint32_t lba_size;
	uint32_t blocks_per_io;
	uint64_t units; /* io_size units in the region */
	uint32_t nctx;
	atomic_bool stop;
	_Atomic uint64_t issued; /* with --count */
	pthread_barrier_t barrier;
	/* Written by thread 0, read by every thread and the progress printer. */
	_Atomic uint64_t run_start_ns, run_end_ns;
	/* Per-path completions at the start and end of the timed run (thread 0). */
	uint64_t path_ios0[NVMEOF_MPATH_MAX_PATHS], path_ios1[NVMEOF_MPATH_MAX_PATHS];
} g;

static void snapshot_paths(struct nvmeof_mpath *mp, uint64_t *ios)
{
	for (unsigned int i = 0; i < nvmeof_mpath_nr_paths(mp); i++) {
		struct nvmeof_path_info pi;

		nvmeof_mpath_get_path_info(mp, i, &pi);
		ios[i] = pi.ios;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: cheap and good enough to spread LBAs. */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g.stop, true);
}

static void io_complete(void *arg, const struct nvmeof_cpl *cpl);

/* Pick the next I/O of this context for the current phase; false if none. */
static bool io_plan(struct perf_io *io)
{
	struct perf_thread *t = io->t;
	const struct perf_cfg *c = t->cfg;
	uint64_t unit;

	if (t->phase == PH_PREFILL || t->phase == PH_READBACK) {
		if (io->cursor >= io->own_units)
			return false;
		io->unit_k = io->cursor++;
		unit = io->ctx + (uint64_t)g.nctx * io->unit_k;
		io->is_read = t->phase == PH_READBACK;
		io->gen = io->is_read ? io->gens[io->unit_k] : 1;
		io->lba = unit * g.blocks_per_io;
		return true;
	}
	switch (c->pattern) {
	case PAT_READ:
	case PAT_WRITE:
		io->is_read = c->pattern == PAT_READ;
		break;
	case PAT_RANDREAD:
		io->is_read = true;
		break;
	case PAT_RANDWRITE:
		io->is_read = false;
		break;
	case PAT_RANDRW:
		io->is_read = (int)(rng_next(&t->rng) % 100) < c->mix;
		break;
	}
	if (c->verify) {
		bool seq = c->pattern == PAT_READ || c->pattern == PAT_WRITE;

		io->unit_k = seq ? (io->cursor++ % io->own_units) : rng_next(&t->rng) % io->own_units;
		unit = io->ctx + (uint64_t)g.nctx * io->unit_k;
		io->gen = io->is_read ? io->gens[io->unit_k] : io->gens[io->unit_k] + 1;
		if (!io->is_read && io->gen == 0)
			io->gen = 1;
	} else if (c->pattern == PAT_READ || c->pattern == PAT_WRITE) {
		unit = t->seq_cursor++ % g.units;
	} else {
		unit = rng_next(&t->rng) % g.units;
	}
	io->lba = unit * g.blocks_per_io;
	return true;
}

static void io_submit(struct perf_io *io)
{
	struct perf_thread *t = io->t;
	int rc;

	if (!t->running) {
		io->idle = true;
		return;
	}
	if (t->phase == PH_RUN && t->cfg->count &&
	    atomic_fetch_add_explicit(&g.issued, 1, memory_order_relaxed) >= t->cfg->count) {
		io->idle = true;
		return;
	}
	if (!io_plan(io)) {
		io->idle = true;
		return;
	}
	if (!io->is_read && t->cfg->verify)
		pattern_fill(io->buf, g.lba_size, io->lba, g.blocks_per_io, io->gen);
	io->submit_ns = now_ns();
	io->busy = true;
	if (io->is_read)
		rc = nvmeof_mpath_read(io->qp, io->lba, g.blocks_per_io, io->buf, io_complete, io);
	else
		rc = nvmeof_mpath_write(io->qp, io->lba, g.blocks_per_io, io->buf, 0, io_complete, io);
	if (rc == 0)
		return;
	io->busy = false;
	if (t->phase == PH_RUN && t->cfg->count)
		atomic_fetch_sub_explicit(&g.issued, 1, memory_order_relaxed);
	if (rc == -EAGAIN) {
		io->retry_ns = io->submit_ns; /* retry on the next loop */
	} else {
		if (t->errors < 5)
			fprintf(stderr, "\nperf: submit at LBA %" PRIu64 " failed: %s\n", io->lba, strerror(-rc));
		t->errors++;
		atomic_store_explicit(&t->done_errors, t->errors, memory_order_relaxed);
		if (rc == -ENODEV || rc == -ESHUTDOWN) {
			t->dead = true;
			io->idle = true;
		}
		io->retry_ns = io->submit_ns + 100000000ull;
	}
	if (t->cfg->verify && !io->is_read)
		io->gens[io->unit_k] = 0; /* content unknown after a failed write */
	io->cursor -= (t->phase != PH_RUN) ? 1 : 0;
}

/* Keep gaps[] the PERF_GAPS longest, longest first (rare: only a new top gap gets here). */
static void gap_insert(struct perf_gap *gaps, uint64_t ns)
{
	struct timespec ts;
	unsigned int i = PERF_GAPS - 1;

	clock_gettime(CLOCK_REALTIME, &ts);
	while (i > 0 && gaps[i - 1].ns < ns) {
		gaps[i] = gaps[i - 1];
		i--;
	}
	gaps[i].ns = ns;
	gaps[i].end_unix = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void io_complete(void *arg, const struct nvmeof_cpl *cpl)
{
	struct perf_io *io = arg;
	struct perf_thread *t = io->t;
	uint64_t now = now_ns();
	uint64_t lat = now - io->submit_ns;
	bool failed = cpl->err || cpl->status;

	io->busy = false;
	if (t->phase == PH_DONE)
		return; /* given up on and counted as not completed; cancelled at disconnect */
	if (failed) {
		if (t->errors < 5) {
			if (cpl->err)
				fprintf(stderr, "\nperf: %s at LBA %" PRIu64 " failed: %s\n",
					io->is_read ? "read" : "write", io->lba, strerror(-cpl->err));
			else {
				char st[128];

				fprintf(stderr, "\nperf: %s at LBA %" PRIu64 " failed: %s\n",
					io->is_read ? "read" : "write", io->lba,
					nvme_status_format(cpl->status, false, st, sizeof(st)));
			}
		}
		t->errors++;
		if (t->cfg->verify && !io->is_read)
			io->gens[io->unit_k] = 0;
		if (cpl->err == -ENODEV)
			t->dead = true;
	} else if (t->cfg->verify) {
		if (io->is_read && io->gen) {
			struct pattern_err pe;

			if (pattern_check(io->buf, g.lba_size, io->lba, g.blocks_per_io, io->gen, &pe)) {
				if (t->verify_errors < 10)
					fprintf(stderr,
						"\nperf: verify failed at LBA %" PRIu64
						": expected generation %u, block header says LBA %" PRId64
						" generation %u (first bad word %u)\n",
						pe.lba, io->gen, (int64_t)pe.found_lba, pe.found_gen, pe.word);
				t->verify_errors++;
			}
		} else if (!io->is_read) {
			io->gens[io->unit_k] = io->gen;
		}
	}
	if (t->phase == PH_RUN) {
		if (t->last_cpl_ns && now - t->last_cpl_ns > t->gaps[PERF_GAPS - 1].ns)
			gap_insert(t->gaps, now - t->last_cpl_ns);
		t->last_cpl_ns = now;
		hist_add(&t->hist, lat);
		atomic_store_explicit(&t->done_ios, t->hist.count, memory_order_relaxed);
		atomic_store_explicit(&t->done_bytes,
				      atomic_load_explicit(&t->done_bytes, memory_order_relaxed) + t->cfg->io_size,
				      memory_order_relaxed);
	}
	atomic_store_explicit(&t->done_errors, t->errors + t->verify_errors, memory_order_relaxed);
	if (t->dead) {
		io->idle = true;
		return;
	}
	io_submit(io);
}

static unsigned int outstanding(struct perf_thread *t)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < t->nqps; i++)
		n += nvmeof_mpath_qpair_outstanding(t->qps[i]);
	return n;
}

/* Milliseconds from now until t (0 if passed), at most max. */
static int ms_until(uint64_t now, uint64_t t, int max)
{
	uint64_t ms = t > now ? (t - now + 999999) / 1000000 : 0;

	return ms < (uint64_t)max ? (int)ms : max;
}

/*
 * --no-busy-poll: nothing completed, so sleep until something does on a
 * queue with commands in flight (one queue: in its socket; several: a short
 * wait on each in turn bounds the latency of the others).
 */
static void wait_completion(struct perf_thread *t)
{
	for (unsigned int i = 0; i < t->nqps; i++)
		if (nvmeof_mpath_qpair_outstanding(t->qps[i]) &&
		    nvmeof_mpath_qpair_wait(t->qps[i], t->nqps == 1 ? PERF_WAIT_MAX_MS : 1) > 0)
			return;
}

/* Run one phase: start every context, poll until all are idle and drained. */
static void run_phase(struct perf_thread *t, enum phase ph)
{
	uint64_t deadline = 0, stopped_ns = 0;
	unsigned int spins = 0;

	t->phase = ph;
	t->running = true;
	for (unsigned int i = 0; i < t->nios; i++) {
		t->ios[i].idle = false;
		t->ios[i].retry_ns = 0;
		t->ios[i].cursor = 0;
	}
	if (ph == PH_RUN) {
		pthread_barrier_wait(&g.barrier);
		if (t->id == 0) {
			snapshot_paths(t->mp, g.path_ios0);
			atomic_store_explicit(&g.run_start_ns, now_ns(), memory_order_relaxed);
		}
		pthread_barrier_wait(&g.barrier);
		if (!t->cfg->count)
			deadline = atomic_load_explicit(&g.run_start_ns, memory_order_relaxed) +
				   (uint64_t)(t->cfg->time_s * 1e9);
	}
	for (unsigned int i = 0; i < t->nios; i++)
		if (!t->ios[i].busy) /* one left over from an earlier phase that gave up */
			io_submit(&t->ios[i]);
	for (;;) {
		int done = 0;

		for (unsigned int i = 0; i < t->nqps; i++)
			done += nvmeof_mpath_qpair_poll(t->qps[i], 0);
		if (t->cfg->no_busy_poll && !done && t->running)
			wait_completion(t);
		else if (++spins < 64)
			continue;
		spins = 0;
		uint64_t now = now_ns();

		if (t->running && (atomic_load_explicit(&g.stop, memory_order_relaxed) ||
				   (deadline && now >= deadline) || t->dead)) {
			t->running = false;
			stopped_ns = now;
		}
		bool all_idle = true;
		uint64_t next_retry = UINT64_MAX;

		for (unsigned int i = 0; i < t->nios; i++) {
			struct perf_io *io = &t->ios[i];

			if (!io->busy && !io->idle) {
				/* Once stopped, io_submit() just marks a parked context idle. */
				if (!t->running || now >= io->retry_ns)
					io_submit(io);
				if (!io->busy && !io->idle) {
					all_idle = false;
					if (io->retry_ns < next_retry)
						next_retry = io->retry_ns;
				}
			}
			if (io->busy)
				all_idle = false;
		}
		if (all_idle && outstanding(t) == 0)
			break;
		if (!t->running) {
			/*
			 * Stopped (time is up, a signal, or the controller died): what is
			 * in flight may finish on a live controller for a short while;
			 * waiting for a reconnect would overrun -T, so that ends it.
			 */
			if (t->dead || now >= stopped_ns + PERF_DRAIN_NS ||
			    nvmeof_mpath_wait(t->mp, 0) != 0)
				break;
			continue;
		}
		/*
		 * Nothing completes while the controller reconnects: sleep until it
		 * is back or dead, the next parked retry, or the end of the run. It
		 * returns at once on a healthy controller.
		 */
		int ms = PERF_WAIT_MAX_MS;

		if (deadline)
			ms = ms_until(now, deadline, ms);
		if (next_retry != UINT64_MAX)
			ms = ms_until(now, next_retry, ms);
		nvmeof_mpath_wait(t->mp, ms);
	}
	t->unfinished += outstanding(t);
}

static void *perf_thread_main(void *arg)
{
	struct perf_thread *t = arg;

	if (t->cfg->verify)
		run_phase(t, PH_PREFILL);
	run_phase(t, PH_RUN);
	pthread_barrier_wait(&g.barrier);
	if (t->id == 0) {
		atomic_store_explicit(&g.run_end_ns, now_ns(), memory_order_relaxed);
		snapshot_paths(t->mp, g.path_ios1);
	}
	if (t->cfg->verify && !atomic_load(&g.stop) && !t->dead && !t->unfinished &&
	    nvmeof_mpath_get_state(t->mp) == NVMEOF_CTRL_LIVE)
		run_phase(t, PH_READBACK);
	t->phase = PH_DONE; /* late completions (cancelled at disconnect) are ignored */
	/* Release: the main loop reads this thread's results once it sees the flag. */
	atomic_store_explicit(&t->finished, true, memory_order_release);
	return NULL;
}

/* ---- options ---- */

enum { OPT_COUNT = OPT_CMD_FIRST, OPT_QUEUES, OPT_THREADS, OPT_VERIFY, OPT_JSON, OPT_PROGRESS,
       OPT_NO_PROGRESS, OPT_SIZE, OPT_SEED, OPT_PERF_QSIZE, OPT_IOPOLICY,
       OPT_DISCOVER, OPT_NO_BUSY_POLL };

static const struct option perf_options[] = {
	{ "queue-depth", required_argument, NULL, 'q' },
	{ "io-size", required_argument, NULL, 'o' },
	{ "pattern", required_argument, NULL, 'w' },
	{ "mix", required_argument, NULL, 'M' },
	{ "time", required_argument, NULL, 'T' },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "iopolicy", required_argument, NULL, OPT_IOPOLICY },
	{ "discover", no_argument, NULL, OPT_DISCOVER },
	{ "no-busy-poll", no_argument, NULL, OPT_NO_BUSY_POLL },
	{ 0 },
};

static void perf_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof perf -a ADDR -s PORT [-a ADDR2 -s PORT2 ...] -n NQN [options]\n"
		"  several -a: paths to one namespace (multipath); a -s after an -a is its port,\n"
		"  a -s before the first -a the port of every path without its own\n"
		"      --iopolicy=P        among paths of equal ANA state: round-robin (default)\n"
		"                          or queue-depth\n"
		"      --discover          -a/-s are discovery controllers (-s default 8009): every\n"
		"                          TCP entry they list for -n is a path\n"
		"  -q, --queue-depth=N     I/Os in flight per queue (default 32)\n"
		"  -o, --io-size=BYTES     I/O size, k/m suffixes (default 4096)\n"
		"  -w, --pattern=P         read, write, randread, randwrite, randrw (default randread)\n"
		"  -M, --mix=PCT           read percentage for randrw (default 50)\n"
		"  -T, --time=SEC          run time, even if the target is lost (default 10)\n"
		"      --count=N           stop after N I/Os instead\n"
		"      --queues=N          I/O queues (default: --threads)\n"
		"      --threads=N         threads, each owning queues (default 1)\n"
		"      --no-busy-poll      sleep until a completion arrives instead of spinning\n"
		"                          (leaves the CPU to others; adds wake-up latency)\n"
		"  -N, --namespace-id=NSID (default 1)\n"
		"      --size=BYTES        region to use from LBA 0 (default: namespace; 64M with --verify)\n"
		"      --verify            write LBA+generation patterns and check every read\n"
		"      --json              print the result as one JSON object\n"
		"      --progress          live progress on stderr even if it is not a tty\n"
		"      --no-progress       no live progress, even on a tty\n"
		"      --seed=N            random seed\n"
		"      --hostnqn=NQN       (-q is the queue depth here)\n");
	cli_conn_usage(f, false);
}

static int perf_opt(void *ctx, int opt, const char *arg)
{
	struct perf_cfg *c = ctx;
	uint64_t v;
	int iv;

	switch (opt) {
	case 'q':
		if (cli_parse_int(arg, 1, 4096, &iv))
			goto bad;
		c->qd = (uint32_t)iv;
		return 0;
	case 'o':
		if (parse_size(arg, &v) || v == 0 || v > (1u << 30))
			goto bad;
		c->io_size = v;
		return 0;
	case 'w':
		for (unsigned int i = 0; i < sizeof(pattern_names) / sizeof(pattern_names[0]); i++)
			if (strcmp(arg, pattern_names[i]) == 0) {
				c->pattern = (enum perf_pattern)i;
				return 0;
			}
		goto bad;
	case 'M':
		if (cli_parse_int(arg, 0, 100, &c->mix))
			goto bad;
		return 0;
	case 'T': {
		char *end;
		double d = strtod(arg, &end);

		if (*end || d <= 0 || d > 1e6)
			goto bad;
		c->time_s = d;
		return 0;
	}
	case OPT_COUNT:
		if (cli_parse_u64(arg, &c->count) || c->count == 0)
			goto bad;
		return 0;
	case OPT_QUEUES:
		if (cli_parse_int(arg, 1, 1024, &iv))
			goto bad;
		c->queues = (unsigned int)iv;
		return 0;
	case OPT_THREADS:
		if (cli_parse_int(arg, 1, 256, &iv))
			goto bad;
		c->threads = (unsigned int)iv;
		return 0;
	case 'N':
		if (cli_parse_u64(arg, &v) || v == 0 || v > 0xfffffffe)
			goto bad;
		c->nsid = (uint32_t)v;
		return 0;
	case OPT_VERIFY:
		c->verify = true;
		return 0;
	case OPT_NO_BUSY_POLL:
		c->no_busy_poll = true;
		return 0;
	case OPT_JSON:
		c->json = true;
		return 0;
	case OPT_PROGRESS:
		c->progress = 1;
		return 0;
	case OPT_NO_PROGRESS:
		c->progress = 0;
		return 0;
	case OPT_SIZE:
		if (parse_size(arg, &c->size) || c->size == 0)
			goto bad;
		return 0;
	case OPT_SEED:
		if (cli_parse_u64(arg, &c->seed))
			goto bad;
		return 0;
	case OPT_DISCOVER:
		c->discover = true;
		return 0;
	case OPT_IOPOLICY:
		if (cli_parse_iopolicy(arg, &c->iopolicy))
			goto bad;
		return 0;
	}
	return -EINVAL;
bad:
	fprintf(stderr, "perf: invalid value '%s'\n", arg);
	return -EINVAL;
}

/* ---- report ---- */

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

struct perf_result {
	uint64_t errors;
	uint64_t verify_errors;
	uint64_t unfinished;
	struct perf_gap gaps[PERF_GAPS]; /* over all threads */
	enum nvmeof_ctrl_state state; /* when the run ended */
	struct nvmeof_mpath *mp;
};

static void report(const struct perf_cfg *c, const struct hist *h, const struct perf_result *r,
		   double secs, const struct rusage *ru0, const struct rusage *ru1)
{
	unsigned int npaths = nvmeof_mpath_nr_paths(r->mp);
	double gap_ms = (double)r->gaps[0].ns / 1e6;
	uint64_t errors = r->errors, verify_errors = r->verify_errors;
	double iops = secs > 0 ? (double)h->count / secs : 0;
	uint64_t bytes = h->count * c->io_size;
	double mibps = secs > 0 ? (double)bytes / 1048576.0 / secs : 0;
	double user = tv_s(ru1->ru_utime) - tv_s(ru0->ru_utime);
	double sys = tv_s(ru1->ru_stime) - tv_s(ru0->ru_stime);
	double p50 = (double)hist_percentile(h, 50) / 1e3, p99 = (double)hist_percentile(h, 99) / 1e3;
	double p999 = (double)hist_percentile(h, 99.9) / 1e3, p9999 = (double)hist_percentile(h, 99.99) / 1e3;
	double avg = hist_mean(h) / 1e3;
	double mn = h->count ? (double)h->min / 1e3 : 0, mx = (double)h->max / 1e3;

	if (c->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "iops", json_object_new_double(iops));
		json_object_object_add(o, "mibps", json_object_new_double(mibps));
		json_object_object_add(o, "avg_us", json_object_new_double(avg));
		json_object_object_add(o, "min_us", json_object_new_double(mn));
		json_object_object_add(o, "max_us", json_object_new_double(mx));
		json_object_object_add(o, "p50_us", json_object_new_double(p50));
		json_object_object_add(o, "p99_us", json_object_new_double(p99));
		json_object_object_add(o, "p99_9_us", json_object_new_double(p999));
		json_object_object_add(o, "p99_99_us", json_object_new_double(p9999));
		json_object_object_add(o, "cpu_user_s", json_object_new_double(user));
		json_object_object_add(o, "cpu_sys_s", json_object_new_double(sys));
		json_object_object_add(o, "ios", json_object_new_uint64(h->count));
		json_object_object_add(o, "bytes", json_object_new_uint64(bytes));
		json_object_object_add(o, "seconds", json_object_new_double(secs));
		json_object_object_add(o, "errors", json_object_new_uint64(errors + verify_errors));
		json_object_object_add(o, "verify_errors", json_object_new_uint64(verify_errors));
		json_object_object_add(o, "not_completed", json_object_new_uint64(r->unfinished));
		json_object_object_add(o, "ctrl_state",
				       json_object_new_string(nvmeof_ctrl_state_name(r->state)));
		json_object_object_add(o, "pattern", json_object_new_string(pattern_names[c->pattern]));
		json_object_object_add(o, "io_size", json_object_new_uint64(c->io_size));
		json_object_object_add(o, "queue_depth", json_object_new_int((int)c->qd));
		json_object_object_add(o, "max_gap_ms", json_object_new_double(gap_ms));
		json_object *ga = json_object_new_array();

		for (unsigned int i = 0; i < PERF_GAPS && r->gaps[i].ns; i++) {
			json_object *go = json_object_new_object();

			json_object_object_add(go, "ms", json_object_new_double((double)r->gaps[i].ns / 1e6));
			json_object_object_add(go, "end_unix", json_object_new_double(r->gaps[i].end_unix));
			json_object_array_add(ga, go);
		}
		json_object_object_add(o, "gaps", ga);
		json_object_object_add(o, "iopolicy", json_object_new_string(nvmeof_iopolicy_name(c->iopolicy)));
		json_object *pa = json_object_new_array();

		for (unsigned int i = 0; i < npaths; i++) {
			struct nvmeof_path_info pi;
			json_object *po = json_object_new_object();

			nvmeof_mpath_get_path_info(r->mp, i, &pi);
			json_object_object_add(po, "traddr", json_object_new_string(pi.traddr));
			json_object_object_add(po, "trsvcid", json_object_new_string(pi.trsvcid));
			json_object_object_add(po, "cntlid", json_object_new_int(pi.cntlid));
			json_object_object_add(po, "state", json_object_new_string(nvmeof_ctrl_state_name(pi.state)));
			json_object_object_add(po, "ana_state",
					       json_object_new_string(nvmeof_ana_state_name(pi.ana_state)));
			uint64_t run_ios = g.path_ios1[i] - g.path_ios0[i];

			json_object_object_add(po, "ios", json_object_new_uint64(run_ios));
			json_object_object_add(po, "iops",
					       json_object_new_double(secs > 0 ? (double)run_ios / secs : 0));
			json_object_object_add(po, "errors", json_object_new_uint64(pi.errors));
			json_object_object_add(po, "retries", json_object_new_uint64(pi.retries));
			json_object_array_add(pa, po);
		}
		json_object_object_add(o, "paths", pa);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("pattern %s, io size %" PRIu64 " B, queue depth %u, %u queue(s), %u thread(s)%s%s\n",
	       pattern_names[c->pattern], c->io_size, c->qd, c->queues, c->threads,
	       c->verify ? ", verify" : "", c->no_busy_poll ? ", no busy poll" : "");
	printf("  IOPS      : %.0f\n", iops);
	printf("  bandwidth : %.2f MiB/s\n", mibps);
	printf("  latency   : avg %.1f us, min %.1f us, max %.1f us\n", avg, mn, mx);
	printf("  percentile: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, p99.99 %.1f us\n", p50, p99, p999,
	       p9999);
	printf("  cpu       : user %.2f s, sys %.2f s (%.0f%% of one core)\n", user, sys,
	       secs > 0 ? (user + sys) / secs * 100 : 0);
	printf("  total     : %" PRIu64 " I/Os, %" PRIu64 " bytes in %.2f s, %" PRIu64 " errors%s, "
	       "%" PRIu64 " not completed\n",
	       h->count, bytes, secs, errors + verify_errors,
	       verify_errors ? " (verify mismatches included)" : "", r->unfinished);
	printf("  max gap   : %.1f ms between two completions (next:", gap_ms);
	for (unsigned int i = 1; i < PERF_GAPS && r->gaps[i].ns; i++)
		printf(" %.1f", (double)r->gaps[i].ns / 1e6);
	printf(" ms)\n");
	for (unsigned int i = 0; i < npaths; i++) {
		struct nvmeof_path_info pi;

		nvmeof_mpath_get_path_info(r->mp, i, &pi);
		pi.ios = g.path_ios1[i] - g.path_ios0[i]; /* the timed run only */
		printf("  path %u    : %s:%s cntlid %u, %s, ANA %s: %" PRIu64 " I/Os (%.0f IOPS), %" PRIu64
		       " errors, %" PRIu64 " retries\n",
		       i, pi.traddr, pi.trsvcid, pi.cntlid, nvmeof_ctrl_state_name(pi.state),
		       nvmeof_ana_state_name(pi.ana_state), pi.ios, secs > 0 ? (double)pi.ios / secs : 0,
		       pi.errors, pi.retries);
	}
	if (r->state != NVMEOF_CTRL_LIVE)
		printf("  controller: %s at the end of the run (target lost)\n",
		       nvmeof_ctrl_state_name(r->state));
}

/* Addresses found by --discover (the paths point here). */
static char disc_addr[NVMEOF_MPATH_MAX_PATHS][257];
static char disc_port[NVMEOF_MPATH_MAX_PATHS][33];

/*
 * --discover: ask each -a/-s discovery controller for its log and make
 * every TCP entry of subsystem -n a path (duplicates once).
 */
static int discover_paths(struct cli_conn *conn)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < conn->npaths; i++) {
		struct nvmeof_ctrl_opts o;
		struct nvmeof_ctrl *dc;
		uint8_t *log = NULL;
		uint64_t numrec = 0;
		int rc;

		cli_conn_path_opts(conn, i, &o);
		if (!conn->path_port[i] && !conn->default_port_set)
			o.trsvcid = NVMEOF_DISC_PORT;
		o.subnqn = NVME_DISC_NQN;
		o.nr_io_queues = 0;
		o.kato_ms = 0;
		rc = nvmeof_ctrl_connect(&o, &dc, NULL);
		if (rc) {
			fprintf(stderr, "perf: discovery at %s:%s: %s\n", o.traddr, o.trsvcid, strerror(-rc));
			return rc;
		}
		rc = fetch_discovery_log(dc, &log, &numrec);
		nvmeof_ctrl_disconnect(dc);
		if (rc)
			return rc;
		for (uint64_t r = 0; r < numrec; r++) {
			const struct nvmf_disc_log_entry *e =
				(const void *)(log + sizeof(struct nvmf_disc_log_hdr) + r * sizeof(*e));
			char addr[257], port[33], nqn[257];
			bool dup = false;

			if (e->trtype != NVMF_TRTYPE_TCP || e->subtype != NVMF_SUBTYPE_NVME)
				continue;
			snprintf(nqn, sizeof(nqn), "%.256s", e->subnqn);
			if (strcmp(nqn, conn->opts.subnqn) != 0)
				continue;
			snprintf(addr, sizeof(addr), "%.256s", e->traddr);
			snprintf(port, sizeof(port), "%.32s", e->trsvcid);
			/* Fields are space padded. */
			for (char *p = addr + strlen(addr); p > addr && p[-1] == ' '; *--p = '\0')
				;
			for (char *p = port + strlen(port); p > port && p[-1] == ' '; *--p = '\0')
				;
			for (unsigned int k = 0; k < n; k++)
				if (!strcmp(disc_addr[k], addr) && !strcmp(disc_port[k], port))
					dup = true;
			if (dup)
				continue;
			if (n == NVMEOF_MPATH_MAX_PATHS) {
				fprintf(stderr, "perf: more than %d paths discovered; using the first %d\n",
					NVMEOF_MPATH_MAX_PATHS, NVMEOF_MPATH_MAX_PATHS);
				break;
			}
			memcpy(disc_addr[n], addr, sizeof(addr));
			memcpy(disc_port[n], port, sizeof(port));
			n++;
		}
		free(log);
	}
	if (!n) {
		fprintf(stderr, "perf: discovery lists no TCP port for %s\n", conn->opts.subnqn);
		return -ENOENT;
	}
	for (unsigned int k = 0; k < n; k++) {
		conn->path_addr[k] = disc_addr[k];
		conn->path_port[k] = disc_port[k];
		fprintf(stderr, "perf: discovered path %s:%s\n", disc_addr[k], disc_port[k]);
	}
	conn->npaths = n;
	conn->opts.traddr = disc_addr[0];
	conn->opts.trsvcid = disc_port[0];
	return 0;
}

/* Connect every -a/-s path as one multipath namespace. */
static int connect_paths(struct cli_conn *conn, const struct perf_cfg *c, struct nvmeof_mpath **mp)
{
	struct nvmeof_ctrl_opts paths[NVMEOF_MPATH_MAX_PATHS];
	struct nvmeof_mpath_opts mo;
	struct nvmeof_cpl cpl = { 0 };
	unsigned int refused = 0;
	int rc;

	if (conn->verbose && log_get_level() < LOG_LVL_INFO)
		log_set_level(LOG_LVL_INFO);
	for (unsigned int i = 0; i < conn->npaths; i++)
		cli_conn_path_opts(conn, i, &paths[i]);
	nvmeof_mpath_opts_init(&mo);
	mo.nsid = c->nsid;
	mo.iopolicy = c->iopolicy;
	/* Without paths to fail over to, I/O waits as long as the single-path library would. */
	mo.queue_tmo_s = conn->opts.fast_io_fail_tmo_s >= 0 ? conn->opts.fast_io_fail_tmo_s
							  : conn->opts.ctrl_loss_tmo_s;
	rc = nvmeof_mpath_connect(paths, conn->npaths, &mo, mp, &refused, &cpl);
	if (rc) {
		if (rc == -EREMOTEIO)
			cli_print_connect_refusal(stderr, &conn->opts, &cpl);
		else if (rc == -EACCES)
			fprintf(stderr, "failed to connect to %s (%s): authentication failed\n",
				conn->npaths > 1 ? "a path" : conn->opts.traddr, conn->opts.subnqn);
		else
			fprintf(stderr, "failed to connect to %s:%s (%s): %s\n", conn->opts.traddr,
				conn->opts.trsvcid, conn->opts.subnqn, strerror(-rc));
		return rc;
	}
	if (refused)
		fprintf(stderr, "perf: %u of %u paths refused (see above); running on %u\n", refused,
			conn->npaths, nvmeof_mpath_nr_paths(*mp));
	return 0;
}

int cmd_perf(int argc, char **argv)
{
	struct perf_cfg c = { .qd = 32, .io_size = 4096, .pattern = PAT_RANDREAD, .mix = 50,
			      .time_s = 10, .threads = 1, .nsid = 1, .progress = -1 };
	struct cli_conn conn;
	struct nvmeof_mpath *mp = NULL;
	struct nvmeof_ctrl *ctrl = NULL;
	struct nvmeof_ns_info ns;
	struct nvmeof_ctrl_info info;
	struct perf_thread *threads = NULL;
	struct perf_io *all_ios = NULL;
	uint8_t *bufs = NULL;
	uint32_t *gens = NULL;
	int rc, ret = 1;

	cli_conn_init(&conn, NVMEOF_IO_PORT);
	conn.multipath_ok = true;
	rc = cli_parse(argc, argv, &conn, perf_options, "q:o:w:M:T:N:", false, perf_opt, &c, perf_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (cli_conn_finish(&conn, "perf", true))
		return 2;
	if (!c.queues)
		c.queues = c.threads;
	if (c.threads > c.queues) {
		fprintf(stderr, "perf: --threads (%u) exceeds --queues (%u)\n", c.threads, c.queues);
		return 2;
	}
	if (!c.seed)
		c.seed = (uint64_t)now_ns() | 1;
	conn.opts.nr_io_queues = c.queues;
	/* Room for qd I/Os per queue even when each is split in up to 8 commands. */
	uint64_t want_qsize = (uint64_t)c.qd * ((c.io_size + (128u << 10) - 1) / (128u << 10)) + 1;

	if (want_qsize > conn.opts.queue_size)
		conn.opts.queue_size = want_qsize > 4096 ? 4096 : (unsigned int)want_qsize;
	if (c.discover && discover_paths(&conn))
		return 1;
	if (connect_paths(&conn, &c, &mp))
		return 1;
	ctrl = nvmeof_mpath_get_ctrl(mp, 0);
	nvmeof_ctrl_get_info(ctrl, &info);
	if (nvmeof_mpath_nr_qpairs(mp) < info.nr_io_queues)
		info.nr_io_queues = nvmeof_mpath_nr_qpairs(mp);
	if (info.nr_io_queues < c.queues) {
		fprintf(stderr, "perf: controller granted only %u I/O queues\n", info.nr_io_queues);
		goto out;
	}
	nvmeof_mpath_get_ns_info(mp, &ns);
	if (c.io_size % ns.lba_size || (c.verify && ns.lba_size < 32)) {
		fprintf(stderr, "perf: --io-size %" PRIu64 " is not a multiple of the block size %u\n", c.io_size,
			ns.lba_size);
		goto out;
	}
	uint32_t parts = (uint32_t)((c.io_size + info.max_xfer - 1) / info.max_xfer);

	if ((uint64_t)c.qd * parts > info.queue_size) {
		fprintf(stderr, "perf: queue depth %u x %u commands per I/O exceeds the queue size %u\n", c.qd,
			parts, info.queue_size);
		goto out;
	}
	uint64_t ns_bytes = ns.nsze * ns.lba_size;
	uint64_t region = c.size ? c.size : (c.verify && ns_bytes > (64u << 20) ? (64u << 20) : ns_bytes);

	if (region > ns_bytes) {
		fprintf(stderr, "perf: --size exceeds the namespace (%" PRIu64 " bytes)\n", ns_bytes);
		goto out;
	}
	g.lba_size = ns.lba_size;
	g.blocks_per_io = (uint32_t)(c.io_size / ns.lba_size);
	g.units = region / c.io_size;
	g.nctx = c.queues * c.qd;
	if (g.units == 0 || (c.verify && g.units < g.nctx)) {
		fprintf(stderr, "perf: region of %" PRIu64 " bytes too small for %s%u x %" PRIu64 " B\n", region,
			c.verify ? "--verify with " : "", c.verify ? g.nctx : 1, c.io_size);
		goto out;
	}
	atomic_store(&g.stop, false);
	atomic_store(&g.issued, 0);

	threads = calloc(c.threads, sizeof(*threads));
	all_ios = calloc(g.nctx, sizeof(*all_ios));
	bufs = aligned_alloc(4096, (size_t)g.nctx * c.io_size);
	if (c.verify)
		gens = calloc(g.units + g.nctx, sizeof(*gens));
	if (!threads || !all_ios || !bufs || (c.verify && !gens)) {
		fprintf(stderr, "perf: out of memory\n");
		goto out;
	}
	memset(bufs, 0xa5, (size_t)g.nctx * c.io_size);
	pthread_barrier_init(&g.barrier, NULL, c.threads);

	/* Queue q goes to thread q % threads; each queue gets qd contexts. */
	uint32_t *gen_next = gens;

	for (unsigned int ti = 0; ti < c.threads; ti++) {
		struct perf_thread *t = &threads[ti];

		t->id = ti;
		t->cfg = &c;
		t->mp = mp;
		t->rng = c.seed * (ti + 1) * 0x9e3779b97f4a7c15ull | 1;
		t->seq_cursor = g.units * ti / c.threads;
		hist_init(&t->hist);
		t->qps = calloc(c.queues, sizeof(*t->qps));
		if (!t->qps)
			goto out;
	}
	for (unsigned int q = 0; q < c.queues; q++) {
		struct perf_thread *t = &threads[q % c.threads];

		t->qps[t->nqps++] = nvmeof_mpath_get_qpair(mp, q);
	}
	unsigned int ctx = 0;

	for (unsigned int ti = 0; ti < c.threads; ti++) {
		struct perf_thread *t = &threads[ti];

		t->ios = &all_ios[ctx];
		t->nios = t->nqps * c.qd;
		for (unsigned int i = 0; i < t->nios; i++, ctx++) {
			struct perf_io *io = &t->ios[i];

			io->t = t;
			io->qp = t->qps[i / c.qd];
			io->buf = bufs + (size_t)ctx * c.io_size;
			io->ctx = ctx;
			io->own_units = (g.units - ctx + g.nctx - 1) / g.nctx;
			if (c.verify) {
				io->gens = gen_next;
				gen_next += io->own_units;
			}
		}
	}

	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	bool progress = c.progress == 1 || (c.progress == -1 && isatty(STDERR_FILENO));
	struct rusage ru0, ru1;

	getrusage(RUSAGE_SELF, &ru0);
	for (unsigned int ti = 0; ti < c.threads; ti++)
		pthread_create(&threads[ti].tid, NULL, perf_thread_main, &threads[ti]);

	uint64_t last_ios = 0, last_ns = now_ns();

	for (;;) {
		bool done = true;

		for (unsigned int ti = 0; ti < c.threads; ti++)
			if (!atomic_load_explicit(&threads[ti].finished, memory_order_acquire))
				done = false;
		if (done)
			break;
		struct timespec ts = { 0, 200000000 };

		nanosleep(&ts, NULL);
		uint64_t now = now_ns();

		uint64_t start_ns = atomic_load_explicit(&g.run_start_ns, memory_order_relaxed);

		if (progress && now - last_ns >= 1000000000ull && start_ns &&
		    !atomic_load_explicit(&g.run_end_ns, memory_order_relaxed)) {
			uint64_t ios = 0, errs = 0;

			for (unsigned int ti = 0; ti < c.threads; ti++) {
				ios += atomic_load_explicit(&threads[ti].done_ios, memory_order_relaxed);
				errs += atomic_load_explicit(&threads[ti].done_errors, memory_order_relaxed);
			}
			double dt = (double)(now - last_ns) / 1e9;
			double iops = (double)(ios - last_ios) / dt;

			fprintf(stderr, "\r[%5.1f s] %10.0f IOPS %9.2f MiB/s  %" PRIu64 " errors   ",
				(double)(now - start_ns) / 1e9, iops, iops * (double)c.io_size / 1048576.0,
				errs);
			last_ios = ios;
			last_ns = now;
		}
	}
	for (unsigned int ti = 0; ti < c.threads; ti++)
		pthread_join(threads[ti].tid, NULL);
	getrusage(RUSAGE_SELF, &ru1);
	if (progress)
		fprintf(stderr, "\n");

	struct hist *total = malloc(sizeof(*total));
	struct perf_result res = { .state = nvmeof_mpath_get_state(mp), .mp = mp };

	if (!total)
		goto out;
	hist_init(total);
	for (unsigned int ti = 0; ti < c.threads; ti++) {
		hist_merge(total, &threads[ti].hist);
		res.errors += threads[ti].errors;
		res.verify_errors += threads[ti].verify_errors;
		res.unfinished += threads[ti].unfinished;
		for (unsigned int i = 0; i < PERF_GAPS; i++)
			if (threads[ti].gaps[i].ns > res.gaps[PERF_GAPS - 1].ns) {
				struct perf_gap *tg = &threads[ti].gaps[i];
				unsigned int k = PERF_GAPS - 1;

				while (k > 0 && res.gaps[k - 1].ns < tg->ns) {
					res.gaps[k] = res.gaps[k - 1];
					k--;
				}
				res.gaps[k] = *tg;
			}
	}
	double secs = (double)(atomic_load(&g.run_end_ns) - atomic_load(&g.run_start_ns)) / 1e9;

	report(&c, total, &res, secs, &ru0, &ru1);
	free(total);
	pthread_barrier_destroy(&g.barrier);
	ret = (res.errors || res.verify_errors || res.unfinished || res.state != NVMEOF_CTRL_LIVE) ? 1 : 0;
out:
	nvmeof_mpath_disconnect(mp);
	for (unsigned int ti = 0; threads && ti < c.threads; ti++)
		free(threads[ti].qps);
	free(threads);
	free(all_ios);
	free(bufs);
	free(gens);
	return ret;
}
