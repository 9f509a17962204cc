/* SPDX-License-Identifier: MIT */
/*
 * Asymmetric Namespace Access (Base 8.1): ANA groups, their state on each
 * port, the ANA log page and the ANA change event, shaped after nvmet.
 *
 * A port's states are written under tgt->lock and read without it by the
 * I/O path (nvmf_ana_admit), which checks them twice: at parse, and again
 * right before the backend is reached, so a command parsed before a state
 * change (a write waiting for its data, say) does not reach the backend
 * after the port turned inaccessible for its group.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "internal.h"
#include "proto/endian.h"

#define LOG_COMP "ana"

static const struct {
	uint8_t state;
	const char *name;
} ana_names[] = {
	{ NVME_ANA_OPTIMIZED, "optimized" },
	{ NVME_ANA_NON_OPTIMIZED, "non-optimized" },
	{ NVME_ANA_INACCESSIBLE, "inaccessible" },
	{ NVME_ANA_PERSISTENT_LOSS, "persistent-loss" },
	{ NVME_ANA_CHANGE, "change" },
};

const char *nvmf_ana_state_name(uint8_t state)
{
	for (size_t i = 0; i < sizeof(ana_names) / sizeof(ana_names[0]); i++)
		if (ana_names[i].state == state)
			return ana_names[i].name;
	return "invalid";
}

int nvmf_ana_state_parse(const char *s, uint8_t *state)
{
	for (size_t i = 0; i < sizeof(ana_names) / sizeof(ana_names[0]); i++) {
		if (!strcmp(ana_names[i].name, s)) {
			*state = ana_names[i].state;
			return 0;
		}
	}
	return -EINVAL;
}

void nvmf_port_ana_init(struct nvmf_port *port)
{
	for (unsigned int g = 0; g <= NVMF_ANA_GRP_MAX; g++) {
		atomic_init(&port->ana_state[g], NVME_ANA_INACCESSIBLE);
		port->ana_listed[g] = false;
	}
	atomic_init(&port->ana_state[NVMF_ANA_DEFAULT_GRPID], NVME_ANA_OPTIMIZED);
	port->ana_listed[NVMF_ANA_DEFAULT_GRPID] = true;
}

static bool state_valid(uint8_t state)
{
	return state == NVME_ANA_OPTIMIZED || state == NVME_ANA_NON_OPTIMIZED || state == NVME_ANA_INACCESSIBLE ||
	       state == NVME_ANA_PERSISTENT_LOSS || state == NVME_ANA_CHANGE;
}

/* Change count up, and an event for every controller whose admin queue came in on port. */
static void port_ana_changed_locked(struct nvmf_port *port)
{
	struct nvmf_tgt *tgt = port->tgt;

	tgt->ana_chgcnt++;
	for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next)
		for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
			if (c->port == port)
				nvmf_ctrl_ana_changed_locked(c);
}

static int port_set_ana_state(struct nvmf_port *port, uint32_t grpid, uint8_t state, bool by_gw)
{
	struct nvmf_tgt *tgt = port->tgt;
	uint8_t old;
	bool listed;

	if (grpid == 0 || grpid > NVMF_ANA_GRP_MAX || !state_valid(state))
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	if (port->removed) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	/* The gateway group's lease decides these states. */
	if (tgt->ana_managed[grpid] && !by_gw) {
		pthread_mutex_unlock(&tgt->lock);
		return -EPERM;
	}
	old = atomic_load_explicit(&port->ana_state[grpid], memory_order_relaxed);
	listed = port->ana_listed[grpid];
	if (old == state && listed) {
		pthread_mutex_unlock(&tgt->lock);
		return 0;
	}
	port->ana_listed[grpid] = true;
	atomic_store_explicit(&port->ana_state[grpid], state, memory_order_release);
	port_ana_changed_locked(port);
	pthread_mutex_unlock(&tgt->lock);
	if (listed)
		log_notice(LOG_COMP, "port %u: ANA group %u %s -> %s", port->opts.portid, grpid,
			   nvmf_ana_state_name(old), nvmf_ana_state_name(state));
	else
		log_notice(LOG_COMP, "port %u: ANA group %u added, %s", port->opts.portid, grpid,
			   nvmf_ana_state_name(state));
	return 0;
}

int nvmf_port_set_ana_state(struct nvmf_port *port, uint32_t grpid, uint8_t state)
{
	return port_set_ana_state(port, grpid, state, false);
}

bool nvmf_port_ana_managed(struct nvmf_port *port, uint32_t grpid)
{
	struct nvmf_tgt *tgt = port->tgt;
	bool managed;

	pthread_mutex_lock(&tgt->lock);
	managed = grpid <= NVMF_ANA_GRP_MAX && tgt->ana_managed[grpid];
	pthread_mutex_unlock(&tgt->lock);
	return managed;
}

int nvmf_port_set_ana_state_gw(struct nvmf_port *port, uint32_t grpid, uint8_t state)
{
	return port_set_ana_state(port, grpid, state, true);
}

