/* SPDX-License-Identifier: MIT */
/*
 * In-band authentication (DH-HMAC-CHAP) of the target: Authentication
 * Send / Receive on admin and I/O queues, one transaction per queue:
 *
 *   Send Negotiate -> Recv Challenge -> Send Reply -> Recv Success1
 *        [-> Send Success2 when the host asked to authenticate us too]
 *
 * A queue of a controller whose host has a key accepts nothing but these
 * (and the Connect that made it) until the host proved its key. Whatever
 * goes wrong ends the transaction in Failure1, which the host fetches with
 * its next Receive, so it fails fast; the queue is then closed shortly
 * after. Every transaction has a deadline: a peer cannot keep a half-done
 * exchange (or a DH key pair) around. Host credentials and their setters
 * live here as well.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "internal.h"
#include "proto/endian.h"
#include "proto/nvme_auth.h"

#define LOG_COMP "auth"

#define AUTH_DEADLINE_NS (10ull * 1000000000ull) /* one transaction, Negotiate to the end */
#define AUTH_LINGER_NS (1000000000ull) /* after Failure1: the host closes, or we do */
#define AUTH_MAX_RECV 8192 /* AL accepted (the largest message is ~1.2 KiB) */
#define AUTH_MAX_JOBS 64 /* DH computations queued for the worker, all queues together */

/* What the queue expects next (the message the host sends or fetches). */
enum auth_step {
	STEP_NEGOTIATE,
	STEP_CHALLENGE, /* Receive */
	STEP_REPLY,
	STEP_SUCCESS1, /* Receive */
	STEP_SUCCESS2,
	STEP_FAILURE1, /* Receive */
};

struct nvmf_auth_sq {
	struct reactor_timer deadline;
	struct nvmf_sq *sq;
	bool required; /* the controller's host has a key */
	bool authenticated;
	bool failed; /* Failure1 sent or owed: the queue closes */
	bool in_transaction;
	bool bidirectional;
	bool busy; /* a DH computation for this queue is on the worker */
	enum auth_step step;
	uint8_t status; /* failure explanation for Failure1 */
	struct dhchap_exchange x;
};

