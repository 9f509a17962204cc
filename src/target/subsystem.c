/* SPDX-License-Identifier: MIT */
/*
 * The target object model: subsystems, namespaces, allowed hosts, ports,
 * the host registry (per-host statistics and audit counters) and the JSON
 * snapshot of all of it.
 *
 * Every function here runs on the control path under tgt->lock. Live
 * changes reach connected hosts: a namespace change raises a Namespace
 * Attribute Changed event on every controller of the subsystem, any change
 * visible in the discovery log bumps GENCTR and notifies discovery
 * controllers, and a host or subsystem losing access has its controllers
 * disconnected.
 *
 * A removed namespace is first unpublished from the lockless table the I/O
 * path reads, then freed once every reactor has been seen with no command
 * of that namespace in flight (checked on the reactor itself, so the check
 * cannot race with a parse that loaded the old pointer).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "crypto/tls_psk.h"
#include "internal.h"

#define LOG_COMP "target"

void *nvmf_zalloc(size_t size)
{
	size_t rounded = (size + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, rounded);

	if (p)
		memset(p, 0, rounded);
	return p;
}

/* ------------------------------------------------------------------ */
/* NQNs and stable identifiers                                         */

bool nvmf_nqn_valid(const char *nqn)
{
	size_t len;

	if (!nqn)
		return false;
	len = strnlen(nqn, NVME_NQN_MAX + 1);
	if (len == 0 || len > NVME_NQN_MAX)
		return false;
	/*
	 * Base 4.5 describes "nqn.yyyy-mm.<reverse domain>:<name>", but the
	 * kernel target takes any name and configs written for it (e.g.
	 * "testnqn") must keep working: require only printable ASCII without
	 * blanks, which is what hosts can type and the wire fields carry.
	 */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)nqn[i] <= 0x20 || (unsigned char)nqn[i] > 0x7e)
			return false;
	return true;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * A 128-bit identifier that depends only on what names the namespace
 * (subsystem NQN, NSID, backend path), so it survives restarts and differs
 * between subsystems.
 */
