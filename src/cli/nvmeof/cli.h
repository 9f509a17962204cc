/* SPDX-License-Identifier: MIT */
/*
 * The `nvmeof` tool: one file per subcommand family, a shared parser for the
 * nvme-cli style connection options, and small pure helpers (histogram,
 * verify pattern, discovery log printing) that unit tests include directly.
 */
#ifndef NVMEOF_CLI_H
#define NVMEOF_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/size.h"
#include <stdio.h>

#include "nvmeof/host.h"

/* Connection options shared by every subcommand, as nvme-cli names them. */
struct cli_conn {
	struct nvmeof_ctrl_opts opts;
	bool have_traddr;
	bool have_nqn;
	bool json; /* --output-format=json */
	bool verbose;
	bool dhchap_short_S; /* -S / -C mean the DH-HMAC-CHAP secrets unless the command uses them */
	bool dhchap_short_C;
	char dhchap_secret[128]; /* opts.dhchap_* point here */
	char dhchap_ctrl_secret[128];
	/*
	 * Paths (multipath: perf, attach): each -a adds one; a -s after an -a is
	 * that path's port, a -s before the first -a the port of every path
	 * without its own. opts.traddr/trsvcid are the first path's.
	 */
	bool multipath_ok; /* set by the command before cli_parse */
	unsigned int npaths;
	const char *path_addr[NVMEOF_MPATH_MAX_PATHS];
	const char *path_port[NVMEOF_MPATH_MAX_PATHS];
	const char *default_port;
	bool default_port_set; /* by a -s before the first -a */
};

/* Long-only option codes of the shared table. */
enum {
	OPT_NR_IO_QUEUES = 1000,
	OPT_QUEUE_SIZE,
	OPT_HDR_DIGEST,
	OPT_DATA_DIGEST,
	OPT_KATO,
	OPT_RECONNECT_DELAY,
	OPT_CTRL_LOSS_TMO,
	OPT_FAST_IO_FAIL_TMO,
	OPT_IO_TIMEOUT,
	OPT_OUTPUT_FORMAT,
	OPT_HOSTNQN_LONG,
	OPT_VERBOSE,
	/* TLS (secure channel) */
	OPT_TLS,
	OPT_TLS_KEY,
	OPT_TLS_KEY_IDENTITY,
	OPT_TLS_KDF,
	OPT_TLS_IDENTITY_VERSION,
	OPT_DHCHAP_SECRET,
	OPT_DHCHAP_CTRL_SECRET,
	OPT_CMD_FIRST = 1100, /* subcommands number their own long options from here */
};

/*
 * Build a getopt table: the shared options followed by `extra` (terminated
 * by a zero entry). With hostnqn_short false, -q is left to the subcommand
 * (perf uses -q for the queue depth) and --hostnqn stays long-only. The
 * short option string is written to shortopts (≥ 64 bytes + extra_short).
 */
int cli_build_options(const struct option *extra, const char *extra_short, bool hostnqn_short,
		      struct option *out, size_t out_len, char *shortopts, size_t short_len);

void cli_conn_init(struct cli_conn *c, const char *default_port);

/* Handle one shared option: 1 handled, 0 not a shared option, -EINVAL bad value. */
int cli_conn_opt(struct cli_conn *c, int opt, const char *arg);

/* Final checks and defaults (host NQN/ID); prints what is missing. */
int cli_conn_finish(struct cli_conn *c, const char *cmd, bool need_nqn);

/* Number parsing with suffixes k/K (1024), m/M, g/G for sizes. */
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_int(const char *s, int min, int max, int *out);
/* --iopolicy: "round-robin" or "queue-depth"; -EINVAL otherwise. */
int cli_parse_iopolicy(const char *s, enum nvmeof_iopolicy *out);

void cli_conn_usage(FILE *f, bool hostnqn_short);

/* A subcommand's own option: 0 handled, -EINVAL bad (message printed). */
typedef int (*cli_opt_fn)(void *ctx, int opt, const char *arg);

/*
 * getopt loop over shared + extra options. Returns 0, 1 when --help was
 * printed (exit 0), or -EINVAL.
 */
