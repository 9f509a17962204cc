/* SPDX-License-Identifier: MIT */
/*
 * Gateway groups. Members (target processes) of gateway group NAME serve the
 * same subsystems, namespaces and RBD images; the ANA groups decide which
 * member serves which namespace. Ownership lives in Ceph: for ANA group G
 * the RADOS object "nvmeof.gw.NAME.grp.G" in the group's pool carries an
 * exclusive cls_lock ("nvmeof.gw") with a duration, the lease. A member is
 * optimized for G on its ports iff it holds G's lease, else inaccessible.
 *
 * Preference. A member prefers the groups its configuration lists as
 * optimized on some port. It takes those leases at once; other groups only
 * after a grace period (a lease plus a margin) from its start, so the
 * preferred owner wins when it is alive. A preferred member that finds its
 * group held by another sends a "release" notify on the group's object
 * (every member watches it); the holder, not preferring G, goes inaccessible
 * and then unlocks, and stays away from G for two leases (failback).
 *
 * Leases. The lease thread takes and renews leases (blocking librados calls,
 * never on a reactor); the fence thread drops a group to inaccessible when
 * its lease runs out without a renewal, whatever the lease thread is blocked
 * on. A lease taken or renewed by a request sent at time t ends at the OSD
 * no earlier than t + GW_LEASE (the OSD starts counting when it receives the
 * request), and we serve G only until t + GW_LEASE - GW_MARGIN. Another
 * member is optimized for G only after its own lock request succeeded, which
 * the OSD grants only once our lease expired or we unlocked it, and we
 * unlock only after turning inaccessible. So two members are never
 * optimized for one group at once, as long as clocks run at about the same
 * rate (GW_MARGIN covers the difference over one lease). The I/O path
 * checks the same deadline itself (nvmf_port_ana_state_now), so a member
 * frozen past its lease (SIGSTOP, a VM pause) admits no I/O for the group
 * when it resumes, before its fence thread has turned the ports'
 * states; a command admitted just before the deadline may still reach the
 * image after it, which librbd's exclusive lock (taken over by the new
 * owner's writes, blocklisting the old client's image handle) refuses.
 *
 * Fencing. librbd's exclusive lock lets one client write an image at a
 * time; it moves to a new writer when the holder agrees or, if the holder
 * does not answer, once the holder's watch times out (30 s by default),
 * longer than a host waits for an I/O. So the holder of G's lease records
 * itself in G's object (xattr "owner") when it takes the lease, and clears
 * the record before it unlocks of its own accord (failback, leaving). A
 * member that takes G and finds another member's record knows the lease
 * expired instead: that member died, froze or lost the cluster. Before
 * turning optimized it breaks the exclusive lock of each of G's images held
 * by that member's Ceph client, which blocklists that client, so a frozen
 * member that wakes cannot write. Which client is the member's: with owner
 * it records the addresses of the clients that serve its RBD images
 * (xattr "owner_clients", "MEMBER ADDR...", written in the same operation
 * and again when its clients change). A lock held by any other client (a
 * live third member, another application) is not broken: librbd hands it
 * over when its holder lets go. A member of an older version records no
 * clients; its lock holder is then taken to be any client but ours, as
 * those versions did. A cooperative handover breaks nothing: the member
 * that gave G back is alive and serves its other groups through the same
 * Ceph client.
 *
 * Blocklisted. The fenced member's Ceph client stays blocklisted (an hour
 * by default): whatever it does on the cluster fails with -ESHUTDOWN
 * (EBLOCKLISTED). Serving on would send the hosts that follow ANA to a path
 * that can never do I/O, so a member that finds itself blocklisted leaves:
 * every group it holds goes inaccessible at once, it takes none again and
 * tells the daemon (nvmf_gw_opts.blocklisted), which shuts down and exits
 * with a failure so that its service manager restarts it with a new client;
 * the new process takes its groups back by failback. Signs: a lease request
 * refused so, an RBD I/O refused so (backend_rbd_blocklisted), and, while
 * the member has lost a lease it held (it may have been fenced), a probe of
 * its images' client before each take (backend_rbd_probe): a member that
 * wakes after its lease expired finds out before it serves again.
 *
 * Every ownership change is logged at notice.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <rados/librados.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/log.h"
#include "gateway_group.h"
#include "internal.h"

#define LOG_COMP "gateway"

#define GW_LEASE_MS 6000 /* lock duration */
#define GW_RENEW_MS 2000 /* renewal period */
#define GW_MARGIN_MS 1000 /* stop serving this long before the lease ends */
#define GW_TICK_MS 500 /* lease thread period */
#define GW_FENCE_TICK_MS 100 /* fence thread period */
#define GW_GRACE_MS (GW_LEASE_MS + 2000) /* before taking a group we do not prefer */
#define GW_HOLDOFF_MS (2 * GW_LEASE_MS) /* after giving a group back */
#define GW_NOTIFY_MS 1000 /* between release requests, and their timeout */
#define GW_LOCK_NAME "nvmeof.gw"
#define GW_RELEASE_MSG "release"
#define GW_OWNER_XATTR "owner" /* the lease holder, cleared when it lets go */
#define GW_CLIENTS_XATTR "owner_clients" /* "MEMBER ADDR...": its Ceph clients, with owner */
#define GW_REC_MAX 2048 /* an owner_clients record */
#define GW_FENCE_BUDGET_MS 4000 /* lock breaks start no later than this after the take */
#define GW_ID_MAX 128