static void derive_id(uint8_t out[16], const char *domain, const char *nqn, uint32_t nsid,
		      const char *path)
{
	uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
	const char *parts[3] = { domain, nqn, path ? path : "" };
	uint64_t a, b;

	for (int i = 0; i < 3; i++) {
		size_t n = strlen(parts[i]) + 1; /* NUL separates the parts */

		h1 = fnv1a(h1, parts[i], n);
		h2 = fnv1a(h2 ^ mix64(h1), parts[i], n);
	}
	h1 = fnv1a(h1, &nsid, sizeof(nsid));
	h2 = fnv1a(h2, &nsid, sizeof(nsid));
	a = mix64(h1 ^ (h2 << 1));
	b = mix64(h2 + 0x9e3779b97f4a7c15ull * a);
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

static bool id_zero(const uint8_t id[16])
{
	static const uint8_t zero[16];

	return memcmp(id, zero, 16) == 0;
}

static void uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

static void hex_format(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* ------------------------------------------------------------------ */
/* Target                                                              */

static struct nvmf_subsys *subsys_alloc(struct nvmf_tgt *tgt, const char *nqn)
{
	struct nvmf_subsys *s = nvmf_zalloc(sizeof(*s));
	uint8_t h[16];
	char hex[33];

	if (!s)
		return NULL;
	s->tgt = tgt;
	snprintf(s->nqn, sizeof(s->nqn), "%s", nqn);
	derive_id(h, "serial", nqn, 0, NULL);
	hex_format(h, 10, hex);
	memcpy(s->serial, hex, NVMF_SERIAL_LEN);
	s->serial[NVMF_SERIAL_LEN] = '\0';
	snprintf(s->model, sizeof(s->model), "%s", NVMF_DEFAULT_MODEL);
	s->next_cntlid = NVMF_CNTLID_MIN;
	s->cntlid_min = NVMF_CNTLID_MIN;
	s->cntlid_max = NVMF_CNTLID_MAX;
	for (unsigned int i = 0; i <= NVMF_MAX_NSID; i++)
		atomic_init(&s->active[i], NULL);
	return s;
}

int nvmf_tgt_create(struct nvmf_tgt **out)
{
	struct nvmf_tgt *tgt = nvmf_zalloc(sizeof(*tgt));

	if (!tgt)
		return -ENOMEM;
	pthread_mutex_init(&tgt->lock, NULL);
	tgt->start_ns = reactor_now_ns();
	tgt->genctr = 1;
	tgt->disc = subsys_alloc(tgt, NVME_DISC_NQN);
	if (!tgt->disc) {
		pthread_mutex_destroy(&tgt->lock);
		free(tgt);
		return -ENOMEM;
	}
	tgt->disc->is_discovery = true;
	tgt->disc->allow_any_host = true;
	snprintf(tgt->disc->model, sizeof(tgt->disc->model), "%s discovery", NVMF_DEFAULT_MODEL);
	*out = tgt;
	return 0;
}

void nvmf_tgt_set_reactors(struct nvmf_tgt *tgt, struct reactor **reactors, unsigned int n)
{
	if (n > NVMF_MAX_REACTORS) {
		log_warn(LOG_COMP, "%u reactors, only %u are tracked", n, NVMF_MAX_REACTORS);
		n = NVMF_MAX_REACTORS;
	}
	pthread_mutex_lock(&tgt->lock);
	for (unsigned int i = 0; i < n; i++) {
		tgt->reactors[i] = reactors[i];
		for (unsigned int j = 0; j < i; j++)
			if (reactor_id(reactors[j]) == reactor_id(reactors[i]))
				log_warn(LOG_COMP, "reactors %u and %u share id %u: per-reactor counters collide",
					 j, i, reactor_id(reactors[i]));
	}
	tgt->nr_reactors = n;
	pthread_mutex_unlock(&tgt->lock);
}

static void ns_destroy(struct nvmf_ns *ns)
{
	if (ns->be)
		backend_close(ns->be);
	free(ns);
}

static void subsys_free(struct nvmf_subsys *s)
{
	struct nvmf_host_ref *h, *hn;
	struct nvmf_ctrl *c, *cn;

	for (c = s->ctrls; c; c = cn) {
		cn = c->next;
		nvmf_ctrl_free(c);
	}
	for (unsigned int i = 1; i <= NVMF_MAX_NSID; i++)
		if (s->nss[i])
			ns_destroy(s->nss[i]);
	for (h = s->hosts; h; h = hn) {
		hn = h->next;
		free(h);
	}
	free(s);
}

static void port_free(struct nvmf_port *p)
{
	struct nvmf_sq_priv *q, *qn;

	/* Queues still registered here outlived the transport: drop their state. */
	for (q = p->sqs; q; q = qn) {
		qn = q->port_next;
		q->sq->ctrl_link = NULL;
		free(q);
	}
	free(p->subsys);
	free(p->referrals);
	free(p);
}

void nvmf_tgt_destroy(struct nvmf_tgt *tgt)
{
	struct nvmf_subsys *s, *sn;
	struct nvmf_port *p, *pn;
	struct nvmf_host *h, *hn;
	struct nvmf_ns *ns, *nsn;

	if (!tgt)
		return;
	nvmf_auth_worker_stop(tgt);
	for (s = tgt->subsystems; s; s = sn) {
		sn = s->next;
		subsys_free(s);
	}
	for (s = tgt->zombies; s; s = sn) {
		sn = s->next;
		subsys_free(s);
	}
	subsys_free(tgt->disc);
	for (p = tgt->ports; p; p = pn) {
		pn = p->next;
		port_free(p);
	}
	for (p = tgt->zombie_ports; p; p = pn) {
		pn = p->next;
		port_free(p);
	}
	for (ns = tgt->retiring; ns; ns = nsn) {
		nsn = ns->retire_next;
		ns_destroy(ns);
	}
	for (h = tgt->hosts; h; h = hn) {
		hn = h->next;
		if (h->tls_key)
			nvme_tls_key_clear(h->tls_key);
		free(h->tls_key);
		nvmf_host_dhchap_wipe(&h->dhchap);
		free(h);
	}
	pthread_mutex_destroy(&tgt->lock);
	free(tgt);
}

int nvmf_tgt_sync(struct nvmf_tgt *tgt)
{
	int first = 0;

	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next) {
		for (unsigned int i = 1; i <= NVMF_MAX_NSID; i++) {
			struct nvmf_ns *ns = s->nss[i];
			int ret;

			if (!ns || !ns->be->ops->sync)
				continue;
			ret = ns->be->ops->sync(ns->be);
			if (ret < 0) {
				log_error(LOG_COMP, "%s nsid %u: sync failed: %s", s->nqn, i, strerror(-ret));
				if (!first)
					first = ret;
			}
		}
	}
	pthread_mutex_unlock(&tgt->lock);
	return first;
}

/* ------------------------------------------------------------------ */
/* Hosts                                                               */

struct nvmf_host *nvmf_host_get_locked(struct nvmf_tgt *tgt, const char *nqn, bool create)
{
	struct nvmf_host *h, **tail = &tgt->hosts;

	for (h = tgt->hosts; h; h = h->next) {
		if (strcmp(h->nqn, nqn) == 0)
			return h;
		tail = &h->next;
	}
	if (!create || tgt->nr_hosts >= NVMF_MAX_HOST_RECORDS)
		return NULL;
	h = nvmf_zalloc(sizeof(*h));
	if (!h)
		return NULL;
	snprintf(h->nqn, sizeof(h->nqn), "%s", nqn);
	h->dhchap.dhgroup = -1;
	*tail = h;
	tgt->nr_hosts++;
	return h;
}

static bool subsys_lists_host(const struct nvmf_subsys *s, const char *hostnqn)
{
	for (const struct nvmf_host_ref *r = s->hosts; r; r = r->next)
		if (strcmp(r->host->nqn, hostnqn) == 0)
			return true;
	return false;
}

bool nvmf_subsys_host_allowed_locked(struct nvmf_subsys *subsys, const char *hostnqn, bool *monitored)
{
	*monitored = false;
	if (subsys->allow_any_host)
		return true;
	/* Hosts without a name (SPDK's, unless told one) only where any host may
	 * connect: never through a host list, enforced or monitored. */
	if (hostnqn[0] == '\0')
		return false;
	if (subsys_lists_host(subsys, hostnqn))
		return true;
	if (subsys->monitor) {
		*monitored = true;
		return true;
	}
	return false;
}

/* Disconnect controllers of s whose host is no longer admitted. */
static void subsys_enforce_hosts_locked(struct nvmf_subsys *s)
{
	for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
		bool monitored;

		if (c->linked && !nvmf_subsys_host_allowed_locked(s, c->hostnqn, &monitored))
			nvmf_ctrl_disconnect_locked(c, "host access revoked");
	}
}

/* ------------------------------------------------------------------ */
/* Subsystems                                                          */

struct nvmf_subsys *nvmf_subsys_find_locked(struct nvmf_tgt *tgt, const char *nqn)
{
	for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next)
		if (strcmp(s->nqn, nqn) == 0)
			return s;
	return NULL;
}

void nvmf_tgt_disc_changed_locked(struct nvmf_tgt *tgt)
{
	tgt->genctr++;
	for (struct nvmf_ctrl *c = tgt->disc->ctrls; c; c = c->next)
		nvmf_ctrl_disc_changed_locked(c);
}

int nvmf_subsys_create(struct nvmf_tgt *tgt, const char *nqn, struct nvmf_subsys **out)
{
	struct nvmf_subsys *s, **tail;

	if (!nvmf_nqn_valid(nqn) || strcmp(nqn, NVME_DISC_NQN) == 0)
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	if (nvmf_subsys_find_locked(tgt, nqn)) {
		pthread_mutex_unlock(&tgt->lock);
		return -EEXIST;
	}
	s = subsys_alloc(tgt, nqn);
	if (!s) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOMEM;
	}
	for (tail = &tgt->subsystems; *tail; tail = &(*tail)->next)
		;
	*tail = s;
	pthread_mutex_unlock(&tgt->lock);
	log_info(LOG_COMP, "subsystem %s created", nqn);
	if (out)
		*out = s;
	return 0;
}

