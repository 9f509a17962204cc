/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof get-feature` and `set-feature` with nvme-cli's options and output.
 * Each run is its own controller (one connection per command), so a value
 * set here lasts as long as the target keeps it for a new controller.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "proto/nvme_spec.h"

/* Largest feature data buffer (the admin queue's in-capsule limit). */
#define FEAT_DATA_MAX 8192u

enum {
	OPT_SEL = OPT_CMD_FIRST,
	OPT_CDW12,
	OPT_SAVE,
};

struct feat_args {
	uint8_t fid;
	bool fid_set;
	uint8_t sel;
	uint32_t nsid;
	uint32_t cdw11; /* get: --cdw11; set: --value */
	bool value_set;
	uint32_t cdw12;
	uint32_t data_len;
	bool raw;
	bool save;
};

static const struct option getfeat_options[] = {
	{ "feature-id", required_argument, NULL, 'f' },
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "sel", required_argument, NULL, OPT_SEL },
	{ "data-len", required_argument, NULL, 'l' },
	{ "raw-binary", no_argument, NULL, 'b' },
	{ "cdw11", required_argument, NULL, 'c' },
	{ 0 },
};

static const struct option setfeat_options[] = {
	{ "feature-id", required_argument, NULL, 'f' },
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "value", required_argument, NULL, 'v' },
	{ "cdw12", required_argument, NULL, OPT_CDW12 },
	{ "save", no_argument, NULL, OPT_SAVE },
	{ 0 },
};

static void getfeat_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof get-feature -a ADDR -s PORT -n NQN --feature-id=N [options]\n"
		"  -f, --feature-id=N        feature identifier (required)\n"
		"  -N, --namespace-id=NSID   namespace (default 0)\n"
		"      --sel=N               0 current, 1 default, 2 saved, 3 supported capabilities\n"
		"  -c, --cdw11=N             feature specific dword 11\n"
		"  -l, --data-len=N          bytes of feature data to read (hex dump after the value)\n"
		"  -b, --raw-binary          write the feature data to stdout as it is\n");
	cli_conn_usage(f, true);
}

static void setfeat_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof set-feature -a ADDR -s PORT -n NQN --feature-id=N --value=V [options]\n"
		"  -f, --feature-id=N        feature identifier (required)\n"
		"  -v, --value=V             new value, dword 11 (required)\n"
		"  -N, --namespace-id=NSID   namespace (default 0)\n"
		"      --cdw12=N             feature specific dword 12\n"
		"      --save                the value persists across power states (SV)\n");
	cli_conn_usage(f, true);
}

static int feat_opt(void *ctx, int opt, const char *arg)
{
	struct feat_args *a = ctx;
	uint64_t v;

	if (opt != 'b' && opt != OPT_SAVE && (cli_parse_u64(arg, &v) || v > UINT32_MAX))
		goto bad;
	switch (opt) {
	case 'f':
		if (v > 0xff)
			goto bad;
		a->fid = (uint8_t)v;
		a->fid_set = true;
		return 0;
	case 'N':
		a->nsid = (uint32_t)v;
		return 0;
	case OPT_SEL:
		if (v > 3)
			goto bad;
		a->sel = (uint8_t)v;
		return 0;
	case 'l':
		if (v > FEAT_DATA_MAX)
			goto bad;
		a->data_len = (uint32_t)v;
		return 0;
	case 'c':
	case 'v':
		a->cdw11 = (uint32_t)v;
		a->value_set = true;
		return 0;
	case OPT_CDW12:
		a->cdw12 = (uint32_t)v;
		return 0;
	case 'b':
		a->raw = true;
		return 0;
	case OPT_SAVE:
		a->save = true;
		return 0;
	}
	return -EINVAL;
bad:
	fprintf(stderr, "invalid value '%s'\n", arg);
	return -EINVAL;
}

/* 0, 1 (help printed) or -EINVAL (message printed). */
static int feat_parse(int argc, char **argv, struct cli_conn *c, struct feat_args *a, bool set)
{
	int rc;

	cli_conn_init(c, NVMEOF_IO_PORT);
	*a = (struct feat_args){ 0 };
	rc = set ? cli_parse(argc, argv, c, setfeat_options, "f:N:v:", true, feat_opt, a, setfeat_usage)
		 : cli_parse(argc, argv, c, getfeat_options, "f:N:l:bc:", true, feat_opt, a, getfeat_usage);
	if (rc)
		return rc;
	if (!a->fid_set) {
		fprintf(stderr, "%s: --feature-id is required\n", argv[0]);
		return -EINVAL;
	}
	if (set && !a->value_set) {
		fprintf(stderr, "%s: --value is required\n", argv[0]);
		return -EINVAL;
	}
	/* As nvme-cli: the host identifier comes with data, 16 bytes if extended. */
	if (!set && !a->data_len && a->fid == NVME_FEAT_HOST_ID)
		a->data_len = (a->cdw11 & 1) ? 16 : 8;
	return cli_conn_finish(c, argv[0], true);
}

int cmd_get_feature(int argc, char **argv)
{
	struct cli_conn c;
	struct feat_args a;
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_cpl cpl = { 0 };
	uint8_t *data = NULL;
	int rc = feat_parse(argc, argv, &c, &a, false);

	if (rc)
		return rc > 0 ? 0 : 2;
	if (a.data_len && !(data = calloc(1, a.data_len)))
		return 1;
	c.opts.nr_io_queues = 0;
	if (cli_connect(&c, &ctrl)) {
		free(data);
		return 1;
	}
	struct nvmeof_admin_cmd cmd = {
		.opcode = NVME_ADMIN_GET_FEATURES,
		.nsid = a.nsid,
		.cdw10 = a.fid | (uint32_t)a.sel << 8,
		.cdw11 = a.cdw11,
	};

	rc = nvmeof_admin(ctrl, &cmd, data, a.data_len, false, &cpl);
	nvmeof_ctrl_disconnect(ctrl);
	if (nvme_report_result("get-feature", rc, &cpl)) {
		free(data);
		return 1;
	}
	if (a.raw && data) {
		fwrite(data, 1, a.data_len, stdout);
	} else {
		nvme_print_get_feature(stdout, a.fid, a.sel, cpl.dw0);
		if (data)
			nvme_hexdump(stdout, data, a.data_len);
	}
	free(data);
	return 0;
}

int cmd_set_feature(int argc, char **argv)
{
	struct cli_conn c;
	struct feat_args a;
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_cpl cpl = { 0 };
	int rc = feat_parse(argc, argv, &c, &a, true);

	if (rc)
		return rc > 0 ? 0 : 2;
	c.opts.nr_io_queues = 0;
	if (cli_connect(&c, &ctrl))
		return 1;
	struct nvmeof_admin_cmd cmd = {
		.opcode = NVME_ADMIN_SET_FEATURES,
		.nsid = a.nsid,
		.cdw10 = a.fid | (uint32_t)a.save << 31,
		.cdw11 = a.cdw11,
		.cdw12 = a.cdw12,
	};

	rc = nvmeof_admin(ctrl, &cmd, NULL, 0, false, &cpl);
	nvmeof_ctrl_disconnect(ctrl);
	if (nvme_report_result("set-feature", rc, &cpl))
		return 1;
	nvme_print_set_feature(stdout, a.fid, a.cdw11, a.cdw12, a.save);
	return 0;
}