static const char *fail_name(uint8_t exp)
{
	switch (exp) {
	case NVME_AUTH_FAIL_FAILED: return "authentication failed";
	case NVME_AUTH_FAIL_NOT_USABLE: return "protocol not usable";
	case NVME_AUTH_FAIL_CONCAT_MISMATCH: return "secure channel concatenation mismatch";
	case NVME_AUTH_FAIL_HASH_UNUSABLE: return "hash function not usable";
	case NVME_AUTH_FAIL_DHGROUP_UNUSABLE: return "DH group not usable";
	case NVME_AUTH_FAIL_INCORRECT_PAYLOAD: return "incorrect payload";
	case NVME_AUTH_FAIL_INCORRECT_MESSAGE: return "incorrect message";
	default: return "unknown reason";
	}
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */

void nvmf_host_dhchap_wipe(struct nvmf_host_dhchap *d)
{
	dhchap_wipe(d, sizeof(*d));
	d->dhgroup = -1;
}

void nvmf_dhchap_cfg_wipe(struct nvmf_dhchap_cfg *cfg)
{
	dhchap_wipe(cfg, sizeof(*cfg));
}

int nvmf_tgt_set_host_dhchap(struct nvmf_tgt *tgt, const char *hostnqn, const struct nvmf_dhchap_cfg *cfg,
			     const char **what)
{
	struct nvmf_host_dhchap d = { .dhgroup = -1 };
	struct nvmf_host *host;
	const char *dummy;
	int ret = -EINVAL;

	if (!what)
		what = &dummy;
	*what = NULL;
	if (!nvmf_nqn_valid(hostnqn)) {
		*what = "host NQN";
		return -EINVAL;
	}
	if (cfg && cfg->key[0]) {
		d.has_key = true;
		if (dhchap_key_parse(cfg->key, &d.key)) {
			*what = "key";
			goto out;
		}
		if (cfg->ctrl_key[0]) {
			d.has_ctrl_key = true;
			if (dhchap_key_parse(cfg->ctrl_key, &d.ctrl_key)) {
				*what = "ctrl_key";
				goto out;
			}
		}
		if (cfg->hash[0]) {
			int h = dhchap_hash_from_name(cfg->hash);

			if (h < 0) {
				*what = "hash";
				goto out;
			}
			d.hash = (uint8_t)h;
		}
		if (cfg->dhgroup[0]) {
			int g = dhchap_dhgroup_from_name(cfg->dhgroup);

			if (g < 0) {
				*what = "dhgroup";
				goto out;
			}
			d.dhgroup = (int8_t)g;
		}
	} else if (cfg && (cfg->ctrl_key[0])) {
		*what = "ctrl_key"; /* a controller key needs a host key */
		goto out;
	}
	pthread_mutex_lock(&tgt->lock);
	host = nvmf_host_get_locked(tgt, hostnqn, d.has_key);
	if (host) {
		nvmf_host_dhchap_wipe(&host->dhchap);
		host->dhchap = d;
	}
	pthread_mutex_unlock(&tgt->lock);
	ret = host || !d.has_key ? 0 : -ENOSPC;
	if (ret == 0)
		log_info(LOG_COMP, "host %s: DH-HMAC-CHAP %s%s", hostnqn,
			 d.has_key ? "key set" : "key removed", d.has_ctrl_key ? " (bidirectional)" : "");
out:
	nvmf_host_dhchap_wipe(&d);
	return ret;
}

int nvmf_tgt_get_host_dhchap(struct nvmf_tgt *tgt, const char *hostnqn, struct nvmf_dhchap_cfg *out)
{
	struct nvmf_host_dhchap d = { .dhgroup = -1 };
	struct nvmf_host *host;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&tgt->lock);
	host = nvmf_host_get_locked(tgt, hostnqn, false);
	if (host)
		d = host->dhchap;
	pthread_mutex_unlock(&tgt->lock);
	if (!d.has_key) {
		ret = -ENOENT;
		goto out;
	}
	if ((ret = dhchap_key_format(&d.key, out->key, sizeof(out->key))) ||
	    (d.has_ctrl_key && (ret = dhchap_key_format(&d.ctrl_key, out->ctrl_key, sizeof(out->ctrl_key)))))
		goto out;
	if (d.hash)
		snprintf(out->hash, sizeof(out->hash), "%s", dhchap_hash_name(d.hash));
	if (d.dhgroup >= 0)
		snprintf(out->dhgroup, sizeof(out->dhgroup), "%s", dhchap_dhgroup_name((uint8_t)d.dhgroup));
out:
	nvmf_host_dhchap_wipe(&d);
	if (ret)
		nvmf_dhchap_cfg_wipe(out);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Queue state                                                         */

static void transaction_clear(struct nvmf_auth_sq *a)
{
	dhchap_exchange_clear(&a->x);
	a->in_transaction = false;
	a->bidirectional = false;
}

static void auth_deadline(struct reactor_timer *t)
{
	struct nvmf_auth_sq *a = container_of(t, struct nvmf_auth_sq, deadline);
	struct nvmf_sq *sq = a->sq;

	if (a->busy) {
		/* The worker still uses the transaction: only close; the state goes
		 * when the queue does, after the request completed. */
		log_warn_rl(LOG_COMP, "host %s (peer %s) qid %u: authentication timed out, closing",
			    sq->ctrl ? sq->ctrl->hostnqn : "?", sq->peer, sq->qid);
		sq->ops->disconnect(sq);
		return;
	}
	if (a->authenticated && !a->failed) {
		/* A re-authentication left unfinished: the queue keeps its standing. */
		log_warn_rl(LOG_COMP, "host %s (peer %s) qid %u: re-authentication not completed in time, abandoned",
			    sq->ctrl ? sq->ctrl->hostnqn : "?", sq->peer, sq->qid);
		transaction_clear(a);
		a->step = STEP_NEGOTIATE;
		return;
	}
	if (!a->failed)
		log_warn_rl(LOG_COMP, "host %s (peer %s) qid %u: not authenticated within %llu s, closing",
			    sq->ctrl ? sq->ctrl->hostnqn : "?", sq->peer, sq->qid,
			    AUTH_DEADLINE_NS / 1000000000ull);
	sq->ops->disconnect(sq);
}

struct nvmf_auth_sq *nvmf_auth_sq_alloc(void)
{
	struct nvmf_auth_sq *a = calloc(1, sizeof(*a));

	if (a)
		a->deadline.fn = auth_deadline;
	return a;
}

static void auth_free(struct nvmf_auth_sq *a)
{
	if (!a)
		return;
	transaction_clear(a);
	dhchap_wipe(a, sizeof(*a));
	free(a);
}

void nvmf_auth_sq_free(struct nvmf_sq *sq, struct nvmf_auth_sq *auth)
{
	if (!auth)
		return;
	if (sq && sq->reactor)
		reactor_timer_cancel(sq->reactor, &auth->deadline);
	auth_free(auth);
}

static void arm(struct nvmf_auth_sq *a, uint64_t ns)
{
	if (a->sq->reactor)
		reactor_timer_arm(a->sq->reactor, &a->deadline, ns);
}

static void disarm(struct nvmf_auth_sq *a)
{
	if (a->sq->reactor)
		reactor_timer_cancel(a->sq->reactor, &a->deadline);
}

bool nvmf_auth_queue_connected(struct nvmf_sq *sq, struct nvmf_auth_sq **auth)
{
	struct nvmf_sq_priv *priv = sq_priv(sq);
	struct nvmf_auth_sq *a = *auth;

	if (!sq->ctrl || !sq->ctrl->dhchap.has_key || !a)
		return false;
	*auth = NULL;
	a->sq = sq;
	a->required = true;
	a->step = STEP_NEGOTIATE;
	priv->auth = a;
	arm(a, AUTH_DEADLINE_NS);
	return true;
}

bool nvmf_auth_pending(const struct nvmf_sq *sq)
{
	const struct nvmf_sq_priv *priv = sq_priv(sq);

	return priv && priv->auth && (priv->auth->required || priv->auth->failed) && !priv->auth->authenticated;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

static void auth_log_failure(const struct nvmf_auth_sq *a, const char *detail)
{
	const struct nvmf_sq *sq = a->sq;

	log_warn_rl(LOG_COMP, "host %s (peer %s) qid %u: authentication refused: %s (%s)",
		    sq->ctrl ? sq->ctrl->hostnqn : "?", sq->peer, sq->qid, fail_name(a->status), detail);
}

/* Ends the transaction in Failure1 (sent on the host's next Receive). */
static void auth_fail(struct nvmf_auth_sq *a, uint8_t exp, const char *detail)
{
	a->status = exp;
	a->step = STEP_FAILURE1;
	a->failed = true;
	a->authenticated = false;
	auth_log_failure(a, detail);
	transaction_clear(a);
}

static bool offered(const uint8_t *list, unsigned int n, uint8_t id)
{
	for (unsigned int i = 0; i < n; i++)
		if (list[i] == id)
			return true;
	return false;
}

static void auth_negotiate(struct nvmf_auth_sq *a, const void *buf, size_t len)
{
	const struct nvmf_host_dhchap *cred = &a->sq->ctrl->dhchap;
	struct nvme_auth_negotiate m;

	if (nvme_auth_negotiate_decode(buf, len, &m))
		return auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "malformed Negotiate");
	a->x.tid = m.t_id;
	if (m.sc_c != 0)
		return auth_fail(a, NVME_AUTH_FAIL_CONCAT_MISMATCH, "secure channel concatenation is not supported");
	if (!cred->has_key)
		return auth_fail(a, NVME_AUTH_FAIL_FAILED, "no key is configured for this host");
	a->x.hash_id = 0;
	if (cred->hash) {
		if (offered(m.hashes, m.nr_hashes, cred->hash))
			a->x.hash_id = cred->hash;
	} else {
		for (unsigned int i = 0; i < m.nr_hashes && !a->x.hash_id; i++)
			if (dhchap_hash_len(m.hashes[i]))
				a->x.hash_id = m.hashes[i];
	}
	if (!a->x.hash_id)
		return auth_fail(a, NVME_AUTH_FAIL_HASH_UNUSABLE, "no usable hash function offered");
	a->x.hl = (uint8_t)dhchap_hash_len(a->x.hash_id);
	if (cred->dhgroup >= 0) {
		if (!offered(m.dhgroups, m.nr_dhgroups, (uint8_t)cred->dhgroup))
			return auth_fail(a, NVME_AUTH_FAIL_DHGROUP_UNUSABLE, "the configured DH group was not offered");
		a->x.dhgid = (uint8_t)cred->dhgroup;
	} else if (offered(m.dhgroups, m.nr_dhgroups, DHCHAP_DHGROUP_NULL)) {
		a->x.dhgid = DHCHAP_DHGROUP_NULL;
	} else {
		unsigned int i;

		for (i = 0; i < m.nr_dhgroups && !dhchap_dhgroup_known(m.dhgroups[i]); i++)
			;
		if (i == m.nr_dhgroups)
			return auth_fail(a, NVME_AUTH_FAIL_DHGROUP_UNUSABLE, "no usable DH group offered");
		a->x.dhgid = m.dhgroups[i];
	}
	a->step = STEP_CHALLENGE;
}

/* The challenge, or with a DH group the challenge augmented by the session key. */
static int effective_challenge(const struct nvmf_auth_sq *a, const uint8_t *c, uint8_t *out)
{
	if (a->x.dhgid == DHCHAP_DHGROUP_NULL) {
		memcpy(out, c, a->x.hl);
		return 0;
	}
	return dhchap_augment_challenge(a->x.hash_id, a->x.sess, a->x.sess_len, c, out);
}

/* ------------------------------------------------------------------ */
/* DH worker                                                           */

/*
 * FFDHE key generation and agreement take milliseconds (ffdhe8192: ~100 ms):
 * on a reactor they would stall every other queue it serves, and any peer
 * that names a host with a key could ask for them. One thread per target
 * does them instead, from a bounded queue; the request stays in flight
 * meanwhile (so its queue and auth state live on) and is finished on its
 * reactor.
 */
enum job_kind { JOB_KEYGEN, JOB_DERIVE };

struct auth_job {
	struct auth_job *next;
	enum job_kind kind;
	struct nvmf_req *req;
	struct nvmf_auth_sq *a;
	const uint8_t *peer; /* DERIVE: the host's value, in req->data */
	size_t len; /* group size */
	uint8_t dhgid;
	int ret;
	struct dhchap_dh dh; /* KEYGEN result */
	uint8_t pub[DHCHAP_MAX_DH_LEN];
};

struct nvmf_auth_worker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct auth_job *head, **tail;
	unsigned int queued;
	bool stop;
};

