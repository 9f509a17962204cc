/* SPDX-License-Identifier: MIT */
/*
 * Target configuration in the JSON format nvmetcli writes
 * (/etc/nvmet/config.json): "hosts", "ports", "subsystems".
 */
#ifndef NVMEOF_TARGET_CONFIG_H
#define NVMEOF_TARGET_CONFIG_H

#include <stddef.h>

#include "target.h"

/*
 * Parse and validate the whole file first, then build subsystems,
 * namespaces (opening backends), hosts and ports in tgt. On any error
 * nothing is left half-applied by the caller's choice: the daemon destroys
 * tgt and exits. The message names the file and the JSON field, e.g.
 * "config.json: subsystems[0].namespaces[1].device.path: No such file".
 * Returns 0 or -errno.
 */
int nvmf_config_load(struct nvmf_tgt *tgt, const char *path, char *err, size_t errlen);

/* Write tgt as nvmetcli JSON, atomically (temp file, fsync, rename). */
int nvmf_config_save(struct nvmf_tgt *tgt, const char *path, char *err, size_t errlen);

#endif