struct gw_grp {
	struct nvmf_gw *gw;
	uint32_t grpid;
	bool preferred;
	char oid[160];
	/* Under gw->lock. */
	bool held; /* optimized here, until deadline */
	uint64_t deadline_ms; /* monotonic */
	uint64_t renewed_ms; /* when the last successful request was sent */
	uint64_t holdoff_ms; /* no take before this (given back to its preferred owner) */
	uint64_t notify_ms; /* next release request */
	bool release_req; /* a preferred member asked for it */
	int last_err; /* of the last lock request, to log a failure once */
	char owner[GW_ID_MAX]; /* last seen lock holder, "" = free or unknown */
	/* Lease thread only. */
	bool recorded; /* our owner_clients record is there, */
	unsigned long rec_gen; /* listing the clients of this generation (backend_rbd_clients) */
	uint64_t watch;
	bool watching;
	atomic_bool watch_broken;
};

struct nvmf_gw {
	struct nvmf_tgt *tgt;
	char name[65];
	char pool[128];
	char id[GW_ID_MAX]; /* this member: lock cookie and description */
	rados_t rados;
	rados_ioctx_t io;
	struct gw_grp *grps;
	unsigned int ngrps;
	/* Ports (by id) that carried each group at start: the states we drive. */
	uint16_t *portids;
	unsigned int nports;
	bool (*port_has)[NVMF_ANA_GRP_MAX + 1];
	uint64_t start_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC: wakes both threads */
	bool stop;
	bool suspect; /* a lease was lost while held: probe before taking one */
	bool blocklisted; /* left, nothing is taken again (set by the lease thread) */
	void (*on_blocklisted)(void *arg);
	void *cb_arg;
	pthread_t lease_thread, fence_thread;
	bool lease_started, fence_started;
};

/* The I/O path's bound (internal.h): no I/O admitted for the group from then on. */
static void grp_set_until(struct nvmf_gw *gw, struct gw_grp *grp, uint64_t until)
{
	atomic_store_explicit(&gw->tgt->ana_lease_until_ms[grp->grpid], until, memory_order_release);
}

int nvmf_gw_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* Every port that carried g at start gets state. Lock order: gw->lock, then tgt->lock. */
static void grp_set_state(struct nvmf_gw *gw, struct gw_grp *grp, uint8_t state)
{
	for (unsigned int i = 0; i < gw->nports; i++) {
		struct nvmf_port *port;
		int ret;

		if (!gw->port_has[i][grp->grpid])
			continue;
		port = nvmf_port_find(gw->tgt, gw->portids[i]);
		if (!port)
			continue;
		ret = nvmf_port_set_ana_state_gw(port, grp->grpid, state);
		if (ret && ret != -ENOENT)
			log_error(LOG_COMP, "port %u: ANA group %u: %s", gw->portids[i], grp->grpid, strerror(-ret));
	}
}

/*
 * Stop serving grp (gw->lock held): inaccessible first, so that no I/O is
 * admitted once we let go. The state changes under gw->lock, so that it
 * always follows held (the fence thread and the lease thread both drop).
 */
static void grp_drop_locked(struct nvmf_gw *gw, struct gw_grp *grp, const char *why)
{
	grp->held = false;
	grp->release_req = false;
	grp_set_state(gw, grp, NVME_ANA_INACCESSIBLE);
	log_notice(LOG_COMP, "%s: ANA group %u inaccessible here: %s", gw->name, grp->grpid, why);
}

static void watch_cb(void *arg, uint64_t notify_id, uint64_t handle, uint64_t notifier_id, void *data,
		     size_t len)
{
	struct gw_grp *grp = arg;
	struct nvmf_gw *gw = grp->gw;

	/* "release ID": from the member ID, which prefers the group. */
	if (len > strlen(GW_RELEASE_MSG) + 1 && !memcmp(data, GW_RELEASE_MSG " ", strlen(GW_RELEASE_MSG) + 1)) {
		const char *from = (const char *)data + strlen(GW_RELEASE_MSG) + 1;
		size_t flen = len - strlen(GW_RELEASE_MSG) - 1;

		if (!(flen == strlen(gw->id) && !memcmp(from, gw->id, flen))) {
			pthread_mutex_lock(&gw->lock);
			if (grp->held && !grp->preferred) {
				grp->release_req = true;
				pthread_cond_broadcast(&gw->cond);
			}
			pthread_mutex_unlock(&gw->lock);
		}
	}
	rados_notify_ack(gw->io, grp->oid, notify_id, handle, NULL, 0);
}

static void watch_err_cb(void *arg, uint64_t cookie, int err)
{
	struct gw_grp *grp = arg;

	atomic_store(&grp->watch_broken, true);
}

static int grp_watch(struct nvmf_gw *gw, struct gw_grp *grp)
{
	rados_write_op_t op = rados_create_write_op();
	int ret;

	if (!op)
		return -ENOMEM;
	/* A watch needs the object. */
	rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
	ret = rados_write_op_operate(op, gw->io, grp->oid, NULL, 0);
	rados_release_write_op(op);
	if (ret < 0)
		return ret;
	atomic_store(&grp->watch_broken, false);
	ret = rados_watch2(gw->io, grp->oid, &grp->watch, watch_cb, watch_err_cb, grp);
	if (ret == 0)
		grp->watching = true;
	return ret;
}

/* Who holds grp's lock ("" if nobody or unknown). */
static void grp_read_owner(struct nvmf_gw *gw, struct gw_grp *grp, char *out, size_t outlen)
{
	char tag[64], clients[256], cookies[256], addrs[256];
	size_t tl = sizeof(tag), cl = sizeof(clients), kl = sizeof(cookies), al = sizeof(addrs);
	int excl = 0;
	ssize_t n;

	out[0] = '\0';
	n = rados_list_lockers(gw->io, grp->oid, GW_LOCK_NAME, &excl, tag, &tl, clients, &cl, cookies, &kl, addrs,
			       &al);
	if (n > 0) {
		size_t len = strnlen(cookies, sizeof(cookies));

		len = len < outlen ? len : outlen - 1;
		memcpy(out, cookies, len);
		out[len] = '\0';
	}
}