int nvmf_port_clear_ana_group(struct nvmf_port *port, uint32_t grpid)
{
	struct nvmf_tgt *tgt = port->tgt;

	if (grpid == 0 || grpid > NVMF_ANA_GRP_MAX || grpid == NVMF_ANA_DEFAULT_GRPID)
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	if (tgt->ana_managed[grpid]) {
		pthread_mutex_unlock(&tgt->lock);
		return -EPERM;
	}
	if (port->removed || !port->ana_listed[grpid]) {
		pthread_mutex_unlock(&tgt->lock);
		return port->removed ? -ENOENT : 0;
	}
	port->ana_listed[grpid] = false;
	atomic_store_explicit(&port->ana_state[grpid], NVME_ANA_INACCESSIBLE, memory_order_release);
	port_ana_changed_locked(port);
	pthread_mutex_unlock(&tgt->lock);
	log_notice(LOG_COMP, "port %u: ANA group %u removed (inaccessible)", port->opts.portid, grpid);
	return 0;
}

int nvmf_port_get_ana_state(struct nvmf_port *port, uint32_t grpid, uint8_t *state, bool *listed)
{
	if (grpid == 0 || grpid > NVMF_ANA_GRP_MAX)
		return -EINVAL;
	pthread_mutex_lock(&port->tgt->lock);
	*state = atomic_load_explicit(&port->ana_state[grpid], memory_order_relaxed);
	*listed = port->ana_listed[grpid];
	pthread_mutex_unlock(&port->tgt->lock);
	return 0;
}

int nvmf_subsys_set_ns_anagrpid(struct nvmf_subsys *subsys, uint32_t nsid, uint32_t grpid)
{
	struct nvmf_tgt *tgt = subsys->tgt;
	struct nvmf_ns *ns;
	uint32_t old;

	if (grpid == 0 || grpid > NVMF_ANA_GRP_MAX || nsid == 0 || nsid > NVMF_MAX_NSID)
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	ns = subsys->nss[nsid];
	if (!ns) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	old = atomic_load_explicit(&ns->anagrpid, memory_order_relaxed);
	if (old != grpid) {
		atomic_store_explicit(&ns->anagrpid, grpid, memory_order_release);
		/* Every path sees the namespace move between groups. */
		tgt->ana_chgcnt++;
		for (struct nvmf_ctrl *c = subsys->ctrls; c; c = c->next)
			nvmf_ctrl_ana_changed_locked(c);
	}
	pthread_mutex_unlock(&tgt->lock);
	if (old != grpid)
		log_notice(LOG_COMP, "%s: namespace %u moved from ANA group %u to %u", subsys->nqn, nsid, old, grpid);
	return 0;
}

/* Groups in the log: group 1, those some port carries, those a namespace of subsys is in. */
static void groups_in_log_locked(struct nvmf_subsys *subsys, bool used[NVMF_ANA_GRP_MAX + 1])
{
	memset(used, 0, (NVMF_ANA_GRP_MAX + 1) * sizeof(used[0]));
	used[NVMF_ANA_DEFAULT_GRPID] = true;
	for (struct nvmf_port *p = subsys->tgt->ports; p; p = p->next)
		for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX; g++)
			used[g] |= p->ana_listed[g];
	for (uint32_t nsid = 1; nsid <= NVMF_MAX_NSID; nsid++) {
		struct nvmf_ns *ns = nvmf_ns_active(subsys, nsid);
		uint32_t g = ns ? atomic_load_explicit(&ns->anagrpid, memory_order_relaxed) : 0;

		if (g && g <= NVMF_ANA_GRP_MAX)
			used[g] = true;
	}
}

/* Append n bytes at *off if they fit in cap; *off always advances. */
static void put_bytes(uint8_t *buf, size_t cap, size_t *off, const void *src, size_t n)
{
	if (*off < cap)
		memcpy(buf + *off, src, n <= cap - *off ? n : cap - *off);
	*off += n;
}

size_t nvmf_ana_log_build_locked(struct nvmf_subsys *subsys, struct nvmf_port *port, bool rgo, uint8_t *buf,
				 size_t cap)
{
	bool used[NVMF_ANA_GRP_MAX + 1];
	struct nvme_ana_log_hdr hdr;
	size_t off = sizeof(hdr);
	uint16_t ngrps = 0;

	groups_in_log_locked(subsys, used);
	for (uint32_t g = 1; g <= NVMF_ANA_GRP_MAX; g++) {
		struct nvme_ana_group_desc d;
		size_t at = off;
		uint32_t n = 0;

		if (!used[g])
			continue;
		off += sizeof(d);
		for (uint32_t nsid = 1; !rgo && nsid <= NVMF_MAX_NSID; nsid++) {
			struct nvmf_ns *ns = nvmf_ns_active(subsys, nsid);
			uint32_t le;

			if (!ns || atomic_load_explicit(&ns->anagrpid, memory_order_relaxed) != g)
				continue;
			le = to_le32(nsid);
			put_bytes(buf, cap, &off, &le, sizeof(le));
			n++;
		}
		memset(&d, 0, sizeof(d));
		d.grpid = to_le32(g);
		d.nnsids = to_le32(n);
		d.chgcnt = to_le64(subsys->tgt->ana_chgcnt);
		/* A controller whose port is gone sees every group inaccessible. */
		d.state = port && !port->removed ? nvmf_port_ana_state_now(port, g) : NVME_ANA_INACCESSIBLE;
		put_bytes(buf, cap, &at, &d, sizeof(d));
		ngrps++;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.chgcnt = to_le64(subsys->tgt->ana_chgcnt);
	hdr.ngrps = to_le16(ngrps);
	{
		size_t at = 0;

		put_bytes(buf, cap, &at, &hdr, sizeof(hdr));
	}
	return off;
}
