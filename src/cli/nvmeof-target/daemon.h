/* SPDX-License-Identifier: MIT */
/* Pieces of the nvmeof-target daemon shared between its files. */
#ifndef NVMEOF_CLI_TARGET_DAEMON_H
#define NVMEOF_CLI_TARGET_DAEMON_H

#include <stdint.h>
#include <stdio.h>

#include "common/version.h"
#include "target/target.h"

#define DAEMON_NAME "nvmeof-target"

/* "1.0 GiB", "512.0 MiB", ... */
void daemon_format_size(uint64_t bytes, char *buf, size_t len);

/*
 * Print to out what the target serves: one "serving" line per subsystem
 * with its ports, the discovery-only ports, and ready-to-paste nvme-cli
 * commands.
 */
void daemon_print_summary(struct nvmf_tgt *tgt, FILE *out);

#endif