struct nvmf_subsys *nvmf_subsys_find(struct nvmf_tgt *tgt, const char *nqn)
{
	struct nvmf_subsys *s;

	pthread_mutex_lock(&tgt->lock);
	s = nvmf_subsys_find_locked(tgt, nqn);
	pthread_mutex_unlock(&tgt->lock);
	return s;
}

static void port_unlink_subsys_locked(struct nvmf_port *p, struct nvmf_subsys *s)
{
	for (unsigned int i = 0; i < p->nr_subsys; i++) {
		if (p->subsys[i] == s) {
			memmove(&p->subsys[i], &p->subsys[i + 1],
				(p->nr_subsys - i - 1) * sizeof(p->subsys[0]));
			p->nr_subsys--;
			return;
		}
	}
}

static void ns_quiesce_timer(struct reactor_timer *t);

/* Runs on one reactor: has it finished every command of this namespace? */
static void ns_quiesce_check(void *arg)
{
	struct nvmf_ns_quiesce *q = arg;
	struct nvmf_ns *ns = q->ns;
	struct nvmf_tgt *tgt = ns->tgt;

	if (ctr_get(&ns->slot[q->slot].io.inflight) != 0) {
		q->timer.fn = ns_quiesce_timer;
		reactor_timer_arm(q->reactor, &q->timer, NVMF_QUIESCE_RETRY_NS);
		return;
	}
	if (atomic_fetch_sub(&ns->quiesce_left, 1) != 1)
		return;
	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_ns **pp = &tgt->retiring; *pp; pp = &(*pp)->retire_next) {
		if (*pp == ns) {
			*pp = ns->retire_next;
			break;
		}
	}
	pthread_mutex_unlock(&tgt->lock);
	log_debug(LOG_COMP, "nsid %u quiesced, closing its backend", ns->nsid);
	ns_destroy(ns);
}

static void ns_quiesce_timer(struct reactor_timer *t)
{
	ns_quiesce_check(container_of(t, struct nvmf_ns_quiesce, timer));
}

/* ns is no longer reachable by new commands; free it when none is left. */
static void ns_retire_locked(struct nvmf_tgt *tgt, struct nvmf_ns *ns)
{
	unsigned int n = tgt->nr_reactors;

	if (n == 0) {
		/* No reactor runs I/O yet, so nothing can hold it. */
		ns_destroy(ns);
		return;
	}
	ns->retire_next = tgt->retiring;
	tgt->retiring = ns;
	atomic_store(&ns->quiesce_left, n);
	for (unsigned int i = 0; i < n; i++) {
		struct nvmf_ns_quiesce *q = &ns->quiesce[i];

		q->ns = ns;
		q->reactor = tgt->reactors[i];
		q->slot = reactor_id(q->reactor) % NVMF_MAX_REACTORS;
		if (reactor_post(q->reactor, ns_quiesce_check, q) < 0)
			/* Without this reactor's word it stays until nvmf_tgt_destroy(). */
			log_error(LOG_COMP, "nsid %u: cannot post quiescence check; freed at exit", ns->nsid);
	}
}

int nvmf_subsys_remove(struct nvmf_tgt *tgt, struct nvmf_subsys *subsys)
{
	struct nvmf_subsys **pp;

	pthread_mutex_lock(&tgt->lock);
	for (pp = &tgt->subsystems; *pp && *pp != subsys; pp = &(*pp)->next)
		;
	if (!*pp) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	*pp = subsys->next;
	for (struct nvmf_port *p = tgt->ports; p; p = p->next)
		port_unlink_subsys_locked(p, subsys);
	for (unsigned int i = 1; i <= NVMF_MAX_NSID; i++) {
		struct nvmf_ns *ns = subsys->nss[i];

		if (!ns)
			continue;
		atomic_store_explicit(&subsys->active[i], NULL, memory_order_release);
		subsys->nss[i] = NULL;
		ns_retire_locked(tgt, ns);
	}
	for (struct nvmf_ctrl *c = subsys->ctrls; c; c = c->next)
		if (c->linked)
			nvmf_ctrl_disconnect_locked(c, "subsystem removed");
	subsys->removed = true;
	nvmf_tgt_disc_changed_locked(tgt);
	log_info(LOG_COMP, "subsystem %s removed", subsys->nqn);
	if (subsys->nr_ctrls_alive == 0) {
		subsys_free(subsys);
	} else {
		subsys->next = tgt->zombies;
		tgt->zombies = subsys;
	}
	pthread_mutex_unlock(&tgt->lock);
	return 0;
}

void nvmf_subsys_put_locked(struct nvmf_subsys *subsys)
{
	struct nvmf_tgt *tgt = subsys->tgt;

	if (!subsys->removed || subsys->nr_ctrls_alive != 0)
		return;
	for (struct nvmf_subsys **pp = &tgt->zombies; *pp; pp = &(*pp)->next) {
		if (*pp == subsys) {
			*pp = subsys->next;
			break;
		}
	}
	subsys_free(subsys);
}

bool nvmf_subsys_allows_any_host(struct nvmf_subsys *subsys)
{
	struct nvmf_tgt *tgt = subsys->tgt;
	bool allow;

	pthread_mutex_lock(&tgt->lock);
	allow = subsys->allow_any_host;
	pthread_mutex_unlock(&tgt->lock);
	return allow;
}

void nvmf_subsys_set_allow_any_host(struct nvmf_subsys *subsys, bool allow)
{
	struct nvmf_tgt *tgt = subsys->tgt;

	pthread_mutex_lock(&tgt->lock);
	if (subsys->allow_any_host != allow) {
		subsys->allow_any_host = allow;
		if (!allow)
			subsys_enforce_hosts_locked(subsys);
		nvmf_tgt_disc_changed_locked(tgt);
	}
	pthread_mutex_unlock(&tgt->lock);
}

void nvmf_subsys_set_monitor(struct nvmf_subsys *subsys, bool monitor)
{
	struct nvmf_tgt *tgt = subsys->tgt;

	pthread_mutex_lock(&tgt->lock);
	if (subsys->monitor != monitor) {
		subsys->monitor = monitor;
		if (!monitor)
			subsys_enforce_hosts_locked(subsys);
		nvmf_tgt_disc_changed_locked(tgt);
	}
	pthread_mutex_unlock(&tgt->lock);
}