/*
 * Our owner_clients record, "MEMBER ADDR...": the addresses of the Ceph
 * clients that serve our RBD images ("MEMBER " when there is none). 0, or
 * -errno when they cannot be listed (rec "").
 */
static int gw_clients_record(struct nvmf_gw *gw, char *rec, size_t reclen, unsigned long *gen)
{
	int n = snprintf(rec, reclen, "%s ", gw->id);
	int ret = backend_rbd_clients(rec + n, reclen - (size_t)n, gen);

	if (ret < 0) {
		rec[0] = '\0';
		return ret;
	}
	return 0;
}

/* An xattr of grp's object as a string ("" if missing); 0 or -errno. */
static int grp_getxattr(struct nvmf_gw *gw, struct gw_grp *grp, const char *name, char *out, size_t outlen)
{
	int n = rados_getxattr(gw->io, grp->oid, name, out, outlen - 1);

	if (n < 0 && n != -ENODATA)
		return n;
	out[n > 0 ? n : 0] = '\0';
	return 0;
}

/*
 * Record us as grp's holder, with our Ceph clients (one write: the record
 * and its clients always go together). The previous holder in prev ("" if
 * none) and, when it recorded them, its clients' addresses in prev_clients
 * (*prev_has_clients). A member of an older version writes owner alone,
 * perhaps over another member's owner_clients: a record counts only when it
 * names the same member as owner.
 */
static int grp_claim(struct nvmf_gw *gw, struct gw_grp *grp, char *prev, size_t prevlen, char *prev_clients,
		     size_t pclen, bool *prev_has_clients)
{
	char rec[GW_REC_MAX];
	unsigned long gen = 0;
	rados_write_op_t op;
	size_t idlen;
	int ret, lret;

	*prev_has_clients = false;
	prev_clients[0] = '\0';
	if ((ret = grp_getxattr(gw, grp, GW_OWNER_XATTR, prev, prevlen)) < 0 ||
	    (ret = grp_getxattr(gw, grp, GW_CLIENTS_XATTR, prev_clients, pclen)) < 0)
		return ret;
	idlen = strcspn(prev_clients, " ");
	if (prev[0] && idlen == strlen(prev) && !memcmp(prev_clients, prev, idlen)) {
		*prev_has_clients = true;
		memmove(prev_clients, prev_clients + idlen + (prev_clients[idlen] == ' '),
			strlen(prev_clients + idlen) + 1 - (prev_clients[idlen] == ' '));
	} else {
		prev_clients[0] = '\0';
	}
	lret = gw_clients_record(gw, rec, sizeof(rec), &gen);
	if (!strcmp(prev, gw->id) && grp->recorded && grp->rec_gen == gen && lret == 0)
		return 0;
	if (lret < 0)
		log_warn(LOG_COMP, "%s: ANA group %u: cannot list this member's Ceph clients (%s): recording it "
			 "without them, so a member that takes over breaks any image lock", gw->name, grp->grpid,
			 strerror(-lret));
	if (!(op = rados_create_write_op()))
		return -ENOMEM;
	rados_write_op_setxattr(op, GW_OWNER_XATTR, gw->id, strlen(gw->id));
	if (lret == 0)
		rados_write_op_setxattr(op, GW_CLIENTS_XATTR, rec, strlen(rec));
	ret = rados_write_op_operate(op, gw->io, grp->oid, NULL, 0);
	rados_release_write_op(op);
	if (ret < 0)
		return ret;
	grp->recorded = lret == 0;
	grp->rec_gen = gen;
	if (lret < 0) {
		/* Whatever record is left names another member, or us with other clients. */
		ret = rados_rmxattr(gw->io, grp->oid, GW_CLIENTS_XATTR);
		if (ret < 0 && ret != -ENODATA)
			return ret;
	}
	return 0;
}

/*
 * Held: our clients changed (an RBD namespace on a new cluster handle, or
 * the last of one gone): record them again, while the record is ours.
 */
static void grp_rerecord(struct nvmf_gw *gw, struct gw_grp *grp)
{
	char rec[GW_REC_MAX];
	unsigned long gen;
	rados_write_op_t op;
	int ret;

	if (grp->recorded && grp->rec_gen == backend_rbd_clients_gen())
		return;
	if ((ret = gw_clients_record(gw, rec, sizeof(rec), &gen)) < 0) {
		if (grp->recorded)
			log_warn(LOG_COMP, "%s: ANA group %u: cannot list this member's Ceph clients: %s", gw->name,
				 grp->grpid, strerror(-ret));
		grp->recorded = false;
		grp->rec_gen = gen;
		return;
	}
	if (!(op = rados_create_write_op()))
		return;
	rados_write_op_cmpxattr(op, GW_OWNER_XATTR, LIBRADOS_CMPXATTR_OP_EQ, gw->id, strlen(gw->id));
	rados_write_op_setxattr(op, GW_CLIENTS_XATTR, rec, strlen(rec));
	ret = rados_write_op_operate(op, gw->io, grp->oid, NULL, 0);
	rados_release_write_op(op);
	if (ret < 0) {
		log_warn(LOG_COMP, "%s: ANA group %u: recording this member's Ceph clients: %s", gw->name, grp->grpid,
			 strerror(-ret));
		return;
	}
	grp->recorded = true;
	grp->rec_gen = gen;
	log_info(LOG_COMP, "%s: ANA group %u: this member's Ceph clients recorded: %s", gw->name, grp->grpid,
		 rec + strlen(gw->id) + 1);
}