static void job_done(void *arg);

static void *auth_worker_main(void *arg)
{
	struct nvmf_auth_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct auth_job *j;

		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->head)
			break;
		j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->lock);
		if (j->kind == JOB_KEYGEN)
			j->ret = dhchap_dh_generate(&j->dh, j->dhgid, j->pub, j->len);
		else
			j->ret = dhchap_dh_shared(&j->a->x.dh, j->peer, j->len, j->a->x.sess, j->len);
		/* reactor_post only fails for want of memory: try again, for a while. */
		for (int tries = 0; reactor_post(j->req->sq->reactor, job_done, j) != 0; tries++) {
			if (tries == 5000) {
				log_error(LOG_COMP, "cannot hand a DH result back to its reactor; request abandoned");
				break;
			}
			usleep(1000);
		}
		pthread_mutex_lock(&w->lock);
		w->queued--;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static struct nvmf_auth_worker *worker_get(struct nvmf_tgt *tgt)
{
	struct nvmf_auth_worker *w;

	pthread_mutex_lock(&tgt->lock);
	w = tgt->auth_worker;
	if (!w && (w = calloc(1, sizeof(*w)))) {
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		w->tail = &w->head;
		if (pthread_create(&w->thread, NULL, auth_worker_main, w) != 0) {
			pthread_cond_destroy(&w->cond);
			pthread_mutex_destroy(&w->lock);
			free(w);
			w = NULL;
		}
		tgt->auth_worker = w;
	}
	pthread_mutex_unlock(&tgt->lock);
	return w;
}

