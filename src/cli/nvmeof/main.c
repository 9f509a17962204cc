/* SPDX-License-Identifier: MIT */
/*
 * nvmeof: NVMe/TCP host tool. Subcommands are a table; a family that lives
 * in its own file adds one line here (target_cmd.c provides cmd_target, a
 * weak symbol so the tool builds without it).
 */
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "cli.h"
#include "common/log.h"
#include "common/version.h"

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct subcommand subcommands[] = {
	{ "discover", cmd_discover, "read the discovery log page of a discovery controller" },
	{ "id-ctrl", cmd_id_ctrl, "print Identify Controller" },
	{ "id-ns", cmd_id_ns, "print Identify Namespace" },
	{ "list", cmd_list, "list attached namespaces, or a subsystem's controller and namespaces" },
	{ "list-subsys", cmd_list_subsys, "connect and show subsystem, controller and namespaces" },
	{ "read", cmd_read, "read a block range to a file or stdout" },
	{ "write", cmd_write, "write a block range from a file or stdin" },
	{ "flush", cmd_flush, "flush the volatile write cache" },
	{ "perf", cmd_perf, "benchmark: IOPS, bandwidth, latency percentiles" },
	{ "attach", cmd_attach, "serve namespaces as files through FUSE (for losetup)" },
	{ "detach", cmd_detach, "unmount an attach mount point and end its process" },
	/* nvme-cli parity (log_cmds.c, feat_cmds.c, io_cmds.c) */
	{ "get-log", cmd_get_log, "retrieve any log page (hex dump or raw)" },
	{ "smart-log", cmd_smart_log, "print the SMART / health information log" },
	{ "error-log", cmd_error_log, "print the error information log" },
	{ "ana-log", cmd_ana_log, "print the asymmetric namespace access log" },
	{ "get-feature", cmd_get_feature, "get a feature's value" },
	{ "set-feature", cmd_set_feature, "set a feature's value" },
	{ "write-zeroes", cmd_write_zeroes, "write zeroes to a block range" },
	{ "dsm", cmd_dsm, "dataset management: deallocate (trim) block ranges" },
	{ "compare", cmd_compare, "compare a block range with data; nonzero exit if different" },
	{ "gen-hostnqn", cmd_gen_hostnqn, "print a new host NQN with a random UUID" },
	{ "gen-tls-key", cmd_gen_tls_key, "generate a TLS PSK in the interchange format" },
	{ "check-tls-key", cmd_check_tls_key, "check a TLS PSK, print its identity and TLS PSK" },
	{ "gen-dhchap-key", cmd_gen_dhchap_key, "generate a DH-HMAC-CHAP secret (as nvme-cli)" },
	/* Managed by the target's tooling (src/cli/nvmeof/target_cmd.c). */
	{ "target", cmd_target, "manage an nvmeof-target (see nvmeof target --help)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: nvmeof [--log-level=LEVEL] <command> [options]\n"
		   "       nvmeof --version\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (subcommands[i].fn)
			fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].help);
	fprintf(f, "\n'nvmeof <command> --help' lists a command's options.\n");
}

int main(int argc, char **argv)
{
	int argi = 1;

	while (argi < argc && strncmp(argv[argi], "--log-level=", 12) == 0) {
		enum log_level lvl;

		if (log_parse_level(argv[argi] + 12, &lvl)) {
			fprintf(stderr, "unknown log level '%s'\n", argv[argi] + 12);
			return 2;
		}
		log_set_level(lvl);
		argi++;
	}
	if (argi >= argc) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[argi];

	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("nvmeof %s\n", NVMEOF_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp(name, subcommands[i].name) != 0)
			continue;
		if (!subcommands[i].fn) {
			fprintf(stderr, "nvmeof: '%s' is not built into this binary\n", name);
			return 2;
		}
		return subcommands[i].fn(argc - argi, argv + argi);
	}
	fprintf(stderr, "nvmeof: unknown command '%s'\n", name);
	usage(stderr);
	return 2;
}