int cli_parse(int argc, char **argv, struct cli_conn *c, const struct option *extra,
	      const char *extra_short, bool hostnqn_short, cli_opt_fn fn, void *ctx,
	      void (*usage)(FILE *f));

/* Path i's connection options (the shared ones with its address and port). */
void cli_conn_path_opts(const struct cli_conn *c, unsigned int i, struct nvmeof_ctrl_opts *o);

/* Connect and report the reason on failure. */
int cli_connect(struct cli_conn *c, struct nvmeof_ctrl **ctrl);
/* The status name of a refused Connect and what to check on which side. */
void cli_print_connect_refusal(FILE *f, const struct nvmeof_ctrl_opts *o, const struct nvmeof_cpl *cpl);

/* Subcommands. */
int cmd_discover(int argc, char **argv);
int cmd_gen_dhchap_key(int argc, char **argv);
int cmd_id_ctrl(int argc, char **argv);
int cmd_id_ns(int argc, char **argv);
int cmd_list_subsys(int argc, char **argv);
int cmd_list(int argc, char **argv); /* list.c */
int cmd_read(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_flush(int argc, char **argv);
int cmd_perf(int argc, char **argv);
int cmd_gen_tls_key(int argc, char **argv); /* tls_key.c */
int cmd_check_tls_key(int argc, char **argv);
/* nvme-cli parity: log_cmds.c, feat_cmds.c, io_cmds.c. */
int cmd_get_log(int argc, char **argv);
int cmd_smart_log(int argc, char **argv);
int cmd_error_log(int argc, char **argv);
int cmd_ana_log(int argc, char **argv);
int cmd_get_feature(int argc, char **argv);
int cmd_set_feature(int argc, char **argv);
int cmd_gen_hostnqn(int argc, char **argv);
int cmd_write_zeroes(int argc, char **argv);
int cmd_dsm(int argc, char **argv);
int cmd_compare(int argc, char **argv);
/* `nvmeof target ...` lives in target_cmd.c when that file exists. */
int cmd_target(int argc, char **argv) __attribute__((weak));

/* discover.c: the whole discovery log (header + numrec entries, malloc'd), consistent by GENCTR. */
int fetch_discovery_log(struct nvmeof_ctrl *ctrl, uint8_t **out, uint64_t *numrec_out);

/* disc_print.c: discovery log page (header + numrec entries) output. */
const char *disc_trtype_str(uint8_t t);
const char *disc_adrfam_str(uint8_t a);
const char *disc_subtype_str(uint8_t s);
void disc_print_text(FILE *f, const void *log, uint64_t numrec);
void disc_print_json(FILE *f, const void *log, uint64_t numrec);

/* nvme_print.c: nvme-cli's texts and layouts for those commands. */
struct nvme_smart_log;
struct nvme_error_log_entry;
const char *nvme_status_text(uint16_t status);
void nvme_print_status(FILE *f, uint16_t status); /* "NVMe status: <text>(0x...)" */
/* 0, or 1 after printing the NVMe status or the error of a failed command. */
int nvme_report_result(const char *what, int rc, const struct nvmeof_cpl *cpl);
const char *nvme_feature_name(uint8_t fid);
const char *nvme_select_name(uint8_t sel);
void nvme_print_get_feature(FILE *f, uint8_t fid, uint8_t sel, uint32_t result);
void nvme_print_set_feature(FILE *f, uint8_t fid, uint32_t value, uint32_t cdw12, bool save);
void nvme_hexdump(FILE *f, const uint8_t *buf, size_t len);
void nvme_print_smart_text(FILE *f, const struct nvme_smart_log *s, const char *dev, uint32_t nsid);
void nvme_print_smart_json(FILE *f, const struct nvme_smart_log *s);
void nvme_print_error_log_text(FILE *f, const struct nvme_error_log_entry *log, unsigned int n,
			       const char *dev);
void nvme_print_error_log_json(FILE *f, const struct nvme_error_log_entry *log, unsigned int n);
/* The ANA log (len bytes read); descriptors past len are not printed. */
void nvme_print_ana_log_text(FILE *f, const uint8_t *log, size_t len, const char *dev);
void nvme_print_ana_log_json(FILE *f, const uint8_t *log, size_t len, const char *dev);

#endif