void nvmf_auth_worker_stop(struct nvmf_tgt *tgt)
{
	struct nvmf_auth_worker *w = tgt->auth_worker;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	tgt->auth_worker = NULL;
}

/* Queue a job; -EBUSY when the worker has enough to do already. */
static int job_submit(struct nvmf_req *req, struct nvmf_auth_sq *a, enum job_kind kind, const uint8_t *peer,
		      size_t len)
{
	struct nvmf_auth_worker *w;
	struct auth_job *j;

	if (!req->sq->reactor || !(w = worker_get(req->sq->tgt)))
		return -ENOMEM;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->kind = kind;
	j->req = req;
	j->a = a;
	j->peer = peer;
	j->len = len;
	j->dhgid = a->x.dhgid;
	/* Before the worker can see the job: it owns a->x.dh / a->x.sess from then on. */
	a->busy = true;
	pthread_mutex_lock(&w->lock);
	if (w->queued >= AUTH_MAX_JOBS || w->stop) {
		pthread_mutex_unlock(&w->lock);
		a->busy = false;
		free(j);
		return -EBUSY;
	}
	w->queued++;
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reply and Success                                                   */

/* The host's response, checked once the session key (if any) is known. */
static void auth_reply_verify(struct nvmf_auth_sq *a, const struct nvme_auth_reply *r)
{
	const struct nvmf_ctrl *ctrl = a->sq->ctrl;
	uint8_t tkey[DHCHAP_MAX_SECRET_LEN], chal[DHCHAP_MAX_HASH_LEN], want[DHCHAP_MAX_HASH_LEN];
	size_t tlen;
	bool match;

	if (dhchap_transform_key(&ctrl->dhchap.key, ctrl->hostnqn, tkey, &tlen) ||
	    effective_challenge(a, a->x.c1, chal) ||
	    dhchap_response(a->x.hash_id, tkey, tlen, chal, a->x.s1, a->x.tid, 0, DHCHAP_ROLE_HOST, ctrl->hostnqn,
			    ctrl->subsys->nqn, want)) {
		dhchap_wipe(tkey, sizeof(tkey));
		return auth_fail(a, NVME_AUTH_FAIL_FAILED, "internal error computing the response");
	}
	dhchap_wipe(tkey, sizeof(tkey));
	match = dhchap_equal(want, r->r1, a->x.hl);
	dhchap_wipe(want, sizeof(want));
	dhchap_wipe(chal, sizeof(chal));
	if (!match)
		return auth_fail(a, NVME_AUTH_FAIL_FAILED, "the host's response does not match its key");
	/* SEQNUM 0 with a challenge is for secure channel setup, not bidirectional. */
	a->bidirectional = r->cvalid && r->seqnum != 0;
	if (a->bidirectional) {
		if (!ctrl->dhchap.has_ctrl_key)
			return auth_fail(a, NVME_AUTH_FAIL_FAILED,
					 "the host asks the controller to authenticate, but no controller key is configured");
		a->x.s2 = r->seqnum;
		memcpy(a->x.c2, r->c2, a->x.hl);
	} else {
		a->authenticated = true;
		a->failed = false;
	}
	a->step = STEP_SUCCESS1;
}

/* Returns true when the request was handed to the worker (completed later). */
static bool auth_reply(struct nvmf_req *req, struct nvmf_auth_sq *a, const void *buf, size_t len)
{
	struct nvme_auth_reply r;
	int ret;

	if (nvme_auth_reply_decode(buf, len, &r) || r.hl != a->x.hl) {
		auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "malformed Reply");
		return false;
	}
	if (a->x.dhgid == DHCHAP_DHGROUP_NULL) {
		if (r.dhvlen)
			auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "DH value without a DH group");
		else
			auth_reply_verify(a, &r);
		return false;
	}
	a->x.sess_len = dhchap_dhgroup_len(a->x.dhgid);
	if (r.dhvlen != a->x.sess_len) {
		auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "DH value of the wrong size");
		return false;
	}
	ret = job_submit(req, a, JOB_DERIVE, r.dhv, a->x.sess_len);
	if (ret)
		auth_fail(a, NVME_AUTH_FAIL_FAILED,
			  ret == -EBUSY ? "too many DH computations pending" : "cannot queue the DH computation");
	return ret == 0;
}