static bool ident_printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

int nvmf_subsys_set_ident(struct nvmf_subsys *subsys, const char *serial, const char *model)
{
	if ((serial && !ident_printable(serial, NVMF_SERIAL_LEN)) ||
	    (model && !ident_printable(model, NVMF_MODEL_LEN)))
		return -EINVAL;
	pthread_mutex_lock(&subsys->tgt->lock);
	if (serial)
		snprintf(subsys->serial, sizeof(subsys->serial), "%s", serial);
	if (model)
		snprintf(subsys->model, sizeof(subsys->model), "%s", model);
	pthread_mutex_unlock(&subsys->tgt->lock);
	return 0;
}

int nvmf_subsys_set_cntlid_range(struct nvmf_subsys *subsys, uint16_t min, uint16_t max)
{
	if (min < NVMF_CNTLID_MIN || max > NVMF_CNTLID_MAX || min > max || subsys->is_discovery)
		return -EINVAL;
	pthread_mutex_lock(&subsys->tgt->lock);
	subsys->cntlid_min = min;
	subsys->cntlid_max = max;
	if (subsys->next_cntlid < min || subsys->next_cntlid > max)
		subsys->next_cntlid = min;
	pthread_mutex_unlock(&subsys->tgt->lock);
	return 0;
}

int nvmf_subsys_add_host(struct nvmf_subsys *subsys, const char *hostnqn)
{
	struct nvmf_tgt *tgt = subsys->tgt;
	struct nvmf_host_ref *ref;
	struct nvmf_host *host;

	if (!nvmf_nqn_valid(hostnqn) || subsys->is_discovery)
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	if (subsys_lists_host(subsys, hostnqn)) {
		pthread_mutex_unlock(&tgt->lock);
		return -EEXIST;
	}
	host = nvmf_host_get_locked(tgt, hostnqn, true);
	ref = host ? calloc(1, sizeof(*ref)) : NULL;
	if (!ref) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOMEM;
	}
	ref->host = host;
	ref->next = subsys->hosts;
	subsys->hosts = ref;
	nvmf_tgt_disc_changed_locked(tgt);
	pthread_mutex_unlock(&tgt->lock);
	return 0;
}

int nvmf_subsys_remove_host(struct nvmf_subsys *subsys, const char *hostnqn)
{
	struct nvmf_tgt *tgt = subsys->tgt;
	struct nvmf_host_ref **pp, *ref;

	pthread_mutex_lock(&tgt->lock);
	for (pp = &subsys->hosts; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->host->nqn, hostnqn) == 0)
			break;
	ref = *pp;
	if (!ref) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	*pp = ref->next;
	free(ref);
	subsys_enforce_hosts_locked(subsys);
	nvmf_tgt_disc_changed_locked(tgt);
	pthread_mutex_unlock(&tgt->lock);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Namespaces                                                          */

static bool id_in_use_locked(struct nvmf_tgt *tgt, const uint8_t id[16], bool nguid)
{
	for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next) {
		for (unsigned int i = 1; i <= NVMF_MAX_NSID; i++) {
			const struct nvmf_ns *ns = s->nss[i];

			if (ns && memcmp(nguid ? ns->nguid : ns->uuid, id, 16) == 0)
				return true;
		}
	}
	return false;
}

bool nvmf_subsys_has_volatile_cache(struct nvmf_subsys *subsys)
{
	bool any_ns = false;

	for (unsigned int i = 1; i <= NVMF_MAX_NSID; i++) {
		struct nvmf_ns *ns = nvmf_ns_active(subsys, i);

		if (!ns)
			continue;
		any_ns = true;
		if (ns->be->volatile_cache)
			return true;
	}
	/* With no namespace yet, assume one with a cache may come. */
	return !any_ns;
}

static unsigned int log2_u32(uint32_t v)
{
	unsigned int n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

/*
 * A backend thread: be was resized (an RBD image grew or shrank). Hosts see
 * the new size in Identify Namespace after a Namespace Attribute Changed
 * event. be is looked up first: its namespace may have been removed since.
 */
static void ns_backend_resized(void *arg, struct backend *be, uint64_t size)
{
	struct nvmf_tgt *tgt = arg;

	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next) {
		for (unsigned int i = 1; i <= NVMF_MAX_NSID; i++) {
			struct nvmf_ns *ns = s->nss[i];

			if (!ns || ns->be != be)
				continue;
			be->size = size; /* read under tgt->lock only */
			atomic_store(&ns->nblocks, size >> ns->lbads);
			log_info(LOG_COMP, "%s: namespace %u resized to %llu blocks", s->nqn, ns->nsid,
				 (unsigned long long)(size >> ns->lbads));
			if (atomic_load(&s->active[i]))
				for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
					nvmf_ctrl_ns_changed_locked(c, ns->nsid);
			pthread_mutex_unlock(&tgt->lock);
			return;
		}
	}
	pthread_mutex_unlock(&tgt->lock);
}