/* Before a cooperative unlock: the next holder must not fence us. Only our own record goes. */
static void grp_unclaim(struct nvmf_gw *gw, struct gw_grp *grp)
{
	int ret = -ENODATA;

	for (int with_clients = grp->recorded; with_clients >= 0 && ret == -ENODATA; with_clients--) {
		rados_write_op_t op = rados_create_write_op();

		if (!op)
			return;
		rados_write_op_cmpxattr(op, GW_OWNER_XATTR, LIBRADOS_CMPXATTR_OP_EQ, gw->id, strlen(gw->id));
		rados_write_op_rmxattr(op, GW_OWNER_XATTR);
		/* Missing (removed by hand, or never written): the whole write fails, so again without. */
		if (with_clients)
			rados_write_op_rmxattr(op, GW_CLIENTS_XATTR);
		ret = rados_write_op_operate(op, gw->io, grp->oid, NULL, 0);
		rados_release_write_op(op);
	}
	grp->recorded = false;
	if (ret < 0 && ret != -ECANCELED && ret != -ENODATA)
		log_warn(LOG_COMP, "%s: clearing the holder of ANA group %u: %s", gw->name, grp->grpid,
			 strerror(-ret));
}

/*
 * This member's Ceph client is blocklisted (see the top of the file): stop
 * serving at once, let the leases go and tell the daemon. Lease thread.
 */
static void gw_leave_blocklisted(struct nvmf_gw *gw, const char *sign)
{
	bool dropped[NVMF_ANA_GRP_MAX + 1]; /* by index in grps (ngrps <= NVMF_ANA_GRP_MAX) */

	pthread_mutex_lock(&gw->lock);
	if (gw->blocklisted) {
		pthread_mutex_unlock(&gw->lock);
		return;
	}
	gw->blocklisted = true;
	for (unsigned int i = 0; i < gw->ngrps; i++) {
		dropped[i] = gw->grps[i].held;
		if (dropped[i])
			grp_drop_locked(gw, &gw->grps[i], "this member's Ceph client was blocklisted");
	}
	pthread_mutex_unlock(&gw->lock);
	log_error(LOG_COMP,
		  "%s: this member's Ceph client was blocklisted (fenced by another member; %s); leaving so that it "
		  "restarts with a new client", gw->name, sign);
	/* The record stays: whoever takes the group next fences our image locks. */
	for (unsigned int i = 0; i < gw->ngrps; i++)
		if (dropped[i])
			rados_unlock(gw->io, gw->grps[i].oid, GW_LOCK_NAME, gw->id);
	if (gw->on_blocklisted)
		gw->on_blocklisted(gw->cb_arg);
}

/* Take or renew grp's lease; 0 or a negative errno. */
static int grp_lock(struct nvmf_gw *gw, struct gw_grp *grp, uint64_t *sent_ms)
{
	struct timeval dur = { GW_LEASE_MS / 1000, (GW_LEASE_MS % 1000) * 1000 };

	*sent_ms = nvmf_mono_ms();
	/* MAY_RENEW: the cookie is this process's, so it only ever renews our own lock. */
	return rados_lock_exclusive(gw->io, grp->oid, GW_LOCK_NAME, gw->id, gw->id, &dur,
				    LIBRADOS_LOCK_FLAG_MAY_RENEW);
}

/* Renew grp's lease (held) if due. Lease thread. */
static void grp_renew(struct nvmf_gw *gw, struct gw_grp *grp)
{
	uint64_t sent;
	int ret;

	pthread_mutex_lock(&gw->lock);
	bool due = grp->held && nvmf_mono_ms() - grp->renewed_ms >= GW_RENEW_MS;
	pthread_mutex_unlock(&gw->lock);
	if (!due)
		return;
	ret = grp_lock(gw, grp, &sent);
	pthread_mutex_lock(&gw->lock);
	bool renewed = ret == 0 && grp->held;
	if (renewed) {
		grp->renewed_ms = sent;
		grp->deadline_ms = sent + GW_LEASE_MS - GW_MARGIN_MS;
		grp_set_until(gw, grp, grp->deadline_ms);
	} else if (grp->held && (ret == -EBUSY || ret == -EEXIST)) {
		/* Someone else has it: our lease ran out. */
		grp_drop_locked(gw, grp, "lease lost (held by another member)");
		gw->suspect = true;
	} else if (ret && ret != -ESHUTDOWN && ret != grp->last_err) {
		/* The fence thread drops it if no renewal succeeds in time. */
		log_warn(LOG_COMP, "%s: renewing the lease of ANA group %u: %s", gw->name, grp->grpid,
			 strerror(-ret));
	}
	grp->last_err = ret;
	pthread_mutex_unlock(&gw->lock);
	if (ret == -ESHUTDOWN)
		gw_leave_blocklisted(gw, "renewing a lease");
	if (renewed)
		grp_rerecord(gw, grp);
}

struct fence_img {
	char *path, *conf, *id;
};

static void fence_imgs_free(struct fence_img *imgs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		free(imgs[i].path);
		free(imgs[i].conf);
		free(imgs[i].id);
	}
	free(imgs);
}

/*
 * The RBD images of grp's namespaces (of every group's when grp is NULL),
 * each once: copies taken under tgt->lock, so that the blocking librbd calls
 * made with them run without it. Returns how many are in *out.
 */