static void auth_done(struct nvmf_auth_sq *a)
{
	const struct nvmf_sq *sq = a->sq;

	a->authenticated = true;
	a->failed = false;
	log_info(LOG_COMP, "host %s (peer %s) qid %u: authenticated (%s, dhgroup %s%s)", sq->ctrl->hostnqn,
		 sq->peer, sq->qid, dhchap_hash_name(a->x.hash_id), dhchap_dhgroup_name(a->x.dhgid),
		 a->bidirectional ? ", bidirectional" : "");
	transaction_clear(a);
	a->step = STEP_NEGOTIATE;
	disarm(a);
}

static void exec_auth_send(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_sq_priv *priv = sq_priv(sq);
	struct nvmf_auth_sq *a = priv->auth;
	const uint8_t *buf = req->data;
	size_t len = req->data_len;
	uint8_t type, id;
	uint16_t tid;

	if (a && a->busy) {
		log_warn_rl(LOG_COMP, "%s qid %u: authentication command while the previous one is running", sq->peer,
			    sq->qid);
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR);
		return;
	}
	if (nvme_auth_peek(buf, len, &type, &id, &tid)) {
		log_warn_rl(LOG_COMP, "%s qid %u: Authentication Send of %zu bytes is no message", sq->peer, sq->qid,
			    len);
		if (a)
			auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "short message");
		nvmf_req_complete(req, a ? 0 : NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR);
		return;
	}
	if (type == NVME_AUTH_COMMON_MESSAGES && id == NVME_AUTH_NEGOTIATE) {
		if (!a) {
			/* A host that authenticates unasked: answer it (with Failure1 if
			 * it has no key here) rather than leave it guessing. */
			a = nvmf_auth_sq_alloc();
			if (!a) {
				nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
				return;
			}
			a->sq = sq;
			priv->auth = a;
		}
		if (a->failed) {
			nvmf_req_complete(req, 0); /* the queue is closing; Failure1 stays owed */
			return;
		}
		transaction_clear(a);
		a->in_transaction = true;
		arm(a, AUTH_DEADLINE_NS);
		auth_negotiate(a, buf, len);
		nvmf_req_complete(req, 0);
		return;
	}
	if (!a || !a->in_transaction) {
		log_warn_rl(LOG_COMP, "%s qid %u: authentication message %#x/%#x outside a transaction", sq->peer,
			    sq->qid, type, id);
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR);
		return;
	}
	if (type == NVME_AUTH_COMMON_MESSAGES && id == NVME_AUTH_FAILURE2) {
		uint8_t rc = 0, exp = 0;

		(void)nvme_auth_failure_decode(buf, len, &id, &tid, &rc, &exp);
		log_warn_rl(LOG_COMP, "host %s (peer %s) qid %u: the host ended authentication: %s", sq->ctrl->hostnqn,
			    sq->peer, sq->qid, fail_name(exp));
		transaction_clear(a);
		a->authenticated = false;
		a->failed = true;
		a->step = STEP_NEGOTIATE;
		nvmf_req_complete(req, 0);
		sq->ops->disconnect(sq);
		return;
	}
	if (a->step == STEP_FAILURE1) {
		nvmf_req_complete(req, 0);
		return;
	}
	if (type != NVME_AUTH_DHCHAP_MESSAGES || (id != NVME_AUTH_REPLY && id != NVME_AUTH_SUCCESS2) ||
	    (id == NVME_AUTH_REPLY && a->step != STEP_REPLY) || (id == NVME_AUTH_SUCCESS2 && a->step != STEP_SUCCESS2)) {
		auth_fail(a, NVME_AUTH_FAIL_INCORRECT_MESSAGE, "unexpected message");
		nvmf_req_complete(req, 0);
		return;
	}
	if (tid != a->x.tid) {
		auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "wrong transaction identifier");
		nvmf_req_complete(req, 0);
		return;
	}
	if (id == NVME_AUTH_REPLY) {
		if (auth_reply(req, a, buf, len))
			return; /* finished by job_done */
	} else if (nvme_auth_success2_decode(buf, len, &tid)) {
		auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "malformed Success2");
	} else {
		auth_done(a);
	}
	nvmf_req_complete(req, 0);
}

