/* SPDX-License-Identifier: MIT */
/*
 * Target configuration in the JSON format nvmetcli writes
 * (/etc/nvmet/config.json): "hosts", "ports", "subsystems".
 */
#ifndef NVMEOF_TARGET_CONFIG_H
#define NVMEOF_TARGET_CONFIG_H

#include <stddef.h>
#include <stdio.h>

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

/*
 * How a reload starts and stops listening on ports it adds and removes
 * (listeners belong to the daemon, not to the target model). stop is
 * called before the port is removed. Both return 0 or -errno.
 */
struct nvmf_config_listeners {
	int (*start)(void *ctx, struct nvmf_port *port);
	int (*stop)(void *ctx, uint16_t portid);
	void *ctx;
};

/*
 * Bring the running target in line with the file, as nvmetcli's restore
 * would, without touching what did not change: the file is read and
 * validated, compared with the target, and the new namespaces' backends
 * opened before anything changes; then each change is made through the
 * control-path API and logged at notice ("reload: added namespace 2 to
 * ..."), with a summary. A file that does not parse or validate, or a
 * backend that does not open, changes nothing (err says why, -EINVAL or
 * -errno). A change the target refuses is logged and the rest go on;
 * then -EIO. lis NULL: port additions and removals are refused.
 * Call from a thread that may block (not a reactor).
 */
int nvmf_config_reload(struct nvmf_tgt *tgt, const char *path, const struct nvmf_config_listeners *lis,
		       char *err, size_t errlen);

/*
 * Validate the file (devices are opened read-only, nothing is created)
 * and print to out what loading it would create, keys shown only as
 * "key set". 0, or -errno with err naming the JSON field.
 */
int nvmf_config_check(const char *path, FILE *out, char *err, size_t errlen);

#endif