static unsigned int gw_list_images(struct nvmf_gw *gw, struct gw_grp *grp, struct fence_img **out)
{
	struct nvmf_tgt *tgt = gw->tgt;
	struct fence_img *imgs = NULL;
	unsigned int n = 0, cap = 0;

	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next)
		for (uint32_t nsid = 1; nsid <= NVMF_MAX_NSID; nsid++) {
			struct nvmf_ns *ns = s->nss[nsid];
			unsigned int i;

			if (!ns || !ns->be || ns->be->kind != BACKEND_RBD ||
			    (grp && atomic_load(&ns->anagrpid) != grp->grpid))
				continue;
			for (i = 0; i < n && strcmp(imgs[i].path, ns->be->path); i++)
				;
			if (i < n)
				continue; /* the same image in another subsystem */
			if (n == cap) {
				struct fence_img *m = realloc(imgs, (cap ? 2 * cap : 4) * sizeof(*imgs));

				if (!m) {
					log_error(LOG_COMP, "%s: out of memory listing RBD images", gw->name);
					goto listed;
				}
				imgs = m;
				cap = cap ? 2 * cap : 4;
			}
			imgs[n].path = strdup(ns->be->path);
			imgs[n].conf = ns->be->ceph_conf ? strdup(ns->be->ceph_conf) : NULL;
			imgs[n].id = ns->be->ceph_id ? strdup(ns->be->ceph_id) : NULL;
			if (!imgs[n].path || (ns->be->ceph_conf && !imgs[n].conf) || (ns->be->ceph_id && !imgs[n].id)) {
				free(imgs[n].path);
				free(imgs[n].conf);
				free(imgs[n].id);
				log_error(LOG_COMP, "%s: out of memory listing RBD images", gw->name);
				continue;
			}
			n++;
		}
listed:
	pthread_mutex_unlock(&tgt->lock);
	*out = imgs;
	return n;
}

/*
 * Before taking a lease after losing one: is the Ceph client of our images
 * blocklisted (the member that took over broke our image locks)? One read
 * per image, bounded by the client's operation timeouts; any other failure
 * does not keep us from taking the lease. Lease thread.
 */
static bool gw_probe_blocklisted(struct nvmf_gw *gw)
{
	struct fence_img *imgs;
	unsigned int n = gw_list_images(gw, NULL, &imgs);
	bool blocklisted = false;

	for (unsigned int i = 0; i < n && !blocklisted; i++) {
		char err[512];

		blocklisted = backend_rbd_probe(imgs[i].path, imgs[i].conf, imgs[i].id, err, sizeof(err)) ==
			      -ESHUTDOWN;
	}
	fence_imgs_free(imgs, n);
	return blocklisted;
}

/*
 * grp's lease expired at member prev: break the exclusive locks prev's Ceph
 * clients (their addresses in clients) hold on grp's RBD images, and no
 * other client's: a live member or another application holding one is left
 * to librbd's hand-over (see the top of the file). clients NULL: prev
 * recorded none (a member of an older version, or one that could not list
 * them), so as before any client but ours is taken for prev's. Every break
 * is bounded by the Ceph client's operation timeouts, none starts after
 * GW_FENCE_BUDGET_MS, and our other leases are renewed in between. Lease
 * thread.
 */
static void grp_fence(struct nvmf_gw *gw, struct gw_grp *grp, const char *prev, const char *clients)
{
	struct fence_img *imgs;
	unsigned int n = gw_list_images(gw, grp, &imgs);
	uint64_t start = nvmf_mono_ms();

	if (!clients && n)
		log_notice(LOG_COMP,
			   "%s: ANA group %u: the previous owner (member %s) recorded no Ceph client (an older "
			   "version?): breaking any other client's lock of the group's images", gw->name, grp->grpid,
			   prev);
	for (unsigned int i = 0; i < n; i++) {
		char owner[256], err[GW_REC_MAX + 512];
		int ret;

		for (unsigned int k = 0; k < gw->ngrps; k++)
			if (&gw->grps[k] != grp)
				grp_renew(gw, &gw->grps[k]);
		if (nvmf_mono_ms() - start >= GW_FENCE_BUDGET_MS) {
			log_warn(LOG_COMP, "%s: ANA group %u: no time left to break the lock of %s (librbd hands it "
				 "over once the previous owner's watch times out)", gw->name, grp->grpid, imgs[i].path);
			continue;
		}
		ret = backend_rbd_break_foreign_lock(imgs[i].path, imgs[i].conf, imgs[i].id, clients, owner,
						     sizeof(owner), err, sizeof(err));
		if (ret > 0)
			log_notice(LOG_COMP,
				   "%s: ANA group %u: broke exclusive lock of %s held by %s (previous owner's lease "
				   "expired: member %s)", gw->name, grp->grpid, imgs[i].path, owner, prev);
		else if (ret == 0)
			log_info(LOG_COMP, "%s: ANA group %u: no lock of %s to break: %s", gw->name, grp->grpid,
				 imgs[i].path, err);
		else if (ret == -EBUSY)
			log_warn(LOG_COMP,
				 "%s: ANA group %u: not breaking the exclusive lock of %s: %s of member %s, whose "
				 "lease expired; left to librbd, which hands it over when its holder lets go",
				 gw->name, grp->grpid, imgs[i].path, err, prev);
		else
			log_warn(LOG_COMP, "%s: ANA group %u: cannot fence the previous owner (%s) from %s: %s",
				 gw->name, grp->grpid, prev, imgs[i].path, err);
	}
	fence_imgs_free(imgs, n);
}

