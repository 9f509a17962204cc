/* SPDX-License-Identifier: MIT */
/*
 * Gateway groups: several targets serving the same subsystems share the ANA
 * groups between them through leases on RADOS objects (gateway_group.c).
 */
#ifndef NVMEOF_TARGET_GATEWAY_GROUP_H
#define NVMEOF_TARGET_GATEWAY_GROUP_H

#include <stddef.h>

struct json_object;
struct nvmf_tgt;
struct nvmf_gw;

struct nvmf_gw_opts {
	const char *name; /* the group's name, shared by its members */
	const char *pool; /* RADOS pool of the group's objects */
	const char *ceph_conf; /* NULL = /etc/ceph/ceph.conf */
	const char *ceph_id; /* NULL = admin */
	/*
	 * Called once, on a thread of the group's, when this member's Ceph
	 * client turns out blocklisted (another member fenced it): every group
	 * it held is inaccessible already and none is taken again. The daemon
	 * must leave (and be restarted with a new client). Must not block.
	 */
	void (*blocklisted)(void *arg);
	void *arg;
};

/* A name for RADOS object names: 1-64 of [A-Za-z0-9_.-]. */
int nvmf_gw_name_valid(const char *name);

/*
 * Join the gateway group: connect to the cluster, take over the ANA groups of
 * tgt's ports (every group then starts inaccessible and becomes optimized once
 * its lease is held) and start the lease threads. Call after the
 * configuration is loaded and before the ports listen.
 */
int nvmf_gw_start(struct nvmf_tgt *tgt, const struct nvmf_gw_opts *opts, struct nvmf_gw **out, char *err,
		  size_t errlen);
/* Leave: every held group goes inaccessible, then its lease is released. */
void nvmf_gw_stop(struct nvmf_gw *gw);

#endif