int nvmf_subsys_add_ns(struct nvmf_subsys *subsys, const struct nvmf_ns_opts *opts, uint32_t *nsid_out)
{
	struct nvmf_tgt *tgt = subsys->tgt;
	struct backend *be = opts->backend;
	struct nvmf_ns *ns;
	uint32_t nsid = opts->nsid;

	if (!be || subsys->is_discovery || be->block_size < 512 || be->block_size > 4096 ||
	    (be->block_size & (be->block_size - 1)) || be->size < be->block_size ||
	    be->size % be->block_size)
		return -EINVAL;
	if (nsid > NVMF_MAX_NSID || opts->anagrpid > NVMF_ANA_GRP_MAX)
		return -EINVAL;
	ns = nvmf_zalloc(sizeof(*ns));
	if (!ns)
		return -ENOMEM;

	pthread_mutex_lock(&tgt->lock);
	if (subsys->removed) {
		pthread_mutex_unlock(&tgt->lock);
		free(ns);
		return -ENOENT;
	}
	if (nsid == 0) {
		for (nsid = 1; nsid <= NVMF_MAX_NSID && subsys->nss[nsid]; nsid++)
			;
		if (nsid > NVMF_MAX_NSID) {
			pthread_mutex_unlock(&tgt->lock);
			free(ns);
			return -ENOSPC;
		}
	} else if (subsys->nss[nsid]) {
		pthread_mutex_unlock(&tgt->lock);
		free(ns);
		return -EEXIST;
	}
	ns->tgt = tgt;
	ns->nsid = nsid;
	ns->be = be;
	ns->lbads = (uint8_t)log2_u32(be->block_size);
	ns->nblocks = be->size >> ns->lbads;
	ns->enabled = opts->enabled;
	atomic_init(&ns->anagrpid, opts->anagrpid ? opts->anagrpid : NVMF_ANA_DEFAULT_GRPID);
	if (id_zero(opts->uuid)) {
		derive_id(ns->uuid, "uuid", subsys->nqn, nsid, be->path);
		ns->uuid[6] = (uint8_t)((ns->uuid[6] & 0x0f) | 0x80); /* RFC 9562 version 8 */
		ns->uuid[8] = (uint8_t)((ns->uuid[8] & 0x3f) | 0x80);
	} else {
		memcpy(ns->uuid, opts->uuid, 16);
	}
	if (id_zero(opts->nguid))
		derive_id(ns->nguid, "nguid", subsys->nqn, nsid, be->path);
	else
		memcpy(ns->nguid, opts->nguid, 16);
	/* Hosts reject namespaces whose IDs collide with another subsystem's. */
	if (id_in_use_locked(tgt, ns->uuid, false) || id_in_use_locked(tgt, ns->nguid, true)) {
		pthread_mutex_unlock(&tgt->lock);
		log_error(LOG_COMP, "%s nsid %u: uuid/nguid already used by another namespace",
			  subsys->nqn, nsid);
		free(ns);
		return -EEXIST;
	}
	subsys->nss[nsid] = ns;
	if (ns->enabled) {
		atomic_store_explicit(&subsys->active[nsid], ns, memory_order_release);
		for (struct nvmf_ctrl *c = subsys->ctrls; c; c = c->next)
			nvmf_ctrl_ns_changed_locked(c, nsid);
	}
	nvmf_tgt_disc_changed_locked(tgt);
	/* Under the lock, so that the namespace cannot be removed (and be closed) first. */
	backend_set_resize_hook(be, ns_backend_resized, tgt);
	pthread_mutex_unlock(&tgt->lock);
	log_info(LOG_COMP, "%s: namespace %u added (%s, %llu blocks of %u)", subsys->nqn, nsid,
		 be->path ? be->path : "ram", (unsigned long long)ns->nblocks, be->block_size);
	if (nsid_out)
		*nsid_out = nsid;
	return 0;
}