static void grp_tick(struct nvmf_gw *gw, struct gw_grp *grp)
{
	uint64_t now = nvmf_mono_ms(), sent;
	char owner[GW_ID_MAX], prev[GW_ID_MAX] = "", prev_clients[GW_REC_MAX];
	bool prev_has_clients = false;
	int ret;

	if (!grp->watching || atomic_load(&grp->watch_broken)) {
		if (grp->watching)
			rados_unwatch2(gw->io, grp->watch);
		grp->watching = false;
		if ((ret = grp_watch(gw, grp)) == -ESHUTDOWN) {
			gw_leave_blocklisted(gw, "watching a group's object");
			return;
		}
		if (ret < 0)
			log_warn(LOG_COMP, "%s: cannot watch %s: %s", gw->name, grp->oid, strerror(-ret));
	}

	pthread_mutex_lock(&gw->lock);
	if (grp->held && grp->release_req && !grp->preferred) {
		grp_drop_locked(gw, grp, "given back to the member that prefers it");
		grp->holdoff_ms = now + GW_HOLDOFF_MS;
		pthread_mutex_unlock(&gw->lock);
		grp_unclaim(gw, grp);
		ret = rados_unlock(gw->io, grp->oid, GW_LOCK_NAME, gw->id);
		if (ret < 0 && ret != -ENOENT)
			log_warn(LOG_COMP, "%s: unlock %s: %s", gw->name, grp->oid, strerror(-ret));
		return;
	}
	if (grp->held) {
		pthread_mutex_unlock(&gw->lock);
		grp_renew(gw, grp);
		return;
	}
	bool wait = !grp->preferred && (now < gw->start_ms + GW_GRACE_MS || now < grp->holdoff_ms);
	bool probe = !wait && gw->suspect;
	pthread_mutex_unlock(&gw->lock);

	if (probe && gw_probe_blocklisted(gw)) {
		gw_leave_blocklisted(gw, "its images' client refused as blocklisted after it lost a lease");
		return;
	}
	ret = wait ? -EBUSY : grp_lock(gw, grp, &sent);
	if (ret == 0 &&
	    (ret = grp_claim(gw, grp, prev, sizeof(prev), prev_clients, sizeof(prev_clients), &prev_has_clients)) < 0)
		log_warn(LOG_COMP, "%s: recording this member as the holder of ANA group %u: %s", gw->name,
			 grp->grpid, strerror(-ret));
	if (ret == 0 && prev[0] && strcmp(prev, gw->id)) {
		grp_fence(gw, grp, prev, prev_has_clients ? prev_clients : NULL);
		/* Breaking took time: serve on a fresh lease. */
		ret = grp_lock(gw, grp, &sent);
		if (ret < 0)
			log_warn(LOG_COMP, "%s: renewing the lease of ANA group %u after fencing: %s", gw->name,
				 grp->grpid, strerror(-ret));
	}
	if (ret == -ESHUTDOWN) {
		gw_leave_blocklisted(gw, "taking a lease");
		return;
	}
	if (ret == 0) {
		grp->last_err = 0;
		pthread_mutex_lock(&gw->lock);
		if (probe)
			gw->suspect = false;
		grp->held = true;
		grp->release_req = false;
		grp->renewed_ms = sent;
		grp->deadline_ms = sent + GW_LEASE_MS - GW_MARGIN_MS;
		snprintf(grp->owner, sizeof(grp->owner), "%s", gw->id);
		grp_set_until(gw, grp, grp->deadline_ms);
		/* After the lock: optimized only while the lease is ours. */
		grp_set_state(gw, grp, NVME_ANA_OPTIMIZED);
		log_notice(LOG_COMP, "%s: ANA group %u optimized here: lease taken (%s)", gw->name, grp->grpid,
			   grp->preferred ? "preferred" : "taking over");
		pthread_mutex_unlock(&gw->lock);
		return;
	}
	if (ret != -EBUSY && ret != -EEXIST) {
		if (ret != grp->last_err)
			log_warn(LOG_COMP, "%s: taking the lease of ANA group %u: %s (retrying every %d ms)", gw->name,
				 grp->grpid, strerror(-ret), GW_TICK_MS);
		grp->last_err = ret;
		return;
	}
	grp->last_err = ret;
	grp_read_owner(gw, grp, owner, sizeof(owner));
	pthread_mutex_lock(&gw->lock);
	if (strcmp(owner, grp->owner))
		log_info(LOG_COMP, "%s: ANA group %u held by %s", gw->name, grp->grpid, owner[0] ? owner : "?");
	snprintf(grp->owner, sizeof(grp->owner), "%s", owner);
	bool ask = grp->preferred && owner[0] && now >= grp->notify_ms;
	if (ask)
		grp->notify_ms = now + GW_NOTIFY_MS;
	pthread_mutex_unlock(&gw->lock);
	if (ask) {
		char msg[GW_ID_MAX + 16];
		int n = snprintf(msg, sizeof(msg), GW_RELEASE_MSG " %s", gw->id);

		/* Replies do not matter: the holder unlocks, we take it on a later tick. */
		ret = rados_notify2(gw->io, grp->oid, msg, n, GW_NOTIFY_MS, NULL, NULL);
		if (ret == -ESHUTDOWN)
			gw_leave_blocklisted(gw, "asking for a group back");
		else if (ret < 0 && ret != -ETIMEDOUT)
			log_info(LOG_COMP, "%s: release request for ANA group %u: %s", gw->name, grp->grpid,
				 strerror(-ret));
	}
}

static void wait_ms(struct nvmf_gw *gw, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&gw->cond, &gw->lock, &ts);
}

static void *lease_main(void *arg)
{
	struct nvmf_gw *gw = arg;

	pthread_setname_np(pthread_self(), "gw-lease");
	pthread_mutex_lock(&gw->lock);
	while (!gw->stop) {
		pthread_mutex_unlock(&gw->lock);
		if (backend_rbd_blocklisted())
			gw_leave_blocklisted(gw, "an RBD operation was refused");
		for (unsigned int i = 0; i < gw->ngrps && !gw->blocklisted; i++)
			grp_tick(gw, &gw->grps[i]);
		pthread_mutex_lock(&gw->lock);
		bool pending = false;
		for (unsigned int i = 0; i < gw->ngrps; i++)
			pending |= gw->grps[i].release_req;
		if (!gw->stop && !pending)
			wait_ms(gw, GW_TICK_MS);
	}
	pthread_mutex_unlock(&gw->lock);
	return NULL;
}

