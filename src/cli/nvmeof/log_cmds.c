/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof get-log`, `smart-log`, `error-log`, `ana-log` and `gen-hostnqn`, with
 * nvme-cli's option names and output. Where nvme-cli's short letter is a
 * connection option here (-n, -s, -a, -S), the option is long-only or, for
 * the namespace, -N as in the other commands.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"

/* libnvme's transfer size per Get Log Page when it splits a log. */
#define LOG_CHUNK 4096u
/* Largest log read: a bound on what one command line allocates. */
#define LOG_LEN_MAX (16u << 20)

enum {
	OPT_LSP = OPT_CMD_FIRST,
	OPT_LSI,
	OPT_LOG_LEN_RAW,
};

struct log_args {
	uint32_t nsid;
	bool nsid_set;
	uint8_t lid;
	bool lid_set;
	uint32_t len;
	uint64_t lpo;
	uint8_t lsp;
	uint16_t lsi;
	uint8_t csi;
	uint8_t uuid_index;
	bool rae;
	bool raw;
	unsigned int entries; /* error-log: 0 = as many as the controller keeps */
};

static const struct option getlog_options[] = {
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "log-id", required_argument, NULL, 'i' },
	{ "log-len", required_argument, NULL, 'l' },
	{ "lpo", required_argument, NULL, 'o' },
	{ "lsp", required_argument, NULL, OPT_LSP },
	{ "lsi", required_argument, NULL, OPT_LSI },
	{ "rae", no_argument, NULL, 'r' },
	{ "uuid-index", required_argument, NULL, 'U' },
	{ "raw-binary", no_argument, NULL, 'b' },
	{ "csi", required_argument, NULL, 'y' },
	{ 0 },
};
#define GETLOG_SHORT "N:i:l:o:rU:by:"

static const struct option smart_options[] = {
	{ "namespace-id", required_argument, NULL, 'N' },
	{ "raw-binary", no_argument, NULL, 'b' },
	{ 0 },
};

static const struct option errlog_options[] = {
	{ "log-entries", required_argument, NULL, 'e' },
	{ "raw-binary", no_argument, NULL, 'b' },
	{ 0 },
};

static const struct option analog_options[] = {
	{ "groups", no_argument, NULL, 'g' },
	{ "raw-binary", no_argument, NULL, 'b' },
	{ 0 },
};

static void getlog_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof get-log -a ADDR -s PORT -n NQN --log-id=N --log-len=N [options]\n"
		"Retrieve any log page and print it as a hex dump (or raw with -b).\n"
		"  -i, --log-id=N            log identifier (required)\n"
		"  -l, --log-len=N           bytes to retrieve (required)\n"
		"  -N, --namespace-id=NSID   namespace (default 0xffffffff)\n"
		"  -o, --lpo=N               log page offset in bytes (dword aligned)\n"
		"      --lsp=N               log specific field (0-127)\n"
		"      --lsi=N               log specific identifier\n"
		"  -r, --rae                 retain an asynchronous event\n"
		"  -U, --uuid-index=N        UUID index (0-127)\n"
		"  -y, --csi=N               command set identifier\n"
		"  -b, --raw-binary          write the log to stdout as it is\n");
	cli_conn_usage(f, true);
}

static void smart_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof smart-log -a ADDR -s PORT -n NQN [options]\n"
		"Print the SMART / Health Information log (0x02).\n"
		"  -N, --namespace-id=NSID   namespace (default 0xffffffff: the controller)\n"
		"  -b, --raw-binary          write the log to stdout as it is\n");
	cli_conn_usage(f, true);
}

static void errlog_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof error-log -a ADDR -s PORT -n NQN [options]\n"
		"Print the Error Information log (0x01).\n"
		"  -e, --log-entries=N       entries to retrieve (default: all the controller keeps)\n"
		"  -b, --raw-binary          write the log to stdout as it is\n");
	cli_conn_usage(f, true);
}

static void analog_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof ana-log -a ADDR -s PORT -n NQN [options]\n"
		"Print the Asymmetric Namespace Access log (0x0c) of the controller reached.\n"
		"  -g, --groups              return ANA groups only (no namespace lists)\n"
		"  -b, --raw-binary          write the log to stdout as it is\n");
	cli_conn_usage(f, true);
}

static int parse_u32_max(const char *arg, uint64_t max, uint64_t *out)
{
	if (cli_parse_u64(arg, out) || *out > max) {
		fprintf(stderr, "invalid value '%s'\n", arg);
		return -EINVAL;
	}
	return 0;
}

static int log_opt(void *ctx, int opt, const char *arg)
{
	struct log_args *a = ctx;
	uint64_t v;

	switch (opt) {
	case 'N':
		if (parse_u32_max(arg, UINT32_MAX, &v))
			return -EINVAL;
		a->nsid = (uint32_t)v;
		a->nsid_set = true;
		return 0;
	case 'i':
		if (parse_u32_max(arg, 0xff, &v))
			return -EINVAL;
		a->lid = (uint8_t)v;
		a->lid_set = true;
		return 0;
	case 'l':
		if (parse_u32_max(arg, LOG_LEN_MAX, &v))
			return -EINVAL;
		a->len = (uint32_t)v;
		return 0;
	case 'o':
		if (cli_parse_u64(arg, &a->lpo) || a->lpo % 4) {
			fprintf(stderr, "invalid --lpo '%s' (a multiple of 4)\n", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_LSP:
		if (parse_u32_max(arg, 0x7f, &v))
			return -EINVAL;
		a->lsp = (uint8_t)v;
		return 0;
	case OPT_LSI:
		if (parse_u32_max(arg, 0xffff, &v))
			return -EINVAL;
		a->lsi = (uint16_t)v;
		return 0;
	case 'r':
		a->rae = true;
		return 0;
	case 'U':
		if (parse_u32_max(arg, 0x7f, &v))
			return -EINVAL;
		a->uuid_index = (uint8_t)v;
		return 0;
	case 'y':
		if (parse_u32_max(arg, 0xff, &v))
			return -EINVAL;
		a->csi = (uint8_t)v;
		return 0;
	case 'b':
		a->raw = true;
		return 0;
	case 'g':
		a->lsp |= NVME_ANA_LOG_RGO;
		return 0;
	case 'e':
		if (parse_u32_max(arg, 4096, &v) || v == 0) {
			fprintf(stderr, "--log-entries must be 1..4096\n");
			return -EINVAL;
		}
		a->entries = (unsigned int)v;
		return 0;
	}
	return -EINVAL;
}

/* get-log's arguments: 0, 1 (help printed) or -EINVAL (message printed). */
static int getlog_parse(int argc, char **argv, struct cli_conn *c, struct log_args *a)
{
	int rc;

	cli_conn_init(c, NVMEOF_IO_PORT);
	*a = (struct log_args){ .nsid = NVME_NSID_ALL };
	rc = cli_parse(argc, argv, c, getlog_options, GETLOG_SHORT, true, log_opt, a, getlog_usage);
	if (rc)
		return rc;
	if (!a->lid_set) {
		fprintf(stderr, "get-log: --log-id is required\n");
		return -EINVAL;
	}
	if (!a->len) {
		fprintf(stderr, "get-log: --log-len is required (and not zero)\n");
		return -EINVAL;
	}
	return cli_conn_finish(c, argv[0], true);
}

/*
 * Read len bytes of log lid in pieces of LOG_CHUNK, as libnvme does. NUMD
 * counts dwords, so an odd length is read rounded up into buf (which must
 * hold that much). Every piece but the last retains the event, so that the
 * log stays consistent across the pieces.
 */
static int read_log(struct nvmeof_ctrl *ctrl, const struct log_args *a, uint8_t *buf, uint32_t len,
		    struct nvmeof_cpl *cpl)
{
	uint32_t total = (len + 3) & ~3u;

	for (uint32_t done = 0; done < total;) {
		uint32_t n = total - done < LOG_CHUNK ? total - done : LOG_CHUNK;
		uint32_t numd = n / 4 - 1;
		uint64_t off = a->lpo + done;
		bool last = done + n == total;
		struct nvmeof_admin_cmd cmd = {
			.opcode = NVME_ADMIN_GET_LOG_PAGE,
			.nsid = a->nsid,
			.cdw10 = a->lid | (uint32_t)a->lsp << 8 | (uint32_t)(a->rae || !last) << 15 |
				 (numd & 0xffff) << 16,
			.cdw11 = numd >> 16 | (uint32_t)a->lsi << 16,
			.cdw12 = (uint32_t)off,
			.cdw13 = (uint32_t)(off >> 32),
			.cdw14 = a->uuid_index | (uint32_t)a->csi << 24,
		};
		int rc = nvmeof_admin(ctrl, &cmd, buf + done, n, false, cpl);

		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

static int write_all(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Connect with the admin queue only: 0, or the exit status to return. */
static int admin_connect(struct cli_conn *c, struct nvmeof_ctrl **ctrl)
{
	c->opts.nr_io_queues = 0;
	return cli_connect(c, ctrl) ? 1 : 0;
}

/* Connected, with the controller's Identify data (which sizes some logs); 0 or an exit code. */
static int admin_connect_identify(struct cli_conn *c, struct nvmeof_ctrl **ctrl, struct nvme_id_ctrl **id)
{
	struct nvmeof_cpl cpl = { 0 };
	int rc;

	*id = aligned_alloc(4096, sizeof(**id));
	if (!*id)
		return 1;
	rc = admin_connect(c, ctrl);
	if (rc) {
		free(*id);
		return rc;
	}
	rc = nvmeof_identify(*ctrl, NVME_ID_CNS_CTRL, 0, *id, &cpl);
	if (nvme_report_result("identify controller", rc, &cpl)) {
		nvmeof_ctrl_disconnect(*ctrl);
		free(*id);
		return 1;
	}
	return 0;
}

int cmd_get_log(int argc, char **argv)
{
	struct cli_conn c;
	struct log_args a;
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_cpl cpl = { 0 };
	int rc = getlog_parse(argc, argv, &c, &a);

	if (rc)
		return rc > 0 ? 0 : 2;
	uint8_t *buf = calloc(1, ((size_t)a.len + 3) & ~(size_t)3);

	if (!buf)
		return 1;
	rc = admin_connect(&c, &ctrl);
	if (rc) {
		free(buf);
		return rc;
	}
	rc = read_log(ctrl, &a, buf, a.len, &cpl);
	nvmeof_ctrl_disconnect(ctrl);
	if (nvme_report_result("get-log", rc, &cpl)) {
		free(buf);
		return 1;
	}
	if (a.raw) {
		rc = write_all(buf, a.len);
	} else {
		printf("Device:%s log-id:%u namespace-id:%#x\n", c.opts.subnqn, a.lid, a.nsid);
		nvme_hexdump(stdout, buf, a.len);
	}
	free(buf);
	return rc ? 1 : 0;
}

int cmd_smart_log(int argc, char **argv)
{
	struct cli_conn c;
	struct log_args a = { .nsid = NVME_NSID_ALL };
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_cpl cpl = { 0 };
	struct nvme_smart_log log;
	int rc;

	cli_conn_init(&c, NVMEOF_IO_PORT);
	rc = cli_parse(argc, argv, &c, smart_options, "N:b", true, log_opt, &a, smart_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (cli_conn_finish(&c, argv[0], true))
		return 2;
	rc = admin_connect(&c, &ctrl);
	if (rc)
		return rc;
	memset(&log, 0, sizeof(log));
	rc = nvmeof_get_log_page(ctrl, NVME_LOG_SMART, a.nsid, 0, &log, sizeof(log), &cpl);
	nvmeof_ctrl_disconnect(ctrl);
	if (nvme_report_result("smart-log", rc, &cpl))
		return 1;
	if (a.raw)
		return write_all(&log, sizeof(log)) ? 1 : 0;
	if (c.json)
		nvme_print_smart_json(stdout, &log);
	else
		nvme_print_smart_text(stdout, &log, c.opts.subnqn, a.nsid);
	return 0;
}

int cmd_error_log(int argc, char **argv)
{
	struct cli_conn c;
	struct log_args a = { 0 };
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_cpl cpl = { 0 };
	struct nvme_id_ctrl *id;
	struct nvme_error_log_entry *log = NULL;
	int rc;

	cli_conn_init(&c, NVMEOF_IO_PORT);
	rc = cli_parse(argc, argv, &c, errlog_options, "e:b", true, log_opt, &a, errlog_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (cli_conn_finish(&c, argv[0], true))
		return 2;
	rc = admin_connect_identify(&c, &ctrl, &id);
	if (rc)
		return rc;
	/* As nvme-cli: never more entries than the controller keeps (ELPE is 0's based). */
	unsigned int kept = (unsigned int)id->elpe + 1;
	unsigned int n = a.entries && a.entries < kept ? a.entries : kept;

	log = calloc(n, sizeof(*log));
	if (!log) {
		rc = 1;
		goto out;
	}
	a.lid = NVME_LOG_ERROR;
	a.nsid = NVME_NSID_ALL;
	rc = read_log(ctrl, &a, (uint8_t *)log, n * (uint32_t)sizeof(*log), &cpl);
	if (nvme_report_result("error-log", rc, &cpl)) {
		rc = 1;
		goto out;
	}
	if (a.raw)
		rc = write_all(log, n * sizeof(*log)) ? 1 : 0;
	else if (c.json)
		nvme_print_error_log_json(stdout, log, n);
	else
		nvme_print_error_log_text(stdout, log, n, c.opts.subnqn);
out:
	nvmeof_ctrl_disconnect(ctrl);
	free(log);
	free(id);
	return rc;
}

int cmd_ana_log(int argc, char **argv)
{
	struct cli_conn c;
	struct log_args a = { .nsid = NVME_NSID_ALL };
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_cpl cpl = { 0 };
	struct nvme_id_ctrl *id;
	uint8_t *log = NULL;
	uint32_t len;
	int rc;

	cli_conn_init(&c, NVMEOF_IO_PORT);
	rc = cli_parse(argc, argv, &c, analog_options, "gb", true, log_opt, &a, analog_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (cli_conn_finish(&c, argv[0], true))
		return 2;
	rc = admin_connect_identify(&c, &ctrl, &id);
	if (rc)
		return rc;
	/* As nvme-cli: room for every group and, without --groups, every namespace. */
	len = (uint32_t)sizeof(struct nvme_ana_log_hdr) + le32(id->nanagrpid) * (uint32_t)sizeof(struct nvme_ana_group_desc);
	if (!(a.lsp & NVME_ANA_LOG_RGO))
		len += le32(id->mnan) * 4u;
	if (len > LOG_LEN_MAX) {
		fprintf(stderr, "ana-log: the controller's ANA log would take %u bytes\n", len);
		rc = 1;
		goto out;
	}
	log = calloc(1, len);
	if (!log) {
		rc = 1;
		goto out;
	}
	a.lid = NVME_LOG_ANA;
	a.rae = true; /* as nvme-cli: leave the event to whoever else watches it */
	rc = read_log(ctrl, &a, log, len, &cpl);
	if (nvme_report_result("ana-log", rc, &cpl)) {
		rc = 1;
		goto out;
	}
	if (a.raw)
		rc = write_all(log, len) ? 1 : 0;
	else if (c.json)
		nvme_print_ana_log_json(stdout, log, len, c.opts.subnqn);
	else
		nvme_print_ana_log_text(stdout, log, len, c.opts.subnqn);
out:
	nvmeof_ctrl_disconnect(ctrl);
	free(log);
	free(id);
	return rc;
}

/* A random (version 4) UUID host NQN, as nvme-cli prints it. */
static int gen_hostnqn(char out[NVMEOF_NQN_MAX + 1])
{
	uint8_t uuid[16];
	char s[37];

	if (getrandom(uuid, sizeof(uuid), 0) != (ssize_t)sizeof(uuid))
		return -EIO;
	uuid[6] = (uuid[6] & 0x0f) | 0x40;
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	nvmeof_uuid_format(uuid, s);
	snprintf(out, NVMEOF_NQN_MAX + 1, "nqn.2014-08.org.nvmexpress:uuid:%s", s);
	return 0;
}

int cmd_gen_hostnqn(int argc, char **argv)
{
	char nqn[NVMEOF_NQN_MAX + 1];

	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			printf("usage: nvmeof gen-hostnqn\nPrint a new host NQN with a random UUID.\n");
			return 0;
		}
		fprintf(stderr, "gen-hostnqn: unexpected argument '%s'\n", argv[1]);
		return 2;
	}
	if (gen_hostnqn(nqn)) {
		fprintf(stderr, "gen-hostnqn: no random bytes\n");
		return 1;
	}
	printf("%s\n", nqn);
	return 0;
}