int nvmf_subsys_remove_ns(struct nvmf_subsys *subsys, uint32_t nsid)
{
	struct nvmf_tgt *tgt = subsys->tgt;
	struct nvmf_ns *ns;
	bool was_active;

	if (nsid == 0 || nsid > NVMF_MAX_NSID)
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	ns = subsys->nss[nsid];
	if (!ns) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	was_active = atomic_load(&subsys->active[nsid]) != NULL;
	atomic_store_explicit(&subsys->active[nsid], NULL, memory_order_release);
	subsys->nss[nsid] = NULL;
	if (was_active)
		for (struct nvmf_ctrl *c = subsys->ctrls; c; c = c->next)
			nvmf_ctrl_ns_changed_locked(c, nsid);
	nvmf_tgt_disc_changed_locked(tgt);
	ns_retire_locked(tgt, ns);
	pthread_mutex_unlock(&tgt->lock);
	log_info(LOG_COMP, "%s: namespace %u removed", subsys->nqn, nsid);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Ports                                                               */

struct nvmf_port *nvmf_port_find(struct nvmf_tgt *tgt, uint16_t portid)
{
	struct nvmf_port *p;

	pthread_mutex_lock(&tgt->lock);
	for (p = tgt->ports; p; p = p->next)
		if (p->opts.portid == portid)
			break;
	pthread_mutex_unlock(&tgt->lock);
	return p;
}

static bool port_opts_valid(const struct nvmf_port_opts *o)
{
	return (o->adrfam == NVMF_ADRFAM_IPV4 || o->adrfam == NVMF_ADRFAM_IPV6) &&
	       memchr(o->traddr, '\0', sizeof(o->traddr)) && memchr(o->trsvcid, '\0', sizeof(o->trsvcid)) &&
	       o->trsvcid[0] != '\0' && o->treq <= NVMF_PORT_TREQ_NOT_REQUIRED &&
	       (o->tls ? o->treq != NVMF_PORT_TREQ_NOT_SPECIFIED : o->treq != NVMF_PORT_TREQ_REQUIRED);
}

const char *nvmf_port_treq_name(uint8_t treq)
{
	return treq == NVMF_PORT_TREQ_REQUIRED	   ? "required"
	       : treq == NVMF_PORT_TREQ_NOT_REQUIRED ? "not required"
						     : "not specified";
}

int nvmf_port_treq_parse(const char *s, uint8_t *treq)
{
	if (!strcmp(s, "not specified"))
		*treq = NVMF_PORT_TREQ_NOT_SPECIFIED;
	else if (!strcmp(s, "required"))
		*treq = NVMF_PORT_TREQ_REQUIRED;
	else if (!strcmp(s, "not required") || !strcmp(s, "not-required"))
		*treq = NVMF_PORT_TREQ_NOT_REQUIRED;
	else
		return -EINVAL;
	return 0;
}

int nvmf_port_security_check(struct nvmf_port_opts *o)
{
	if (o->tls && o->treq == NVMF_PORT_TREQ_NOT_SPECIFIED)
		o->treq = NVMF_PORT_TREQ_REQUIRED;
	return o->tls || o->treq != NVMF_PORT_TREQ_REQUIRED ? 0 : -EINVAL;
}

int nvmf_port_create(struct nvmf_tgt *tgt, const struct nvmf_port_opts *opts, struct nvmf_port **out)
{
	struct nvmf_port *p, **tail;

	if (!port_opts_valid(opts))
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	for (tail = &tgt->ports; *tail; tail = &(*tail)->next) {
		if ((*tail)->opts.portid == opts->portid) {
			pthread_mutex_unlock(&tgt->lock);
			return -EEXIST;
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOMEM;
	}
	p->tgt = tgt;
	p->opts = *opts;
	nvmf_port_ana_init(p);
	*tail = p;
	nvmf_tgt_disc_changed_locked(tgt);
	pthread_mutex_unlock(&tgt->lock);
	if (out)
		*out = p;
	return 0;
}

bool nvmf_port_exports_locked(const struct nvmf_port *port, const struct nvmf_subsys *subsys)
{
	for (unsigned int i = 0; i < port->nr_subsys; i++)
		if (port->subsys[i] == subsys)
			return true;
	return false;
}

int nvmf_port_add_subsys(struct nvmf_port *port, struct nvmf_subsys *subsys)
{
	struct nvmf_tgt *tgt = port->tgt;

	if (subsys->is_discovery)
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	if (port->removed || subsys->removed) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	if (nvmf_port_exports_locked(port, subsys)) {
		pthread_mutex_unlock(&tgt->lock);
		return -EEXIST;
	}
	if (port->nr_subsys == port->cap_subsys) {
		unsigned int cap = port->cap_subsys ? port->cap_subsys * 2 : 8;
		struct nvmf_subsys **a = realloc(port->subsys, cap * sizeof(*a));

		if (!a) {
			pthread_mutex_unlock(&tgt->lock);
			return -ENOMEM;
		}
		port->subsys = a;
		port->cap_subsys = cap;
	}
	port->subsys[port->nr_subsys++] = subsys;
	nvmf_tgt_disc_changed_locked(tgt);
	pthread_mutex_unlock(&tgt->lock);
	return 0;
}

int nvmf_port_remove_subsys(struct nvmf_port *port, struct nvmf_subsys *subsys)
{
	struct nvmf_tgt *tgt = port->tgt;

	pthread_mutex_lock(&tgt->lock);
	if (!nvmf_port_exports_locked(port, subsys)) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	port_unlink_subsys_locked(port, subsys);
	for (struct nvmf_ctrl *c = subsys->ctrls; c; c = c->next)
		if (c->linked && c->port == port)
			nvmf_ctrl_disconnect_locked(c, "subsystem unexported from port");
	nvmf_tgt_disc_changed_locked(tgt);
	pthread_mutex_unlock(&tgt->lock);
	return 0;
}

int nvmf_port_remove(struct nvmf_tgt *tgt, struct nvmf_port *port)
{
	struct nvmf_port **pp;

	pthread_mutex_lock(&tgt->lock);
	for (pp = &tgt->ports; *pp && *pp != port; pp = &(*pp)->next)
		;
	if (!*pp) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	*pp = port->next;
	port->nr_subsys = 0;
	port->removed = true;
	for (struct nvmf_sq_priv *q = port->sqs; q; q = q->port_next)
		q->sq->ops->disconnect(q->sq);
	nvmf_tgt_disc_changed_locked(tgt);
	if (port->nr_sqs == 0 && port->holds == 0) {
		port_free(port);
	} else {
		port->next = tgt->zombie_ports;
		tgt->zombie_ports = port;
	}
	pthread_mutex_unlock(&tgt->lock);
	return 0;
}

int nvmf_port_hold(struct nvmf_port *port)
{
	struct nvmf_tgt *tgt = port->tgt;
	int ret = 0;

	pthread_mutex_lock(&tgt->lock);
	if (port->removed)
		ret = -ENOENT;
	else
		port->holds++;
	pthread_mutex_unlock(&tgt->lock);
	return ret;
}

void nvmf_port_release(struct nvmf_port *port)
{
	struct nvmf_tgt *tgt = port->tgt;

	pthread_mutex_lock(&tgt->lock);
	port->holds--;
	nvmf_port_put_locked(port);
	pthread_mutex_unlock(&tgt->lock);
}

void nvmf_port_put_locked(struct nvmf_port *port)
{
	struct nvmf_tgt *tgt = port->tgt;

	if (!port->removed || port->nr_sqs != 0 || port->holds != 0)
		return;
	for (struct nvmf_port **pp = &tgt->zombie_ports; *pp; pp = &(*pp)->next) {
		if (*pp == port) {
			*pp = port->next;
			break;
		}
	}
	port_free(port);
}

int nvmf_port_add_referral(struct nvmf_port *port, const struct nvmf_port_opts *referral)
{
	struct nvmf_tgt *tgt = port->tgt;
	struct nvmf_port_opts *a;

	if (!port_opts_valid(referral) || referral->traddr[0] == '\0')
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	a = realloc(port->referrals, (port->nr_referrals + 1) * sizeof(*a));
	if (!a) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOMEM;
	}
	port->referrals = a;
	a[port->nr_referrals++] = *referral;
	nvmf_tgt_disc_changed_locked(tgt);
	pthread_mutex_unlock(&tgt->lock);
	return 0;
}

const struct nvmf_port_opts *nvmf_port_opts(const struct nvmf_port *port)
{
	return &port->opts;
}

struct nvmf_port *nvmf_tgt_port_at(struct nvmf_tgt *tgt, unsigned int index)
{
	struct nvmf_port *p;

	pthread_mutex_lock(&tgt->lock);
	for (p = tgt->ports; p && index; p = p->next)
		index--;
	pthread_mutex_unlock(&tgt->lock);
	return p;
}

/* ------------------------------------------------------------------ */
/* Snapshot                                                            */

static void ns_stats(const struct nvmf_ns *ns, struct nvmf_io_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned int i = 0; i < NVMF_MAX_REACTORS; i++)
		nvmf_counters_fold(out, &ns->slot[i].io);
}

static const char *adrfam_name(uint8_t adrfam)
{
	return adrfam == NVMF_ADRFAM_IPV6 ? "ipv6" : "ipv4";
}

static struct json_object *port_opts_json(const struct nvmf_port_opts *o)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "portid", json_object_new_int(o->portid));
	json_object_object_add(j, "adrfam", json_object_new_string(adrfam_name(o->adrfam)));
	json_object_object_add(j, "traddr", json_object_new_string(o->traddr));
	json_object_object_add(j, "trsvcid", json_object_new_string(o->trsvcid));
	json_object_object_add(j, "treq", json_object_new_string(nvmf_port_treq_name(o->treq)));
	json_object_object_add(j, "tsas", json_object_new_string(o->tls ? "tls1.3" : "none"));
	return j;
}