static int build_challenge(struct nvmf_auth_sq *a, const uint8_t *pub, uint8_t *buf, size_t cap)
{
	struct nvme_auth_challenge m = { .t_id = a->x.tid, .hashid = a->x.hash_id, .dhgid = a->x.dhgid, .hl = a->x.hl };
	size_t dhlen = dhchap_dhgroup_len(a->x.dhgid);
	int ret;

	if (cap < sizeof(struct nvme_auth_challenge_hdr) + a->x.hl + dhlen)
		return -ENOSPC;
	a->x.s1 = dhchap_seqnum();
	if ((ret = dhchap_random(a->x.c1, a->x.hl)))
		return ret;
	m.seqnum = a->x.s1;
	m.c1 = a->x.c1;
	m.dhv = dhlen ? pub : NULL;
	m.dhvlen = (uint16_t)dhlen;
	ret = nvme_auth_challenge_encode(buf, cap, &m);
	return ret < 0 ? ret : 0;
}

static int build_success1(struct nvmf_auth_sq *a, uint8_t *buf, size_t cap)
{
	const struct nvmf_ctrl *ctrl = a->sq->ctrl;
	uint8_t tkey[DHCHAP_MAX_SECRET_LEN], chal[DHCHAP_MAX_HASH_LEN], r2[DHCHAP_MAX_HASH_LEN];
	struct nvme_auth_success1 m = { .t_id = a->x.tid, .hl = a->x.hl };
	size_t tlen;
	int ret = 0;

	if (a->bidirectional) {
		ret = dhchap_transform_key(&ctrl->dhchap.ctrl_key, ctrl->subsys->nqn, tkey, &tlen);
		if (!ret)
			ret = effective_challenge(a, a->x.c2, chal);
		if (!ret)
			ret = dhchap_response(a->x.hash_id, tkey, tlen, chal, a->x.s2, a->x.tid, 0, DHCHAP_ROLE_CTRL,
					      ctrl->hostnqn, ctrl->subsys->nqn, r2);
		dhchap_wipe(tkey, sizeof(tkey));
		dhchap_wipe(chal, sizeof(chal));
		m.rvalid = 1;
		m.r2 = r2;
	}
	if (!ret)
		ret = nvme_auth_success1_encode(buf, cap, &m);
	dhchap_wipe(r2, sizeof(r2));
	return ret < 0 ? ret : 0;
}

