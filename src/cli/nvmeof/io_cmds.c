/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof write-zeroes`, `dsm` and `compare`: one command each on one I/O
 * queue, with nvme-cli's option names, success lines and status messages.
 * -S is the start block and -N the namespace (as read/write), since -s and
 * -n are connection options here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"

#define DSM_MAX_RANGES 256
/* Largest compare: a bound on what one command line allocates. */
#define COMPARE_MAX_BYTES (64u << 20)

enum {
	OPT_SLBS = OPT_CMD_FIRST,
	OPT_CTX_ATTRS,
	OPT_AD,
	OPT_IDW,
	OPT_IDR,
};

struct io_args {
	uint32_t nsid;
	uint64_t slba;
	uint32_t nlb; /* 1-based; --block-count is 0's based */
	bool deac;
	bool fua;
	uint64_t data_size;
	const char *data;
	/* dsm */
	uint64_t slbs[DSM_MAX_RANGES];
	uint32_t blocks[DSM_MAX_RANGES];
	uint32_t ctx_attrs[DSM_MAX_RANGES];
	unsigned int n_slbs, n_blocks, n_ctx_attrs;
	uint32_t attr; /* cdw11 from --ad/--idw/--idr */
	uint32_t cdw11;
	bool cdw11_set;
};

static const struct option wz_options[] = {
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "start-block", required_argument, NULL, 'S' },
	{ "block-count", required_argument, NULL, 'c' },
	{ "deac", no_argument, NULL, 'd' },
	{ "force-unit-access", no_argument, NULL, 'f' },
	{ 0 },
};

static const struct option dsm_options[] = {
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "ctx-attrs", required_argument, NULL, OPT_CTX_ATTRS },
	{ "blocks", required_argument, NULL, 'b' },
	{ "slbs", required_argument, NULL, OPT_SLBS },
	{ "ad", no_argument, NULL, 'd' },
	{ "idw", no_argument, NULL, 'w' },
	{ "idr", no_argument, NULL, 'r' },
	{ "cdw11", required_argument, NULL, 'c' },
	{ 0 },
};

static const struct option cmp_options[] = {
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "start-block", required_argument, NULL, 'S' },
	{ "block-count", required_argument, NULL, 'c' },
	{ "data-size", required_argument, NULL, 'z' },
	{ "data", required_argument, NULL, 'd' },
	{ 0 },
};

static void wz_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof write-zeroes -a ADDR -s PORT -n NQN [options]\n"
		"  -N, --namespace-id=NSID   namespace (default 1)\n"
		"  -S, --start-block=LBA     first block (default 0)\n"
		"  -c, --block-count=N       blocks minus one (zeroes based)\n"
		"  -d, --deac                deallocate the blocks too\n"
		"  -f, --force-unit-access   durable before completion\n");
	cli_conn_usage(f, true);
}

static void dsm_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof dsm -a ADDR -s PORT -n NQN --slbs=LBA,... --blocks=N,... [options]\n"
		"  -N, --namespace-id=NSID   namespace (default 1)\n"
		"      --slbs=LIST           starting blocks of the ranges\n"
		"  -b, --blocks=LIST         block counts of the ranges\n"
		"      --ctx-attrs=LIST      context attributes of the ranges\n"
		"  -d, --ad                  attribute deallocate\n"
		"  -w, --idw                 attribute integral dataset for write\n"
		"  -r, --idr                 attribute integral dataset for read\n"
		"  -c, --cdw11=N             all of dword 11 (instead of -d/-w/-r)\n");
	cli_conn_usage(f, true);
}

static void cmp_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof compare -a ADDR -s PORT -n NQN --data-size=BYTES [--data=FILE] [options]\n"
		"  -N, --namespace-id=NSID   namespace (default 1)\n"
		"  -S, --start-block=LBA     first block (default 0)\n"
		"  -c, --block-count=N       blocks minus one (zeroes based)\n"
		"  -z, --data-size=BYTES     bytes to compare (required)\n"
		"  -d, --data=FILE           data to compare with (default stdin)\n"
		"Exits nonzero and prints the NVMe status when the data differ.\n");
	cli_conn_usage(f, true);
}

/* A comma separated list of numbers, at most max of them, each ≤ limit. */
static int parse_list(const char *arg, uint64_t limit, uint64_t *out, unsigned int max, unsigned int *n)
{
	char *copy = strdup(arg), *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	*n = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (*n >= max || cli_parse_u64(tok, &v) || v > limit) {
			rc = -EINVAL;
			break;
		}
		out[(*n)++] = v;
	}
	free(copy);
	return rc ? rc : (*n ? 0 : -EINVAL);
}

static int io_opt(void *ctx, int opt, const char *arg)
{
	struct io_args *a = ctx;
	uint64_t v, list[DSM_MAX_RANGES];
	unsigned int n;

	switch (opt) {
	case 'N':
		if (cli_parse_u64(arg, &v) || v == 0 || v >= NVME_NSID_ALL)
			goto bad;
		a->nsid = (uint32_t)v;
		return 0;
	case 'S':
		if (cli_parse_u64(arg, &a->slba))
			goto bad;
		return 0;
	case 'c':
		if (cli_parse_u64(arg, &v) || v > UINT32_MAX)
			goto bad;
		/* write-zeroes and compare: a 0's based count; dsm: dword 11 */
		a->nlb = (uint32_t)v + 1;
		a->cdw11 = (uint32_t)v;
		a->cdw11_set = true;
		return 0;
	case 'z':
		if (parse_size(arg, &v) || v == 0 || v > COMPARE_MAX_BYTES)
			goto bad;
		a->data_size = v;
		return 0;
	case 'f':
		a->fua = true;
		return 0;
	case 'd':
		/* write-zeroes --deac, dsm --ad and compare --data share -d, as in nvme-cli */
		if (arg)
			a->data = arg;
		a->deac = true;
		a->attr |= NVMEOF_DSM_AD;
		return 0;
	case 'w':
		a->attr |= NVMEOF_DSM_IDW;
		return 0;
	case 'r':
		a->attr |= NVMEOF_DSM_IDR;
		return 0;
	case OPT_SLBS:
		if (parse_list(arg, UINT64_MAX, a->slbs, DSM_MAX_RANGES, &a->n_slbs))
			goto bad;
		return 0;
	case 'b':
		if (parse_list(arg, UINT32_MAX, list, DSM_MAX_RANGES, &n))
			goto bad;
		for (unsigned int i = 0; i < n; i++)
			a->blocks[i] = (uint32_t)list[i];
		a->n_blocks = n;
		return 0;
	case OPT_CTX_ATTRS:
		if (parse_list(arg, UINT32_MAX, list, DSM_MAX_RANGES, &n))
			goto bad;
		for (unsigned int i = 0; i < n; i++)
			a->ctx_attrs[i] = (uint32_t)list[i];
		a->n_ctx_attrs = n;
		return 0;
	}
	return -EINVAL;
bad:
	fprintf(stderr, "invalid value '%s'\n", arg);
	return -EINVAL;
}

enum io_kind { IO_WRITE_ZEROES, IO_DSM, IO_COMPARE };

/* 0, 1 (help printed) or -EINVAL (message printed). */
static int io_parse(int argc, char **argv, struct cli_conn *c, struct io_args *a, enum io_kind kind)
{
	int rc;

	cli_conn_init(c, NVMEOF_IO_PORT);
	memset(a, 0, sizeof(*a));
	a->nsid = 1;
	a->nlb = 1;
	switch (kind) {
	case IO_WRITE_ZEROES:
		rc = cli_parse(argc, argv, c, wz_options, "N:S:c:df", true, io_opt, a, wz_usage);
		break;
	case IO_DSM:
		rc = cli_parse(argc, argv, c, dsm_options, "N:b:dwrc:", true, io_opt, a, dsm_usage);
		break;
	default:
		rc = cli_parse(argc, argv, c, cmp_options, "N:S:c:z:d:", true, io_opt, a, cmp_usage);
		break;
	}
	if (rc)
		return rc;
	if (kind == IO_DSM) {
		unsigned int nr = a->n_slbs;

		if (a->n_blocks > nr)
			nr = a->n_blocks;
		if (a->n_ctx_attrs > nr)
			nr = a->n_ctx_attrs;
		/* Ranges come from the lists by position; a shorter list means zeros. */
		if (!nr) {
			fprintf(stderr, "No range definition provided\n");
			return -EINVAL;
		}
		if (!a->cdw11_set)
			a->cdw11 = a->attr;
		a->nlb = nr; /* the range count */
	}
	if (kind == IO_COMPARE && !a->data_size) {
		fprintf(stderr, "compare: --data-size is required\n");
		return -EINVAL;
	}
	/* NLB is a 16-bit field, as nvme-cli's --block-count. */
	if (kind != IO_DSM && a->cdw11_set && a->cdw11 > 0xffff) {
		fprintf(stderr, "%s: --block-count is at most 65535\n", argv[0]);
		return -EINVAL;
	}
	return cli_conn_finish(c, argv[0], true);
}

static void dsm_fill(const struct io_args *a, struct nvmeof_dsm_range *r)
{
	for (unsigned int i = 0; i < a->nlb; i++) {
		r[i].cattr = to_le32(a->ctx_attrs[i]);
		r[i].nlb = to_le32(a->blocks[i]);
		r[i].slba = to_le64(a->slbs[i]);
	}
}

struct io_wait {
	bool done;
	struct nvmeof_cpl cpl;
};

static void io_done(void *arg, const struct nvmeof_cpl *cpl)
{
	struct io_wait *w = arg;

	w->cpl = *cpl;
	w->done = true;
}

static int io_wait(struct nvmeof_qpair *qp, struct io_wait *w)
{
	while (!w->done) {
		int n = nvmeof_qpair_wait(qp, 1000);

		if (n < 0)
			return n;
	}
	return 0;
}

static int read_file_exact(const char *path, uint8_t *buf, size_t len)
{
	int fd = path ? open(path, O_RDONLY) : STDIN_FILENO;
	size_t got = 0;

	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (path)
		close(fd);
	if (got < len) {
		fprintf(stderr, "failed to read data buffer from input file: %zu of %zu bytes\n", got, len);
		return -ENODATA;
	}
	return 0;
}

static int do_io(int argc, char **argv, enum io_kind kind)
{
	struct cli_conn c;
	struct io_args *a = calloc(1, sizeof(*a));
	struct nvmeof_ctrl *ctrl = NULL;
	struct nvmeof_ns_info ns;
	struct io_wait w = { 0 };
	void *buf = NULL;
	bool input_failed = false;
	int rc;

	if (!a)
		return 1;
	rc = io_parse(argc, argv, &c, a, kind);
	if (rc) {
		free(a);
		return rc > 0 ? 0 : 2;
	}
	c.opts.nr_io_queues = 1;
	if (cli_connect(&c, &ctrl)) {
		free(a);
		return 1;
	}
	rc = nvmeof_ns_get_info(ctrl, a->nsid, &ns);
	if (rc) {
		fprintf(stderr, "namespace %u: %s\n", a->nsid, strerror(-rc));
		goto out;
	}
	struct nvmeof_qpair *qp = nvmeof_ctrl_get_qpair(ctrl, 0);

	switch (kind) {
	case IO_WRITE_ZEROES:
		rc = nvmeof_write_zeroes(qp, a->nsid, a->slba, a->nlb,
					 (a->deac ? NVMEOF_IO_DEAC : 0) | (a->fua ? NVMEOF_IO_FUA : 0), io_done, &w);
		break;
	case IO_DSM:
		buf = aligned_alloc(4096, DSM_MAX_RANGES * sizeof(struct nvmeof_dsm_range));
		if (!buf) {
			rc = -ENOMEM;
			break;
		}
		dsm_fill(a, buf);
		rc = nvmeof_dsm(qp, a->nsid, a->cdw11, buf, a->nlb, io_done, &w);
		break;
	case IO_COMPARE: {
		/* As nvme-cli: the larger of --block-count and --data-size, whole blocks. */
		uint64_t nblocks = (a->data_size + ns.lba_size - 1) / ns.lba_size;

		if (a->nlb > nblocks)
			nblocks = a->nlb;
		if (nblocks * ns.lba_size > COMPARE_MAX_BYTES) {
			fprintf(stderr, "compare: at most %u bytes\n", COMPARE_MAX_BYTES);
			rc = -EINVAL;
			break;
		}
		buf = calloc(1, nblocks * ns.lba_size);
		if (!buf) {
			rc = -ENOMEM;
			break;
		}
		rc = read_file_exact(a->data, buf, a->data_size);
		if (rc) {
			input_failed = true;
			break;
		}
		rc = nvmeof_compare(qp, a->nsid, a->slba, (uint32_t)nblocks, buf, io_done, &w);
		break;
	}
	}
	if (!rc)
		rc = io_wait(qp, &w);
	if (input_failed) {
		/* already reported */
	} else if (rc) {
		fprintf(stderr, "%s: %s\n", argv[0], strerror(-rc));
	} else if (!nvme_report_result(argv[0], 0, &w.cpl)) {
		if (kind == IO_WRITE_ZEROES)
			printf("NVME Write Zeroes Success\n");
		else if (kind == IO_DSM)
			printf("NVMe DSM: success\n");
		else
			fprintf(stderr, "compare: Success\n");
	} else {
		rc = -EIO;
	}
out:
	free(buf);
	free(a);
	nvmeof_ctrl_disconnect(ctrl);
	return rc ? 1 : 0;
}

int cmd_write_zeroes(int argc, char **argv) { return do_io(argc, argv, IO_WRITE_ZEROES); }

int cmd_dsm(int argc, char **argv) { return do_io(argc, argv, IO_DSM); }

int cmd_compare(int argc, char **argv) { return do_io(argc, argv, IO_COMPARE); }