static struct json_object *port_ana_json_locked(struct nvmf_port *p)
{
	struct json_object *a = json_object_new_array();

	for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX; g++) {
		struct json_object *j;

		if (!p->ana_listed[g])
			continue;
		j = json_object_new_object();
		json_object_object_add(j, "grpid", json_object_new_int((int)g));
		json_object_object_add(j, "state",
				       json_object_new_string(nvmf_ana_state_name(atomic_load(&p->ana_state[g]))));
		json_object_array_add(a, j);
	}
	return a;
}

static struct json_object *ns_json(const struct nvmf_ns *ns)
{
	static const char *const kinds[] = { "ram", "file", "block", "rbd" };
	struct json_object *j = json_object_new_object();
	struct nvmf_io_counters st;
	char buf[40];

	json_object_object_add(j, "nsid", json_object_new_int64(ns->nsid));
	json_object_object_add(j, "path", ns->be->path ? json_object_new_string(ns->be->path) : NULL);
	json_object_object_add(j, "backend",
			       json_object_new_string(ns->be->kind <= BACKEND_RBD ? kinds[ns->be->kind] : "?"));
	if (ns->be->ceph_conf)
		json_object_object_add(j, "ceph_conf", json_object_new_string(ns->be->ceph_conf));
	if (ns->be->ceph_id)
		json_object_object_add(j, "ceph_id", json_object_new_string(ns->be->ceph_id));
	json_object_object_add(j, "size", json_object_new_int64((int64_t)ns->be->size));
	json_object_object_add(j, "block_size", json_object_new_int64(ns->be->block_size));
	json_object_object_add(j, "read_only", json_object_new_boolean(ns->be->read_only));
	if (ns->be->kind == BACKEND_RAM)
		json_object_object_add(j, "preallocated", json_object_new_boolean(ns->be->preallocated));
	uuid_format(ns->uuid, buf);
	json_object_object_add(j, "uuid", json_object_new_string(buf));
	hex_format(ns->nguid, 16, buf);
	json_object_object_add(j, "nguid", json_object_new_string(buf));
	json_object_object_add(j, "ana_grpid", json_object_new_int64(atomic_load(&ns->anagrpid)));
	json_object_object_add(j, "enabled", json_object_new_boolean(ns->enabled));
	ns_stats(ns, &st);
	json_object_object_add(j, "stats", nvmf_counters_json(&st));
	return j;
}

static struct json_object *ctrl_json_locked(struct nvmf_ctrl *c)
{
	struct json_object *j = json_object_new_object();
	struct nvmf_io_counters st;
	char id[37];

	json_object_object_add(j, "cntlid", json_object_new_int(c->cntlid));
	json_object_object_add(j, "hostnqn", json_object_new_string(c->hostnqn));
	uuid_format(c->hostid, id);
	json_object_object_add(j, "hostid", json_object_new_string(id));
	json_object_object_add(j, "peer", json_object_new_string(c->peer));
	json_object_object_add(j, "queues", json_object_new_int((int)c->nr_sqs));
	json_object_object_add(j, "kato_ms", json_object_new_int64(c->kato_ms));
	nvmf_ctrl_stats_locked(c, &st);
	json_object_object_add(j, "stats", nvmf_counters_json(&st));
	return j;
}

static struct json_object *subsys_json_locked(struct nvmf_subsys *s)
{
	struct json_object *j = json_object_new_object();
	struct json_object *hosts = json_object_new_array();
	struct json_object *nss = json_object_new_array();
	struct json_object *ctrls = json_object_new_array();
	struct nvmf_io_counters st = s->stats;

	json_object_object_add(j, "nqn", json_object_new_string(s->nqn));
	json_object_object_add(j, "serial", json_object_new_string(s->serial));
	json_object_object_add(j, "model", json_object_new_string(s->model));
	json_object_object_add(j, "allow_any_host", json_object_new_boolean(s->allow_any_host));
	json_object_object_add(j, "monitor", json_object_new_boolean(s->monitor));
	json_object_object_add(j, "cntlid_min", json_object_new_int(s->cntlid_min));
	json_object_object_add(j, "cntlid_max", json_object_new_int(s->cntlid_max));
	for (struct nvmf_host_ref *r = s->hosts; r; r = r->next)
		json_object_array_add(hosts, json_object_new_string(r->host->nqn));
	json_object_object_add(j, "hosts", hosts);
	for (unsigned int i = 1; i <= NVMF_MAX_NSID; i++)
		if (s->nss[i])
			json_object_array_add(nss, ns_json(s->nss[i]));
	json_object_object_add(j, "namespaces", nss);
	for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
		if (!c->linked)
			continue;
		json_object_array_add(ctrls, ctrl_json_locked(c));
		for (unsigned int q = 0; q <= NVMF_MAX_IO_QUEUES; q++)
			if (c->sqs[q] && sq_priv(c->sqs[q]))
				nvmf_counters_fold(&st, &sq_priv(c->sqs[q])->stats);
	}
	json_object_object_add(j, "controllers", ctrls);
	json_object_object_add(j, "stats", nvmf_counters_json(&st));
	return j;
}

static void host_live_stats_locked(struct nvmf_subsys *s, const struct nvmf_host *h,
				   struct nvmf_io_counters *st)
{
	for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
		if (c->host != h)
			continue;
		for (unsigned int q = 0; q <= NVMF_MAX_IO_QUEUES; q++)
			if (c->sqs[q] && sq_priv(c->sqs[q]))
				nvmf_counters_fold(st, &sq_priv(c->sqs[q])->stats);
	}
}