/* Answer a Receive: the message for the current step (Failure1 if it failed). */
static void recv_finish(struct nvmf_req *req, struct nvmf_auth_sq *a)
{
	uint8_t *buf = req->data;
	size_t al = req->data_len;

	if (a->step == STEP_FAILURE1) {
		memset(buf, 0, al);
		(void)nvme_auth_failure_encode(buf, al, NVME_AUTH_FAILURE1, a->x.tid, a->status);
		a->step = STEP_NEGOTIATE;
		a->in_transaction = false;
		/* The host gets the message, then the queue goes. */
		arm(a, AUTH_LINGER_NS);
	}
	req->c2h_data = buf;
	req->c2h_len = (uint32_t)al;
	nvmf_req_complete(req, 0);
}

static void job_done(void *arg)
{
	struct auth_job *j = arg;
	struct nvmf_req *req = j->req;
	struct nvmf_auth_sq *a = j->a;

	a->busy = false;
	if (j->kind == JOB_KEYGEN) {
		if (j->ret) {
			auth_fail(a, NVME_AUTH_FAIL_FAILED, "cannot generate a DH key");
		} else {
			a->x.dh = j->dh;
			if (build_challenge(a, j->pub, req->data, req->data_len))
				auth_fail(a, NVME_AUTH_FAIL_FAILED, "cannot make a challenge");
			else
				a->step = STEP_REPLY;
		}
		dhchap_wipe(j->pub, sizeof(j->pub));
		free(j);
		recv_finish(req, a);
		return;
	}
	if (j->ret) {
		auth_fail(a, NVME_AUTH_FAIL_DHGROUP_UNUSABLE, "unusable DH value");
	} else {
		struct nvme_auth_reply r;

		/* Decoded before; the buffer is the request's and unchanged. */
		if (nvme_auth_reply_decode(req->data, req->data_len, &r) == 0)
			auth_reply_verify(a, &r);
		else
			auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "malformed Reply");
	}
	free(j);
	nvmf_req_complete(req, 0);
}