static void *fence_main(void *arg)
{
	struct nvmf_gw *gw = arg;

	pthread_setname_np(pthread_self(), "gw-fence");
	pthread_mutex_lock(&gw->lock);
	while (!gw->stop) {
		uint64_t now = nvmf_mono_ms();

		for (unsigned int i = 0; i < gw->ngrps; i++) {
			struct gw_grp *grp = &gw->grps[i];

			if (grp->held && now >= grp->deadline_ms) {
				grp_drop_locked(gw, grp, "lease not renewed in time (fenced)");
				gw->suspect = true;
			}
		}
		wait_ms(gw, GW_FENCE_TICK_MS);
	}
	pthread_mutex_unlock(&gw->lock);
	return NULL;
}

static int gw_connect(struct nvmf_gw *gw, const struct nvmf_gw_opts *o, char *err, size_t errlen)
{
	const char *conf = o->ceph_conf ? o->ceph_conf : "/etc/ceph/ceph.conf";
	const char *id = o->ceph_id ? o->ceph_id : "admin";
	int ret;

	if ((ret = rados_create(&gw->rados, id)) < 0) {
		snprintf(err, errlen, "gateway group %s: rados_create: %s", gw->name, strerror(-ret));
		gw->rados = NULL;
		return ret;
	}
	if ((ret = rados_conf_read_file(gw->rados, conf)) < 0) {
		snprintf(err, errlen, "gateway group %s: ceph conf %s: %s", gw->name, conf, strerror(-ret));
		return ret;
	}
	/* An operation must fail well within a renewal period rather than hang. */
	rados_conf_set(gw->rados, "rados_osd_op_timeout", "3");
	rados_conf_set(gw->rados, "rados_mon_op_timeout", "3");
	rados_conf_set(gw->rados, "client_mount_timeout", "10");
	if ((ret = rados_connect(gw->rados)) < 0) {
		snprintf(err, errlen, "gateway group %s: cannot connect to the Ceph cluster of %s as client.%s: %s",
			 gw->name, conf, id, strerror(-ret));
		return ret;
	}
	if ((ret = rados_ioctx_create(gw->rados, o->pool, &gw->io)) < 0) {
		snprintf(err, errlen, "gateway group %s: pool '%s': %s", gw->name, o->pool,
			 ret == -ENOENT ? "no such pool" : strerror(-ret));
		gw->io = NULL;
		return ret;
	}
	return 0;
}

static void gw_free(struct nvmf_gw *gw)
{
	if (gw->io)
		rados_ioctx_destroy(gw->io);
	if (gw->rados)
		rados_shutdown(gw->rados);
	pthread_mutex_destroy(&gw->lock);
	pthread_cond_destroy(&gw->cond);
	free(gw->grps);
	free(gw->portids);
	free(gw->port_has);
	free(gw);
}

/* The groups: every group a port carries or a namespace is in; preferred = optimized on some port. */
static int gw_collect(struct nvmf_gw *gw)
{
	struct nvmf_tgt *tgt = gw->tgt;
	bool used[NVMF_ANA_GRP_MAX + 1] = { false }, pref[NVMF_ANA_GRP_MAX + 1] = { false };
	unsigned int n = 0;

	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_port *p = tgt->ports; p; p = p->next)
		n++;
	gw->portids = calloc(n ? n : 1, sizeof(*gw->portids));
	gw->port_has = calloc(n ? n : 1, sizeof(*gw->port_has));
	if (!gw->portids || !gw->port_has) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOMEM;
	}
	for (struct nvmf_port *p = tgt->ports; p; p = p->next) {
		if (!p->nr_subsys)
			continue; /* discovery only */
		gw->portids[gw->nports] = p->opts.portid;
		for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX; g++) {
			if (!p->ana_listed[g])
				continue;
			used[g] = true;
			gw->port_has[gw->nports][g] = true;
			if (atomic_load(&p->ana_state[g]) == NVME_ANA_OPTIMIZED)
				pref[g] = true;
		}
		gw->nports++;
	}
	for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next)
		for (uint32_t nsid = 1; nsid <= NVMF_MAX_NSID; nsid++) {
			struct nvmf_ns *ns = s->nss[nsid];

			if (ns)
				used[atomic_load(&ns->anagrpid)] = true;
		}
	for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX; g++)
		gw->ngrps += used[g];
	gw->grps = calloc(gw->ngrps ? gw->ngrps : 1, sizeof(*gw->grps));
	if (!gw->grps) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOMEM;
	}
	n = 0;
	for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX; g++) {
		if (!used[g])
			continue;
		gw->grps[n].gw = gw;
		gw->grps[n].grpid = g;
		gw->grps[n].preferred = pref[g];
		snprintf(gw->grps[n].oid, sizeof(gw->grps[n].oid), "nvmeof.gw.%s.grp.%u", gw->name, g);
		/* From now on set-ana-state and reloads leave these alone. */
		tgt->ana_managed[g] = true;
		n++;
	}
	/* A group no port carried is carried (inaccessible) by every I/O port. */
	for (unsigned int i = 0; i < gw->nports; i++)
		for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX; g++)
			if (used[g])
				gw->port_has[i][g] = true;
	tgt->gw = gw;
	pthread_mutex_unlock(&tgt->lock);
	return 0;
}

