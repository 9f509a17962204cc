/* SPDX-License-Identifier: MIT */
/* `nvmeof read`, `write` and `flush`: one I/O queue, synchronous chunks. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "proto/nvme_status.h"

#define RW_CHUNK (1u << 20)

struct rw_args {
	uint32_t nsid;
	uint64_t slba;
	uint64_t nblocks; /* 0 = not given */
	uint64_t data_size; /* 0 = not given */
	const char *data;
	bool fua;
};

enum { OPT_FUA = OPT_CMD_FIRST, OPT_BLOCKS };

static const struct option rw_options[] = {
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "start-block", required_argument, NULL, 'S' },
	{ "block-count", required_argument, NULL, 'c' },
	{ "blocks", required_argument, NULL, OPT_BLOCKS },
	{ "data-size", required_argument, NULL, 'z' },
	{ "data", required_argument, NULL, 'd' },
	{ "force-unit-access", no_argument, NULL, OPT_FUA },
	{ 0 },
};

static void rw_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof read|write|flush -a ADDR -s PORT -n NQN [options]\n"
		"  -N, --namespace-id=NSID     namespace (default 1)\n"
		"  -S, --start-block=LBA       first block (default 0)\n"
		"  -c, --block-count=N         blocks minus one (zero-based, as nvme-cli)\n"
		"      --blocks=N              number of blocks\n"
		"  -z, --data-size=BYTES       bytes to transfer (a multiple of the block size)\n"
		"                              read needs one of -c, --blocks, -z; write too\n"
		"                              unless --data is a regular file (its size)\n"
		"  -d, --data=FILE             input/output file (default stdin/stdout); a read\n"
		"                              that fails leaves no file behind\n"
		"      --force-unit-access     write with FUA\n");
	cli_conn_usage(f, true);
}

static int rw_opt(void *ctx, int opt, const char *arg)
{
	struct rw_args *a = ctx;
	uint64_t v;

	switch (opt) {
	case 'N':
		if (cli_parse_u64(arg, &v) || v == 0 || v > 0xfffffffe)
			goto bad;
		a->nsid = (uint32_t)v;
		return 0;
	case 'S':
		if (cli_parse_u64(arg, &a->slba))
			goto bad;
		return 0;
	case 'c':
		if (cli_parse_u64(arg, &v) || v == UINT64_MAX)
			goto bad;
		a->nblocks = v + 1;
		return 0;
	case OPT_BLOCKS:
		if (cli_parse_u64(arg, &v) || v == 0)
			goto bad;
		a->nblocks = v;
		return 0;
	case 'z':
		if (parse_size(arg, &v) || v == 0)
			goto bad;
		a->data_size = v;
		return 0;
	case 'd':
		a->data = arg;
		return 0;
	case OPT_FUA:
		a->fua = true;
		return 0;
	}
	return -EINVAL;
bad:
	fprintf(stderr, "invalid value '%s'\n", arg);
	return -EINVAL;
}

struct sync_io {
	bool done;
	struct nvmeof_cpl cpl;
};

static void sync_cb(void *arg, const struct nvmeof_cpl *cpl)
{
	struct sync_io *s = arg;

	s->cpl = *cpl;
	s->done = true;
}

static int wait_done(struct nvmeof_qpair *qp, struct sync_io *s, const char *what, uint64_t lba)
{
	while (!s->done) {
		int n = nvmeof_qpair_wait(qp, 1000);

		if (n < 0)
			return n;
	}
	if (s->cpl.err) {
		fprintf(stderr, "%s at LBA %" PRIu64 " failed: %s\n", what, lba, strerror(-s->cpl.err));
		return s->cpl.err;
	}
	if (s->cpl.status) {
		char st[128];

		fprintf(stderr, "%s at LBA %" PRIu64 " failed: %s\n", what, lba,
			nvme_status_format(s->cpl.status, false, st, sizeof(st)));
		return -EIO;
	}
	return 0;
}

static int full_io(int fd, uint8_t *buf, size_t len, bool rd)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = rd ? read(fd, buf + done, len - done) : write(fd, buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int)(done == len ? 0 : -ENODATA);
}