static void exec_auth_recv(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_auth_sq *a = sq_priv(sq)->auth;
	uint8_t *buf = req->data;
	size_t al = req->data_len;
	int ret;

	memset(buf, 0, al);
	if (!a || a->busy || (!a->in_transaction && !a->failed)) {
		log_warn_rl(LOG_COMP, "%s qid %u: Authentication Receive outside a transaction", sq->peer, sq->qid);
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR);
		return;
	}
	switch (a->step) {
	case STEP_CHALLENGE:
		if (al < sizeof(struct nvme_auth_challenge_hdr) + a->x.hl + dhchap_dhgroup_len(a->x.dhgid)) {
			auth_fail(a, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "receive buffer too small for the challenge");
			break;
		}
		if (a->x.dhgid != DHCHAP_DHGROUP_NULL) {
			dhchap_dh_free(&a->x.dh);
			ret = job_submit(req, a, JOB_KEYGEN, NULL, dhchap_dhgroup_len(a->x.dhgid));
			if (ret == 0)
				return; /* finished by job_done */
			auth_fail(a, NVME_AUTH_FAIL_FAILED,
				  ret == -EBUSY ? "too many DH computations pending" : "cannot queue the DH computation");
			break;
		}
		if (build_challenge(a, NULL, buf, al)) {
			auth_fail(a, NVME_AUTH_FAIL_FAILED, "cannot make a challenge");
			break;
		}
		a->step = STEP_REPLY;
		break;
	case STEP_SUCCESS1:
		if ((ret = build_success1(a, buf, al))) {
			auth_fail(a, NVME_AUTH_FAIL_FAILED, "cannot make Success1");
			break;
		}
		if (a->bidirectional)
			a->step = STEP_SUCCESS2;
		else
			auth_done(a);
		break;
	case STEP_FAILURE1:
		break;
	default:
		auth_fail(a, NVME_AUTH_FAIL_INCORRECT_MESSAGE, "Receive where the host should send");
		break;
	}
	recv_finish(req, a);
}

uint16_t nvmf_auth_parse(struct nvmf_req *req)
{
	const struct nvmf_auth_sqe *c = (const struct nvmf_auth_sqe *)&req->cmd;
	struct nvmf_sq *sq = req->sq;
	bool send = c->fctype == NVMF_FCTYPE_AUTH_SEND;
	uint32_t len = le32(c->len);
	uint32_t max = send ? NVME_AUTH_MAX_MSG : AUTH_MAX_RECV;

	if (sq->ctrl->is_discovery) {
		log_warn_rl(LOG_COMP, "%s: authentication on a discovery controller is not supported", sq->peer);
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
	if (c->secp != NVME_AUTH_SECP_DHCHAP || c->spsp0 != NVME_AUTH_SPSP || c->spsp1 != NVME_AUTH_SPSP) {
		log_warn_rl(LOG_COMP, "%s qid %u: authentication protocol %#x/%#x/%#x is not DH-HMAC-CHAP", sq->peer,
			    sq->qid, c->secp, c->spsp0, c->spsp1);
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
	}
	if (len == 0 || len > max) {
		log_warn_rl(LOG_COMP, "%s qid %u: authentication %s length %u out of range", sq->peer, sq->qid,
			    send ? "transfer" : "allocation", len);
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
	}
	if (req->data_len != len) {
		log_warn_rl(LOG_COMP, "%s qid %u: authentication length %u but %u bytes described", sq->peer, sq->qid,
			    len, req->data_len);
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA_LEN) | NVME_STATUS_DNR;
	}
	req->dir = send ? NVMF_DATA_H2C : NVMF_DATA_C2H;
	req->execute = send ? exec_auth_send : exec_auth_recv;
	return 0;
}
