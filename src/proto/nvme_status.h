/* SPDX-License-Identifier: MIT */
/* Names of NVMe completion statuses, as nvme-cli prints them. */
#ifndef NVMEOF_PROTO_NVME_STATUS_H
#define NVMEOF_PROTO_NVME_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The name of status ((SCT << 8) | SC; DNR and More are ignored), e.g.
 * "Connect Invalid Host", or NULL when it has none here. Command specific
 * codes mean different things for Fabrics commands (Connect, Authentication)
 * and for admin/I/O commands: fabrics says which table to use.
 */
const char *nvme_status_name(uint16_t status, bool fabrics);

/* nvme-cli's explanation of the status (after "Name: "), or NULL. */
const char *nvme_status_detail(uint16_t status, bool fabrics);

/*
 * "Connect Invalid Host (sct 1 sc 0x84)", or "status sct 3 sc 0x71" for a
 * status without a name, plus ", do not retry" when DNR is set. Returns buf.
 */
const char *nvme_status_format(uint16_t status, bool fabrics, char *buf, size_t len);

#endif