/*
 * The output of a read: a regular file (or a new one) is written under a
 * temporary name in its directory and renamed into place only when the read
 * succeeded, so a failed read leaves neither an empty nor a partial file. A
 * device, FIFO, /dev/null or symbolic link is written directly (renaming
 * would replace it).
 */
struct read_output {
	int fd;
	char tmp_path[PATH_MAX]; /* empty when writing directly */
};

static int read_output_open(const char *path, struct read_output *out)
{
	struct stat st;
	bool exists = lstat(path, &st) == 0;

	out->tmp_path[0] = '\0';
	if (exists && !S_ISREG(st.st_mode)) {
		out->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		return out->fd < 0 ? -errno : 0;
	}
	if (snprintf(out->tmp_path, sizeof(out->tmp_path), "%s.XXXXXX", path) >= (int)sizeof(out->tmp_path))
		return -ENAMETOOLONG;
	out->fd = mkstemp(out->tmp_path);
	if (out->fd < 0) {
		out->tmp_path[0] = '\0';
		return -errno;
	}
	/* mkstemp makes it 0600: give it the mode the file had, or would get from open(). */
	mode_t mask = umask(0);

	umask(mask);
	if (fchmod(out->fd, exists ? (st.st_mode & 07777) : (0644 & ~mask)) < 0) {
		int err = -errno;

		close(out->fd);
		unlink(out->tmp_path);
		out->tmp_path[0] = '\0';
		return err;
	}
	return 0;
}

/* Close the output; on success rename it into place, on failure remove it. */
static int read_output_close(struct read_output *out, const char *path, bool ok)
{
	int rc = 0;

	if (close(out->fd) < 0 && ok)
		rc = -errno;
	if (!out->tmp_path[0])
		return rc;
	if (ok && !rc && rename(out->tmp_path, path) < 0)
		rc = -errno;
	if (!ok || rc)
		unlink(out->tmp_path);
	return rc;
}