int nvmf_gw_start(struct nvmf_tgt *tgt, const struct nvmf_gw_opts *o, struct nvmf_gw **out, char *err,
		  size_t errlen)
{
	struct nvmf_gw *gw = calloc(1, sizeof(*gw));
	pthread_condattr_t ca;
	char host[64];
	int ret;

	if (!gw)
		return -ENOMEM;
	gw->tgt = tgt;
	gw->on_blocklisted = o->blocklisted;
	gw->cb_arg = o->arg;
	pthread_mutex_init(&gw->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&gw->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(gw->name, sizeof(gw->name), "%s", o->name);
	snprintf(gw->pool, sizeof(gw->pool), "%s", o->pool);
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(gw->id, sizeof(gw->id), "%s.%ld.%lx", host, (long)getpid(), (unsigned long)time(NULL));

	if ((ret = gw_connect(gw, o, err, errlen)) < 0)
		goto fail;
	if ((ret = gw_collect(gw)) < 0) {
		snprintf(err, errlen, "gateway group %s: %s", gw->name, strerror(-ret));
		goto fail;
	}
	/* Nothing is ours yet: every group starts inaccessible. */
	for (unsigned int i = 0; i < gw->ngrps; i++)
		grp_set_state(gw, &gw->grps[i], NVME_ANA_INACCESSIBLE);
	for (unsigned int i = 0; i < gw->ngrps; i++)
		log_notice(LOG_COMP, "%s: member %s, ANA group %u (%s), object %s/%s", gw->name, gw->id,
			   gw->grps[i].grpid, gw->grps[i].preferred ? "preferred" : "taken over when its owner fails",
			   gw->pool, gw->grps[i].oid);
	gw->start_ms = nvmf_mono_ms();
	if ((ret = pthread_create(&gw->fence_thread, NULL, fence_main, gw))) {
		ret = -ret;
		snprintf(err, errlen, "gateway group %s: thread: %s", gw->name, strerror(-ret));
		goto fail;
	}
	gw->fence_started = true;
	if ((ret = pthread_create(&gw->lease_thread, NULL, lease_main, gw))) {
		ret = -ret;
		snprintf(err, errlen, "gateway group %s: thread: %s", gw->name, strerror(-ret));
		goto fail;
	}
	gw->lease_started = true;
	*out = gw;
	return 0;
fail:
	nvmf_gw_stop(gw);
	return ret;
}

void nvmf_gw_stop(struct nvmf_gw *gw)
{
	struct nvmf_tgt *tgt;

	if (!gw)
		return;
	tgt = gw->tgt;
	pthread_mutex_lock(&gw->lock);
	gw->stop = true;
	pthread_cond_broadcast(&gw->cond);
	pthread_mutex_unlock(&gw->lock);
	if (gw->lease_started)
		pthread_join(gw->lease_thread, NULL);
	if (gw->fence_started)
		pthread_join(gw->fence_thread, NULL);
	/* Hand over at once rather than after the lease: inaccessible, then unlock. */
	for (unsigned int i = 0; i < gw->ngrps; i++) {
		struct gw_grp *grp = &gw->grps[i];

		if (grp->held) {
			pthread_mutex_lock(&gw->lock);
			grp_drop_locked(gw, grp, "leaving the gateway group");
			pthread_mutex_unlock(&gw->lock);
			grp_unclaim(gw, grp);
			rados_unlock(gw->io, grp->oid, GW_LOCK_NAME, gw->id);
		}
		if (grp->watching)
			rados_unwatch2(gw->io, grp->watch);
	}
	if (gw->rados && gw->io)
		rados_watch_flush(gw->rados);
	pthread_mutex_lock(&tgt->lock);
	if (tgt->gw == gw)
		tgt->gw = NULL;
	memset(tgt->ana_managed, 0, sizeof(tgt->ana_managed));
	for (unsigned int g = 0; g <= NVMF_ANA_GRP_MAX; g++)
		atomic_store(&tgt->ana_lease_until_ms[g], 0);
	pthread_mutex_unlock(&tgt->lock);
	gw_free(gw);
}

const char *nvmf_tgt_gateway_group(struct nvmf_tgt *tgt)
{
	return tgt->gw ? tgt->gw->name : NULL;
}

struct json_object *nvmf_gw_snapshot(struct nvmf_gw *gw)
{
	struct json_object *j = json_object_new_object(), *grps = json_object_new_array();
	struct json_object *members = json_object_new_array();

	json_object_object_add(j, "name", json_object_new_string(gw->name));
	json_object_object_add(j, "pool", json_object_new_string(gw->pool));
	json_object_object_add(j, "member", json_object_new_string(gw->id));
	json_object_array_add(members, json_object_new_string(gw->id));
	pthread_mutex_lock(&gw->lock);
	for (unsigned int i = 0; i < gw->ngrps; i++) {
		struct gw_grp *grp = &gw->grps[i];
		struct json_object *g = json_object_new_object();
		const char *owner = grp->held ? gw->id : grp->owner;
		bool seen = !owner[0];

		json_object_object_add(g, "grpid", json_object_new_int((int)grp->grpid));
		json_object_object_add(g, "preferred", json_object_new_boolean(grp->preferred));
		json_object_object_add(g, "state", json_object_new_string(grp->held ? "optimized" : "inaccessible"));
		json_object_object_add(g, "owner", json_object_new_string(owner));
		json_object_object_add(g, "object", json_object_new_string(grp->oid));
		json_object_array_add(grps, g);
		for (size_t k = 0; !seen && k < json_object_array_length(members); k++)
			seen = !strcmp(json_object_get_string(json_object_array_get_idx(members, k)), owner);
		if (!seen)
			json_object_array_add(members, json_object_new_string(owner));
	}
	pthread_mutex_unlock(&gw->lock);
	json_object_object_add(j, "members", members);
	json_object_object_add(j, "groups", grps);
	return j;
}