struct json_object *nvmf_tgt_snapshot(struct nvmf_tgt *tgt)
{
	struct json_object *root = json_object_new_object();
	struct json_object *subs = json_object_new_array();
	struct json_object *ports = json_object_new_array();
	struct json_object *hosts = json_object_new_array();
	struct json_object *audit = json_object_new_object();

	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next)
		json_object_array_add(subs, subsys_json_locked(s));
	for (struct nvmf_port *p = tgt->ports; p; p = p->next) {
		struct json_object *j = port_opts_json(&p->opts);
		struct json_object *names = json_object_new_array();
		struct json_object *refs = json_object_new_array();

		for (unsigned int i = 0; i < p->nr_subsys; i++)
			json_object_array_add(names, json_object_new_string(p->subsys[i]->nqn));
		for (unsigned int i = 0; i < p->nr_referrals; i++)
			json_object_array_add(refs, port_opts_json(&p->referrals[i]));
		json_object_object_add(j, "subsystems", names);
		json_object_object_add(j, "referrals", refs);
		json_object_object_add(j, "ana_groups", port_ana_json_locked(p));
		json_object_array_add(ports, j);
	}
	for (struct nvmf_host *h = tgt->hosts; h; h = h->next) {
		struct json_object *j = json_object_new_object();
		struct nvmf_io_counters st = h->stats;

		for (struct nvmf_subsys *s = tgt->subsystems; s; s = s->next)
			host_live_stats_locked(s, h, &st);
		for (struct nvmf_subsys *s = tgt->zombies; s; s = s->next)
			host_live_stats_locked(s, h, &st);
		host_live_stats_locked(tgt->disc, h, &st);
		json_object_object_add(j, "nqn", json_object_new_string(h->nqn));
		json_object_object_add(j, "stats", nvmf_counters_json(&st));
		json_object_object_add(j, "refused", json_object_new_int64((int64_t)h->refused));
		json_object_object_add(j, "monitored", json_object_new_int64((int64_t)h->monitored));
		if (h->tls_key) /* that there is one, never the key */
			json_object_object_add(j, "tls_key", json_object_new_boolean(1));
		/* Whether keys are set, never the keys. */
		json_object_object_add(j, "dhchap_key", json_object_new_boolean(h->dhchap.has_key));
		json_object_object_add(j, "dhchap_ctrl_key", json_object_new_boolean(h->dhchap.has_ctrl_key));
		if (h->dhchap.hash)
			json_object_object_add(j, "dhchap_hash", json_object_new_string(dhchap_hash_name(h->dhchap.hash)));
		if (h->dhchap.dhgroup >= 0)
			json_object_object_add(j, "dhchap_dhgroup",
					       json_object_new_string(dhchap_dhgroup_name((uint8_t)h->dhchap.dhgroup)));
		json_object_array_add(hosts, j);
	}
	json_object_object_add(audit, "refused", json_object_new_int64((int64_t)tgt->audit_refused));
	json_object_object_add(audit, "monitored_admissions",
			       json_object_new_int64((int64_t)tgt->audit_monitored));
	json_object_object_add(root, "discovery_genctr", json_object_new_int64((int64_t)tgt->genctr));
	pthread_mutex_unlock(&tgt->lock);
	/* Not under tgt->lock: the gateway group's threads take its lock, then tgt->lock. */
	if (tgt->gw)
		json_object_object_add(root, "gateway_group", nvmf_gw_snapshot(tgt->gw));

	json_object_object_add(root, "subsystems", subs);
	json_object_object_add(root, "ports", ports);
	json_object_object_add(root, "hosts", hosts);
	json_object_object_add(root, "audit", audit);
	return root;
}

/* ------------------------------------------------------------------ */
/* TLS pre-shared keys                                                 */

int nvmf_tgt_set_host_tls_key(struct nvmf_tgt *tgt, const char *hostnqn, const struct nvme_tls_key *key,
			      unsigned int kdf)
{
	struct nvme_tls_key *copy = NULL, *old;
	struct nvmf_host *host;

	if (!nvmf_nqn_valid(hostnqn) || kdf > NVME_TLS_KDF_RFC8446 || (key && key->len > NVME_TLS_PSK_MAX))
		return -EINVAL;
	if (key && !(copy = malloc(sizeof(*copy))))
		return -ENOMEM;
	if (copy)
		*copy = *key;
	pthread_mutex_lock(&tgt->lock);
	host = nvmf_host_get_locked(tgt, hostnqn, key != NULL);
	if (!host) {
		pthread_mutex_unlock(&tgt->lock);
		if (copy) {
			nvme_tls_key_clear(copy);
			free(copy);
		}
		return key ? -ENOMEM : 0;
	}
	old = host->tls_key;
	host->tls_key = copy;
	host->tls_kdf = (uint8_t)kdf;
	pthread_mutex_unlock(&tgt->lock);
	if (old) {
		nvme_tls_key_clear(old);
		free(old);
	}
	return 0;
}

static int host_tls_key_copy_locked(struct nvmf_tgt *tgt, const char *hostnqn, struct nvme_tls_key *key,
				    unsigned int *kdf)
{
	struct nvmf_host *host = nvmf_host_get_locked(tgt, hostnqn, false);

	if (!host || !host->tls_key)
		return -ENOKEY;
	*key = *host->tls_key;
	*kdf = host->tls_kdf;
	return 0;
}

int nvmf_tgt_get_host_tls_key(struct nvmf_tgt *tgt, const char *hostnqn, struct nvme_tls_key *key,
			      unsigned int *kdf)
{
	int ret;

	pthread_mutex_lock(&tgt->lock);
	ret = host_tls_key_copy_locked(tgt, hostnqn, key, kdf);
	pthread_mutex_unlock(&tgt->lock);
	return ret;
}

int nvmf_port_tls_key_lookup(struct nvmf_port *port, const char *hostnqn, const char *subnqn,
			     struct nvme_tls_key *key, unsigned int *kdf)
{
	struct nvmf_tgt *tgt = port->tgt;
	bool allowed = !strcmp(subnqn, NVME_DISC_NQN), monitored;
	int ret;

	pthread_mutex_lock(&tgt->lock);
	for (unsigned int i = 0; i < port->nr_subsys && !allowed; i++)
		if (!strcmp(port->subsys[i]->nqn, subnqn))
			allowed = nvmf_subsys_host_allowed_locked(port->subsys[i], hostnqn, &monitored);
	ret = port->removed ? -ENOENT : !allowed ? -EACCES : host_tls_key_copy_locked(tgt, hostnqn, key, kdf);
	pthread_mutex_unlock(&tgt->lock);
	return ret;
}