static int do_rw(int argc, char **argv, bool is_read)
{
	struct cli_conn c;
	struct rw_args a = { .nsid = 1 };
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_ns_info ns;
	uint8_t *buf = NULL;
	struct read_output out = { .fd = -1 };
	int fd = -1, rc;

	cli_conn_init(&c, NVMEOF_IO_PORT);
	rc = cli_parse(argc, argv, &c, rw_options, "N:S:c:z:d:", true, rw_opt, &a, rw_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (cli_conn_finish(&c, argv[0], true))
		return 2;
	if (is_read && !a.data_size && !a.nblocks) {
		/* As nvme-cli: no silent one-block default. */
		fprintf(stderr, "%s needs a size: --data-size=BYTES, --blocks=N or --block-count=N-1\n",
			argv[0]);
		return 2;
	}
	if (a.data && is_read) {
		rc = read_output_open(a.data, &out);
		if (rc) {
			fprintf(stderr, "%s: %s\n", a.data, strerror(-rc));
			return 1;
		}
		fd = out.fd;
	} else if (a.data) {
		fd = open(a.data, O_RDONLY);
		if (fd < 0) {
			fprintf(stderr, "%s: %s\n", a.data, strerror(errno));
			return 1;
		}
		if (!a.data_size && !a.nblocks) {
			struct stat st;

			if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
				a.data_size = (uint64_t)st.st_size;
		}
	} else {
		fd = is_read ? STDOUT_FILENO : STDIN_FILENO;
	}
	if (!is_read && !a.data_size && !a.nblocks) {
		fprintf(stderr, "%s needs a size: --data-size=BYTES, --blocks=N or --block-count=N-1%s\n",
			argv[0], a.data ? " (the input file is empty or not a regular file)" : "");
		if (a.data)
			close(fd);
		return 2;
	}
	c.opts.nr_io_queues = 1;
	if (cli_connect(&c, &ctrl)) {
		rc = 1;
		goto out_fd;
	}
	rc = nvmeof_ns_get_info(ctrl, a.nsid, &ns);
	if (rc) {
		fprintf(stderr, "namespace %u: %s\n", a.nsid, strerror(-rc));
		goto out;
	}
	uint64_t nblocks = a.nblocks;

	if (a.data_size) {
		if (a.data_size % ns.lba_size) {
			fprintf(stderr, "--data-size %" PRIu64 " is not a multiple of the block size %u\n",
				a.data_size, ns.lba_size);
			rc = -EINVAL;
			goto out;
		}
		if (nblocks && nblocks != a.data_size / ns.lba_size) {
			fprintf(stderr, "--data-size and --block-count disagree\n");
			rc = -EINVAL;
			goto out;
		}
		nblocks = a.data_size / ns.lba_size;
	}
	if (a.slba >= ns.nsze || nblocks > ns.nsze - a.slba) {
		fprintf(stderr, "range %" PRIu64 "+%" PRIu64 " is beyond the namespace (%" PRIu64 " blocks)\n",
			a.slba, nblocks, ns.nsze);
		rc = -ERANGE;
		goto out;
	}
	buf = aligned_alloc(4096, RW_CHUNK);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	struct nvmeof_qpair *qp = nvmeof_ctrl_get_qpair(ctrl, 0);
	uint32_t chunk_blocks = RW_CHUNK / ns.lba_size;

	for (uint64_t done = 0; done < nblocks && !rc;) {
		uint32_t n = nblocks - done < chunk_blocks ? (uint32_t)(nblocks - done) : chunk_blocks;
		size_t bytes = (size_t)n * ns.lba_size;
		uint64_t lba = a.slba + done;
		struct sync_io s = { 0 };

		if (is_read) {
			rc = nvmeof_read(qp, a.nsid, lba, n, buf, sync_cb, &s);
			if (!rc)
				rc = wait_done(qp, &s, "read", lba);
			if (!rc && (rc = full_io(fd, buf, bytes, false)))
				fprintf(stderr, "writing output: %s\n", strerror(-rc));
		} else {
			rc = full_io(fd, buf, bytes, true);
			if (rc) {
				fprintf(stderr, "input ended before %" PRIu64 " bytes\n",
					nblocks * ns.lba_size);
				break;
			}
			rc = nvmeof_write(qp, a.nsid, lba, n, buf, a.fua ? NVMEOF_IO_FUA : 0, sync_cb, &s);
			if (!rc)
				rc = wait_done(qp, &s, "write", lba);
		}
		done += n;
	}
out:
	free(buf);
	nvmeof_ctrl_disconnect(ctrl);
out_fd:
	if (a.data && is_read) {
		int crc = read_output_close(&out, a.data, !rc);

		if (crc) {
			fprintf(stderr, "%s: %s\n", a.data, strerror(-crc));
			rc = crc;
		}
	} else if (a.data && fd >= 0) {
		close(fd);
	}
	if (!rc)
		fprintf(stderr, "%s: %s success\n", argv[0], is_read ? "read" : "write");
	return rc ? 1 : 0;
}

int cmd_read(int argc, char **argv) { return do_rw(argc, argv, true); }

int cmd_write(int argc, char **argv) { return do_rw(argc, argv, false); }

int cmd_flush(int argc, char **argv)
{
	struct cli_conn c;
	struct rw_args a = { .nsid = 1 };
	struct nvmeof_ctrl *ctrl;
	struct sync_io s = { 0 };
	int rc;

	cli_conn_init(&c, NVMEOF_IO_PORT);
	rc = cli_parse(argc, argv, &c, rw_options, "N:S:c:z:d:", true, rw_opt, &a, rw_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (cli_conn_finish(&c, argv[0], true))
		return 2;
	c.opts.nr_io_queues = 1;
	if (cli_connect(&c, &ctrl))
		return 1;
	struct nvmeof_qpair *qp = nvmeof_ctrl_get_qpair(ctrl, 0);

	rc = nvmeof_flush(qp, a.nsid, sync_cb, &s);
	if (!rc)
		rc = wait_done(qp, &s, "flush", 0);
	else
		fprintf(stderr, "flush: %s\n", strerror(-rc));
	if (!rc)
		fprintf(stderr, "flush: success\n");
	nvmeof_ctrl_disconnect(ctrl);
	return rc ? 1 : 0;
}
